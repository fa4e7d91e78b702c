//! A commit that takes longer than the wait (issue 8, item 2): the answer was an ambiguous 503, so a
//! client could not tell whether to write again. It is now 202 with the transaction id and a status
//! route, which tells when (and how) the write committed; the web page says the same in words.

use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use medledger_testkit::{TestBrowser, TestGateway, csrf_of};
use serde_json::Value;

/// Polls `status_url` until the transaction has committed (bounded).
async fn committed(gateway: &TestGateway, token: &str, status_url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = gateway.get(status_url, Some(token)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let status = answer.json();
        if status["status"] == "committed" {
            return status;
        }
        assert_eq!(status["status"], "not_committed");
        assert!(Instant::now() < deadline, "never committed: {status}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_slower_than_its_wait_answers_202_with_where_to_look() {
    // Writes wait no time at all for their commit: every one is still on its way when answered.
    let gateway = TestGateway::start_with_commit_wait(0).await;
    let admin = gateway.admin_token().await;
    // Nothing commits until the answer has come: it is 202 however fast the disk.
    let paused = gateway.state.node().pause_commits();
    let doctor = gateway
        .post(
            "/api/v1/doctors",
            Some(&admin),
            TestGateway::doctor_body(10, "ana@hospital.test", "initial for ana, long"),
        )
        .await;
    assert_eq!(doctor.status, StatusCode::ACCEPTED, "{}", doctor.text());
    drop(paused);
    let pending = doctor.json();
    let tx_id = pending["tx_id"].as_str().expect("a tx id").to_owned();
    let status_url = pending["status_url"]
        .as_str()
        .expect("a status url")
        .to_owned();
    assert_eq!(
        status_url,
        format!("/api/v1/ledger/transactions/{tx_id}/status")
    );
    assert_eq!(
        doctor
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(status_url.as_str())
    );
    let status = committed(&gateway, &admin, &status_url).await;
    assert_eq!(status["validation_code"], "valid");
    assert!(status["block_number"].as_u64().is_some_and(|b| b >= 1));
    // It did commit: the doctor exists, once.
    let read = gateway.get("/api/v1/doctors/10", Some(&admin)).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());

    // An unknown transaction is not committed; a malformed id is 400; nobody anonymous may ask.
    let unknown = format!("/api/v1/ledger/transactions/{}/status", "0".repeat(64));
    assert_eq!(
        gateway.get(&unknown, Some(&admin)).await.json()["status"],
        "not_committed"
    );
    gateway
        .get("/api/v1/ledger/transactions/xyz/status", Some(&admin))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        gateway.get(&unknown, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_page_says_a_slow_write_may_still_be_saved_and_where_to_look() {
    let gateway = TestGateway::start_with_commit_wait(0).await;
    let mut browser = TestBrowser::new(&gateway);
    browser
        .login(
            medledger_testkit::ADMIN_EMAIL,
            medledger_testkit::ADMIN_PASSWORD,
        )
        .await;
    let form = browser.get("/doctors/new").await;
    let csrf = csrf_of(&form.text()).expect("a form");
    let _paused = gateway.state.node().pause_commits();
    let answer = browser
        .post_form(
            "/doctors/new",
            &[
                ("csrf", csrf.as_str()),
                ("provider_id", "11"),
                ("given_name", "Luis"),
                ("family_name", "Díaz"),
                ("email", "luis@hospital.test"),
                ("password", "initial for luis, long"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text());
    let page = answer.text();
    assert!(page.contains("/explorer/tx/"), "{page}");
    assert!(
        page.contains("not confirmed yet") || page.contains("aún sin confirmar"),
        "{page}"
    );
}
