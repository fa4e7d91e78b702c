//! An administrator could act as any doctor (security review, finding 7): the administrator chose the
//! doctor's initial password and nothing made the doctor replace it. And the data files were readable by
//! every local user, with the organization CA's key in the clear beside them (finding 6).

use std::collections::BTreeSet;

use axum::http::StatusCode;
use medledger_testkit::{DOCTOR_PASSWORD, TestBrowser, TestGateway, location};
use serde_json::json;

fn patient(id: i64) -> serde_json::Value {
    json!({
        "person_id": id, "gender_concept_id": 8532, "year_of_birth": 1980,
        "race_concept_id": 0, "ethnicity_concept_id": 0, "given_name": "María", "family_name": "Pérez"
    })
}

#[tokio::test]
async fn the_password_an_administrator_chose_signs_nothing_in_the_doctors_name() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    let chosen = "the administrator knows this one";
    let registered = gateway
        .post(
            "/api/v1/doctors",
            Some(&admin),
            TestGateway::doctor_body(10, "ana@hospital.test", chosen),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text()
    );

    // The administrator logs in with the password they chose: nothing can be read or signed with it.
    let login = gateway
        .login_from(
            medledger_testkit::CLIENT_ADDRESS,
            "ana@hospital.test",
            chosen,
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.json()["must_change_password"], true);
    let as_doctor = login.json()["token"].as_str().expect("token").to_owned();
    gateway
        .post("/api/v1/patients", Some(&as_doctor), patient(1))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "password_change_required");
    gateway
        .get("/api/v1/patients", Some(&as_doctor))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "password_change_required");
    // Through the web pages, the same login goes to the password page and nowhere else.
    let mut browser = TestBrowser::new(&gateway);
    browser.login("ana@hospital.test", chosen).await;
    let page = browser.get("/patients").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&page).as_deref(), Some("/password?first_run=1"));

    // The doctor replaces it; the administrator's password opens nothing any more.
    gateway
        .enrol("ana@hospital.test", chosen, DOCTOR_PASSWORD)
        .await;
    gateway
        .login_from(
            medledger_testkit::CLIENT_ADDRESS,
            "ana@hospital.test",
            chosen,
        )
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let doctor = gateway.login("ana@hospital.test", DOCTOR_PASSWORD).await;
    let created = gateway
        .post("/api/v1/patients", Some(&doctor), patient(1))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["header"]["author"], "ana@hospital.test");
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_the_owners_alone_and_holds_no_ca_key() {
    use std::os::unix::fs::PermissionsExt;

    let gateway = TestGateway::start().await;
    let root = gateway.dir.path();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::metadata(&path).expect("meta");
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", path.display());
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("dir") {
                stack.push(entry.expect("entry").path());
            }
        } else {
            seen.insert(
                path.strip_prefix(root)
                    .expect("inside")
                    .display()
                    .to_string(),
            );
        }
    }
    assert!(
        seen.contains("wallet.redb") && seen.contains("ledger.redb"),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|f| f.starts_with("msp/") && f.ends_with(".key")),
        "the CA's key is sealed in the wallet, not on disk: {seen:?}"
    );

    // A data directory opened up to others is refused (at every start: crates/cli/tests/up.rs), naming
    // the fix.
    let wallet = root.join("wallet.redb");
    std::fs::set_permissions(&wallet, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = medledger_node::files::check_private(&gateway.data()).expect_err("refused");
    assert!(refused.to_string().contains("chmod -R go-rwx"), "{refused}");
    assert!(refused.to_string().contains("wallet.redb"), "{refused}");
}
