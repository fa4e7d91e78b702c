//! Administrators and doctors over HTTP: the failures this pins are a doctor who can register people,
//! a registered doctor who cannot log in or whose ledger record does not hold the certificate their
//! signatures are checked against, duplicates that slip in, and lists that skip or repeat people.

use axum::http::{StatusCode, header};
use medledger_crypto::x509::parse_certificate;
use medledger_testkit::{ADMIN_EMAIL, DOCTOR_PASSWORD, TestGateway};
use medledger_types::Role;
use serde_json::{Value, json};

fn new_admin(id: i64, email: &str) -> Value {
    json!({
        "admin_id": id,
        "given_name": "Raúl",
        "family_name": "Gómez",
        "email": email,
        "password": "second-admin-password",
    })
}

#[tokio::test]
async fn a_registered_doctor_logs_in_and_their_ledger_record_holds_the_issued_certificate() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    let written = gateway
        .register_doctor(&admin, 10, "Ana@Hospital.test", DOCTOR_PASSWORD)
        .await;
    assert_eq!(written["kind"], "doctor");
    assert_eq!(written["id"], 10);
    assert_eq!(
        written["header"]["author"], ADMIN_EMAIL,
        "signed by the admin"
    );
    assert_eq!(written["header"]["version_number"], 1);
    assert!(written["block_number"].as_u64().is_some_and(|b| b >= 2));
    assert_eq!(written["tx_id"], written["header"]["tx_id"]);
    assert_eq!(written["record"]["specialty_source_value"], "cardiology");
    assert!(
        written["record"].get("password").is_none(),
        "the password goes nowhere near the ledger"
    );

    let doctor = gateway.login("ana@hospital.test", DOCTOR_PASSWORD).await;
    let stored = gateway.get("/api/v1/doctors/10", Some(&doctor)).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text());
    let stored = stored.json();
    assert_eq!(stored["record"], written["record"]);
    let der = hex::decode(stored["record"]["certificate"].as_str().expect("hex")).expect("hex");
    let certificate = parse_certificate(&der).expect("a certificate");
    assert_eq!(certificate.name, "ana@hospital.test");
    assert_eq!(certificate.role, Some(Role::Doctor));
    assert_eq!(certificate.msp_id, "Org1");
    let wallet = gateway
        .state
        .inner
        .wallet
        .person("ana@hospital.test")
        .expect("wallet")
        .expect("registered");
    assert_eq!(
        wallet.certificate, der,
        "the key the wallet unlocks is the one certified"
    );
    assert_eq!((wallet.role, wallet.record_id), (Role::Doctor, 10));

    // The doctor signs with their own key: the ledger names them as the author of what they write.
    let patient = serde_json::to_value(medledger_contract::ehr::samples::patient(1)).expect("json");
    let created = gateway
        .post("/api/v1/patients", Some(&doctor), patient)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["header"]["author"], "ana@hospital.test");
}

#[tokio::test]
async fn a_registered_administrator_registers_others_with_their_own_key() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    let response = gateway
        .post(
            "/api/v1/admins",
            Some(&admin),
            new_admin(2, "raul@medledger.local"),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(
        response
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/api/v1/admins/2")
    );
    // The password the first administrator chose opens only the page to replace it.
    let second = gateway
        .login("raul@medledger.local", "second-admin-password")
        .await;
    gateway
        .post(
            "/api/v1/doctors",
            Some(&second),
            TestGateway::doctor_body(11, "luis@hospital.test", DOCTOR_PASSWORD),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "password_change_required");
    gateway
        .enrol(
            "raul@medledger.local",
            "second-admin-password",
            "raul's own passphrase",
        )
        .await;
    let second = gateway
        .login("raul@medledger.local", "raul's own passphrase")
        .await;
    // Their wallet entry holds the organization CA's key too: they issue certificates in turn.
    let doctor = gateway
        .register_doctor(&second, 11, "luis@hospital.test", DOCTOR_PASSWORD)
        .await;
    assert_eq!(doctor["header"]["author"], "raul@medledger.local");
}

#[tokio::test]
async fn doctors_read_people_but_only_administrators_register_them() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    let (doctor, _) = gateway.doctor(10).await;

    for path in [
        "/api/v1/admins",
        "/api/v1/admins/1",
        "/api/v1/doctors",
        "/api/v1/doctors/10",
    ] {
        for (who, token) in [("admin", &admin), ("doctor", &doctor)] {
            let response = gateway.get(path, Some(token)).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{who} GET {path}: {}",
                response.text()
            );
        }
        gateway
            .get(path, None)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    gateway
        .post(
            "/api/v1/doctors",
            Some(&doctor),
            TestGateway::doctor_body(12, "eve@hospital.test", DOCTOR_PASSWORD),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    gateway
        .post(
            "/api/v1/admins",
            Some(&doctor),
            new_admin(3, "eve@medledger.local"),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    gateway
        .post("/api/v1/admins", None, new_admin(3, "eve@medledger.local"))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        gateway
            .state
            .inner
            .wallet
            .person("eve@hospital.test")
            .expect("wallet")
            .is_none(),
        "a refused registration stores nothing"
    );
}

#[tokio::test]
async fn an_id_or_an_email_is_registered_once() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    gateway
        .register_doctor(&admin, 10, "ana@hospital.test", DOCTOR_PASSWORD)
        .await;
    let same_id = gateway
        .post(
            "/api/v1/doctors",
            Some(&admin),
            TestGateway::doctor_body(10, "other@hospital.test", DOCTOR_PASSWORD),
        )
        .await;
    same_id.assert_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        gateway
            .state
            .inner
            .wallet
            .person("other@hospital.test")
            .expect("wallet")
            .is_none(),
        "a refused registration leaves no wallet entry"
    );
    gateway
        .post(
            "/api/v1/doctors",
            Some(&admin),
            TestGateway::doctor_body(11, "ANA@hospital.test", DOCTOR_PASSWORD),
        )
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");
    gateway
        .post(
            "/api/v1/admins",
            Some(&admin),
            new_admin(5, "ana@hospital.test"),
        )
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn invalid_registrations_name_the_field() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    let cases: [(Value, &str, &str); 4] = [
        (
            TestGateway::doctor_body(10, "ana@hospital.test", "short"),
            "password",
            "too_short",
        ),
        (
            TestGateway::doctor_body(10, "not-an-email", DOCTOR_PASSWORD),
            "email",
            "invalid_email",
        ),
        (
            TestGateway::doctor_body(-4, "ana@hospital.test", DOCTOR_PASSWORD),
            "provider_id",
            "out_of_range",
        ),
        (
            json!({"provider_id": 10, "family_name": "Pérez", "email": "ana@hospital.test", "password": DOCTOR_PASSWORD}),
            "given_name",
            "required",
        ),
    ];
    for (body, field, code) in cases {
        let response = gateway.post("/api/v1/doctors", Some(&admin), body).await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let errors = &response.json()["errors"];
        assert!(
            errors
                .as_array()
                .expect("errors")
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{field}/{code} in {errors}"
        );
    }
}

#[tokio::test]
async fn people_lists_page_in_id_order_without_gaps() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    for id in [30, 10, 20, 50, 40] {
        gateway
            .register_doctor(&admin, id, &format!("d{id}@hospital.test"), DOCTOR_PASSWORD)
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/doctors?limit=2&cursor={cursor}"),
            None => "/api/v1/doctors?limit=2".to_owned(),
        };
        let page = gateway.get(&path, Some(&admin)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let page = page.json();
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|item| item["id"].as_i64().expect("id")));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [10, 20, 30, 40, 50]);

    for bad in ["limit=0", "limit=501", "limit=abc", "cursor=xyz"] {
        gateway
            .get(&format!("/api/v1/doctors?{bad}"), Some(&admin))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    }
    gateway
        .get("/api/v1/admins?limit=500", Some(&admin))
        .await
        .json()["items"]
        .as_array()
        .map(Vec::len)
        .filter(|n| *n == 1)
        .expect("one admin");
}

#[tokio::test]
async fn unknown_people_are_404_and_malformed_ids_400() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    gateway
        .get("/api/v1/doctors/999", Some(&admin))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    gateway
        .get("/api/v1/admins/999", Some(&admin))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    gateway
        .get("/api/v1/doctors/ten", Some(&admin))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
}
