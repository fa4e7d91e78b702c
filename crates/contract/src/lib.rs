//! medledger's contracts: the runtime that simulates a transaction over world state ([`runtime`]) and the
//! EHR contract ([`ehr`]) that keeps OMOP CDM v5.4 patients, drug exposures and notes, plus doctors and
//! admins.
//!
//! Architecture invariant: this crate is deterministic. It has no clock (time is the proposal's
//! `timestamp_ms`), no randomness, no I/O, no crypto and no hash-map iteration; it depends only on
//! `medledger-types`, borsh, serde and thiserror (and, with the `json-schema` feature, serde_json for
//! `ehr::schema`, which no contract call uses). The same state and proposal always give the same
//! read-write set and response bytes — every endorsing peer must agree byte for byte.
//!
//! # World-state layout of the EHR contract
//!
//! | key | value |
//! |---|---|
//! | `rec/patient/{person_id:020}` | borsh [`ehr::Record`] (header + body) of the current version |
//! | `rec/drug_exposure/{drug_exposure_id:020}` | the same |
//! | `rec/note/{note_id:020}` | the same |
//! | `rec/doctor/{provider_id:020}` | the same |
//! | `rec/admin/{admin_id:020}` | the same |
//! | `idx/doctor_email/{email}` | borsh `i64`: the doctor's `provider_id` |
//! | `idx/admin_email/{email}` | borsh `i64`: the admin's `admin_id` |
//! | `idx/patient_notes/{person_id:020}/{note_id:020}` | empty |
//! | `idx/patient_drug_exposures/{person_id:020}/{drug_exposure_id:020}` | empty |
//!
//! Ids are positive and zero-padded to 20 digits, so key order is id order and a range over a prefix is a
//! page in id order. Emails in index keys are ASCII lower case. Every kind has its own namespace, so a note
//! and a drug exposure with the same id never collide (the thesis's defect). A record's versions are the
//! store's history of its `rec/...` key; nothing is ever deleted, and index entries never go stale because
//! what they index (a record's patient, a doctor's or admin's email) cannot be amended.

pub mod ehr;
pub mod error;
pub mod runtime;

pub use error::{ContractError, FieldError, StateError};
pub use runtime::{
    Contract, Invocation, MemoryState, Simulation, Simulator, StateReader, Stub, simulate,
};
