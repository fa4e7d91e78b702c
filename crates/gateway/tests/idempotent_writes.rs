//! Retries never write twice (issue 8, item 2): a write sent again with the same `Idempotency-Key` gets
//! the first answer instead of a second write; the key with another request is refused.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use medledger_testkit::{TestGateway, TestResponse};
use serde_json::{Value, json};

fn patient(id: i64, name: &str) -> Value {
    json!({
        "person_id": id, "gender_concept_id": 8532, "year_of_birth": 1980,
        "race_concept_id": 0, "ethnicity_concept_id": 0, "given_name": name, "family_name": "Pérez"
    })
}

async fn post(
    gateway: &TestGateway,
    token: &str,
    key: Option<&str>,
    path: &str,
    body: &Value,
) -> TestResponse {
    let mut request = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let request = request
        .body(Body::from(serde_json::to_vec(body).expect("json")))
        .expect("a request");
    gateway.send(request).await
}

/// Registers patient `id` named `name` as `token`, with `key` if any.
async fn register(
    gateway: &TestGateway,
    token: &str,
    key: Option<&str>,
    id: i64,
    name: &str,
) -> TestResponse {
    post(gateway, token, key, "/api/v1/patients", &patient(id, name)).await
}

#[tokio::test]
async fn a_retried_write_gets_the_first_answer_and_writes_once() {
    let gateway = TestGateway::start().await;
    let (doctor, _) = gateway.doctor(10).await;
    let height = || gateway.state.node().peer().height();

    let first = register(&gateway, &doctor, Some("visit-7"), 1, "María").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let after_first = height();
    let again = register(&gateway, &doctor, Some("visit-7"), 1, "María").await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "the first answer, not 409 exists"
    );
    assert_eq!(again.body, first.body, "byte for byte");
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(height(), after_first, "nothing ordered again");

    // The same key with another request is a mistake, refused; the record is as first written.
    let reused = register(&gateway, &doctor, Some("visit-7"), 2, "Rosa").await;
    reused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reused.json()["errors"][0]["code"], "key_reused");
    assert_eq!(
        gateway
            .get("/api/v1/patients/2", Some(&doctor))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Keys are the person's: another doctor's equal key is a new write of theirs.
    let (other, _) = gateway.doctor(11).await;
    let theirs = register(&gateway, &other, Some("visit-7"), 3, "Luz").await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text());

    // Without a key, a second send is a second write (here refused: the id exists).
    register(&gateway, &doctor, None, 4, "Ana").await;
    register(&gateway, &doctor, None, 4, "Ana")
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");

    // A malformed key is refused before anything runs.
    register(&gateway, &doctor, Some("two words"), 5, "Eva")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        gateway
            .get("/api/v1/patients/5", Some(&doctor))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
