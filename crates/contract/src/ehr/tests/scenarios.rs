//! Scenarios: what administrators and doctors do, end to end through the runtime.

use medledger_types::codec;
use medledger_types::{Role, limits};

use super::*;
use crate::ehr::keys;

fn doctor_signer() -> Signer {
    signer(Role::Doctor)
}

fn admin_signer() -> Signer {
    signer(Role::Admin)
}

fn get(ledger: &Ledger, kind: RecordKind, id: i64) -> Result<Record, ContractError> {
    ledger.query(&doctor_signer(), &EhrCall::Get { kind, id })
}

#[test]
fn each_model_is_created_and_read_back_with_its_header() {
    let mut ledger = Ledger::new();
    let cases: Vec<(Signer, NewRecord)> = vec![
        (
            admin_signer(),
            NewRecord::Admin(admin(1, "admin@hospital.cu")),
        ),
        (
            admin_signer(),
            NewRecord::Doctor(full_doctor(7, "ana@hospital.cu")),
        ),
        (doctor_signer(), NewRecord::Patient(full_patient(42))),
        (doctor_signer(), NewRecord::Note(full_note(3, 42))),
        (doctor_signer(), NewRecord::DrugExposure(full_drug(3, 42))),
    ];
    for (who, record) in cases {
        let header = ledger.create(&who, record.clone());
        let expected = RecordHeader {
            format_version: RECORD_FORMAT_VERSION,
            id: record.id(),
            kind: record.kind(),
            patient_id: record.patient_id(),
            author: who.name.clone(),
            author_org: "Org1".into(),
            timestamp_ms: NOW_MS,
            schema_version: 1,
            version_number: 1,
            amendment_reason: None,
            tx_id: tx_id(ledger.block),
            body_encoding: BodyEncoding::Borsh,
        };
        assert_eq!(header, expected);

        let got = get(&ledger, record.kind(), record.id()).expect("get");
        assert_eq!(got.header, expected);
        assert_eq!(got.body, record.encode_body());
        let round_trip = match &record {
            NewRecord::Patient(_) => NewRecord::Patient(got.decode_body().expect("patient")),
            NewRecord::DrugExposure(_) => {
                NewRecord::DrugExposure(DrugExposure::decode_body(&got.body).expect("drug"))
            }
            NewRecord::Note(_) => NewRecord::Note(Note::decode_body(&got.body).expect("note")),
            NewRecord::Doctor(_) => {
                NewRecord::Doctor(Doctor::decode_body(&got.body).expect("doctor"))
            }
            NewRecord::Admin(_) => NewRecord::Admin(Admin::decode_body(&got.body).expect("admin")),
        };
        assert_eq!(round_trip, record);
    }
    // Decoding a body as the wrong model is refused.
    let note = get(&ledger, RecordKind::Note, 3).expect("note");
    assert!(matches!(
        note.decode_body::<Patient>(),
        Err(ContractError::BadRequest(_))
    ));
    assert!(matches!(
        get(&ledger, RecordKind::Note, 4),
        Err(ContractError::NotFound { .. })
    ));
    assert!(matches!(
        get(&ledger, RecordKind::Note, -4),
        Err(ContractError::NotFound { .. })
    ));
}

#[test]
fn a_duplicate_id_is_refused_for_every_kind_and_changes_nothing() {
    let mut ledger = seeded();
    let before = ledger.state.clone();
    let cases = [
        (
            admin_signer(),
            NewRecord::Admin(admin(1, "other-admin@hospital.cu")),
            "admin_id",
        ),
        (
            admin_signer(),
            NewRecord::Doctor(doctor(1, "other-doctor@hospital.cu")),
            "provider_id",
        ),
        (doctor_signer(), NewRecord::Patient(patient(1)), "person_id"),
        (doctor_signer(), NewRecord::Note(note(1, 1)), "note_id"),
        (
            doctor_signer(),
            NewRecord::DrugExposure(drug(1, 1)),
            "drug_exposure_id",
        ),
    ];
    for (who, record, field) in cases {
        let kind = record.kind();
        let sim = ledger.simulate(&who, &EhrCall::Create(record));
        assert_eq!(sim.rwset, RwSet::default(), "a refusal writes nothing");
        assert_eq!(
            outcome(&sim),
            Err(ContractError::AlreadyExists {
                kind,
                field: field.into(),
                value: "1".into()
            })
        );
    }
    assert!(
        ledger
            .submit(
                &doctor_signer(),
                &EhrCall::Create(NewRecord::Patient(patient(1)))
            )
            .is_err()
    );
    assert_eq!(ledger.state.len(), before.len());
}

#[test]
fn notes_and_drug_exposures_with_the_same_id_do_not_collide() {
    // The thesis stored both under the bare id, so one overwrote the other.
    let mut ledger = seeded();
    ledger.create(&doctor_signer(), NewRecord::Note(note(5, 1)));
    ledger.create(&doctor_signer(), NewRecord::DrugExposure(drug(5, 1)));
    assert_eq!(
        get(&ledger, RecordKind::Note, 5).expect("note").header.kind,
        RecordKind::Note
    );
    assert_eq!(
        get(&ledger, RecordKind::DrugExposure, 5)
            .expect("drug")
            .header
            .kind,
        RecordKind::DrugExposure
    );
}

#[test]
fn creating_a_note_writes_the_documented_keys_and_reads_what_it_checked() {
    let ledger = seeded();
    let sim = ledger.simulate(
        &doctor_signer(),
        &EhrCall::Create(NewRecord::Note(note(77, 1))),
    );
    let writes: Vec<&str> = sim.rwset.writes.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(
        writes,
        [
            "idx/patient_notes/00000000000000000001/00000000000000000077",
            "rec/note/00000000000000000077"
        ]
    );
    let reads: Vec<_> = sim
        .rwset
        .reads
        .iter()
        .map(|r| (r.key.as_str(), r.version.is_some()))
        .collect();
    assert_eq!(
        reads,
        [
            ("rec/note/00000000000000000077", false),
            ("rec/patient/00000000000000000001", true)
        ]
    );

    let sim = ledger.simulate(
        &admin_signer(),
        &EhrCall::Create(NewRecord::Doctor(doctor(2, "Luis@Hospital.CU"))),
    );
    let writes: Vec<&str> = sim.rwset.writes.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(
        writes,
        [
            "idx/doctor_email/luis@hospital.cu",
            "rec/doctor/00000000000000000002"
        ]
    );
    assert_eq!(sim.rwset.writes[0].value, codec::encode(&2i64));
}

#[test]
fn list_pages_1200_patients_by_cursor() {
    let mut ledger = Ledger::new();
    let doc = doctor_signer();
    // Created out of order: the list is in id order regardless.
    for i in 0..1200i64 {
        let id = (i * 7) % 1200 + 1;
        ledger.create(&doc, NewRecord::Patient(patient(id)));
    }
    let list = |after, limit| {
        ledger.query::<Page>(
            &doc,
            &EhrCall::List {
                kind: RecordKind::Patient,
                after,
                limit,
            },
        )
    };

    let mut after = None;
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = list(after, 500).expect("page");
        sizes.push(page.items.len());
        seen.extend(page.items.iter().map(|r| r.header.id));
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(Some(&cursor), seen.last());
                after = Some(cursor);
            }
            None => break,
        }
    }
    assert_eq!(sizes, [500, 500, 200]);
    assert_eq!(seen, (1..=1200).collect::<Vec<_>>());

    // Exactly a full last page: no cursor (the runtime was asked for one more to know).
    let page = list(Some(700), 500).expect("page");
    assert_eq!((page.items.len(), page.next_cursor), (500, None));
    let page = list(Some(1199), 1).expect("page");
    assert_eq!(
        page.items.iter().map(|r| r.header.id).collect::<Vec<_>>(),
        [1200]
    );
    assert_eq!(page.next_cursor, None);
    assert!(
        list(Some(i64::MAX), 10)
            .expect("past the end")
            .items
            .is_empty()
    );
    assert!(
        list(None, 3)
            .expect("other kinds are separate")
            .items
            .iter()
            .all(|r| r.header.kind == RecordKind::Patient)
    );
    let notes = ledger.query::<Page>(
        &doc,
        &EhrCall::List {
            kind: RecordKind::Note,
            after: None,
            limit: 10,
        },
    );
    assert!(notes.expect("empty list").items.is_empty());

    for bad_limit in [0, 501, u32::MAX] {
        assert!(
            matches!(list(None, bad_limit), Err(ContractError::BadRequest(_))),
            "limit {bad_limit}"
        );
    }
    assert!(matches!(
        list(Some(-1), 10),
        Err(ContractError::BadRequest(_))
    ));
}

#[test]
fn a_patients_notes_and_drug_exposures_are_listed_by_patient() {
    let mut ledger = seeded();
    let doc = doctor_signer();
    ledger.create(&doc, NewRecord::Patient(patient(2)));
    for id in [4, 2, 3] {
        ledger.create(&doc, NewRecord::Note(note(id, 1)));
    }
    ledger.create(&doc, NewRecord::Note(note(10, 2)));
    ledger.create(&doc, NewRecord::DrugExposure(drug(2, 1)));
    ledger.create(&doc, NewRecord::DrugExposure(drug(3, 2)));

    let chart = |patient_id, kind, after, limit| {
        ledger.query::<Page>(
            &doc,
            &EhrCall::PatientRecords {
                patient_id,
                kind,
                after,
                limit,
            },
        )
    };
    let ids = |page: &Page| page.items.iter().map(|r| r.header.id).collect::<Vec<_>>();

    let notes = chart(1, RecordKind::Note, None, 500).expect("notes");
    assert_eq!(ids(&notes), [1, 2, 3, 4]);
    assert!(
        notes
            .items
            .iter()
            .all(|r| r.header.patient_id == Some(1) && r.header.kind == RecordKind::Note)
    );
    assert_eq!(notes.next_cursor, None);

    let first = chart(1, RecordKind::Note, None, 3).expect("page 1");
    assert_eq!((ids(&first), first.next_cursor), (vec![1, 2, 3], Some(3)));
    let second = chart(1, RecordKind::Note, first.next_cursor, 3).expect("page 2");
    assert_eq!((ids(&second), second.next_cursor), (vec![4], None));

    assert_eq!(
        ids(&chart(1, RecordKind::DrugExposure, None, 10).expect("drugs")),
        [1, 2]
    );
    assert_eq!(
        ids(&chart(2, RecordKind::Note, None, 10).expect("notes of 2")),
        [10]
    );
    assert_eq!(
        ids(&chart(2, RecordKind::DrugExposure, None, 10).expect("drugs of 2")),
        [3]
    );

    assert_eq!(
        chart(99, RecordKind::Note, None, 10),
        Err(ContractError::NotFound {
            kind: RecordKind::Patient,
            field: "person_id".into(),
            value: "99".into()
        })
    );
    assert!(matches!(
        chart(1, RecordKind::Patient, None, 10),
        Err(ContractError::BadRequest(_))
    ));
    assert!(matches!(
        chart(1, RecordKind::Note, None, 0),
        Err(ContractError::BadRequest(_))
    ));
}

#[test]
fn a_note_or_drug_exposure_for_an_unknown_patient_is_refused() {
    let mut ledger = seeded();
    let doc = doctor_signer();
    let unknown = vec![("person_id".to_string(), "unknown_patient".to_string())];
    assert_eq!(
        fields(ledger.submit(&doc, &EhrCall::Create(NewRecord::Note(note(9, 99))))),
        unknown
    );
    assert_eq!(
        fields(ledger.submit(&doc, &EhrCall::Create(NewRecord::DrugExposure(drug(9, 99))))),
        unknown
    );
    // Reported together with the other field errors.
    let bad = Note {
        note_text: String::new(),
        ..note(9, 99)
    };
    assert_eq!(
        fields(ledger.submit(&doc, &EhrCall::Create(NewRecord::Note(bad)))),
        [
            ("note_text".to_string(), "required".to_string()),
            ("person_id".into(), "unknown_patient".into())
        ]
    );
    assert!(matches!(
        get(&ledger, RecordKind::Note, 9),
        Err(ContractError::NotFound { .. })
    ));
}

#[test]
fn an_amendment_is_a_new_version_with_a_reason_and_history_shows_every_version() {
    let mut ledger = seeded();
    let doc = signer(Role::Doctor);
    let original = get(&ledger, RecordKind::Note, 1).expect("v1");
    // seeded() commits admin, doctor, patient, note, drug exposure: one block each.
    let created_at = 4;

    let corrected = Note {
        note_text: "Paciente refiere cefalea de dos días.".into(),
        ..note(1, 1)
    };
    let mut other_doctor = doctor_signer();
    other_doctor.name = "luis@hospital.cu".into();
    ledger.now_ms += 60_000;
    let call = EhrCall::Amend {
        kind: RecordKind::Note,
        id: 1,
        record: NewRecord::Note(corrected.clone()),
        reason: "duración mal transcrita".into(),
        expected_version: None,
    };
    let header: RecordHeader =
        decode_response(&ledger.submit(&other_doctor, &call).expect("amend")).expect("header");
    assert_eq!(header.version_number, 2);
    assert_eq!(
        header.amendment_reason.as_deref(),
        Some("duración mal transcrita")
    );
    assert_eq!(header.author, "luis@hospital.cu");
    assert_eq!(header.timestamp_ms, NOW_MS + 60_000);
    assert_eq!(header.patient_id, Some(1));

    let current = get(&ledger, RecordKind::Note, 1).expect("v2");
    assert_eq!(current.header, header);
    assert_eq!(Note::decode_body(&current.body).expect("body"), corrected);

    let history: HistoryPage = ledger
        .query(
            &doc,
            &EhrCall::History {
                kind: RecordKind::Note,
                id: 1,
                after: None,
            },
        )
        .expect("history");
    assert_eq!(history.next_cursor, None);
    assert_eq!(history.items.len(), 2);
    let [v1, v2] = [&history.items[0], &history.items[1]];
    assert_eq!(v1.record, original);
    assert_eq!(
        v1.version,
        Version {
            block: created_at,
            tx: 0
        }
    );
    assert_eq!(v1.tx_id, original.header.tx_id);
    assert_eq!(v1.record.header.author, doc.name);
    assert_eq!(v2.record, current);
    assert_eq!(
        v2.version,
        Version {
            block: ledger.block,
            tx: 0
        }
    );
    assert_eq!(v2.tx_id, header.tx_id);
    assert_eq!(
        Note::decode_body(&v1.record.body).expect("old body"),
        note(1, 1)
    );

    // A third version, and history continued from a cursor.
    let again = EhrCall::Amend {
        kind: RecordKind::Note,
        id: 1,
        record: NewRecord::Note(note(1, 1)),
        reason: "revert".into(),
        expected_version: None,
    };
    ledger.submit(&doc, &again).expect("amend again");
    let rest: HistoryPage = ledger
        .query(
            &doc,
            &EhrCall::History {
                kind: RecordKind::Note,
                id: 1,
                after: Some(v2.version),
            },
        )
        .expect("rest");
    assert_eq!(
        rest.items
            .iter()
            .map(|i| i.record.header.version_number)
            .collect::<Vec<_>>(),
        [3]
    );
    assert!(matches!(
        ledger.query::<HistoryPage>(
            &doc,
            &EhrCall::History {
                kind: RecordKind::Note,
                id: 2,
                after: None
            }
        ),
        Err(ContractError::NotFound { .. })
    ));
}

#[test]
fn history_of_a_much_amended_record_is_paged() {
    let mut ledger = seeded();
    let doc = doctor_signer();
    let versions = limits::HISTORY_COUNT_MAX + 2;
    for i in 2..=versions {
        let record = NewRecord::Patient(Patient {
            year_of_birth: 1900 + (i % 100) as i64,
            ..patient(1)
        });
        ledger
            .submit(
                &doc,
                &EhrCall::Amend {
                    kind: RecordKind::Patient,
                    id: 1,
                    record,
                    reason: format!("fix {i}"),
                    expected_version: None,
                },
            )
            .expect("amend");
    }
    let history = |after| {
        ledger.query::<HistoryPage>(
            &doc,
            &EhrCall::History {
                kind: RecordKind::Patient,
                id: 1,
                after,
            },
        )
    };
    let first = history(None).expect("first page");
    assert_eq!(first.items.len(), limits::HISTORY_COUNT_MAX);
    assert_eq!(first.next_cursor, first.items.last().map(|i| i.version));
    let second = history(first.next_cursor).expect("second page");
    assert_eq!(second.next_cursor, None);
    let numbers: Vec<u32> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|i| i.record.header.version_number)
        .collect();
    assert_eq!(numbers, (1..=versions as u32).collect::<Vec<_>>());
}

#[test]
fn an_amendment_needs_a_reason() {
    let mut ledger = seeded();
    let doc = doctor_signer();
    let amend = |reason: &str| EhrCall::Amend {
        kind: RecordKind::Patient,
        id: 1,
        record: NewRecord::Patient(patient(1)),
        reason: reason.into(),
        expected_version: None,
    };
    for blank in ["", "   \n"] {
        assert_eq!(
            fields(ledger.submit(&doc, &amend(blank))),
            [("amendment_reason".to_string(), "required".to_string())]
        );
    }
    let long = "x".repeat(crate::ehr::validate::REASON_CHARS_MAX + 1);
    assert_eq!(
        fields(ledger.submit(&doc, &amend(&long))),
        [("amendment_reason".to_string(), "too_long".to_string())]
    );
    ledger
        .submit(
            &doc,
            &amend(&"é".repeat(crate::ehr::validate::REASON_CHARS_MAX)),
        )
        .expect("a reason at the limit");
}

#[test]
fn an_amendment_cannot_change_the_id_kind_patient_or_email_nor_invent_a_record() {
    let mut ledger = seeded();
    let doc = doctor_signer();
    let adm = admin_signer();
    ledger.create(&doc, NewRecord::Patient(patient(2)));
    let amend = |kind, id, record| EhrCall::Amend {
        kind,
        id,
        record,
        reason: "correction".into(),
        expected_version: None,
    };

    let other_id = amend(RecordKind::Note, 1, NewRecord::Note(note(2, 1)));
    assert_eq!(
        fields(ledger.submit(&doc, &other_id)),
        [("note_id".to_string(), "immutable".to_string())]
    );

    let other_kind = amend(RecordKind::Note, 1, NewRecord::DrugExposure(drug(1, 1)));
    assert!(matches!(
        ledger.submit(&doc, &other_kind),
        Err(ContractError::BadRequest(_))
    ));

    let other_patient = amend(RecordKind::Note, 1, NewRecord::Note(note(1, 2)));
    assert_eq!(
        fields(ledger.submit(&doc, &other_patient)),
        [("person_id".to_string(), "immutable".to_string())]
    );
    let other_patient = amend(
        RecordKind::DrugExposure,
        1,
        NewRecord::DrugExposure(drug(1, 2)),
    );
    assert_eq!(
        fields(ledger.submit(&doc, &other_patient)),
        [("person_id".to_string(), "immutable".to_string())]
    );

    let other_email = amend(
        RecordKind::Doctor,
        1,
        NewRecord::Doctor(doctor(1, "new@hospital.cu")),
    );
    assert_eq!(
        fields(ledger.submit(&adm, &other_email)),
        [("email".to_string(), "immutable".to_string())]
    );
    ledger.create(&adm, NewRecord::Doctor(doctor(2, "luis@hospital.cu")));
    let taken_email = amend(
        RecordKind::Doctor,
        1,
        NewRecord::Doctor(doctor(1, "luis@hospital.cu")),
    );
    assert_eq!(
        fields(ledger.submit(&adm, &taken_email)),
        [("email".to_string(), "immutable".to_string())]
    );
    let other_admin_email = amend(
        RecordKind::Admin,
        1,
        NewRecord::Admin(admin(1, "x@hospital.cu")),
    );
    assert_eq!(
        fields(ledger.submit(&adm, &other_admin_email)),
        [("email".to_string(), "immutable".to_string())]
    );

    // Only the letter case: the same address.
    let recased = amend(
        RecordKind::Doctor,
        1,
        NewRecord::Doctor(Doctor {
            family_name: "García Ruiz".into(),
            ..doctor(1, "ANA@hospital.cu")
        }),
    );
    ledger.submit(&adm, &recased).expect("same email");

    let missing = amend(RecordKind::Note, 50, NewRecord::Note(note(50, 1)));
    assert_eq!(
        ledger.submit(&doc, &missing),
        Err(ContractError::NotFound {
            kind: RecordKind::Note,
            field: "note_id".into(),
            value: "50".into()
        })
    );
    // Field errors come first even for a missing record.
    let missing_and_bad = amend(
        RecordKind::Note,
        50,
        NewRecord::Note(Note {
            note_text: " ".into(),
            ..note(50, 1)
        }),
    );
    assert_eq!(
        fields(ledger.submit(&doc, &missing_and_bad)),
        [("note_text".to_string(), "required".to_string())]
    );
    let nonpositive = amend(RecordKind::Note, 0, NewRecord::Note(note(0, 1)));
    assert_eq!(
        fields(ledger.submit(&doc, &nonpositive)),
        [("note_id".to_string(), "out_of_range".to_string())]
    );
}

#[test]
fn doctors_and_admins_are_found_by_email_which_is_unique_per_kind() {
    let mut ledger = seeded();
    let adm = admin_signer();
    let by_email = |ledger: &Ledger, kind, email: &str| {
        ledger.query::<Record>(
            &doctor_signer(),
            &EhrCall::ByEmail {
                kind,
                email: email.into(),
            },
        )
    };

    let found = by_email(&ledger, RecordKind::Doctor, "ana@hospital.cu").expect("doctor");
    assert_eq!(
        Doctor::decode_body(&found.body).expect("body"),
        doctor(1, "ana@hospital.cu")
    );
    assert_eq!(
        by_email(&ledger, RecordKind::Doctor, "ANA@Hospital.cu")
            .expect("case-insensitive")
            .header
            .id,
        1
    );
    assert_eq!(
        by_email(&ledger, RecordKind::Admin, "admin@hospital.cu")
            .expect("admin")
            .header
            .id,
        1
    );
    assert_eq!(
        by_email(&ledger, RecordKind::Doctor, "nobody@hospital.cu"),
        Err(ContractError::NotFound {
            kind: RecordKind::Doctor,
            field: "email".into(),
            value: "nobody@hospital.cu".into()
        })
    );
    assert!(matches!(
        by_email(&ledger, RecordKind::Doctor, "not an email"),
        Err(ContractError::NotFound { .. })
    ));
    assert!(matches!(
        by_email(&ledger, RecordKind::Patient, "ana@hospital.cu"),
        Err(ContractError::BadRequest(_))
    ));

    let clash = NewRecord::Doctor(doctor(2, "Ana@Hospital.CU"));
    assert_eq!(
        ledger.submit(&adm, &EhrCall::Create(clash)),
        Err(ContractError::AlreadyExists {
            kind: RecordKind::Doctor,
            field: "email".into(),
            value: "ana@hospital.cu".into()
        })
    );
    let clash = NewRecord::Admin(admin(2, "admin@hospital.cu"));
    assert!(matches!(
        ledger.submit(&adm, &EhrCall::Create(clash)),
        Err(ContractError::AlreadyExists { .. })
    ));

    // Doctors and admins have separate indexes: one person may be both.
    ledger.create(&adm, NewRecord::Admin(admin(2, "ana@hospital.cu")));
    assert_eq!(
        by_email(&ledger, RecordKind::Admin, "ana@hospital.cu")
            .expect("admin")
            .header
            .id,
        2
    );
    assert_eq!(
        by_email(&ledger, RecordKind::Doctor, "ana@hospital.cu")
            .expect("doctor")
            .header
            .id,
        1
    );
}

#[test]
fn the_same_call_on_the_same_state_gives_identical_bytes() {
    let ledger = seeded();
    // A second ledger built by the same transactions, separately.
    let twin = seeded();
    let calls = [
        (
            doctor_signer(),
            EhrCall::Create(NewRecord::Note(full_note(8, 1))),
        ),
        (
            doctor_signer(),
            EhrCall::Create(NewRecord::DrugExposure(full_drug(8, 1))),
        ),
        (
            admin_signer(),
            EhrCall::Create(NewRecord::Doctor(full_doctor(8, "x@hospital.cu"))),
        ),
        (
            doctor_signer(),
            EhrCall::Amend {
                kind: RecordKind::Patient,
                id: 1,
                record: NewRecord::Patient(full_patient(1)),
                reason: "r".into(),
                expected_version: None,
            },
        ),
        (
            doctor_signer(),
            EhrCall::List {
                kind: RecordKind::Note,
                after: None,
                limit: 10,
            },
        ),
        (
            doctor_signer(),
            EhrCall::History {
                kind: RecordKind::Note,
                id: 1,
                after: None,
            },
        ),
        (
            doctor_signer(),
            EhrCall::Create(NewRecord::Note(note(9, 99))),
        ),
    ];
    for (who, call) in &calls {
        let first = ledger.simulate(who, call);
        let second = ledger.simulate(who, call);
        let third = twin.simulate(who, call);
        assert_eq!(codec::encode(&first.rwset), codec::encode(&second.rwset));
        assert_eq!(codec::encode(&first.rwset), codec::encode(&third.rwset));
        assert_eq!(first.response, second.response);
        assert_eq!(first.response, third.response);
    }
}

#[test]
fn concurrent_creates_of_one_id_conflict_at_commit() {
    let mut ledger = seeded();
    let a = ledger.simulate(
        &doctor_signer(),
        &EhrCall::Create(NewRecord::Patient(patient(5))),
    );
    let b = ledger.simulate(
        &doctor_signer(),
        &EhrCall::Create(NewRecord::Patient(full_patient(5))),
    );
    assert_eq!(a.response.status, ResponseStatus::Ok);
    assert_eq!(b.response.status, ResponseStatus::Ok);
    ledger.commit(&a.rwset);
    let conflict = ledger
        .state
        .check_reads(&b.rwset)
        .expect_err("b read the id as free");
    assert_eq!(conflict.key, keys::record(RecordKind::Patient, 5));
}

#[test]
fn the_function_must_name_the_call_and_there_is_exactly_one_argument() {
    let ledger = seeded();
    let doc = doctor_signer();
    let call = EhrCall::Get {
        kind: RecordKind::Patient,
        id: 1,
    };
    let refused = |sim: Simulation| matches!(outcome(&sim), Err(ContractError::BadRequest(_)));
    assert!(refused(ledger.simulate_raw(
        &doc,
        "create",
        &[call.encode()]
    )));
    assert!(refused(ledger.simulate_raw(&doc, "Get", &[call.encode()])));
    assert!(refused(ledger.simulate_raw(&doc, "get", &[])));
    assert!(refused(ledger.simulate_raw(
        &doc,
        "get",
        &[call.encode(), call.encode()]
    )));
    assert!(refused(ledger.simulate_raw(&doc, "get", &[vec![0xff; 3]])));
    let mut trailing = call.encode();
    trailing.push(0);
    assert!(refused(ledger.simulate_raw(&doc, "get", &[trailing])));
    assert!(outcome(&ledger.simulate_raw(&doc, "get", &[call.encode()])).is_ok());
}

#[test]
fn large_pages_stop_at_the_byte_budget_with_a_cursor() {
    let mut ledger = seeded();
    let doc = doctor_signer();
    // 60 KiB of text within the character limit: 15 Ki four-byte characters.
    let text = "😷".repeat(15 * 1024);
    assert_eq!(text.len(), 60 * 1024);
    let count = PAGE_BYTES_MAX / (60 * 1024) + 10;
    for id in 2..(count as i64 + 2) {
        ledger.create(
            &doc,
            NewRecord::Note(Note {
                note_text: text.clone(),
                ..note(id, 1)
            }),
        );
    }
    let list = |after| {
        ledger.query::<Page>(
            &doc,
            &EhrCall::List {
                kind: RecordKind::Note,
                after,
                limit: 500,
            },
        )
    };
    let first = list(None).expect("first");
    assert!(first.items.len() < count, "{} items", first.items.len());
    let bytes: usize = first.items.iter().map(|r| r.body.len()).sum();
    assert!(bytes <= PAGE_BYTES_MAX);
    let second = list(first.next_cursor).expect("second");
    assert_eq!(first.items.len() + second.items.len(), count + 1);
    assert_eq!(second.next_cursor, None);
}

/// Two amendments made on the same version: the second names a version that is no longer current and is
/// refused with the current one, writing nothing; made on the current version, it is accepted.
#[test]
fn an_amendment_on_a_stale_version_is_refused_with_the_current_version() {
    let mut ledger = seeded();
    let doc = doctor_signer();
    let amend = |text: &str, expected_version| EhrCall::Amend {
        kind: RecordKind::Note,
        id: 1,
        record: NewRecord::Note(Note {
            note_text: text.into(),
            ..note(1, 1)
        }),
        reason: "correction".into(),
        expected_version,
    };
    let first: RecordHeader = decode_response(
        &ledger
            .submit(&doc, &amend("first", Some(1)))
            .expect("on v1"),
    )
    .expect("header");
    assert_eq!(first.version_number, 2);

    let blocks = ledger.block;
    assert_eq!(
        ledger.submit(&doc, &amend("second", Some(1))),
        Err(ContractError::VersionMismatch {
            kind: RecordKind::Note,
            id: 1,
            expected: 1,
            current: 2,
        })
    );
    assert_eq!(ledger.block, blocks, "a refusal commits nothing");
    let current = get(&ledger, RecordKind::Note, 1).expect("v2");
    assert_eq!(
        Note::decode_body(&current.body).expect("body").note_text,
        "first"
    );

    // A version that never existed is as stale as an old one; the current one is accepted.
    assert!(matches!(
        ledger.submit(&doc, &amend("second", Some(0))),
        Err(ContractError::VersionMismatch { current: 2, .. })
    ));
    let second: RecordHeader = decode_response(
        &ledger
            .submit(&doc, &amend("second", Some(2)))
            .expect("on v2"),
    )
    .expect("header");
    assert_eq!(second.version_number, 3);
}

/// The expected version is checked against what the endorsement read, and that read is in the read set:
/// a write committed between the endorsement and the commit fails the MVCC check instead of being
/// overwritten.
#[test]
fn an_amendment_with_an_expected_version_reads_the_record_it_checks() {
    let mut ledger = seeded();
    let doc = doctor_signer();
    let amend = |text: &str| EhrCall::Amend {
        kind: RecordKind::Note,
        id: 1,
        record: NewRecord::Note(Note {
            note_text: text.into(),
            ..note(1, 1)
        }),
        reason: "correction".into(),
        expected_version: Some(1),
    };
    let late = ledger.simulate(&doc, &amend("late"));
    outcome(&late).expect("endorsed on v1");
    let key = keys::record(RecordKind::Note, 1);
    assert!(late.rwset.reads.iter().any(|read| read.key == key));
    ledger.submit(&doc, &amend("early")).expect("commits first");
    assert!(ledger.state.check_reads(&late.rwset).is_err());
}

/// A refusal for a stale version survives its trip through the refused response's payload.
#[test]
fn a_version_mismatch_is_a_stable_payload() {
    let error = ContractError::VersionMismatch {
        kind: RecordKind::Patient,
        id: 3,
        expected: 1,
        current: 4,
    };
    assert_eq!(ContractError::from_payload(&error.to_payload()), Ok(error));
}
