//! Patients, notes and drug exposures — create, get, list, a patient's records — and, for every kind
//! of record including doctors and administrators, amendments and history.
//!
//! Every answer about a record is a [`RecordVersion`]: the record's fields under their OMOP names
//! (`record`, `null` when withheld from an auditor) beside the ledger's facts about that version (who
//! wrote it, when, why, and in which transaction and block). Lists and histories are [`RecordPage`]s:
//! `items` and an opaque `next_cursor` to pass back as `?cursor=`.
//!
//! ```json
//! {"kind": "note", "id": 7, "patient_id": 1,
//!  "record": {"note_id": 7, "person_id": 1, "note_date": "2024-06-01", ...},
//!  "header": {"version_number": 2, "author": "doctor@hospital.test", "author_org": "Org1",
//!             "timestamp": "2024-06-01T10:00:00Z", "tx_id": "9f…", "amendment_reason": "typo"},
//!  "tx_id": "9f…", "block_number": 12, "tx_index": 0}
//! ```
//!
//! Refusals: 422 when a request is invalid in itself, whatever the ledger holds; 409 when it is valid
//! but the ledger's current state refuses it: the id exists, the patient of a note or drug exposure
//! does not, or an amendment's change does not fit the fields it leaves as they are (an end before
//! the current start, a day the current month lacks). `errors` names the fields either way. An
//! amendment may not name the id, the patient, or a person's email or certificate (the fields the
//! contract's field description calls immutable, [`Field::immutable`]).
//!
//! Handlers only translate: a read is one query, a write one transaction signed by the logged-in
//! person ([`AppState::query`], [`AppState::invoke`]); the contract decides who may do what and what is
//! valid, and its refusals become responses in [`crate::error`]. An amendment is merged here, at the
//! JSON level, over the current version the person may read: the contract receives a whole record, as
//! for a creation. An amendment that names the version it was made on (`expected_version`, or the API's
//! `If-Match`) is refused with 412 and the current version if the record is at another one; the contract
//! checks it against the state it endorses on, and the MVCC check at commit against any write that
//! slipped in after that, so two people amending the same version never revert each other's fields.
//! One that names no version is merged over whatever version is current (and merged again if another
//! write commits first and the transaction fails its MVCC check): kept for scripts that predate
//! versions, at the risk of undoing a concurrent change to the same field.

use std::time::Instant;

use medledger_contract::ehr::fields::{self, Field};
use medledger_contract::ehr::{
    Admin, Doctor, DrugExposure, EhrCall, HistoryPage, Model, NewRecord, Note, Page, Patient,
    Record, RecordHeader, RecordKind, decode_response,
};
use medledger_contract::error::codes;
use medledger_node::InvokeError;
use medledger_types::{TxId, ValidationCode, Version, limits};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Session;
use crate::error::FieldProblem;
use crate::people::RecordMeta;
use crate::state::MVCC_RETRIES_MAX;
use crate::{AppState, ServiceError};

/// A record model that people create, read, amend and list.
pub trait Served: Model + Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The record as the contract's call carries it.
    fn into_new(self) -> NewRecord;
    /// The model in `record`, if it is of this kind.
    fn from_new(record: NewRecord) -> Option<Self>;
}

impl Served for Patient {
    fn into_new(self) -> NewRecord {
        NewRecord::Patient(self)
    }
    fn from_new(record: NewRecord) -> Option<Self> {
        match record {
            NewRecord::Patient(model) => Some(model),
            _ => None,
        }
    }
}
impl Served for Note {
    fn into_new(self) -> NewRecord {
        NewRecord::Note(self)
    }
    fn from_new(record: NewRecord) -> Option<Self> {
        match record {
            NewRecord::Note(model) => Some(model),
            _ => None,
        }
    }
}
impl Served for DrugExposure {
    fn into_new(self) -> NewRecord {
        NewRecord::DrugExposure(self)
    }
    fn from_new(record: NewRecord) -> Option<Self> {
        match record {
            NewRecord::DrugExposure(model) => Some(model),
            _ => None,
        }
    }
}
impl Served for Doctor {
    fn into_new(self) -> NewRecord {
        NewRecord::Doctor(self)
    }
    fn from_new(record: NewRecord) -> Option<Self> {
        match record {
            NewRecord::Doctor(model) => Some(model),
            _ => None,
        }
    }
}
impl Served for Admin {
    fn into_new(self) -> NewRecord {
        NewRecord::Admin(self)
    }
    fn from_new(record: NewRecord) -> Option<Self> {
        match record {
            NewRecord::Admin(model) => Some(model),
            _ => None,
        }
    }
}

/// One version of a record, with where and by whom it was written.
///
/// The same shape as the people endpoints' answers (`record` and `header`), plus what identifies the
/// record when its body is withheld, and where on the ledger the version is.
#[derive(Debug, Clone, Serialize)]
pub struct RecordVersion<M> {
    /// `patient`, `note`, `drug_exposure`, `doctor` or `admin`.
    pub kind: String,
    /// The record's id (`person_id`, `note_id`, `drug_exposure_id`, `provider_id` or `admin_id`).
    pub id: i64,
    /// The patient a note or drug exposure belongs to.
    pub patient_id: Option<i64>,
    /// The record's fields by their OMOP names; `null` when withheld from this reader (auditors see who
    /// did what, never clinical content).
    pub record: Option<M>,
    /// Who wrote this version, when and why.
    pub header: RecordMeta,
    /// The transaction that wrote this version (hex); see `/ledger/transactions/{tx_id}`.
    pub tx_id: String,
    /// The block holding that transaction.
    pub block_number: u64,
    /// The transaction's index in its block.
    pub tx_index: u32,
}

/// A page of records or of a record's versions.
#[derive(Debug, Clone, Serialize)]
pub struct RecordPage<M> {
    pub items: Vec<RecordVersion<M>>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `?limit=` and `?cursor=` of a list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// Records per page, 1..=500 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: the last id it held.
    pub cursor: Option<String>,
}

/// `?cursor=` of a history.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HistoryQuery {
    /// The `next_cursor` of the previous page of versions: `{block}.{transaction index}` of the last
    /// version it held.
    pub cursor: Option<String>,
}

/// An amendment: the fields to change and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendmentRequest {
    /// The fields to change, by their OMOP names, with their new values. They are merged over the
    /// current version; the id, the patient and a person's email cannot change.
    pub changes: serde_json::Map<String, Value>,
    /// Why the record is amended; kept in its history.
    pub reason: String,
    /// The `version_number` the amendment was made on: refused with
    /// [`ServiceError::PreconditionFailed`] (412) if the record is at another. `None`: merged over
    /// whatever version is current.
    #[serde(default, deserialize_with = "version_number")]
    pub expected_version: Option<u32>,
}

/// A version number as JSON Schema counts integers: `3`, or `3.0`; 0..=`u32::MAX`. Not `null`: the
/// field is left out to name no version.
fn version_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    number
        .as_u64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
                .map(|f| f as u64)
        })
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!("{number} is not a version number (0..=4294967295)"))
        })
}

/// The field a bad amendment reason is reported under (the contract names it `amendment_reason`).
const REASON_FIELD: &str = "reason";

// --- the node -------------------------------------------------------------------------------------

/// Writes as the person (retried on MVCC conflicts) and waits for the commit: the new version's header,
/// block and index.
async fn write(
    state: &AppState,
    session: &Session,
    call: &EhrCall,
) -> Result<(RecordHeader, u64, u32), ServiceError> {
    let written = state.invoke(session, call).await.map_err(reason_field)?;
    Ok((written.header, written.block_number, written.tx_index))
}

/// The contract names an amendment's reason `amendment_reason`; the request calls it `reason`.
fn reason_field(error: ServiceError) -> ServiceError {
    match error {
        ServiceError::Validation(mut problems) => {
            for problem in &mut problems {
                if problem.field == medledger_contract::ehr::validate::REASON_FIELD {
                    problem.field = REASON_FIELD.to_owned();
                }
            }
            ServiceError::Validation(problems)
        }
        other => other,
    }
}

/// Where the committed transactions `tx_ids` are, in one job on the blocking pool.
async fn locations(state: &AppState, tx_ids: Vec<TxId>) -> Result<Vec<(u64, u32)>, ServiceError> {
    state
        .with_peer(move |peer| {
            tx_ids
                .iter()
                .map(|tx_id| match peer.store().tx_location(tx_id) {
                    Ok(Some(location)) => Ok((location.block, location.index)),
                    Ok(None) => Err(ServiceError::Internal(format!(
                        "the record's transaction {tx_id} is not in the transaction index"
                    ))),
                    Err(e) => Err(ServiceError::Internal(format!("transaction index: {e}"))),
                })
                .collect()
        })
        .await?
}

// --- JSON ------------------------------------------------------------------------------------------

fn version_of<M: Served>(
    header: RecordHeader,
    record: Option<M>,
    block_number: u64,
    tx_index: u32,
) -> RecordVersion<M> {
    RecordVersion {
        kind: header.kind.as_str().to_owned(),
        id: header.id,
        patient_id: header.patient_id,
        record,
        tx_id: header.tx_id.to_string(),
        header: RecordMeta::from(&header),
        block_number,
        tx_index,
    }
}

/// The model in a stored record, or `None` if the body was withheld from this reader.
fn body_of<M: Served>(record: &Record) -> Result<Option<M>, ServiceError> {
    if record.is_redacted() {
        return Ok(None);
    }
    record.decode_body::<M>().map(Some).map_err(|e| {
        ServiceError::Internal(format!("{} {}: {e}", record.header.kind, record.header.id))
    })
}

/// Records as they are stored, with where each version is on the ledger.
async fn stored_versions<M: Served>(
    state: &AppState,
    records: Vec<Record>,
) -> Result<Vec<RecordVersion<M>>, ServiceError> {
    let tx_ids = records.iter().map(|record| record.header.tx_id).collect();
    let locations = locations(state, tx_ids).await?;
    records
        .into_iter()
        .zip(locations)
        .map(|(record, (block, index))| {
            let body = body_of::<M>(&record)?;
            Ok(version_of(record.header, body, block, index))
        })
        .collect()
}

/// A JSON object's whole numbers written with a fraction or an exponent (`7.0`, `1e3`) as integers: JSON
/// Schema counts them as integers, serde's `i64` does not. Only top-level fields (records are flat).
fn integral_numbers(value: Value) -> Value {
    // 2^63: every f64 below it in magnitude converts to an i64 exactly.
    const BOUND: f64 = 9_223_372_036_854_775_808.0;
    let Value::Object(fields) = value else {
        return value;
    };
    Value::Object(
        fields
            .into_iter()
            .map(|(name, value)| {
                let integral = match &value {
                    Value::Number(n) if !n.is_i64() && !n.is_u64() => n
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && (-BOUND..BOUND).contains(f))
                        .map(|f| Value::from(f as i64)),
                    _ => None,
                };
                (name, integral.unwrap_or(value))
            })
            .collect(),
    )
}

/// A record's JSON as model `M`, with the failing field named (422). Each field must also have the JSON
/// type the model writes it with ([`same_json_types`]): a number is not a decimal's text, though the
/// model could read one.
pub fn parse_record<M: Served>(value: Value) -> Result<M, ServiceError> {
    let value = integral_numbers(value);
    let model: M = parse_model(value.clone())?;
    let written = serde_json::to_value(&model)
        .map_err(|e| ServiceError::Internal(format!("a record as JSON: {e}")))?;
    same_json_types(&value, &written)?;
    Ok(model)
}

/// The JSON type of a value, as a message names it.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every field of `given` has the JSON type of the same field in `written` (the model's own JSON of what
/// it read), or is `null` where the model writes `null`: 422 naming the first field that differs.
fn same_json_types(given: &Value, written: &Value) -> Result<(), ServiceError> {
    let (Value::Object(given), Value::Object(written)) = (given, written) else {
        return Ok(());
    };
    for (name, value) in given {
        let Some(expected) = written.get(name) else {
            continue;
        };
        if std::mem::discriminant(value) != std::mem::discriminant(expected) {
            return Err(ServiceError::field(
                name,
                "invalid",
                format!(
                    "invalid type: {}, expected {}",
                    json_type(value),
                    json_type(expected)
                ),
            ));
        }
    }
    Ok(())
}

/// A JSON value as `M` (whole numbers with a fraction read as integers), with the failing field named:
/// 422 with field problems.
pub fn parse_model<M: DeserializeOwned>(value: Value) -> Result<M, ServiceError> {
    serde_path_to_error::deserialize(integral_numbers(value)).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let (field, code) = if let Some(name) = between_backticks(&message, "missing field `") {
            (name, "required")
        } else if let Some(name) = between_backticks(&message, "unknown field `") {
            (name, "unknown_field")
        } else {
            (path, "invalid")
        };
        ServiceError::Validation(vec![FieldProblem::new(&field, code, message)])
    })
}

fn between_backticks(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

/// Merges `changes` over `current` (both JSON objects of a `kind` model): every changed field must exist
/// and not be immutable ([`Field::immutable`]: the id, the patient of a note or drug exposure, a
/// person's email and certificate).
fn merge(
    kind: RecordKind,
    current: Value,
    changes: serde_json::Map<String, Value>,
) -> Result<Value, ServiceError> {
    let Value::Object(mut fields) = current else {
        return Err(ServiceError::Internal(
            "a record is not a JSON object".into(),
        ));
    };
    if changes.is_empty() {
        return Err(ServiceError::field(
            "changes",
            "required",
            "name at least one field to change",
        ));
    }
    let refused: Vec<FieldProblem> = changes
        .keys()
        .filter_map(|name| {
            if !fields.contains_key(name.as_str()) {
                Some(FieldProblem::new(
                    name,
                    "unknown_field",
                    format!("no field {name}"),
                ))
            } else if fields::field(kind, name).is_some_and(Field::immutable) {
                Some(FieldProblem::new(
                    name,
                    medledger_contract::error::codes::IMMUTABLE,
                    format!("{name} cannot be amended"),
                ))
            } else {
                None
            }
        })
        .collect();
    if !refused.is_empty() {
        return Err(ServiceError::Validation(refused));
    }
    fields.extend(changes);
    Ok(Value::Object(fields))
}

fn limit_of(limit: Option<u32>) -> Result<u32, ServiceError> {
    let limit = limit.unwrap_or(limits::PAGE_LIMIT_DEFAULT as u32);
    if !(1..=limits::PAGE_LIMIT_MAX as u32).contains(&limit) {
        return Err(ServiceError::BadRequest(format!(
            "limit {limit} is outside 1..={}",
            limits::PAGE_LIMIT_MAX
        )));
    }
    Ok(limit)
}

/// Longest number in a list cursor, in digits (any 19 digits fit a `u64`).
const ID_CURSOR_DIGITS_MAX: usize = 19;
/// Longest transaction index in a history cursor, in digits (any 9 digits fit a `u32`).
const TX_CURSOR_DIGITS_MAX: usize = 9;

/// `text` if it is 1..=`max` ASCII digits (no sign, no spaces), as the document's patterns say.
fn digits(text: &str, max: usize) -> Option<&str> {
    (!text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_digit()))
        .then_some(text)
}

/// A list cursor: the last id of the previous page, 1 to 19 digits. A number past every id
/// (above `i64::MAX`) is a cursor after the last record: an empty page.
fn id_cursor(cursor: Option<&str>) -> Result<Option<i64>, ServiceError> {
    let Some(text) = cursor else {
        return Ok(None);
    };
    let id: u64 = digits(text, ID_CURSOR_DIGITS_MAX)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| ServiceError::BadRequest(format!("{text:?} is not a cursor")))?;
    Ok(Some(i64::try_from(id).unwrap_or(i64::MAX)))
}

/// A history cursor: `{block}.{tx}` of the last version of the previous page.
fn version_cursor(cursor: Option<&str>) -> Result<Option<Version>, ServiceError> {
    let Some(text) = cursor else {
        return Ok(None);
    };
    let bad = || ServiceError::BadRequest(format!("{text:?} is not a history cursor"));
    let (block, tx) = text.split_once('.').ok_or_else(bad)?;
    Ok(Some(Version {
        block: digits(block, ID_CURSOR_DIGITS_MAX)
            .and_then(|d| d.parse().ok())
            .ok_or_else(bad)?,
        tx: digits(tx, TX_CURSOR_DIGITS_MAX)
            .and_then(|d| d.parse().ok())
            .ok_or_else(bad)?,
    }))
}

async fn page_of<M: Served>(state: &AppState, page: Page) -> Result<RecordPage<M>, ServiceError> {
    Ok(RecordPage {
        items: stored_versions(state, page.items).await?,
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    })
}

// --- the operations, for any kind -----------------------------------------------------------------

/// Creates version 1 of a record from its JSON.
pub async fn create_record<M: Served>(
    state: &AppState,
    session: &Session,
    body: Value,
) -> Result<RecordVersion<M>, ServiceError> {
    let model: M = parse_record(body)?;
    let call = EhrCall::Create(model.clone().into_new());
    let (header, block, index) = write(state, session, &call)
        .await
        .map_err(|e| state_conflict(e, |problem| problem.code == codes::UNKNOWN_PATIENT))?;
    Ok(version_of(header, Some(model), block, index))
}

/// The current version of a record.
pub async fn get_record<M: Served>(
    state: &AppState,
    session: &Session,
    id: i64,
) -> Result<RecordVersion<M>, ServiceError> {
    let record: Record = state
        .query(session, &EhrCall::Get { kind: M::KIND, id })
        .await?;
    let mut versions = stored_versions(state, vec![record]).await?;
    versions
        .pop()
        .ok_or_else(|| ServiceError::Internal("a record without its version".into()))
}

/// A page of records of one kind, in id order.
pub async fn list_records<M: Served>(
    state: &AppState,
    session: &Session,
    list: &ListQuery,
) -> Result<RecordPage<M>, ServiceError> {
    let call = EhrCall::List {
        kind: M::KIND,
        after: id_cursor(list.cursor.as_deref())?,
        limit: limit_of(list.limit)?,
    };
    let page: Page = state.query(session, &call).await?;
    page_of(state, page).await
}

/// A page of one patient's notes or drug exposures (`M`), in id order.
pub async fn patient_records<M: Served>(
    state: &AppState,
    session: &Session,
    patient_id: i64,
    list: &ListQuery,
) -> Result<RecordPage<M>, ServiceError> {
    let call = EhrCall::PatientRecords {
        patient_id,
        kind: M::KIND,
        after: id_cursor(list.cursor.as_deref())?,
        limit: limit_of(list.limit)?,
    };
    let page: Page = state.query(session, &call).await?;
    page_of(state, page).await
}

/// Writes a new version of a record: `changes` merged over the current version.
///
/// An MVCC conflict means another write changed the record between this one's reading and its commit;
/// the changes are then merged again over the new current version (up to [`MVCC_RETRIES_MAX`] times),
/// never re-sent as the stale whole record, which would undo the other write.
pub async fn amend_record<M: Served>(
    state: &AppState,
    session: &Session,
    id: i64,
    amendment: AmendmentRequest,
) -> Result<RecordVersion<M>, ServiceError> {
    let mut retries = 0;
    loop {
        let current: Record = state
            .query(session, &EhrCall::Get { kind: M::KIND, id })
            .await?;
        if let Some(expected) = amendment.expected_version
            && expected != current.header.version_number
        {
            return Err(stale::<M>(state, current, expected).await);
        }
        let Some(current) = body_of::<M>(&current)? else {
            // Whoever may not read a record in full may not amend it either.
            return Err(ServiceError::Forbidden(format!(
                "a {} may not amend {} records",
                session.role,
                M::KIND
            )));
        };
        let current = serde_json::to_value(&current)
            .map_err(|e| ServiceError::Internal(format!("a record as JSON: {e}")))?;
        let merged = merge(M::KIND, current, amendment.changes.clone())?;
        let model: M = parse_record(merged.clone())?;
        let call = EhrCall::Amend {
            kind: M::KIND,
            id,
            record: model.clone().into_new(),
            reason: amendment.reason.clone(),
            expected_version: amendment.expected_version,
        };
        let started = Instant::now();
        match state
            .node()
            .invoke(&session.identity, call.function(), vec![call.encode()])
            .await
        {
            Ok(committed) => {
                state.inner.metrics.record_commit(started.elapsed());
                let header: RecordHeader = decode_response(&committed.payload).map_err(|e| {
                    ServiceError::Internal(format!("the contract's answer to an amendment: {e}"))
                })?;
                let version = version_of(
                    header,
                    Some(model),
                    committed.status.block,
                    committed.status.index,
                );
                return Ok(version);
            }
            Err(InvokeError::Invalid(status))
                if status.code == ValidationCode::MvccReadConflict
                    && retries < MVCC_RETRIES_MAX =>
            {
                retries += 1;
                state.inner.metrics.record_mvcc_retry();
            }
            Err(e) => {
                let error = ServiceError::from(e);
                if let ServiceError::PreconditionFailed {
                    expected_version, ..
                } = error
                {
                    // Amended between this read and the endorsement: show the version it is now.
                    return Err(match get_record::<M>(state, session, id).await {
                        Ok(now) => precondition_failed(now, expected_version),
                        Err(e) => e,
                    });
                }
                let year = medledger_contract::ehr::values::year_of_unix_millis(state.now_ms());
                return Err(state_conflict(reason_field(error), |problem| {
                    due_to_fields_left_as_they_are::<M>(problem, &amendment.changes, &merged, year)
                }));
            }
        }
    }
}

/// The refusal of an amendment made on version `expected` of a record now at `current`, with the current
/// version as the person may read it.
async fn stale<M: Served>(state: &AppState, current: Record, expected: u32) -> ServiceError {
    match stored_versions::<M>(state, vec![current]).await {
        Ok(mut versions) => match versions.pop() {
            Some(now) => precondition_failed(now, expected),
            None => ServiceError::Internal("a record without its version".into()),
        },
        Err(e) => e,
    }
}

/// [`ServiceError::PreconditionFailed`] for an amendment made on version `expected`, carrying `now`.
fn precondition_failed<M: Served>(now: RecordVersion<M>, expected: u32) -> ServiceError {
    let current_version = now.header.version_number;
    match serde_json::to_value(&now) {
        Ok(json) => ServiceError::PreconditionFailed {
            expected_version: expected,
            current_version,
            current: Some(Box::new(json)),
        },
        Err(e) => ServiceError::Internal(format!("a record as JSON: {e}")),
    }
}

/// Rules of the contract that relate fields: a problem reported under the first field with the code
/// involves all the fields listed.
const LINKED_RULES: &[(&str, &str, &[&str])] = &[
    (
        "drug_exposure_end_date",
        codes::END_BEFORE_START,
        &["drug_exposure_start_date", "drug_exposure_end_date"],
    ),
    (
        "verbatim_end_date",
        codes::END_BEFORE_START,
        &["drug_exposure_start_date", "verbatim_end_date"],
    ),
    (
        "drug_exposure_end_datetime",
        codes::END_BEFORE_START,
        &["drug_exposure_start_datetime", "drug_exposure_end_datetime"],
    ),
    (
        "day_of_birth",
        codes::INVALID_DATE,
        &["year_of_birth", "month_of_birth", "day_of_birth"],
    ),
];

/// The value of a related field that keeps its rules most easily: the earliest start, no optional end,
/// a leap year and a month of 31 days, no day.
fn lenient(field: &str) -> Value {
    match field {
        "year_of_birth" => Value::from(2000),
        "month_of_birth" => Value::from(1),
        "drug_exposure_start_date" => Value::from("0001-01-01"),
        "drug_exposure_end_date" => Value::from("9999-12-31"),
        _ => Value::Null,
    }
}

/// Whether `problem`, found in an amendment `merged` over the current version, is due to the current
/// values of fields the amendment leaves as they are: it breaks a rule relating fields, and goes away
/// when those fields take their most lenient values. Then the changes are fine in themselves, but not
/// with this version (409); otherwise the changes are invalid whatever the version (422).
fn due_to_fields_left_as_they_are<M: Served>(
    problem: &FieldProblem,
    changes: &serde_json::Map<String, Value>,
    merged: &Value,
    now_year: i64,
) -> bool {
    let Some((_, _, fields)) = LINKED_RULES
        .iter()
        .find(|(field, code, _)| problem.field == *field && problem.code == *code)
    else {
        return false;
    };
    let mut probe = merged.clone();
    for field in fields.iter().filter(|f| !changes.contains_key(**f)) {
        probe[*field] = lenient(field);
    }
    let Ok(model) = parse_model::<M>(probe) else {
        return false;
    };
    !medledger_contract::ehr::validate::validate_record(&model.into_new(), now_year)
        .iter()
        .any(|e| e.field == problem.field && e.code == problem.code)
}

/// A validation failure all of whose problems come from the ledger's current state (`of_state`) is a
/// conflict with that state (409 with the same problems), not an invalid request: the same request
/// can succeed once the state changes (the patient is registered; the amendment also changes the
/// fields it conflicts with).
fn state_conflict(error: ServiceError, of_state: impl Fn(&FieldProblem) -> bool) -> ServiceError {
    match error {
        ServiceError::Validation(problems)
            if !problems.is_empty() && problems.iter().all(of_state) =>
        {
            ServiceError::StateConflict(problems)
        }
        other => other,
    }
}

/// Every version of a record, oldest first, a page at a time.
pub async fn record_history<M: Served>(
    state: &AppState,
    session: &Session,
    id: i64,
    history: &HistoryQuery,
) -> Result<RecordPage<M>, ServiceError> {
    let call = EhrCall::History {
        kind: M::KIND,
        id,
        after: version_cursor(history.cursor.as_deref())?,
    };
    let page: HistoryPage = state.query(session, &call).await?;
    let items = page
        .items
        .into_iter()
        .map(|item| {
            let body = body_of::<M>(&item.record)?;
            Ok(version_of(
                item.record.header,
                body,
                item.version.block,
                item.version.tx,
            ))
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(RecordPage {
        items,
        next_cursor: page
            .next_cursor
            .map(|version| format!("{}.{}", version.block, version.tx)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_or_are_malformed() {
        assert_eq!(id_cursor(None).ok(), Some(None));
        assert_eq!(id_cursor(Some("17")).ok(), Some(Some(17)));
        assert_eq!(
            id_cursor(Some("9999999999999999999")).ok(),
            Some(Some(i64::MAX)),
            "past every id"
        );
        for bad in ["-1", "+1", "x", "", " 1", "-0", "12345678901234567890"] {
            assert!(id_cursor(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            version_cursor(Some("3.1")).ok(),
            Some(Some(Version { block: 3, tx: 1 }))
        );
        for bad in ["3", "3.", ".1", "+3.1", "3.+1", "3.1234567890", "3.1.1"] {
            assert!(version_cursor(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(limit_of(Some(0)).is_err());
        assert!(limit_of(Some(501)).is_err());
        assert_eq!(limit_of(None).ok(), Some(50));
    }

    #[test]
    fn a_bad_field_is_named() {
        let mut json = serde_json::to_value(medledger_contract::ehr::samples::drug_exposure(1, 1))
            .expect("serializes");
        json["drug_exposure_end_date"] = Value::from("2024-02-30");
        let Err(ServiceError::Validation(problems)) = parse_model::<DrugExposure>(json.clone())
        else {
            panic!("an impossible date is a validation failure");
        };
        assert_eq!(problems[0].field, "drug_exposure_end_date");
        json.as_object_mut()
            .expect("object")
            .remove("drug_exposure_end_date");
        let Err(ServiceError::Validation(problems)) = parse_model::<DrugExposure>(json.clone())
        else {
            panic!("a missing field is a validation failure");
        };
        assert_eq!(
            (problems[0].field.as_str(), problems[0].code.as_str()),
            ("drug_exposure_end_date", "required")
        );
        json["colour"] = Value::from("blue");
        json["drug_exposure_end_date"] = Value::from("2024-05-10");
        let Err(ServiceError::Validation(problems)) = parse_model::<DrugExposure>(json) else {
            panic!("an unknown field is a validation failure");
        };
        assert_eq!(
            (problems[0].field.as_str(), problems[0].code.as_str()),
            ("colour", "unknown_field")
        );
    }

    #[test]
    fn merging_refuses_unknown_and_immutable_fields_and_empty_changes() {
        let current = serde_json::json!({"note_id": 1, "person_id": 2, "note_title": "a"});
        let changes = |v: Value| v.as_object().cloned().expect("object");
        let merged = |v: Value| merge(RecordKind::Note, current.clone(), changes(v));
        assert_eq!(
            merged(serde_json::json!({"note_title": "b"})).ok(),
            Some(serde_json::json!({"note_id": 1, "person_id": 2, "note_title": "b"}))
        );
        assert!(matches!(
            merged(serde_json::json!({"colour": 3})),
            Err(ServiceError::Validation(p)) if p[0].field == "colour"
        ));
        for immutable in ["note_id", "person_id"] {
            assert!(
                matches!(
                    merged(serde_json::json!({immutable: current[immutable]})),
                    Err(ServiceError::Validation(p)) if p[0].code == "immutable",
                ),
                "{immutable}, even unchanged"
            );
        }
        assert!(merged(serde_json::json!({})).is_err());
    }

    #[test]
    fn whole_numbers_with_a_fraction_are_integers() {
        let json =
            serde_json::json!({"a": 7.0, "b": 1e3, "c": 7.5, "d": "7.0", "e": -0.0, "f": 1e300});
        assert_eq!(
            integral_numbers(json),
            serde_json::json!({"a": 7, "b": 1000, "c": 7.5, "d": "7.0", "e": 0, "f": 1e300})
        );
        // Read exactly: a whole number below 2^53 written with a fraction is that number (JSON parsers
        // that round to the nearest float but one would make it `...70.5`, not an integer).
        let text: Value = serde_json::from_str(r#"{"a": 4337481962067470.0}"#).expect("JSON");
        assert_eq!(
            integral_numbers(text),
            serde_json::json!({"a": 4_337_481_962_067_470_i64})
        );
        let mut drug = serde_json::to_value(medledger_contract::ehr::samples::drug_exposure(1, 1))
            .expect("serializes");
        drug["refills"] = serde_json::json!(2.0);
        assert_eq!(
            parse_record::<DrugExposure>(drug.clone())
                .map(|d| d.refills)
                .ok(),
            Some(Some(2))
        );
        // A number where the document says text is refused, though the model could read it.
        drug["quantity"] = serde_json::json!(12.5);
        let Err(ServiceError::Validation(problems)) = parse_record::<DrugExposure>(drug) else {
            panic!("a number for quantity's text is a validation failure");
        };
        assert_eq!(problems[0].field, "quantity");
    }

    #[test]
    fn only_problems_of_fields_left_as_they_are_conflict_with_the_state() {
        let year = 2026;
        let json = |v: Value| v.as_object().cloned().expect("object");
        let drug = serde_json::to_value(medledger_contract::ehr::samples::drug_exposure(1, 1))
            .expect("serializes");
        let start = drug["drug_exposure_start_date"].clone();
        let end_before = FieldProblem::new("drug_exposure_end_date", codes::END_BEFORE_START, "");
        let judge = |changes: &serde_json::Map<String, Value>, problem: &FieldProblem| {
            let mut merged = drug.clone();
            for (k, v) in changes {
                merged[k] = v.clone();
            }
            state_conflict(ServiceError::Validation(vec![problem.clone()]), |p| {
                due_to_fields_left_as_they_are::<DrugExposure>(p, changes, &merged, year)
            })
        };
        // An end before the current start: the change is fine with another start.
        let only_end = json(serde_json::json!({"drug_exposure_end_date": "0002-01-01"}));
        assert!(matches!(
            judge(&only_end, &end_before),
            ServiceError::StateConflict(_)
        ));
        // Both changed, the end first: invalid whatever the record.
        let both = json(serde_json::json!({
            "drug_exposure_start_date": start,
            "drug_exposure_end_date": "0002-01-01"
        }));
        assert!(matches!(
            judge(&both, &end_before),
            ServiceError::Validation(_)
        ));
        // A problem of one field alone is never the state's.
        let long = FieldProblem::new("stop_reason", codes::TOO_LONG, "");
        assert!(matches!(
            judge(&only_end, &long),
            ServiceError::Validation(_)
        ));

        let patient =
            serde_json::to_value(medledger_contract::ehr::samples::patient(1)).expect("serializes");
        let day = FieldProblem::new("day_of_birth", codes::INVALID_DATE, "");
        let judge = |changes: Value| {
            let changes = json(changes);
            let mut merged = patient.clone();
            for (k, v) in &changes {
                merged[k] = v.clone();
            }
            matches!(
                state_conflict(ServiceError::Validation(vec![day.clone()]), |p| {
                    due_to_fields_left_as_they_are::<Patient>(p, &changes, &merged, year)
                }),
                ServiceError::StateConflict(_)
            )
        };
        assert!(
            judge(serde_json::json!({"day_of_birth": 31})),
            "the current month may lack it"
        );
        assert!(
            judge(serde_json::json!({"month_of_birth": 2, "day_of_birth": 29})),
            "a leap year"
        );
        assert!(!judge(
            serde_json::json!({"month_of_birth": 4, "day_of_birth": 31})
        ));
        assert!(!judge(
            serde_json::json!({"month_of_birth": null, "day_of_birth": 3})
        ));
        assert!(!judge(
            serde_json::json!({"year_of_birth": 2001, "month_of_birth": 2, "day_of_birth": 29})
        ));
    }
}
