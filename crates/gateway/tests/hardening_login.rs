//! Attacks on the login path itself, each performed over HTTP and seen refused (the security review's
//! "hardening against a hostile insider and a hostile network", findings 2, 3, 8 and 13a). The failures
//! this pins:
//!
//! - a burst of simultaneous logins for one account that is checked all at once, because the limit was
//!   checked before Argon2 and counted after it, and that holds one Argon2 buffer per attempt;
//! - a delayed account whose record a flood of cheap logins (over-long passwords, no Argon2) from many
//!   addresses pushes out of a bounded table, so that guessing resumes;
//! - a lockout an attacker uses as a weapon: five wrong passwords that keep the owner (the
//!   administrator too) out for fifteen minutes, and an address limit that shuts out everyone behind
//!   it;
//! - a password of twelve spaces accepted as a new password.
//!
//! Deterministic: no sockets, no sleeps; time moves only by `TestGateway::advance`, every loop is
//! bounded.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use medledger_service::auth::{
    ACCOUNT_POLICY, ARGON2_BUSY_RETRY_AFTER_MS, ARGON2_RUNS_MAX, LOGIN_ACCOUNT_DELAY_MAX_MS,
    LOGIN_ACCOUNT_FAILURES_FREE, LOGIN_ADDRESS_FAILURES_FREE, LOGIN_DELAY_FIRST_MS,
    LOGIN_LIMITER_ENTRIES_MAX, PASSWORD_CHARS_MAX, TOO_WEAK,
};
use medledger_testkit::{
    ADMIN_EMAIL, ADMIN_PASSWORD, DOCTOR_PASSWORD, TestBrowser, TestGateway, TestResponse,
};
use serde_json::json;

/// How many logins the burst sends at once (the review sent 100: 99 wrong, 1 right).
const BURST_LOGINS: usize = 100;
/// The flood's pace in the test clock: logins per millisecond.
const FLOOD_LOGINS_PER_MS: u32 = 10;
/// The most attempts a test's guessing loop makes before it gives up (far more than it needs).
const ATTEMPTS_MAX: usize = 1_000;

fn address(a: u8, b: u8, c: u8) -> SocketAddr {
    SocketAddr::from(([10, a, b, c], 5000))
}

/// The attacker's address.
fn attacker() -> SocketAddr {
    address(66, 6, 6)
}

/// The administrator's own address.
fn owner() -> SocketAddr {
    address(1, 1, 1)
}

/// The `Retry-After` of a 429, in milliseconds (panics if the answer is not a 429 with one).
#[track_caller]
fn retry_after_ms(response: &TestResponse) -> i64 {
    response.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let seconds: i64 = response
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a 429 says when to come back");
    assert!(seconds >= 1);
    seconds * 1000
}

/// Guesses `email`'s password from `from` (waiting out each delay, as a patient attacker would) until
/// `failures` guesses have been checked and refused 401.
async fn guess(
    gateway: &TestGateway,
    from: SocketAddr,
    email: &str,
    password: &str,
    failures: u32,
) {
    let mut checked = 0;
    for _ in 0..ATTEMPTS_MAX {
        if checked == failures {
            return;
        }
        let response = gateway.login_from(from, email, password).await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            gateway.advance(retry_after_ms(&response));
            continue;
        }
        response.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
        checked += 1;
    }
    panic!("{failures} guesses did not get through in {ATTEMPTS_MAX} attempts");
}

/// One wrong guess of `email`'s password from each of `count` addresses (`10.subnet.0.i`), each checked.
async fn guess_from_many(gateway: &TestGateway, subnet: u8, email: &str, count: u32) {
    for i in 0..count {
        guess(
            gateway,
            address(subnet, 0, i as u8),
            email,
            "wrong wrong wrong",
            1,
        )
        .await;
    }
}

/// The administrator logs in from their own address with the right password.
async fn owner_login(gateway: &TestGateway) -> TestResponse {
    gateway
        .login_from(owner(), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
}

/// The administrator gets in (panics otherwise).
#[track_caller]
fn assert_logged_in(response: &TestResponse) {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

#[tokio::test]
async fn a_burst_of_logins_for_one_account_is_checked_only_up_to_the_free_failures() {
    let gateway = Arc::new(TestGateway::start().await);
    // All at once, each from its own address (so only the account's limit is in play); the right
    // password is the last of the burst.
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..BURST_LOGINS {
        let gateway = Arc::clone(&gateway);
        let password = if i + 1 == BURST_LOGINS {
            ADMIN_PASSWORD.to_owned()
        } else {
            format!("wrong guess number {i}")
        };
        logins.spawn(async move {
            gateway
                .login_from(address(2, 0, i as u8), ADMIN_EMAIL, &password)
                .await
        });
    }
    let (mut checked, mut refused) = (0, 0);
    while let Some(response) = logins.join_next().await {
        let response = response.expect("the login ends");
        match response.status {
            StatusCode::UNAUTHORIZED | StatusCode::OK => checked += 1,
            _ => {
                // Refused before any password was looked at: delayed, or Argon2 busy.
                assert!(retry_after_ms(&response) <= LOGIN_DELAY_FIRST_MS);
                refused += 1;
            }
        }
    }
    assert!(
        checked <= LOGIN_ACCOUNT_FAILURES_FREE as usize + 1,
        "{checked} passwords of a burst of {BURST_LOGINS} were checked"
    );
    assert_eq!(checked + refused, BURST_LOGINS);

    // Not a lockout: once the short delay is over, the owner gets in.
    let response = owner_login(&gateway).await;
    if response.status == StatusCode::TOO_MANY_REQUESTS {
        gateway.advance(retry_after_ms(&response));
    }
    assert_logged_in(&owner_login(&gateway).await);
}

#[tokio::test]
async fn past_the_argon2_cap_logins_registrations_and_changes_are_refused_at_once_and_cost_nothing()
{
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    // Every Argon2 run is taken (as by a burst of logins in progress).
    let runs = Arc::clone(&gateway.state.inner.argon2_runs);
    let running = runs
        .acquire_many(ARGON2_RUNS_MAX as u32)
        .await
        .expect("the semaphore is open");
    for i in 0..BURST_LOGINS {
        let response = gateway
            .login_from(address(3, 0, i as u8), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await;
        assert_eq!(retry_after_ms(&response), ARGON2_BUSY_RETRY_AFTER_MS);
    }
    let registration = gateway
        .post(
            "/api/v1/doctors",
            Some(&admin),
            TestGateway::doctor_body(10, "ana@hospital.test", DOCTOR_PASSWORD),
        )
        .await;
    assert_eq!(retry_after_ms(&registration), ARGON2_BUSY_RETRY_AFTER_MS);
    let change = gateway
        .post(
            "/api/v1/auth/password",
            Some(&admin),
            json!({"current_password": ADMIN_PASSWORD, "new_password": "a new long passphrase"}),
        )
        .await;
    assert_eq!(retry_after_ms(&change), ARGON2_BUSY_RETRY_AFTER_MS);

    // The refused attempts counted nothing: once a run is free, the right password gets in at once.
    drop(running);
    assert_eq!(runs.available_permits(), ARGON2_RUNS_MAX);
    assert_logged_in(&owner_login(&gateway).await);
}

#[tokio::test]
async fn a_flood_of_cheap_logins_from_many_addresses_never_frees_a_delayed_account() {
    let gateway = TestGateway::start().await;
    let over_long = "x".repeat(PASSWORD_CHARS_MAX + 1);
    // The attacker delays the administrator with cheap guesses only (no Argon2): they count too.
    let failures = LOGIN_ACCOUNT_FAILURES_FREE + 12;
    guess(&gateway, attacker(), ADMIN_EMAIL, &over_long, failures).await;
    let delayed = owner_login(&gateway).await;
    let wait_ms = retry_after_ms(&delayed);
    assert_eq!(wait_ms, ACCOUNT_POLICY.delay_ms(failures));

    // Then floods the limiter's table: more new keys (an email and an address each) than it holds,
    // over some time (so that every key of the flood is newer than the administrator's).
    let flood = LOGIN_LIMITER_ENTRIES_MAX / 2 + 1_000;
    let mut elapsed_ms = 0;
    for i in 0..flood as u32 {
        if i % FLOOD_LOGINS_PER_MS == 0 {
            gateway.advance(1);
            elapsed_ms += 1;
        }
        let [_, b, c, d] = i.to_be_bytes();
        let from = SocketAddr::from(([127, b, c, d], 4000));
        let response = gateway
            .login_from(from, &format!("flood{i}@medledger.local"), &over_long)
            .await;
        assert!(
            matches!(
                response.status,
                StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ),
            "{}",
            response.text()
        );
    }
    assert!(elapsed_ms < wait_ms / 2, "the flood fits in the delay");
    assert!(gateway.state.inner.login_limiter.count() <= LOGIN_LIMITER_ENTRIES_MAX);

    // The administrator's delay is intact: the right password is still refused, unlooked at ...
    let still = owner_login(&gateway).await;
    let left_ms = wait_ms - elapsed_ms;
    assert_eq!(
        retry_after_ms(&still),
        (left_ms + 999) / 1000 * 1000,
        "the delay was not forgotten"
    );
    // ... and it stays a delay, not a lockout: after it, the owner gets in.
    gateway.advance(left_ms);
    assert_logged_in(&owner_login(&gateway).await);
}

#[tokio::test]
async fn an_attacker_keeps_the_owner_out_for_seconds_while_their_own_address_stays_delayed() {
    let gateway = TestGateway::start().await;
    // The attacker sprays wrong passwords over many accounts until their address is delayed ...
    for i in 0..=LOGIN_ADDRESS_FAILURES_FREE + 5 {
        guess(
            &gateway,
            attacker(),
            &format!("user{i}@medledger.local"),
            "spring spring 2024",
            1,
        )
        .await;
    }
    let attacker_wait_ms = retry_after_ms(
        &gateway
            .login_from(attacker(), ADMIN_EMAIL, "one more guess")
            .await,
    );
    // ... and, from a few more addresses, wrong passwords for the administrator: the five that used to
    // lock the account for fifteen minutes.
    guess_from_many(&gateway, 4, ADMIN_EMAIL, LOGIN_ACCOUNT_FAILURES_FREE + 1).await;
    let owner_wait_ms = retry_after_ms(&owner_login(&gateway).await);
    assert_eq!(
        owner_wait_ms, LOGIN_DELAY_FIRST_MS,
        "a second, not fifteen minutes"
    );
    assert!(owner_wait_ms < attacker_wait_ms);

    gateway.advance(owner_wait_ms);
    assert_logged_in(&owner_login(&gateway).await);
    // The attacker's address is still delayed, whatever it tries (even the right password).
    let refused = gateway
        .login_from(attacker(), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(retry_after_ms(&refused), attacker_wait_ms - owner_wait_ms);
    // And from an address behind no attacker, the account is not slowed down at all now.
    let elsewhere = gateway
        .login_from(address(5, 5, 5), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_logged_in(&elsewhere);
}

#[tokio::test]
async fn a_patient_guesser_gets_one_guess_per_delay_and_the_delay_stops_at_its_cap() {
    let gateway = TestGateway::start().await;
    // From a new address for each guess (so only the account's limit is in play).
    guess_from_many(&gateway, 6, ADMIN_EMAIL, LOGIN_ACCOUNT_FAILURES_FREE + 21).await;
    let wait_ms = retry_after_ms(&owner_login(&gateway).await);
    assert_eq!(wait_ms, LOGIN_ACCOUNT_DELAY_MAX_MS, "capped");
    // Guessing during the delay is refused and does not lengthen it.
    for i in 0..BURST_LOGINS {
        let response = gateway
            .login_from(
                address(7, 0, i as u8),
                ADMIN_EMAIL,
                "guess during the delay",
            )
            .await;
        assert_eq!(retry_after_ms(&response), wait_ms);
    }
    gateway.advance(wait_ms);
    assert_logged_in(&owner_login(&gateway).await);
}

/// Passwords long enough, yet too easy to guess.
const WEAK_PASSWORDS: [&str; 6] = [
    "            ",
    "aaaaaaaaaaaaaaaa",
    "123456789012",
    "Password1234!",
    "qwertyuiopasdf",
    "p@ssw0rd p@ssw0rd",
];

#[tokio::test]
async fn weak_passwords_are_refused_too_weak_at_registration_and_at_a_change() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    for (i, password) in WEAK_PASSWORDS.into_iter().enumerate() {
        let registration = gateway
            .post(
                "/api/v1/doctors",
                Some(&admin),
                TestGateway::doctor_body(20 + i as i64, "weak@hospital.test", password),
            )
            .await;
        registration.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let problem = &registration.json()["errors"][0];
        assert_eq!(
            (&problem["field"], &problem["code"]),
            (&json!("password"), &json!(TOO_WEAK))
        );

        let change = gateway
            .post(
                "/api/v1/auth/password",
                Some(&admin),
                json!({"current_password": ADMIN_PASSWORD, "new_password": password}),
            )
            .await;
        change.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let problem = &change.json()["errors"][0];
        assert_eq!(
            (&problem["field"], &problem["code"]),
            (&json!("new_password"), &json!(TOO_WEAK)),
            "{password:?}"
        );
    }
    // The password did not change.
    gateway.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

/// A web page answered with `status` whose text includes `text`.
#[track_caller]
fn assert_page_says(response: &TestResponse, status: StatusCode, text: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert!(response.text().contains(text), "{}", response.text());
}

#[tokio::test]
async fn the_web_password_page_says_why_a_weak_password_is_refused() {
    let gateway = TestGateway::start().await;
    let mut browser = TestBrowser::new(&gateway);
    browser.accept_language = Some("en".into());
    browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let weak = WEAK_PASSWORDS[0];
    let response = browser
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", ADMIN_PASSWORD),
                ("new_password", weak),
                ("confirm_password", weak),
            ],
        )
        .await;
    assert_page_says(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Too easy to guess",
    );
}

#[tokio::test]
async fn the_web_login_page_tells_the_wait_and_sets_retry_after() {
    let gateway = TestGateway::start().await;
    guess_from_many(&gateway, 8, ADMIN_EMAIL, LOGIN_ACCOUNT_FAILURES_FREE + 1).await;
    let mut browser = TestBrowser::new(&gateway);
    browser.accept_language = Some("es".into());
    let response = browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_page_says(&response, StatusCode::TOO_MANY_REQUESTS, "dentro de 1 s.");
    let retry_after = response.headers.get(header::RETRY_AFTER);
    assert_eq!(retry_after.and_then(|v| v.to_str().ok()), Some("1"));
}

#[tokio::test]
async fn a_weak_first_administrator_password_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let started = medledger_service::start::start(medledger_service::start::UpOptions {
        data: medledger_node::DataDir::new(dir.path()),
        init: medledger_node::InitOptions::default(),
        node: medledger_node::NodeOptions::default(),
        admin_password: Some(WEAK_PASSWORDS[0].to_owned()),
        service: medledger_service::ServiceConfig::default(),
    })
    .await;
    match started {
        Err(medledger_service::StartError::Config(message)) => {
            assert!(message.contains("MEDLEDGER_ADMIN_PASSWORD"), "{message}");
            assert!(message.contains("too easy to guess"), "{message}");
        }
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("twelve spaces were accepted as the first administrator's password"),
    }
    assert_eq!(
        std::fs::read_dir(dir.path())
            .expect("the directory")
            .count(),
        0,
        "nothing was created"
    );
}
