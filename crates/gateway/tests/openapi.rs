//! The OpenAPI document: the failures this pins are a route served but missing from the document (so
//! clients and schemathesis never see it), a protected operation documented as public, a `$ref` to a
//! schema that is not there, a path parameter left undeclared, and a duplicate operation id.

use std::collections::BTreeSet;

use axum::http::{StatusCode, header};
use medledger_testkit::TestGateway;
use serde_json::{Value, json};

/// The record and ledger operations (`METHOD path`), all protected by the bearer scheme.
const PROTECTED: &[&str] = &[
    "get /api/v1/patients",
    "post /api/v1/patients",
    "get /api/v1/patients/{id}",
    "get /api/v1/patients/{id}/notes",
    "get /api/v1/patients/{id}/drug-exposures",
    "get /api/v1/notes",
    "post /api/v1/notes",
    "get /api/v1/notes/{id}",
    "get /api/v1/drug-exposures",
    "post /api/v1/drug-exposures",
    "get /api/v1/drug-exposures/{id}",
    "post /api/v1/patients/{id}/amendments",
    "get /api/v1/patients/{id}/history",
    "post /api/v1/notes/{id}/amendments",
    "get /api/v1/notes/{id}/history",
    "post /api/v1/drug-exposures/{id}/amendments",
    "get /api/v1/drug-exposures/{id}/history",
    "post /api/v1/doctors/{id}/amendments",
    "get /api/v1/doctors/{id}/history",
    "post /api/v1/admins/{id}/amendments",
    "get /api/v1/admins/{id}/history",
    "get /api/v1/ledger/blocks/{number}",
    "get /api/v1/ledger/transactions/{tx_id}",
    "get /api/v1/ledger/checkpoint",
    "get /api/v1/ledger/consistency",
    "get /api/v1/ledger/roots",
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every `$ref` anywhere in `value`.
fn refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => {
                        found.insert(target.clone());
                    }
                    _ => refs(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_and_lists_every_route_with_its_security() {
    let gateway = TestGateway::start().await;
    let response = gateway.get("/api/v1/openapi.json", None).await;
    assert_eq!(response.status, StatusCode::OK, "served without a login");
    assert_eq!(
        response.headers.get(header::CONTENT_TYPE).expect("type"),
        "application/json"
    );
    let document = response.json();
    assert!(
        document["openapi"]
            .as_str()
            .expect("openapi")
            .starts_with("3."),
        "{}",
        document["openapi"]
    );
    assert_eq!(document["info"]["title"], "medledger");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        serde_json::json!({"type": "http", "scheme": "bearer", "description": "The token from POST /api/v1/auth/login."})
    );

    let paths = document["paths"].as_object().expect("paths");
    let mut operation_ids = BTreeSet::new();
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            operations.insert(format!("{method} {path}"));
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "operationId {id} twice"
            );
            // Every `{param}` of the path is a declared path parameter.
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().expect("name"))
                        .collect()
                })
                .unwrap_or_default();
            let templated: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, templated, "{method} {path}");
            assert!(operation["responses"].is_object(), "{method} {path}");
        }
    }
    for expected in PROTECTED {
        assert!(operations.contains(*expected), "{expected} is documented");
        let (method, path) = expected.split_once(' ').expect("method and path");
        assert_eq!(
            paths[path][method]["security"],
            serde_json::json!([{"bearer": []}]),
            "{expected} needs the bearer token"
        );
    }
    assert!(operations.contains("get /api/v1/openapi.json"));

    let mut targets = BTreeSet::new();
    refs(&document, &mut targets);
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for target in &targets {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target} is a local schema reference"));
        assert!(schemas.contains_key(name), "{target} resolves");
    }
    for model in [
        "Patient",
        "Note",
        "DrugExposure",
        "Doctor",
        "Admin",
        "Problem",
    ] {
        assert!(schemas.contains_key(model), "{model} is documented");
    }
    // The same document as the library builds it.
    assert_eq!(
        document,
        serde_json::to_value(medledger_api::openapi_document()).expect("serializes")
    );
}

/// The rules the contract checks, as the document states them (the failures this pins: a schema that
/// allows what the contract refuses, or the other way round, which clients and schemathesis trip on).
#[tokio::test]
async fn the_document_states_the_contracts_rules() {
    let gateway = TestGateway::start().await;
    let document = gateway.get("/api/v1/openapi.json", None).await.json();
    let schemas = &document["components"]["schemas"];

    // Text: lengths in characters; required text not blank; emails of the contract's shape.
    assert_eq!(
        schemas["Patient"]["properties"]["family_name"]["maxLength"],
        255
    );
    assert_eq!(
        schemas["Note"]["properties"]["note_text"]["maxLength"],
        16384
    );
    assert_eq!(schemas["Note"]["properties"]["note_text"]["minLength"], 1);
    assert!(schemas["Doctor"]["properties"]["given_name"]["pattern"].is_string());
    assert_eq!(schemas["Doctor"]["properties"]["email"]["format"], "email");
    assert_eq!(schemas["Doctor"]["properties"]["email"]["maxLength"], 254);
    assert!(schemas["Note"]["properties"]["note_date"]["pattern"].is_string());

    // Registration bodies: the profile's fields and rules, and a password of 12 to 1024 characters.
    let doctor = schemas["Doctor"]["properties"].as_object().expect("doctor");
    let new_doctor = schemas["NewDoctor"]["properties"]
        .as_object()
        .expect("new doctor");
    for (name, field) in new_doctor {
        match name.as_str() {
            "password" => {
                assert_eq!(field["minLength"], 12);
                assert_eq!(field["maxLength"], 1024);
            }
            _ => assert_eq!(Some(field), doctor.get(name), "{name}"),
        }
    }
    assert!(!new_doctor.contains_key("certificate"));

    // The document is the same whatever the date: a year of birth's upper bound (the current year)
    // is said in words, not as a maximum that would change every New Year.
    for schema in ["Patient", "PatientChanges", "Doctor", "NewDoctor"] {
        let year_of_birth = &schemas[schema]["properties"]["year_of_birth"];
        assert_eq!(year_of_birth["minimum"], 1850, "{schema}");
        assert!(year_of_birth.get("maximum").is_none(), "{schema}");
    }
    gateway.advance(366 * 24 * 60 * 60 * 1000);
    let next = gateway.get("/api/v1/openapi.json", None).await.json();
    assert_eq!(next, document, "a year later");

    // Amendments: one body per kind, whose changes cannot name the id, the patient, an email or a
    // certificate.
    for (collection, model, immutable) in [
        ("patients", "Patient", &["person_id"][..]),
        ("notes", "Note", &["note_id", "person_id"]),
        (
            "drug-exposures",
            "DrugExposure",
            &["drug_exposure_id", "person_id"],
        ),
        (
            "doctors",
            "Doctor",
            &["provider_id", "email", "certificate"],
        ),
        ("admins", "Admin", &["admin_id", "email", "certificate"]),
    ] {
        let body = &document["paths"][format!("/api/v1/{collection}/{{id}}/amendments")]["post"]["requestBody"]
            ["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(body, &format!("#/components/schemas/{model}Amendment"));
        let changes = &schemas[format!("{model}Changes")];
        assert_eq!(changes["additionalProperties"], false);
        assert_eq!(changes["minProperties"], 1);
        let fields = changes["properties"].as_object().expect("fields");
        for name in schemas[model]["properties"]
            .as_object()
            .expect("model")
            .keys()
        {
            assert_eq!(
                fields.contains_key(name),
                !immutable.contains(&name.as_str()),
                "{model}Changes.{name}"
            );
        }
    }
    assert!(schemas.get("AmendmentRequest").is_none());

    // Ids in paths are positive; cursors have the shapes the server reads.
    let parameters = |path: &str| document["paths"][path]["get"]["parameters"].clone();
    let id = parameters("/api/v1/patients/{id}")[0].clone();
    assert_eq!(
        (id["name"].clone(), id["schema"]["minimum"].clone()),
        ("id".into(), 1.into())
    );
    let cursor = |path: &str| {
        parameters(path)
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "cursor")
            .map(|p| p["schema"]["pattern"].clone())
    };
    assert_eq!(cursor("/api/v1/notes"), Some(json!("^[0-9]{1,19}$")));
    assert_eq!(
        cursor("/api/v1/notes/{id}/history"),
        Some(json!("^[0-9]{1,19}\\.[0-9]{1,9}$"))
    );
}

#[tokio::test]
async fn every_protected_operation_says_it_may_want_a_password_change_first() {
    let gateway = TestGateway::start().await;
    let document = gateway.get("/api/v1/openapi.json", None).await.json();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("an item") {
            if operation.get("security").is_none()
                || ["/api/v1/auth/password", "/api/v1/auth/logout"].contains(&path.as_str())
            {
                continue;
            }
            let forbidden = operation["responses"]["403"]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(
                forbidden.contains("password_change_required"),
                "{method} {path}: {forbidden:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked}");
}
