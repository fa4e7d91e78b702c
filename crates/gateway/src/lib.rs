//! The gateway: the only part of medledger that speaks HTTP, JSON and HTML to people.
//!
//! It serves the REST API under `/api/v1` (documented by the OpenAPI document at
//! `/api/v1/openapi.json`), logs people in, and signs each of their requests with their own key, which it
//! unlocks with their password at login and holds only for the session. Credentials never reach the
//! ledger: password hashes and encrypted keys live in the gateway's wallet file; the ledger holds each
//! person's public profile and certificate.
//!
//! - [`state`]: what every handler shares ([`AppState`]).
//! - [`error`]: domain errors become `application/problem+json` responses, in one place.
//! - [`auth`]: login, logout, password change, sessions, the [`auth::Session`] extractor, rate limits.
//! - [`wallet`]: people's password-encrypted keys and credentials, off the ledger.
//! - [`people`]: administrators and doctors (registration issues a certificate and records the profile).
//! - [`records`]: patients, notes, drug exposures: create, get, list, amend, history.
//! - [`ledger`]: blocks, transactions with inclusion proofs, checkpoints, consistency proofs.
//! - [`ops`]: health, readiness, metrics.
//! - [`openapi`]: the OpenAPI document, generated from the handlers.
//! - `testing`: the HTTP tests' harness (hidden).
//!
//! Architecture invariant: handlers translate between HTTP/JSON and the node's API; they make no ledger
//! decision. Every write goes through `Node::invoke` signed by the logged-in person.

pub mod auth;
pub mod error;
pub mod ledger;
pub mod openapi;
pub mod ops;
pub mod people;
pub mod records;
pub mod state;
#[doc(hidden)]
pub mod testing;
pub mod wallet;
pub mod web;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
pub use state::AppState;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (routes, document) = api();
    let (document_route, _) = openapi::serve(document);
    routes
        .merge(document_route)
        .merge(web::routes())
        .with_state(state)
}

/// The OpenAPI document of [`router`], as served at [`openapi::DOCUMENT_PATH`] this year (by the system
/// clock).
pub fn openapi_document() -> serde_json::Value {
    let (_, document) = api();
    let year = medledger_contract::ehr::values::year_of_unix_millis(medledger_node::now_ms());
    openapi::at_year(&openapi::serve(document).1, year)
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
    let (routes, mut document) = OpenApiRouter::with_openapi(openapi::base())
        .nest("/api/v1", v1)
        .merge(ops::routes())
        .split_for_parts();
    records::document_withheld_records(&mut document);
    (routes, document)
}
