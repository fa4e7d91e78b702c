//! The EHR contract's calls (`args[0]`, borsh) and the answers it returns (the response payload, borsh).
//!
//! | function | call | answer |
//! |---|---|---|
//! | `create` | [`EhrCall::Create`] | [`RecordHeader`](super::record::RecordHeader) of version 1 |
//! | `amend` | [`EhrCall::Amend`] | [`RecordHeader`](super::record::RecordHeader) of the new version |
//! | `get` | [`EhrCall::Get`] | [`Record`] |
//! | `list` | [`EhrCall::List`] | [`Page`] |
//! | `by_email` | [`EhrCall::ByEmail`] | [`Record`] |
//! | `patient_records` | [`EhrCall::PatientRecords`] | [`Page`] |
//! | `history` | [`EhrCall::History`] | [`HistoryPage`] |
//!
//! Writes answer with the header only: the answer travels in the endorsed envelope beside the proposal, and
//! echoing a 64 KiB note there would double the transaction's size for nothing.

use borsh::{BorshDeserialize, BorshSerialize};
use medledger_types::codec::{self, CodecError};
use medledger_types::{TxId, Version, limits};

use super::models::{Admin, Doctor, DrugExposure, Model, Note, Patient};
use super::record::{Record, RecordKind};

/// One call of the EHR contract: the single argument of an EHR proposal. `Proposal::function` must be
/// [`EhrCall::function`] of it.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub enum EhrCall {
    /// Creates version 1 of a record. Refused if the id (or, for doctors and admins, the email) exists.
    Create(NewRecord),
    /// Writes a new version of record `kind`/`id`. `record` must be of the same kind with the same id (and
    /// the same patient for notes and drug exposures, the same email for doctors and admins). `reason` is
    /// required (1..=[`REASON_CHARS_MAX`](super::validate::REASON_CHARS_MAX) characters, not blank).
    /// `expected_version`, when given, is the `version_number` the amendment was made on: the call is
    /// refused with [`ContractError::VersionMismatch`](crate::error::ContractError::VersionMismatch) if
    /// the current version is another, and the read it makes is MVCC-checked at commit, so no write can
    /// slip in between (call format 2, see [`CALL_FORMAT_VERSION`]).
    Amend {
        kind: RecordKind,
        id: i64,
        record: NewRecord,
        reason: String,
        expected_version: Option<u32>,
    },
    /// The current version of one record.
    Get { kind: RecordKind, id: i64 },
    /// Records of one kind in id order, after the cursor `after` (an id; `None`: from the start).
    /// `limit` is 1..=`limits::PAGE_LIMIT_MAX`.
    List {
        kind: RecordKind,
        after: Option<i64>,
        limit: u32,
    },
    /// The doctor or admin with this email (case-insensitive).
    ByEmail { kind: RecordKind, email: String },
    /// The notes or drug exposures (`kind`) of one patient in id order, after the cursor `after`.
    PatientRecords {
        patient_id: i64,
        kind: RecordKind,
        after: Option<i64>,
        limit: u32,
    },
    /// Every version of one record, oldest first, with the ledger version and transaction that wrote it;
    /// at most `limits::HISTORY_COUNT_MAX` per call, continued from the cursor `after`.
    History {
        kind: RecordKind,
        id: i64,
        after: Option<Version>,
    },
}

/// The layout of [`EhrCall`] (docs/formats.md, "EHR contract calls"). 2: `Amend` carries
/// `expected_version`. Calls are decoded only when endorsed, never when a block is validated or
/// replayed, so the calls of version 1 already on a ledger need no reader.
pub const CALL_FORMAT_VERSION: u8 = 2;

/// Longest encoded [`EhrCall`] accepted: the whole proposal's limit.
pub const CALL_BYTES_MAX: usize = limits::PROPOSAL_BYTES_MAX;

impl EhrCall {
    /// The function name a proposal carrying this call must have.
    pub fn function(&self) -> &'static str {
        match self {
            EhrCall::Create(_) => "create",
            EhrCall::Amend { .. } => "amend",
            EhrCall::Get { .. } => "get",
            EhrCall::List { .. } => "list",
            EhrCall::ByEmail { .. } => "by_email",
            EhrCall::PatientRecords { .. } => "patient_records",
            EhrCall::History { .. } => "history",
        }
    }

    /// Whether the call writes (and must be ordered), as opposed to a read-only query.
    pub fn is_write(&self) -> bool {
        matches!(self, EhrCall::Create(_) | EhrCall::Amend { .. })
    }

    /// The kind of record the call is about.
    pub fn kind(&self) -> RecordKind {
        match self {
            EhrCall::Create(record) => record.kind(),
            EhrCall::Amend { kind, .. }
            | EhrCall::Get { kind, .. }
            | EhrCall::List { kind, .. }
            | EhrCall::ByEmail { kind, .. }
            | EhrCall::PatientRecords { kind, .. }
            | EhrCall::History { kind, .. } => *kind,
        }
    }

    /// The bytes to put in `Proposal::args[0]`.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<EhrCall, CodecError> {
        codec::decode("ehr call", bytes, CALL_BYTES_MAX)
    }
}

/// A record's content, for `create` and `amend`.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub enum NewRecord {
    Patient(Patient),
    DrugExposure(DrugExposure),
    Note(Note),
    Doctor(Doctor),
    Admin(Admin),
}

impl NewRecord {
    pub fn kind(&self) -> RecordKind {
        match self {
            NewRecord::Patient(_) => RecordKind::Patient,
            NewRecord::DrugExposure(_) => RecordKind::DrugExposure,
            NewRecord::Note(_) => RecordKind::Note,
            NewRecord::Doctor(_) => RecordKind::Doctor,
            NewRecord::Admin(_) => RecordKind::Admin,
        }
    }

    pub fn id(&self) -> i64 {
        match self {
            NewRecord::Patient(m) => m.id(),
            NewRecord::DrugExposure(m) => m.id(),
            NewRecord::Note(m) => m.id(),
            NewRecord::Doctor(m) => m.id(),
            NewRecord::Admin(m) => m.id(),
        }
    }

    /// The OMOP name of the id field.
    pub fn id_field(&self) -> &'static str {
        match self {
            NewRecord::Patient(_) => Patient::ID_FIELD,
            NewRecord::DrugExposure(_) => DrugExposure::ID_FIELD,
            NewRecord::Note(_) => Note::ID_FIELD,
            NewRecord::Doctor(_) => Doctor::ID_FIELD,
            NewRecord::Admin(_) => Admin::ID_FIELD,
        }
    }

    pub fn patient_id(&self) -> Option<i64> {
        match self {
            NewRecord::Patient(m) => m.patient_id(),
            NewRecord::DrugExposure(m) => m.patient_id(),
            NewRecord::Note(m) => m.patient_id(),
            NewRecord::Doctor(m) => m.patient_id(),
            NewRecord::Admin(m) => m.patient_id(),
        }
    }

    /// The indexed email of a doctor or admin.
    pub fn email(&self) -> Option<&str> {
        match self {
            NewRecord::Doctor(m) => Some(&m.email),
            NewRecord::Admin(m) => Some(&m.email),
            _ => None,
        }
    }

    pub fn schema_version(&self) -> u16 {
        match self {
            NewRecord::Patient(_) => Patient::SCHEMA_VERSION,
            NewRecord::DrugExposure(_) => DrugExposure::SCHEMA_VERSION,
            NewRecord::Note(_) => Note::SCHEMA_VERSION,
            NewRecord::Doctor(_) => Doctor::SCHEMA_VERSION,
            NewRecord::Admin(_) => Admin::SCHEMA_VERSION,
        }
    }

    /// The record body: the model's canonical bytes.
    pub fn encode_body(&self) -> Vec<u8> {
        match self {
            NewRecord::Patient(m) => m.encode_body(),
            NewRecord::DrugExposure(m) => m.encode_body(),
            NewRecord::Note(m) => m.encode_body(),
            NewRecord::Doctor(m) => m.encode_body(),
            NewRecord::Admin(m) => m.encode_body(),
        }
    }
}

/// A page of records (`list`, `patient_records`).
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Page {
    pub items: Vec<Record>,
    /// Pass as `after` to get the next page; `None` when this page is the last.
    pub next_cursor: Option<i64>,
}

/// One version of a record in its history.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct HistoryItem {
    /// Where on the ledger this version was committed.
    pub version: Version,
    pub tx_id: TxId,
    pub record: Record,
}

/// A page of a record's history (`history`), oldest first.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct HistoryPage {
    pub items: Vec<HistoryItem>,
    /// Pass as `after` to continue; `None` when every version has been returned.
    pub next_cursor: Option<Version>,
}

/// Largest response payload [`decode_response`] accepts: a page of `PAGE_LIMIT_MAX` records is bounded
/// by [`super::PAGE_BYTES_MAX`] plus one record.
pub const RESPONSE_BYTES_MAX: usize = super::PAGE_BYTES_MAX + 2 * limits::VALUE_BYTES_MAX;

/// Decodes a successful response payload ([`RecordHeader`](super::record::RecordHeader), `Record`, `Page` or `HistoryPage`).
pub fn decode_response<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, CodecError> {
    codec::decode("ehr response", bytes, RESPONSE_BYTES_MAX)
}
