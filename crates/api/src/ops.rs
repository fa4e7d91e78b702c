//! Watching the node run: `GET /healthz` (the process answers), `GET /readyz` (the node can commit and
//! the service is not stopping: 200, else 503), `GET /metrics` (the service's series,
//! [`medledger_service::metrics`]).
//!
//! `/healthz` and `/readyz` are part of the API ([`routes`]). `/metrics` is not: it tells an outsider
//! how busy the node is and how many people use it, so the gateway serves it only where the operator
//! asks (an operations address, or behind a token); [`metrics_routes`] and [`operations_routes`] are
//! the pieces it composes.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use medledger_service::metrics::OPENMETRICS_CONTENT_TYPE;
use medledger_service::{AppState, ServiceError};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiError;
use crate::error::Problem;

/// `GET /healthz` and `GET /readyz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (healthz) or `ready` (readyz).
    pub status: &'static str,
}

/// The process is up and answering.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "The process answers", body = Health))
)]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The node can commit and the service is not stopping.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    if state.is_ready() {
        Ok(axum::Json(Health { status: "ready" }))
    } else {
        Err(ApiError(ServiceError::Unavailable))
    }
}

/// Metrics in the OpenMetrics text format (which Prometheus reads). Not in the API document: the main
/// address does not serve it unless the operator asks (see the module's doc).
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
        )],
        state.inner.metrics.render(&state),
    )
        .into_response()
}

/// `/healthz` and `/readyz` (served at the root, outside `/api/v1`, and in the API document).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// `/metrics` alone, for the gateway to put where the operator asked.
pub fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Everything an operations address serves: `/healthz`, `/readyz` and `/metrics`.
pub fn operations_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(metrics_routes())
}
