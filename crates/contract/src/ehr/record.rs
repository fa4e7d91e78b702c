//! A stored record: a small [`RecordHeader`] the contract indexes and checks, and an opaque body.
//!
//! The body is the borsh encoding of the model today ([`BodyEncoding::Borsh`]). When clinical content is
//! encrypted, the body becomes ciphertext under a new [`BodyEncoding`] tag and nothing else changes: the
//! contract never reads a stored body (it authorizes, indexes and checks uniqueness with the header and
//! the index keys only), so the record format and every key stay the same.
//!
//! Each version of a record is a whole [`Record`] written under the same key; the store's history of that
//! key is the record's version history. Nothing is ever deleted.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use medledger_types::TxId;

use super::models::Model;
use crate::error::ContractError;

/// The version of the [`RecordHeader`] layout itself.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// Which model a record holds. Its `as_str` names the key namespace (`rec/{kind}/...`).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum RecordKind {
    Patient = 0,
    DrugExposure = 1,
    Note = 2,
    Doctor = 3,
    Admin = 4,
}

impl RecordKind {
    pub const ALL: [RecordKind; 5] = [
        RecordKind::Patient,
        RecordKind::DrugExposure,
        RecordKind::Note,
        RecordKind::Doctor,
        RecordKind::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Patient => "patient",
            RecordKind::DrugExposure => "drug_exposure",
            RecordKind::Note => "note",
            RecordKind::Doctor => "doctor",
            RecordKind::Admin => "admin",
        }
    }

    /// Patients, drug exposures and notes: the records only doctors may read in full.
    pub fn is_clinical(self) -> bool {
        matches!(
            self,
            RecordKind::Patient | RecordKind::DrugExposure | RecordKind::Note
        )
    }

    /// Kinds that belong to a patient and are indexed under it.
    pub fn belongs_to_patient(self) -> bool {
        matches!(self, RecordKind::DrugExposure | RecordKind::Note)
    }

    /// Kinds with a unique, indexed email.
    pub fn has_email(self) -> bool {
        matches!(self, RecordKind::Doctor | RecordKind::Admin)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a record's body is encoded.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum BodyEncoding {
    /// The model's borsh bytes, in the clear.
    Borsh = 0,
    // Reserved: 1 = borsh encrypted with the record's key (AES-256-GCM), keys wrapped per reader.
}

/// What the contract knows about a record without reading its body.
#[derive(
    Clone,
    PartialEq,
    Eq,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct RecordHeader {
    /// [`RECORD_FORMAT_VERSION`].
    pub format_version: u8,
    /// The model's id (`person_id`, `note_id`, `drug_exposure_id`, `provider_id` or `admin_id`).
    pub id: i64,
    pub kind: RecordKind,
    /// The patient a note or drug exposure belongs to; `None` for other kinds. Never changes.
    pub patient_id: Option<i64>,
    /// The signer of this version (their certificate's common name).
    pub author: String,
    /// The signer's organization (MSP id).
    pub author_org: String,
    /// The proposal's timestamp (milliseconds since the Unix epoch).
    pub timestamp_ms: i64,
    /// The model's body layout version ([`Model::SCHEMA_VERSION`]).
    pub schema_version: u16,
    /// 1 for the record as created, 2 for its first amendment, ...
    pub version_number: u32,
    /// Why this version was written; `None` only for version 1.
    pub amendment_reason: Option<String>,
    /// The transaction that wrote this version.
    pub tx_id: TxId,
    pub body_encoding: BodyEncoding,
}

/// One version of a record, as stored under its key and as returned by reads.
///
/// In answers to an auditor the body is empty: auditors see who did what, never clinical content. A stored
/// body is never empty (a model's borsh bytes are at least eight bytes long).
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Record {
    pub header: RecordHeader,
    pub body: Vec<u8>,
}

impl Record {
    /// Whether the body was withheld from this reader.
    pub fn is_redacted(&self) -> bool {
        self.body.is_empty()
    }

    /// The same record without its body.
    pub fn redacted(mut self) -> Record {
        self.body = Vec::new();
        self
    }

    /// Decodes the body as model `M`, checking the kind and the encoding.
    pub fn decode_body<M: Model>(&self) -> Result<M, ContractError> {
        if self.header.kind != M::KIND {
            return Err(ContractError::BadRequest(format!(
                "record is a {}, not a {}",
                self.header.kind,
                M::KIND
            )));
        }
        if self.is_redacted() {
            return Err(ContractError::BadRequest(
                "the record's body was withheld from this reader".to_owned(),
            ));
        }
        match self.header.body_encoding {
            BodyEncoding::Borsh => M::decode_body(&self.body),
        }
    }
}
