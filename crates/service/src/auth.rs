//! Logins and sessions: [`authenticate`], [`end_session`], [`change_own_password`], the [`Session`] every
//! protected action takes, the login limiter ([`limiter`]), the rules for new passwords
//! ([`password_rules`]) and the cap on Argon2 work ([`Argon2Permit`]).
//!
//! A login checks the password against the wallet and decrypts the person's key; the session holds the
//! unlocked key, in memory only, until it ends. So sessions are never persisted: a restart logs everyone
//! out, which is the point. A session is a random 32-byte token (base64url), sent back as a bearer token
//! and as a cookie (`HttpOnly; SameSite=Strict; Path=/`) for the web application; the table is keyed by
//! the token's SHA-256, so a lookup's timing says nothing about valid tokens. A session ends at logout,
//! after [`SESSION_IDLE_TIMEOUT_MS`] without use, or [`SESSION_LIFETIME_MS`] after login, whichever comes
//! first; the clock is the service's injectable clock.
//!
//! Every password check (a login; the current password of a change) goes through one path,
//! [`check_password`]: an attempt for a delayed account or address is refused at once with its wait
//! ([`ServiceError::RateLimited`]) and the password is not looked at; an attempt that may go is
//! reserved in the [`LoginLimiter`] (counted as a failure) *before* Argon2 runs, and settled after it.
//! A password over the length limit is refused without Argon2 but counted all the same. An unknown email
//! and a wrong password get the same answer and cost the same Argon2 run. The client address is the TCP
//! peer's: behind a reverse proxy every client shares the proxy's address, and `X-Forwarded-For` is
//! deliberately not trusted.
//!
//! Argon2 is the expensive part of a login, a password change and a registration (each run holds
//! `PasswordParams::memory_kib`, 19 MiB at the recommended cost, until it ends). At most
//! [`ARGON2_RUNS_MAX`] such jobs run at once; one more is refused at once, with
//! [`ServiceError::RateLimited`] and a short wait ([`ARGON2_BUSY_RETRY_AFTER_MS`]), and counts as no
//! attempt. 429 rather than 503: the remedy is the same as for a delay (try again after
//! `Retry-After`), and the node itself is ready, which 503 (`/readyz`'s answer) would deny. So the
//! memory Argon2 holds at once is at most `ARGON2_RUNS_MAX × memory_kib` (38 MiB at the recommended
//! cost), however many logins arrive together.

pub mod limiter;
pub mod password_rules;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use base64::Engine as _;
use medledger_crypto::keys::random_bytes;
use medledger_crypto::x509::CertificateAuthority;
use medledger_node::Identity;
use medledger_types::Role;
use medledger_wallet::{OnLedger, WalletError};

use crate::{AppState, ServiceError};

pub use limiter::{
    ACCOUNT_POLICY, ADDRESS_POLICY, AttemptKeys, DelayPolicy, LOGIN_ACCOUNT_DELAY_MAX_MS,
    LOGIN_ACCOUNT_FAILURES_FREE, LOGIN_ACCOUNT_FORGET_AFTER_MS, LOGIN_ADDRESS_DELAY_MAX_MS,
    LOGIN_ADDRESS_FAILURES_FREE, LOGIN_ADDRESS_FORGET_AFTER_MS, LOGIN_DELAY_FIRST_MS,
    LOGIN_LIMITER_ENTRIES_MAX, LimiterKey, LoginLimiter, Reservation,
};
pub use password_rules::{
    PASSWORD_CHARS_MAX, PASSWORD_CHARS_MIN, PASSWORD_DISTINCT_CHARS_MIN, TOO_WEAK,
    check_new_password,
};

/// A session ends after this long without a request.
pub const SESSION_IDLE_TIMEOUT_MS: i64 = 30 * 60 * 1000;
/// A session ends this long after login, however busy (a working day).
pub const SESSION_LIFETIME_MS: i64 = 8 * 60 * 60 * 1000;
/// Most sessions held at once; past it, the least recently used session ends.
pub const SESSIONS_COUNT_MAX: usize = 10_000;
/// Most sessions of one person; past it, that person's least recently used session ends.
pub const SESSIONS_PER_PERSON_MAX: usize = 16;
/// Most Argon2 jobs (a login's password check, a password change, a registration's sealing) that run
/// at once, each on the blocking pool. Two: the cores of a small node, and enough for a hospital's
/// logins (one takes well under a second); it bounds Argon2's memory to twice `memory_kib`.
pub const ARGON2_RUNS_MAX: usize = 2;
/// The wait an attempt is told when [`ARGON2_RUNS_MAX`] jobs are running (a job takes under a second).
pub const ARGON2_BUSY_RETRY_AFTER_MS: i64 = 1_000;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "medledger_session";
/// Random bytes in a session token.
pub const TOKEN_BYTES: usize = 32;
/// Longest token text looked up (a token is 43 base64url characters).
const TOKEN_CHARS_MAX: usize = 64;

const _: () = assert!(SESSION_IDLE_TIMEOUT_MS <= SESSION_LIFETIME_MS);
const _: () = assert!(SESSIONS_PER_PERSON_MAX <= SESSIONS_COUNT_MAX);

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a table that is still consistent (every update is one
    // insert or remove), so a poisoned lock is used as it is.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// SHA-256 of a token: the table's key.
type TokenKey = [u8; 32];

fn token_key(token: &str) -> TokenKey {
    medledger_crypto::sha256(token.as_bytes()).0
}

struct SessionEntry {
    email: String,
    role: Role,
    identity: Arc<Identity>,
    ca: Option<Arc<CertificateAuthority>>,
    must_change_password: bool,
    created_ms: i64,
    last_used_ms: i64,
}

impl SessionEntry {
    fn expires_at_ms(&self) -> i64 {
        (self.created_ms + SESSION_LIFETIME_MS).min(self.last_used_ms + SESSION_IDLE_TIMEOUT_MS)
    }
}

/// The sessions of logged-in people, in memory only (they hold unlocked keys).
#[derive(Default)]
pub struct Sessions {
    table: Mutex<HashMap<TokenKey, SessionEntry>>,
}

/// A new session's token and when it ends at the latest (milliseconds since the Unix epoch).
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
    pub expires_at_ms: i64,
    /// The person must replace their password before anything else.
    pub must_change_password: bool,
}

/// What a login unlocked, for its session.
pub struct Unlocked {
    pub email: String,
    pub role: Role,
    pub identity: Identity,
    /// The organization CA, with its key (administrators).
    pub ca: Option<CertificateAuthority>,
    pub must_change_password: bool,
}

impl Sessions {
    /// Starts a session, ending the least recently used ones past the bounds.
    pub fn create(&self, unlocked: Unlocked, now_ms: i64) -> NewSession {
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<TOKEN_BYTES>());
        let email = unlocked.email.as_str();
        let must_change_password = unlocked.must_change_password;
        let entry = SessionEntry {
            email: email.to_owned(),
            role: unlocked.role,
            identity: Arc::new(unlocked.identity),
            ca: unlocked.ca.map(Arc::new),
            must_change_password,
            created_ms: now_ms,
            last_used_ms: now_ms,
        };
        let expires_at_ms = entry.expires_at_ms();
        let mut table = lock(&self.table);
        table.retain(|_, s| s.expires_at_ms() > now_ms);
        let mine: Vec<(TokenKey, i64)> = table
            .iter()
            .filter(|(_, s)| s.email == email)
            .map(|(k, s)| (*k, s.last_used_ms))
            .collect();
        if mine.len() >= SESSIONS_PER_PERSON_MAX
            && let Some((oldest, _)) = mine.iter().min_by_key(|(_, used)| *used)
        {
            table.remove(oldest);
        }
        if table.len() >= SESSIONS_COUNT_MAX
            && let Some(oldest) = table
                .iter()
                .min_by_key(|(_, s)| s.last_used_ms)
                .map(|(k, _)| *k)
        {
            table.remove(&oldest);
        }
        table.insert(token_key(&token), entry);
        NewSession {
            token,
            expires_at_ms,
            must_change_password,
        }
    }

    /// The live session of `token`, marked as used now; an expired one is removed.
    fn get(&self, token: &str, now_ms: i64) -> Option<Session> {
        if token.is_empty() || token.len() > TOKEN_CHARS_MAX {
            return None;
        }
        let key = token_key(token);
        let mut table = lock(&self.table);
        let entry = table.get_mut(&key)?;
        if entry.expires_at_ms() <= now_ms {
            table.remove(&key);
            return None;
        }
        entry.last_used_ms = entry.last_used_ms.max(now_ms);
        Some(Session {
            email: entry.email.clone(),
            role: entry.role,
            identity: Arc::clone(&entry.identity),
            ca: entry.ca.clone(),
            must_change_password: entry.must_change_password,
            key,
        })
    }

    fn end(&self, key: &TokenKey) {
        lock(&self.table).remove(key);
    }

    /// Ends every session of `email` except `keep`, which no longer needs a password change.
    fn end_others(&self, email: &str, keep: &TokenKey) {
        let mut table = lock(&self.table);
        table.retain(|k, s| k == keep || s.email != email);
        if let Some(kept) = table.get_mut(keep) {
            kept.must_change_password = false;
        }
    }

    /// Sessions held now (including expired ones not yet swept).
    pub fn count(&self) -> usize {
        lock(&self.table).len()
    }
}

/// A logged-in person: the extractor every protected handler takes. Rejects with 401 when there is no
/// valid session (bearer token or session cookie), and with 503 when the node is not ready.
#[derive(Clone)]
pub struct Session {
    pub email: String,
    pub role: Role,
    /// The person's unlocked signing identity, held for the session only.
    pub identity: Arc<Identity>,
    /// The organization CA with its key, unlocked from an administrator's wallet entry for this session
    /// only: the one way a certificate can be issued.
    pub ca: Option<Arc<CertificateAuthority>>,
    /// The password was chosen by someone else: until it is replaced, the person may only change it or
    /// log out.
    pub must_change_password: bool,
    key: TokenKey,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Refuses (403) unless the person has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ServiceError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "a {} may not do this",
                self.role
            )))
        }
    }
}

/// The session token of a request, from its `Authorization` header's value (`Bearer <token>`), else from
/// its `Cookie` headers' values (the [`SESSION_COOKIE`] pair). An `Authorization` of another scheme
/// names no session.
pub fn session_token<'a>(
    authorization: Option<&'a str>,
    cookies: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if let Some(value) = authorization {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim());
    }
    cookies
        .into_iter()
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, token)| token)
}

/// The logged-in person of a request's session token: [`ServiceError::Unavailable`] when the node is
/// not ready, [`ServiceError::Unauthorized`] without a valid session.
pub fn session_of(state: &AppState, token: Option<&str>) -> Result<Session, ServiceError> {
    if !state.is_ready() {
        return Err(ServiceError::Unavailable);
    }
    let token = token.ok_or(ServiceError::Unauthorized)?;
    state
        .inner
        .sessions
        .get(token, state.now_ms())
        .ok_or(ServiceError::Unauthorized)
}

/// An RFC 3339 UTC time (whole seconds) of a Unix time in milliseconds.
pub fn rfc3339(unix_ms: i64) -> String {
    medledger_contract::ehr::DateTime::from_unix_seconds(unix_ms.div_euclid(1000))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The `Set-Cookie` value that stores a session token in the browser (or, with an empty token and age
/// 0, removes it).
pub fn session_cookie(state: &AppState, token: &str, max_age_s: i64) -> String {
    let secure = if state.inner.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}"
    )
}

/// A successful login: the new session, the person's role and email.
pub type LoggedIn = (NewSession, Role, String);

/// The right to run one Argon2 job: one of [`ARGON2_RUNS_MAX`], held until the job ends (also when the
/// request that started it is abandoned: the job keeps it, not the request).
pub struct Argon2Permit {
    _held: OwnedSemaphorePermit,
}

impl Argon2Permit {
    /// A permit if fewer than the semaphore's permits are taken; else, at once,
    /// [`ServiceError::RateLimited`] with [`ARGON2_BUSY_RETRY_AFTER_MS`].
    pub fn try_take(runs: &Arc<Semaphore>) -> Result<Argon2Permit, ServiceError> {
        match Arc::clone(runs).try_acquire_owned() {
            Ok(permit) => Ok(Argon2Permit { _held: permit }),
            Err(_) => {
                tracing::debug!("Argon2 busy: an attempt refused");
                Err(ServiceError::RateLimited {
                    retry_after_ms: ARGON2_BUSY_RETRY_AFTER_MS,
                })
            }
        }
    }

    /// Runs `job` on the blocking pool, holding the permit until it returns.
    pub async fn run<T: Send + 'static>(
        self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        tokio::task::spawn_blocking(move || {
            let _permit = self;
            job()
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("Argon2 task: {e}")))
    }
}

/// A password that did not open the account (or an account that does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongPassword;

/// The one way a person's password is checked: `job` (the wallet call that runs Argon2) under the
/// limiter and the Argon2 cap. Outcomes, in the order they are decided:
///
/// - [`ServiceError::RateLimited`] with the wait, nothing run, nothing counted: a key of `keys` is
///   delayed (or new and the limiter full of running delays);
/// - `Ok(Err(WrongPassword))`, nothing run, counted: `well_formed` is false (over a length limit, so
///   no Argon2 is spent on it, but it is an attempt all the same);
/// - [`ServiceError::RateLimited`] with [`ARGON2_BUSY_RETRY_AFTER_MS`], nothing run, nothing counted:
///   [`ARGON2_RUNS_MAX`] jobs are running;
/// - otherwise the attempt is reserved (counted) and `job` runs: `Ok(Ok(value))` settles it as a
///   success; `WrongCredentials` is `Ok(Err(WrongPassword))`, counted; another wallet error is
///   internal (and counted: a failing disk is no reason to let guesses through).
pub async fn check_password<T: Send + 'static>(
    limiter: &LoginLimiter,
    argon2_runs: &Arc<Semaphore>,
    keys: &AttemptKeys,
    now_ms: i64,
    well_formed: bool,
    job: impl FnOnce() -> Result<T, WalletError> + Send + 'static,
) -> Result<Result<T, WrongPassword>, ServiceError> {
    if !well_formed {
        let _counted = limiter.reserve(keys, now_ms)?;
        return Ok(Err(WrongPassword));
    }
    // A delayed attempt is told its delay, not that Argon2 is busy; `reserve` checks again, atomically.
    limiter.check(keys, now_ms)?;
    let permit = Argon2Permit::try_take(argon2_runs)?;
    let reservation = limiter.reserve(keys, now_ms)?;
    match permit.run(job).await? {
        Ok(value) => {
            reservation.succeed();
            Ok(Ok(value))
        }
        Err(WalletError::WrongCredentials) => Ok(Err(WrongPassword)),
        Err(e) => Err(ServiceError::Internal(e.to_string())),
    }
}

/// Checks a person's credentials and opens a session: the one login path, shared by the API and the web
/// pages. Outcomes: the session; [`ServiceError::RateLimited`] (a delayed account or address, or Argon2
/// busy: see [`check_password`]); [`ServiceError::InvalidCredentials`], whichever of email and password
/// is wrong; [`ServiceError::Unavailable`] when the node is not ready.
pub async fn authenticate(
    state: &AppState,
    address: Option<IpAddr>,
    email: String,
    password: String,
) -> Result<LoggedIn, ServiceError> {
    if !state.is_ready() {
        return Err(ServiceError::Unavailable);
    }
    let keys = AttemptKeys::new(&email, address);
    let well_formed = password.chars().nth(PASSWORD_CHARS_MAX).is_none()
        && email.len() <= medledger_wallet::EMAIL_BYTES_MAX;
    let wallet_state = state.clone();
    let unlocked = check_password(
        &state.inner.login_limiter,
        &state.inner.argon2_runs,
        &keys,
        state.now_ms(),
        well_formed,
        move || wallet_state.inner.wallet.unlock(&email, &password),
    )
    .await?
    .map_err(|WrongPassword| ServiceError::InvalidCredentials)?;
    let person = unlocked.person;
    match person.on_ledger {
        OnLedger::Yes => {}
        OnLedger::FirstAdmin => {
            crate::people::record_first_admin(state, &unlocked.identity, &person.email).await?;
        }
        OnLedger::Registering { .. } => {
            // The registration's write answered "not committed yet" (or the node stopped): its
            // transaction's status decides, now.
            use crate::people::Settled;
            match crate::people::settle_registration(state, &person.email, false).await? {
                Settled::Completed | Settled::NotRegistering => {}
                Settled::StillPending => return Err(ServiceError::RegistrationPending),
                Settled::Abandoned => return Err(ServiceError::InvalidCredentials),
            }
        }
    }
    let ca = unlocked
        .ca_key
        .map(|key| state.organization_ca(key))
        .transpose()?;
    let session = state.inner.sessions.create(
        Unlocked {
            email: person.email.clone(),
            role: person.role,
            identity: unlocked.identity,
            ca,
            must_change_password: person.must_change_password,
        },
        state.now_ms(),
    );
    tracing::info!(email = %person.email, role = %person.role, "logged in");
    Ok((session, person.role, person.email))
}

/// Ends `session`: its token stops working at once.
pub fn end_session(state: &AppState, session: &Session) {
    state.inner.sessions.end(&session.key);
    tracing::info!(email = %session.email, "logged out");
}

/// Changes the logged-in person's password (shared by the API and the web pages): checks the new one,
/// re-encrypts the key under it, and ends the person's other sessions. Outcomes: `Ok`; a 422 on
/// `new_password` ([`check_new_password`]); [`ServiceError::RateLimited`] (the account or address is
/// delayed, or Argon2 busy: the current password is a password check like a login's, see
/// [`check_password`]); a 422 `wrong_password` on `current_password`.
pub async fn change_own_password(
    state: &AppState,
    address: Option<IpAddr>,
    session: &Session,
    current_password: String,
    new_password: String,
) -> Result<(), ServiceError> {
    check_new_password("new_password", &new_password)?;
    let keys = AttemptKeys::new(&session.email, address);
    let well_formed = current_password.chars().nth(PASSWORD_CHARS_MAX).is_none();
    let job = {
        let state = state.clone();
        let email = session.email.clone();
        let params = state.inner.config.password;
        let now_ms = state.now_ms();
        move || {
            state.inner.wallet.change_password(
                &email,
                &current_password,
                &new_password,
                params,
                now_ms,
            )
        }
    };
    let changed = check_password(
        &state.inner.login_limiter,
        &state.inner.argon2_runs,
        &keys,
        state.now_ms(),
        well_formed,
        job,
    )
    .await?;
    if changed.is_err() {
        return Err(ServiceError::field(
            "current_password",
            "wrong_password",
            "the current password is wrong",
        ));
    }
    state.forget_initial_password(&session.email);
    state
        .inner
        .sessions
        .end_others(&session.email, &session.key);
    tracing::info!(email = %session.email, "password changed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const NOW: i64 = 1_700_000_000_000;

    /// What a burst of simultaneous password checks came to.
    struct Burst {
        /// Attempts whose job ran (the password was looked at): wrong ones, then right ones.
        wrong: usize,
        right: usize,
        /// The `retry_after_ms` of each attempt refused at once.
        refused: Vec<i64>,
        /// Reservations held while every job was still running.
        in_flight_at_peak: u32,
    }

    /// `count` simultaneous checks for one account from one address, each job blocked until all have
    /// been decided (so nothing finishes early and frees a permit); the last one has the right password.
    async fn burst(limiter: Arc<LoginLimiter>, permits: usize, count: usize) -> Burst {
        let runs = Arc::new(Semaphore::new(permits));
        let keys = AttemptKeys::new("admin@medledger.local", Some(IpAddr::from([10, 0, 0, 1])));
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let closed = gate.write().await;
        let started = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..count {
            let (limiter, runs, gate, started) = (
                Arc::clone(&limiter),
                Arc::clone(&runs),
                Arc::clone(&gate),
                Arc::clone(&started),
            );
            tasks.spawn(async move {
                let job = move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    let _open = gate.blocking_read();
                    if i + 1 == count {
                        Ok(())
                    } else {
                        Err(WalletError::WrongCredentials)
                    }
                };
                check_password(&limiter, &runs, &keys, NOW, true, job).await
            });
        }
        let mut results = Vec::new();
        // Each task decides (refused, or reserved and running) at its first poll: wait until all have.
        for _ in 0..10_000 {
            tokio::task::yield_now().await;
            while let Some(done) = tasks.try_join_next() {
                results.push(done.expect("the task ends"));
            }
            if results.len() + limiter.in_flight(&keys.account) as usize == count {
                break;
            }
        }
        let in_flight_at_peak = limiter.in_flight(&keys.account);
        assert_eq!(
            results.len() + in_flight_at_peak as usize,
            count,
            "all decided"
        );
        drop(closed);
        while let Some(done) = tasks.join_next().await {
            results.push(done.expect("the task ends"));
        }
        assert_eq!(runs.available_permits(), permits, "every permit came back");
        let mut outcome = Burst {
            wrong: 0,
            right: 0,
            refused: Vec::new(),
            in_flight_at_peak,
        };
        for result in results {
            match result {
                Ok(Ok(())) => outcome.right += 1,
                Ok(Err(WrongPassword)) => outcome.wrong += 1,
                Err(ServiceError::RateLimited { retry_after_ms }) => {
                    outcome.refused.push(retry_after_ms)
                }
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        assert_eq!(
            outcome.wrong + outcome.right,
            started.load(Ordering::SeqCst)
        );
        outcome
    }

    #[tokio::test]
    async fn a_burst_runs_at_most_the_argon2_cap_and_the_excess_is_refused_at_once_uncounted() {
        let limiter = Arc::new(LoginLimiter::default());
        let outcome = burst(Arc::clone(&limiter), ARGON2_RUNS_MAX, 100).await;
        assert_eq!(outcome.in_flight_at_peak as usize, ARGON2_RUNS_MAX);
        assert_eq!(
            outcome.wrong, ARGON2_RUNS_MAX,
            "only the first ones were checked"
        );
        assert_eq!(outcome.refused.len(), 100 - ARGON2_RUNS_MAX);
        assert!(
            outcome
                .refused
                .iter()
                .all(|ms| *ms == ARGON2_BUSY_RETRY_AFTER_MS)
        );
        let account = LimiterKey::account("admin@medledger.local");
        assert_eq!(
            limiter.wait_of(&account, NOW),
            0,
            "the refused attempts counted nothing: only the checked ones did"
        );
    }

    #[tokio::test]
    async fn a_burst_is_counted_before_it_is_checked_so_only_the_free_failures_and_one_get_through()
    {
        let limiter = Arc::new(LoginLimiter::default());
        let outcome = burst(Arc::clone(&limiter), 1_000, 100).await;
        let checked = LOGIN_ACCOUNT_FAILURES_FREE as usize + 1;
        assert_eq!(outcome.in_flight_at_peak as usize, checked);
        assert_eq!(
            outcome.wrong + outcome.right,
            checked,
            "99 wrong and 1 right: 5 checked"
        );
        assert_eq!(
            outcome.right, 0,
            "the right password came too late in the burst"
        );
        assert!(outcome.refused.iter().all(|ms| *ms == LOGIN_DELAY_FIRST_MS));
        let account = LimiterKey::account("admin@medledger.local");
        assert_eq!(limiter.wait_of(&account, NOW), LOGIN_DELAY_FIRST_MS);
    }

    #[tokio::test]
    async fn an_over_long_password_runs_no_argon2_needs_no_permit_and_counts() {
        let limiter = LoginLimiter::default();
        let no_permits = Arc::new(Semaphore::new(0));
        let keys = AttemptKeys::new("ana@x.cu", None);
        for _ in 0..=LOGIN_ACCOUNT_FAILURES_FREE {
            let job =
                || -> Result<(), WalletError> { panic!("no Argon2 for an over-long password") };
            let checked = check_password(&limiter, &no_permits, &keys, NOW, false, job).await;
            assert!(matches!(checked, Ok(Err(WrongPassword))));
        }
        let job = || -> Result<(), WalletError> { panic!("a delayed attempt runs nothing") };
        match check_password(&limiter, &no_permits, &keys, NOW, true, job).await {
            Err(ServiceError::RateLimited { retry_after_ms }) => {
                assert_eq!(
                    retry_after_ms, LOGIN_DELAY_FIRST_MS,
                    "its delay, not \"busy\""
                )
            }
            _ => panic!("the cheap failures counted"),
        }
    }

    #[test]
    fn tokens_come_from_the_bearer_header_or_the_cookie() {
        let cookies = ["a=b; medledger_session=tok1; c=d"];
        assert_eq!(session_token(None, cookies), Some("tok1"));
        assert_eq!(session_token(Some("Bearer tok2"), cookies), Some("tok2"));
        assert_eq!(session_token(Some("bearer  tok2 "), []), Some("tok2"));
        assert_eq!(session_token(Some("Basic xyz"), cookies), None);
        assert_eq!(session_token(None, ["other=1"]), None);
    }
}
