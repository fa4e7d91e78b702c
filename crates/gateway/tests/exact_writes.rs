//! Writes that happen exactly as the person meant them, over HTTP. The failures this pins: two people
//! amending the same version of a record, the second silently reverting the first's fields (a stale
//! amendment must be refused with 412 and the current version, in the API and in the web form, and
//! write nothing).

use axum::http::{Method, StatusCode, header};
use medledger_testkit::{DOCTOR_PASSWORD, TestBrowser, TestGateway, TestResponse, location};
use serde_json::{Value, json};

/// A minimal patient.
fn patient(id: i64) -> Value {
    json!({
        "person_id": id,
        "gender_concept_id": 8532,
        "year_of_birth": 1980,
        "race_concept_id": 0,
        "ethnicity_concept_id": 0,
        "given_name": "María",
        "family_name": "Pérez",
    })
}

/// A gateway with doctor 10 logged in (their token), and patient 1 registered by them.
async fn clinic() -> (TestGateway, String, String) {
    let gateway = TestGateway::start().await;
    let (doctor, email) = gateway.doctor(10).await;
    let created = gateway
        .post("/api/v1/patients", Some(&doctor), patient(1))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(etag(&created), "\"1\"");
    (gateway, doctor, email)
}

fn etag(response: &TestResponse) -> String {
    response
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Posts an amendment of patient 1 with `If-Match: if_match` (if any).
async fn amend(
    gateway: &TestGateway,
    token: &str,
    if_match: Option<&str>,
    body: Value,
) -> TestResponse {
    let mut request = TestGateway::request(
        Method::POST,
        "/api/v1/patients/1/amendments",
        Some(token),
        Some(&body),
    );
    if let Some(tag) = if_match {
        request.headers_mut().insert(
            header::IF_MATCH,
            tag.parse().expect("an ETag is a header value"),
        );
    }
    gateway.send(request).await
}

/// The number of versions of patient 1.
async fn versions(gateway: &TestGateway, token: &str) -> usize {
    let history = gateway.get_json("/api/v1/patients/1/history", token).await;
    history["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn two_amendments_of_the_same_version_the_second_refused_with_the_current_version() {
    let (gateway, doctor, _) = clinic().await;
    let read = gateway.get("/api/v1/patients/1", Some(&doctor)).await;
    let tag = etag(&read);
    assert_eq!(tag, "\"1\"");

    // Both doctors read version 1; the first amends the family name, naming the version.
    let first = amend(
        &gateway,
        &doctor,
        Some(&tag),
        json!({"changes": {"family_name": "Núñez"}, "reason": "apellido mal escrito"}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    assert_eq!(etag(&first), "\"2\"");

    // The second, from version 1 too, is refused: nothing written, the current version in the answer.
    let second = amend(
        &gateway,
        &doctor,
        Some(&tag),
        json!({"changes": {"given_name": "Mariana"}, "reason": "nombre mal escrito"}),
    )
    .await;
    second.assert_problem(StatusCode::PRECONDITION_FAILED, "precondition_failed");
    assert_eq!(etag(&second), "\"2\"");
    let problem = second.json();
    assert_eq!(problem["current"]["header"]["version_number"], 2);
    assert_eq!(problem["current"]["record"]["family_name"], "Núñez");
    assert_eq!(problem["current"]["record"]["given_name"], "María");
    assert_eq!(versions(&gateway, &doctor).await, 2);

    // The body's expected_version is the same check; sent again on version 2, it keeps both fields.
    let stale_body = amend(
        &gateway,
        &doctor,
        None,
        json!({"changes": {"given_name": "Mariana"}, "reason": "nombre", "expected_version": 1}),
    )
    .await;
    stale_body.assert_problem(StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let disagreeing = amend(
        &gateway,
        &doctor,
        Some("\"2\""),
        json!({"changes": {"given_name": "Mariana"}, "reason": "nombre", "expected_version": 1}),
    )
    .await;
    disagreeing.assert_problem(StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let again = amend(
        &gateway,
        &doctor,
        Some(&etag(&second)),
        json!({"changes": {"given_name": "Mariana"}, "reason": "nombre mal escrito"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
    let now = gateway.get_json("/api/v1/patients/1", &doctor).await;
    assert_eq!(now["record"]["family_name"], "Núñez", "the first is kept");
    assert_eq!(now["record"]["given_name"], "Mariana", "the second is kept");
    assert_eq!(now["header"]["version_number"], 3);

    // Without a version (or with `*`), an amendment is merged over whatever is current, as before.
    let blind = amend(
        &gateway,
        &doctor,
        Some("*"),
        json!({"changes": {"national_id": "12.345.678-9"}, "reason": "documento"}),
    )
    .await;
    assert_eq!(blind.status, StatusCode::CREATED, "{}", blind.text());
    for malformed in ["3", "W/\"3\"", "\"3\", \"4\"", "\"99999999999\""] {
        amend(
            &gateway,
            &doctor,
            Some(malformed),
            json!({"changes": {"given_name": "X"}, "reason": "r"}),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(versions(&gateway, &doctor).await, 4);
}

#[tokio::test]
async fn the_web_amend_form_opened_on_an_old_version_is_refused_and_shows_what_changed() {
    let (gateway, doctor, email) = clinic().await;
    let mut browser = TestBrowser::new(&gateway);
    let login = browser.login(&email, DOCTOR_PASSWORD).await;
    assert_eq!(location(&login).as_deref(), Some("/patients"));
    let form = browser.get("/patients/1/amend").await;
    assert!(
        form.text()
            .contains("name=\"expected_version\" value=\"1\""),
        "{}",
        form.text()
    );
    let csrf = medledger_testkit::csrf_of(&form.text()).expect("the form's token");

    // Another doctor's amendment commits while the form is open.
    let meanwhile = amend(
        &gateway,
        &doctor,
        Some("\"1\""),
        json!({"changes": {"family_name": "Núñez"}, "reason": "apellido mal escrito"}),
    )
    .await;
    assert_eq!(
        meanwhile.status,
        StatusCode::CREATED,
        "{}",
        meanwhile.text()
    );

    // The form, sent as it was opened (the old family name and a new given name), writes nothing.
    let fields = [
        ("csrf", csrf.as_str()),
        ("expected_version", "1"),
        ("given_name", "Mariana"),
        ("family_name", "Pérez"),
        ("reason", "nombre mal escrito"),
        ("gender_concept_id", "8532"),
        ("year_of_birth", "1980"),
        ("race_concept_id", "0"),
        ("ethnicity_concept_id", "0"),
    ];
    let refused = browser.post_form("/patients/1/amend", &fields).await;
    assert_eq!(
        refused.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        refused.text()
    );
    let html = refused.text();
    for fragment in [
        "id=\"stale-version\"",
        "ahora está en la versión 2",
        // then, now and the person's input, side by side
        "<td class=\"long-text\">Pérez</td>",
        "<td class=\"long-text\">Núñez</td>",
        // the form now holds the person's change over the current version, and is on version 2
        "value=\"Mariana\"",
        "value=\"Núñez\"",
        "name=\"expected_version\" value=\"2\"",
    ] {
        assert!(html.contains(fragment), "missing {fragment:?} in:\n{html}");
    }
    assert_eq!(versions(&gateway, &doctor).await, 2);

    // Saved again from the refreshed form, both changes are kept.
    let fields = [
        ("csrf", csrf.as_str()),
        ("expected_version", "2"),
        ("given_name", "Mariana"),
        ("family_name", "Núñez"),
        ("reason", "nombre mal escrito"),
        ("gender_concept_id", "8532"),
        ("year_of_birth", "1980"),
        ("race_concept_id", "0"),
        ("ethnicity_concept_id", "0"),
    ];
    let saved = browser.post_form("/patients/1/amend", &fields).await;
    assert_eq!(
        location(&saved).as_deref(),
        Some("/patients/1"),
        "{}",
        saved.text()
    );
    let now = gateway.get_json("/api/v1/patients/1", &doctor).await;
    assert_eq!(now["record"]["family_name"], "Núñez");
    assert_eq!(now["record"]["given_name"], "Mariana");
    assert_eq!(versions(&gateway, &doctor).await, 3);
}
