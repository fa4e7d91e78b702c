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
use medledger_service::people::register_person;
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

/// The list, registration and read handlers of one kind of person.
macro_rules! people_handlers {
    (
        model = $model:ty, doc = $doc:ty, new = $new:ty, collection = $collection:literal,
        item = $item:literal, id = $id:literal, list = $list:ident, create = $create:ident,
        get = $get:ident, one = $one:literal, a = $a:literal, many = $many:literal $(,)?
    ) => {
        #[doc = concat!("Lists ", $many, " in id order (administrators and doctors).")]
        #[utoipa::path(
            get,
            path = $collection,
            tag = "people",
            params(ListParams),
            security(("bearer" = [])),
            responses(
                (status = 200, description = concat!("A page of ", $many), body = RecordPage<$doc>),
                (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
                (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $list(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            QueryParams(query): QueryParams<ListParams>,
        ) -> Result<Json<records::RecordPage<$model>>, ApiError> {
            Ok(Json(
                list_records::<$model>(&state, &session, &query.into()).await?,
            ))
        }

        #[doc = concat!(
            "Registers ", $a, " (administrators only): issues the certificate, records the profile on the ",
            "ledger and stores the credentials. The initial password opens only its own replacement: at ",
            "the first login the person chooses their own (`POST /auth/password`)."
        )]
        #[utoipa::path(
            post,
            path = $collection,
            tag = "people",
            request_body = $new,
            security(("bearer" = [])),
            responses(
                (status = 201, description = "Registered and committed", body = RecordVersion<$doc>),
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
        pub async fn $create(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            JsonBody(body): JsonBody<Value>,
        ) -> Result<Response, ApiError> {
            let version = register_person::<$model>(&state, &session, body).await?;
            Ok(created(format!(concat!("/api/v1", $collection, "/{}"), version.id), version))
        }

        #[doc = concat!("One of the ", $many, " (administrators and doctors).")]
        #[utoipa::path(
            get,
            path = $item,
            tag = "people",
            params(("id" = i64, Path, description = $id)),
            security(("bearer" = [])),
            responses(
                (status = 200, description = "The current version", body = RecordVersion<$doc>),
                (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = concat!("No such ", $one), body = Problem, content_type = "application/problem+json"),
                (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $get(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            PathParams(id): PathParams<i64>,
        ) -> Result<Json<records::RecordVersion<$model>>, ApiError> {
            Ok(Json(get_record::<$model>(&state, &session, id).await?))
        }
    };
}

people_handlers!(
    model = Admin,
    doc = AdminDoc,
    new = NewAdminDoc,
    collection = "/admins",
    item = "/admins/{id}",
    id = "`admin_id`",
    list = list_admins,
    create = create_admin,
    get = get_admin,
    one = "administrator",
    a = "an administrator",
    many = "administrators",
);
people_handlers!(
    model = Doctor,
    doc = DoctorDoc,
    new = NewDoctorDoc,
    collection = "/doctors",
    item = "/doctors/{id}",
    id = "`provider_id`",
    list = list_doctors,
    create = create_doctor,
    get = get_doctor,
    one = "doctor",
    a = "a doctor",
    many = "doctors",
);

/// `/admins`, `/admins/{id}`, `/doctors`, `/doctors/{id}`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_admins, create_admin))
        .routes(routes!(get_admin))
        .routes(routes!(list_doctors, create_doctor))
        .routes(routes!(get_doctor))
}
