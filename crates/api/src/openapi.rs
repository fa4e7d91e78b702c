//! The OpenAPI 3.1 document of the REST API, generated from the handlers: each module's `routes()` is an
//! [`OpenApiRouter`] whose handlers carry `#[utoipa::path]`, and [`crate::router`] merges them and serves
//! the result at [`DOCUMENT_PATH`].
//!
//! The record models live in the contract crate, which knows nothing of HTTP or OpenAPI (its only
//! dependency is `types`), so [`models`] holds documentation twins of them. Request bodies are parsed as
//! their twin too (JSON types as documented), then as the model; a test checks that each twin and its
//! model agree on every field name, on which fields are required, and that the model's JSON parses as
//! its twin.
//!
//! **The document states what the contract accepts, exactly**, so that a client (or schemathesis) that
//! sends what the document allows is not refused, and one that sends something else is. What utoipa's
//! attributes cannot say is added by [`rules`] to the generated JSON, from the contract's own constants:
//! text lengths in characters, "not blank" and email patterns, the date and date-time shapes the
//! contract reads, the year of birth up to the current year (so the document is built for the year of
//! the request, [`at_year`]), the rules between a patient's month and day of birth, the registration
//! bodies, one amendment body per kind of record, and the enumerations of the answers. Two rules
//! relate fields in ways JSON Schema cannot compare (a drug exposure's end is not before its start;
//! `from` is not after `to` in a consistency proof): the descriptions say them, and the refusals are
//! 422 and 400.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa_axum::router::OpenApiRouter;

use medledger_service::AppState;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

/// The name of the bearer-token security scheme; protected operations carry
/// `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// The document's frame: title, version and the bearer security scheme. Paths come from the routers.
pub fn base() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("medledger")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A permissioned blockchain for electronic health records: OMOP CDM records, \
                     amendments with history, and the ledger's proofs.",
                ))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    BEARER,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .description(Some("The token from POST /api/v1/auth/login."))
                            .build(),
                    ),
                )
                .build(),
        ))
        .build()
}

/// Adds the document's own path to it and the contract's rules ([`rules::apply`]), and returns the
/// router that serves it and the document (as JSON, for the year [`at_year`] fills in).
pub fn serve(mut document: OpenApi) -> (Router<AppState>, Arc<Value>) {
    let operation = utoipa::openapi::path::OperationBuilder::new()
        .operation_id(Some("openapi_document"))
        .summary(Some("This OpenAPI document"))
        .tag("meta")
        .response(
            "200",
            utoipa::openapi::ResponseBuilder::new()
                .description("The OpenAPI 3.1 document of this API")
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::ObjectBuilder::new()))
                        .build(),
                )
                .build(),
        )
        .build();
    document.paths.add_path_operation(
        DOCUMENT_PATH,
        vec![utoipa::openapi::HttpMethod::Get],
        operation,
    );
    let mut json = serde_json::to_value(&document).unwrap_or_default();
    rules::apply(&mut json);
    let document = Arc::new(json);
    // Serialized once a year: the document changes only with the year of birth's upper bound.
    let served: Arc<Mutex<Option<(i64, Bytes)>>> = Arc::default();
    let base = Arc::clone(&document);
    let router = Router::new().route(
        DOCUMENT_PATH,
        get(move |State(state): State<AppState>| {
            let year = medledger_contract::ehr::values::year_of_unix_millis(state.now_ms());
            let bytes = {
                let mut served = served
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                match &*served {
                    Some((at, bytes)) if *at == year => bytes.clone(),
                    _ => {
                        let bytes = Bytes::from(
                            serde_json::to_vec(&at_year(&base, year)).unwrap_or_default(),
                        );
                        *served = Some((year, bytes.clone()));
                        bytes
                    }
                }
            };
            async move { ([(header::CONTENT_TYPE, "application/json")], bytes).into_response() }
        }),
    );
    (router, document)
}

/// The document for requests made in `year` (UTC): the year of birth's upper bound is that year, as the
/// contract checks it against the year of the transaction.
pub fn at_year(document: &Value, year: i64) -> Value {
    let mut document = document.clone();
    rules::birth_years(&mut document, year);
    document
}

/// The routes this module adds through an [`OpenApiRouter`]: none (the document is served by [`serve`],
/// once the rest is known).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// Marks `record` of every `RecordVersion` schema nullable: utoipa drops `nullable` on a field of a
/// generic type, and an auditor's answers carry `null` there.
pub fn document_withheld_records(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    let Some(components) = document.components.as_mut() else {
        return;
    };
    for (name, schema) in components.schemas.iter_mut() {
        if !name.starts_with("RecordVersion") {
            continue;
        }
        if let RefOr::T(Schema::Object(version)) = schema
            && let Some(RefOr::T(Schema::Object(record))) = version.properties.get_mut("record")
        {
            record.schema_type = SchemaType::from_iter([Type::Object, Type::Null]);
        }
    }
}

/// Documentation twins of the service's answers about records ([`medledger_service::records`],
/// [`medledger_service::people::RecordMeta`]): the handlers answer with the service's types; these only
/// describe them in the document. A test checks that each twin names exactly the fields the service's
/// JSON has.
pub mod views {
    use serde::Serialize;
    use utoipa::ToSchema;

    /// One version of a record, with where and by whom it was written.
    ///
    /// The same shape as the people endpoints' answers (`record` and `header`), plus what identifies the
    /// record when its body is withheld, and where on the ledger the version is.
    #[derive(Debug, Clone, Serialize, ToSchema)]
    pub struct RecordVersion<M> {
        /// `patient`, `note`, `drug_exposure`, `doctor` or `admin`.
        pub kind: String,
        /// The record's id (`person_id`, `note_id`, `drug_exposure_id`, `provider_id` or `admin_id`).
        pub id: i64,
        /// The patient a note or drug exposure belongs to.
        pub patient_id: Option<i64>,
        /// The record's fields by their OMOP names; `null` when withheld from this reader (auditors see who
        /// did what, never clinical content). (The document marks it nullable: see
        /// [`super::document_withheld_records`].)
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
    #[derive(Debug, Clone, Serialize, ToSchema)]
    pub struct RecordPage<M> {
        pub items: Vec<RecordVersion<M>>,
        /// Pass as `?cursor=` for the next page; `null` on the last page.
        pub next_cursor: Option<String>,
    }

    /// Who wrote a version of a record, when, why, and in which transaction: the `header` of every
    /// [`RecordVersion`].
    #[derive(Debug, Clone, Serialize, ToSchema)]
    pub struct RecordMeta {
        /// 1 as created, 2 after the first amendment, ...
        pub version_number: u32,
        /// The signer's certificate name (an email).
        pub author: String,
        /// The signer's organization (MSP id).
        pub author_org: String,
        /// When the version was proposed (RFC 3339, UTC).
        pub timestamp: String,
        /// The transaction that wrote this version (hex).
        pub tx_id: String,
        /// Why this version was written (`null` for version 1).
        pub amendment_reason: Option<String>,
    }
}

/// Documentation twins of the contract's record models (see the module doc). Field docs name the OMOP
/// column's meaning where it is not obvious; the contract validates, not these types.
pub mod models {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    /// A patient: OMOP PERSON plus names and a national identity number.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = Patient)]
    pub struct PatientDoc {
        #[schema(minimum = 1)]
        pub person_id: i64,
        #[schema(minimum = 0)]
        pub gender_concept_id: i64,
        /// 1850 to the current year (UTC).
        pub year_of_birth: i64,
        #[schema(minimum = 1, maximum = 12)]
        pub month_of_birth: Option<i64>,
        #[schema(minimum = 1, maximum = 31)]
        pub day_of_birth: Option<i64>,
        /// UTC, whole seconds: `YYYY-MM-DDTHH:MM:SSZ`, in 1850 to the current year.
        #[schema(format = DateTime)]
        pub birth_datetime: Option<String>,
        #[schema(minimum = 0)]
        pub race_concept_id: i64,
        #[schema(minimum = 0)]
        pub ethnicity_concept_id: i64,
        #[schema(minimum = 1)]
        pub location_id: Option<i64>,
        #[schema(minimum = 1)]
        pub provider_id: Option<i64>,
        #[schema(minimum = 1)]
        pub care_site_id: Option<i64>,
        pub person_source_value: Option<String>,
        pub gender_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub gender_source_concept_id: Option<i64>,
        pub race_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub race_source_concept_id: Option<i64>,
        pub ethnicity_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub ethnicity_source_concept_id: Option<i64>,
        pub given_name: Option<String>,
        pub second_given_name: Option<String>,
        pub family_name: Option<String>,
        pub second_family_name: Option<String>,
        pub national_id: Option<String>,
    }

    /// A drug exposure: OMOP DRUG_EXPOSURE. Its end date and verbatim end date are not before its start
    /// date, nor its end datetime before its start datetime (422; 409 for an amendment whose change
    /// does not fit the dates it leaves as they are).
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = DrugExposure)]
    pub struct DrugExposureDoc {
        #[schema(minimum = 1)]
        pub drug_exposure_id: i64,
        /// The patient: the `person_id` of a patient that exists (else 409, naming this field).
        #[schema(minimum = 1)]
        pub person_id: i64,
        #[schema(minimum = 0)]
        pub drug_concept_id: i64,
        #[schema(format = Date)]
        pub drug_exposure_start_date: String,
        #[schema(format = DateTime)]
        pub drug_exposure_start_datetime: Option<String>,
        #[schema(format = Date)]
        pub drug_exposure_end_date: String,
        #[schema(format = DateTime)]
        pub drug_exposure_end_datetime: Option<String>,
        #[schema(format = Date)]
        pub verbatim_end_date: Option<String>,
        #[schema(minimum = 0)]
        pub drug_type_concept_id: i64,
        pub stop_reason: Option<String>,
        #[schema(minimum = 0)]
        pub refills: Option<i64>,
        /// A decimal number as text, e.g. `"12.50"`: not negative (`-0` is zero), up to 30 digits and 9
        /// decimals.
        #[schema(pattern = r"^(-?0{1,30}(\.0{1,9})?|[0-9]{1,30}(\.[0-9]{1,9})?)$")]
        pub quantity: Option<String>,
        #[schema(minimum = 0)]
        pub days_supply: Option<i64>,
        pub sig: Option<String>,
        #[schema(minimum = 0)]
        pub route_concept_id: Option<i64>,
        pub lot_number: Option<String>,
        #[schema(minimum = 1)]
        pub provider_id: Option<i64>,
        #[schema(minimum = 1)]
        pub visit_occurrence_id: Option<i64>,
        #[schema(minimum = 1)]
        pub visit_detail_id: Option<i64>,
        pub drug_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub drug_source_concept_id: Option<i64>,
        pub route_source_value: Option<String>,
        pub dose_unit_source_value: Option<String>,
    }

    /// A clinical note: OMOP NOTE.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = Note)]
    pub struct NoteDoc {
        #[schema(minimum = 1)]
        pub note_id: i64,
        /// The patient: the `person_id` of a patient that exists (else 409, naming this field).
        #[schema(minimum = 1)]
        pub person_id: i64,
        #[schema(format = Date)]
        pub note_date: String,
        #[schema(format = DateTime)]
        pub note_datetime: Option<String>,
        #[schema(minimum = 0)]
        pub note_type_concept_id: i64,
        #[schema(minimum = 0)]
        pub note_class_concept_id: i64,
        pub note_title: Option<String>,
        pub note_text: String,
        #[schema(minimum = 0)]
        pub encoding_concept_id: i64,
        #[schema(minimum = 0)]
        pub language_concept_id: i64,
        #[schema(minimum = 1)]
        pub provider_id: Option<i64>,
        #[schema(minimum = 1)]
        pub visit_occurrence_id: Option<i64>,
        #[schema(minimum = 1)]
        pub visit_detail_id: Option<i64>,
        pub note_source_value: Option<String>,
        #[schema(minimum = 1)]
        pub note_event_id: Option<i64>,
        #[schema(minimum = 0)]
        pub note_event_field_concept_id: Option<i64>,
    }

    /// A doctor: OMOP PROVIDER plus names, email and the doctor's certificate (DER, hex).
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = Doctor)]
    pub struct DoctorDoc {
        #[schema(minimum = 1)]
        pub provider_id: i64,
        pub provider_name: Option<String>,
        pub npi: Option<String>,
        pub dea: Option<String>,
        #[schema(minimum = 0)]
        pub specialty_concept_id: Option<i64>,
        #[schema(minimum = 1)]
        pub care_site_id: Option<i64>,
        /// 1850 to the current year (UTC).
        pub year_of_birth: Option<i64>,
        #[schema(minimum = 0)]
        pub gender_concept_id: Option<i64>,
        pub provider_source_value: Option<String>,
        pub specialty_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub specialty_source_concept_id: Option<i64>,
        pub gender_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub gender_source_concept_id: Option<i64>,
        pub given_name: String,
        pub second_given_name: Option<String>,
        pub family_name: String,
        pub second_family_name: Option<String>,
        /// Unique among doctors; it cannot change.
        #[schema(format = Email)]
        pub email: String,
        /// The DER bytes of the doctor's X.509 certificate, in hexadecimal.
        #[schema(pattern = "^([0-9a-fA-F]{2})+$")]
        pub certificate: String,
    }

    /// An administrator of an organization, with their certificate (DER, hex).
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = Admin)]
    pub struct AdminDoc {
        #[schema(minimum = 1)]
        pub admin_id: i64,
        pub given_name: String,
        pub family_name: String,
        /// Unique among administrators; it cannot change.
        #[schema(format = Email)]
        pub email: String,
        /// The DER bytes of the administrator's X.509 certificate, in hexadecimal.
        #[schema(pattern = "^([0-9a-fA-F]{2})+$")]
        pub certificate: String,
    }
}

/// What the contract checks that utoipa's attributes cannot say, added to the generated JSON from the
/// contract's constants. See the module documentation.
pub mod rules {
    use medledger_contract::ehr::Model;
    use medledger_contract::ehr::validate::{
        BIRTH_YEAR_MIN, EMAIL_BYTES_MAX, LONG_TEXT_CHARS_MAX, REASON_CHARS_MAX,
        SHORT_TEXT_CHARS_MAX,
    };
    use medledger_contract::ehr::values::{YEAR_MAX, YEAR_MIN};
    use medledger_contract::ehr::{Admin, Doctor, DrugExposure, Note, Patient};
    use medledger_types::Role;
    use serde_json::{Map, Value, json};

    use crate::error::PROBLEM_CODES;
    use medledger_service::auth::{
        PASSWORD_CHARS_MAX, PASSWORD_CHARS_MIN, PASSWORD_DISTINCT_CHARS_MIN,
    };
    use medledger_service::records::Served;

    /// The characters Rust's `char::is_whitespace` (Unicode `White_Space`) calls white space, as
    /// ranges: what the contract's "not blank" (`trim().is_empty()`) trims.
    pub const WHITE_SPACE: &[(char, char)] = &[
        ('\u{9}', '\u{d}'),
        (' ', ' '),
        ('\u{85}', '\u{85}'),
        ('\u{a0}', '\u{a0}'),
        ('\u{1680}', '\u{1680}'),
        ('\u{2000}', '\u{200a}'),
        ('\u{2028}', '\u{2029}'),
        ('\u{202f}', '\u{202f}'),
        ('\u{205f}', '\u{205f}'),
        ('\u{3000}', '\u{3000}'),
    ];

    /// Text with at least one character that is not white space ([`WHITE_SPACE`]). An ECMA-262 (and
    /// Python) pattern, unanchored: it matches anywhere.
    pub fn not_blank_pattern() -> String {
        let mut pattern = String::from("[^");
        for (first, last) in WHITE_SPACE {
            pattern.push_str(&format!("\\u{:04X}", u32::from(*first)));
            if first != last {
                pattern.push_str(&format!("-\\u{:04X}", u32::from(*last)));
            }
        }
        pattern.push(']');
        pattern
    }

    /// The email shape of `validate::is_email`: ASCII, a local part of RFC 5322 atext characters but
    /// `/` with single inner dots, a domain of at least two dot-separated labels of letters, digits and
    /// inner hyphens. The length rules (local part ≤ 64, labels ≤ 63) are the `email` format's, and the
    /// whole is at most 254 (`maxLength`).
    pub const EMAIL_PATTERN: &str = concat!(
        r"^[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+)*",
        r"@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
    );

    /// A pattern (no anchors) of the zero-padded `width`-digit numbers `low..=high`.
    pub fn digits_range(low: u32, high: u32, width: u32) -> String {
        fn alternatives(low: u32, high: u32, width: u32, out: &mut Vec<String>, prefix: &str) {
            if width == 0 {
                out.push(prefix.to_owned());
                return;
            }
            let unit = 10u32.pow(width - 1);
            let any = |n: u32| match n {
                0 => String::new(),
                1 => "[0-9]".to_owned(),
                n => format!("[0-9]{{{n}}}"),
            };
            let digit = |a: u32, b: u32| {
                if a == b {
                    a.to_string()
                } else {
                    format!("[{a}-{b}]")
                }
            };
            let (first, last) = (low / unit, high / unit);
            if first == last {
                let prefix = format!("{prefix}{first}");
                return alternatives(low % unit, high % unit, width - 1, out, &prefix);
            }
            let mut whole_from = first;
            if !low.is_multiple_of(unit) {
                alternatives(
                    low % unit,
                    unit - 1,
                    width - 1,
                    out,
                    &format!("{prefix}{first}"),
                );
                whole_from += 1;
            }
            let mut whole_to = last;
            let partial_last = high % unit != unit - 1;
            if partial_last {
                whole_to -= 1;
            }
            if whole_from <= whole_to {
                out.push(format!(
                    "{prefix}{}{}",
                    digit(whole_from, whole_to),
                    any(width - 1)
                ));
            }
            if partial_last {
                alternatives(0, high % unit, width - 1, out, &format!("{prefix}{last}"));
            }
        }
        let mut out = Vec::new();
        alternatives(low, high, width, &mut out, "");
        out.join("|")
    }

    /// Four-digit years `low..=high`, as a group.
    fn years(low: i64, high: i64) -> String {
        let (low, high) = (low.clamp(0, 9999) as u32, high.clamp(0, 9999) as u32);
        format!("({})", digits_range(low, high.max(low), 4))
    }

    /// `YYYY-MM-DD` with a year in `YEAR_MIN..=YEAR_MAX`: with `format: date` (a real calendar date),
    /// exactly what `values::Date` reads.
    pub fn date_pattern() -> String {
        format!("^{}-[0-9]{{2}}-[0-9]{{2}}$", years(YEAR_MIN, YEAR_MAX))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (also `t`, `z`, `+00:00`) with a year in `low..=high`: with
    /// `format: date-time`, what `values::DateTime` reads (it also reads a space for the `T`, which
    /// RFC 3339 does not), without leap seconds.
    pub fn date_time_pattern(low: i64, high: i64) -> String {
        format!(
            "^{}-[0-9]{{2}}-[0-9]{{2}}[Tt][0-9]{{2}}:[0-9]{{2}}:[0-5][0-9]([Zz]|\\+00:00)$",
            years(low, high)
        )
    }

    /// Text fields of the long kind (OMOP `varchar(MAX)`); the others are short.
    pub const LONG_TEXT_FIELDS: [&str; 2] = ["note_text", "sig"];

    /// The record models' schema names, their kinds and the fields an amendment may not name.
    fn models() -> [(&'static str, &'static str, &'static [&'static str]); 5] {
        [
            ("Patient", Patient::KIND.as_str(), Patient::IMMUTABLE),
            ("Note", Note::KIND.as_str(), Note::IMMUTABLE),
            (
                "DrugExposure",
                DrugExposure::KIND.as_str(),
                DrugExposure::IMMUTABLE,
            ),
            ("Doctor", Doctor::KIND.as_str(), Doctor::IMMUTABLE),
            ("Admin", Admin::KIND.as_str(), Admin::IMMUTABLE),
        ]
    }

    /// The amendments path of each kind of record (by schema name).
    fn amendments_path(model: &str) -> String {
        let collection = match model {
            "Patient" => "patients",
            "Note" => "notes",
            "DrugExposure" => "drug-exposures",
            "Doctor" => "doctors",
            _ => "admins",
        };
        format!("/api/v1/{collection}/{{id}}/amendments")
    }

    fn schemas(document: &mut Value) -> &mut Map<String, Value> {
        if !document["components"]["schemas"].is_object() {
            document["components"]["schemas"] = json!({});
        }
        document["components"]["schemas"]
            .as_object_mut()
            .expect("just made an object")
    }

    fn properties(schema: &mut Value) -> impl Iterator<Item = (&String, &mut Value)> {
        schema
            .get_mut("properties")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|properties| properties.iter_mut())
    }

    fn is_text(property: &Value) -> bool {
        match &property["type"] {
            Value::String(t) => t == "string",
            Value::Array(types) => types.iter().any(|t| t == "string"),
            _ => false,
        }
    }

    fn set(property: &mut Value, key: &str, value: impl Into<Value>) {
        if let Some(object) = property.as_object_mut() {
            object.insert(key.to_owned(), value.into());
        }
    }

    /// A record model's text fields: lengths in characters, "not blank" for required text, and the
    /// shapes of dates, date-times and emails.
    fn constrain_model(schema: &mut Value) {
        let required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for (name, property) in properties(schema) {
            if !is_text(property) {
                continue;
            }
            match property["format"].as_str() {
                Some("date") => set(property, "pattern", date_pattern()),
                Some("date-time") => {
                    set(property, "pattern", date_time_pattern(YEAR_MIN, YEAR_MAX))
                }
                Some("email") => {
                    set(property, "pattern", EMAIL_PATTERN);
                    set(property, "maxLength", EMAIL_BYTES_MAX);
                }
                // Decimals and certificates carry their own patterns.
                _ if property.get("pattern").is_some() => {}
                _ => {
                    let long = LONG_TEXT_FIELDS.contains(&name.as_str());
                    let max = if long {
                        LONG_TEXT_CHARS_MAX
                    } else {
                        SHORT_TEXT_CHARS_MAX
                    };
                    set(property, "maxLength", max);
                    if required.contains(name) {
                        set(property, "minLength", 1);
                        set(property, "pattern", not_blank_pattern());
                    }
                }
            }
        }
    }

    /// The rules between a patient's year, month and day of birth, as the contract checks them: a day
    /// needs a month, and is one of that month's days (February 29th in leap years only). In a whole
    /// record (`whole`) a missing month is none; in an amendment's `changes` a field left out keeps its
    /// current value, so each rule applies only to the fields present (the others are judged against
    /// the current version: 409 if they do not fit).
    fn birth_date_rules(whole: bool) -> Vec<Value> {
        let day_and_month = |month: Value, day: Value| {
            json!({
                "required": ["day_of_birth", "month_of_birth"],
                "properties": {"month_of_birth": month, "day_of_birth": day}
            })
        };
        let mut rules = Vec::new();
        rules.push(if whole {
            json!({
                "if": {"required": ["day_of_birth"], "properties": {"day_of_birth": {"type": "integer"}}},
                "then": {"required": ["month_of_birth"], "properties": {"month_of_birth": {"type": "integer"}}}
            })
        } else {
            json!({
                "if": day_and_month(json!(true), json!({"type": "integer"})),
                "then": {"properties": {"month_of_birth": {"type": "integer"}}}
            })
        });
        rules.push(json!({
            "if": day_and_month(json!({"enum": [4, 6, 9, 11]}), json!({"type": "integer"})),
            "then": {"properties": {"day_of_birth": {"maximum": 30}}}
        }));
        rules.push(json!({
            "if": day_and_month(json!({"const": 2}), json!({"type": "integer"})),
            "then": {"properties": {"day_of_birth": {"maximum": 29}}}
        }));
        rules.push(json!({
            "if": day_and_month(json!({"const": 2}), json!({"const": 29})),
            "then": {"properties": {"year_of_birth": {"anyOf": [
                {"multipleOf": 400},
                {"multipleOf": 4, "not": {"multipleOf": 100}}
            ]}}}
        }));
        rules
    }

    fn reason() -> Value {
        json!({
            "type": "string",
            "description": "Why the record is amended; kept in its history.",
            "minLength": 1,
            "maxLength": REASON_CHARS_MAX,
            "pattern": not_blank_pattern(),
        })
    }

    /// What a new password must be beyond its length (the service's `check_new_password`).
    fn new_password_rules() -> String {
        format!(
            "not blank, at least {PASSWORD_DISTINCT_CHARS_MIN} different characters, not a keyboard \
             run or a common password, even dressed up with digits or l33t (else `too_weak`)."
        )
    }

    fn password(description: &str) -> Value {
        json!({
            "type": "string",
            "format": "password",
            "description": description,
            "minLength": PASSWORD_CHARS_MIN,
            "maxLength": PASSWORD_CHARS_MAX,
        })
    }

    /// One amendment body per kind of record: `changes` may name the model's fields but the immutable
    /// ones, at least one, with the model's rules for each.
    fn amendments(document: &mut Value) {
        for (model, _, immutable) in models() {
            let schemas = schemas(document);
            let mut fields = schemas
                .get(model)
                .and_then(|m| m.get("properties"))
                .cloned()
                .unwrap_or_default();
            if let Some(fields) = fields.as_object_mut() {
                fields.retain(|name, _| !immutable.contains(&name.as_str()));
            }
            let mut changes = json!({
                "type": "object",
                "description": format!(
                    "The fields to change, by their OMOP names, with their new values: merged over the \
                     current version. {} cannot change. A change that fits the field but not the fields \
                     left as they are (a day the current month lacks; an end before the current start) \
                     is refused with 409.",
                    immutable.join(", ")
                ),
                "properties": fields,
                "additionalProperties": false,
                "minProperties": 1,
            });
            if model == "Patient" {
                changes["allOf"] = Value::from(birth_date_rules(false));
            }
            schemas.insert(format!("{model}Changes"), changes);
            schemas.insert(
                format!("{model}Amendment"),
                json!({
                    "type": "object",
                    "description": "An amendment: the fields to change and why.",
                    "required": ["changes", "reason"],
                    "properties": {
                        "changes": {"$ref": format!("#/components/schemas/{model}Changes")},
                        "reason": reason(),
                    },
                    "additionalProperties": false,
                }),
            );
            let pointer = format!(
                "/paths/{}/post/requestBody/content/application~1json/schema",
                amendments_path(model).replace('~', "~0").replace('/', "~1")
            );
            if let Some(body) = document.pointer_mut(&pointer) {
                *body = json!({"$ref": format!("#/components/schemas/{model}Amendment")});
            }
        }
        schemas(document).remove("AmendmentRequest");
    }

    /// A registration body's fields are the profile's (the same rules), plus the initial password.
    fn registrations(document: &mut Value) {
        let schemas = schemas(document);
        for (body, profile) in [("NewAdmin", "Admin"), ("NewDoctor", "Doctor")] {
            let profile = schemas
                .get(profile)
                .and_then(|p| p.get("properties"))
                .cloned()
                .unwrap_or_default();
            if let Some(fields) = schemas
                .get_mut(body)
                .and_then(|b| b.get_mut("properties"))
                .and_then(Value::as_object_mut)
            {
                for (name, field) in fields.iter_mut() {
                    if name == "password" {
                        *field =
                            password(&format!("The initial password: {}", new_password_rules()));
                    } else if let Some(documented) = profile.get(name) {
                        *field = documented.clone();
                    }
                }
            }
        }
        if let Some(field) = schemas
            .get_mut("PasswordChange")
            .and_then(|b| b.get_mut("properties"))
            .and_then(|p| p.get_mut("new_password"))
        {
            *field = password(&format!("The new password: {}", new_password_rules()));
        }
    }

    /// Enumerations and bounds of the answers.
    fn answers(document: &mut Value) {
        let schemas = schemas(document);
        for (model, kind, _) in models() {
            for name in [format!("RecordVersion_{model}")] {
                let Some(version) = schemas.get_mut(&name) else {
                    continue;
                };
                for (field, property) in properties(version) {
                    match field.as_str() {
                        "kind" => set(property, "enum", json!([kind])),
                        "id" | "patient_id" => set(property, "minimum", 1),
                        _ => {}
                    }
                }
            }
        }
        let mut enumerate = |schema: &str, field: &str, values: Value| {
            if let Some(property) = schemas
                .get_mut(schema)
                .and_then(|s| s.get_mut("properties"))
                .and_then(|p| p.get_mut(field))
            {
                set(property, "enum", values);
            }
        };
        enumerate("Problem", "code", json!(PROBLEM_CODES));
        enumerate("Problem", "type", json!(["about:blank"]));
        enumerate(
            "LoginResponse",
            "role",
            json!([Role::Admin.as_str(), Role::Doctor.as_str()]),
        );
        enumerate("Health", "status", json!(["ok", "ready"]));
        enumerate(
            "SignerView",
            "role",
            Value::from(
                Role::ALL
                    .iter()
                    .map(|r| Value::from(r.as_str()))
                    .chain([Value::Null])
                    .collect::<Vec<_>>(),
            ),
        );
        if let Some(status) = schemas
            .get_mut("Problem")
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut("status"))
        {
            set(status, "minimum", 400);
            set(status, "maximum", 599);
        }
    }

    /// Path parameters named `id` are record ids: positive.
    fn ids(document: &mut Value) {
        let Some(paths) = document["paths"].as_object_mut() else {
            return;
        };
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                let Some(parameters) = operation
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for parameter in parameters {
                    if parameter["in"] == "path" && parameter["name"] == "id" {
                        set(&mut parameter["schema"], "minimum", 1);
                    }
                }
            }
        }
    }

    /// Every rule but the year's ([`birth_years`]).
    pub fn apply(document: &mut Value) {
        let schemas = schemas(document);
        for (model, _, _) in models() {
            if let Some(schema) = schemas.get_mut(model) {
                constrain_model(schema);
            }
        }
        if let Some(patient) = schemas.get_mut("Patient") {
            patient["allOf"] = Value::from(birth_date_rules(true));
        }
        registrations(document);
        amendments(document);
        answers(document);
        ids(document);
    }

    /// Years of birth (and a patient's birth date-time) from 1850 to `year`, wherever they appear.
    pub fn birth_years(document: &mut Value, year: i64) {
        for schema in schemas(document).values_mut() {
            for (name, property) in properties(schema) {
                match name.as_str() {
                    "year_of_birth" => {
                        set(property, "minimum", BIRTH_YEAR_MIN);
                        set(property, "maximum", year);
                    }
                    "birth_datetime" => {
                        set(property, "pattern", date_time_pattern(BIRTH_YEAR_MIN, year))
                    }
                    _ => {}
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn digit_ranges() {
            assert_eq!(
                digits_range(1, 9999, 4),
                "000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3}"
            );
            assert_eq!(
                digits_range(1850, 2026, 4),
                "18[5-9][0-9]|19[0-9]{2}|20[0-1][0-9]|202[0-6]"
            );
            assert_eq!(digits_range(2000, 2000, 4), "2000");
            assert_eq!(digits_range(1850, 1859, 4), "185[0-9]");
            assert_eq!(digits_range(0, 9999, 4), "[0-9][0-9]{3}");
            // Every year matches exactly when it is in the range (checked by brute force).
            for (low, high) in [(1850, 2026), (1, 9999), (1850, 2100), (1999, 2001)] {
                let alternatives: Vec<String> = digits_range(low, high, 4)
                    .split('|')
                    .map(str::to_owned)
                    .collect();
                for year in 0..=9999u32 {
                    let text = format!("{year:04}");
                    let matched = alternatives.iter().any(|a| matches_simple(a, &text));
                    assert_eq!(
                        matched,
                        (low..=high).contains(&year),
                        "{low}..={high}: {text}"
                    );
                }
            }
        }

        /// Whether `text` matches `pattern` made of digits, `[a-b]`, `[0-9]` and `{n}` only.
        fn matches_simple(pattern: &str, text: &str) -> bool {
            let mut classes: Vec<(u8, u8)> = Vec::new();
            let bytes = pattern.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'[' => {
                        classes.push((bytes[i + 1], bytes[i + 3]));
                        i += 5;
                    }
                    b'{' => {
                        let end = pattern[i..].find('}').expect("closing brace") + i;
                        let n: usize = pattern[i + 1..end].parse().expect("count");
                        let last = *classes.last().expect("a class to repeat");
                        classes.extend(std::iter::repeat_n(last, n - 1));
                        i = end + 1;
                    }
                    digit => {
                        classes.push((digit, digit));
                        i += 1;
                    }
                }
            }
            classes.len() == text.len()
                && classes
                    .iter()
                    .zip(text.bytes())
                    .all(|((low, high), b)| (*low..=*high).contains(&b))
        }

        #[test]
        fn white_space_is_rusts() {
            let listed = |c: char| WHITE_SPACE.iter().any(|(a, b)| (*a..=*b).contains(&c));
            for c in (0..=0x10FFFF).filter_map(char::from_u32) {
                assert_eq!(c.is_whitespace(), listed(c), "{:04X}", u32::from(c));
            }
            assert_eq!(
                not_blank_pattern(),
                "[^\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028-\\u2029\\u202F\\u205F\\u3000]"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use medledger_contract::ehr::samples;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use utoipa::PartialSchema;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    use super::models::*;

    /// The twin's properties and required fields.
    fn shape<T: PartialSchema>() -> (BTreeSet<String>, BTreeSet<String>) {
        let RefOr::T(Schema::Object(object)) = T::schema() else {
            panic!("a model twin is an inline object schema");
        };
        (
            object.properties.keys().cloned().collect(),
            object.required.iter().cloned().collect(),
        )
    }

    /// The model's JSON has exactly the twin's fields; the twin requires exactly the fields the model
    /// cannot do without; the model's JSON parses as the twin and back to the same JSON.
    fn agrees<M, T>(model: &M)
    where
        M: Serialize + DeserializeOwned,
        T: PartialSchema + DeserializeOwned + Serialize,
    {
        let json = serde_json::to_value(model).expect("a model serializes");
        let object = json.as_object().expect("a model is a JSON object");
        let (properties, required) = shape::<T>();
        let fields: BTreeSet<String> = object.keys().cloned().collect();
        assert_eq!(properties, fields, "twin and model name the same fields");
        let model_requires: BTreeSet<String> = fields
            .iter()
            .filter(|field| {
                let mut without = object.clone();
                without.remove(field.as_str());
                serde_json::from_value::<M>(serde_json::Value::Object(without)).is_err()
            })
            .cloned()
            .collect();
        assert_eq!(
            required, model_requires,
            "twin and model require the same fields"
        );
        let twin: T = serde_json::from_value(json.clone()).expect("model JSON parses as its twin");
        assert_eq!(
            serde_json::to_value(&twin).expect("twin serializes"),
            json,
            "twin round-trips the model's JSON"
        );
    }

    /// The served document's schema of `name`, for `year`.
    fn documented(name: &str, year: i64) -> serde_json::Value {
        let document = crate::openapi_document();
        let document = super::at_year(&document, year);
        document["components"]["schemas"][name].clone()
    }

    /// The contract's field problems for `json` as model `M`, by field and code.
    fn contract_says<M>(json: serde_json::Value, year: i64) -> Vec<(String, String)>
    where
        M: medledger_service::records::Served,
    {
        let model: M = serde_json::from_value(json).expect("parses as the model");
        medledger_contract::ehr::validate::validate_record(&model.into_new(), year)
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    /// Each documented text limit is the contract's, in characters: the longest text the document
    /// allows (of four-byte characters) passes, one character more is too long; required text of
    /// white space only is refused, one visible character passes. The year of birth's bounds too.
    fn limits_agree<M: medledger_service::records::Served>(name: &str, sample: &M) {
        let year = 2026;
        let schema = documented(name, year);
        let sample = serde_json::to_value(sample).expect("serializes");
        let mut checked = 0;
        for (field, property) in schema["properties"].as_object().expect("properties") {
            let with = |value: serde_json::Value| {
                let mut json = sample.clone();
                json[field] = value;
                contract_says::<M>(json, year)
                    .into_iter()
                    .any(|(f, _)| f == *field)
            };
            // Emails have their own test (`email_shapes` in the contract); text is the rest.
            if let Some(max) = property["maxLength"].as_u64()
                && !property["format"].is_string()
            {
                let max = max as usize;
                assert!(!with("😷".repeat(max).into()), "{name}.{field} at {max}");
                assert!(
                    with("x".repeat(max + 1).into()),
                    "{name}.{field} past {max}"
                );
                checked += 1;
            }
            if property["minLength"] == 1 {
                assert!(with(" \u{3000}\t".into()), "{name}.{field} blank");
                assert!(!with("\u{3000}x".into()), "{name}.{field} not blank");
            }
            if field == "year_of_birth" {
                let (min, max) = (&property["minimum"], &property["maximum"]);
                assert_eq!(max, year, "{name}.{field}");
                for (value, refused) in [
                    (min.as_i64().expect("min"), false),
                    (year, false),
                    (min.as_i64().expect("min") - 1, true),
                    (year + 1, true),
                ] {
                    assert_eq!(with(value.into()), refused, "{name}.{field} = {value}");
                }
            }
        }
        assert!(checked > 0, "{name} has text limits");
    }

    #[test]
    fn documented_limits_are_the_contracts() {
        limits_agree("Patient", &samples::patient(1));
        limits_agree("Note", &samples::note(2, 1));
        limits_agree("DrugExposure", &samples::drug_exposure(3, 1));
        limits_agree(
            "Doctor",
            &samples::doctor(4, "ana@example.org", vec![1, 2, 3]),
        );
        limits_agree("Admin", &samples::admin(5, "raul@example.org", vec![4, 5]));
    }

    #[test]
    fn twins_agree_with_the_contract_models() {
        agrees::<_, PatientDoc>(&samples::patient(1));
        agrees::<_, NoteDoc>(&samples::note(2, 1));
        agrees::<_, DrugExposureDoc>(&samples::drug_exposure(3, 1));
        agrees::<_, DoctorDoc>(&samples::doctor(4, "ana@example.org", vec![1, 2, 3]));
        agrees::<_, AdminDoc>(&samples::admin(5, "raul@example.org", vec![4, 5]));
    }
}
