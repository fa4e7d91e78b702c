//! Administrators and doctors: `GET/POST /admins`, `GET /admins/{id}`, `GET/POST /doctors`,
//! `GET /doctors/{id}`.
//!
//! Registering a person (administrators only) issues them an Ed25519 identity from the organization CA
//! with their role, records their public profile and certificate on the ledger — signed by the
//! registering administrator — and stores their credentials in the wallet, their key encrypted under
//! the initial password the administrator gave. The expensive part (Argon2) is done before the ledger
//! write, so once the profile has committed only a small file write remains. Reads are open to
//! administrators and doctors, as the contract's matrix says.
//!
//! JSON shapes: reads and registrations answer with the records module's shapes
//! ([`RecordVersion`] / [`RecordPage`]: the profile under `record`, OMOP names, certificate DER in hex,
//! beside the version's author, time, `tx_id`, `block_number`, `tx_index`). A registration's body is
//! the profile without `certificate` (the gateway issues it) plus `password` (≥ 12 characters); it
//! answers 201 with `Location`. Amendments and history of people are served by [`crate::records`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_contract::ContractError;
use medledger_contract::ehr::{Admin, Doctor, EhrCall, NewRecord, RecordHeader};
use medledger_node::{Identity, InvokeError};
use medledger_types::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Session, check_new_password, rfc3339};
use crate::error::{JsonBody, PathParams, Problem, QueryParams};
use crate::openapi::models::{AdminDoc, DoctorDoc};
use crate::records::{
    ListQuery, RecordPage, RecordVersion, Served, get_record, list_records, parse_model,
};
use crate::state::Written;
use crate::wallet::{Wallet, WalletError, normalize_email};
use crate::{ApiError, AppState};

/// Who wrote a version of a record, when, why, and in which transaction: the `header` of every
/// [`RecordVersion`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

impl From<&RecordHeader> for RecordMeta {
    fn from(header: &RecordHeader) -> RecordMeta {
        RecordMeta {
            version_number: header.version_number,
            author: header.author.clone(),
            author_org: header.author_org.clone(),
            timestamp: rfc3339(header.timestamp_ms),
            tx_id: header.tx_id.to_string(),
            amendment_reason: header.amendment_reason.clone(),
        }
    }
}

/// `POST /admins` body: the profile without the certificate (the gateway issues it), and the initial
/// password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    pub admin_id: i64,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    /// The initial password, at least 12 characters.
    #[schema(format = Password)]
    pub password: String,
}

/// `POST /doctors` body: the profile without the certificate (the gateway issues it), and the initial
/// password. Optional fields may be left out.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDoctor {
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
    pub given_name: String,
    pub second_given_name: Option<String>,
    pub family_name: String,
    pub second_family_name: Option<String>,
    pub email: String,
    /// The initial password, at least 12 characters.
    #[schema(format = Password)]
    pub password: String,
}

/// Registers a person: issues their certificate, records `record(certificate)` on the ledger signed by
/// the logged-in administrator, and stores their wallet entry. Outcomes: the committed write and the
/// record; 403 (not an administrator); 409 (the email has a wallet entry, or the contract says the id or
/// email exists); 422 (password or profile invalid); others as [`From<InvokeError>`](ApiError).
async fn register(
    state: &AppState,
    session: &Session,
    role: Role,
    email: &str,
    password: String,
    record: impl FnOnce(Vec<u8>) -> NewRecord,
) -> Result<(Written, NewRecord), ApiError> {
    session.require(&[Role::Admin])?;
    check_new_password("password", &password)?;
    let email_key = normalize_email(email);
    if email_key.is_empty() {
        return Err(ApiError::field("email", "required", "an email is required"));
    }
    if email.len() > crate::wallet::EMAIL_BYTES_MAX {
        return Err(ApiError::field(
            "email",
            "too_long",
            "the email is too long",
        ));
    }
    let wallet = &state.inner.wallet;
    if wallet
        .person(&email_key)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "a person with email {email_key} is already registered"
        )));
    }
    let identity = medledger_node::init::issue_identity(
        &state.inner.ca,
        &email_key,
        role,
        state.now_ms() / 1000,
    )
    .map_err(|e| {
        ApiError::field(
            "email",
            "invalid_email",
            format!("cannot be put in a certificate: {e}"),
        )
    })?;
    let new_record = record(identity.certificate.clone());
    let record_id = new_record.id();
    let sealed = {
        let params = state.inner.config.password;
        let now_ms = state.now_ms();
        let email_key = email_key.clone();
        let key = identity.key.clone();
        let certificate = identity.certificate.clone();
        tokio::task::spawn_blocking(move || {
            let identity = Identity { key, certificate };
            Wallet::seal(
                &email_key, role, record_id, &password, &identity, params, now_ms,
            )
        })
        .await
        .map_err(|e| ApiError::Internal(format!("sealing task: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))?
    };
    let written = state
        .invoke(session, &EhrCall::Create(new_record.clone()))
        .await?;
    match wallet.insert_new(sealed) {
        Ok(()) => {}
        Err(WalletError::AlreadyExists(email)) => {
            tracing::warn!(%email, "registered on the ledger, but the email got a wallet entry meanwhile");
            return Err(ApiError::Conflict(format!(
                "a person with email {email} is already registered"
            )));
        }
        Err(e) => return Err(ApiError::Internal(e.to_string())),
    }
    tracing::info!(email = %email_key, %role, record_id, registered_by = %session.email, "registered");
    Ok((written, new_record))
}

fn created(location: String, body: impl Serialize) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Records the first administrator's profile on the ledger, signed by them, and marks their wallet
/// entry. Done at first run, or at their first login if the first run stopped before it.
pub(crate) async fn record_first_admin(
    state: &AppState,
    identity: &Identity,
    email: &str,
) -> Result<(), ApiError> {
    let started = std::time::Instant::now();
    match medledger_node::register_first_admin(state.node(), identity, email).await {
        Ok(_) => state.inner.metrics.record_commit(started.elapsed()),
        Err(InvokeError::Refused(payload))
            if matches!(
                medledger_node::refusal(&payload),
                Some(ContractError::AlreadyExists { .. })
            ) => {}
        Err(e) => return Err(e.into()),
    }
    state
        .inner
        .wallet
        .mark_on_ledger(email)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The answer to a registration: version 1 of the profile, committed.
fn registered<M: Served>(model: M, written: &Written) -> RecordVersion<M> {
    let header = &written.header;
    RecordVersion {
        kind: header.kind.as_str().to_owned(),
        id: header.id,
        patient_id: header.patient_id,
        record: Some(model),
        header: header.into(),
        tx_id: written.tx_id.to_string(),
        block_number: written.block_number,
        tx_index: written.tx_index,
    }
}

/// Lists administrators in id order (administrators and doctors).
#[utoipa::path(
    get,
    path = "/admins",
    tag = "people",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of administrators", body = RecordPage<AdminDoc>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_admins(
    State(state): State<AppState>,
    session: Session,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<RecordPage<Admin>>, ApiError> {
    list_records::<Admin>(&state, &session, &query).map(Json)
}

/// Registers an administrator (administrators only): issues their certificate, records their profile
/// on the ledger and stores their credentials; they can log in at once with the initial password.
#[utoipa::path(
    post,
    path = "/admins",
    tag = "people",
    request_body = NewAdmin,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered and committed", body = RecordVersion<AdminDoc>),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id or email exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_admin(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let version = register_admin(&state, &session, body).await?;
    Ok(created(format!("/api/v1/admins/{}", version.id), version))
}

/// Registers an administrator from a [`NewAdmin`] JSON body: what `POST /admins` does, shared with the
/// web form. Answers version 1 of the profile, committed.
pub async fn register_admin(
    state: &AppState,
    session: &Session,
    body: Value,
) -> Result<RecordVersion<Admin>, ApiError> {
    session.require(&[Role::Admin])?;
    let NewAdmin {
        admin_id,
        given_name,
        family_name,
        email,
        password,
    } = parse_model(body)?;
    let (written, record) = register(
        state,
        session,
        Role::Admin,
        &email.clone(),
        password,
        |certificate| {
            NewRecord::Admin(Admin {
                admin_id,
                given_name,
                family_name,
                email,
                certificate,
            })
        },
    )
    .await?;
    let NewRecord::Admin(admin) = record else {
        return Err(ApiError::Internal(
            "registered an admin that is not one".into(),
        ));
    };
    Ok(registered(admin, &written))
}

/// One administrator (administrators and doctors).
#[utoipa::path(
    get,
    path = "/admins/{id}",
    tag = "people",
    params(("id" = i64, Path, description = "`admin_id`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The current version", body = RecordVersion<AdminDoc>),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such administrator", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_admin(
    State(state): State<AppState>,
    session: Session,
    PathParams(id): PathParams<i64>,
) -> Result<Json<RecordVersion<Admin>>, ApiError> {
    get_record::<Admin>(&state, &session, id).map(Json)
}

/// Lists doctors in id order (administrators and doctors).
#[utoipa::path(
    get,
    path = "/doctors",
    tag = "people",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of doctors", body = RecordPage<DoctorDoc>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_doctors(
    State(state): State<AppState>,
    session: Session,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<RecordPage<Doctor>>, ApiError> {
    list_records::<Doctor>(&state, &session, &query).map(Json)
}

/// Registers a doctor (administrators only): issues their certificate, records their profile on the
/// ledger and stores their credentials; they can log in at once with the initial password.
#[utoipa::path(
    post,
    path = "/doctors",
    tag = "people",
    request_body = NewDoctor,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered and committed", body = RecordVersion<DoctorDoc>),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id or email exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_doctor(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let version = register_doctor(&state, &session, body).await?;
    Ok(created(format!("/api/v1/doctors/{}", version.id), version))
}

/// Registers a doctor from a [`NewDoctor`] JSON body: what `POST /doctors` does, shared with the web
/// form. Answers version 1 of the profile, committed.
pub async fn register_doctor(
    state: &AppState,
    session: &Session,
    body: Value,
) -> Result<RecordVersion<Doctor>, ApiError> {
    session.require(&[Role::Admin])?;
    let NewDoctor {
        provider_id,
        provider_name,
        npi,
        dea,
        specialty_concept_id,
        care_site_id,
        year_of_birth,
        gender_concept_id,
        provider_source_value,
        specialty_source_value,
        specialty_source_concept_id,
        gender_source_value,
        gender_source_concept_id,
        given_name,
        second_given_name,
        family_name,
        second_family_name,
        email,
        password,
    } = parse_model(body)?;
    let (written, record) = register(
        state,
        session,
        Role::Doctor,
        &email.clone(),
        password,
        |certificate| {
            NewRecord::Doctor(Doctor {
                provider_id,
                provider_name,
                npi,
                dea,
                specialty_concept_id,
                care_site_id,
                year_of_birth,
                gender_concept_id,
                provider_source_value,
                specialty_source_value,
                specialty_source_concept_id,
                gender_source_value,
                gender_source_concept_id,
                given_name,
                second_given_name,
                family_name,
                second_family_name,
                email,
                certificate,
            })
        },
    )
    .await?;
    let NewRecord::Doctor(doctor) = record else {
        return Err(ApiError::Internal(
            "registered a doctor that is not one".into(),
        ));
    };
    Ok(registered(doctor, &written))
}

/// One doctor (administrators and doctors).
#[utoipa::path(
    get,
    path = "/doctors/{id}",
    tag = "people",
    params(("id" = i64, Path, description = "`provider_id`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The current version", body = RecordVersion<DoctorDoc>),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such doctor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_doctor(
    State(state): State<AppState>,
    session: Session,
    PathParams(id): PathParams<i64>,
) -> Result<Json<RecordVersion<Doctor>>, ApiError> {
    get_record::<Doctor>(&state, &session, id).map(Json)
}

/// `/admins`, `/admins/{id}`, `/doctors`, `/doctors/{id}`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_admins, create_admin))
        .routes(routes!(get_admin))
        .routes(routes!(list_doctors, create_doctor))
        .routes(routes!(get_doctor))
}
