//! Field validation of the models: every failing field is reported, by its OMOP name, with a stable code.
//!
//! These checks need no state; the one check that does (a note's or drug exposure's patient exists) is
//! made by the contract, which appends an `unknown_patient` error to the same list. A field's own rules
//! follow from its [`FieldType`] in its model's description ([`super::fields`]), so no field is listed
//! here; the rules between fields (a day of birth and its month, an end and its start) are written out
//! below. The rules:
//! - ids (`*_id` that are not concept ids) are positive; concept ids are non-negative (OMOP uses 0 for
//!   "no matching concept"); counts (`refills`, `days_supply`) and `quantity` are non-negative;
//! - text has something visible in it (not only white space and invisible characters: required text is
//!   then missing, optional text should be left out), holds no control character (long texts may hold
//!   line ends and tabs) and, in names and identifiers, no bidirectional control ([`super::text`]);
//! - text is at most [`SHORT_TEXT_CHARS_MAX`]
//!   characters, except `note_text` and `sig` (OMOP `varchar(MAX)`) at most [`LONG_TEXT_CHARS_MAX`], and an
//!   amendment's reason at most [`REASON_CHARS_MAX`]. OMOP's own `varchar(n)` widths are not enforced;
//! - a birth year is within 1850..=the invocation's year, a birth month and day make a real date, and a
//!   provider's optional year of birth is plausible too;
//! - an end (date or datetime, and the verbatim end date) is not before its start;
//! - emails have a plain `local@domain.tld` shape (ASCII, no spaces, no `/`);
//! - certificates are present and at most `limits::CERTIFICATE_BYTES_MAX` bytes (the peer validates them).
//!
//! Dates themselves cannot be invalid here: [`super::values::Date`] refuses February 30th when it is parsed
//! or decoded, so such a call fails to decode before validation.

use medledger_types::limits;

use super::calls::NewRecord;
use super::fields::{Field, FieldType, FieldValue, Fields, fields};
use super::models::{DrugExposure, Patient};
use super::text::{Forbidden, TextKind, has_visible};
use super::values::days_in_month;
use crate::error::{FieldError, codes};

/// Earliest plausible year of birth.
pub const BIRTH_YEAR_MIN: i64 = 1850;
/// Longest email address, in bytes (RFC 5321's path limit); emails are ASCII, so also in characters.
pub const EMAIL_BYTES_MAX: usize = 254;

// Text limits count characters (Unicode scalar values, `str::chars`), not bytes: that is the unit of JSON
// Schema's `maxLength`, so the API document can state each limit exactly (a byte limit cannot be written
// as a `maxLength`: 255 bytes are 63 to 255 characters), and an accented Spanish name gets as many
// letters as an English one. A character is at most 4 bytes in UTF-8, so each limit also bounds the bytes
// a field can take on the ledger; the assertions below keep those bounds within the ledger's limits.

/// Longest short text (names, codes, identifiers, source values), in characters (≤ 1020 bytes).
pub const SHORT_TEXT_CHARS_MAX: usize = 255;
/// Longest long text (`note_text`, `sig`), in characters: chosen so that the worst case, 4 bytes a
/// character, is `limits::NOTE_TEXT_BYTES_MAX`, which keeps a record well under `limits::VALUE_BYTES_MAX`.
pub const LONG_TEXT_CHARS_MAX: usize = limits::NOTE_TEXT_BYTES_MAX / 4;
/// Longest amendment reason, in characters (≤ 4 KiB).
pub const REASON_CHARS_MAX: usize = 1024;
/// Most bytes a character takes in UTF-8.
const UTF8_BYTES_PER_CHAR_MAX: usize = 4;

const _: () = assert!(LONG_TEXT_CHARS_MAX * UTF8_BYTES_PER_CHAR_MAX <= limits::NOTE_TEXT_BYTES_MAX);
// The largest record (a drug exposure: one long text and seven short ones) with the largest header (an
// amendment reason) stays well under a world-state value: the rest is numbers, dates and an email.
const _: () = assert!(
    (LONG_TEXT_CHARS_MAX + 8 * SHORT_TEXT_CHARS_MAX + REASON_CHARS_MAX) * UTF8_BYTES_PER_CHAR_MAX
        < limits::VALUE_BYTES_MAX * 2 / 3
);

/// Collects field errors.
#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn push(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// Checks every field of `model` by its [`FieldType`]'s rules (an absent optional field is valid).
    fn fields<M: Fields>(&mut self, model: &M, now_year: i64) {
        model.for_each_value(|field, value| {
            if let Some(value) = value {
                self.field(field, value, now_year);
            }
        });
    }

    /// One field's own rules. A value of another shape than its type's cannot occur (the model macro
    /// refuses to compile such a field), so it passes.
    fn field(&mut self, field: &Field, value: FieldValue<'_>, now_year: i64) {
        let name = field.name;
        match (field.ty, value) {
            (
                FieldType::RecordId | FieldType::Id | FieldType::Reference(_),
                FieldValue::Integer(v),
            ) => self.id(name, v),
            (FieldType::Concept, FieldValue::Integer(v)) => self.concept(name, v),
            (FieldType::Count, FieldValue::Integer(v)) => self.non_negative(name, v),
            (FieldType::BirthYear, FieldValue::Integer(year)) => self.year(name, year, now_year),
            (FieldType::BirthMonth, FieldValue::Integer(month)) if !is_month(month) => self.push(
                name,
                codes::INVALID_DATE,
                format!("{month} is not a month (1..=12)"),
            ),
            (FieldType::BirthDateTime, FieldValue::DateTime(dt)) => {
                self.year(name, dt.date().year(), now_year)
            }
            (FieldType::NonNegativeDecimal, FieldValue::Decimal(q)) if q.is_negative() => self
                .push(
                    name,
                    codes::OUT_OF_RANGE,
                    format!("must not be negative, not {q}"),
                ),
            (FieldType::ShortText | FieldType::LongText, FieldValue::Text(text)) => {
                let kind = if field.ty == FieldType::LongText {
                    TextKind::Long
                } else {
                    TextKind::Short
                };
                if let Some(max) = field.ty.max_chars() {
                    self.text(name, text, max, kind, field.required);
                }
            }
            (FieldType::Email, FieldValue::Text(email)) => self.email(name, email),
            (FieldType::Certificate, FieldValue::Bytes(der)) => self.certificate(name, der),
            // A day of birth is judged with its month ([`birth_day`]); dates and date-times are valid by
            // construction.
            _ => {}
        }
    }

    fn id(&mut self, field: &str, value: i64) {
        if value <= 0 {
            self.push(
                field,
                codes::OUT_OF_RANGE,
                format!("must be a positive id, not {value}"),
            );
        }
    }

    fn concept(&mut self, field: &str, value: i64) {
        if value < 0 {
            self.push(
                field,
                codes::OUT_OF_RANGE,
                format!("must be a concept id (0 or more), not {value}"),
            );
        }
    }

    fn non_negative(&mut self, field: &str, value: i64) {
        if value < 0 {
            self.push(
                field,
                codes::OUT_OF_RANGE,
                format!("must not be negative, not {value}"),
            );
        }
    }

    /// A text: something visible in it (blank required text is missing; blank optional text should be
    /// left out), no character its kind forbids, then at most `max` characters.
    fn text(&mut self, field: &str, value: &str, max: usize, kind: TextKind, required: bool) {
        if !has_visible(value) {
            if required {
                self.push(field, codes::REQUIRED, "is required");
            } else {
                self.push(
                    field,
                    codes::BLANK,
                    "has nothing visible in it; leave it out instead",
                );
            }
        } else if let Some((at, c, why)) = kind.first_forbidden(value) {
            let (code, what) = match why {
                Forbidden::Control => (codes::CONTROL_CHARACTER, "a control character"),
                Forbidden::Bidi => (codes::BIDI_CONTROL, "a bidirectional control character"),
            };
            self.push(
                field,
                code,
                format!(
                    "holds U+{:04X} ({what}) at character {}",
                    u32::from(c),
                    at + 1
                ),
            );
        } else {
            self.length(field, value, max);
        }
    }

    /// At most `max` characters (counted without walking past the limit).
    fn length(&mut self, field: &str, value: &str, max: usize) {
        // A character is at least one byte: a string of at most `max` bytes is within the limit.
        if value.len() > max && value.chars().nth(max).is_some() {
            self.push(
                field,
                codes::TOO_LONG,
                format!(
                    "is {} characters long; the limit is {max}",
                    value.chars().count()
                ),
            );
        }
    }

    fn year(&mut self, field: &str, year: i64, now_year: i64) {
        if !(BIRTH_YEAR_MIN..=now_year).contains(&year) {
            self.push(
                field,
                codes::OUT_OF_RANGE,
                format!("{year} is not a plausible year of birth ({BIRTH_YEAR_MIN}..={now_year})"),
            );
        }
    }

    fn email(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            self.push(field, codes::REQUIRED, "is required");
        } else if value.len() > EMAIL_BYTES_MAX {
            self.push(
                field,
                codes::TOO_LONG,
                format!(
                    "is {} bytes long; the limit is {EMAIL_BYTES_MAX}",
                    value.len()
                ),
            );
        } else if !is_email(value) {
            self.push(
                field,
                codes::INVALID_EMAIL,
                "is not an email address like name@example.org",
            );
        }
    }

    fn certificate(&mut self, field: &str, der: &[u8]) {
        if der.is_empty() {
            self.push(field, codes::REQUIRED, "is required");
        } else if der.len() > limits::CERTIFICATE_BYTES_MAX {
            self.push(
                field,
                codes::TOO_LONG,
                format!(
                    "is {} bytes long; the limit is {}",
                    der.len(),
                    limits::CERTIFICATE_BYTES_MAX
                ),
            );
        }
    }

    /// The errors in the order of `fields` (stably: a field's errors keep their order), so that the
    /// rules between fields, checked after the fields' own, report where the field stands.
    fn in_field_order(mut self, fields: &[Field]) -> Vec<FieldError> {
        self.errors.sort_by_key(|e| {
            fields
                .iter()
                .position(|f| f.name == e.field)
                .unwrap_or(fields.len())
        });
        self.errors
    }
}

fn is_month(month: i64) -> bool {
    (1..=12).contains(&month)
}

/// Whether `s` is an email address of the accepted shape: ASCII `local@domain`, the local part of RFC 5322
/// atext characters except `/` with single inner dots, the domain at least two dot-separated labels of
/// letters, digits and inner hyphens.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.len() > 253 {
        return false;
    }
    let local_ok = local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-=?^_`{|}~.".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    local_ok && domain_ok
}

/// The form an email is indexed and looked up by: ASCII lower case (emails are ASCII by [`is_email`]).
pub fn normalize_email(email: &str) -> String {
    email.to_ascii_lowercase()
}

/// Validates a record's fields; `now_year` is the invocation's UTC year. Empty: valid. Each field is
/// checked by its [`FieldType`] (see [`super::fields`]), then the rules between fields; errors come in
/// field order.
pub fn validate_record(record: &NewRecord, now_year: i64) -> Vec<FieldError> {
    let mut c = Checker::default();
    match record {
        NewRecord::Patient(p) => {
            c.fields(p, now_year);
            birth_day(&mut c, p);
        }
        NewRecord::DrugExposure(d) => {
            c.fields(d, now_year);
            drug_exposure_dates(&mut c, d);
        }
        NewRecord::Note(n) => c.fields(n, now_year),
        NewRecord::Doctor(d) => c.fields(d, now_year),
        NewRecord::Admin(a) => c.fields(a, now_year),
    }
    c.in_field_order(fields(record.kind()))
}

/// The field name amendment reasons are reported under.
pub const REASON_FIELD: &str = "amendment_reason";

/// Validates an amendment's reason: required, at most [`REASON_CHARS_MAX`] characters.
pub fn validate_reason(reason: &str) -> Vec<FieldError> {
    let mut c = Checker::default();
    c.text(REASON_FIELD, reason, REASON_CHARS_MAX, TextKind::Long, true);
    c.errors
}

/// A patient's day of birth needs a month of birth and is one of its days (February 29th in leap years).
/// A month outside 1..=12 is reported by the month's own rule, and then the day is not judged.
fn birth_day(c: &mut Checker, p: &Patient) {
    match (p.month_of_birth, p.day_of_birth) {
        (None, Some(_)) => c.push(
            "day_of_birth",
            codes::INVALID_DATE,
            "a day of birth needs a month of birth",
        ),
        (Some(m), Some(d))
            if is_month(m) && !(1..=days_in_month(p.year_of_birth, m)).contains(&d) =>
        {
            c.push(
                "day_of_birth",
                codes::INVALID_DATE,
                format!("{:04}-{m:02} has no day {d}", p.year_of_birth),
            );
        }
        _ => {}
    }
}

/// A drug exposure's end date, end datetime and verbatim end date are not before its start.
fn drug_exposure_dates(c: &mut Checker, d: &DrugExposure) {
    if d.drug_exposure_end_date < d.drug_exposure_start_date {
        c.push(
            "drug_exposure_end_date",
            codes::END_BEFORE_START,
            format!(
                "{} is before the start date {}",
                d.drug_exposure_end_date, d.drug_exposure_start_date
            ),
        );
    }
    if let (Some(start), Some(end)) = (d.drug_exposure_start_datetime, d.drug_exposure_end_datetime)
        && end < start
    {
        c.push(
            "drug_exposure_end_datetime",
            codes::END_BEFORE_START,
            format!("{end} is before the start {start}"),
        );
    }
    if let Some(v) = d.verbatim_end_date
        && v < d.drug_exposure_start_date
    {
        c.push(
            "verbatim_end_date",
            codes::END_BEFORE_START,
            format!(
                "{v} is before the start date {}",
                d.drug_exposure_start_date
            ),
        );
    }
}
