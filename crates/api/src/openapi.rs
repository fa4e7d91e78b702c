//! The OpenAPI 3.1 document of the REST API, generated from the handlers: each module's `routes()` is an
//! [`OpenApiRouter`] whose handlers carry `#[utoipa::path]`, and [`crate::routes`] merges them and serves
//! the result at [`DOCUMENT_PATH`].
//!
//! **The record models are described once, in the contract** (`medledger_contract::ehr::fields`, one
//! line per field), and their JSON Schemas come from there (`medledger_contract::ehr::schema`): each
//! model, each amendment body and its `changes`, with the contract's limits, patterns and the rules
//! between a patient's month and day of birth. This module adds only what is HTTP's: [`models`] holds
//! a marker type per schema, so that `#[utoipa::path(... body = X)]` can name it, and [`rules`] puts
//! the contract's schemas into the generated JSON as the components (utoipa's schema types cannot hold
//! all of JSON Schema: they drop `allOf` with `if`/`then`), with the registration bodies (a person's
//! fields but the certificate, plus the initial password), the enumerations of the answers and the
//! positive ids of paths.
//!
//! **The document states what the contract accepts**, so that a client (or schemathesis) that sends
//! what the document allows is not refused, and one that sends something else is; and it is the same
//! whatever the date. Three rules relate a value to something JSON Schema cannot compare, and the
//! descriptions say them: a drug exposure's end is not before its start (422), a year of birth is not
//! after the current year (422), and `from` is not after `to` in a consistency proof (400).

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
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

/// Adds the document's own path to it and the contract's schemas ([`rules::apply`]), and returns the
/// router that serves it and the document. The document is built once: nothing in it depends on the
/// date.
pub fn serve(mut document: OpenApi) -> (Router<AppState>, Value) {
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
    let bytes = Bytes::from(serde_json::to_vec(&json).unwrap_or_default());
    let router = Router::new().route(
        DOCUMENT_PATH,
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], bytes) }),
    );
    (router, json)
}

/// The routes this module adds through an [`OpenApiRouter`]: none (the document is served by [`serve`],
/// once the rest is known).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
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
        /// did what, never clinical content). (In the document, the model's component or `null`: see
        /// [`super::rules`].)
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

/// A marker type per schema of the contract, for `#[utoipa::path]` to name (`body = PatientDoc`,
/// `body = RecordVersion<PatientDoc>`): its component name is the contract's model name (`Patient`,
/// `PatientAmendment`, `NewDoctor`, ...), and its schema the contract's JSON Schema as far as utoipa's
/// types can hold it. [`rules::apply`] then puts the contract's JSON itself in the components.
pub mod models {
    use std::borrow::Cow;

    use medledger_contract::ehr::RecordKind;
    use medledger_contract::ehr::fields::model_name;
    use serde_json::Value;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    use utoipa::{PartialSchema, ToSchema};

    use super::rules::{amendment_name, registration_name, registration_schema};
    use medledger_contract::ehr::schema::{amendment_schema, json_schema};

    /// What a marker type stands for, for a kind of record.
    #[derive(Clone, Copy)]
    pub enum Body {
        /// The model (`Patient`).
        Model,
        /// Its amendment body (`PatientAmendment`).
        Amendment,
        /// A person's registration body (`NewDoctor`).
        Registration,
    }

    impl Body {
        /// The component's name.
        pub fn name(self, kind: RecordKind) -> Cow<'static, str> {
            match self {
                Body::Model => Cow::Borrowed(model_name(kind)),
                Body::Amendment => Cow::Owned(amendment_name(kind)),
                Body::Registration => Cow::Owned(registration_name(kind)),
            }
        }

        /// The contract's JSON Schema of it.
        pub fn schema(self, kind: RecordKind) -> Value {
            match self {
                Body::Model => json_schema(kind),
                Body::Amendment => amendment_schema(kind),
                Body::Registration => registration_schema(kind),
            }
        }
    }

    /// A JSON Schema as utoipa's type, which keeps what OpenAPI 3.1 documents usually say (types, also
    /// as arrays with `null`; formats, bounds, lengths, patterns, properties, required fields) and
    /// drops the rest (`allOf` beside `properties`, `if`/`then`). An empty schema if it cannot be read.
    fn in_utoipa(schema: Value) -> RefOr<Schema> {
        serde_json::from_value(schema).unwrap_or_else(|_| RefOr::T(Schema::default()))
    }

    /// Declares marker types: `Marker => Body(Kind);`.
    macro_rules! documented {
        ($($marker:ident => $body:ident($kind:ident);)*) => {$(
            #[doc = concat!("The `", stringify!($body), "` of a `", stringify!($kind), "` (see [`Body`]).")]
            pub struct $marker;

            impl PartialSchema for $marker {
                fn schema() -> RefOr<Schema> {
                    in_utoipa(Body::$body.schema(RecordKind::$kind))
                }
            }

            impl ToSchema for $marker {
                fn name() -> Cow<'static, str> {
                    Body::$body.name(RecordKind::$kind)
                }
            }
        )*};
    }

    documented! {
        PatientDoc => Model(Patient);
        NoteDoc => Model(Note);
        DrugExposureDoc => Model(DrugExposure);
        DoctorDoc => Model(Doctor);
        AdminDoc => Model(Admin);
        PatientAmendmentDoc => Amendment(Patient);
        NoteAmendmentDoc => Amendment(Note);
        DrugExposureAmendmentDoc => Amendment(DrugExposure);
        DoctorAmendmentDoc => Amendment(Doctor);
        AdminAmendmentDoc => Amendment(Admin);
        NewDoctorDoc => Registration(Doctor);
        NewAdminDoc => Registration(Admin);
    }
}

/// The contract's schemas as the document's components, and what utoipa's attributes cannot say,
/// added to the generated JSON. See the module documentation.
pub mod rules {
    use medledger_contract::ehr::RecordKind;
    use medledger_contract::ehr::fields::{FieldType, fields, model_name};
    use medledger_contract::ehr::schema::{
        amendment_schema, changes_schema, field_schema, json_schema,
    };
    use medledger_types::Role;
    use serde_json::{Map, Value, json};

    use crate::error::PROBLEM_CODES;
    use medledger_service::auth::{
        PASSWORD_CHARS_MAX, PASSWORD_CHARS_MIN, PASSWORD_DISTINCT_CHARS_MIN,
    };
    use medledger_service::people::PASSWORD_FIELD;

    /// The component of a kind's amendment body: `PatientAmendment`, ...
    pub fn amendment_name(kind: RecordKind) -> String {
        format!("{}Amendment", model_name(kind))
    }

    /// The component of an amendment's `changes`: `PatientChanges`, ...
    pub fn changes_name(kind: RecordKind) -> String {
        format!("{}Changes", model_name(kind))
    }

    /// The component of a person's registration body: `NewAdmin`, `NewDoctor`.
    pub fn registration_name(kind: RecordKind) -> String {
        format!("New{}", model_name(kind))
    }

    /// The kinds of record whose registration body is documented (people).
    const REGISTERED: [RecordKind; 2] = [RecordKind::Doctor, RecordKind::Admin];

    /// A person's registration body: the model's fields but the certificate (the organization CA
    /// issues it), each with its rules, plus the initial password.
    pub fn registration_schema(kind: RecordKind) -> Value {
        let profile = fields(kind)
            .iter()
            .filter(|f| f.ty != FieldType::Certificate);
        let mut properties: Map<String, Value> = profile
            .clone()
            .map(|f| (f.name.to_owned(), field_schema(f)))
            .collect();
        properties.insert(
            PASSWORD_FIELD.to_owned(),
            password(&format!("The initial password: {}", new_password_rules())),
        );
        let required: Vec<&str> = profile
            .filter(|f| f.required)
            .map(|f| f.name)
            .chain([PASSWORD_FIELD])
            .collect();
        json!({
            "type": "object",
            "description": "The person to register: their profile without its certificate (the \
                            organization CA issues it), and the initial password.",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
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

    fn set(property: &mut Value, key: &str, value: impl Into<Value>) {
        if let Some(object) = property.as_object_mut() {
            object.insert(key.to_owned(), value.into());
        }
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

    /// The contract's schemas as they are: each model, its amendment body with `changes` in a component
    /// of its own, and the registration bodies.
    fn components(document: &mut Value) {
        let schemas = schemas(document);
        for kind in RecordKind::ALL {
            let mut amendment = amendment_schema(kind);
            amendment["properties"]["changes"] =
                json!({"$ref": format!("#/components/schemas/{}", changes_name(kind))});
            schemas.insert(model_name(kind).to_owned(), json_schema(kind));
            schemas.insert(changes_name(kind), changes_schema(kind));
            schemas.insert(amendment_name(kind), amendment);
        }
        for kind in REGISTERED {
            schemas.insert(registration_name(kind), registration_schema(kind));
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
        for kind in RecordKind::ALL {
            let model = model_name(kind);
            let Some(version) = schemas.get_mut(&format!("RecordVersion_{model}")) else {
                continue;
            };
            for (field, property) in properties(version) {
                match field.as_str() {
                    "kind" => set(property, "enum", json!([kind.as_str()])),
                    "id" | "patient_id" => set(property, "minimum", 1),
                    // Withheld from auditors: `null`.
                    "record" => {
                        *property = json!({
                            "description": property["description"].clone(),
                            "anyOf": [
                                {"$ref": format!("#/components/schemas/{model}")},
                                {"type": "null"},
                            ],
                        })
                    }
                    _ => {}
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

    /// Path parameters named `id` are record ids: positive. An `If-Match` is one version's `ETag` or `*`.
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
                    if parameter["in"] == "header" && parameter["name"] == "If-Match" {
                        // Optional by being left out, never `null`.
                        parameter["required"] = json!(false);
                        parameter["schema"] = json!({
                            "type": "string",
                            "pattern": crate::records::IF_MATCH_PATTERN,
                        });
                    }
                }
            }
        }
    }

    /// Every rule: the contract's components, the answers', the paths'.
    pub fn apply(document: &mut Value) {
        components(document);
        answers(document);
        ids(document);
        password_change_required(document);
        pending_writes(document);
    }

    /// Every write (a `POST` under `/api/v1` but the logins) may answer 202 [`PendingWrite`]: ordered,
    /// not committed within the wait, with the transaction's status route.
    ///
    /// [`PendingWrite`]: crate::error::PendingWrite
    fn pending_writes(document: &mut Value) {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(crate::error::PendingWrite::schema()).unwrap_or_default();
        schemas(document).insert("PendingWrite".into(), schema);
        let Some(paths) = document["paths"].as_object_mut() else {
            return;
        };
        for (path, item) in paths.iter_mut() {
            if !path.starts_with("/api/v1/") || path.starts_with("/api/v1/auth/") {
                continue;
            }
            if let Some(post) = item.get_mut("post") {
                let parameters = &mut post["parameters"];
                if !parameters.is_array() {
                    *parameters = json!([]);
                }
                if let Some(parameters) = parameters.as_array_mut() {
                    parameters.push(json!({
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": false,
                        "description": "Names this write for retries: the same key with the same request \
                                        gets the first answer again (with `Idempotent-Replayed: true`) \
                                        instead of a second write; with another request it is 422 \
                                        (`key_reused`), while the first is still being answered 409. \
                                        Kept for a day, per person.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                   "pattern": "^[!-~]+$"},
                    }));
                }
                for (status, description) in [
                    (
                        "409",
                        "The record exists or changed meanwhile, or the first request with this `Idempotency-Key` is still being answered",
                    ),
                    (
                        "422",
                        "Invalid fields, or an `Idempotency-Key` sent before with another request (`key_reused`)",
                    ),
                ] {
                    if post["responses"].get(status).is_none() {
                        post["responses"][status] = json!({
                            "description": description,
                            "content": {"application/problem+json": {
                                "schema": {"$ref": "#/components/schemas/Problem"}
                            }},
                        });
                    }
                }
                post["responses"]["202"] = json!({
                    "description": "Ordered, but not committed within the wait: it may still commit. \
                                    `status_url` (also in `Location`) tells how it ended; do not simply \
                                    send it again.",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/PendingWrite"}
                    }},
                });
            }
        }
    }

    /// The operations a person whose password someone else chose may still call: change it, log out.
    const OPEN_BEFORE_A_PASSWORD_CHANGE: [&str; 2] =
        ["/api/v1/auth/password", "/api/v1/auth/logout"];

    /// Every other protected operation answers 403 `password_change_required` until a person replaces
    /// a password someone else chose (`auth::Authenticated`): each says so, in one place.
    fn password_change_required(document: &mut Value) {
        let Some(paths) = document["paths"].as_object_mut() else {
            return;
        };
        for (path, item) in paths.iter_mut() {
            if OPEN_BEFORE_A_PASSWORD_CHANGE.contains(&path.as_str()) {
                continue;
            }
            let Some(operations) = item.as_object_mut() else {
                continue;
            };
            for operation in operations.values_mut() {
                if operation.get("security").is_none() {
                    continue;
                }
                let responses = &mut operation["responses"];
                let forbidden = &mut responses["403"];
                let reason = "or the password was chosen by someone else and must be replaced first \
                              (`password_change_required`)";
                match forbidden["description"].as_str() {
                    Some(description) => {
                        forbidden["description"] = json!(format!("{description}, {reason}"));
                    }
                    None => {
                        *forbidden = json!({
                            "description": format!("Not allowed: {}", &reason[3..]),
                            "content": {"application/problem+json": {
                                "schema": {"$ref": "#/components/schemas/Problem"}
                            }},
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use medledger_contract::ehr::RecordKind;
    use medledger_contract::ehr::fields::{fields, model_name};
    use medledger_contract::ehr::samples;
    use medledger_contract::ehr::schema::{amendment_schema, changes_schema, json_schema};
    use serde_json::{Value, json};
    use utoipa::PartialSchema;

    use super::models::*;
    use super::rules::{amendment_name, changes_name, registration_name};

    /// The served document's schema of `name`.
    fn documented(name: &str) -> Value {
        crate::openapi_document()["components"]["schemas"][name].clone()
    }

    /// The contract's field problems for `json` as model `M`, by field and code.
    fn contract_says<M>(json: Value, year: i64) -> Vec<(String, String)>
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
    /// white space only is refused, one visible character passes. The year of birth's lower bound
    /// too; its upper bound, the year of the transaction, is in words only (the document does not
    /// change with the year).
    fn limits_agree<M: medledger_service::records::Served>(name: &str, sample: &M) {
        let year = 2026;
        let schema = documented(name);
        let sample = serde_json::to_value(sample).expect("serializes");
        let mut checked = 0;
        for (field, property) in schema["properties"].as_object().expect("properties") {
            let with = |value: Value, year: i64| {
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
                assert!(
                    !with("😷".repeat(max).into(), year),
                    "{name}.{field} at {max}"
                );
                assert!(
                    with("x".repeat(max + 1).into(), year),
                    "{name}.{field} past {max}"
                );
                checked += 1;
            }
            if property["minLength"] == 1 {
                assert!(with(" \u{3000}\t".into(), year), "{name}.{field} blank");
                assert!(!with("\u{3000}x".into(), year), "{name}.{field} not blank");
            }
            if field == "year_of_birth" {
                let min = property["minimum"].as_i64().expect("a minimum");
                assert_eq!(property.get("maximum"), None, "{name}.{field}");
                let description = property["description"].as_str().expect("description");
                assert!(
                    description.contains("not after the current year"),
                    "{name}.{field}: {description}"
                );
                for (value, refused) in [(min, false), (year, false), (min - 1, true)] {
                    assert_eq!(
                        with(value.into(), year),
                        refused,
                        "{name}.{field} = {value}"
                    );
                }
                // The year after is refused this year, accepted the next.
                assert!(with((year + 1).into(), year), "{name}.{field} next year");
                assert!(!with((year + 1).into(), year + 1), "{name}.{field} then");
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

    /// The failure this pins: a component that is not the contract's schema (a second description
    /// of a model's fields, which would drift from the contract's).
    #[test]
    fn the_components_are_the_contracts_schemas() {
        for kind in RecordKind::ALL {
            let model = model_name(kind);
            assert_eq!(documented(model), json_schema(kind), "{model}");
            assert_eq!(
                documented(&changes_name(kind)),
                changes_schema(kind),
                "{model}"
            );
            let mut amendment = amendment_schema(kind);
            amendment["properties"]["changes"] =
                json!({"$ref": format!("#/components/schemas/{}", changes_name(kind))});
            assert_eq!(documented(&amendment_name(kind)), amendment, "{model}");
            // Answers name the model's component, or `null` when the record is withheld.
            assert_eq!(
                documented(&format!("RecordVersion_{model}"))["properties"]["record"]["anyOf"],
                json!([{"$ref": format!("#/components/schemas/{model}")}, {"type": "null"}]),
                "{model}"
            );
        }
        assert_eq!(documented("AmendmentRequest"), Value::Null);
    }

    /// A registration body is the person's fields (each as the model's component has it) but the
    /// certificate, plus the password: required where the model requires it.
    #[test]
    fn registrations_are_the_profile_without_the_certificate_and_a_password() {
        for kind in [RecordKind::Doctor, RecordKind::Admin] {
            let body = documented(&registration_name(kind));
            let model = json_schema(kind);
            let mut expected = model["properties"].clone();
            let expected = expected.as_object_mut().expect("properties");
            expected.remove("certificate");
            let mut properties = body["properties"].clone();
            let password = properties
                .as_object_mut()
                .expect("properties")
                .remove("password")
                .expect("a password");
            assert_eq!(&properties, &Value::Object(expected.clone()), "{kind}");
            assert_eq!(
                (
                    &password["format"],
                    &password["minLength"],
                    &password["maxLength"]
                ),
                (&json!("password"), &json!(12), &json!(1024))
            );
            let required: Vec<&str> = fields(kind)
                .iter()
                .filter(|f| f.required && f.name != "certificate")
                .map(|f| f.name)
                .chain(["password"])
                .collect();
            assert_eq!(body["required"], json!(required), "{kind}");
            assert_eq!(body["additionalProperties"], false);
        }
    }

    /// utoipa's schema types read the contract's JSON Schemas (types as arrays with `null` too) and
    /// lose only what the module documentation says: `allOf` beside `properties`.
    #[test]
    fn markers_hold_the_contracts_schemas_as_far_as_utoipa_can() {
        let as_json = |schema| serde_json::to_value(schema).expect("serializes");
        let without_all_of = |mut schema: Value| {
            schema.as_object_mut().expect("object").remove("allOf");
            schema
        };
        for (marker, kind) in [
            (as_json(PatientDoc::schema()), RecordKind::Patient),
            (as_json(NoteDoc::schema()), RecordKind::Note),
            (as_json(DrugExposureDoc::schema()), RecordKind::DrugExposure),
            (as_json(DoctorDoc::schema()), RecordKind::Doctor),
            (as_json(AdminDoc::schema()), RecordKind::Admin),
        ] {
            assert_eq!(marker, without_all_of(json_schema(kind)), "{kind}");
        }
        assert_eq!(
            as_json(NoteAmendmentDoc::schema()),
            amendment_schema(RecordKind::Note)
        );
        assert_eq!(
            as_json(NewDoctorDoc::schema()),
            super::rules::registration_schema(RecordKind::Doctor)
        );
    }
}
