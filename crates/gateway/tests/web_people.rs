//! The administrators' people pages through the served app: the failures this pins are a doctor reaching
//! an administrator's page, a registration form that does not go through the REST path (certificate,
//! ledger, wallet: the new doctor must be able to log in), errors that lose what was typed, and lists
//! whose pages or search miss people.

use axum::http::StatusCode;
use medledger_testkit::{
    ADMIN_EMAIL, ADMIN_PASSWORD, DOCTOR_PASSWORD, TestBrowser, TestGateway, location,
};

async fn admin_browser(gateway: &TestGateway) -> TestBrowser<'_> {
    let mut browser = TestBrowser::new(gateway);
    browser.accept_language = Some("en".into());
    let answer = browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    browser
}

#[tokio::test]
async fn an_administrator_registers_a_doctor_who_then_logs_in() {
    let gateway = TestGateway::start().await;
    let mut admin = admin_browser(&gateway).await;
    let form = admin.get("/doctors/new").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = form.text();
    for id in [
        "provider_id",
        "given_name",
        "family_name",
        "email",
        "password",
    ] {
        assert!(
            html.contains(&format!("<label for=\"{id}\"")),
            "{id}: {html}"
        );
    }
    let created = admin
        .submit(
            "/doctors/new",
            "/doctors/new",
            &[
                ("provider_id", "21"),
                ("given_name", "Lucía"),
                ("family_name", "Martínez"),
                ("email", "lucia@hospital.test"),
                ("specialty_concept_id", ""),
                ("password", "lucia-initial-password"),
            ],
        )
        .await;
    assert_eq!(
        location(&created).as_deref(),
        Some("/doctors/21?created=1"),
        "{}",
        created.text()
    );
    let detail = admin.get("/doctors/21?created=1").await.text();
    assert!(detail.contains("Lucía Martínez"), "{detail}");
    assert!(detail.contains("id=\"created\""));
    assert!(
        detail.contains("id=\"version-tx\" href=\"/explorer/tx/"),
        "{detail}"
    );
    assert!(detail.contains(ADMIN_EMAIL), "signed by the administrator");
    let list = admin.get("/doctors").await.text();
    assert!(list.contains("href=\"/doctors/21\""), "{list}");

    let mut doctor = TestBrowser::new(&gateway);
    let login = doctor
        .login("lucia@hospital.test", "lucia-initial-password")
        .await;
    assert_eq!(
        location(&login).as_deref(),
        Some("/patients"),
        "{}",
        login.text()
    );
}

#[tokio::test]
async fn field_errors_are_shown_next_to_the_fields_with_the_typed_values_kept() {
    let gateway = TestGateway::start().await;
    let mut admin = admin_browser(&gateway).await;
    let answer = admin
        .submit(
            "/doctors/new",
            "/doctors/new",
            &[
                ("provider_id", "not a number"),
                ("given_name", "Ana <script>"),
                ("family_name", ""),
                ("email", "ana@hospital.test"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = answer.text();
    for field in ["provider_id", "family_name", "password"] {
        assert!(
            html.contains(&format!("id=\"{field}-error\"")),
            "{field}: {html}"
        );
    }
    assert!(html.contains("value=\"not a number\""), "typed values kept");
    assert!(
        html.contains("value=\"Ana &#60;script&#62;\""),
        "escaped: {html}"
    );
    assert!(html.contains("value=\"ana@hospital.test\""));
    assert!(
        !html.contains("value=\"short\""),
        "passwords are not echoed"
    );

    // A taken email: the form comes back with the values and a message.
    gateway
        .register_doctor(
            &gateway.admin_token().await,
            30,
            "taken@hospital.test",
            DOCTOR_PASSWORD,
        )
        .await;
    let taken = admin
        .submit(
            "/doctors/new",
            "/doctors/new",
            &[
                ("provider_id", "31"),
                ("given_name", "Otra"),
                ("family_name", "Persona"),
                ("email", "taken@hospital.test"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text());
    assert!(taken.text().contains("value=\"Otra\""));
    assert!(taken.text().contains("role=\"alert\""));
}

#[tokio::test]
async fn a_doctor_is_refused_the_administrators_pages() {
    let gateway = TestGateway::start().await;
    gateway
        .register_doctor(
            &gateway.admin_token().await,
            10,
            "d@hospital.test",
            DOCTOR_PASSWORD,
        )
        .await;
    let mut doctor = TestBrowser::new(&gateway);
    doctor.login("d@hospital.test", DOCTOR_PASSWORD).await;
    for path in [
        "/admins",
        "/doctors",
        "/doctors/new",
        "/admins/new",
        "/doctors/10",
        "/admins/1",
    ] {
        let answer = doctor.get(path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(answer.text().contains("<h1>"), "an HTML page: {path}");
    }
    let post = doctor
        .submit("/password", "/doctors/new", &[("provider_id", "11")])
        .await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
    let mut anonymous = TestBrowser::new(&gateway);
    assert_eq!(
        location(&anonymous.get("/doctors").await).as_deref(),
        Some("/login?next=/doctors")
    );
    let mut admin = admin_browser(&gateway).await;
    for path in [
        "/admins",
        "/doctors",
        "/doctors/new",
        "/admins/new",
        "/doctors/10",
        "/admins/1",
    ] {
        assert_eq!(admin.get(path).await.status, StatusCode::OK, "{path}");
    }
    assert_eq!(
        admin.get("/doctors/999").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn lists_are_paginated_and_searchable() {
    let gateway = TestGateway::start().await;
    let token = gateway.admin_token().await;
    // 55 doctors: more than one page of 50.
    for id in 1..=55 {
        gateway
            .register_doctor(
                &token,
                id,
                &format!("doc{id}@hospital.test"),
                DOCTOR_PASSWORD,
            )
            .await;
    }
    let mut admin = admin_browser(&gateway).await;
    let first = admin.get("/doctors").await.text();
    assert!(first.contains("href=\"/doctors/50\""));
    assert!(!first.contains("href=\"/doctors/51\""));
    assert!(first.contains("id=\"next-page\""), "{first}");
    let second = admin.get("/doctors?cursor=50").await.text();
    assert!(second.contains("href=\"/doctors/55\""));
    assert!(!second.contains("href=\"/doctors/50\""));
    assert!(!second.contains("id=\"next-page\""));

    let found = admin.get("/doctors?q=DOC53%40").await.text();
    assert!(found.contains("href=\"/doctors/53\""), "{found}");
    assert!(!found.contains("href=\"/doctors/5\""));
    let by_name = admin.get("/doctors?q=perez").await.text();
    assert!(
        by_name.contains("href=\"/doctors/1\""),
        "accents ignored: {by_name}"
    );
    assert!(by_name.contains("id=\"next-page\""), "50 matches then more");
    let none = admin.get("/doctors?q=nobody").await.text();
    assert!(none.contains("id=\"no-results\""));
    assert!(!none.contains("id=\"search-stopped\""));
    let admins = admin.get("/admins?q=admin").await.text();
    assert!(admins.contains("href=\"/admins/1\""), "{admins}");
}
