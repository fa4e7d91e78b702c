//! The EHR contract's world-state keys (the layout is documented in the crate doc).
//!
//! Ids are written as 20 zero-padded decimal digits so that key order is id order (ids are positive, and
//! `i64::MAX` has 19 digits). Each namespace ends with `/`, so the end of a prefix range is the prefix with
//! that `/` replaced by `0`, the next byte.

use super::record::RecordKind;

/// `rec/{kind}/`: the namespace of one kind's records.
pub fn record_prefix(kind: RecordKind) -> String {
    format!("rec/{}/", kind.as_str())
}

/// `rec/{kind}/{id:020}`: a record's current version (its history is this key's history).
pub fn record(kind: RecordKind, id: i64) -> String {
    format!("rec/{}/{id:020}", kind.as_str())
}

/// `idx/{kind}_email/{email}` for doctors and admins: the id (borsh `i64`) of the one record with this
/// (lower-cased) email.
pub fn email_index(kind: RecordKind, normalized_email: &str) -> Option<String> {
    kind.has_email()
        .then(|| format!("idx/{}_email/{normalized_email}", kind.as_str()))
}

fn patient_index_name(kind: RecordKind) -> Option<&'static str> {
    match kind {
        RecordKind::Note => Some("patient_notes"),
        RecordKind::DrugExposure => Some("patient_drug_exposures"),
        _ => None,
    }
}

/// `idx/patient_notes/{patient:020}/` or `idx/patient_drug_exposures/{patient:020}/`.
pub fn patient_index_prefix(kind: RecordKind, patient_id: i64) -> Option<String> {
    patient_index_name(kind).map(|name| format!("idx/{name}/{patient_id:020}/"))
}

/// `idx/patient_notes/{patient:020}/{note:020}` (empty value): one note of one patient; likewise for drug
/// exposures.
pub fn patient_index(kind: RecordKind, patient_id: i64, id: i64) -> Option<String> {
    patient_index_prefix(kind, patient_id).map(|prefix| format!("{prefix}{id:020}"))
}

/// The exclusive end of the range of keys starting with `prefix` (which ends with `/`).
pub fn prefix_end(prefix: &str) -> String {
    match prefix.strip_suffix('/') {
        Some(stem) => format!("{stem}0"),
        // Not used with other prefixes; appending the largest scalar still bounds them.
        None => format!("{prefix}\u{10FFFF}"),
    }
}

/// The id at the end of a key `{prefix}{id:020}`, if it is one.
pub fn id_suffix(key: &str, prefix: &str) -> Option<i64> {
    let digits = key.strip_prefix(prefix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The first key of a prefix range that comes after the record with id `after`; `None` when no id can
/// follow it.
pub fn start_after(prefix: &str, after: Option<i64>) -> Option<String> {
    match after {
        None => Some(prefix.to_owned()),
        Some(a) => a
            .checked_add(1)
            .map(|next| format!("{prefix}{:020}", next.max(0))),
    }
}
