//! Logins, sessions and passwords over HTTP: the failures this pins are a token that outlives its
//! logout or its expiry, a login answer that tells whether an account exists, unlimited password
//! guessing, a cookie a script or another site could use, and a password change that leaves the old
//! password working or the key unreadable. Attacks on the login limiter itself (bursts, floods,
//! lockouts as a weapon, weak passwords) are pinned in `hardening_login.rs`.

use std::net::SocketAddr;

use axum::http::{Method, StatusCode, header};
use medledger_service::auth::{
    LOGIN_ACCOUNT_FAILURES_FREE, LOGIN_ADDRESS_FAILURES_FREE, LOGIN_DELAY_FIRST_MS, SESSION_COOKIE,
    SESSION_IDLE_TIMEOUT_MS, SESSION_LIFETIME_MS,
};
use medledger_testkit::{
    ADMIN_EMAIL, ADMIN_PASSWORD, CLIENT_ADDRESS, DOCTOR_PASSWORD, TestGateway,
};
use serde_json::json;

const NEW_PASSWORD: &str = "a much better passphrase";

fn address(last: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, last], 5000))
}

#[tokio::test]
async fn login_answers_a_bearer_token_and_the_api_takes_no_cookie() {
    let gateway = TestGateway::start().await;
    let response = gateway
        .login_from(CLIENT_ADDRESS, "ADMIN@medledger.local", ADMIN_PASSWORD)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["email"], ADMIN_EMAIL, "emails are case-insensitive");
    assert_eq!(body["role"], "admin");
    let token = body["token"].as_str().expect("token").to_owned();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    assert!(
        body["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    assert!(
        response.headers.get(header::SET_COOKIE).is_none(),
        "the API sets no cookie: the web pages keep their own"
    );
    assert_eq!(
        response
            .headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );

    assert_eq!(
        gateway.get("/api/v1/admins", Some(&token)).await.status,
        StatusCode::OK
    );
    let mut by_cookie = TestGateway::request(Method::GET, "/api/v1/admins", None, None);
    by_cookie.headers_mut().insert(
        header::COOKIE,
        format!("other=1; {SESSION_COOKIE}={token}")
            .parse()
            .expect("header"),
    );
    // A browser sends cookies by itself: a form on another site of the same host must not reach the
    // API with the person's session (security review, finding 10).
    gateway
        .send(by_cookie)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let gateway = TestGateway::start().await;
    let unknown = gateway
        .login_from(address(1), "nobody@medledger.local", ADMIN_PASSWORD)
        .await;
    let wrong = gateway
        .login_from(address(2), ADMIN_EMAIL, "not the password at all")
        .await;
    unknown.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    wrong.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(unknown.body, wrong.body);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn requests_without_a_valid_session_are_401() {
    let gateway = TestGateway::start().await;
    gateway
        .get("/api/v1/doctors", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    gateway
        .get("/api/v1/doctors", Some("not-a-token"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let mut basic = TestGateway::request(Method::GET, "/api/v1/doctors", None, None);
    basic.headers_mut().insert(
        header::AUTHORIZATION,
        "Basic YWRtaW46YWRtaW4=".parse().expect("header"),
    );
    gateway
        .send(basic)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let gateway = TestGateway::start().await;
    let token = gateway.admin_token().await;
    let other = gateway.admin_token().await;
    let response = gateway
        .post("/api/v1/auth/logout", Some(&token), json!(null))
        .await;
    assert_eq!(
        response.status,
        StatusCode::NO_CONTENT,
        "{}",
        response.text()
    );

    gateway
        .get("/api/v1/admins", Some(&token))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    gateway
        .post("/api/v1/auth/logout", Some(&token), json!(null))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        gateway.get("/api/v1/admins", Some(&other)).await.status,
        StatusCode::OK,
        "only that session ended"
    );
}

#[tokio::test]
async fn a_session_expires_when_idle_and_at_the_end_of_its_lifetime() {
    let gateway = TestGateway::start().await;
    let idle = gateway.admin_token().await;
    gateway.advance(SESSION_IDLE_TIMEOUT_MS - 1_000);
    assert_eq!(
        gateway.get("/api/v1/admins", Some(&idle)).await.status,
        StatusCode::OK,
        "used just before the idle timeout"
    );
    gateway.advance(SESSION_IDLE_TIMEOUT_MS);
    gateway
        .get("/api/v1/admins", Some(&idle))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    let busy = gateway.admin_token().await;
    let step = SESSION_IDLE_TIMEOUT_MS / 2;
    let mut elapsed = 0;
    while elapsed + step < SESSION_LIFETIME_MS {
        gateway.advance(step);
        elapsed += step;
        assert_eq!(
            gateway.get("/api/v1/admins", Some(&busy)).await.status,
            StatusCode::OK,
            "alive after {elapsed} ms of use"
        );
    }
    gateway.advance(step);
    gateway
        .get("/api/v1/admins", Some(&busy))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn failed_logins_delay_the_account_and_the_right_password_gets_in_after_the_wait() {
    let gateway = TestGateway::start().await;
    for i in 0..=LOGIN_ACCOUNT_FAILURES_FREE {
        // From different addresses: only the account's counter goes past its free failures.
        gateway
            .login_from(address(i as u8), ADMIN_EMAIL, "guess guess guess")
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let limited = gateway
        .login_from(address(200), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: i64 = limited
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert_eq!(retry_after, LOGIN_DELAY_FIRST_MS / 1000);

    gateway.advance(LOGIN_DELAY_FIRST_MS);
    assert_eq!(
        gateway
            .login_from(address(200), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_logins_delay_the_address_whatever_the_account() {
    let gateway = TestGateway::start().await;
    let attacker = address(66);
    for i in 0..=LOGIN_ADDRESS_FAILURES_FREE {
        gateway
            .login_from(attacker, &format!("user{i}@medledger.local"), "guess guess")
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    gateway
        .login_from(attacker, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(
        gateway
            .login_from(address(67), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status,
        StatusCode::OK,
        "another address is not limited"
    );
}

#[tokio::test]
async fn a_changed_password_replaces_the_old_one_and_still_unlocks_the_key() {
    let gateway = TestGateway::start().await;
    let token = gateway.admin_token().await;
    let elsewhere = gateway.admin_token().await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let short = gateway
        .post(
            "/api/v1/auth/password",
            Some(&token),
            change(ADMIN_PASSWORD, "short"),
        )
        .await;
    short.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(short.json()["errors"][0]["field"], "new_password");
    assert_eq!(short.json()["errors"][0]["code"], "too_short");

    let wrong = gateway
        .post(
            "/api/v1/auth/password",
            Some(&token),
            change("not my password!", NEW_PASSWORD),
        )
        .await;
    wrong.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(wrong.json()["errors"][0]["field"], "current_password");
    assert_eq!(wrong.json()["errors"][0]["code"], "wrong_password");

    let changed = gateway
        .post(
            "/api/v1/auth/password",
            Some(&token),
            change(ADMIN_PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());

    gateway
        .login_from(CLIENT_ADDRESS, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    gateway
        .get("/api/v1/admins", Some(&elsewhere))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        gateway.get("/api/v1/admins", Some(&token)).await.status,
        StatusCode::OK,
        "the session that changed it goes on"
    );

    // The key opens with the new password: the administrator signs a registration with it.
    let fresh = gateway.login(ADMIN_EMAIL, NEW_PASSWORD).await;
    gateway
        .register_doctor(&fresh, 10, "ana@hospital.test", DOCTOR_PASSWORD)
        .await;
}

#[tokio::test]
async fn a_doctor_changes_their_initial_password() {
    let gateway = TestGateway::start().await;
    let (token, email) = gateway.doctor(10).await;
    let changed = gateway
        .post(
            "/api/v1/auth/password",
            Some(&token),
            json!({"current_password": DOCTOR_PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());
    let token = gateway.login(&email, NEW_PASSWORD).await;
    let me = gateway.get("/api/v1/doctors/10", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
}
