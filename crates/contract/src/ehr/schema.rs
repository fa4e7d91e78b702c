//! The JSON Schema (2020-12, as OpenAPI 3.1 uses it) of each model and of its amendment body, generated
//! from the field description ([`super::fields`]) and the contract's limits, for the REST layer's API
//! document. Compiled with the `json-schema` feature (and in this crate's tests); validation never uses it.
//!
//! Each schema states what validation accepts, in JSON Schema's terms: integer bounds, text lengths in
//! characters (JSON Schema's `maxLength` unit, and the contract's), "not blank" as a pattern, the email,
//! date, date-time, decimal and hexadecimal shapes the contract reads, the required fields and no others,
//! and a patient's month and day rules. Two rules cannot be written in JSON Schema and are said in
//! descriptions: a drug exposure's ends are not before its start (fields cannot be compared), and a year
//! of birth is not after the current year (a schema that said it would change every New Year). The
//! document is therefore the same whatever the date.
//!
//! Patterns are ECMA-262 regular expressions that mean the same in the common engines (no look-around,
//! no Unicode classes); `pattern` is unanchored, so those meant for the whole value carry `^...$`.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::fields::{Field, FieldType, Shape, fields};
use super::id_field;
use super::record::RecordKind;
use super::text::{self, TextKind};
use super::validate::{BIRTH_YEAR_MIN, REASON_CHARS_MAX};
use super::values::{YEAR_MAX, YEAR_MIN};

/// A year 1..=9999 in four digits, as a group.
macro_rules! year {
    () => {
        "(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
    };
}

const _: () = assert!(YEAR_MIN == 1 && YEAR_MAX == 9999, "year!() spells 1..=9999");

/// `YYYY-MM-DD` with a year in 1..=9999 (not `0000`): with `format: date` (a real calendar date), exactly
/// what [`super::values::Date`] reads.
pub const DATE_PATTERN: &str = concat!("^", year!(), "-[0-9]{2}-[0-9]{2}$");

/// `YYYY-MM-DDTHH:MM:SSZ` (also `t`, `z`, `+00:00`) with a year in 1..=9999: with `format: date-time`,
/// what [`super::values::DateTime`] reads (it also reads a space for the `T`, which RFC 3339 does not),
/// without leap seconds or fractions.
pub const DATE_TIME_PATTERN: &str = concat!(
    "^",
    year!(),
    r"-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-5][0-9]([Zz]|\+00:00)$"
);

/// A [`super::values::Decimal`] that is not negative: digits (1 to 30), optionally `.` and 1 to 9 more,
/// or a negative zero (`-0`, `-0.00`), which is zero.
pub const NON_NEGATIVE_DECIMAL_PATTERN: &str =
    r"^(-?0{1,30}(\.0{1,9})?|[0-9]{1,30}(\.[0-9]{1,9})?)$";

/// The email shape of [`super::validate::is_email`]: ASCII, a local part of RFC 5322 atext characters but
/// `/` with single inner dots, a domain of at least two dot-separated labels of letters, digits and inner
/// hyphens. The length rules (local part ≤ 64, labels ≤ 63) are the `email` format's, and the whole is at
/// most [`super::validate::EMAIL_BYTES_MAX`] (`maxLength`).
pub const EMAIL_PATTERN: &str = concat!(
    r"^[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+)*",
    r"@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
);

/// Bytes in hexadecimal, at least one byte (either case), as certificates are written in JSON.
pub const HEX_BYTES_PATTERN: &str = "^([0-9a-fA-F]{2})+$";

/// Text with at least one character that is not white space: what the contract's "not blank"
/// (`str::trim`, Rust's `char::is_whitespace`, Unicode `White_Space`) leaves. Unanchored: it matches
/// anywhere. Derived from `char::is_whitespace` itself, so it follows the Unicode version the contract
/// is built with.
pub fn not_blank_pattern() -> &'static str {
    static PATTERN: LazyLock<String> =
        LazyLock::new(|| class(&text::runs(char::is_whitespace), true));
    &PATTERN
}

/// A character class (`[...]`, or `[^...]` when `negated`) of the code point runs `runs`, as `\uXXXX`
/// ranges (all in the Basic Multilingual Plane).
fn class(runs: &[(char, char)], negated: bool) -> String {
    let mut class = String::from(if negated { "[^" } else { "[" });
    for (first, last) in runs {
        let (first, last) = (u32::from(*first), u32::from(*last));
        assert!(last <= 0xFFFF, "a class beyond the BMP: U+{last:X}");
        class.push_str(&format!("\\u{first:04X}"));
        if first != last {
            class.push_str(&format!("-\\u{last:04X}"));
        }
    }
    class.push(']');
    class
}

/// What a text of `kind` may be, as validation judges it ([`super::text`]): only characters its kind
/// allows, and at least one a person can see. Anchored.
pub fn text_pattern(kind: TextKind) -> &'static str {
    fn build(kind: TextKind) -> String {
        let forbidden = kind.forbidden_ranges();
        let invisible_or_forbidden = text::runs(|c| {
            kind.forbids(c).is_some() || !text::has_visible(c.encode_utf8(&mut [0; 4]))
        });
        let allowed = class(&forbidden, true);
        let visible = class(&invisible_or_forbidden, true);
        format!("^{allowed}*{visible}{allowed}*$")
    }
    static SHORT: LazyLock<String> = LazyLock::new(|| build(TextKind::Short));
    static LONG: LazyLock<String> = LazyLock::new(|| build(TextKind::Long));
    match kind {
        TextKind::Short => &SHORT,
        TextKind::Long => &LONG,
    }
}

/// What a kind's model is, in a sentence, with the rules between its fields that JSON Schema cannot say.
fn model_description(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Patient => "A patient: OMOP PERSON plus names and a national identity number.",
        RecordKind::DrugExposure => {
            "A drug exposure: OMOP DRUG_EXPOSURE. Its end date and verbatim end date are not before its \
             start date, nor its end datetime before its start datetime."
        }
        RecordKind::Note => "A clinical note: OMOP NOTE.",
        RecordKind::Doctor => {
            "A doctor: OMOP PROVIDER plus names, email and the doctor's certificate (DER, hex)."
        }
        RecordKind::Admin => {
            "An administrator of an organization, with their certificate (DER, hex)."
        }
    }
}

/// What a field's type adds to its description, where its schema cannot say it all.
fn type_description(ty: FieldType) -> Option<String> {
    let not_after_this_year = "not after the current year (UTC) when the record is written";
    match ty {
        FieldType::Reference(kind) => Some(format!(
            "The {kind}: the `{}` of a {kind} that exists.",
            id_field(kind)
        )),
        FieldType::BirthYear => Some(format!(
            "{BIRTH_YEAR_MIN} or later, and {not_after_this_year}."
        )),
        FieldType::BirthDateTime => Some(format!(
            "UTC, whole seconds: `YYYY-MM-DDTHH:MM:SSZ`, in a year {BIRTH_YEAR_MIN} or later and \
             {not_after_this_year}."
        )),
        FieldType::NonNegativeDecimal => Some(
            "A decimal number as text, e.g. `\"12.50\"`: not negative (`-0` is zero), up to 30 \
             digits and 9 decimals."
                .to_owned(),
        ),
        _ => None,
    }
}

/// The schema of one field's value (`null` allowed where the field is optional).
pub fn field_schema(field: &Field) -> Value {
    let ty = field.ty;
    let json_type = match ty.shape() {
        Shape::Integer => "integer",
        Shape::Text | Shape::Date | Shape::DateTime | Shape::Decimal | Shape::Bytes => "string",
    };
    let mut schema = Map::new();
    let mut set = |key: &str, value: Value| {
        schema.insert(key.to_owned(), value);
    };
    set(
        "type",
        if field.required {
            json!(json_type)
        } else {
            json!([json_type, "null"])
        },
    );
    if ty.shape() == Shape::Integer {
        set("format", json!("int64"));
    }
    if let Some(minimum) = ty.minimum() {
        set("minimum", json!(minimum));
    }
    if let Some(maximum) = ty.maximum() {
        set("maximum", json!(maximum));
    }
    if let Some(max) = ty.max_chars() {
        set("maxLength", json!(max));
    }
    match ty {
        FieldType::Date => {
            set("format", json!("date"));
            set("pattern", json!(DATE_PATTERN));
        }
        FieldType::DateTime | FieldType::BirthDateTime => {
            set("format", json!("date-time"));
            set("pattern", json!(DATE_TIME_PATTERN));
        }
        FieldType::NonNegativeDecimal => set("pattern", json!(NON_NEGATIVE_DECIMAL_PATTERN)),
        FieldType::Email => {
            set("format", json!("email"));
            set("pattern", json!(EMAIL_PATTERN));
        }
        FieldType::Certificate => set("pattern", json!(HEX_BYTES_PATTERN)),
        _ => {}
    }
    let description: Vec<String> = [
        Some(field.doc.to_owned()).filter(|doc| !doc.is_empty()),
        type_description(ty),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !description.is_empty() {
        set("description", json!(description.join(" ")));
    }
    match ty {
        FieldType::ShortText => text_rules(&mut schema, TextKind::Short),
        FieldType::LongText => text_rules(&mut schema, TextKind::Long),
        _ => {}
    }
    Value::Object(schema)
}

fn properties<'a>(fields: impl Iterator<Item = &'a Field>) -> Map<String, Value> {
    fields
        .map(|f| (f.name.to_owned(), field_schema(f)))
        .collect()
}

/// The schema of a kind's model: an object with exactly its fields, the required ones required, and (for
/// patients) the rules between the year, month and day of birth.
pub fn json_schema(kind: RecordKind) -> Value {
    let fields = fields(kind);
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "description": model_description(kind),
        "properties": properties(fields.iter()),
        "required": required,
        "additionalProperties": false,
    });
    if kind == RecordKind::Patient {
        schema["allOf"] = Value::from(birth_date_rules(true));
    }
    schema
}

/// The `changes` of a kind's amendment: at least one of the model's fields but the immutable ones, each
/// with its rules, merged over the current version by the REST layer.
pub fn changes_schema(kind: RecordKind) -> Value {
    let fields = fields(kind);
    let immutable: Vec<&str> = fields
        .iter()
        .filter(|f| f.immutable())
        .map(|f| f.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "description": format!(
            "The fields to change, by their OMOP names, with their new values: merged over the current \
             version. {} cannot change. A change that fits the field but not the fields left as they \
             are (a day the current month lacks; an end before the current start) is refused.",
            immutable.join(", ")
        ),
        "properties": properties(fields.iter().filter(|f| !f.immutable())),
        "additionalProperties": false,
        "minProperties": 1,
    });
    if kind == RecordKind::Patient {
        schema["allOf"] = Value::from(birth_date_rules(false));
    }
    schema
}

/// An amendment's reason: not blank, at most [`REASON_CHARS_MAX`] characters.
pub fn reason_schema() -> Value {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("string"));
    schema.insert(
        "description".into(),
        json!("Why the record is amended; kept in its history."),
    );
    schema.insert("maxLength".into(), json!(REASON_CHARS_MAX));
    text_rules(&mut schema, TextKind::Long);
    Value::Object(schema)
}

/// Makes a text schema refuse what validation refuses in a text of `kind`: blank text (only white space
/// and invisible characters), control characters, and (in names and identifiers) bidirectional controls.
fn text_rules(schema: &mut Map<String, Value>, kind: TextKind) {
    schema.insert("minLength".into(), json!(1));
    schema.insert("pattern".into(), json!(text_pattern(kind)));
}

/// A kind's amendment body: its [`changes_schema`] (inline; a document may put it in a component and
/// refer to it), a [`reason_schema`] and the optional version it was made on.
pub fn amendment_schema(kind: RecordKind) -> Value {
    json!({
        "type": "object",
        "description": "An amendment: the fields to change and why.",
        "required": ["changes", "reason"],
        "properties": {
            "changes": changes_schema(kind),
            "reason": reason_schema(),
            "expected_version": {
                "type": "integer",
                "minimum": 1,
                "maximum": u32::MAX,
                "description": "The `version_number` the amendment was made on (as `If-Match` does): \
                    if the record is now at another version, nothing is written and the answer is 412 \
                    with the current version. Left out, the changes are merged over whatever version \
                    is current.",
            },
        },
        "additionalProperties": false,
    })
}

/// The rules between a patient's year, month and day of birth, as validation checks them: a day needs a
/// month, and is one of that month's days (February 29th in leap years only). In a whole record
/// (`whole`) a missing month is none; in an amendment's `changes` a field left out keeps its current
/// value, so each rule applies only to the fields present (the others are judged against the current
/// version).
fn birth_date_rules(whole: bool) -> Vec<Value> {
    let integer = json!({"type": "integer"});
    let given = |month: Value, day: Value| {
        json!({
            "required": ["day_of_birth", "month_of_birth"],
            "properties": {"month_of_birth": month, "day_of_birth": day}
        })
    };
    let day_needs_month = if whole {
        json!({
            "if": {"required": ["day_of_birth"], "properties": {"day_of_birth": integer}},
            "then": {"required": ["month_of_birth"], "properties": {"month_of_birth": integer}}
        })
    } else {
        json!({
            "if": given(json!(true), integer.clone()),
            "then": {"properties": {"month_of_birth": integer}}
        })
    };
    let days_at_most = |months: Value, days: i64| {
        json!({
            "if": given(months, integer.clone()),
            "then": {"properties": {"day_of_birth": {"maximum": days}}}
        })
    };
    let leap_day_in_leap_years = json!({
        "if": given(json!({"const": 2}), json!({"const": 29})),
        "then": {"properties": {"year_of_birth": {"anyOf": [
            {"multipleOf": 400},
            {"multipleOf": 4, "not": {"multipleOf": 100}}
        ]}}}
    });
    vec![
        day_needs_month,
        days_at_most(json!({"enum": [4, 6, 9, 11]}), 30),
        days_at_most(json!({"const": 2}), 29),
        leap_day_in_leap_years,
    ]
}
