//! The REST API under `/api/v1`: routes and their extractors, the OpenAPI 3.1 document generated from
//! them (served at [`openapi::DOCUMENT_PATH`]), errors as `application/problem+json`, `/healthz` and
//! `/readyz`, and the `/metrics` handler (which the gateway places: [`ops`]). Handlers translate between HTTP/JSON and the service crate
//! ([`medledger_service`]), which does the work; they make no ledger decision.
//!
//! - [`error`]: service errors become problem documents; axum's rejections become problems too.
//! - [`auth`]: login, logout, password change, and the [`auth::Authenticated`] extractor.
//! - [`people`]: administrators and doctors.
//! - [`records`]: patients, notes, drug exposures: create, get, list, amend, history.
//! - [`ledger`]: blocks, transactions with inclusion proofs, checkpoints, consistency proofs.
//! - [`ops`]: health, readiness, metrics.
//! - [`openapi`]: the OpenAPI document.
//!
//! Architecture invariant: this crate and `medledger-web` are the only ones that speak HTTP; they meet
//! only in `medledger-gateway`.

pub mod auth;
pub mod error;
pub mod idempotency;
pub mod ledger;
pub mod openapi;
pub mod ops;
pub mod people;
pub mod records;

use axum::Router;
use medledger_service::AppState;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;

/// The REST API's routes (`/api/v1/...`, `/healthz`, `/readyz` and the document itself; not
/// `/metrics`, see [`ops`]).
pub fn routes() -> Router<AppState> {
    let (routes, document) = api();
    let (document_route, _) = openapi::serve(document);
    routes.merge(document_route)
}

/// The OpenAPI document of [`routes`], as served at [`openapi::DOCUMENT_PATH`].
pub fn openapi_document() -> serde_json::Value {
    let (_, document) = api();
    openapi::serve(document).1
}

/// Every route and the document generated from them. Each module's `routes()` is an [`OpenApiRouter`];
/// routes without `#[utoipa::path]` still serve, but are missing from the document.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(auth::routes())
        .merge(people::routes())
        .merge(records::routes())
        .merge(ledger::routes())
        .merge(openapi::routes());
    OpenApiRouter::with_openapi(openapi::base())
        .nest("/api/v1", v1)
        .merge(ops::routes())
        .split_for_parts()
}
