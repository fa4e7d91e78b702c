//! The OpenAPI document: the failures this pins are a route served but missing from the document (so
//! clients and schemathesis never see it), a protected operation documented as public, a `$ref` to a
//! schema that is not there, a path parameter left undeclared, and a duplicate operation id.

use std::collections::BTreeSet;

use axum::http::{StatusCode, header};
use medledger_gateway::testing::TestGateway;
use serde_json::Value;

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
        serde_json::to_value(medledger_gateway::openapi_document()).expect("serializes")
    );
}
