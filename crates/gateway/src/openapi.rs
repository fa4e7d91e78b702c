//! The OpenAPI 3.1 document of the REST API, generated from the handlers: each module's `routes()` is an
//! [`OpenApiRouter`] whose handlers carry `#[utoipa::path]`, and [`crate::router`] merges them and serves
//! the result at [`DOCUMENT_PATH`].
//!
//! The record models live in the contract crate, which knows nothing of HTTP or OpenAPI (its only
//! dependency is `types`), so [`models`] holds documentation twins of them. They are never used to read
//! or write a record; a test checks that each twin and its model agree on every field name, on which
//! fields are required, and that the model's JSON parses as its twin.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

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

/// Adds the document's own path to it, and returns the router that serves it.
pub fn serve(mut document: OpenApi) -> (Router<AppState>, Arc<OpenApi>) {
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
    let document = Arc::new(document);
    // Serialized once: the document does not change while the process runs.
    let bytes = axum::body::Bytes::from(serde_json::to_vec(&*document).unwrap_or_default());
    let router = Router::new().route(
        DOCUMENT_PATH,
        get(move || {
            let bytes = bytes.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], bytes).into_response() }
        }),
    );
    (router, document)
}

/// The routes this module adds through an [`OpenApiRouter`]: none (the document is served by [`serve`],
/// once the rest is known).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
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
        #[schema(minimum = 1850, maximum = 9999)]
        pub year_of_birth: i64,
        #[schema(minimum = 1, maximum = 12)]
        pub month_of_birth: Option<i64>,
        #[schema(minimum = 1, maximum = 31)]
        pub day_of_birth: Option<i64>,
        /// UTC, whole seconds: `YYYY-MM-DDTHH:MM:SSZ`.
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
        #[schema(max_length = 255)]
        pub person_source_value: Option<String>,
        #[schema(max_length = 255)]
        pub gender_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub gender_source_concept_id: Option<i64>,
        #[schema(max_length = 255)]
        pub race_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub race_source_concept_id: Option<i64>,
        #[schema(max_length = 255)]
        pub ethnicity_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub ethnicity_source_concept_id: Option<i64>,
        #[schema(max_length = 255)]
        pub given_name: Option<String>,
        #[schema(max_length = 255)]
        pub second_given_name: Option<String>,
        #[schema(max_length = 255)]
        pub family_name: Option<String>,
        #[schema(max_length = 255)]
        pub second_family_name: Option<String>,
        #[schema(max_length = 255)]
        pub national_id: Option<String>,
    }

    /// A drug exposure: OMOP DRUG_EXPOSURE. The end date may not be before the start date.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = DrugExposure)]
    pub struct DrugExposureDoc {
        #[schema(minimum = 1)]
        pub drug_exposure_id: i64,
        /// The patient (`person_id` of a patient that exists).
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
        #[schema(max_length = 255)]
        pub stop_reason: Option<String>,
        #[schema(minimum = 0)]
        pub refills: Option<i64>,
        /// A decimal number as text, e.g. `"12.50"`.
        #[schema(pattern = r"^[0-9]{1,30}(\.[0-9]{1,9})?$")]
        pub quantity: Option<String>,
        #[schema(minimum = 0)]
        pub days_supply: Option<i64>,
        #[schema(max_length = 65536)]
        pub sig: Option<String>,
        #[schema(minimum = 0)]
        pub route_concept_id: Option<i64>,
        #[schema(max_length = 255)]
        pub lot_number: Option<String>,
        #[schema(minimum = 1)]
        pub provider_id: Option<i64>,
        #[schema(minimum = 1)]
        pub visit_occurrence_id: Option<i64>,
        #[schema(minimum = 1)]
        pub visit_detail_id: Option<i64>,
        #[schema(max_length = 255)]
        pub drug_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub drug_source_concept_id: Option<i64>,
        #[schema(max_length = 255)]
        pub route_source_value: Option<String>,
        #[schema(max_length = 255)]
        pub dose_unit_source_value: Option<String>,
    }

    /// A clinical note: OMOP NOTE.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = Note)]
    pub struct NoteDoc {
        #[schema(minimum = 1)]
        pub note_id: i64,
        /// The patient (`person_id` of a patient that exists).
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
        #[schema(max_length = 255)]
        pub note_title: Option<String>,
        #[schema(min_length = 1, max_length = 65536)]
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
        #[schema(max_length = 255)]
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
        #[schema(max_length = 255)]
        pub provider_name: Option<String>,
        #[schema(max_length = 255)]
        pub npi: Option<String>,
        #[schema(max_length = 255)]
        pub dea: Option<String>,
        #[schema(minimum = 0)]
        pub specialty_concept_id: Option<i64>,
        #[schema(minimum = 1)]
        pub care_site_id: Option<i64>,
        #[schema(minimum = 1850, maximum = 9999)]
        pub year_of_birth: Option<i64>,
        #[schema(minimum = 0)]
        pub gender_concept_id: Option<i64>,
        #[schema(max_length = 255)]
        pub provider_source_value: Option<String>,
        #[schema(max_length = 255)]
        pub specialty_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub specialty_source_concept_id: Option<i64>,
        #[schema(max_length = 255)]
        pub gender_source_value: Option<String>,
        #[schema(minimum = 0)]
        pub gender_source_concept_id: Option<i64>,
        #[schema(min_length = 1, max_length = 255)]
        pub given_name: String,
        #[schema(max_length = 255)]
        pub second_given_name: Option<String>,
        #[schema(min_length = 1, max_length = 255)]
        pub family_name: String,
        #[schema(max_length = 255)]
        pub second_family_name: Option<String>,
        /// Unique among doctors; it cannot change.
        #[schema(format = Email, max_length = 254)]
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
        #[schema(min_length = 1, max_length = 255)]
        pub given_name: String,
        #[schema(min_length = 1, max_length = 255)]
        pub family_name: String,
        /// Unique among administrators; it cannot change.
        #[schema(format = Email, max_length = 254)]
        pub email: String,
        /// The DER bytes of the administrator's X.509 certificate, in hexadecimal.
        #[schema(pattern = "^([0-9a-fA-F]{2})+$")]
        pub certificate: String,
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

    #[test]
    fn twins_agree_with_the_contract_models() {
        agrees::<_, PatientDoc>(&samples::patient(1));
        agrees::<_, NoteDoc>(&samples::note(2, 1));
        agrees::<_, DrugExposureDoc>(&samples::drug_exposure(3, 1));
        agrees::<_, DoctorDoc>(&samples::doctor(4, "ana@example.org", vec![1, 2, 3]));
        agrees::<_, AdminDoc>(&samples::admin(5, "raul@example.org", vec![4, 5]));
    }
}
