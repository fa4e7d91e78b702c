//! The composition: the REST API ([`medledger_api`]) and the web application ([`medledger_web`]) in one
//! router over one service state ([`medledger_service::AppState`]), the limits every request shares,
//! and the HTTP server.
//!
//! - [`router`]: both front ends' routes.
//! - [`app`]: the application exactly as served: [`router`] plus the request body limit
//!   ([`medledger_api::error::REQUEST_BODY_BYTES_MAX`]), the request metrics, `Cache-Control: no-store`
//!   and a problem+json 404 for unknown paths.
//! - [`serve`]: the HTTP server until a shutdown signal; then in-flight requests finish.
//!
//! Architecture invariant: only `medledger-api` and `medledger-web` speak HTTP; they meet here and
//! nowhere else (the web crate never depends on the API crate). This crate holds no route of its own.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use medledger_api::ApiError;
use medledger_api::error::REQUEST_BODY_BYTES_MAX;
use medledger_service::{AppState, ServiceError};

/// The REST API's and the web application's routes, over `state`.
pub fn router(state: AppState) -> Router {
    medledger_api::routes()
        .merge(medledger_web::routes())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError(ServiceError::NotFound("no such resource".into()))
}

/// Counts every response by status class and marks it `Cache-Control: no-store` unless it says
/// otherwise: answers carry people's records, which no cache should keep.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    state
        .inner
        .metrics
        .record_response(response.status().as_u16());
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The whole application as served: [`router`] with the body limit ([`REQUEST_BODY_BYTES_MAX`]),
/// request metrics, `Cache-Control: no-store` and a problem+json 404 for unknown paths.
pub fn app(state: AppState) -> Router {
    router(state.clone())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state, track))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
}

/// Serves the application on `listener` until `shutdown` completes; then stops accepting connections,
/// marks the service not ready, and returns once in-flight requests have finished. Logs
/// `serving on http://ADDR` when accepting.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let app = app(state.clone());
    tracing::info!("serving on http://{address}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        state.begin_shutdown();
        tracing::info!("shutting down: finishing requests in flight");
    })
    .await
}
