//! The field description against the models, and validation by field type. The failures this pins: a
//! description that names other fields than the model's serde form (a `#[serde(rename)]`, a reordered
//! field), a `required` flag that is not "the model cannot do without it", a kind whose id, patient or
//! email field is not where the contract looks for it, and a field whose own rules are not its type's
//! (every field of every model is tried with its type's boundary values, messages included).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::ehr::fields::{self, Field, FieldType, Fields, Shape};
use crate::ehr::validate::{EMAIL_BYTES_MAX, LONG_TEXT_CHARS_MAX, SHORT_TEXT_CHARS_MAX};

const NOW_YEAR: i64 = 2024;

/// The names in a model's JSON text, in the order serde writes them.
fn serde_order<M: Serialize>(model: &M) -> Vec<String> {
    let text = serde_json::to_string(model).expect("serializes");
    let object: serde_json::Map<String, Value> = serde_json::from_str(&text).expect("an object");
    let mut names: Vec<(usize, String)> = object
        .keys()
        .map(|name| {
            let at = text
                .find(&format!("\"{name}\":"))
                .expect("each key is in the text");
            (at, name.clone())
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, name)| name).collect()
}

fn names(fields: &[Field]) -> Vec<String> {
    fields.iter().map(|f| f.name.to_owned()).collect()
}

/// The description names the model's serde fields in serde order; `required` is exactly "the model does
/// not deserialize without it", and every optional field may also be `null`.
fn describes<M: Fields + Serialize + DeserializeOwned>(model: &M) {
    assert_eq!(names(M::FIELDS), serde_order(model), "{}", M::NAME);
    let json = serde_json::to_value(model).expect("serializes");
    for field in M::FIELDS {
        let mut without = json.clone();
        without
            .as_object_mut()
            .expect("an object")
            .remove(field.name);
        let parses_without = serde_json::from_value::<M>(without).is_ok();
        assert_eq!(
            field.required,
            !parses_without,
            "{}.{} required",
            M::NAME,
            field.name
        );
        let mut null = json.clone();
        null[field.name] = Value::Null;
        assert_eq!(
            serde_json::from_value::<M>(null).is_ok(),
            !field.required,
            "{}.{} null",
            M::NAME,
            field.name
        );
    }
}

#[test]
fn the_description_is_each_models_serde_form() {
    describes(&full_patient(1));
    describes(&full_drug(1, 1));
    describes(&full_note(1, 1));
    describes(&full_doctor(1, "a@b.cu"));
    describes(&admin(1, "a@b.cu"));
    for kind in RecordKind::ALL {
        assert_eq!(
            fields::model_name(kind).to_ascii_lowercase(),
            kind.as_str().replace('_', ""),
            "{kind}"
        );
    }
}

#[test]
fn ids_patients_and_emails_are_where_the_contract_looks_for_them() {
    for kind in RecordKind::ALL {
        let of_type = |wanted: fn(FieldType) -> bool| -> Vec<&str> {
            fields::fields(kind)
                .iter()
                .filter(|f| wanted(f.ty))
                .map(|f| f.name)
                .collect()
        };
        assert_eq!(
            of_type(|t| t == FieldType::RecordId),
            [id_field(kind)],
            "{kind}: one record id, the contract's id field"
        );
        let patient = of_type(|t| t == FieldType::Reference(RecordKind::Patient));
        assert_eq!(
            patient,
            if kind.belongs_to_patient() {
                vec!["person_id"]
            } else {
                vec![]
            },
            "{kind}: the patient"
        );
        assert_eq!(
            of_type(|t| t == FieldType::Email),
            if kind.has_email() {
                vec!["email"]
            } else {
                vec![]
            },
            "{kind}: the indexed email"
        );
        let immutable: Vec<&str> = fields::fields(kind)
            .iter()
            .filter(|f| f.immutable())
            .map(|f| f.name)
            .collect();
        let expected: &[&str] = match kind {
            RecordKind::Patient => &["person_id"],
            RecordKind::Note => &["note_id", "person_id"],
            RecordKind::DrugExposure => &["drug_exposure_id", "person_id"],
            RecordKind::Doctor => &["provider_id", "email", "certificate"],
            RecordKind::Admin => &["admin_id", "email", "certificate"],
        };
        assert_eq!(
            immutable, expected,
            "{kind}: what an amendment may not change"
        );
        for field in fields::fields(kind) {
            assert_eq!(fields::field(kind, field.name), Some(field));
        }
        assert_eq!(fields::field(kind, "no_such_field"), None);
    }
}

/// A field type's boundary values (JSON) and what the field's own rules say of each: `None` valid, or
/// the code and message (`{field}` is not substituted: messages do not name their field).
fn boundaries(ty: FieldType, required: bool) -> Vec<(Value, Option<(&'static str, String)>)> {
    let out_of_range = |m: String| Some(("out_of_range", m));
    let long = |n: usize| Value::from("x".repeat(n));
    let too_long = |n: usize, max: usize| {
        Some((
            "too_long",
            format!("is {n} characters long; the limit is {max}"),
        ))
    };
    let blank = if required {
        Some(("required", "is required".to_owned()))
    } else {
        Some((
            "blank",
            "has nothing visible in it; leave it out instead".to_owned(),
        ))
    };
    match ty {
        FieldType::RecordId | FieldType::Id | FieldType::Reference(_) => vec![
            (
                json!(0),
                out_of_range("must be a positive id, not 0".into()),
            ),
            (
                json!(-7),
                out_of_range("must be a positive id, not -7".into()),
            ),
            (json!(1), None),
            (json!(i64::MAX), None),
        ],
        FieldType::Concept => vec![
            (
                json!(-1),
                out_of_range("must be a concept id (0 or more), not -1".into()),
            ),
            (json!(0), None),
            (json!(44814640), None),
        ],
        FieldType::Count => vec![
            (
                json!(-1),
                out_of_range("must not be negative, not -1".into()),
            ),
            (json!(0), None),
        ],
        FieldType::BirthYear => vec![
            (
                json!(1849),
                out_of_range("1849 is not a plausible year of birth (1850..=2024)".into()),
            ),
            (json!(1850), None),
            (json!(NOW_YEAR), None),
            (
                json!(2025),
                out_of_range("2025 is not a plausible year of birth (1850..=2024)".into()),
            ),
        ],
        FieldType::BirthMonth => vec![
            (
                json!(0),
                Some(("invalid_date", "0 is not a month (1..=12)".into())),
            ),
            (json!(1), None),
            (json!(12), None),
            (
                json!(13),
                Some(("invalid_date", "13 is not a month (1..=12)".into())),
            ),
        ],
        FieldType::BirthDateTime => vec![
            (
                json!("1849-12-31T23:59:59Z"),
                out_of_range("1849 is not a plausible year of birth (1850..=2024)".into()),
            ),
            (json!("1850-01-01T00:00:00Z"), None),
            (json!("2024-12-31T23:59:59Z"), None),
            (
                json!("2025-01-01T00:00:00Z"),
                out_of_range("2025 is not a plausible year of birth (1850..=2024)".into()),
            ),
        ],
        FieldType::NonNegativeDecimal => vec![
            (
                json!("-0.5"),
                out_of_range("must not be negative, not -0.5".into()),
            ),
            (json!("-0.00"), None),
            (json!("0"), None),
            (json!("12.50"), None),
        ],
        FieldType::ShortText => vec![
            (json!(" \u{3000}\t"), blank.clone()),
            (json!("\u{200B}\u{200D}\u{FEFF}"), blank.clone()),
            (
                json!("Ana\u{202E}zeréP"),
                Some((
                    "bidi_control",
                    "holds U+202E (a bidirectional control character) at character 4".into(),
                )),
            ),
            (
                json!("x\u{1b}[31m"),
                Some((
                    "control_character",
                    "holds U+001B (a control character) at character 2".into(),
                )),
            ),
            (
                json!("two\nlines"),
                Some((
                    "control_character",
                    "holds U+000A (a control character) at character 4".into(),
                )),
            ),
            (json!("é".repeat(SHORT_TEXT_CHARS_MAX)), None),
            (
                long(SHORT_TEXT_CHARS_MAX + 1),
                too_long(SHORT_TEXT_CHARS_MAX + 1, SHORT_TEXT_CHARS_MAX),
            ),
        ],
        FieldType::LongText => vec![
            (json!(""), blank.clone()),
            (json!("\u{2060} \n"), blank),
            (json!("línea\r\notra\tcolumna \u{202E}"), None),
            (
                json!("nul\u{0}"),
                Some((
                    "control_character",
                    "holds U+0000 (a control character) at character 4".into(),
                )),
            ),
            (json!("😷".repeat(LONG_TEXT_CHARS_MAX)), None),
            (
                long(LONG_TEXT_CHARS_MAX + 1),
                too_long(LONG_TEXT_CHARS_MAX + 1, LONG_TEXT_CHARS_MAX),
            ),
        ],
        FieldType::Email => vec![
            (json!(""), Some(("required", "is required".into()))),
            (json!("ana@hospital.sld.cu"), None),
            (
                json!("ana@localhost"),
                Some((
                    "invalid_email",
                    "is not an email address like name@example.org".into(),
                )),
            ),
            (
                json!(format!("{}@b.cu", "a".repeat(EMAIL_BYTES_MAX - 4))),
                Some((
                    "too_long",
                    format!(
                        "is {} bytes long; the limit is {EMAIL_BYTES_MAX}",
                        EMAIL_BYTES_MAX + 1
                    ),
                )),
            ),
        ],
        FieldType::Certificate => {
            let max = limits::CERTIFICATE_BYTES_MAX;
            vec![
                (json!(""), Some(("required", "is required".into()))),
                (json!("30".repeat(max)), None),
                (
                    json!("30".repeat(max + 1)),
                    Some((
                        "too_long",
                        format!("is {} bytes long; the limit is {max}", max + 1),
                    )),
                ),
            ]
        }
        // No rules of their own: dates and date-times are valid by construction, a day of birth is
        // judged with its month (`validation::each_rule_names_its_field_and_code`).
        FieldType::BirthDay | FieldType::Date | FieldType::DateTime => vec![],
    }
}

#[test]
fn every_field_is_validated_by_its_type() {
    let mut tried = 0;
    for kind in RecordKind::ALL {
        let sample = full_json(kind);
        let record = |json| record_from_json(kind, json);
        assert_eq!(
            validate_record_errors(record(sample.clone()).expect("the sample parses")),
            [],
            "{kind}: the full sample is valid"
        );
        for field in fields::fields(kind) {
            let mut cases = boundaries(field.ty, field.required);
            if !field.required {
                cases.push((Value::Null, None));
            }
            for (value, expected) in cases {
                let mut json = sample.clone();
                json[field.name] = value.clone();
                let record = record(json).unwrap_or_else(|e| {
                    panic!("{kind}.{} = {value}: does not parse: {e}", field.name)
                });
                let own: Vec<(String, String)> = validate_record_errors(record)
                    .into_iter()
                    .filter(|e| e.field == field.name)
                    .map(|e| (e.code, e.message))
                    .collect();
                let expected: Vec<(String, String)> = expected
                    .into_iter()
                    .map(|(code, message)| (code.to_owned(), message))
                    .collect();
                assert_eq!(own, expected, "{kind}.{} = {value:.40}", field.name);
                tried += 1;
            }
        }
    }
    assert!(tried > 200, "{tried}");
}

fn validate_record_errors(record: NewRecord) -> Vec<crate::error::FieldError> {
    validate::validate_record(&record, NOW_YEAR)
}

#[test]
fn field_types_and_shapes_agree() {
    for kind in RecordKind::ALL {
        for field in fields::fields(kind) {
            let ty = field.ty;
            assert_eq!(
                ty.max_chars().is_some(),
                matches!(
                    ty,
                    FieldType::ShortText | FieldType::LongText | FieldType::Email
                ),
                "{kind}.{}",
                field.name
            );
            assert_eq!(
                ty.minimum().is_some(),
                ty.shape() == Shape::Integer,
                "{kind}.{}: every integer has a lower bound",
                field.name
            );
            if let (Some(min), Some(max)) = (ty.minimum(), ty.maximum()) {
                assert!(min <= max, "{kind}.{}", field.name);
            }
        }
    }
}
