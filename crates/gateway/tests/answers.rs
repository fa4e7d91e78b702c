//! Each answer has exactly the fields the OpenAPI document says it has. The service's answer types and
//! the API's documentation of them are written apart (the service knows nothing of OpenAPI); the
//! failure this pins is a field added to, renamed in or dropped from one but not the other.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use medledger_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestGateway};
use serde_json::{Value, json};

/// The schema `schema` stands for in `document`, with `$ref`s followed.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => {
            let pointer = target.trim_start_matches('#');
            let found = document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{target} is in the document"));
            resolve(document, found)
        }
        None => schema,
    }
}

/// The property names of an object schema, with `allOf` parts merged.
fn properties(document: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(document, schema);
    let mut names: BTreeSet<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        names.extend(properties(document, part));
    }
    names
}

/// The documented schema of the answer `status` of `method path`.
fn answer_schema<'a>(document: &'a Value, method: &str, path: &str, status: &str) -> &'a Value {
    document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        .as_object()
        .map(|_| {
            &document["paths"][path][method]["responses"][status]["content"]["application/json"]
                ["schema"]
        })
        .unwrap_or_else(|| panic!("{method} {path} documents a {status} JSON answer"))
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// `answer` has the documented fields, and so does each object-valued field the schema describes with
/// properties of its own (the record, its header, the proof, the signer, page items).
fn same_fields(document: &Value, schema: &Value, answer: &Value, what: &str) {
    let schema = resolve(document, schema);
    let documented = properties(document, schema);
    if documented.is_empty() {
        return;
    }
    let given = keys(answer);
    // Fields the serializer leaves out when empty are still documented; none is undocumented.
    assert!(
        given.is_subset(&documented),
        "{what}: undocumented fields {:?}",
        given.difference(&documented).collect::<Vec<_>>()
    );
    let required: BTreeSet<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    assert!(
        required.is_subset(&given),
        "{what}: documented as required but missing {:?}",
        required.difference(&given).collect::<Vec<_>>()
    );
    for name in &given {
        let inner = &schema["properties"][name.as_str()];
        let value = &answer[name.as_str()];
        match value {
            Value::Object(_) => same_fields(document, inner, value, &format!("{what}.{name}")),
            Value::Array(items) => {
                let items_schema = &resolve(document, inner)["items"];
                for item in items.iter().filter(|i| i.is_object()) {
                    same_fields(document, items_schema, item, &format!("{what}.{name}[]"));
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn every_answer_has_exactly_the_documented_fields() {
    let gateway = TestGateway::start().await;
    let document = gateway.get("/api/v1/openapi.json", None).await.json();
    let login = gateway
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let (doctor, _) = gateway.doctor(10).await;
    let patient = json!({
        "person_id": 1, "gender_concept_id": 8532, "year_of_birth": 1980,
        "race_concept_id": 0, "ethnicity_concept_id": 0, "given_name": "María", "family_name": "Pérez"
    });
    let created = gateway
        .post("/api/v1/patients", Some(&doctor), patient)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let tx_id = created.json()["tx_id"]
        .as_str()
        .expect("a tx id")
        .to_owned();

    let mut answers: Vec<(&str, String, &str, Value)> = vec![
        ("post", "/api/v1/auth/login".into(), "200", login.json()),
        ("post", "/api/v1/patients".into(), "201", created.json()),
    ];
    for (path, route) in [
        ("/api/v1/patients/1", "/api/v1/patients/{id}"),
        ("/api/v1/patients", "/api/v1/patients"),
        (
            "/api/v1/patients/1/history",
            "/api/v1/patients/{id}/history",
        ),
        ("/api/v1/doctors", "/api/v1/doctors"),
        ("/api/v1/doctors/10", "/api/v1/doctors/{id}"),
        ("/api/v1/ledger/blocks/1", "/api/v1/ledger/blocks/{number}"),
        ("/api/v1/ledger/checkpoint", "/api/v1/ledger/checkpoint"),
        ("/api/v1/ledger/roots", "/api/v1/ledger/roots"),
        (
            "/api/v1/ledger/consistency?from=1",
            "/api/v1/ledger/consistency",
        ),
        (
            &format!("/api/v1/ledger/transactions/{tx_id}"),
            "/api/v1/ledger/transactions/{tx_id}",
        ),
        ("/healthz", "/healthz"),
    ] {
        let response = gateway.get(path, Some(&doctor)).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{path}: {}",
            response.text()
        );
        answers.push(("get", route.to_owned(), "200", response.json()));
    }
    for (method, route, status, answer) in &answers {
        let schema = answer_schema(&document, method, route, status);
        same_fields(&document, schema, answer, &format!("{method} {route}"));
    }
}
