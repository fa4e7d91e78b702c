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
//! JSON shapes (OMOP names for the profile; the certificate is the DER in hex):
//! - `POST /doctors` body: every `Doctor` field except `certificate`, plus `password` (≥ 12 characters).
//!   `201` → `{record: Doctor, header: RecordMeta, tx_id, block_number}` and `Location`.
//! - `GET /doctors/{id}` → `{record: Doctor, header: RecordMeta}`.
//! - `GET /doctors?limit=1..=500&cursor=` → `{items: [{record, header}], next_cursor: string|null}`.
//! - The same for `/admins` with `Admin`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_contract::ContractError;
use medledger_contract::ehr::{
    Admin, Doctor, EhrCall, Model, NewRecord, Page, Record, RecordHeader,
};
use medledger_node::{Identity, InvokeError};
use medledger_types::Role;
use medledger_types::limits::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Session, check_new_password, rfc3339};
use crate::error::{JsonBody, PathParams, Problem, QueryParams};
use crate::state::Written;
use crate::wallet::{Wallet, WalletError, normalize_email};
use crate::{ApiError, AppState};

/// Who wrote the current version of a record, when, and in which transaction.
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

/// An administrator's public profile, as on the ledger.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdminProfile {
    pub admin_id: i64,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    /// The DER of the administrator's X.509 certificate, in hex.
    pub certificate: String,
}

impl From<Admin> for AdminProfile {
    fn from(a: Admin) -> AdminProfile {
        AdminProfile {
            admin_id: a.admin_id,
            given_name: a.given_name,
            family_name: a.family_name,
            email: a.email,
            certificate: hex::encode(a.certificate),
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

/// A doctor's public profile (OMOP PROVIDER plus names, email and certificate), as on the ledger.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DoctorProfile {
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
    /// The DER of the doctor's X.509 certificate, in hex.
    pub certificate: String,
}

impl From<Doctor> for DoctorProfile {
    fn from(d: Doctor) -> DoctorProfile {
        DoctorProfile {
            provider_id: d.provider_id,
            provider_name: d.provider_name,
            npi: d.npi,
            dea: d.dea,
            specialty_concept_id: d.specialty_concept_id,
            care_site_id: d.care_site_id,
            year_of_birth: d.year_of_birth,
            gender_concept_id: d.gender_concept_id,
            provider_source_value: d.provider_source_value,
            specialty_source_value: d.specialty_source_value,
            specialty_source_concept_id: d.specialty_source_concept_id,
            gender_source_value: d.gender_source_value,
            gender_source_concept_id: d.gender_source_concept_id,
            given_name: d.given_name,
            second_given_name: d.second_given_name,
            family_name: d.family_name,
            second_family_name: d.second_family_name,
            email: d.email,
            certificate: hex::encode(d.certificate),
        }
    }
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

/// One administrator with the header of its current version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminRecord {
    pub record: AdminProfile,
    pub header: RecordMeta,
}

/// One doctor with the header of its current version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DoctorRecord {
    pub record: DoctorProfile,
    pub header: RecordMeta,
}

/// A page of administrators, in id order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminPage {
    pub items: Vec<AdminRecord>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of doctors, in id order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DoctorPage {
    pub items: Vec<DoctorRecord>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A registered administrator, once committed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminWritten {
    pub record: AdminProfile,
    pub header: RecordMeta,
    /// The transaction that recorded the profile (hex).
    pub tx_id: String,
    /// The block it committed in.
    pub block_number: u64,
}

/// A registered doctor, once committed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DoctorWritten {
    pub record: DoctorProfile,
    pub header: RecordMeta,
    /// The transaction that recorded the profile (hex).
    pub tx_id: String,
    /// The block it committed in.
    pub block_number: u64,
}

/// `?limit=&cursor=` of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1..=500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The contract's `(after, limit)`, or 400.
    pub fn parse(&self) -> Result<(Option<i64>, u32), ApiError> {
        let limit = self.limit.unwrap_or(PAGE_LIMIT_DEFAULT as u32);
        if limit == 0 || limit as usize > PAGE_LIMIT_MAX {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1..={PAGE_LIMIT_MAX}"
            )));
        }
        let after =
            match &self.cursor {
                None => None,
                Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
                    ApiError::BadRequest("cursor is not one this API returned".into())
                })?),
            };
        Ok((after, limit))
    }
}

fn decode<M: Model>(record: &Record) -> Result<M, ApiError> {
    record
        .decode_body::<M>()
        .map_err(|e| ApiError::Internal(format!("a stored {}: {e}", M::KIND)))
}

fn list<M: Model, T>(
    state: &AppState,
    session: &Session,
    query: &ListQuery,
    item: impl Fn(M, &RecordHeader) -> T,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    session.require(&[Role::Admin, Role::Doctor])?;
    let (after, limit) = query.parse()?;
    let page: Page = state.query(
        session,
        &EhrCall::List {
            kind: M::KIND,
            after,
            limit,
        },
    )?;
    let items = page
        .items
        .iter()
        .map(|record| Ok(item(decode::<M>(record)?, &record.header)))
        .collect::<Result<Vec<T>, ApiError>>()?;
    Ok((items, page.next_cursor.map(|id| id.to_string())))
}

fn get<M: Model>(
    state: &AppState,
    session: &Session,
    id: i64,
) -> Result<(M, RecordHeader), ApiError> {
    session.require(&[Role::Admin, Role::Doctor])?;
    let record: Record = state.query(session, &EhrCall::Get { kind: M::KIND, id })?;
    Ok((decode::<M>(&record)?, record.header))
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

/// Lists administrators in id order.
#[utoipa::path(
    get,
    path = "/admins",
    tag = "people",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AdminPage),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_admins(
    State(state): State<AppState>,
    session: Session,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<AdminPage>, ApiError> {
    let (items, next_cursor) = list(&state, &session, &query, |a: Admin, h| AdminRecord {
        record: a.into(),
        header: h.into(),
    })?;
    Ok(Json(AdminPage { items, next_cursor }))
}

/// Registers an administrator (administrators only).
#[utoipa::path(
    post,
    path = "/admins",
    tag = "people",
    request_body = NewAdmin,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered and committed", body = AdminWritten),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id or email exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_admin(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<NewAdmin>,
) -> Result<Response, ApiError> {
    let NewAdmin {
        admin_id,
        given_name,
        family_name,
        email,
        password,
    } = body;
    let (written, record) = register(
        &state,
        &session,
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
    Ok(created(
        format!("/api/v1/admins/{admin_id}"),
        AdminWritten {
            record: admin.into(),
            header: (&written.header).into(),
            tx_id: written.tx_id.to_string(),
            block_number: written.block_number,
        },
    ))
}

/// One administrator.
#[utoipa::path(
    get,
    path = "/admins/{id}",
    tag = "people",
    params(("id" = i64, Path, description = "`admin_id`")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AdminRecord),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_admin(
    State(state): State<AppState>,
    session: Session,
    PathParams(id): PathParams<i64>,
) -> Result<Json<AdminRecord>, ApiError> {
    let (admin, header) = get::<Admin>(&state, &session, id)?;
    Ok(Json(AdminRecord {
        record: admin.into(),
        header: (&header).into(),
    }))
}

/// Lists doctors in id order.
#[utoipa::path(
    get,
    path = "/doctors",
    tag = "people",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DoctorPage),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_doctors(
    State(state): State<AppState>,
    session: Session,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<DoctorPage>, ApiError> {
    let (items, next_cursor) = list(&state, &session, &query, |d: Doctor, h| DoctorRecord {
        record: d.into(),
        header: h.into(),
    })?;
    Ok(Json(DoctorPage { items, next_cursor }))
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
        (status = 201, description = "Registered and committed", body = DoctorWritten),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id or email exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_doctor(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<NewDoctor>,
) -> Result<Response, ApiError> {
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
    } = body;
    let (written, record) = register(
        &state,
        &session,
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
    Ok(created(
        format!("/api/v1/doctors/{provider_id}"),
        DoctorWritten {
            record: doctor.into(),
            header: (&written.header).into(),
            tx_id: written.tx_id.to_string(),
            block_number: written.block_number,
        },
    ))
}

/// One doctor.
#[utoipa::path(
    get,
    path = "/doctors/{id}",
    tag = "people",
    params(("id" = i64, Path, description = "`provider_id`")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DoctorRecord),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_doctor(
    State(state): State<AppState>,
    session: Session,
    PathParams(id): PathParams<i64>,
) -> Result<Json<DoctorRecord>, ApiError> {
    let (doctor, header) = get::<Doctor>(&state, &session, id)?;
    Ok(Json(DoctorRecord {
        record: doctor.into(),
        header: (&header).into(),
    }))
}

/// `/admins`, `/admins/{id}`, `/doctors`, `/doctors/{id}`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_admins, create_admin))
        .routes(routes!(get_admin))
        .routes(routes!(list_doctors, create_doctor))
        .routes(routes!(get_doctor))
}
