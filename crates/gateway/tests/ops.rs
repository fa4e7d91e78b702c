//! Health, readiness, metrics and the errors every route shares: the failures this pins are a gateway
//! that says it is ready while it cannot commit, metrics that miss their series, and errors that are
//! not problem+json with a stable code (a body over the limit, malformed JSON, an unknown path).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use medledger_api::error::REQUEST_BODY_BYTES_MAX;
use medledger_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, DOCTOR_PASSWORD, TestGateway};
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_follow_the_node_and_shutdown() {
    let gateway = TestGateway::start().await;
    let token = gateway.admin_token().await;
    let health = gateway.get("/healthz", None).await;
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    let ready = gateway.get("/readyz", None).await;
    assert_eq!(
        (ready.status, ready.json()["status"].clone()),
        (StatusCode::OK, json!("ready"))
    );

    gateway.state.begin_shutdown();
    gateway
        .get("/readyz", None)
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(gateway.get("/healthz", None).await.status, StatusCode::OK);
    gateway
        .get("/api/v1/admins", Some(&token))
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    gateway
        .login_from(
            medledger_testkit::CLIENT_ADDRESS,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
        )
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        gateway
            .get_operations("/metrics")
            .await
            .text()
            .contains("medledger_ready 0")
    );
}

#[tokio::test]
async fn metrics_name_requests_commits_height_and_commit_latency() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    gateway
        .register_doctor(&admin, 10, "ana@hospital.test", DOCTOR_PASSWORD)
        .await;
    gateway.get("/api/v1/doctors/404", Some(&admin)).await;

    let response = gateway.get_operations("/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/openmetrics-text"))
    );
    let text = response.text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    // The first administrator's record and the doctor's.
    assert_eq!(value("medledger_committed_transactions_total"), 2.0);
    assert_eq!(value("medledger_commit_latency_seconds_count"), 2.0);
    assert_eq!(
        value("medledger_commit_latency_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert!(value("medledger_commit_latency_seconds_sum") > 0.0);
    assert_eq!(
        value("medledger_block_height"),
        gateway.state.node().peer().height() as f64
    );
    assert!(value("medledger_block_height") >= 3.0);
    assert!(value("medledger_ledger_transactions") >= 3.0);
    assert!(value("medledger_http_requests_total{class=\"2xx\"}") >= 2.0);
    assert!(value("medledger_http_requests_total{class=\"4xx\"}") >= 1.0);
    // The administrator's, and the doctor's from replacing the initial password.
    assert_eq!(value("medledger_sessions"), 2.0);
    assert_eq!(value("medledger_ready"), 1.0);
    for family in [
        "# TYPE medledger_http_requests counter",
        "# TYPE medledger_commit_latency_seconds histogram",
        "# TYPE medledger_block_height gauge",
    ] {
        assert!(text.contains(family), "{family}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    let mut body = TestGateway::doctor_body(10, "ana@hospital.test", DOCTOR_PASSWORD);
    body["given_name"] = json!("x".repeat(REQUEST_BODY_BYTES_MAX));
    gateway
        .post("/api/v1/doctors", Some(&admin), body)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    gateway
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": ADMIN_EMAIL, "password": "p".repeat(REQUEST_BODY_BYTES_MAX)}),
        )
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn malformed_requests_are_400_and_unknown_paths_404() {
    let gateway = TestGateway::start().await;
    let not_json = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"email\": "))
        .expect("request");
    gateway
        .send(not_json)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    let no_content_type = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .body(Body::from("{}"))
        .expect("request");
    gateway
        .send(no_content_type)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    gateway
        .post("/api/v1/auth/login", None, json!({"email": ADMIN_EMAIL}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    gateway
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "remember": true}),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    gateway
        .get("/api/v1/no-such-thing", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}
