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
//! the profile without `certificate` (the gateway issues it) plus `password` (≥ 12 characters, not
//! `too_weak`); it answers 201 with `Location`. Amendments and history of people are served by [`crate::records`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_contract::ehr::{Admin, Doctor};
use medledger_service::AppState;
use medledger_service::people::{register_admin, register_doctor};
use medledger_service::records::{self, get_record, list_records};
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiError;
use crate::auth::Authenticated;
use crate::error::{JsonBody, PathParams, Problem, QueryParams};
use crate::openapi::models::{AdminDoc, DoctorDoc, NewAdminDoc, NewDoctorDoc};
use crate::openapi::views::{RecordPage, RecordVersion};
use crate::records::ListParams;

fn created(location: String, body: impl Serialize) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Lists administrators in id order (administrators and doctors).
#[utoipa::path(
    get,
    path = "/admins",
    tag = "people",
    params(ListParams),
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
    Authenticated(session): Authenticated,
    QueryParams(query): QueryParams<ListParams>,
) -> Result<Json<records::RecordPage<Admin>>, ApiError> {
    Ok(Json(
        list_records::<Admin>(&state, &session, &query.into()).await?,
    ))
}

/// Registers an administrator (administrators only): issues their certificate, records their profile
/// on the ledger and stores their credentials; they can log in at once with the initial password.
#[utoipa::path(
    post,
    path = "/admins",
    tag = "people",
    request_body = NewAdminDoc,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered and committed", body = RecordVersion<AdminDoc>),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id or email exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (a `password` too easy to guess is `too_weak`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many password checks at once; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_admin(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let version = register_admin(&state, &session, body).await?;
    Ok(created(format!("/api/v1/admins/{}", version.id), version))
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
    Authenticated(session): Authenticated,
    PathParams(id): PathParams<i64>,
) -> Result<Json<records::RecordVersion<Admin>>, ApiError> {
    Ok(Json(get_record::<Admin>(&state, &session, id).await?))
}

/// Lists doctors in id order (administrators and doctors).
#[utoipa::path(
    get,
    path = "/doctors",
    tag = "people",
    params(ListParams),
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
    Authenticated(session): Authenticated,
    QueryParams(query): QueryParams<ListParams>,
) -> Result<Json<records::RecordPage<Doctor>>, ApiError> {
    Ok(Json(
        list_records::<Doctor>(&state, &session, &query.into()).await?,
    ))
}

/// Registers a doctor (administrators only): issues their certificate, records their profile on the
/// ledger and stores their credentials; they can log in at once with the initial password.
#[utoipa::path(
    post,
    path = "/doctors",
    tag = "people",
    request_body = NewDoctorDoc,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered and committed", body = RecordVersion<DoctorDoc>),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id or email exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (a `password` too easy to guess is `too_weak`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many password checks at once; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_doctor(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let version = register_doctor(&state, &session, body).await?;
    Ok(created(format!("/api/v1/doctors/{}", version.id), version))
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
    Authenticated(session): Authenticated,
    PathParams(id): PathParams<i64>,
) -> Result<Json<records::RecordVersion<Doctor>>, ApiError> {
    Ok(Json(get_record::<Doctor>(&state, &session, id).await?))
}

/// `/admins`, `/admins/{id}`, `/doctors`, `/doctors/{id}`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_admins, create_admin))
        .routes(routes!(get_admin))
        .routes(routes!(list_doctors, create_doctor))
        .routes(routes!(get_doctor))
}
