//! Field validation of the models: every failing field is reported, by its OMOP name, with a stable code.
//!
//! These checks need no state; the one check that does (a note's or drug exposure's patient exists) is
//! made by the contract, which appends an `unknown_patient` error to the same list. The rules:
//! - ids (`*_id` that are not concept ids) are positive; concept ids are non-negative (OMOP uses 0 for
//!   "no matching concept"); counts (`refills`, `days_supply`) and `quantity` are non-negative;
//! - required text is not blank (not only `char::is_whitespace`); text is at most [`SHORT_TEXT_CHARS_MAX`]
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
use super::models::{Admin, Doctor, DrugExposure, Note, Patient};
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

    fn id(&mut self, field: &str, value: i64) {
        if value <= 0 {
            self.push(
                field,
                codes::OUT_OF_RANGE,
                format!("must be a positive id, not {value}"),
            );
        }
    }

    fn opt_id(&mut self, field: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.id(field, v);
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

    fn opt_concept(&mut self, field: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.concept(field, v);
        }
    }

    fn non_negative(&mut self, field: &str, value: Option<i64>) {
        if let Some(v) = value
            && v < 0
        {
            self.push(
                field,
                codes::OUT_OF_RANGE,
                format!("must not be negative, not {v}"),
            );
        }
    }

    fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.push(field, codes::REQUIRED, "is required");
        } else {
            self.length(field, value, max);
        }
    }

    fn opt_text(&mut self, field: &str, value: &Option<String>, max: usize) {
        if let Some(v) = value {
            self.length(field, v, max);
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
}

const SHORT: usize = SHORT_TEXT_CHARS_MAX;
const LONG: usize = LONG_TEXT_CHARS_MAX;

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

/// Validates a record's fields; `now_year` is the invocation's UTC year. Empty: valid.
pub fn validate_record(record: &NewRecord, now_year: i64) -> Vec<FieldError> {
    let mut c = Checker::default();
    match record {
        NewRecord::Patient(p) => patient(&mut c, p, now_year),
        NewRecord::DrugExposure(d) => drug_exposure(&mut c, d),
        NewRecord::Note(n) => note(&mut c, n),
        NewRecord::Doctor(d) => doctor(&mut c, d, now_year),
        NewRecord::Admin(a) => admin(&mut c, a),
    }
    c.errors
}

/// The field name amendment reasons are reported under.
pub const REASON_FIELD: &str = "amendment_reason";

/// Validates an amendment's reason: required, at most [`REASON_CHARS_MAX`] characters.
pub fn validate_reason(reason: &str) -> Vec<FieldError> {
    let mut c = Checker::default();
    c.text(REASON_FIELD, reason, REASON_CHARS_MAX);
    c.errors
}

fn patient(c: &mut Checker, p: &Patient, now_year: i64) {
    c.id("person_id", p.person_id);
    c.concept("gender_concept_id", p.gender_concept_id);
    c.year("year_of_birth", p.year_of_birth, now_year);
    let month_ok = match p.month_of_birth {
        Some(m) if !(1..=12).contains(&m) => {
            c.push(
                "month_of_birth",
                codes::INVALID_DATE,
                format!("{m} is not a month (1..=12)"),
            );
            false
        }
        _ => true,
    };
    match (p.month_of_birth, p.day_of_birth) {
        (None, Some(_)) => c.push(
            "day_of_birth",
            codes::INVALID_DATE,
            "a day of birth needs a month of birth",
        ),
        (Some(m), Some(d)) if month_ok && !(1..=days_in_month(p.year_of_birth, m)).contains(&d) => {
            c.push(
                "day_of_birth",
                codes::INVALID_DATE,
                format!("{:04}-{m:02} has no day {d}", p.year_of_birth),
            );
        }
        _ => {}
    }
    if let Some(dt) = p.birth_datetime {
        c.year("birth_datetime", dt.date().year(), now_year);
    }
    c.concept("race_concept_id", p.race_concept_id);
    c.concept("ethnicity_concept_id", p.ethnicity_concept_id);
    c.opt_id("location_id", p.location_id);
    c.opt_id("provider_id", p.provider_id);
    c.opt_id("care_site_id", p.care_site_id);
    c.opt_text("person_source_value", &p.person_source_value, SHORT);
    c.opt_text("gender_source_value", &p.gender_source_value, SHORT);
    c.opt_concept("gender_source_concept_id", p.gender_source_concept_id);
    c.opt_text("race_source_value", &p.race_source_value, SHORT);
    c.opt_concept("race_source_concept_id", p.race_source_concept_id);
    c.opt_text("ethnicity_source_value", &p.ethnicity_source_value, SHORT);
    c.opt_concept("ethnicity_source_concept_id", p.ethnicity_source_concept_id);
    c.opt_text("given_name", &p.given_name, SHORT);
    c.opt_text("second_given_name", &p.second_given_name, SHORT);
    c.opt_text("family_name", &p.family_name, SHORT);
    c.opt_text("second_family_name", &p.second_family_name, SHORT);
    c.opt_text("national_id", &p.national_id, SHORT);
}

fn drug_exposure(c: &mut Checker, d: &DrugExposure) {
    c.id("drug_exposure_id", d.drug_exposure_id);
    c.id("person_id", d.person_id);
    c.concept("drug_concept_id", d.drug_concept_id);
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
    c.concept("drug_type_concept_id", d.drug_type_concept_id);
    c.opt_text("stop_reason", &d.stop_reason, SHORT);
    c.non_negative("refills", d.refills);
    if let Some(q) = &d.quantity
        && q.is_negative()
    {
        c.push(
            "quantity",
            codes::OUT_OF_RANGE,
            format!("must not be negative, not {q}"),
        );
    }
    c.non_negative("days_supply", d.days_supply);
    c.opt_text("sig", &d.sig, LONG);
    c.opt_concept("route_concept_id", d.route_concept_id);
    c.opt_text("lot_number", &d.lot_number, SHORT);
    c.opt_id("provider_id", d.provider_id);
    c.opt_id("visit_occurrence_id", d.visit_occurrence_id);
    c.opt_id("visit_detail_id", d.visit_detail_id);
    c.opt_text("drug_source_value", &d.drug_source_value, SHORT);
    c.opt_concept("drug_source_concept_id", d.drug_source_concept_id);
    c.opt_text("route_source_value", &d.route_source_value, SHORT);
    c.opt_text("dose_unit_source_value", &d.dose_unit_source_value, SHORT);
}

fn note(c: &mut Checker, n: &Note) {
    c.id("note_id", n.note_id);
    c.id("person_id", n.person_id);
    c.concept("note_type_concept_id", n.note_type_concept_id);
    c.concept("note_class_concept_id", n.note_class_concept_id);
    c.opt_text("note_title", &n.note_title, SHORT);
    c.text("note_text", &n.note_text, LONG);
    c.concept("encoding_concept_id", n.encoding_concept_id);
    c.concept("language_concept_id", n.language_concept_id);
    c.opt_id("provider_id", n.provider_id);
    c.opt_id("visit_occurrence_id", n.visit_occurrence_id);
    c.opt_id("visit_detail_id", n.visit_detail_id);
    c.opt_text("note_source_value", &n.note_source_value, SHORT);
    c.opt_id("note_event_id", n.note_event_id);
    c.opt_concept("note_event_field_concept_id", n.note_event_field_concept_id);
}

fn doctor(c: &mut Checker, d: &Doctor, now_year: i64) {
    c.id("provider_id", d.provider_id);
    c.opt_text("provider_name", &d.provider_name, SHORT);
    c.opt_text("npi", &d.npi, SHORT);
    c.opt_text("dea", &d.dea, SHORT);
    c.opt_concept("specialty_concept_id", d.specialty_concept_id);
    c.opt_id("care_site_id", d.care_site_id);
    if let Some(y) = d.year_of_birth {
        c.year("year_of_birth", y, now_year);
    }
    c.opt_concept("gender_concept_id", d.gender_concept_id);
    c.opt_text("provider_source_value", &d.provider_source_value, SHORT);
    c.opt_text("specialty_source_value", &d.specialty_source_value, SHORT);
    c.opt_concept("specialty_source_concept_id", d.specialty_source_concept_id);
    c.opt_text("gender_source_value", &d.gender_source_value, SHORT);
    c.opt_concept("gender_source_concept_id", d.gender_source_concept_id);
    c.text("given_name", &d.given_name, SHORT);
    c.opt_text("second_given_name", &d.second_given_name, SHORT);
    c.text("family_name", &d.family_name, SHORT);
    c.opt_text("second_family_name", &d.second_family_name, SHORT);
    c.email("email", &d.email);
    c.certificate("certificate", &d.certificate);
}

fn admin(c: &mut Checker, a: &Admin) {
    c.id("admin_id", a.admin_id);
    c.text("given_name", &a.given_name, SHORT);
    c.text("family_name", &a.family_name, SHORT);
    c.email("email", &a.email);
    c.certificate("certificate", &a.certificate);
}
