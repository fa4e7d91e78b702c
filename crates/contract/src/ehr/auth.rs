//! Who may do what: the signer's certificate role against the call and the record kind.
//!
//! The matrix (✔ full access, "header" header only with the body withheld, ✘ `Forbidden`):
//!
//! | call | kind | admin | doctor | auditor | peer, orderer, client |
//! |---|---|---|---|---|---|
//! | `create`, `amend` | admin, doctor | ✔ | ✘ | ✘ | ✘ |
//! | `create`, `amend` | patient, note, drug_exposure | ✘ | ✔ | ✘ | ✘ |
//! | `get`, `list`, `history` | admin, doctor | ✔ | ✔ | header | ✘ |
//! | `get`, `list`, `history` | patient, note, drug_exposure | ✘ | ✔ | header | ✘ |
//! | `by_email` | admin, doctor | ✔ | ✔ | header | ✘ |
//! | `patient_records` | note, drug_exposure | ✘ | ✔ | header | ✘ |
//!
//! `by_email` of a clinical kind and `patient_records` of a kind that does not belong to a patient are
//! malformed calls (`BadRequest`) for every role; that check comes first. Authorization comes before any
//! state is read, so a refused signer learns nothing about what exists.

use medledger_types::Role;

use super::record::RecordKind;
use crate::error::ContractError;

/// How much of a record a reader may see.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// Header and body.
    Full,
    /// Header only: the body is returned empty (auditors).
    HeaderOnly,
}

/// Whether a call writes or reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operation {
    Write,
    Read,
}

/// The access `role` has for `operation` on records of `kind`; `None`: forbidden.
pub fn access(role: Role, operation: Operation, kind: RecordKind) -> Option<Access> {
    match (operation, role) {
        (Operation::Write, Role::Admin) if !kind.is_clinical() => Some(Access::Full),
        (Operation::Write, Role::Doctor) if kind.is_clinical() => Some(Access::Full),
        (Operation::Read, Role::Doctor) => Some(Access::Full),
        (Operation::Read, Role::Admin) if !kind.is_clinical() => Some(Access::Full),
        (Operation::Read, Role::Auditor) => Some(Access::HeaderOnly),
        _ => None,
    }
}

/// [`access`], or `Forbidden` naming the action (`"{function} {kind}"`).
pub fn authorize(
    role: Role,
    operation: Operation,
    function: &str,
    kind: RecordKind,
) -> Result<Access, ContractError> {
    access(role, operation, kind).ok_or_else(|| ContractError::Forbidden {
        role,
        action: format!("{function} {kind}"),
    })
}
