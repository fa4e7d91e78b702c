//! The EHR contract (`"ehr"`): patients, drug exposures and notes (OMOP CDM v5.4), doctors and admins,
//! with validation, amendments instead of updates, and authorization by the signer's certificate role.
//!
//! A call is one borsh [`EhrCall`] in `args[0]`, and the proposal's function must be its name (see
//! [`calls`] for the calls and their answers). Every call is checked in this order, so that the cheapest
//! and least revealing refusal comes first:
//! 1. the call decodes and names the proposal's function, and is well-formed (`BadRequest`);
//! 2. the signer's role may make it ([`auth`]; `Forbidden`), before any state is read;
//! 3. the fields are valid ([`validate`], plus the referenced patient exists: `Validation`);
//! 4. the record does or does not exist, the email is free (`AlreadyExists`, `NotFound`);
//! 5. an amendment's expected version is the current one (`VersionMismatch`).
//!
//! Records are a header and a body ([`record`]); the contract reads stored headers only, never stored
//! bodies, so bodies can become ciphertext later without changing this contract's logic or keys. Pages are
//! bounded by `limit` and by [`PAGE_BYTES_MAX`].

pub mod auth;
pub mod calls;
pub mod fields;
pub mod keys;
pub mod models;
pub mod record;
pub mod samples;
#[cfg(any(test, feature = "json-schema"))]
pub mod schema;
pub mod text;
pub mod validate;
pub mod values;

#[cfg(test)]
mod tests;

use medledger_types::codec;
use medledger_types::{Version, limits};

pub use auth::Access;
pub use calls::{EhrCall, HistoryItem, HistoryPage, NewRecord, Page, decode_response};
pub use models::{Admin, Doctor, DrugExposure, Model, Note, Patient};
pub use record::{BodyEncoding, RECORD_FORMAT_VERSION, Record, RecordHeader, RecordKind};
pub use values::{Date, DateTime, Decimal, ValueError};

use crate::error::{ContractError, FieldError, codes};
use crate::runtime::{Contract, Invocation, Stub};
use auth::Operation;

/// The contract's name in proposals and channel configurations.
pub const CONTRACT_NAME: &str = "ehr";

/// A page (list, patient records, history) stops early, with a cursor, once its records reach this many
/// bytes, so that 500 large notes never make a 32 MiB answer. A page always holds at least one record.
pub const PAGE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The EHR contract. Stateless: all state is in the stub.
#[derive(Clone, Copy, Debug, Default)]
pub struct EhrContract;

impl Contract for EhrContract {
    fn name(&self) -> &'static str {
        CONTRACT_NAME
    }

    fn invoke(
        &self,
        stub: &mut dyn Stub,
        invocation: &Invocation<'_>,
    ) -> Result<Vec<u8>, ContractError> {
        let [arg] = invocation.args else {
            return Err(ContractError::BadRequest(format!(
                "the ehr contract takes exactly one argument, not {}",
                invocation.args.len()
            )));
        };
        let call = EhrCall::decode(arg).map_err(|e| ContractError::BadRequest(e.to_string()))?;
        if invocation.function != call.function() {
            return Err(ContractError::BadRequest(format!(
                "function {:?} does not match the call {:?}",
                invocation.function,
                call.function()
            )));
        }
        check_shape(&call)?;
        let operation = if call.is_write() {
            Operation::Write
        } else {
            Operation::Read
        };
        let access = auth::authorize(
            invocation.signer.role,
            operation,
            call.function(),
            call.kind(),
        )?;
        let mut ctx = Ctx {
            stub,
            invocation,
            access,
        };
        match call {
            EhrCall::Create(record) => ctx.create(record),
            EhrCall::Amend {
                kind,
                id,
                record,
                reason,
                expected_version,
            } => ctx.amend(kind, id, record, reason, expected_version),
            EhrCall::Get { kind, id } => ctx.get(kind, id),
            EhrCall::List { kind, after, limit } => ctx.list(kind, after, limit),
            EhrCall::ByEmail { kind, email } => ctx.by_email(kind, &email),
            EhrCall::PatientRecords {
                patient_id,
                kind,
                after,
                limit,
            } => ctx.patient_records(patient_id, kind, after, limit),
            EhrCall::History { kind, id, after } => ctx.history(kind, id, after),
        }
    }
}

/// Refuses calls that make no sense for any signer.
fn check_shape(call: &EhrCall) -> Result<(), ContractError> {
    match call {
        EhrCall::Amend { kind, record, .. } if record.kind() != *kind => {
            Err(ContractError::BadRequest(format!(
                "amend of a {kind} carries a {} record; a record's kind cannot change",
                record.kind()
            )))
        }
        EhrCall::ByEmail { kind, .. } if !kind.has_email() => Err(ContractError::BadRequest(
            format!("{kind} records have no email; by_email serves doctor and admin"),
        )),
        EhrCall::PatientRecords { kind, .. } if !kind.belongs_to_patient() => {
            Err(ContractError::BadRequest(format!(
                "{kind} records do not belong to a patient; patient_records serves note and drug_exposure"
            )))
        }
        _ => Ok(()),
    }
}

fn bad(message: impl Into<String>) -> ContractError {
    ContractError::BadRequest(message.into())
}

fn check_limit(limit: u32) -> Result<usize, ContractError> {
    let limit = limit as usize;
    if !(1..=limits::PAGE_LIMIT_MAX).contains(&limit) {
        return Err(bad(format!(
            "limit {limit} is outside 1..={}",
            limits::PAGE_LIMIT_MAX
        )));
    }
    Ok(limit)
}

fn check_cursor(after: Option<i64>) -> Result<(), ContractError> {
    match after {
        Some(a) if a < 0 => Err(bad(format!("cursor {a} is negative"))),
        _ => Ok(()),
    }
}

/// Decodes a stored record; a failure means the state is corrupt, not that the caller erred.
fn decode_record(key: &str, bytes: &[u8]) -> Result<Record, ContractError> {
    codec::decode::<Record>("record", bytes, limits::VALUE_BYTES_MAX)
        .map_err(|e| ContractError::State(format!("{key}: {e}")))
}

/// Bytes a record adds to a page (its body plus a generous allowance for the header).
fn page_bytes(record: &Record) -> usize {
    record.body.len() + 512
}

/// One invocation's context.
struct Ctx<'s, 'i> {
    stub: &'s mut dyn Stub,
    invocation: &'i Invocation<'i>,
    access: Access,
}

impl Ctx<'_, '_> {
    fn read_record(&mut self, key: &str) -> Result<Option<Record>, ContractError> {
        match self.stub.get(key)? {
            Some(bytes) => decode_record(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn existing(
        &mut self,
        kind: RecordKind,
        id_field: &str,
        id: i64,
    ) -> Result<Record, ContractError> {
        let not_found = || ContractError::NotFound {
            kind,
            field: id_field.to_owned(),
            value: id.to_string(),
        };
        if id <= 0 {
            return Err(not_found());
        }
        self.read_record(&keys::record(kind, id))?
            .ok_or_else(not_found)
    }

    /// The record as this reader may see it.
    fn shown(&self, record: Record) -> Record {
        match self.access {
            Access::Full => record,
            Access::HeaderOnly => record.redacted(),
        }
    }

    fn header(
        &self,
        record: &NewRecord,
        version_number: u32,
        amendment_reason: Option<String>,
    ) -> RecordHeader {
        let signer = self.invocation.signer;
        RecordHeader {
            format_version: RECORD_FORMAT_VERSION,
            id: record.id(),
            kind: record.kind(),
            patient_id: record.patient_id(),
            author: signer.name.clone(),
            author_org: signer.org.clone(),
            timestamp_ms: self.invocation.timestamp_ms,
            schema_version: record.schema_version(),
            version_number,
            amendment_reason,
            tx_id: self.invocation.tx_id,
            body_encoding: BodyEncoding::Borsh,
        }
    }

    fn now_year(&self) -> i64 {
        values::year_of_unix_millis(self.invocation.timestamp_ms)
    }

    fn create(&mut self, record: NewRecord) -> Result<Vec<u8>, ContractError> {
        let kind = record.kind();
        let id = record.id();
        let mut errors = validate::validate_record(&record, self.now_year());
        if let Some(patient_id) = record.patient_id()
            && patient_id > 0
            && self
                .stub
                .get(&keys::record(RecordKind::Patient, patient_id))?
                .is_none()
        {
            errors.push(FieldError::new(
                "person_id",
                codes::UNKNOWN_PATIENT,
                format!("no patient has person_id {patient_id}"),
            ));
        }
        if !errors.is_empty() {
            return Err(ContractError::Validation(errors));
        }

        let key = keys::record(kind, id);
        if self.stub.get(&key)?.is_some() {
            return Err(ContractError::AlreadyExists {
                kind,
                field: record.id_field().to_owned(),
                value: id.to_string(),
            });
        }
        if let Some(email) = record.email() {
            let normalized = validate::normalize_email(email);
            if let Some(index_key) = keys::email_index(kind, &normalized) {
                if self.stub.get(&index_key)?.is_some() {
                    return Err(ContractError::AlreadyExists {
                        kind,
                        field: "email".to_owned(),
                        value: normalized,
                    });
                }
                self.stub.put(&index_key, codec::encode(&id))?;
            }
        }
        if let Some(patient_id) = record.patient_id()
            && let Some(index_key) = keys::patient_index(kind, patient_id, id)
        {
            self.stub.put(&index_key, Vec::new())?;
        }

        let header = self.header(&record, 1, None);
        let stored = Record {
            header: header.clone(),
            body: record.encode_body(),
        };
        self.stub.put(&key, codec::encode(&stored))?;
        Ok(codec::encode(&header))
    }

    fn amend(
        &mut self,
        kind: RecordKind,
        id: i64,
        record: NewRecord,
        reason: String,
        expected_version: Option<u32>,
    ) -> Result<Vec<u8>, ContractError> {
        let id_field = record.id_field();
        let mut errors = validate::validate_record(&record, self.now_year());
        errors.extend(validate::validate_reason(&reason));
        if record.id() != id {
            errors.push(FieldError::new(
                id_field,
                codes::IMMUTABLE,
                format!(
                    "the amendment of {kind} {id} carries {id_field} {}; ids cannot change",
                    record.id()
                ),
            ));
        }
        if id <= 0 {
            return Err(ContractError::Validation(errors));
        }

        let key = keys::record(kind, id);
        let existing = match self.existing(kind, id_field, id) {
            Ok(record) => record,
            // Field errors come before existence, as for every call.
            Err(ContractError::NotFound { .. }) if !errors.is_empty() => {
                return Err(ContractError::Validation(errors));
            }
            Err(e) => return Err(e),
        };
        if existing.header.patient_id != record.patient_id() {
            errors.push(FieldError::new(
                "person_id",
                codes::IMMUTABLE,
                format!(
                    "the record belongs to person_id {}; the patient of a record cannot change",
                    existing.header.patient_id.unwrap_or_default()
                ),
            ));
        }
        // The email identifies a doctor or admin (it is their certificate's name): the index, not the
        // stored body, says which email the record has, so the check works on encrypted bodies too.
        if let Some(email) = record.email()
            && let Some(index_key) = keys::email_index(kind, &validate::normalize_email(email))
            && validate::is_email(email)
        {
            let indexed = match self.stub.get(&index_key)? {
                Some(bytes) => Some(
                    codec::decode::<i64>("email index", &bytes, 8)
                        .map_err(|e| ContractError::State(format!("{index_key}: {e}")))?,
                ),
                None => None,
            };
            if indexed != Some(id) {
                errors.push(FieldError::new(
                    "email",
                    codes::IMMUTABLE,
                    "the email of a record cannot change",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ContractError::Validation(errors));
        }
        // The record's key was read above, so its version is in the read set: a write committed after
        // this endorsement makes the transaction fail its MVCC check instead of overwriting.
        if let Some(expected) = expected_version
            && expected != existing.header.version_number
        {
            return Err(ContractError::VersionMismatch {
                kind,
                id,
                expected,
                current: existing.header.version_number,
            });
        }

        let version_number = existing
            .header
            .version_number
            .checked_add(1)
            .ok_or_else(|| ContractError::TooLarge {
                what: "versions of one record".to_owned(),
                len: u64::from(existing.header.version_number) + 1,
                max: u64::from(u32::MAX),
            })?;
        let header = self.header(&record, version_number, Some(reason));
        let stored = Record {
            header: header.clone(),
            body: record.encode_body(),
        };
        self.stub.put(&key, codec::encode(&stored))?;
        Ok(codec::encode(&header))
    }

    fn get(&mut self, kind: RecordKind, id: i64) -> Result<Vec<u8>, ContractError> {
        let id_field = id_field(kind);
        let record = self.existing(kind, id_field, id)?;
        Ok(codec::encode(&self.shown(record)))
    }

    fn list(
        &mut self,
        kind: RecordKind,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<u8>, ContractError> {
        let limit = check_limit(limit)?;
        check_cursor(after)?;
        let prefix = keys::record_prefix(kind);
        let Some(start) = keys::start_after(&prefix, after) else {
            return Ok(codec::encode(&Page {
                items: Vec::new(),
                next_cursor: None,
            }));
        };
        let entries = self
            .stub
            .range(&start, &keys::prefix_end(&prefix), limit + 1)?;
        let mut records = Vec::with_capacity(entries.len());
        for (key, bytes) in entries {
            let id = keys::id_suffix(&key, &prefix)
                .ok_or_else(|| ContractError::State(format!("malformed record key {key}")))?;
            records.push((id, decode_record(&key, &bytes)?));
        }
        Ok(codec::encode(&self.page(records, limit)))
    }

    fn patient_records(
        &mut self,
        patient_id: i64,
        kind: RecordKind,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<u8>, ContractError> {
        let limit = check_limit(limit)?;
        check_cursor(after)?;
        if patient_id <= 0
            || self
                .stub
                .get(&keys::record(RecordKind::Patient, patient_id))?
                .is_none()
        {
            return Err(ContractError::NotFound {
                kind: RecordKind::Patient,
                field: "person_id".to_owned(),
                value: patient_id.to_string(),
            });
        }
        let prefix = keys::patient_index_prefix(kind, patient_id)
            .ok_or_else(|| bad(format!("{kind} is not per patient")))?;
        let Some(start) = keys::start_after(&prefix, after) else {
            return Ok(codec::encode(&Page {
                items: Vec::new(),
                next_cursor: None,
            }));
        };
        let entries = self
            .stub
            .range(&start, &keys::prefix_end(&prefix), limit + 1)?;
        let mut records = Vec::with_capacity(entries.len());
        for (index_key, _) in entries {
            let id = keys::id_suffix(&index_key, &prefix)
                .ok_or_else(|| ContractError::State(format!("malformed index key {index_key}")))?;
            let key = keys::record(kind, id);
            let record = self.read_record(&key)?.ok_or_else(|| {
                ContractError::State(format!("{index_key} points to missing {key}"))
            })?;
            records.push((id, record));
        }
        Ok(codec::encode(&self.page(records, limit)))
    }

    /// Up to `limit` of `records` (which may hold `limit + 1` to show there is more) within the byte budget.
    fn page(&self, records: Vec<(i64, Record)>, limit: usize) -> Page {
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut last = None;
        let mut next_cursor = None;
        for (id, record) in records {
            let size = page_bytes(&record);
            if items.len() == limit || (!items.is_empty() && bytes + size > PAGE_BYTES_MAX) {
                next_cursor = last;
                break;
            }
            bytes += size;
            last = Some(id);
            items.push(self.shown(record));
        }
        Page { items, next_cursor }
    }

    fn by_email(&mut self, kind: RecordKind, email: &str) -> Result<Vec<u8>, ContractError> {
        let not_found = || ContractError::NotFound {
            kind,
            field: "email".to_owned(),
            value: email.to_owned(),
        };
        if email.len() > validate::EMAIL_BYTES_MAX || !validate::is_email(email) {
            return Err(not_found());
        }
        let index_key =
            keys::email_index(kind, &validate::normalize_email(email)).ok_or_else(not_found)?;
        let bytes = self.stub.get(&index_key)?.ok_or_else(not_found)?;
        let id = codec::decode::<i64>("email index", &bytes, 8)
            .map_err(|e| ContractError::State(format!("{index_key}: {e}")))?;
        let key = keys::record(kind, id);
        let record = self
            .read_record(&key)?
            .ok_or_else(|| ContractError::State(format!("{index_key} points to missing {key}")))?;
        Ok(codec::encode(&self.shown(record)))
    }

    fn history(
        &mut self,
        kind: RecordKind,
        id: i64,
        after: Option<Version>,
    ) -> Result<Vec<u8>, ContractError> {
        let key = keys::record(kind, id);
        self.existing(kind, id_field(kind), id)?;
        let entries = self
            .stub
            .history(&key, after, limits::HISTORY_COUNT_MAX + 1)?;
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut next_cursor = None;
        for entry in entries {
            let record = decode_record(&key, &entry.value)?;
            let size = page_bytes(&record);
            if items.len() == limits::HISTORY_COUNT_MAX
                || (!items.is_empty() && bytes + size > PAGE_BYTES_MAX)
            {
                next_cursor = items.last().map(|i: &HistoryItem| i.version);
                break;
            }
            bytes += size;
            items.push(HistoryItem {
                version: entry.version,
                tx_id: entry.tx_id,
                record: self.shown(record),
            });
        }
        Ok(codec::encode(&HistoryPage { items, next_cursor }))
    }
}

/// The OMOP name of a kind's id field.
pub fn id_field(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Patient => Patient::ID_FIELD,
        RecordKind::DrugExposure => DrugExposure::ID_FIELD,
        RecordKind::Note => Note::ID_FIELD,
        RecordKind::Doctor => Doctor::ID_FIELD,
        RecordKind::Admin => Admin::ID_FIELD,
    }
}
