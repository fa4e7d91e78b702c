//! Patients, notes, drug exposures, and amendments and history of every kind, over HTTP. The failures
//! this pins: an answer that is not the record as committed (fields lost or renamed from their OMOP
//! names, no `tx_id`/`block_number`), a list that skips or repeats records across pages, an amendment
//! that drops the fields it did not name or accepts fields the model does not have, a history that
//! misses a version or misattributes it, and refusals that come back as the wrong status or without
//! naming the field.

use axum::http::StatusCode;
use medledger_testkit::{ADMIN_EMAIL, TestGateway, TestResponse};
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

fn note(id: i64, patient_id: i64) -> Value {
    json!({
        "note_id": id,
        "person_id": patient_id,
        "note_date": "2024-05-30",
        "note_type_concept_id": 44814645,
        "note_class_concept_id": 44814639,
        "note_text": "Paciente refiere cefalea de tres días.",
        "encoding_concept_id": 32678,
        "language_concept_id": 4182511,
    })
}

fn drug_exposure(id: i64, patient_id: i64) -> Value {
    json!({
        "drug_exposure_id": id,
        "person_id": patient_id,
        "drug_concept_id": 1125315,
        "drug_exposure_start_date": "2024-05-01",
        "drug_exposure_end_date": "2024-05-10",
        "drug_type_concept_id": 38000177,
        "quantity": "30",
    })
}

/// A gateway with one logged-in doctor (provider 10).
struct Clinic {
    gateway: TestGateway,
    doctor: String,
    doctor_email: String,
}

impl Clinic {
    async fn open() -> Clinic {
        let gateway = TestGateway::start().await;
        let (doctor, doctor_email) = gateway.doctor(10).await;
        Clinic {
            gateway,
            doctor,
            doctor_email,
        }
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.gateway
            .get(&format!("/api/v1{path}"), Some(&self.doctor))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.gateway
            .post(&format!("/api/v1{path}"), Some(&self.doctor), body)
            .await
    }

    /// Creates a record as the doctor and returns the 201 answer.
    async fn create(&self, collection: &str, body: Value) -> Value {
        let response = self.post(collection, body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()
    }

    /// The ids of every record a list returns, following `next_cursor` with pages of `limit`.
    async fn all_ids(&self, path: &str, id_field: &str, limit: u32) -> (Vec<i64>, usize) {
        let mut ids = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}?limit={limit}&cursor={c}"),
                None => format!("{path}?limit={limit}"),
            };
            let response = self.get(&url).await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.text());
            let page = response.json();
            let items = page["items"].as_array().expect("items");
            assert!(items.len() <= limit as usize);
            ids.extend(
                items
                    .iter()
                    .map(|item| item["record"][id_field].as_i64().expect("id")),
            );
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (ids, pages),
            }
        }
    }
}

/// The fields a write answer and every version carry besides the record.
#[track_caller]
fn assert_version(answer: &Value, kind: &str, id: i64, version: u64, author: &str) {
    assert_eq!(answer["kind"], kind, "{answer}");
    assert_eq!(answer["id"], id, "{answer}");
    assert_eq!(answer["header"]["version_number"], version, "{answer}");
    assert_eq!(answer["header"]["author"], author, "{answer}");
    assert!(answer["header"]["author_org"].is_string(), "{answer}");
    assert!(answer["header"]["timestamp"].is_string(), "{answer}");
    let tx_id = answer["tx_id"].as_str().expect("tx_id");
    assert_eq!(tx_id.len(), 64, "{answer}");
    assert_eq!(answer["header"]["tx_id"], tx_id, "{answer}");
    assert!(answer["block_number"].as_u64().expect("block_number") >= 1);
    assert!(answer["tx_index"].is_u64(), "{answer}");
}

#[tokio::test]
async fn patients_notes_and_drug_exposures_are_created_read_and_listed_by_patient() {
    let clinic = Clinic::open().await;
    let email = clinic.doctor_email.clone();

    let created = clinic.create("/patients", patient(1)).await;
    assert_version(&created, "patient", 1, 1, &email);
    assert_eq!(created["record"]["given_name"], "María");
    assert_eq!(created["record"]["month_of_birth"], Value::Null);
    assert_eq!(created["header"]["amendment_reason"], Value::Null);
    let read = clinic.get("/patients/1").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(
        read.json(),
        created,
        "a read answers the version as written"
    );

    let note_written = clinic.create("/notes", note(10, 1)).await;
    assert_version(&note_written, "note", 10, 1, &email);
    assert_eq!(note_written["patient_id"], 1);
    assert_eq!(note_written["record"]["note_date"], "2024-05-30");
    assert_eq!(clinic.get("/notes/10").await.json(), note_written);

    let exposure = clinic.create("/drug-exposures", drug_exposure(20, 1)).await;
    assert_version(&exposure, "drug_exposure", 20, 1, &email);
    assert_eq!(exposure["record"]["drug_exposure_end_date"], "2024-05-10");
    assert_eq!(exposure["record"]["quantity"], "30");
    assert_eq!(clinic.get("/drug-exposures/20").await.json(), exposure);

    clinic.create("/patients", patient(2)).await;
    clinic.create("/notes", note(11, 2)).await;
    clinic.create("/notes", note(12, 1)).await;

    let notes = clinic.get("/patients/1/notes").await.json();
    let ids: Vec<i64> = notes["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [10, 12], "patient 1's notes only, in id order");
    assert_eq!(notes["next_cursor"], Value::Null);
    let exposures = clinic.get("/patients/1/drug-exposures").await.json();
    assert_eq!(exposures["items"][0], exposure);
    assert_eq!(
        clinic.get("/patients/2/drug-exposures").await.json()["items"],
        json!([])
    );
    clinic
        .get("/patients/99/notes")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    let (all_notes, _) = clinic.all_ids("/notes", "note_id", 50).await;
    assert_eq!(all_notes, [10, 11, 12]);
}

#[tokio::test]
async fn lists_page_with_a_cursor_without_skipping_or_repeating() {
    let clinic = Clinic::open().await;
    for id in 1..=7 {
        clinic.create("/patients", patient(id)).await;
    }
    for id in 1..=3 {
        clinic.create("/notes", note(100 + id, 1)).await;
    }
    for (limit, pages) in [(1, 7), (2, 4), (3, 3), (7, 1), (500, 1)] {
        let (ids, seen) = clinic.all_ids("/patients", "person_id", limit).await;
        assert_eq!(ids, (1..=7).collect::<Vec<_>>(), "limit {limit}");
        assert_eq!(seen, pages, "limit {limit}");
    }
    let (ids, pages) = clinic.all_ids("/patients/1/notes", "note_id", 2).await;
    assert_eq!((ids, pages), (vec![101, 102, 103], 2));

    let default_page = clinic.get("/patients").await.json();
    assert_eq!(default_page["items"].as_array().expect("items").len(), 7);

    for bad in [
        "/patients?limit=0",
        "/patients?limit=501",
        "/patients?limit=two",
        "/patients?cursor=abc",
        "/patients?cursor=-4",
        "/patients/1/history?cursor=7",
    ] {
        clinic
            .get(bad)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    }
}

/// Amends `path` with `changes` and `reason` and returns the 201 answer.
async fn amend(clinic: &Clinic, path: &str, changes: Value, reason: &str) -> Value {
    let response = clinic
        .post(
            &format!("{path}/amendments"),
            json!({ "changes": changes, "reason": reason }),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()
}

#[tokio::test]
async fn amendments_change_only_the_named_fields_and_history_lists_every_version() {
    let clinic = Clinic::open().await;
    let email = clinic.doctor_email.clone();
    // Each collection: create, two amendments, then every version in the history.
    let cases = [
        (
            "/patients",
            patient(1),
            "patient",
            1,
            json!({"given_name": "Maria", "month_of_birth": 4}),
            json!({"national_id": "12.345.678-9"}),
        ),
        (
            "/notes",
            note(10, 1),
            "note",
            10,
            json!({"note_text": "Cefalea de cuatro días.", "note_title": "Consulta"}),
            json!({"note_date": "2024-05-31"}),
        ),
        (
            "/drug-exposures",
            drug_exposure(20, 1),
            "drug_exposure",
            20,
            json!({"drug_exposure_end_date": "2024-05-20", "quantity": "60.5"}),
            json!({"stop_reason": "resolved", "refills": 2}),
        ),
    ];
    for (collection, body, kind, id, first, second) in cases {
        let created = clinic.create(collection, body.clone()).await;
        let path = format!("{collection}/{id}");
        let v2 = amend(&clinic, &path, first.clone(), "corrected").await;
        assert_version(&v2, kind, id, 2, &email);
        assert_eq!(v2["header"]["amendment_reason"], "corrected");
        let mut expected = created["record"].clone();
        for (field, value) in first.as_object().expect("object") {
            expected[field] = value.clone();
        }
        assert_eq!(
            v2["record"], expected,
            "{kind}: only the named fields change"
        );
        let v3 = amend(&clinic, &path, second.clone(), "completed").await;
        for (field, value) in second.as_object().expect("object") {
            expected[field] = value.clone();
        }
        assert_eq!(v3["record"], expected, "{kind}: amendments accumulate");
        assert_eq!(clinic.get(&path).await.json(), v3, "{kind}: reads see v3");

        let history = clinic.get(&format!("{path}/history")).await;
        assert_eq!(history.status, StatusCode::OK, "{}", history.text());
        let history = history.json();
        assert_eq!(
            history["items"],
            json!([created, v2, v3]),
            "{kind}: every version"
        );
        assert_eq!(history["next_cursor"], Value::Null);
    }
}

#[tokio::test]
async fn doctors_and_administrators_are_amended_by_administrators_with_history() {
    let clinic = Clinic::open().await;
    let admin = clinic.gateway.admin_token().await;
    let amendment = json!({
        "changes": {"specialty_source_value": "neurology", "npi": "1234567890"},
        "reason": "new specialty",
    });
    let response = clinic
        .gateway
        .post(
            "/api/v1/doctors/10/amendments",
            Some(&admin),
            amendment.clone(),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let v2 = response.json();
    assert_version(&v2, "doctor", 10, 2, ADMIN_EMAIL);
    assert_eq!(v2["record"]["specialty_source_value"], "neurology");
    assert_eq!(v2["record"]["email"], clinic.doctor_email.as_str());

    let history = clinic.get("/doctors/10/history").await.json();
    let versions: Vec<(u64, Value)> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| {
            (
                v["header"]["version_number"].as_u64().expect("number"),
                v["record"]["specialty_source_value"].clone(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [(1, json!("cardiology")), (2, json!("neurology"))]
    );

    // A doctor may read doctors but not amend them; nobody may change a person's email.
    clinic
        .post("/doctors/10/amendments", amendment)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let response = clinic
        .gateway
        .post(
            "/api/v1/doctors/10/amendments",
            Some(&admin),
            json!({"changes": {"email": "other@hospital.test"}, "reason": "typo"}),
        )
        .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response.json()["errors"][0]["field"], "email");

    let response = clinic
        .gateway
        .post(
            "/api/v1/admins/1/amendments",
            Some(&admin),
            json!({"changes": {"family_name": "Administradora"}, "reason": "name"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_version(&response.json(), "admin", 1, 2, ADMIN_EMAIL);
    let history = clinic
        .gateway
        .get("/api/v1/admins/1/history", Some(&admin))
        .await
        .json();
    assert_eq!(history["items"].as_array().expect("items").len(), 2);
}

/// The problem's field errors as `(field, code)`.
fn field_errors(response: &TestResponse) -> Vec<(String, String)> {
    response.json()["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().expect("field").to_owned(),
                e["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn refusals_have_their_status_and_name_the_field() {
    let clinic = Clinic::open().await;
    clinic.create("/patients", patient(1)).await;
    clinic.create("/drug-exposures", drug_exposure(20, 1)).await;

    // 404: no such record, for every read and for amendments.
    for path in [
        "/patients/9",
        "/notes/9",
        "/drug-exposures/9",
        "/doctors/9/history",
        "/patients/9/history",
        "/notes/9/history",
        "/drug-exposures/9/history",
    ] {
        clinic
            .get(path)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    clinic
        .post(
            "/notes/9/amendments",
            json!({"changes": {"note_text": "x"}, "reason": "r"}),
        )
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    clinic
        .get("/patients/abc")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");

    // 422: validation by the contract, named by OMOP field.
    let mut backwards = drug_exposure(21, 1);
    backwards["drug_exposure_end_date"] = json!("2024-04-01");
    let response = clinic.post("/drug-exposures", backwards).await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        field_errors(&response),
        [(
            "drug_exposure_end_date".to_owned(),
            "end_before_start".to_owned()
        )]
    );
    // 409: valid in itself, but no such patient (yet); the field is named all the same.
    let response = clinic.post("/notes", note(30, 404)).await;
    response.assert_problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(
        field_errors(&response),
        [("person_id".to_owned(), "unknown_patient".to_owned())]
    );
    // With another problem, the request is invalid whatever the ledger holds: 422, naming both.
    let mut untitled = note(30, 404);
    untitled["note_text"] = json!(" ");
    let response = clinic.post("/notes", untitled).await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(field_errors(&response).len(), 2, "{}", response.text());
    // 422: a value that is not of the field's type, a missing field, a field the model lacks.
    let mut bad_date = note(31, 1);
    bad_date["note_date"] = json!("2024-02-30");
    let response = clinic.post("/notes", bad_date).await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(field_errors(&response)[0].0, "note_date");
    let mut missing = patient(3);
    missing
        .as_object_mut()
        .expect("object")
        .remove("year_of_birth");
    let response = clinic.post("/patients", missing).await;
    assert_eq!(
        field_errors(&response),
        [("year_of_birth".to_owned(), "required".to_owned())]
    );
    let mut extra = patient(3);
    extra["favourite_colour"] = json!("blue");
    let response = clinic.post("/patients", extra).await;
    assert_eq!(
        field_errors(&response),
        [("favourite_colour".to_owned(), "unknown_field".to_owned())]
    );

    // Amendments: an unknown field, an id or patient named (even unchanged), an end before the start
    // it also changes, a blank reason.
    let amendment = |changes: Value, reason: &str| json!({"changes": changes, "reason": reason});
    for (changes, reason, field, code) in [
        (json!({"colour": "blue"}), "r", "colour", "unknown_field"),
        (
            json!({"drug_exposure_id": 22}),
            "r",
            "drug_exposure_id",
            "immutable",
        ),
        (
            json!({"drug_exposure_id": 20}),
            "r",
            "drug_exposure_id",
            "immutable",
        ),
        (json!({"person_id": 2}), "r", "person_id", "immutable"),
        (
            json!({"drug_exposure_start_date": "2024-05-02", "drug_exposure_end_date": "2024-05-01"}),
            "r",
            "drug_exposure_end_date",
            "end_before_start",
        ),
        (json!({"refills": "many"}), "r", "refills", "invalid"),
        (json!({"refills": 1}), "  ", "reason", "required"),
        (json!({}), "r", "changes", "required"),
    ] {
        let response = clinic
            .post("/drug-exposures/20/amendments", amendment(changes, reason))
            .await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            field_errors(&response).contains(&(field.to_owned(), code.to_owned())),
            "{field} {code}: {}",
            response.text()
        );
    }
    // 409: an end that is fine in itself, but before the start the amendment leaves as it is.
    let response = clinic
        .post(
            "/drug-exposures/20/amendments",
            amendment(json!({"drug_exposure_end_date": "2024-04-01"}), "r"),
        )
        .await;
    response.assert_problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(
        field_errors(&response),
        [(
            "drug_exposure_end_date".to_owned(),
            "end_before_start".to_owned()
        )]
    );
    clinic
        .post(
            "/drug-exposures/20/amendments",
            json!({"changes": {"refills": 1}}),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        clinic.get("/drug-exposures/20/history").await.json()["items"]
            .as_array()
            .expect("items")
            .len(),
        1,
        "no refused amendment wrote a version"
    );

    // 409: the id exists.
    clinic
        .post("/patients", patient(1))
        .await
        .assert_problem(StatusCode::CONFLICT, "conflict");

    // 403: an administrator may not write (or read) clinical records.
    let admin = clinic.gateway.admin_token().await;
    for response in [
        clinic
            .gateway
            .post("/api/v1/patients", Some(&admin), patient(5))
            .await,
        clinic.gateway.get("/api/v1/patients/1", Some(&admin)).await,
        clinic
            .gateway
            .post(
                "/api/v1/patients/1/amendments",
                Some(&admin),
                json!({"changes": {"given_name": "X"}, "reason": "r"}),
            )
            .await,
    ] {
        response.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    }
}

#[tokio::test]
async fn every_record_endpoint_wants_a_login() {
    let clinic = Clinic::open().await;
    clinic.create("/patients", patient(1)).await;
    let gets = [
        "/patients",
        "/patients/1",
        "/patients/1/notes",
        "/patients/1/drug-exposures",
        "/patients/1/history",
        "/notes",
        "/notes/1",
        "/notes/1/history",
        "/drug-exposures",
        "/drug-exposures/1",
        "/drug-exposures/1/history",
        "/doctors/10/history",
        "/admins/1/history",
    ];
    for path in gets {
        clinic
            .gateway
            .get(&format!("/api/v1{path}"), None)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        clinic
            .gateway
            .get(&format!("/api/v1{path}"), Some("not-a-token"))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let posts = [
        ("/patients", patient(2)),
        ("/notes", note(1, 1)),
        ("/drug-exposures", drug_exposure(1, 1)),
    ]
    .into_iter()
    .chain(
        [
            "/patients/1",
            "/notes/1",
            "/drug-exposures/1",
            "/doctors/10",
            "/admins/1",
        ]
        .into_iter()
        .map(|path| (path, json!({"changes": {"given_name": "X"}, "reason": "r"}))),
    );
    for (path, body) in posts {
        let path = if body.get("changes").is_some() {
            format!("/api/v1{path}/amendments")
        } else {
            format!("/api/v1{path}")
        };
        clinic
            .gateway
            .post(&path, None, body)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
}
