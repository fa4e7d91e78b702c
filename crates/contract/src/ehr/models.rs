//! The five record models, with every OMOP CDM v5.4 column of their table under OMOP's own name.
//!
//! Field names are the OMOP column names (serde uses them as they are), so an OMOP CSV row maps onto a
//! model by name and back without loss; a test checks this against the official field list. Integers are
//! `i64`, OMOP-required columns are non-`Option`, optional ones are `Option` (JSON `null`); dates are
//! [`Date`], datetimes [`DateTime`], OMOP's float is [`Decimal`], varchar is `String` (length limits are
//! checked by validation, not by the type). The fields beyond OMOP (names, email, national id, certificate)
//! are listed in each model's doc.
//!
//! A model's borsh encoding is a record's body, so changing a model is a body format change: bump its
//! [`Model::SCHEMA_VERSION`] and keep decoding the old one.

use borsh::{BorshDeserialize, BorshSerialize};
use medledger_types::codec;
use medledger_types::limits;

use super::record::RecordKind;
use super::values::{Date, DateTime, Decimal, hex_bytes};
use crate::error::ContractError;

/// A patient: OMOP PERSON (all 18 columns), plus the names and national identity number a clinic needs.
///
/// Extra fields: `given_name`, `second_given_name`, `family_name`, `second_family_name`, `national_id`.
/// They are optional because OMOP PERSON files carry no names, and importing them must not fail; the web
/// application requires names when a doctor registers a patient by hand.
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
#[serde(deny_unknown_fields)]
pub struct Patient {
    pub person_id: i64,
    pub gender_concept_id: i64,
    pub year_of_birth: i64,
    pub month_of_birth: Option<i64>,
    pub day_of_birth: Option<i64>,
    pub birth_datetime: Option<DateTime>,
    pub race_concept_id: i64,
    pub ethnicity_concept_id: i64,
    pub location_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub care_site_id: Option<i64>,
    pub person_source_value: Option<String>,
    pub gender_source_value: Option<String>,
    pub gender_source_concept_id: Option<i64>,
    pub race_source_value: Option<String>,
    pub race_source_concept_id: Option<i64>,
    pub ethnicity_source_value: Option<String>,
    pub ethnicity_source_concept_id: Option<i64>,
    // Beyond OMOP.
    pub given_name: Option<String>,
    pub second_given_name: Option<String>,
    pub family_name: Option<String>,
    pub second_family_name: Option<String>,
    pub national_id: Option<String>,
}

/// A drug exposure: OMOP DRUG_EXPOSURE (all 23 columns). `quantity` (OMOP float) is a [`Decimal`].
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
#[serde(deny_unknown_fields)]
pub struct DrugExposure {
    pub drug_exposure_id: i64,
    pub person_id: i64,
    pub drug_concept_id: i64,
    pub drug_exposure_start_date: Date,
    pub drug_exposure_start_datetime: Option<DateTime>,
    pub drug_exposure_end_date: Date,
    pub drug_exposure_end_datetime: Option<DateTime>,
    pub verbatim_end_date: Option<Date>,
    pub drug_type_concept_id: i64,
    pub stop_reason: Option<String>,
    pub refills: Option<i64>,
    pub quantity: Option<Decimal>,
    pub days_supply: Option<i64>,
    pub sig: Option<String>,
    pub route_concept_id: Option<i64>,
    pub lot_number: Option<String>,
    pub provider_id: Option<i64>,
    pub visit_occurrence_id: Option<i64>,
    pub visit_detail_id: Option<i64>,
    pub drug_source_value: Option<String>,
    pub drug_source_concept_id: Option<i64>,
    pub route_source_value: Option<String>,
    pub dose_unit_source_value: Option<String>,
}

/// A clinical note: OMOP NOTE (all 16 columns).
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
#[serde(deny_unknown_fields)]
pub struct Note {
    pub note_id: i64,
    pub person_id: i64,
    pub note_date: Date,
    pub note_datetime: Option<DateTime>,
    pub note_type_concept_id: i64,
    pub note_class_concept_id: i64,
    pub note_title: Option<String>,
    pub note_text: String,
    pub encoding_concept_id: i64,
    pub language_concept_id: i64,
    pub provider_id: Option<i64>,
    pub visit_occurrence_id: Option<i64>,
    pub visit_detail_id: Option<i64>,
    pub note_source_value: Option<String>,
    pub note_event_id: Option<i64>,
    pub note_event_field_concept_id: Option<i64>,
}

/// A doctor: OMOP PROVIDER (all 13 columns; the thesis's identifier is `provider_id`, its speciality is
/// `specialty_concept_id` / `specialty_source_value`), plus the person's names, email and certificate.
///
/// Extra fields: `given_name` and `family_name` (required), `second_given_name`, `second_family_name`,
/// `email` (required, unique among doctors, indexed) and `certificate` (DER of the doctor's X.509
/// certificate; JSON: hex). The contract stores the certificate; the peer validates certificates.
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
#[serde(deny_unknown_fields)]
pub struct Doctor {
    pub provider_id: i64,
    pub provider_name: Option<String>,
    pub npi: Option<String>,
    pub dea: Option<String>,
    pub specialty_concept_id: Option<i64>,
    pub care_site_id: Option<i64>,
    pub year_of_birth: Option<i64>,
    pub gender_concept_id: Option<i64>,
    pub provider_source_value: Option<String>,
    pub specialty_source_value: Option<String>,
    pub specialty_source_concept_id: Option<i64>,
    pub gender_source_value: Option<String>,
    pub gender_source_concept_id: Option<i64>,
    // Beyond OMOP.
    pub given_name: String,
    pub second_given_name: Option<String>,
    pub family_name: String,
    pub second_family_name: Option<String>,
    pub email: String,
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
}

/// An administrator of an organization (no OMOP table). `email` is unique among admins and indexed;
/// `certificate` is the DER of the admin's X.509 certificate (JSON: hex).
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
#[serde(deny_unknown_fields)]
pub struct Admin {
    pub admin_id: i64,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
}

/// What every model is to the contract: a kind, an id, perhaps a patient, and a borsh body.
pub trait Model: BorshSerialize + BorshDeserialize + Sized {
    const KIND: RecordKind;
    /// The version of this model's body layout, written into every record header.
    const SCHEMA_VERSION: u16 = 1;
    /// The OMOP name of the id field (`person_id`, `note_id`, ...), used in field errors.
    const ID_FIELD: &'static str;

    fn id(&self) -> i64;

    /// The patient a clinical record belongs to (`None` for patients, doctors and admins).
    fn patient_id(&self) -> Option<i64> {
        None
    }

    /// The record body: the model's canonical bytes.
    fn encode_body(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a plaintext body (untrusted bytes: bounded, whole input consumed, never a panic).
    fn decode_body(body: &[u8]) -> Result<Self, ContractError> {
        codec::decode(Self::KIND.as_str(), body, limits::VALUE_BYTES_MAX)
            .map_err(|e| ContractError::BadRequest(format!("record body: {e}")))
    }
}

macro_rules! model {
    ($t:ty, $kind:expr, $id_field:literal, |$s:ident| $id:expr, $patient:expr) => {
        impl Model for $t {
            const KIND: RecordKind = $kind;
            const ID_FIELD: &'static str = $id_field;
            fn id(&self) -> i64 {
                let $s = self;
                $id
            }
            #[allow(unused_variables)]
            fn patient_id(&self) -> Option<i64> {
                let $s = self;
                $patient
            }
        }

        impl $t {
            /// Decodes a plaintext record body of this model (see [`Model::decode_body`]).
            pub fn decode_body(body: &[u8]) -> Result<Self, ContractError> {
                <Self as Model>::decode_body(body)
            }
        }
    };
}

model!(
    Patient,
    RecordKind::Patient,
    "person_id",
    |s| s.person_id,
    None
);
model!(
    DrugExposure,
    RecordKind::DrugExposure,
    "drug_exposure_id",
    |s| s.drug_exposure_id,
    Some(s.person_id)
);
model!(
    Note,
    RecordKind::Note,
    "note_id",
    |s| s.note_id,
    Some(s.person_id)
);
model!(
    Doctor,
    RecordKind::Doctor,
    "provider_id",
    |s| s.provider_id,
    None
);
model!(Admin, RecordKind::Admin, "admin_id", |s| s.admin_id, None);
