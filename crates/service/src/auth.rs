//! Logins and sessions: [`authenticate`], [`end_session`], [`change_own_password`], the [`Session`] every
//! protected action takes, and the login rate limits.
//!
//! A login checks the password against the wallet and decrypts the person's key; the session holds the
//! unlocked key, in memory only, until it ends. So sessions are never persisted: a restart logs everyone
//! out, which is the point. A session is a random 32-byte token (base64url), sent back as a bearer token
//! and as a cookie (`HttpOnly; SameSite=Strict; Path=/`) for the web application; the table is keyed by
//! the token's SHA-256, so a lookup's timing says nothing about valid tokens. A session ends at logout,
//! after [`SESSION_IDLE_TIMEOUT_MS`] without use, or [`SESSION_LIFETIME_MS`] after login, whichever comes
//! first; the clock is the service's injectable clock.
//!
//! Failed logins are counted per account and per client address ([`LOGIN_FAILURES_MAX`] per
//! [`LOGIN_FAILURE_WINDOW_MS`]); past that, logins for the account or from the address are refused
//! ([`ServiceError::RateLimited`]) before any password is checked. An unknown email and a wrong password get the same answer
//! and cost the same Argon2 run. The client address is the TCP peer's: behind a reverse proxy every
//! client shares the proxy's address, and `X-Forwarded-For` is deliberately not trusted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use medledger_crypto::keys::random_bytes;
use medledger_crypto::x509::CertificateAuthority;
use medledger_node::Identity;
use medledger_types::Role;
use medledger_wallet::{WalletError, normalize_email};

use crate::{AppState, ServiceError};

/// A session ends after this long without a request.
pub const SESSION_IDLE_TIMEOUT_MS: i64 = 30 * 60 * 1000;
/// A session ends this long after login, however busy (a working day).
pub const SESSION_LIFETIME_MS: i64 = 8 * 60 * 60 * 1000;
/// Most sessions held at once; past it, the least recently used session ends.
pub const SESSIONS_COUNT_MAX: usize = 10_000;
/// Most sessions of one person; past it, that person's least recently used session ends.
pub const SESSIONS_PER_PERSON_MAX: usize = 16;
/// Failed logins allowed per account, and per client address, in one window.
pub const LOGIN_FAILURES_MAX: u32 = 5;
/// The window failed logins are counted in.
pub const LOGIN_FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Most accounts and addresses the login limiter tracks; past it, the oldest window is forgotten.
pub const LOGIN_LIMITER_ENTRIES_MAX: usize = 10_000;
/// Shortest password accepted, in characters.
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Longest password accepted, in characters (as the document's `maxLength` counts them; at most 4 KiB).
pub const PASSWORD_CHARS_MAX: usize = 1024;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "medledger_session";
/// Random bytes in a session token.
pub const TOKEN_BYTES: usize = 32;
/// Longest token text looked up (a token is 43 base64url characters).
const TOKEN_CHARS_MAX: usize = 64;

const _: () = assert!(SESSION_IDLE_TIMEOUT_MS <= SESSION_LIFETIME_MS);
const _: () = assert!(SESSIONS_PER_PERSON_MAX <= SESSIONS_COUNT_MAX);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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

struct Window {
    started_ms: i64,
    failures: u32,
}

/// Failed-login counters per account and per client address, in fixed windows.
#[derive(Default)]
pub struct LoginLimiter {
    table: Mutex<HashMap<String, Window>>,
}

impl LoginLimiter {
    fn keys(email: &str, address: Option<IpAddr>) -> Vec<String> {
        let mut keys = vec![format!("account:{}", normalize_email(email))];
        if let Some(address) = address {
            keys.push(format!("address:{address}"));
        }
        keys
    }

    /// `Err(retry_after_ms)` if any key has used up its failures in the current window.
    fn check(&self, keys: &[String], now_ms: i64) -> Result<(), i64> {
        let table = lock(&self.table);
        let retry_after_ms = keys
            .iter()
            .filter_map(|key| table.get(key))
            .filter(|w| w.failures >= LOGIN_FAILURES_MAX)
            .map(|w| w.started_ms + LOGIN_FAILURE_WINDOW_MS - now_ms)
            .filter(|ms| *ms > 0)
            .max();
        match retry_after_ms {
            Some(ms) => Err(ms),
            None => Ok(()),
        }
    }

    fn fail(&self, keys: &[String], now_ms: i64) {
        let mut table = lock(&self.table);
        for key in keys {
            if let Some(window) = table.get_mut(key) {
                if now_ms - window.started_ms >= LOGIN_FAILURE_WINDOW_MS {
                    *window = Window {
                        started_ms: now_ms,
                        failures: 0,
                    };
                }
                window.failures = window.failures.saturating_add(1);
                continue;
            }
            if table.len() >= LOGIN_LIMITER_ENTRIES_MAX {
                table.retain(|_, w| now_ms - w.started_ms < LOGIN_FAILURE_WINDOW_MS);
            }
            if table.len() >= LOGIN_LIMITER_ENTRIES_MAX
                && let Some(oldest) = table
                    .iter()
                    .min_by_key(|(_, w)| w.started_ms)
                    .map(|(k, _)| k.clone())
            {
                table.remove(&oldest);
            }
            table.insert(
                key.clone(),
                Window {
                    started_ms: now_ms,
                    failures: 1,
                },
            );
        }
    }

    /// A successful login clears its account's failures (not its address's).
    fn succeed(&self, email: &str) {
        lock(&self.table).remove(&format!("account:{}", normalize_email(email)));
    }

    /// Accounts and addresses tracked now.
    pub fn count(&self) -> usize {
        lock(&self.table).len()
    }
}

/// Checks a new password's length; `field` names it in the 422.
pub fn check_new_password(field: &str, password: &str) -> Result<(), ServiceError> {
    if password.chars().count() < PASSWORD_CHARS_MIN {
        return Err(ServiceError::field(
            field,
            "too_short",
            format!("at least {PASSWORD_CHARS_MIN} characters"),
        ));
    }
    if password.chars().nth(PASSWORD_CHARS_MAX).is_some() {
        return Err(ServiceError::field(
            field,
            "too_long",
            format!("at most {PASSWORD_CHARS_MAX} characters"),
        ));
    }
    Ok(())
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

/// Checks a person's credentials and opens a session: the one login path, shared by the API and the web
/// pages. A rate-limited attempt is [`ServiceError::RateLimited`]; wrong credentials are
/// [`ServiceError::InvalidCredentials`], whichever of email and password is wrong.
pub async fn authenticate(
    state: &AppState,
    address: Option<IpAddr>,
    email: String,
    password: String,
) -> Result<LoggedIn, ServiceError> {
    if !state.is_ready() {
        return Err(ServiceError::Unavailable);
    }
    let keys = LoginLimiter::keys(&email, address);
    let limiter = &state.inner.login_limiter;
    if let Err(retry_after_ms) = limiter.check(&keys, state.now_ms()) {
        return Err(ServiceError::RateLimited { retry_after_ms });
    }
    if password.chars().nth(PASSWORD_CHARS_MAX).is_some()
        || email.len() > medledger_wallet::EMAIL_BYTES_MAX
    {
        limiter.fail(&keys, state.now_ms());
        return Err(ServiceError::InvalidCredentials);
    }
    let unlocked = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || state.inner.wallet.unlock(&email, &password))
            .await
            .map_err(|e| ServiceError::Internal(format!("login task: {e}")))?
    };
    let unlocked = match unlocked {
        Ok(unlocked) => unlocked,
        Err(WalletError::WrongCredentials) => {
            limiter.fail(&keys, state.now_ms());
            return Err(ServiceError::InvalidCredentials);
        }
        Err(e) => return Err(ServiceError::Internal(e.to_string())),
    };
    let person = unlocked.person;
    limiter.succeed(&person.email);
    if !person.on_ledger {
        crate::people::record_first_admin(state, &unlocked.identity, &person.email).await?;
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
/// re-encrypts the key under it, and ends the person's other sessions. `Ok(Err(response))` is a
/// rate-limited attempt is [`ServiceError::RateLimited`]; a wrong current password is a 422 on
/// `current_password`.
pub async fn change_own_password(
    state: &AppState,
    address: Option<IpAddr>,
    session: &Session,
    current_password: String,
    new_password: String,
) -> Result<(), ServiceError> {
    check_new_password("new_password", &new_password)?;
    let keys = LoginLimiter::keys(&session.email, address);
    let limiter = &state.inner.login_limiter;
    if let Err(retry_after_ms) = limiter.check(&keys, state.now_ms()) {
        return Err(ServiceError::RateLimited { retry_after_ms });
    }
    let changed = {
        let state = state.clone();
        let email = session.email.clone();
        let params = state.inner.config.password;
        let now_ms = state.now_ms();
        tokio::task::spawn_blocking(move || {
            state.inner.wallet.change_password(
                &email,
                &current_password,
                &new_password,
                params,
                now_ms,
            )
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("password task: {e}")))?
    };
    match changed {
        Ok(()) => {}
        Err(WalletError::WrongCredentials) => {
            limiter.fail(&keys, state.now_ms());
            return Err(ServiceError::field(
                "current_password",
                "wrong_password",
                "the current password is wrong",
            ));
        }
        Err(e) => return Err(ServiceError::Internal(e.to_string())),
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

    #[test]
    fn the_limiter_counts_per_key_in_windows_and_forgets_the_oldest_when_full() {
        let limiter = LoginLimiter::default();
        let keys = LoginLimiter::keys("Ana@x.cu", None);
        for _ in 0..LOGIN_FAILURES_MAX {
            assert!(limiter.check(&keys, 0).is_ok());
            limiter.fail(&keys, 0);
        }
        assert_eq!(limiter.check(&keys, 1), Err(LOGIN_FAILURE_WINDOW_MS - 1));
        assert!(
            limiter
                .check(&LoginLimiter::keys("ana@x.cu", None), 1)
                .is_err(),
            "emails are compared case-insensitively"
        );
        assert!(limiter.check(&keys, LOGIN_FAILURE_WINDOW_MS).is_ok());

        for i in 0..LOGIN_LIMITER_ENTRIES_MAX + 10 {
            limiter.fail(&[format!("account:{i}")], 1 + i as i64);
        }
        assert!(limiter.count() <= LOGIN_LIMITER_ENTRIES_MAX);
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
