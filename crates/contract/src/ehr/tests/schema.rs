//! The JSON Schemas against the contract. The failures this pins: a schema that names other fields or
//! requires others than the model, an amendment that may name an immutable field, a documented bound or
//! length that validation does not apply (or the reverse), a pattern that accepts what the contract
//! refuses or refuses what it accepts, and a schema that depends on the current year.

use regex_lite::Regex;
use serde_json::{Value, json};

use super::*;
use crate::ehr::fields::{self, FieldType};
use crate::ehr::schema::{
    self, DATE_PATTERN, DATE_TIME_PATTERN, EMAIL_PATTERN, HEX_BYTES_PATTERN,
    NON_NEGATIVE_DECIMAL_PATTERN, not_blank_pattern,
};
use crate::ehr::validate::{BIRTH_YEAR_MIN, is_email, validate_record};

fn names(schema: &Value, key: &str) -> Vec<String> {
    match &schema[key] {
        Value::Object(properties) => properties.keys().cloned().collect(),
        Value::Array(names) => names
            .iter()
            .map(|n| n.as_str().expect("a name").to_owned())
            .collect(),
        _ => vec![],
    }
}

#[test]
fn schemas_have_the_models_fields_and_requirements() {
    for kind in RecordKind::ALL {
        let fields = fields::fields(kind);
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let model = schema::json_schema(kind);
        assert_eq!(model["type"], "object");
        assert_eq!(model["additionalProperties"], false, "{kind}");
        assert_eq!(
            names(&model, "properties"),
            sorted(fields.iter().map(|f| f.name.to_owned()).collect()),
            "{kind}"
        );
        let required: Vec<String> = fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.to_owned())
            .collect();
        assert_eq!(names(&model, "required"), required, "{kind}");
        for field in fields {
            let ty = &model["properties"][field.name]["type"];
            assert_eq!(
                ty.is_array(),
                !field.required,
                "{kind}.{}: null",
                field.name
            );
        }

        let amendment = schema::amendment_schema(kind);
        assert_eq!(names(&amendment, "required"), ["changes", "reason"]);
        assert_eq!(amendment["additionalProperties"], false);
        let changes = &amendment["properties"]["changes"];
        assert_eq!(changes, &schema::changes_schema(kind));
        assert_eq!(changes["additionalProperties"], false);
        assert_eq!(changes["minProperties"], 1);
        assert_eq!(
            names(changes, "properties"),
            sorted(
                fields
                    .iter()
                    .filter(|f| !f.immutable())
                    .map(|f| f.name.to_owned())
                    .collect()
            ),
            "{kind}: changes name every field but the immutable ones"
        );
        assert_eq!(amendment["properties"]["reason"], schema::reason_schema());
    }
}

#[test]
fn schemas_do_not_depend_on_the_year() {
    for kind in RecordKind::ALL {
        let model = schema::json_schema(kind);
        for field in fields::fields(kind) {
            let property = &model["properties"][field.name];
            match field.ty {
                FieldType::BirthYear => {
                    assert_eq!(property["minimum"], BIRTH_YEAR_MIN);
                    assert_eq!(property["maximum"], Value::Null, "said in words instead");
                    let description = property["description"].as_str().expect("described");
                    assert!(description.contains("current year"), "{description}");
                }
                FieldType::BirthDateTime => {
                    assert_eq!(property["pattern"], DATE_TIME_PATTERN);
                    let description = property["description"].as_str().expect("described");
                    assert!(description.contains("current year"), "{description}");
                }
                _ => {}
            }
        }
    }
}

/// Each documented bound and length is validation's: at a bound the field passes, one past it the
/// field is refused; required text of white space only is refused, one visible character passes.
#[test]
fn documented_limits_are_validations() {
    let mut checked = 0;
    for kind in RecordKind::ALL {
        let sample = full_json(kind);
        let model = schema::json_schema(kind);
        for field in fields::fields(kind) {
            let property = &model["properties"][field.name];
            let refused = |value: Value| {
                let mut json = sample.clone();
                json[field.name] = value;
                // A day of birth is bounded by its month: try it in a month of 31 days.
                if field.name == "day_of_birth" {
                    json["month_of_birth"] = json!(1);
                }
                let record = record_from_json(kind, json).expect("parses");
                validate_record(&record, 2024)
                    .iter()
                    .any(|e| e.field == field.name)
            };
            let at = |what: &str| format!("{kind}.{} {what}", field.name);
            if let Some(min) = property["minimum"].as_i64() {
                assert!(!refused(json!(min)), "{}", at("at minimum"));
                assert!(refused(json!(min - 1)), "{}", at("below minimum"));
                checked += 1;
            }
            if let Some(max) = property["maximum"].as_i64() {
                assert!(!refused(json!(max)), "{}", at("at maximum"));
                assert!(refused(json!(max + 1)), "{}", at("above maximum"));
                checked += 1;
            }
            if let Some(max) = property["maxLength"].as_u64()
                && field.ty != FieldType::Email
            {
                let max = max as usize;
                assert!(!refused(json!("😷".repeat(max))), "{}", at("at maxLength"));
                assert!(
                    refused(json!("x".repeat(max + 1))),
                    "{}",
                    at("past maxLength")
                );
                checked += 1;
            }
            if property["minLength"] == 1 {
                assert!(refused(json!(" \u{3000}\t")), "{}", at("blank"));
                assert!(!refused(json!("\u{3000}x")), "{}", at("not blank"));
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "{checked}");
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

#[test]
fn not_blank_is_what_trim_leaves() {
    // The document's pattern, unchanged since it was written by hand.
    assert_eq!(
        not_blank_pattern(),
        "[^\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029\\u202F\\u205F\\u3000]"
    );
    let not_blank = regex(not_blank_pattern());
    for c in (0..=0x3100).filter_map(char::from_u32) {
        let text = format!("{c}");
        assert_eq!(
            not_blank.is_match(&text),
            !text.trim().is_empty(),
            "U+{:04X}",
            u32::from(c)
        );
    }
    assert!(not_blank.is_match(" \u{3000}x\t"));
    assert!(!not_blank.is_match(""));
}

#[test]
fn text_patterns_accept_exactly_the_text_validation_accepts() {
    use crate::ehr::schema::text_pattern;
    use crate::ehr::text::{TextKind, has_visible};
    let alphabet = "a é\u{0}\u{1b}\n\r\t\u{7f}\u{85}\u{a0}\u{ad}\u{200b}\u{200d}\u{200e}\u{202e}\u{2066}\u{2069}\u{2060}\u{3000}\u{feff}\u{fe0f}李😷";
    for kind in [TextKind::Short, TextKind::Long] {
        let pattern = regex(text_pattern(kind));
        for text in strings(alphabet, 6, 4_000) {
            let valid = has_visible(&text) && kind.first_forbidden(&text).is_none();
            assert_eq!(pattern.is_match(&text), valid, "{kind:?} {text:?}");
        }
        // Every single character, too.
        for c in (0..=0xFFFF).filter_map(char::from_u32) {
            let text = c.to_string();
            let valid = has_visible(&text) && kind.first_forbidden(&text).is_none();
            assert_eq!(
                pattern.is_match(&text),
                valid,
                "{kind:?} U+{:04X}",
                u32::from(c)
            );
        }
    }
}

/// `count` strings of up to `len_max` characters from `alphabet`, the same every run.
fn strings(alphabet: &str, len_max: usize, count: usize) -> Vec<String> {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % n
    };
    (0..count)
        .map(|_| {
            let len = next(len_max + 1);
            (0..len).map(|_| alphabet[next(alphabet.len())]).collect()
        })
        .collect()
}

#[test]
fn patterns_accept_exactly_what_the_contract_reads() {
    let email = regex(EMAIL_PATTERN);
    // Short enough that the length rules (the `email` format's and `maxLength`) do not apply.
    let locals = strings("ab9.-_/+'ñ Z", 4, 20_000);
    let domains = strings("ab9.-_Zñ", 7, 20_000);
    let emails: Vec<String> = locals
        .iter()
        .zip(&domains)
        .map(|(local, domain)| format!("{local}@{domain}"))
        .chain(strings("ab.@-", 7, 5_000))
        .collect();
    for text in &emails {
        assert_eq!(email.is_match(text), is_email(text), "email {text:?}");
    }
    assert!(
        emails.iter().filter(|e| is_email(e)).count() > 50,
        "the corpus has emails"
    );

    let decimal = regex(NON_NEGATIVE_DECIMAL_PATTERN);
    let mut accepted_count = 0;
    for text in strings("0019.-+e ,", 7, 20_000) {
        let accepted = text.parse::<Decimal>().is_ok_and(|d| !d.is_negative());
        assert_eq!(decimal.is_match(&text), accepted, "decimal {text:?}");
        accepted_count += usize::from(accepted);
    }
    assert!(
        accepted_count > 500,
        "the corpus has decimals: {accepted_count}"
    );
    let digits = |n| "9".repeat(n);
    for (text, accepted) in [
        (format!("{}.{}", digits(30), digits(9)), true),
        (format!("{}.5", digits(31)), false),
        (format!("1.{}", digits(10)), false),
    ] {
        assert_eq!(decimal.is_match(&text), accepted, "decimal {text}");
    }

    let hex = regex(HEX_BYTES_PATTERN);
    for text in strings("0aF9g ", 6, 2_000) {
        let accepted = serde_json::from_value::<Admin>(json!({
            "admin_id": 1, "given_name": "A", "family_name": "B", "email": "a@b.cu", "certificate": text
        }))
        .is_ok_and(|a| !a.certificate.is_empty());
        assert_eq!(hex.is_match(&text), accepted, "hex {text:?}");
    }
}

/// Every date and date-time the contract writes matches; shapes it does not read do not. The calendar
/// and the clock (a February 30th, a minute 60) are left to `format: date` and `format: date-time`.
#[test]
fn date_patterns_match_every_date_the_contract_reads() {
    let date_pattern = regex(DATE_PATTERN);
    let date_time_pattern = regex(DATE_TIME_PATTERN);
    let first = Date::new(1, 1, 1).expect("date").days_since_epoch();
    let last = Date::new(9999, 12, 31).expect("date").days_since_epoch();
    for days in (first..=last).step_by(997).chain([first, last]) {
        let day = Date::from_days_since_epoch(days).expect("in range");
        assert!(date_pattern.is_match(&day.to_string()), "{day}");
        let at = DateTime::new(day, days.rem_euclid(24), 59, days.rem_euclid(60)).expect("time");
        for text in [
            at.to_string(),
            at.to_string().to_lowercase(),
            at.to_string().replace('Z', "+00:00"),
        ] {
            assert!(text.parse::<DateTime>().is_ok(), "{text}");
            assert!(date_time_pattern.is_match(&text), "{text}");
        }
    }
    for not_read in [
        "0000-06-01",
        "2024-6-01",
        "2024-06-01 ",
        "2024.06.01",
        "０２４-06-01",
    ] {
        assert!(not_read.parse::<Date>().is_err() && !date_pattern.is_match(not_read));
    }
    for not_read in [
        "2024-06-01T10:15:07",
        "2024-06-01T10:15:07.25Z",
        "2024-06-01T10:15:07-05:00",
        "2024-06-01T10:15:60Z",
    ] {
        assert!(not_read.parse::<DateTime>().is_err() && !date_time_pattern.is_match(not_read));
    }
    // The one shape the contract reads that RFC 3339 (and so the document) does not: a space for `T`.
    assert!("2024-05-30 10:15:07Z".parse::<DateTime>().is_ok());
    assert!(!date_time_pattern.is_match("2024-05-30 10:15:07Z"));
}
