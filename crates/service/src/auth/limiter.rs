//! The login limiter: growing delays per account and per client address, in place of a lockout.
//!
//! Every password check (a login, the current password of a password change) is an *attempt* against
//! two keys: the account (the SHA-256 of the normalized email, so every key has the same small size)
//! and the client address (an IPv6 address by its /64, which one host usually holds whole). Each key
//! has a [`DelayPolicy`]: its first failures are free (typos), and from then on every failure doubles
//! the wait before the key's next attempt, up to a cap. An attempt before a key's next allowed moment
//! is refused ([`ServiceError::RateLimited`], with the wait) without looking at the password, so
//! guessing faster than the delays gains nothing; the right password after the wait always gets in.
//!
//! An attempt is *reserved* under the table's lock before any Argon2 work: it is counted as a failure
//! at once (pessimistically), so a burst of simultaneous attempts cannot all pass the check before any
//! of them is counted. [`Reservation::succeed`] settles it: a success clears the account's failures
//! (but not those of its attempts still in flight) and takes back its own count from the address;
//! dropping the reservation leaves the failure counted (a wrong password, a cheap rejection, or a
//! request abandoned midway).
//!
//! The table is bounded ([`LOGIN_LIMITER_ENTRIES_MAX`]) without forgetting the delays that matter: a
//! key whose delay is running, or whose attempt is in flight, is never evicted. When the table is full,
//! keys quiet for longer than their policy's `forget_after_ms` go first, then the keys with no running
//! delay, fewest failures first and oldest first; if every key has a running delay, an attempt that
//! needs a new key is refused until one ends, rather than forget a delay.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use medledger_wallet::normalize_email;

use super::lock;
use crate::ServiceError;

/// How one kind of key is slowed down after failed attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayPolicy {
    /// Failures that cost no wait (typos).
    pub failures_free: u32,
    /// The wait after the first failure past the free ones; each further failure doubles it.
    pub delay_first_ms: i64,
    /// The longest wait.
    pub delay_max_ms: i64,
    /// A key with no attempt for this long is forgotten (its failures start again from zero).
    pub forget_after_ms: i64,
}

impl DelayPolicy {
    /// The wait after `failures` failures: 0 up to [`failures_free`](DelayPolicy::failures_free),
    /// then `delay_first_ms`, twice that, ... at most `delay_max_ms`.
    pub const fn delay_ms(&self, failures: u32) -> i64 {
        if failures <= self.failures_free {
            return 0;
        }
        let doublings = failures - self.failures_free - 1;
        // 2^40 ms is 35 years: far past any cap, and no overflow.
        let factor = 1_i64 << if doublings < 40 { doublings } else { 40 };
        let delay = self.delay_first_ms.saturating_mul(factor);
        if delay < self.delay_max_ms {
            delay
        } else {
            self.delay_max_ms
        }
    }
}

/// Failed logins for one account that cost no wait: enough for typos, few enough to guess nothing.
pub const LOGIN_ACCOUNT_FAILURES_FREE: u32 = 4;
/// Failed logins from one address that cost no wait: higher than an account's, since several people
/// may share an address (a ward's computers behind one router).
pub const LOGIN_ADDRESS_FAILURES_FREE: u32 = 16;
/// The first wait after the free failures, for accounts and addresses; it doubles with each failure.
pub const LOGIN_DELAY_FIRST_MS: i64 = 1_000;
/// The longest wait for an account: at the cap a guesser gets 96 tries a day, and the account's owner
/// waits at most this long.
pub const LOGIN_ACCOUNT_DELAY_MAX_MS: i64 = 15 * 60 * 1000;
/// The longest wait for an address. Shorter than an account's: everyone behind a shared address waits
/// it, and the address limit is only there to bound guesses spread over many accounts (60 an hour per
/// address at the cap); each account keeps its own, longer delay.
pub const LOGIN_ADDRESS_DELAY_MAX_MS: i64 = 60 * 1000;
/// An account with no attempt for this long is forgotten. Long enough that waiting it out (to get the
/// free failures back) is slower for a guesser than trying at the cap.
pub const LOGIN_ACCOUNT_FORGET_AFTER_MS: i64 = 6 * 60 * 60 * 1000;
/// An address with no attempt for this long is forgotten (a shared address recovers from its people's
/// typos within the hour).
pub const LOGIN_ADDRESS_FORGET_AFTER_MS: i64 = 60 * 60 * 1000;
/// Most keys (accounts and addresses) the limiter holds: under 64 bytes each in the table, so under
/// 8 MiB at the bound. Large, so that filling it with running delays takes a flood of over a million
/// cheap logins (a running delay needs at least five failures of one key).
pub const LOGIN_LIMITER_ENTRIES_MAX: usize = 100_000;
/// When the table is full, at least this fraction (1/N) of it is evicted at once, so that a flood of
/// new keys costs one scan of the table per batch rather than per attempt.
pub const LOGIN_LIMITER_EVICT_BATCH_DIVISOR: usize = 16;

/// How accounts are slowed down.
pub const ACCOUNT_POLICY: DelayPolicy = DelayPolicy {
    failures_free: LOGIN_ACCOUNT_FAILURES_FREE,
    delay_first_ms: LOGIN_DELAY_FIRST_MS,
    delay_max_ms: LOGIN_ACCOUNT_DELAY_MAX_MS,
    forget_after_ms: LOGIN_ACCOUNT_FORGET_AFTER_MS,
};
/// How client addresses are slowed down.
pub const ADDRESS_POLICY: DelayPolicy = DelayPolicy {
    failures_free: LOGIN_ADDRESS_FAILURES_FREE,
    delay_first_ms: LOGIN_DELAY_FIRST_MS,
    delay_max_ms: LOGIN_ADDRESS_DELAY_MAX_MS,
    forget_after_ms: LOGIN_ADDRESS_FORGET_AFTER_MS,
};

// A key is forgotten only after its longest delay has run out: forgetting never ends a running delay.
const _: () = assert!(LOGIN_DELAY_FIRST_MS > 0);
const _: () = assert!(LOGIN_DELAY_FIRST_MS <= LOGIN_ADDRESS_DELAY_MAX_MS);
const _: () = assert!(LOGIN_ADDRESS_DELAY_MAX_MS <= LOGIN_ACCOUNT_DELAY_MAX_MS);
const _: () = assert!(LOGIN_ACCOUNT_DELAY_MAX_MS < LOGIN_ACCOUNT_FORGET_AFTER_MS);
const _: () = assert!(LOGIN_ADDRESS_DELAY_MAX_MS < LOGIN_ADDRESS_FORGET_AFTER_MS);
const _: () = assert!(LOGIN_ACCOUNT_FAILURES_FREE <= LOGIN_ADDRESS_FAILURES_FREE);
const _: () = assert!(LOGIN_LIMITER_EVICT_BATCH_DIVISOR >= 2);

/// What the limiter counts attempts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimiterKey {
    /// An account: the SHA-256 of its normalized email (known or not: an unknown email is limited
    /// exactly like a known one, so the limiter tells nobody which accounts exist).
    Account([u8; 32]),
    /// A client address; an IPv6 address by its /64 prefix.
    Address(IpAddr),
}

impl LimiterKey {
    /// The key of the account `email` names.
    pub fn account(email: &str) -> LimiterKey {
        LimiterKey::Account(medledger_crypto::sha256(normalize_email(email).as_bytes()).0)
    }

    /// The key of a client address: IPv4 (also IPv4-mapped IPv6) as it is, IPv6 by its /64.
    pub fn address(address: IpAddr) -> LimiterKey {
        match address.to_canonical() {
            IpAddr::V4(v4) => LimiterKey::Address(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                LimiterKey::Address(IpAddr::from(octets))
            }
        }
    }

    fn policy(&self) -> &'static DelayPolicy {
        match self {
            LimiterKey::Account(_) => &ACCOUNT_POLICY,
            LimiterKey::Address(_) => &ADDRESS_POLICY,
        }
    }
}

/// The keys of one attempt: its account and, when the server knows it, its client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptKeys {
    pub account: LimiterKey,
    pub address: Option<LimiterKey>,
}

impl AttemptKeys {
    /// The keys of an attempt on `email` from `address`.
    pub fn new(email: &str, address: Option<IpAddr>) -> AttemptKeys {
        AttemptKeys {
            account: LimiterKey::account(email),
            address: address.map(LimiterKey::address),
        }
    }

    fn iter(&self) -> impl Iterator<Item = LimiterKey> {
        std::iter::once(self.account).chain(self.address)
    }
}

/// One key's failures.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Failed attempts, counting the ones in flight (reserved pessimistically).
    failures: u32,
    /// When the latest attempt was reserved; the delay runs from it.
    last_attempt_ms: i64,
    /// Attempts reserved and not yet settled.
    in_flight: u32,
}

impl Entry {
    fn next_allowed_ms(&self, policy: &DelayPolicy) -> i64 {
        self.last_attempt_ms
            .saturating_add(policy.delay_ms(self.failures))
    }

    fn delayed(&self, policy: &DelayPolicy, now_ms: i64) -> bool {
        self.next_allowed_ms(policy) > now_ms
    }

    /// Quiet for long enough to forget (its delay, at most the policy's cap, is over).
    fn forgotten(&self, policy: &DelayPolicy, now_ms: i64) -> bool {
        self.in_flight == 0 && now_ms.saturating_sub(self.last_attempt_ms) >= policy.forget_after_ms
    }

    /// May be evicted from a full table: nothing running would be forgotten.
    fn evictable(&self, policy: &DelayPolicy, now_ms: i64) -> bool {
        self.in_flight == 0 && !self.delayed(policy, now_ms)
    }
}

/// Failed-login delays per account and per client address (see the module doc).
pub struct LoginLimiter {
    table: Mutex<HashMap<LimiterKey, Entry>>,
    entries_max: usize,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::with_entries_max(LOGIN_LIMITER_ENTRIES_MAX)
    }
}

impl LoginLimiter {
    /// A limiter holding at most `entries_max` keys (the service uses [`LOGIN_LIMITER_ENTRIES_MAX`]).
    pub fn with_entries_max(entries_max: usize) -> LoginLimiter {
        LoginLimiter {
            table: Mutex::new(HashMap::new()),
            entries_max: entries_max.max(2),
        }
    }

    /// Whether an attempt with `keys` may be made now: `Err(RateLimited)` with the longest wait of its
    /// keys if any is delayed. Reads only: [`LoginLimiter::reserve`] is the check that counts.
    pub fn check(&self, keys: &AttemptKeys, now_ms: i64) -> Result<(), ServiceError> {
        let table = lock(&self.table);
        match wait_ms(&table, keys, now_ms) {
            Some(retry_after_ms) => Err(ServiceError::RateLimited { retry_after_ms }),
            None => Ok(()),
        }
    }

    /// Reserves an attempt with `keys`, atomically: refused (`RateLimited`, nothing counted) if any
    /// key is delayed, or if a new key finds the table full of running delays; otherwise counted as a
    /// failure of every key at once, until [`Reservation::succeed`] says otherwise.
    pub fn reserve(
        &self,
        keys: &AttemptKeys,
        now_ms: i64,
    ) -> Result<Reservation<'_>, ServiceError> {
        let mut table = lock(&self.table);
        if let Some(retry_after_ms) = wait_ms(&table, keys, now_ms) {
            return Err(ServiceError::RateLimited { retry_after_ms });
        }
        for key in keys.iter() {
            if table
                .get(&key)
                .is_some_and(|e| e.forgotten(key.policy(), now_ms))
            {
                table.remove(&key);
            }
        }
        let new_keys = keys.iter().filter(|k| !table.contains_key(k)).count();
        if let Err(retry_after_ms) = self.make_room(&mut table, new_keys, now_ms) {
            tracing::warn!(
                entries = table.len(),
                "the login limiter is full of running delays; refusing new keys"
            );
            return Err(ServiceError::RateLimited { retry_after_ms });
        }
        for key in keys.iter() {
            let entry = table.entry(key).or_insert(Entry {
                failures: 0,
                last_attempt_ms: now_ms,
                in_flight: 0,
            });
            entry.failures = entry.failures.saturating_add(1);
            entry.last_attempt_ms = entry.last_attempt_ms.max(now_ms);
            entry.in_flight = entry.in_flight.saturating_add(1);
        }
        Ok(Reservation {
            limiter: self,
            keys: *keys,
            succeeded: false,
        })
    }

    /// Makes room for `new_keys` more keys (see the module doc); `Err(retry_after_ms)` when every key
    /// left has a running delay or an attempt in flight.
    fn make_room(
        &self,
        table: &mut HashMap<LimiterKey, Entry>,
        new_keys: usize,
        now_ms: i64,
    ) -> Result<(), i64> {
        if table.len() + new_keys <= self.entries_max {
            return Ok(());
        }
        table.retain(|key, entry| !entry.forgotten(key.policy(), now_ms));
        if table.len() + new_keys <= self.entries_max {
            return Ok(());
        }
        let mut candidates: Vec<(u32, i64, LimiterKey)> = table
            .iter()
            .filter(|(key, entry)| entry.evictable(key.policy(), now_ms))
            .map(|(key, entry)| (entry.failures, entry.last_attempt_ms, *key))
            .collect();
        let needed = table.len() + new_keys - self.entries_max;
        if candidates.len() < needed {
            let soonest = table
                .iter()
                .filter(|(_, entry)| entry.in_flight == 0)
                .map(|(key, entry)| entry.next_allowed_ms(key.policy()) - now_ms)
                .min()
                .unwrap_or(LOGIN_DELAY_FIRST_MS);
            return Err(soonest.max(LOGIN_DELAY_FIRST_MS));
        }
        let evict = (self.entries_max / LOGIN_LIMITER_EVICT_BATCH_DIVISOR)
            .max(needed)
            .min(candidates.len());
        // Fewest failures first, then the oldest: what a flood adds goes before what it is after.
        candidates.select_nth_unstable_by_key(evict - 1, |(failures, at, _)| (*failures, *at));
        for (_, _, key) in &candidates[..evict] {
            table.remove(key);
        }
        Ok(())
    }

    /// Keys held now.
    pub fn count(&self) -> usize {
        lock(&self.table).len()
    }

    /// How long `key` must wait before its next attempt (0 if it may try now).
    pub fn wait_of(&self, key: &LimiterKey, now_ms: i64) -> i64 {
        let table = lock(&self.table);
        table.get(key).map_or(0, |entry| {
            (entry.next_allowed_ms(key.policy()) - now_ms).max(0)
        })
    }

    /// Attempts with `key` reserved and not yet settled.
    pub fn in_flight(&self, key: &LimiterKey) -> u32 {
        lock(&self.table)
            .get(key)
            .map_or(0, |entry| entry.in_flight)
    }

    /// Settles a reservation: see [`Reservation`].
    fn settle(&self, keys: &AttemptKeys, succeeded: bool) {
        let mut table = lock(&self.table);
        for key in keys.iter() {
            let Some(entry) = table.get_mut(&key) else {
                // Cleared by a success in the meantime: nothing left to settle.
                continue;
            };
            entry.in_flight = entry.in_flight.saturating_sub(1);
            if !succeeded {
                continue;
            }
            match key {
                // The right password: the account's failures are over, except the attempts still in
                // flight, which stay counted until they settle.
                LimiterKey::Account(_) if entry.in_flight == 0 => {
                    table.remove(&key);
                }
                LimiterKey::Account(_) => entry.failures = entry.in_flight,
                // An address shared with others: only this attempt's own count is taken back.
                LimiterKey::Address(_) => entry.failures = entry.failures.saturating_sub(1),
            }
        }
    }
}

/// The longest wait among `keys`' running delays, if any.
fn wait_ms(table: &HashMap<LimiterKey, Entry>, keys: &AttemptKeys, now_ms: i64) -> Option<i64> {
    keys.iter()
        .filter_map(|key| {
            let entry = table.get(&key)?;
            entry
                .delayed(key.policy(), now_ms)
                .then(|| entry.next_allowed_ms(key.policy()) - now_ms)
        })
        .max()
}

/// A reserved attempt, counted as a failure of its keys until [`Reservation::succeed`]. Dropping it
/// leaves the failure counted: a wrong password, a cheap rejection, or an abandoned request.
#[must_use = "a reservation is settled by succeed() or, as a failure, by dropping it"]
pub struct Reservation<'a> {
    limiter: &'a LoginLimiter,
    keys: AttemptKeys,
    succeeded: bool,
}

impl Reservation<'_> {
    /// The password was right: the account's failures are cleared, the address's count of this
    /// attempt taken back.
    pub fn succeed(mut self) {
        self.succeeded = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.limiter.settle(&self.keys, self.succeeded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn attacker() -> IpAddr {
        IpAddr::from([203, 0, 113, 7])
    }

    /// Fails `count` attempts with `keys`, each as soon as it is allowed; returns the clock after.
    fn fail_each_as_allowed(
        limiter: &LoginLimiter,
        keys: &AttemptKeys,
        count: u32,
        mut now: i64,
    ) -> i64 {
        for _ in 0..count {
            let wait = keys
                .iter()
                .map(|k| limiter.wait_of(&k, now))
                .max()
                .unwrap_or(0);
            now += wait;
            drop(limiter.reserve(keys, now).expect("allowed after the wait"));
        }
        now
    }

    #[test]
    fn delays_start_after_the_free_failures_double_and_stop_at_the_cap() {
        let table = [
            (0, 0),
            (LOGIN_ACCOUNT_FAILURES_FREE, 0),
            (LOGIN_ACCOUNT_FAILURES_FREE + 1, 1_000),
            (LOGIN_ACCOUNT_FAILURES_FREE + 2, 2_000),
            (LOGIN_ACCOUNT_FAILURES_FREE + 3, 4_000),
            (LOGIN_ACCOUNT_FAILURES_FREE + 10, 512_000),
            (LOGIN_ACCOUNT_FAILURES_FREE + 11, LOGIN_ACCOUNT_DELAY_MAX_MS),
            (u32::MAX, LOGIN_ACCOUNT_DELAY_MAX_MS),
        ];
        for (failures, delay) in table {
            assert_eq!(
                ACCOUNT_POLICY.delay_ms(failures),
                delay,
                "{failures} failures"
            );
        }
        assert_eq!(
            ADDRESS_POLICY.delay_ms(u32::MAX),
            LOGIN_ADDRESS_DELAY_MAX_MS
        );
    }

    #[test]
    fn an_attempt_before_the_delay_is_refused_uncounted_and_one_after_it_is_allowed() {
        let limiter = LoginLimiter::default();
        let keys = AttemptKeys::new("Ana@x.cu", None);
        let now = fail_each_as_allowed(&limiter, &keys, LOGIN_ACCOUNT_FAILURES_FREE + 1, NOW);
        assert_eq!(
            now, NOW,
            "the free failures and the one that starts the delay cost no wait"
        );
        for _ in 0..100 {
            match limiter.reserve(&AttemptKeys::new("ana@X.CU", None), now + 999) {
                Err(ServiceError::RateLimited { retry_after_ms }) => assert_eq!(retry_after_ms, 1),
                _ => panic!("delayed: emails compare case-insensitively"),
            }
        }
        assert_eq!(
            limiter.wait_of(&keys.account, now),
            LOGIN_DELAY_FIRST_MS,
            "refused attempts did not make the wait longer"
        );
        let allowed = limiter
            .reserve(&keys, now + LOGIN_DELAY_FIRST_MS)
            .expect("after the wait");
        allowed.succeed();
        assert_eq!(
            limiter.wait_of(&keys.account, now),
            0,
            "a success clears the account"
        );
        assert_eq!(limiter.count(), 0);
    }

    #[test]
    fn a_burst_of_simultaneous_reservations_is_counted_before_any_is_checked() {
        let limiter = LoginLimiter::default();
        let keys = AttemptKeys::new("admin@medledger.local", Some(attacker()));
        let reserved: Vec<Reservation<'_>> = (0..100)
            .filter_map(|_| limiter.reserve(&keys, NOW).ok())
            .collect();
        assert_eq!(reserved.len() as u32, LOGIN_ACCOUNT_FAILURES_FREE + 1);
        assert_eq!(
            limiter.in_flight(&keys.account),
            LOGIN_ACCOUNT_FAILURES_FREE + 1
        );
        drop(reserved);
        assert_eq!(limiter.in_flight(&keys.account), 0);
        assert_eq!(
            limiter.wait_of(&keys.account, NOW),
            LOGIN_DELAY_FIRST_MS,
            "all counted as failures"
        );
    }

    #[test]
    fn a_success_keeps_the_attempts_still_in_flight_counted_and_gives_back_only_its_own_address_count()
     {
        let limiter = LoginLimiter::default();
        let keys = AttemptKeys::new("admin@medledger.local", Some(attacker()));
        let address = keys.address.expect("an address");
        let wrong = limiter.reserve(&keys, NOW).expect("free");
        let right = limiter.reserve(&keys, NOW).expect("free");
        right.succeed();
        assert_eq!(
            limiter.in_flight(&keys.account),
            1,
            "the wrong one is still in flight"
        );
        drop(wrong);
        let more: Vec<_> = (0..100)
            .filter_map(|_| limiter.reserve(&keys, NOW).ok())
            .collect();
        assert_eq!(
            more.len() as u32,
            LOGIN_ACCOUNT_FAILURES_FREE,
            "the wrong one stayed counted"
        );
        drop(more);
        assert_eq!(
            limiter.wait_of(&address, NOW),
            0,
            "the address is under its free failures"
        );
    }

    #[test]
    fn a_flood_of_new_keys_never_evicts_a_running_delay_and_the_bound_holds() {
        let entries_max = 64;
        let limiter = LoginLimiter::with_entries_max(entries_max);
        let victim = AttemptKeys::new("admin@medledger.local", Some(attacker()));
        let now = fail_each_as_allowed(&limiter, &victim, LOGIN_ACCOUNT_FAILURES_FREE + 8, NOW);
        let wait = limiter.wait_of(&victim.account, now);
        assert_eq!(
            wait,
            ACCOUNT_POLICY.delay_ms(LOGIN_ACCOUNT_FAILURES_FREE + 8)
        );
        // Cheap failures from many addresses for many accounts, each once (as a flood would).
        for i in 0..(entries_max as u32 * 20) {
            let keys = AttemptKeys::new(
                &format!("flood{i}@x.cu"),
                Some(IpAddr::from(i.to_be_bytes())),
            );
            drop(limiter.reserve(&keys, now + i64::from(i % 100)));
            assert!(limiter.count() <= entries_max);
        }
        assert_eq!(
            limiter.wait_of(&victim.account, now),
            wait,
            "the victim's delay is intact"
        );
        assert!(limiter.reserve(&victim, now + wait - 1).is_err());
    }

    #[test]
    fn a_table_full_of_running_delays_refuses_new_keys_rather_than_forget_one() {
        let entries_max = 8;
        let limiter = LoginLimiter::with_entries_max(entries_max);
        for i in 0..entries_max {
            let keys = AttemptKeys::new(&format!("user{i}@x.cu"), None);
            fail_each_as_allowed(&limiter, &keys, LOGIN_ACCOUNT_FAILURES_FREE + 1, NOW);
        }
        let newcomer = AttemptKeys::new("newcomer@x.cu", None);
        match limiter.reserve(&newcomer, NOW) {
            Err(ServiceError::RateLimited { retry_after_ms }) => {
                assert_eq!(
                    retry_after_ms, LOGIN_DELAY_FIRST_MS,
                    "until the first delay ends"
                )
            }
            _ => panic!("a full table of running delays takes no new key"),
        }
        for i in 0..entries_max {
            let keys = AttemptKeys::new(&format!("user{i}@x.cu"), None);
            assert!(
                limiter.reserve(&keys, NOW).is_err(),
                "user{i} is still delayed"
            );
        }
        assert!(
            limiter
                .reserve(&newcomer, NOW + LOGIN_DELAY_FIRST_MS)
                .is_ok(),
            "once a delay ends its key may go"
        );
    }

    #[test]
    fn a_quiet_key_is_forgotten_only_after_its_delay_is_long_over() {
        let limiter = LoginLimiter::default();
        let keys = AttemptKeys::new("ana@x.cu", None);
        let now = fail_each_as_allowed(&limiter, &keys, LOGIN_ACCOUNT_FAILURES_FREE + 20, NOW);
        assert_eq!(
            limiter.wait_of(&keys.account, now),
            LOGIN_ACCOUNT_DELAY_MAX_MS
        );
        let later = now + LOGIN_ACCOUNT_FORGET_AFTER_MS;
        let reserved: Vec<_> = (0..100)
            .filter_map(|_| limiter.reserve(&keys, later).ok())
            .collect();
        assert_eq!(
            reserved.len() as u32,
            LOGIN_ACCOUNT_FAILURES_FREE + 1,
            "free failures again"
        );
    }

    #[test]
    fn ipv6_addresses_share_their_64_and_ipv4_mapped_ones_are_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("address");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("address");
        assert_eq!(LimiterKey::address(a), LimiterKey::address(b));
        assert_ne!(LimiterKey::address(a), LimiterKey::address(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("address");
        assert_eq!(
            LimiterKey::address(mapped),
            LimiterKey::address(IpAddr::from([192, 0, 2, 1]))
        );
    }
}
