//! Validation names the failing field (by its OMOP name) with a stable code, and reports every failing
//! field at once. The value types refuse what is not a real date, time or number in every encoding.

use medledger_types::{Role, limits};

use super::*;
use crate::ehr::validate::{
    LONG_TEXT_CHARS_MAX, REASON_CHARS_MAX, SHORT_TEXT_CHARS_MAX, is_email, validate_reason,
    validate_record,
};
use crate::ehr::values::{days_in_month, is_leap_year, year_of_unix_millis};
use crate::error::FieldError;

const NOW_YEAR: i64 = 2024;

fn errors(record: NewRecord) -> Vec<(String, String)> {
    validate_record(&record, NOW_YEAR)
        .into_iter()
        .map(|e| (e.field, e.code))
        .collect()
}

fn e(field: &str, code: &str) -> (String, String) {
    (field.to_owned(), code.to_owned())
}

#[test]
fn the_samples_are_valid() {
    for record in [
        NewRecord::Patient(patient(1)),
        NewRecord::Patient(full_patient(1)),
        NewRecord::Note(note(1, 1)),
        NewRecord::Note(full_note(1, 1)),
        NewRecord::DrugExposure(drug(1, 1)),
        NewRecord::DrugExposure(full_drug(1, 1)),
        NewRecord::Doctor(doctor(1, "a@b.cu")),
        NewRecord::Doctor(full_doctor(1, "a@b.cu")),
        NewRecord::Admin(admin(1, "a@b.cu")),
    ] {
        assert_eq!(errors(record.clone()), [], "{record:?}");
    }
}

#[test]
fn each_rule_names_its_field_and_code() {
    // Limits count characters: 256 characters is one too many, whatever their bytes.
    let long = "x".repeat(SHORT_TEXT_CHARS_MAX + 1);
    let table: Vec<(NewRecord, Vec<(String, String)>)> = vec![
        // ids and concept ids
        (
            NewRecord::Patient(Patient {
                person_id: 0,
                ..patient(1)
            }),
            vec![e("person_id", "out_of_range")],
        ),
        (
            NewRecord::Patient(Patient {
                gender_concept_id: -1,
                ..patient(1)
            }),
            vec![e("gender_concept_id", "out_of_range")],
        ),
        (
            NewRecord::Patient(Patient {
                care_site_id: Some(-3),
                ..patient(1)
            }),
            vec![e("care_site_id", "out_of_range")],
        ),
        (
            NewRecord::Note(Note {
                note_id: -5,
                ..note(1, 1)
            }),
            vec![e("note_id", "out_of_range")],
        ),
        (
            NewRecord::Note(Note {
                person_id: 0,
                ..note(1, 1)
            }),
            vec![e("person_id", "out_of_range")],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                drug_type_concept_id: -2,
                ..drug(1, 1)
            }),
            vec![e("drug_type_concept_id", "out_of_range")],
        ),
        (
            NewRecord::Doctor(Doctor {
                provider_id: 0,
                ..doctor(1, "a@b.cu")
            }),
            vec![e("provider_id", "out_of_range")],
        ),
        (
            NewRecord::Admin(Admin {
                admin_id: -1,
                ..admin(1, "a@b.cu")
            }),
            vec![e("admin_id", "out_of_range")],
        ),
        // plausible birth
        (
            NewRecord::Patient(Patient {
                year_of_birth: 1849,
                ..patient(1)
            }),
            vec![e("year_of_birth", "out_of_range")],
        ),
        (
            NewRecord::Patient(Patient {
                year_of_birth: 2025,
                ..patient(1)
            }),
            vec![e("year_of_birth", "out_of_range")],
        ),
        (
            NewRecord::Patient(Patient {
                year_of_birth: 2024,
                ..patient(1)
            }),
            vec![],
        ),
        (
            NewRecord::Patient(Patient {
                year_of_birth: 1850,
                ..patient(1)
            }),
            vec![],
        ),
        (
            NewRecord::Patient(Patient {
                birth_datetime: Some(datetime("2030-01-01T00:00:00Z")),
                ..patient(1)
            }),
            vec![e("birth_datetime", "out_of_range")],
        ),
        (
            NewRecord::Doctor(Doctor {
                year_of_birth: Some(1800),
                ..doctor(1, "a@b.cu")
            }),
            vec![e("year_of_birth", "out_of_range")],
        ),
        // real birth dates
        (
            NewRecord::Patient(Patient {
                month_of_birth: Some(13),
                ..patient(1)
            }),
            vec![e("month_of_birth", "invalid_date")],
        ),
        (
            NewRecord::Patient(Patient {
                month_of_birth: Some(0),
                ..patient(1)
            }),
            vec![e("month_of_birth", "invalid_date")],
        ),
        (
            NewRecord::Patient(Patient {
                year_of_birth: 1981,
                month_of_birth: Some(2),
                day_of_birth: Some(29),
                ..patient(1)
            }),
            vec![e("day_of_birth", "invalid_date")],
        ),
        (
            NewRecord::Patient(Patient {
                year_of_birth: 1980,
                month_of_birth: Some(2),
                day_of_birth: Some(29),
                ..patient(1)
            }),
            vec![],
        ),
        (
            NewRecord::Patient(Patient {
                year_of_birth: 1900,
                month_of_birth: Some(2),
                day_of_birth: Some(29),
                ..patient(1)
            }),
            vec![e("day_of_birth", "invalid_date")],
        ),
        (
            NewRecord::Patient(Patient {
                year_of_birth: 2000,
                month_of_birth: Some(2),
                day_of_birth: Some(29),
                ..patient(1)
            }),
            vec![],
        ),
        (
            NewRecord::Patient(Patient {
                month_of_birth: Some(4),
                day_of_birth: Some(31),
                ..patient(1)
            }),
            vec![e("day_of_birth", "invalid_date")],
        ),
        (
            NewRecord::Patient(Patient {
                month_of_birth: Some(4),
                day_of_birth: Some(0),
                ..patient(1)
            }),
            vec![e("day_of_birth", "invalid_date")],
        ),
        (
            NewRecord::Patient(Patient {
                day_of_birth: Some(3),
                ..patient(1)
            }),
            vec![e("day_of_birth", "invalid_date")],
        ),
        // end not before start
        (
            NewRecord::DrugExposure(DrugExposure {
                drug_exposure_end_date: date("2024-04-30"),
                ..drug(1, 1)
            }),
            vec![e("drug_exposure_end_date", "end_before_start")],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                drug_exposure_end_date: date("2024-05-01"),
                ..drug(1, 1)
            }),
            vec![],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                drug_exposure_end_datetime: Some(datetime("2024-05-01T07:59:59Z")),
                ..full_drug(1, 1)
            }),
            vec![e("drug_exposure_end_datetime", "end_before_start")],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                verbatim_end_date: Some(date("2024-01-01")),
                ..drug(1, 1)
            }),
            vec![e("verbatim_end_date", "end_before_start")],
        ),
        // counts and quantities
        (
            NewRecord::DrugExposure(DrugExposure {
                refills: Some(-1),
                ..drug(1, 1)
            }),
            vec![e("refills", "out_of_range")],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                days_supply: Some(-7),
                ..drug(1, 1)
            }),
            vec![e("days_supply", "out_of_range")],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                quantity: Some("-0.5".parse().expect("decimal")),
                ..drug(1, 1)
            }),
            vec![e("quantity", "out_of_range")],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                quantity: Some("-0.00".parse().expect("decimal")),
                ..drug(1, 1)
            }),
            vec![],
        ),
        // required and too long text
        (
            NewRecord::Note(Note {
                note_text: String::new(),
                ..note(1, 1)
            }),
            vec![e("note_text", "required")],
        ),
        (
            NewRecord::Note(Note {
                note_text: "x".repeat(LONG_TEXT_CHARS_MAX + 1),
                ..note(1, 1)
            }),
            vec![e("note_text", "too_long")],
        ),
        (
            NewRecord::Note(Note {
                // At the limit in characters, and four times as many bytes.
                note_text: "😷".repeat(LONG_TEXT_CHARS_MAX),
                ..note(1, 1)
            }),
            vec![],
        ),
        (
            NewRecord::Note(Note {
                note_title: Some(long.clone()),
                ..note(1, 1)
            }),
            vec![e("note_title", "too_long")],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                sig: Some("x".repeat(4000)),
                ..drug(1, 1)
            }),
            vec![],
        ),
        (
            NewRecord::DrugExposure(DrugExposure {
                lot_number: Some(long.clone()),
                ..drug(1, 1)
            }),
            vec![e("lot_number", "too_long")],
        ),
        (
            NewRecord::Patient(Patient {
                family_name: Some(long.clone()),
                ..patient(1)
            }),
            vec![e("family_name", "too_long")],
        ),
        (
            NewRecord::Patient(Patient {
                given_name: None,
                family_name: None,
                ..patient(1)
            }),
            vec![],
        ),
        (
            NewRecord::Doctor(Doctor {
                given_name: " ".into(),
                ..doctor(1, "a@b.cu")
            }),
            vec![e("given_name", "required")],
        ),
        (
            NewRecord::Doctor(Doctor {
                specialty_source_value: Some(long.clone()),
                ..doctor(1, "a@b.cu")
            }),
            vec![e("specialty_source_value", "too_long")],
        ),
        (
            NewRecord::Admin(Admin {
                family_name: String::new(),
                ..admin(1, "a@b.cu")
            }),
            vec![e("family_name", "required")],
        ),
        // emails and certificates
        (
            NewRecord::Doctor(doctor(1, "")),
            vec![e("email", "required")],
        ),
        (
            NewRecord::Doctor(doctor(1, "ana.hospital.cu")),
            vec![e("email", "invalid_email")],
        ),
        (
            NewRecord::Admin(admin(1, "ana@localhost")),
            vec![e("email", "invalid_email")],
        ),
        (
            NewRecord::Admin(admin(1, &format!("{}@b.cu", "a".repeat(260)))),
            vec![e("email", "too_long")],
        ),
        (
            NewRecord::Doctor(Doctor {
                certificate: vec![],
                ..doctor(1, "a@b.cu")
            }),
            vec![e("certificate", "required")],
        ),
        (
            NewRecord::Admin(Admin {
                certificate: vec![0x30; limits::CERTIFICATE_BYTES_MAX + 1],
                ..admin(1, "a@b.cu")
            }),
            vec![e("certificate", "too_long")],
        ),
    ];
    for (record, expected) in table {
        assert_eq!(errors(record.clone()), expected, "{record:?}");
    }
}

#[test]
fn every_failing_field_is_reported_at_once_in_field_order() {
    let bad = DrugExposure {
        drug_exposure_id: 0,
        person_id: -1,
        drug_exposure_end_date: date("2020-01-01"),
        stop_reason: Some("x".repeat(300)),
        days_supply: Some(-1),
        ..drug(1, 1)
    };
    assert_eq!(
        errors(NewRecord::DrugExposure(bad)),
        [
            e("drug_exposure_id", "out_of_range"),
            e("person_id", "out_of_range"),
            e("drug_exposure_end_date", "end_before_start"),
            e("stop_reason", "too_long"),
            e("days_supply", "out_of_range"),
        ]
    );
}

#[test]
fn the_contract_refuses_invalid_records_with_the_field_errors_and_writes_nothing() {
    let mut ledger = seeded();
    let refused = ledger.submit(
        &signer(Role::Doctor),
        &EhrCall::Create(NewRecord::Patient(Patient {
            person_id: 2,
            year_of_birth: 1700,
            month_of_birth: Some(14),
            ..patient(2)
        })),
    );
    let Err(ContractError::Validation(list)) = refused else {
        panic!("expected a validation error: {refused:?}")
    };
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].field, "year_of_birth");
    assert_eq!(list[0].code, "out_of_range");
    assert!(list[0].message.contains("1700"), "{}", list[0].message);
    assert_eq!(list[1].field, "month_of_birth");
    let display = ContractError::Validation(list).to_string();
    assert!(
        display.contains("year_of_birth") && display.contains("month_of_birth"),
        "{display}"
    );

    // The invocation's clock decides what "plausible" means.
    ledger.now_ms = 1_893_456_000_000; // 2030-01-01
    ledger.create(
        &signer(Role::Doctor),
        NewRecord::Patient(Patient {
            year_of_birth: 2029,
            ..patient(3)
        }),
    );
}

#[test]
fn reasons_are_required_and_bounded() {
    assert_eq!(validate_reason("typo"), []);
    assert_eq!(validate_reason("").len(), 1);
    assert_eq!(
        validate_reason(&"r".repeat(REASON_CHARS_MAX + 1))[0].code,
        "too_long"
    );
    assert_eq!(validate_reason(&"ñ".repeat(REASON_CHARS_MAX)), []);
    assert_eq!(
        validate_reason("\u{2003}\t\u{3000}")[0].code,
        "required",
        "Unicode white space is blank"
    );
}

#[test]
fn text_limits_count_characters_not_bytes() {
    let at_limit = "é".repeat(SHORT_TEXT_CHARS_MAX); // 510 bytes
    let patient_named = |name: &str| {
        NewRecord::Patient(Patient {
            given_name: Some(name.to_owned()),
            ..patient(1)
        })
    };
    assert_eq!(errors(patient_named(&at_limit)), []);
    assert_eq!(
        errors(patient_named(&format!("{at_limit}é"))),
        [e("given_name", "too_long")]
    );
    assert_eq!(errors(patient_named(&"x".repeat(SHORT_TEXT_CHARS_MAX))), []);
    // A character beyond the Basic Multilingual Plane is one character (two UTF-16 units).
    assert_eq!(
        errors(NewRecord::Doctor(Doctor {
            family_name: "𝔄".repeat(SHORT_TEXT_CHARS_MAX),
            ..doctor(1, "a@b.cu")
        })),
        []
    );
}

#[test]
fn email_shapes() {
    for good in [
        "a@b.cu",
        "ana.garcia@hospital.sld.cu",
        "x+tag@mail-1.example.org",
        "O'Neil@Example.COM",
    ] {
        assert!(is_email(good), "{good}");
    }
    for bad in [
        "",
        "@b.cu",
        "a@",
        "a@b",
        "a b@c.cu",
        "a@b..cu",
        ".a@b.cu",
        "a.@b.cu",
        "a..b@c.cu",
        "a@-b.cu",
        "a@b-.cu",
        "a@@b.cu",
        "a@b@c.cu",
        "a/b@c.cu",
        "ñ@b.cu",
        "a@b.cu\n",
        "a@b_c.cu",
    ] {
        assert!(!is_email(bad), "{bad:?}");
    }
}

#[test]
fn every_contract_error_round_trips_through_its_payload_and_displays() {
    let all = [
        ContractError::Validation(vec![FieldError::new(
            "note_text",
            "required",
            "is required",
        )]),
        ContractError::AlreadyExists {
            kind: RecordKind::Doctor,
            field: "email".into(),
            value: "a@b.cu".into(),
        },
        ContractError::NotFound {
            kind: RecordKind::Note,
            field: "note_id".into(),
            value: "9".into(),
        },
        ContractError::Forbidden {
            role: Role::Auditor,
            action: "create note".into(),
        },
        ContractError::BadRequest("limit 0 is outside 1..=500".into()),
        ContractError::State("disk".into()),
        ContractError::TooLarge {
            what: "state value bytes".into(),
            len: 200_000,
            max: 131_072,
        },
    ];
    for error in all {
        assert_eq!(
            ContractError::from_payload(&error.to_payload()),
            Ok(error.clone())
        );
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(
        ContractError::Forbidden {
            role: Role::Auditor,
            action: "create note".into()
        }
        .to_string(),
        "a signer with role auditor may not create note"
    );
    assert_eq!(
        ContractError::Validation(vec![FieldError::new(
            "note_text",
            "required",
            "is required"
        )])
        .to_string(),
        "invalid record: note_text: is required (required)"
    );
    assert!(ContractError::from_payload(&[9]).is_err());
}

#[test]
fn dates_are_real_calendar_dates() {
    assert!(is_leap_year(2024) && is_leap_year(2000) && !is_leap_year(1900) && !is_leap_year(2023));
    assert_eq!(
        (
            days_in_month(2024, 2),
            days_in_month(2023, 2),
            days_in_month(2023, 13)
        ),
        (29, 28, 0)
    );
    assert!(Date::new(2024, 2, 29).is_ok());
    for (y, m, d) in [
        (2023, 2, 29),
        (1900, 2, 29),
        (2024, 4, 31),
        (2024, 13, 1),
        (2024, 0, 1),
        (2024, 1, 0),
        (0, 1, 1),
        (10_000, 1, 1),
    ] {
        assert!(Date::new(y, m, d).is_err(), "{y}-{m}-{d}");
    }
    assert_eq!(date("1970-01-01").days_since_epoch(), 0);
    assert_eq!(date("2000-03-01").days_since_epoch(), 11_017);
    assert_eq!(date("1969-12-31").days_since_epoch(), -1);
    assert_eq!(
        Date::from_days_since_epoch(19_875)
            .expect("date")
            .to_string(),
        "2024-06-01"
    );
    assert!(date("2024-01-31") < date("2024-02-01") && date("2023-12-31") < date("2024-01-01"));
    for bad in [
        "2024-2-01",
        "2024-02-30",
        "24-02-01",
        "2024/02/01",
        "2024-02-01T00:00:00Z",
        "２０２４-02-01",
        "",
    ] {
        assert!(bad.parse::<Date>().is_err(), "{bad}");
    }
    // Borsh: year u16, month, day; a non-calendar date does not decode.
    assert_eq!(
        borsh::to_vec(&date("2024-02-29")).expect("encode"),
        [0xe8, 0x07, 2, 29]
    );
    assert!(borsh::from_slice::<Date>(&[0xe7, 0x07, 2, 29]).is_err());
    assert!(borsh::from_slice::<Date>(&[0, 0, 1, 1]).is_err());
}

#[test]
fn datetimes_are_utc_seconds() {
    let dt = datetime("2024-05-30T10:15:07Z");
    assert_eq!(dt.to_string(), "2024-05-30T10:15:07Z");
    assert_eq!(dt.date(), date("2024-05-30"));
    assert_eq!(dt.time(), (10, 15, 7));
    assert_eq!(dt.unix_seconds(), 1_717_064_107);
    assert_eq!(
        borsh::to_vec(&dt).expect("encode"),
        1_717_064_107i64.to_le_bytes()
    );
    for same in [
        "2024-05-30 10:15:07Z",
        "2024-05-30t10:15:07z",
        "2024-05-30T10:15:07+00:00",
    ] {
        assert_eq!(datetime(same), dt, "{same}");
    }
    for bad in [
        "2024-05-30T10:15:07",
        "2024-05-30T10:15:07.5Z",
        "2024-05-30T10:15:07+01:00",
        "2024-05-30T24:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-05-30T10:60:00Z",
    ] {
        assert!(bad.parse::<DateTime>().is_err(), "{bad}");
    }
    assert_eq!(
        DateTime::from_unix_seconds(-1).expect("1969").to_string(),
        "1969-12-31T23:59:59Z"
    );
    assert!(DateTime::from_unix_seconds(i64::MAX).is_err());
    assert!(borsh::from_slice::<DateTime>(&i64::MIN.to_le_bytes()).is_err());
    assert_eq!(year_of_unix_millis(NOW_MS), 2024);
    assert_eq!(year_of_unix_millis(-1), 1969);
    assert!(year_of_unix_millis(i64::MIN) < 0 && year_of_unix_millis(i64::MAX) > 9999);
}

#[test]
fn decimals_keep_their_text_and_refuse_floats_in_disguise() {
    for good in [
        "0",
        "30",
        "30.5",
        "0.125",
        "-2",
        "007.10",
        "123456789012345678901234567890.123456789",
    ] {
        assert_eq!(good.parse::<Decimal>().expect(good).as_str(), good);
    }
    for bad in [
        "",
        ".5",
        "5.",
        "1e3",
        "+1",
        "NaN",
        "inf",
        "1,5",
        "--1",
        " 1",
        "0.1234567890",
        "1.2.3",
    ] {
        assert!(bad.parse::<Decimal>().is_err(), "{bad:?}");
    }
    let d: Decimal = "30.50".parse().expect("decimal");
    assert_eq!(
        borsh::from_slice::<Decimal>(&borsh::to_vec(&d).expect("encode")).expect("decode"),
        d
    );
    assert!(borsh::from_slice::<Decimal>(&borsh::to_vec("1e9").expect("encode")).is_err());
    assert!(borsh::from_slice::<Decimal>(&[0xff, 0xff, 0xff, 0xff]).is_err());
    // JSON: a string, or a number (read back as its shortest text).
    assert_eq!(
        serde_json::from_str::<Decimal>("\"2.50\"").expect("string"),
        "2.50".parse().expect("d")
    );
    assert_eq!(
        serde_json::from_str::<Decimal>("2.5")
            .expect("number")
            .as_str(),
        "2.5"
    );
    assert_eq!(
        serde_json::from_str::<Decimal>("30")
            .expect("integer")
            .as_str(),
        "30"
    );
    assert_eq!(serde_json::to_string(&d).expect("json"), "\"30.50\"");
}

#[test]
fn models_round_trip_through_json_with_omop_names() {
    let p = full_patient(42);
    let json = serde_json::to_value(&p).expect("json");
    assert_eq!(json["person_id"], 42);
    assert_eq!(json["birth_datetime"], "1980-02-29T06:30:00Z");
    assert_eq!(json["location_id"], 3);
    assert_eq!(serde_json::from_value::<Patient>(json).expect("back"), p);

    let d = full_drug(3, 42);
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(json["drug_exposure_start_date"], "2024-05-01");
    assert_eq!(json["quantity"], "30.5");
    assert_eq!(
        serde_json::from_value::<DrugExposure>(json).expect("back"),
        d
    );

    let doc = full_doctor(7, "ana@hospital.cu");
    let json = serde_json::to_value(&doc).expect("json");
    assert_eq!(json["certificate"], "30820100010203");
    assert_eq!(serde_json::from_value::<Doctor>(json).expect("back"), doc);
    let a = admin(1, "a@b.cu");
    assert_eq!(
        serde_json::from_value::<Admin>(serde_json::to_value(&a).expect("json")).expect("back"),
        a
    );
    let n = full_note(1, 2);
    assert_eq!(
        serde_json::from_value::<Note>(serde_json::to_value(&n).expect("json")).expect("back"),
        n
    );

    // Optional columns may be left out; unknown columns and impossible dates are refused.
    let minimal = serde_json::json!({
        "person_id": 5, "gender_concept_id": 8507, "year_of_birth": 1990, "race_concept_id": 0, "ethnicity_concept_id": 0
    });
    assert_eq!(
        serde_json::from_value::<Patient>(minimal.clone())
            .expect("minimal")
            .month_of_birth,
        None
    );
    let mut unknown = minimal.clone();
    unknown["first_name"] = "Ana".into();
    assert!(serde_json::from_value::<Patient>(unknown).is_err());
    let mut bad_date = serde_json::to_value(drug(1, 1)).expect("json");
    bad_date["drug_exposure_start_date"] = "2023-02-29".into();
    assert!(serde_json::from_value::<DrugExposure>(bad_date.clone()).is_err());
    bad_date["drug_exposure_start_date"] = 20230228.into();
    assert!(serde_json::from_value::<DrugExposure>(bad_date).is_err());
    let mut bad_hex = serde_json::to_value(admin(1, "a@b.cu")).expect("json");
    bad_hex["certificate"] = "3g".into();
    assert!(serde_json::from_value::<Admin>(bad_hex).is_err());
}
