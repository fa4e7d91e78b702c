//! The five record models, with every OMOP CDM v5.4 column of their table under OMOP's own name.
//!
//! Field names are the OMOP column names (serde uses them as they are), so an OMOP CSV row maps onto a
//! model by name and back without loss; a test checks this against the official field list. Integers are
//! `i64`, OMOP-required columns are non-`Option`, optional ones are `Option` (JSON `null`); dates are
//! [`Date`], datetimes [`DateTime`], OMOP's float is [`Decimal`], varchar is `String` (length limits are
//! checked by validation, not by the type). The fields beyond OMOP (names, email, national id, certificate)
//! are listed in each model's doc.
//!
//! Each model is declared with one line per field that also names the field's type of value
//! (`pub person_id: i64 => RecordId;`, a [`FieldType`](super::fields::FieldType)): the struct and its
//! [`Fields`] description come from the same lines (see [`super::fields`]), so validation, the API
//! schemas and the web forms follow the struct.
//!
//! A model's borsh encoding is a record's body, so changing a model is a body format change: bump its
//! [`Model::SCHEMA_VERSION`] and keep decoding the old one.

use borsh::{BorshDeserialize, BorshSerialize};
use medledger_types::codec;
use medledger_types::limits;

use super::fields::FieldType::*;
use super::fields::{Field, FieldData, FieldValue, Fields};
use super::record::RecordKind;
use super::values::{Date, DateTime, Decimal, hex_bytes};
use crate::error::ContractError;

/// Declares a model: the struct (with the derives and serde settings every model has) and its [`Fields`]
/// description, from one line per field: `pub name: RustType => FieldType;`, optionally followed by
/// `, doc = "..."` (the field's [`Field::doc`]). Attributes before a field (`#[serde(with = ..)]`) go to
/// the struct's field. A field type that does not fit the Rust type is a compile error.
macro_rules! record_model {
    (
        $(#[$attr:meta])*
        pub struct $model:ident {
            $(
                $(#[$field_attr:meta])*
                pub $name:ident: $ty:ty => $field_type:expr $(, doc = $doc:literal)?;
            )*
        }
    ) => {
        $(#[$attr])*
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
        pub struct $model {
            $($(#[$field_attr])* pub $name: $ty,)*
        }

        impl Fields for $model {
            const NAME: &'static str = stringify!($model);
            const FIELDS: &'static [Field] = &[$(Field {
                name: stringify!($name),
                ty: $field_type,
                required: <$ty as FieldData>::REQUIRED,
                doc: concat!("" $(, $doc)?),
            }),*];

            fn for_each_value<'a>(
                &'a self,
                mut visit: impl FnMut(&'static Field, Option<FieldValue<'a>>),
            ) {
                let values = [$(FieldData::value(&self.$name)),*];
                for (field, value) in Self::FIELDS.iter().zip(values) {
                    visit(field, value);
                }
            }
        }

        const _: () = {
            $(assert!(
                $field_type.shape().is(<$ty as FieldData>::SHAPE),
                concat!(
                    stringify!($model), ".", stringify!($name),
                    ": the field type does not fit the Rust type"
                ),
            );)*
        };
    };
}

record_model! {
    /// A patient: OMOP PERSON (all 18 columns), plus the names and national identity number a clinic needs.
    ///
    /// Extra fields: `given_name`, `second_given_name`, `family_name`, `second_family_name`, `national_id`.
    /// They are optional because OMOP PERSON files carry no names, and importing them must not fail; the web
    /// application requires names when a doctor registers a patient by hand.
    pub struct Patient {
        pub person_id: i64 => RecordId;
        pub gender_concept_id: i64 => Concept;
        pub year_of_birth: i64 => BirthYear;
        pub month_of_birth: Option<i64> => BirthMonth;
        pub day_of_birth: Option<i64> => BirthDay;
        pub birth_datetime: Option<DateTime> => BirthDateTime;
        pub race_concept_id: i64 => Concept;
        pub ethnicity_concept_id: i64 => Concept;
        pub location_id: Option<i64> => Id;
        pub provider_id: Option<i64> => Id;
        pub care_site_id: Option<i64> => Id;
        pub person_source_value: Option<String> => ShortText;
        pub gender_source_value: Option<String> => ShortText;
        pub gender_source_concept_id: Option<i64> => Concept;
        pub race_source_value: Option<String> => ShortText;
        pub race_source_concept_id: Option<i64> => Concept;
        pub ethnicity_source_value: Option<String> => ShortText;
        pub ethnicity_source_concept_id: Option<i64> => Concept;
        // Beyond OMOP.
        pub given_name: Option<String> => ShortText;
        pub second_given_name: Option<String> => ShortText;
        pub family_name: Option<String> => ShortText;
        pub second_family_name: Option<String> => ShortText;
        pub national_id: Option<String> => ShortText;
    }
}

record_model! {
    /// A drug exposure: OMOP DRUG_EXPOSURE (all 23 columns). `quantity` (OMOP float) is a [`Decimal`].
    pub struct DrugExposure {
        pub drug_exposure_id: i64 => RecordId;
        pub person_id: i64 => Reference(RecordKind::Patient);
        pub drug_concept_id: i64 => Concept;
        pub drug_exposure_start_date: Date => Date;
        pub drug_exposure_start_datetime: Option<DateTime> => DateTime;
        pub drug_exposure_end_date: Date => Date;
        pub drug_exposure_end_datetime: Option<DateTime> => DateTime;
        pub verbatim_end_date: Option<Date> => Date;
        pub drug_type_concept_id: i64 => Concept;
        pub stop_reason: Option<String> => ShortText;
        pub refills: Option<i64> => Count;
        pub quantity: Option<Decimal> => NonNegativeDecimal;
        pub days_supply: Option<i64> => Count;
        pub sig: Option<String> => LongText;
        pub route_concept_id: Option<i64> => Concept;
        pub lot_number: Option<String> => ShortText;
        pub provider_id: Option<i64> => Id;
        pub visit_occurrence_id: Option<i64> => Id;
        pub visit_detail_id: Option<i64> => Id;
        pub drug_source_value: Option<String> => ShortText;
        pub drug_source_concept_id: Option<i64> => Concept;
        pub route_source_value: Option<String> => ShortText;
        pub dose_unit_source_value: Option<String> => ShortText;
    }
}

record_model! {
    /// A clinical note: OMOP NOTE (all 16 columns).
    pub struct Note {
        pub note_id: i64 => RecordId;
        pub person_id: i64 => Reference(RecordKind::Patient);
        pub note_date: Date => Date;
        pub note_datetime: Option<DateTime> => DateTime;
        pub note_type_concept_id: i64 => Concept;
        pub note_class_concept_id: i64 => Concept;
        pub note_title: Option<String> => ShortText;
        pub note_text: String => LongText;
        pub encoding_concept_id: i64 => Concept;
        pub language_concept_id: i64 => Concept;
        pub provider_id: Option<i64> => Id;
        pub visit_occurrence_id: Option<i64> => Id;
        pub visit_detail_id: Option<i64> => Id;
        pub note_source_value: Option<String> => ShortText;
        pub note_event_id: Option<i64> => Id;
        pub note_event_field_concept_id: Option<i64> => Concept;
    }
}

record_model! {
    /// A doctor: OMOP PROVIDER (all 13 columns; the thesis's identifier is `provider_id`, its speciality is
    /// `specialty_concept_id` / `specialty_source_value`), plus the person's names, email and certificate.
    ///
    /// Extra fields: `given_name` and `family_name` (required), `second_given_name`, `second_family_name`,
    /// `email` (required, unique among doctors, indexed) and `certificate` (DER of the doctor's X.509
    /// certificate; JSON: hex). The contract stores the certificate; the peer validates certificates.
    pub struct Doctor {
        pub provider_id: i64 => RecordId;
        pub provider_name: Option<String> => ShortText;
        pub npi: Option<String> => ShortText;
        pub dea: Option<String> => ShortText;
        pub specialty_concept_id: Option<i64> => Concept;
        pub care_site_id: Option<i64> => Id;
        pub year_of_birth: Option<i64> => BirthYear;
        pub gender_concept_id: Option<i64> => Concept;
        pub provider_source_value: Option<String> => ShortText;
        pub specialty_source_value: Option<String> => ShortText;
        pub specialty_source_concept_id: Option<i64> => Concept;
        pub gender_source_value: Option<String> => ShortText;
        pub gender_source_concept_id: Option<i64> => Concept;
        // Beyond OMOP.
        pub given_name: String => ShortText;
        pub second_given_name: Option<String> => ShortText;
        pub family_name: String => ShortText;
        pub second_family_name: Option<String> => ShortText;
        pub email: String => Email, doc = "Unique among doctors; it cannot change.";
        #[serde(with = "hex_bytes")]
        pub certificate: Vec<u8> => Certificate, doc = "The DER bytes of the doctor's X.509 certificate, in hexadecimal.";
    }
}

record_model! {
    /// An administrator of an organization (no OMOP table). `email` is unique among admins and indexed;
    /// `certificate` is the DER of the admin's X.509 certificate (JSON: hex).
    pub struct Admin {
        pub admin_id: i64 => RecordId;
        pub given_name: String => ShortText;
        pub family_name: String => ShortText;
        pub email: String => Email, doc = "Unique among administrators; it cannot change.";
        #[serde(with = "hex_bytes")]
        pub certificate: Vec<u8> => Certificate, doc = "The DER bytes of the administrator's X.509 certificate, in hexadecimal.";
    }
}

/// What every model is to the contract: a kind, an id, perhaps a patient, and a borsh body.
pub trait Model: Fields + BorshSerialize + BorshDeserialize + Sized {
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
