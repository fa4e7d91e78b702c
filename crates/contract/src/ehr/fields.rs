//! The one description of every model's fields: for each [`RecordKind`], its fields in serde order, each
//! with its name, its [`FieldType`] (which rule set applies to it), whether the model requires it, and a
//! line of meaning where its name does not say enough.
//!
//! The description is not written beside the models: [`super::models`] declares each model through a
//! macro that takes one line per field (`pub person_id: i64 => RecordId;`) and emits both the struct and
//! its [`Fields`] impl, so the struct and its table cannot disagree and adding a field is one line.
//! `required` comes from the Rust type (`Option` or not, [`FieldData::REQUIRED`]), and a field type that
//! does not fit the Rust type (a `String` declared a [`FieldType::Concept`]) does not compile.
//!
//! What comes from it:
//! - the contract's per-field validation ([`super::validate`]), which reads each value through
//!   [`Fields::for_each_value`]; the rules that relate fields (a day the month has, an end not before its
//!   start) are written out beside it;
//! - the JSON Schema of each model and its amendment body (`ehr::schema`, with the `json-schema`
//!   feature), for the REST layer's OpenAPI document;
//! - what a web form needs to know of a field beyond its labels: [`FieldType::shape`] (how a value is
//!   typed in), [`Field::required`], [`FieldType::max_chars`], [`FieldType::minimum`] and
//!   [`FieldType::maximum`], and [`Field::immutable`] (left out of amendment forms).

use medledger_types::limits;

use super::models::{Admin, Doctor, DrugExposure, Note, Patient};
use super::record::RecordKind;
use super::validate::{BIRTH_YEAR_MIN, EMAIL_BYTES_MAX, LONG_TEXT_CHARS_MAX, SHORT_TEXT_CHARS_MAX};
use super::values::{Date, DateTime, Decimal};

/// One field of a model.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Field {
    /// The OMOP column name, which is also the serde (JSON) name and the name field errors carry.
    pub name: &'static str,
    /// Which rules apply to the field's value.
    pub ty: FieldType,
    /// The model cannot do without it: the Rust field is not an `Option` (JSON: the key must be present
    /// and not `null`).
    pub required: bool,
    /// What the field means, in one line, where its name and type do not say it; empty otherwise. Used
    /// as (the start of) the field's description in the API document.
    pub doc: &'static str,
}

impl Field {
    /// Whether an amendment must leave the field as it is: it identifies the record (its id, its
    /// patient, a person's email or certificate). See [`FieldType::is_identity`].
    pub const fn immutable(&self) -> bool {
        self.ty.is_identity()
    }
}

/// The rule set a field's value is checked against. Every variant fits exactly one [`Shape`] of Rust
/// value ([`FieldType::shape`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldType {
    /// The record's own id (`person_id` of a patient, `note_id` of a note, ...): positive; it names the
    /// record and cannot be amended.
    RecordId,
    /// The id of a row of another OMOP table (`location_id`, `visit_occurrence_id`, ...): positive. The
    /// contract does not check that the row exists.
    Id,
    /// The id of another record of this kind that must exist (the patient of a note or drug exposure):
    /// positive, checked to exist when the record is created, and it cannot be amended.
    Reference(RecordKind),
    /// An OMOP concept id: 0 or more (OMOP uses 0 for "no matching concept").
    Concept,
    /// A count (`refills`, `days_supply`): 0 or more.
    Count,
    /// A year of birth: from [`BIRTH_YEAR_MIN`] up to the year of the invocation (UTC).
    BirthYear,
    /// A month of birth: 1 to 12.
    BirthMonth,
    /// A day of birth: a day of the month of birth, which it needs (checked with the month, not alone).
    BirthDay,
    /// A calendar date (`YYYY-MM-DD`; valid by construction of [`Date`]).
    Date,
    /// An instant in UTC, whole seconds (`YYYY-MM-DDTHH:MM:SSZ`; valid by construction of [`DateTime`]).
    DateTime,
    /// The instant of a birth: a [`FieldType::DateTime`] whose year is a plausible year of birth (as
    /// [`FieldType::BirthYear`]).
    BirthDateTime,
    /// A [`Decimal`] that is not negative (`-0` is zero).
    NonNegativeDecimal,
    /// Text of at most [`SHORT_TEXT_CHARS_MAX`] characters; not blank if required.
    ShortText,
    /// Text of at most [`LONG_TEXT_CHARS_MAX`] characters (OMOP `varchar(MAX)`); not blank if required.
    LongText,
    /// An email address of the shape [`super::validate::is_email`] accepts, at most [`EMAIL_BYTES_MAX`]
    /// bytes; it identifies a person (unique, indexed) and cannot be amended.
    Email,
    /// The DER bytes of a person's X.509 certificate (JSON: hexadecimal): present, at most
    /// `limits::CERTIFICATE_BYTES_MAX` bytes; it cannot be amended.
    Certificate,
}

impl FieldType {
    /// The Rust (and JSON) shape of a value of this type.
    pub const fn shape(self) -> Shape {
        match self {
            FieldType::RecordId
            | FieldType::Id
            | FieldType::Reference(_)
            | FieldType::Concept
            | FieldType::Count
            | FieldType::BirthYear
            | FieldType::BirthMonth
            | FieldType::BirthDay => Shape::Integer,
            FieldType::Date => Shape::Date,
            FieldType::DateTime | FieldType::BirthDateTime => Shape::DateTime,
            FieldType::NonNegativeDecimal => Shape::Decimal,
            FieldType::ShortText | FieldType::LongText | FieldType::Email => Shape::Text,
            FieldType::Certificate => Shape::Bytes,
        }
    }

    /// Whether a value of this type identifies the record, so an amendment may not change it.
    pub const fn is_identity(self) -> bool {
        matches!(
            self,
            FieldType::RecordId
                | FieldType::Reference(_)
                | FieldType::Email
                | FieldType::Certificate
        )
    }

    /// The smallest integer accepted, for integer types; `None` for others. A year of birth's upper
    /// bound is the year of the invocation, so it has no fixed [`FieldType::maximum`].
    pub const fn minimum(self) -> Option<i64> {
        match self {
            FieldType::RecordId
            | FieldType::Id
            | FieldType::Reference(_)
            | FieldType::BirthMonth
            | FieldType::BirthDay => Some(1),
            FieldType::Concept | FieldType::Count => Some(0),
            FieldType::BirthYear => Some(BIRTH_YEAR_MIN),
            _ => None,
        }
    }

    /// The largest integer accepted whatever the date, for integer types that have one.
    pub const fn maximum(self) -> Option<i64> {
        match self {
            FieldType::BirthMonth => Some(12),
            FieldType::BirthDay => Some(31),
            _ => None,
        }
    }

    /// The longest text accepted, in characters (`str::chars`), for text types; emails are ASCII, so
    /// their byte limit is also in characters. For certificates see `limits::CERTIFICATE_BYTES_MAX`.
    pub const fn max_chars(self) -> Option<usize> {
        match self {
            FieldType::ShortText => Some(SHORT_TEXT_CHARS_MAX),
            FieldType::LongText => Some(LONG_TEXT_CHARS_MAX),
            FieldType::Email => Some(EMAIL_BYTES_MAX),
            _ => None,
        }
    }

    /// The longest value accepted, in bytes, for byte strings.
    pub const fn max_bytes(self) -> Option<usize> {
        match self {
            FieldType::Certificate => Some(limits::CERTIFICATE_BYTES_MAX),
            _ => None,
        }
    }
}

/// The Rust type behind a field (without its `Option`), which is also its JSON type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Shape {
    /// `i64`; a JSON integer.
    Integer,
    /// `String`; a JSON string.
    Text,
    /// [`Date`]; a JSON string `YYYY-MM-DD`.
    Date,
    /// [`DateTime`]; a JSON string `YYYY-MM-DDTHH:MM:SSZ`.
    DateTime,
    /// [`Decimal`]; a JSON string of decimal text.
    Decimal,
    /// `Vec<u8>`; a JSON string of hexadecimal digits.
    Bytes,
}

impl Shape {
    /// Shape equality usable in constant assertions.
    pub const fn is(self, other: Shape) -> bool {
        self as u8 == other as u8
    }
}

/// A model field's value as validation reads it: borrowed, without its `Option`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldValue<'a> {
    Integer(i64),
    Text(&'a str),
    Date(Date),
    DateTime(DateTime),
    Decimal(&'a Decimal),
    Bytes(&'a [u8]),
}

/// The Rust types a model field may have: a value of a [`Shape`], or an `Option` of one.
pub trait FieldData {
    /// Whether a field of this type must be present (it is not an `Option`).
    const REQUIRED: bool;
    /// The shape of the value.
    const SHAPE: Shape;
    /// The value, `None` when an optional field is absent.
    fn value(&self) -> Option<FieldValue<'_>>;
}

macro_rules! field_data {
    ($t:ty, $shape:ident, |$v:ident| $value:expr) => {
        impl FieldData for $t {
            const REQUIRED: bool = true;
            const SHAPE: Shape = Shape::$shape;
            fn value(&self) -> Option<FieldValue<'_>> {
                let $v = self;
                Some($value)
            }
        }

        impl FieldData for Option<$t> {
            const REQUIRED: bool = false;
            const SHAPE: Shape = Shape::$shape;
            fn value(&self) -> Option<FieldValue<'_>> {
                self.as_ref().and_then(|v| v.value())
            }
        }
    };
}

field_data!(i64, Integer, |v| FieldValue::Integer(*v));
field_data!(String, Text, |v| FieldValue::Text(v.as_str()));
field_data!(Date, Date, |v| FieldValue::Date(*v));
field_data!(DateTime, DateTime, |v| FieldValue::DateTime(*v));
field_data!(Decimal, Decimal, |v| FieldValue::Decimal(v));
field_data!(Vec<u8>, Bytes, |v| FieldValue::Bytes(v.as_slice()));

/// A model described field by field. Implemented by the macro that declares each model.
pub trait Fields {
    /// The model's Rust type name (`Patient`, `DrugExposure`, ...), also its schema's name.
    const NAME: &'static str;
    /// Every field, in declaration (serde and borsh) order.
    const FIELDS: &'static [Field];
    /// Calls `visit` with each field and its value, in [`Fields::FIELDS`] order.
    fn for_each_value<'a>(&'a self, visit: impl FnMut(&'static Field, Option<FieldValue<'a>>));
}

/// The fields of a kind's model, in declaration order.
pub fn fields(kind: RecordKind) -> &'static [Field] {
    match kind {
        RecordKind::Patient => Patient::FIELDS,
        RecordKind::DrugExposure => DrugExposure::FIELDS,
        RecordKind::Note => Note::FIELDS,
        RecordKind::Doctor => Doctor::FIELDS,
        RecordKind::Admin => Admin::FIELDS,
    }
}

/// The Rust type name of a kind's model (`Patient`, `DrugExposure`, ...).
pub fn model_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Patient => Patient::NAME,
        RecordKind::DrugExposure => DrugExposure::NAME,
        RecordKind::Note => Note::NAME,
        RecordKind::Doctor => Doctor::NAME,
        RecordKind::Admin => Admin::NAME,
    }
}

/// The field of a kind's model with this name.
pub fn field(kind: RecordKind, name: &str) -> Option<&'static Field> {
    fields(kind).iter().find(|f| f.name == name)
}
