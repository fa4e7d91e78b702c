//! The doctor's pages through the served app: registering a patient, the chart, adding notes and drug
//! exposures from it, amending with a reason, the history, and the patient search. The failures this
//! pins: a form that loses what was typed or shows an error away from its field, a chart out of date
//! order, an amendment without its reason or one that rewrites fields nobody changed, a history without
//! the version or the change, a search that misses by case or accents, a page served to an
//! administrator, and a form accepted without its CSRF token.

use axum::http::StatusCode;
use medledger_testkit::{
    ADMIN_EMAIL, ADMIN_PASSWORD, DOCTOR_PASSWORD, TestBrowser, TestGateway, TestResponse, location,
};
use medledger_web::i18n;
use serde_json::json;

/// A gateway with doctor 10 registered; their browser is logged in.
async fn doctor_browser(gateway: &TestGateway) -> TestBrowser<'_> {
    let (_, email) = gateway.doctor(10).await;
    let mut browser = TestBrowser::new(gateway);
    let answer = browser.login(&email, DOCTOR_PASSWORD).await;
    assert_eq!(
        location(&answer).as_deref(),
        Some("/patients"),
        "{}",
        answer.text()
    );
    browser
}

#[track_caller]
fn assert_has(response: &TestResponse, fragments: &[&str]) {
    let html = response.text();
    for fragment in fragments {
        assert!(html.contains(fragment), "missing {fragment:?} in:\n{html}");
    }
}

/// Where `a` appears before `b` in the page.
#[track_caller]
fn assert_before(response: &TestResponse, a: &str, b: &str) {
    let html = response.text();
    let (Some(i), Some(j)) = (html.find(a), html.find(b)) else {
        panic!("{a:?} or {b:?} missing in:\n{html}");
    };
    assert!(i < j, "{a:?} should come before {b:?}");
}

fn note_form<'a>(
    id: &'a str,
    date: &'a str,
    title: &'a str,
    text: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("note_id", id),
        ("note_date", date),
        ("note_title", title),
        ("note_text", text),
        ("note_class_concept_id", "44814640"),
        ("note_type_concept_id", "32817"),
        ("language_concept_id", "4182511"),
        ("encoding_concept_id", "32678"),
    ]
}

fn drug_form<'a>(
    id: &'a str,
    drug: &'a str,
    start: &'a str,
    end: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("drug_exposure_id", id),
        ("drug_source_value", drug),
        ("drug_concept_id", "0"),
        ("drug_exposure_start_date", start),
        ("drug_exposure_end_date", end),
        ("drug_type_concept_id", "32838"),
        ("quantity", "2,5"),
    ]
}

#[tokio::test]
async fn a_doctor_registers_a_patient_charts_notes_and_drugs_and_amends_a_note() {
    let gateway = TestGateway::start().await;
    let mut browser = doctor_browser(&gateway).await;

    // The registration form: generated fields in Spanish, defaults, rare fields folded away.
    let form = browser.get("/patients/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_has(
        &form,
        &[
            "<h1>Agregar paciente</h1>",
            "<label for=\"given_name\">Primer nombre",
            "<label for=\"national_id\">Carné de identidad",
            "<details>",
            "name=\"csrf\"",
        ],
    );
    // A required field left empty: refused next to it, with what was typed kept.
    let refused = browser
        .submit(
            "/patients/new",
            "/patients/new",
            &[
                ("person_id", "7"),
                ("given_name", "María"),
                ("year_of_birth", "1985"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_has(
        &refused,
        &[
            "id=\"family_name-error\"",
            "id=\"gender_concept_id-error\"",
            "value=\"María\"",
        ],
    );
    let created = browser
        .submit(
            "/patients/new",
            "/patients/new",
            &[
                ("person_id", "7"),
                ("national_id", "85010112345"),
                ("given_name", "María"),
                ("family_name", "Núñez"),
                ("gender_concept_id", "8532"),
                ("year_of_birth", "1985"),
                ("race_concept_id", "0"),
                ("ethnicity_concept_id", "0"),
            ],
        )
        .await;
    assert_eq!(
        location(&created).as_deref(),
        Some("/patients/7"),
        "{}",
        created.text()
    );

    let chart = browser.get("/patients/7").await;
    assert_eq!(chart.status, StatusCode::OK);
    assert_has(
        &chart,
        &[
            "Historia clínica: María Núñez</h1>",
            ">Notas</h2>",
            ">Exposiciones a medicamentos</h2>",
            "Femenino",
            "Todavía no hay notas.",
            "href=\"/patients/7/notes/new\"",
            "href=\"/patients/7/drug-exposures/new\"",
            "href=\"/patients/7/amend\"",
            "href=\"/patients/7/history\"",
            "href=\"/explorer/tx/",
        ],
    );

    // Notes from the chart: the later one (lower id) is listed after the earlier one.
    let note_page = browser.get("/patients/7/notes/new").await;
    assert_has(
        &note_page,
        &[
            "<label for=\"note_text\">Texto",
            "name=\"note_type_concept_id\" value=\"32817\"",
            "<option value=\"32678\" selected>",
        ],
    );
    assert!(
        !note_page.text().contains("id=\"person_id\""),
        "the patient comes from the chart"
    );
    for (id, date, title, text) in [
        ("70", "2024-06-10", "Control", "Evoluciona bien."),
        (
            "71",
            "01/05/2024",
            "Primera consulta",
            "Cefalea de tres días.",
        ),
    ] {
        let added = browser
            .submit(
                "/patients/7/notes/new",
                "/patients/7/notes/new",
                &note_form(id, date, title, text),
            )
            .await;
        assert_eq!(
            location(&added).as_deref(),
            Some("/patients/7"),
            "{}",
            added.text()
        );
    }
    // An id that is taken: refused next to the id, the text kept.
    let taken = browser
        .submit(
            "/patients/7/notes/new",
            "/patients/7/notes/new",
            &note_form("70", "2024-06-11", "Otra", "Otra nota."),
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_has(&taken, &["id=\"note_id-error\"", ">Otra nota.</textarea>"]);
    // A drug exposure that ends before it starts: the contract's error next to the end date.
    let wrong = browser
        .submit(
            "/patients/7/drug-exposures/new",
            "/patients/7/drug-exposures/new",
            &drug_form("90", "Enalapril 20 mg", "2024-06-01", "2024-05-01"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_has(
        &wrong,
        &[
            "id=\"drug_exposure_end_date-error\"",
            "El fin es anterior al inicio.",
            "value=\"Enalapril 20 mg\"",
            "value=\"2024-05-01\"",
        ],
    );
    for (id, drug, start, end) in [
        ("90", "Enalapril 20 mg", "2024-06-01", "2024-06-30"),
        ("91", "Paracetamol 500 mg", "2024-05-02", "2024-05-05"),
    ] {
        let added = browser
            .submit(
                "/patients/7/drug-exposures/new",
                "/patients/7/drug-exposures/new",
                &drug_form(id, drug, start, end),
            )
            .await;
        assert_eq!(
            location(&added).as_deref(),
            Some("/patients/7"),
            "{}",
            added.text()
        );
    }
    let chart = browser.get("/patients/7").await;
    assert_before(&chart, "href=\"/notes/71\"", "href=\"/notes/70\"");
    assert_before(
        &chart,
        "href=\"/drug-exposures/91\"",
        "href=\"/drug-exposures/90\"",
    );
    assert_has(&chart, &["01/05/2024", ">Primera consulta</a>", "2,5"]);

    // The note's page: its fields, its version, links to amend and history.
    let note = browser.get("/notes/70").await;
    assert_has(
        &note,
        &[
            "<h1>Nota 70</h1>",
            "Evoluciona bien.",
            "Nota de consulta externa",
            "10/06/2024",
            "class=\"version-number\">1<",
            "href=\"/notes/70/amend\"",
            "href=\"/notes/70/history\"",
            "href=\"/patients/7\"",
        ],
    );

    // The amendment form: current values, the reason, no id or patient to change.
    let amend = browser.get("/notes/70/amend").await;
    assert_has(
        &amend,
        &[
            "<label for=\"reason\">Motivo de la enmienda",
            "<textarea id=\"reason\" name=\"reason\"",
            ">Evoluciona bien.</textarea>",
        ],
    );
    assert!(!amend.text().contains("id=\"note_id\""));
    let mut fields = note_form(
        "70",
        "2024-06-10",
        "Control",
        "Evoluciona bien; sin cefalea.",
    );
    fields.retain(|(name, _)| *name != "note_id");
    // Without a reason: refused next to the reason, with the new text kept.
    let mut no_reason = fields.clone();
    no_reason.push(("reason", " "));
    let refused = browser
        .submit("/notes/70/amend", "/notes/70/amend", &no_reason)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_has(
        &refused,
        &[
            "id=\"reason-error\"",
            ">Evoluciona bien; sin cefalea.</textarea>",
        ],
    );
    // Nothing changed: refused.
    let mut same = note_form("70", "2024-06-10", "Control", "Evoluciona bien.");
    same.push(("reason", "nada"));
    let unchanged = browser
        .submit("/notes/70/amend", "/notes/70/amend", &same)
        .await;
    assert_eq!(unchanged.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_has(&unchanged, &["No se cambió nada"]);

    let mut with_reason = fields.clone();
    with_reason.push(("reason", "Corrección tras la revisión"));
    let amended = browser
        .submit("/notes/70/amend", "/notes/70/amend", &with_reason)
        .await;
    assert_eq!(
        location(&amended).as_deref(),
        Some("/notes/70"),
        "{}",
        amended.text()
    );
    let note = browser.get("/notes/70").await;
    assert_has(
        &note,
        &[
            "class=\"version-number\">2<",
            "Evoluciona bien; sin cefalea.",
        ],
    );

    // The history: both versions, oldest first, the reason, and the one changed field.
    let history = browser.get("/notes/70/history").await;
    assert_eq!(history.status, StatusCode::OK);
    assert_before(&history, "id=\"version-1\"", "id=\"version-2\"");
    assert_has(
        &history,
        &[
            "<h1>Historial: Nota 70</h1>",
            "Corrección tras la revisión",
            "<th scope=\"row\">Texto</th>",
            ">Evoluciona bien.</td>",
            ">Evoluciona bien; sin cefalea.</td>",
            "href=\"/explorer/tx/",
        ],
    );
    assert!(
        !history.text().contains("<th scope=\"row\">Título</th>"),
        "only what changed"
    );

    // A patient's history and a drug exposure's page work the same way.
    assert_eq!(
        browser.get("/patients/7/history").await.status,
        StatusCode::OK
    );
    let drug = browser.get("/drug-exposures/90").await;
    assert_has(
        &drug,
        &[
            "Exposición a medicamento 90</h1>",
            "Enalapril 20 mg",
            "30/06/2024",
        ],
    );
    assert!(
        i18n::missing_keys().is_empty(),
        "{:?}",
        i18n::missing_keys()
    );
}

#[tokio::test]
async fn the_search_finds_patients_by_name_identity_card_number_or_id() {
    let gateway = TestGateway::start().await;
    let (token, _) = gateway.doctor(10).await;
    for (id, given, family, national_id) in [
        (7, "María", "Núñez", "85010112345"),
        (8, "José", "Pérez", "90020254321"),
        (12, "Ana", "Núñez", "70030311111"),
    ] {
        let answer = gateway
            .post(
                "/api/v1/patients",
                Some(&token),
                json!({
                    "person_id": id, "gender_concept_id": 8532, "year_of_birth": 1980,
                    "race_concept_id": 0, "ethnicity_concept_id": 0,
                    "given_name": given, "family_name": family, "national_id": national_id,
                }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    }
    let mut browser = TestBrowser::new(&gateway);
    browser.accept_language = Some("en".into());
    browser
        .login("doctor10@hospital.test", DOCTOR_PASSWORD)
        .await;

    let all = browser.get("/patients").await;
    assert_has(
        &all,
        &[
            "id=\"patient-7\"",
            "id=\"patient-8\"",
            "id=\"patient-12\"",
            "href=\"/patients/new\"",
        ],
    );

    let by_name = browser.get("/patients?q=nunez").await;
    assert_has(
        &by_name,
        &["id=\"patient-7\"", "id=\"patient-12\"", "value=\"nunez\""],
    );
    assert!(!by_name.text().contains("id=\"patient-8\""));
    let full_name = browser.get("/patients?q=Jos%C3%A9+P%C3%A9rez").await;
    assert_has(&full_name, &["id=\"patient-8\""]);
    let by_national_id = browser.get("/patients?q=90020254321").await;
    assert_has(&by_national_id, &["id=\"patient-8\""]);
    assert!(!by_national_id.text().contains("id=\"patient-7\""));
    let by_id = browser.get("/patients?q=12").await;
    assert_has(&by_id, &["id=\"patient-12\"", "The patient with ID 12."]);
    assert!(!by_id.text().contains("id=\"patient-7\""));
    let none = browser.get("/patients?q=zzz").await;
    assert_has(&none, &["No results."]);

    // A page of the list links to the next.
    let two = browser.get("/patients?limit=2").await;
    assert_has(
        &two,
        &[
            "id=\"patient-8\"",
            "href=\"/patients?cursor=8&#38;limit=2\"",
        ],
    );
    assert!(!two.text().contains("id=\"patient-12\""));
    assert_eq!(
        browser.get("/patients?limit=0").await.status,
        StatusCode::BAD_REQUEST
    );
    let first = browser.get("/patients?cursor=7").await;
    assert_has(
        &first,
        &[
            "id=\"patient-8\"",
            "id=\"patient-12\"",
            "href=\"/patients\"",
        ],
    );
    assert!(!first.text().contains("id=\"patient-7\""));
    assert!(
        i18n::missing_keys().is_empty(),
        "{:?}",
        i18n::missing_keys()
    );
}

#[tokio::test]
async fn only_doctors_use_the_clinical_pages_and_forms_need_their_csrf_token() {
    let gateway = TestGateway::start().await;
    let mut doctor = doctor_browser(&gateway).await;
    let mut admin = TestBrowser::new(&gateway);
    admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for path in [
        "/patients",
        "/patients/new",
        "/patients/7",
        "/notes/1",
        "/notes/1/history",
    ] {
        let refused = admin.get(path).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            refused.text().contains("<h1>"),
            "an HTML page: {}",
            refused.text()
        );
    }

    let patient = [
        ("person_id", "7"),
        ("given_name", "María"),
        ("family_name", "Núñez"),
        ("gender_concept_id", "8532"),
        ("year_of_birth", "1985"),
        ("race_concept_id", "0"),
        ("ethnicity_concept_id", "0"),
    ];
    let mut forged: Vec<(&str, &str)> = vec![("csrf", "forged")];
    forged.extend_from_slice(&patient);
    assert_eq!(
        doctor.post_form("/patients/new", &forged).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        doctor.post_form("/patients/new", &patient).await.status,
        StatusCode::FORBIDDEN,
        "no token at all"
    );
    assert_eq!(
        doctor.get("/patients/7").await.status,
        StatusCode::NOT_FOUND,
        "nothing was written"
    );
    let created = doctor
        .submit("/patients/new", "/patients/new", &patient)
        .await;
    assert_eq!(location(&created).as_deref(), Some("/patients/7"));
    // The patient's own amendment, from the chart: the id is not on the form and cannot change.
    let form = doctor.get("/patients/7/amend").await;
    assert_has(&form, &["value=\"María\"", "id=\"reason\""]);
    assert!(!form.text().contains("id=\"person_id\""));
    let mut renamed: Vec<(&str, &str)> = patient
        .iter()
        .copied()
        .filter(|(name, _)| *name != "person_id" && *name != "given_name")
        .collect();
    renamed.extend([
        ("given_name", "Mariana"),
        ("person_id", "8"),
        ("reason", "Nombre mal escrito"),
    ]);
    let amended = doctor
        .submit("/patients/7/amend", "/patients/7/amend", &renamed)
        .await;
    assert_eq!(
        location(&amended).as_deref(),
        Some("/patients/7"),
        "{}",
        amended.text()
    );
    assert_has(
        &doctor.get("/patients/7").await,
        &[
            "Historia clínica: Mariana Núñez</h1>",
            "class=\"version-number\">2<",
            "Nombre mal escrito",
        ],
    );
    assert_eq!(
        doctor.get("/patients/8").await.status,
        StatusCode::NOT_FOUND
    );
    let mut note = note_form("70", "2024-06-10", "Control", "Texto.");
    note.push(("csrf", "forged"));
    assert_eq!(
        doctor
            .post_form("/patients/7/notes/new", &note)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let amendment = [
        ("given_name", "Mariana"),
        ("reason", "typo"),
        ("csrf", "forged"),
    ];
    assert_eq!(
        doctor
            .post_form("/patients/7/amend", &amendment)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // An id that is not a number, or a record that does not exist, is a 404 page.
    assert_eq!(
        doctor.get("/patients/abc").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(doctor.get("/notes/999").await.status, StatusCode::NOT_FOUND);
}
