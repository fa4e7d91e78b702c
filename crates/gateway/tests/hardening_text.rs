//! Text that lies (security review, finding 12): NUL, ANSI escapes, a right-to-left override that makes a
//! name display spoofed, names of only zero-width characters and duplicate JSON keys were all accepted.
//! Each is now refused with a field error naming the field; line ends and tabs in long texts still pass.

use axum::http::StatusCode;
use medledger_testkit::TestGateway;
use serde_json::{Value, json};

fn patient(id: i64) -> Value {
    json!({
        "person_id": id, "gender_concept_id": 8532, "year_of_birth": 1980,
        "race_concept_id": 0, "ethnicity_concept_id": 0, "given_name": "María", "family_name": "Pérez"
    })
}

/// The `(field, code)` pairs of a 422 answer.
fn problems(answer: &Value) -> Vec<(String, String)> {
    answer["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn lying_text_is_refused_with_the_field_named() {
    let gateway = TestGateway::start().await;
    let (doctor, _) = gateway.doctor(10).await;
    let cases = [
        ("given_name", "Ana\u{0}", "control_character"),
        ("given_name", "\u{1b}[31mAna", "control_character"),
        ("family_name", "Ana\u{202E}zeréP", "bidi_control"),
        ("national_id", "8001\u{2066}0112345", "bidi_control"),
        ("given_name", "\u{200B}\u{200D}\u{FEFF}", "blank"),
        ("second_family_name", "   ", "blank"),
    ];
    for (i, (field, text, code)) in cases.iter().enumerate() {
        let mut body = patient(100 + i as i64);
        body[*field] = json!(text);
        let answer = gateway.post("/api/v1/patients", Some(&doctor), body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={text:?}: {}",
            answer.text()
        );
        assert_eq!(
            problems(&answer.json()),
            [((*field).to_owned(), (*code).to_owned())],
            "{text:?}"
        );
    }
    // Nothing of those was written.
    let listed = gateway.get("/api/v1/patients", Some(&doctor)).await.json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));

    // A note's text keeps its lines and tabs, and may hold right-to-left writing controls.
    let created = gateway
        .post("/api/v1/patients", Some(&doctor), patient(1))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let note = json!({
        "note_id": 7, "person_id": 1, "note_date": "2026-11-27", "note_type_concept_id": 32817,
        "note_class_concept_id": 44814637, "encoding_concept_id": 32678, "language_concept_id": 4182511,
        "note_text": "Cefalea.\r\n\tTres días.\n\u{2067}مرحبا\u{2069}"
    });
    let written = gateway
        .post("/api/v1/notes", Some(&doctor), note.clone())
        .await;
    assert_eq!(written.status, StatusCode::CREATED, "{}", written.text());
    let mut bad = note;
    bad["note_id"] = json!(8);
    bad["note_text"] = json!("texto\u{7}");
    let refused = gateway.post("/api/v1/notes", Some(&doctor), bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problems(&refused.json()),
        [("note_text".into(), "control_character".into())]
    );
}

#[tokio::test]
async fn a_key_given_twice_is_refused_not_silently_chosen() {
    let gateway = TestGateway::start().await;
    let (doctor, _) = gateway.doctor(10).await;
    let body = r#"{"person_id": 5, "person_id": 6, "gender_concept_id": 8532, "year_of_birth": 1980,
        "race_concept_id": 0, "ethnicity_concept_id": 0}"#;
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/patients")
        .header("authorization", format!("Bearer {doctor}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .expect("a request");
    let answer = gateway.send(request).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text()
    );
    assert_eq!(
        problems(&answer.json()),
        [("person_id".into(), "duplicate_key".into())]
    );
    for id in [5, 6] {
        let read = gateway
            .get(&format!("/api/v1/patients/{id}"), Some(&doctor))
            .await;
        assert_eq!(
            read.status,
            StatusCode::NOT_FOUND,
            "nothing written as {id}"
        );
    }
}
