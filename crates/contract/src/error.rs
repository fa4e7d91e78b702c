//! The errors a contract can return, and the error a world-state reader can return.
//!
//! A [`ContractError`] is part of the ledger: when a contract refuses a proposal, the endorsing peer puts
//! the error's canonical (borsh) bytes in the refused response's payload, and the gateway decodes them to
//! tell the person what was wrong — down to the field, by its OMOP name. So the error is data (borsh, no
//! boxed sources), and its shape is a format: append variants, never reorder them.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use medledger_types::Role;
use medledger_types::codec::{self, CodecError};

use crate::ehr::RecordKind;

/// One field that failed validation.
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
pub struct FieldError {
    /// The field's name as the model spells it (OMOP's column name where there is one).
    pub field: String,
    /// A stable machine-readable code, see [`codes`].
    pub code: String,
    /// A human-readable explanation, in English (the gateway translates by `code`).
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.code)
    }
}

/// The codes a [`FieldError`] carries. They are API: the gateway maps them to translated messages.
pub mod codes {
    /// A required value is missing or empty.
    pub const REQUIRED: &str = "required";
    /// A text is longer than its limit (in bytes).
    pub const TOO_LONG: &str = "too_long";
    /// Year, month and day do not make a calendar date.
    pub const INVALID_DATE: &str = "invalid_date";
    /// An end date or datetime is before its start.
    pub const END_BEFORE_START: &str = "end_before_start";
    /// The referenced patient does not exist.
    pub const UNKNOWN_PATIENT: &str = "unknown_patient";
    /// A number is outside its plausible range (ids must be positive, concept ids non-negative, ...).
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// Not an email address of the accepted shape.
    pub const INVALID_EMAIL: &str = "invalid_email";
    /// An amendment tried to change a value that identifies the record (its id, patient or email).
    pub const IMMUTABLE: &str = "immutable";
    /// An optional text that is given but has nothing visible in it (only white space or invisible
    /// characters): leave the field out instead.
    pub const BLANK: &str = "blank";
    /// A text holds a control character (NUL, an escape, ...); long texts may hold line ends and tabs.
    pub const CONTROL_CHARACTER: &str = "control_character";
    /// A name or identifier holds a bidirectional embedding, override or isolate, which can make it
    /// display as something else (U+202E shows the rest of a name backwards).
    pub const BIDI_CONTROL: &str = "bidi_control";
}

/// Why a contract refused a proposal. Borsh-encoded into the refused response's payload.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, thiserror::Error)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum ContractError {
    /// One or more fields are invalid; every failing field is listed.
    #[error("invalid record: {}", join(.0))]
    Validation(Vec<FieldError>) = 0,
    /// A record with this identity (id, or email for doctors and admins) already exists.
    #[error("{kind} with {field} {value} already exists")]
    AlreadyExists {
        kind: RecordKind,
        field: String,
        value: String,
    } = 1,
    /// No record has this identity.
    #[error("no {kind} with {field} {value}")]
    NotFound {
        kind: RecordKind,
        field: String,
        value: String,
    } = 2,
    /// The signer's role may not do this (`action` is e.g. `create note`).
    #[error("a signer with role {role} may not {action}")]
    Forbidden { role: Role, action: String } = 3,
    /// The call itself is malformed: undecodable arguments, wrong function name, bad limit or cursor.
    #[error("bad request: {0}")]
    BadRequest(String) = 4,
    /// The world state could not be read, or holds bytes that do not decode (a bug or corruption).
    #[error("world state: {0}")]
    State(String) = 5,
    /// The transaction would break a runtime limit (key or value size, number of reads or writes).
    #[error("{what}: {len} is over the limit of {max}")]
    TooLarge { what: String, len: u64, max: u64 } = 6,
    /// An amendment named the version it was made on (`expected`), and the record's current version is
    /// another (`current`): someone else amended it meanwhile.
    #[error("{kind} {id} is at version {current}, not the expected version {expected}")]
    VersionMismatch {
        kind: RecordKind,
        id: i64,
        expected: u32,
        current: u32,
    } = 7,
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Largest encoded [`ContractError`] accepted by [`ContractError::from_payload`]; validation lists are
/// short (a few dozen fields at most), so this is generous.
pub const ERROR_PAYLOAD_BYTES_MAX: usize = 64 * 1024;

impl ContractError {
    /// The bytes a peer puts in a refused [`medledger_types::Response`].
    pub fn to_payload(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a refused response's payload.
    pub fn from_payload(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode("contract error", bytes, ERROR_PAYLOAD_BYTES_MAX)
    }

    /// Whether the error is this peer's own failure to read its state (not a judgement of the proposal):
    /// a peer must not endorse it as a refusal, since another peer would answer differently.
    pub fn is_state_failure(&self) -> bool {
        matches!(self, ContractError::State(_))
    }

    /// The field errors, if this is a validation error.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ContractError::Validation(errors) => errors,
            _ => &[],
        }
    }
}

impl From<StateError> for ContractError {
    fn from(e: StateError) -> Self {
        ContractError::State(e.0)
    }
}

/// The world state could not answer (the store failed, or a stored value is corrupt).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);
