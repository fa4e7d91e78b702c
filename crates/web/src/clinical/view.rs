//! How clinical records look on a page: field values in the page's language (choice labels instead of
//! concept ids, local dates), a version's ledger facts, patients' names, the diff between two versions,
//! and the case- and accent-insensitive matching the patient search uses.
//!
//! Everything here works on a record's JSON object (the model as serde writes it), so one set of
//! templates serves patients, notes and drug exposures, driven by [`fields::fields`].

use medledger_contract::ehr::{Date, DateTime, RecordKind};
use serde::Serialize;
use serde_json::{Map, Value};

use super::super::fields::{self, FieldSpec, InputKind};
use super::super::i18n::{self, Lang};
use medledger_service::people::RecordMeta;
use medledger_service::records::RecordVersion;
use medledger_service::{AppState, ServiceError};

/// One field of a record as a detail page shows it.
#[derive(Debug, Clone)]
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    /// The value is empty (shown as a dash, and muted).
    pub empty: bool,
    /// Long text: shown with its line breaks kept.
    pub long: bool,
}

/// A version's facts from the ledger, as the record and history pages show them.
#[derive(Debug, Clone)]
pub struct VersionView {
    pub number: u32,
    pub author: String,
    pub when: String,
    pub block: u64,
    pub tx_id: String,
    pub reason: Option<String>,
}

impl VersionView {
    pub fn new(lang: Lang, header: &RecordMeta, block: u64) -> VersionView {
        VersionView {
            number: header.version_number,
            author: header.author.clone(),
            when: display_timestamp(lang, &header.timestamp),
            block,
            tx_id: header.tx_id.clone(),
            reason: header.amendment_reason.clone(),
        }
    }

    /// The explorer's page of the transaction that wrote this version.
    pub fn tx_link(&self) -> String {
        format!("/explorer/tx/{}", self.tx_id)
    }
}

/// A version's timestamp (RFC 3339 from the header) in local format; as it is if it does not parse.
pub fn display_timestamp(lang: Lang, rfc3339: &str) -> String {
    rfc3339
        .parse::<DateTime>()
        .map(|t| i18n::format_datetime(lang, t))
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// One field's value as shown to a reader: a dash for nothing, a choice's label for a known concept id,
/// a date or time in local format, a decimal with the local separator.
pub fn display_value(lang: Lang, spec: &FieldSpec, value: Option<&Value>) -> String {
    let no_value = || i18n::t(lang, "record.no_value").to_owned();
    match value {
        None | Some(Value::Null) => no_value(),
        Some(Value::String(text)) => match spec.input {
            InputKind::Date => text
                .parse::<Date>()
                .map(|d| i18n::format_date(lang, d))
                .unwrap_or_else(|_| text.clone()),
            InputKind::DateTime => text
                .parse::<DateTime>()
                .map(|t| i18n::format_datetime(lang, t))
                .unwrap_or_else(|_| text.clone()),
            // Spanish writes 2,5 (and the forms accept it).
            InputKind::Decimal if lang == Lang::Es => text.replace('.', ","),
            _ => text.clone(),
        },
        Some(Value::Number(number)) => {
            let text = number.to_string();
            match spec.choice(&text) {
                Some(choice) => choice.label.get(lang).to_owned(),
                None => text,
            }
        }
        Some(other) => other.to_string(),
    }
}

fn field_view(lang: Lang, spec: &'static FieldSpec, record: &Map<String, Value>) -> FieldView {
    let value = record.get(spec.name);
    FieldView {
        name: spec.name,
        label: spec.label.get(lang),
        value: display_value(lang, spec, value),
        empty: value.is_none_or(Value::is_null),
        long: spec.input == InputKind::LongText,
    }
}

/// The everyday fields of a record, all of them (empty ones show a dash), in form order.
pub fn common_views(lang: Lang, kind: RecordKind, record: &Map<String, Value>) -> Vec<FieldView> {
    fields::common_fields(kind)
        .iter()
        .map(|spec| field_view(lang, spec, record))
        .collect()
}

/// The rarely used fields of a record that hold a value (the page folds them away).
pub fn more_views(lang: Lang, kind: RecordKind, record: &Map<String, Value>) -> Vec<FieldView> {
    fields::more_fields(kind)
        .iter()
        .map(|spec| field_view(lang, spec, record))
        .filter(|view| !view.empty)
        .collect()
}

/// A record's JSON object. Doctors always read records in full; a withheld body (an auditor's view)
/// is an empty object, shown as dashes.
pub fn record_json<M: Serialize>(
    version: &RecordVersion<M>,
) -> Result<Map<String, Value>, ServiceError> {
    match &version.record {
        None => Ok(Map::new()),
        Some(model) => match serde_json::to_value(model) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err(ServiceError::Internal(
                "a record is not a JSON object".into(),
            )),
            Err(e) => Err(ServiceError::Internal(format!("a record as JSON: {e}"))),
        },
    }
}

/// A text field of a record, if it holds non-blank text.
pub fn text_of<'r>(record: &'r Map<String, Value>, name: &str) -> Option<&'r str> {
    record
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A patient's full name as written in Cuba (names, then surnames); `None` if no name is recorded.
pub fn patient_name(record: &Map<String, Value>) -> Option<String> {
    let parts: Vec<&str> = [
        "given_name",
        "second_given_name",
        "family_name",
        "second_family_name",
    ]
    .iter()
    .filter_map(|name| text_of(record, name))
    .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// What a page calls a patient: their name, or "Patient 7" when none is recorded (an OMOP import).
pub fn patient_title(lang: Lang, id: i64, record: &Map<String, Value>) -> String {
    patient_name(record).unwrap_or_else(|| {
        i18n::tf(
            lang,
            "clinical.patient_untitled",
            &[("id", &id.to_string())],
        )
    })
}

/// What a page calls a record: a patient's name, "Note 5", "Drug exposure 3".
pub fn record_title(lang: Lang, kind: RecordKind, id: i64, record: &Map<String, Value>) -> String {
    let key = match kind {
        RecordKind::Patient => return patient_title(lang, id, record),
        RecordKind::Note => "clinical.note_title",
        RecordKind::DrugExposure => "clinical.drug_exposure_title",
        RecordKind::Doctor | RecordKind::Admin => "clinical.record_title",
    };
    i18n::tf(lang, key, &[("id", &id.to_string())])
}

/// One changed field between two versions.
#[derive(Debug, Clone)]
pub struct ChangeView {
    pub label: &'static str,
    pub before: String,
    pub after: String,
}

/// The fields whose values differ between two versions of a record, in form order. A field absent from
/// one side counts as empty (`null`), as the model writes `None`.
pub fn diff(
    lang: Lang,
    kind: RecordKind,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Vec<ChangeView> {
    changed_fields(kind, before, after)
        .map(|spec| ChangeView {
            label: spec.label.get(lang),
            before: display_value(lang, spec, before.get(spec.name)),
            after: display_value(lang, spec, after.get(spec.name)),
        })
        .collect()
}

/// The fields of `kind` whose values differ between `before` and `after`, in form order; absent is
/// `null`.
fn changed_fields<'a>(
    kind: RecordKind,
    before: &'a Map<String, Value>,
    after: &'a Map<String, Value>,
) -> impl Iterator<Item = &'static FieldSpec> + 'a {
    let value = |record: &'a Map<String, Value>, name: &str| -> &'a Value {
        record.get(name).unwrap_or(&Value::Null)
    };
    fields::fields(kind)
        .iter()
        .filter(move |spec| value(before, spec.name) != value(after, spec.name))
}

/// A field someone else changed after an amendment form was opened: its value then, now, and in the form.
pub struct StaleChange {
    pub label: &'static str,
    pub opened: String,
    pub now: String,
    pub yours: String,
}

/// The fields whose values differ between the version an amendment form was `opened` on and the
/// `current` one, beside the person's input (`yours`, the form as parsed), in form order.
pub fn stale_changes(
    lang: Lang,
    kind: RecordKind,
    opened: &Map<String, Value>,
    current: &Map<String, Value>,
    yours: &Map<String, Value>,
) -> Vec<StaleChange> {
    changed_fields(kind, opened, current)
        .map(|spec| StaleChange {
            label: spec.label.get(lang),
            opened: display_value(lang, spec, opened.get(spec.name)),
            now: display_value(lang, spec, current.get(spec.name)),
            yours: display_value(lang, spec, yours.get(spec.name)),
        })
        .collect()
}

/// The fields of `submitted` (a parsed form) whose values differ from `current`: what an amendment
/// sends as `changes`. A field the form did not carry is not a change.
pub fn changes(current: &Map<String, Value>, submitted: Map<String, Value>) -> Map<String, Value> {
    submitted
        .into_iter()
        .filter(|(name, value)| current.get(name).unwrap_or(&Value::Null) != value)
        .collect()
}

/// Text folded for searching: lower case, without accents (á → a, ñ → n, ü → u), so that "perez" finds
/// "Pérez" and "NUNEZ" finds "Núñez".
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// Whether a patient matches a folded search text: a substring of their full name, of any one name, or
/// of their identity card number.
pub fn patient_matches(record: &Map<String, Value>, folded_query: &str) -> bool {
    if folded_query.is_empty() {
        return true;
    }
    let name = patient_name(record).map(|n| fold(&n)).unwrap_or_default();
    let national_id = text_of(record, "national_id").map(fold).unwrap_or_default();
    name.contains(folded_query) || national_id.contains(folded_query)
}

/// Today's date by the gateway's clock (UTC), to prefill the date of a new note or drug exposure.
pub fn today(state: &AppState) -> Option<Date> {
    DateTime::from_unix_seconds(state.now_ms().div_euclid(1000))
        .ok()
        .map(DateTime::date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(o) => o,
            _ => Map::new(),
        }
    }

    #[test]
    fn search_folds_case_and_accents() {
        let patient = object(json!({
            "given_name": "María", "family_name": "Núñez", "second_family_name": "Pérez",
            "national_id": "85010112345"
        }));
        for query in [
            "maria",
            "NUNEZ",
            "núñez pé",
            "maría núñez",
            "0101",
            "85010112345",
        ] {
            assert!(patient_matches(&patient, &fold(query)), "{query}");
        }
        for query in ["jose", "99"] {
            assert!(!patient_matches(&patient, &fold(query)), "{query}");
        }
    }

    #[test]
    fn values_show_labels_and_local_dates() {
        let sex = fields::field(RecordKind::Patient, "gender_concept_id");
        let date = fields::field(RecordKind::Note, "note_date");
        let quantity = fields::field(RecordKind::DrugExposure, "quantity");
        let (Some(sex), Some(date), Some(quantity)) = (sex, date, quantity) else {
            panic!("the fields exist");
        };
        assert_eq!(display_value(Lang::Es, sex, Some(&json!(8532))), "Femenino");
        assert_eq!(display_value(Lang::En, sex, Some(&json!(8551))), "8551");
        assert_eq!(
            display_value(Lang::Es, date, Some(&json!("2024-05-30"))),
            "30/05/2024"
        );
        assert_eq!(
            display_value(Lang::Es, quantity, Some(&json!("2.5"))),
            "2,5"
        );
        assert_eq!(display_value(Lang::En, quantity, None), "—");
    }

    #[test]
    fn changes_are_the_fields_that_differ() {
        let current = object(json!({"a": 1, "b": "x", "c": null}));
        let submitted = object(json!({"a": 1, "b": "y", "c": null}));
        assert_eq!(changes(&current, submitted), object(json!({"b": "y"})));
        let submitted = object(json!({"c": "now"}));
        assert_eq!(changes(&current, submitted), object(json!({"c": "now"})));
    }

    #[test]
    fn a_patient_without_names_is_called_by_id() {
        assert_eq!(patient_name(&object(json!({"given_name": " "}))), None);
        assert_eq!(
            patient_name(&object(
                json!({"given_name": "Ana", "family_name": "Pérez"})
            ))
            .as_deref(),
            Some("Ana Pérez")
        );
    }
}
