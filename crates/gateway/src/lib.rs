//! The composition: the REST API ([`medledger_api`]) and the web application ([`medledger_web`]) in one
//! router over one service state ([`medledger_service::AppState`]), the limits every request shares,
//! and the HTTP server.
//!
//! - [`router`]: both front ends' routes.
//! - [`app`], [`app_with`]: the application exactly as served on the main address: [`router`] plus
//!   the request body limit ([`medledger_api::error::REQUEST_BODY_BYTES_MAX`]), the request timeout,
//!   the request metrics, `Cache-Control: no-store`, the security headers ([`headers`]) and a
//!   problem+json 404 for unknown paths. `/metrics` only behind a [`MetricsToken`], if one is given.
//! - [`operations_app`]: what an operations address serves: `/healthz`, `/readyz`, `/metrics`.
//! - [`serve`], [`serve_with`]: the HTTP server ([`server`]: connection caps, header timeout, TLS
//!   ([`tls`])) until a shutdown signal; then in-flight requests finish.
//!
//! Architecture invariant: only `medledger-api` and `medledger-web` speak HTTP; they meet here and
//! nowhere else (the web crate never depends on the API crate). This crate holds no route of its own.

pub mod headers;
pub mod server;
pub mod tls;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use medledger_api::ApiError;
use medledger_api::error::REQUEST_BODY_BYTES_MAX;
use medledger_service::{AppState, ServiceError};
use tokio::net::TcpListener;

pub use headers::Https;
pub use server::{Limits, LimitsError};
pub use tls::{TlsConfig, TlsError};

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
    no_store(&mut response);
    response
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// Answers 503 (problem+json, `unavailable`) when the application has not answered within the
/// request timeout, reading the request's body included: a client that drips its body, or a request
/// stuck behind a stalled node, holds its connection no longer than that.
async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                "{path}: no answer within the request timeout of {} ms",
                timeout.as_millis()
            );
            ApiError(ServiceError::Unavailable).into_response()
        }
    }
}

/// The fewest characters a [`MetricsToken`] may have: a shorter one could be found by trying.
pub const METRICS_TOKEN_CHARS_MIN: usize = 24;
/// The most bytes a [`MetricsToken`] may have (it travels in a header).
pub const METRICS_TOKEN_BYTES_MAX: usize = 256;

/// The bearer token `/metrics` asks for (`Authorization: Bearer TOKEN`). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

/// A metrics token that cannot protect anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsTokenError {
    #[error("the metrics token must have at least {METRICS_TOKEN_CHARS_MIN} characters")]
    TooShort,
    #[error("the metrics token must have at most {METRICS_TOKEN_BYTES_MAX} bytes")]
    TooLong,
    #[error("the metrics token may hold only visible ASCII characters (no spaces)")]
    NotVisibleAscii,
}

impl MetricsToken {
    /// A token of [`METRICS_TOKEN_CHARS_MIN`] to [`METRICS_TOKEN_BYTES_MAX`] visible ASCII characters.
    pub fn new(token: String) -> Result<MetricsToken, MetricsTokenError> {
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MetricsTokenError::NotVisibleAscii);
        }
        if token.len() < METRICS_TOKEN_CHARS_MIN {
            return Err(MetricsTokenError::TooShort);
        }
        if token.len() > METRICS_TOKEN_BYTES_MAX {
            return Err(MetricsTokenError::TooLong);
        }
        Ok(MetricsToken(token))
    }

    /// Whether `request` carries this token as its bearer token (compared in constant time).
    fn admits(&self, request: &Request) -> bool {
        use subtle::ConstantTimeEq as _;
        let Some(value) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, given)) = value.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && bool::from(given.trim().as_bytes().ct_eq(self.0.as_bytes()))
    }
}

/// Lets a request through only with the metrics token; else 401 `unauthorized`.
async fn require_metrics_token(
    State(token): State<MetricsToken>,
    request: Request,
    next: Next,
) -> Response {
    if token.admits(&request) {
        return next.run(request).await;
    }
    let mut response = ApiError(ServiceError::Unauthorized).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"metrics\""),
    );
    response
}

/// `/metrics` over `state`, behind `token` if there is one.
fn metrics(state: AppState, token: Option<&MetricsToken>) -> Router {
    let routes = medledger_api::ops::metrics_routes();
    let routes = match token {
        Some(token) => routes.route_layer(from_fn_with_state(token.clone(), require_metrics_token)),
        None => routes,
    };
    routes.with_state(state)
}

/// What the served application varies.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The application's time for one request ([`server::REQUEST_TIMEOUT_MS`] by default).
    pub request_timeout: Duration,
    /// Whether people reach the node over HTTPS (adds `Strict-Transport-Security`).
    pub https: Https,
    /// On the main address, `/metrics` is served only behind this token; `None`: not at all. On the
    /// operations address, `/metrics` asks for it too if it is set.
    pub metrics_token: Option<MetricsToken>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            request_timeout: Duration::from_millis(server::REQUEST_TIMEOUT_MS),
            https: Https(false),
            metrics_token: None,
        }
    }
}

/// [`app_with`] the default options: no `/metrics`, plain HTTP.
pub fn app(state: AppState) -> Router {
    app_with(state, &AppOptions::default())
}

/// The whole application as served on the main address: [`router`] (and `/metrics` behind the token,
/// if one is given) with the body limit ([`REQUEST_BODY_BYTES_MAX`]), the request timeout, request
/// metrics, `Cache-Control: no-store`, the security headers ([`headers::security_headers`]) and a
/// problem+json 404 for unknown paths.
pub fn app_with(state: AppState, options: &AppOptions) -> Router {
    let mut routes = router(state.clone());
    if let Some(token) = &options.metrics_token {
        routes = routes.merge(metrics(state.clone(), Some(token)));
    }
    routes
        .fallback(not_found)
        .layer(from_fn_with_state(
            state.clone(),
            medledger_api::idempotency::idempotent,
        ))
        .layer(from_fn_with_state(options.request_timeout, deadline))
        .layer(from_fn_with_state(state, track))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(from_fn_with_state(options.https, headers::security_headers))
}

/// What an operations address serves: `/healthz`, `/readyz` and `/metrics` (behind the token, if
/// one is given), with the request timeout, `Cache-Control: no-store` and the security headers. Its
/// requests are not counted in the request metrics: they are the monitor's, not people's.
pub fn operations_app(state: AppState, options: &AppOptions) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(medledger_api::ops::healthz))
        .route(
            "/readyz",
            axum::routing::get(medledger_api::ops::readyz).with_state(state.clone()),
        )
        .merge(metrics(state, options.metrics_token.as_ref()))
        .fallback(not_found)
        .layer(from_fn_with_state(options.request_timeout, deadline))
        .layer(axum::middleware::map_response(
            |mut response: Response| async move {
                no_store(&mut response);
                response
            },
        ))
        .layer(from_fn_with_state(Https(false), headers::security_headers))
}

/// Connections open at once from one address on the operations address: a flood from one address
/// there leaves room for the monitor's own checks.
pub const OPERATIONS_CONNECTIONS_PER_ADDRESS_MAX: u32 = 8;

const _: () = assert!(OPERATIONS_CONNECTIONS_PER_ADDRESS_MAX <= server::OPERATIONS_CONNECTIONS_MAX);

/// How the server serves: limits, TLS, and where `/metrics` is.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub limits: Limits,
    /// Serve HTTPS on the main address with this certificate; `None`: plain HTTP.
    pub tls: Option<TlsConfig>,
    /// A TLS proxy in front terminates HTTPS (so answers add `Strict-Transport-Security`).
    pub behind_tls_proxy: bool,
    /// See [`AppOptions::metrics_token`].
    pub metrics_token: Option<MetricsToken>,
}

/// The addresses served: the main one, and optionally an operations address (`/healthz`, `/readyz`,
/// `/metrics`) on its own connection cap ([`server::OPERATIONS_CONNECTIONS_MAX`]).
#[derive(Debug)]
pub struct Listeners {
    pub main: TcpListener,
    pub operations: Option<TcpListener>,
}

/// [`serve_with`] the main address only and the default options (plain HTTP, the default limits, no
/// `/metrics`).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listeners = Listeners {
        main: listener,
        operations: None,
    };
    serve_with(listeners, state, ServeOptions::default(), shutdown).await
}

/// Serves the application on `listeners` until `shutdown` completes; then stops accepting
/// connections, marks the service not ready, and returns once in-flight requests have finished (or,
/// for a client that does not read its answer, after the request timeout and
/// [`server::SHUTDOWN_WRITE_GRACE_MS`]). Logs `serving on http://ADDR` (or `https://`) when accepting,
/// the effective limits, and where `/metrics` is. The connection cap is lowered if the process's
/// open-file limit is lower than it needs ([`Limits::within_open_files`]). The only error is an
/// address that cannot be read from a listener.
pub async fn serve_with(
    listeners: Listeners,
    state: AppState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listeners.main.local_addr()?;
    let operations_address = listeners
        .operations
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let open_files = server::open_files_max();
    let limits = match open_files {
        Some(open_files) => options.limits.within_open_files(open_files),
        None => options.limits,
    };
    if limits != options.limits {
        tracing::warn!(
            "the open-file limit ({}) is too low for {} connections: serving at most {}; raise it (ulimit -n, LimitNOFILE=) to serve more",
            open_files.unwrap_or_default(),
            options.limits.connections_max,
            limits.connections_max
        );
    }
    if let Err(e) = limits.check() {
        tracing::warn!("{e}");
    }
    let app_options = AppOptions {
        request_timeout: limits.request_timeout,
        https: Https(options.tls.is_some() || options.behind_tls_proxy),
        metrics_token: options.metrics_token.clone(),
    };
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let main = server::Endpoint::new(
        listeners.main,
        app_with(state.clone(), &app_options),
        options
            .tls
            .as_ref()
            .map(|tls| tokio_rustls::TlsAcceptor::from(std::sync::Arc::clone(&tls.0))),
        limits.connections_max,
        limits.connections_per_address_max,
        &limits,
        "the main address",
    );
    let operations = listeners.operations.map(|listener| {
        server::Endpoint::new(
            listener,
            operations_app(state.clone(), &app_options),
            None,
            server::OPERATIONS_CONNECTIONS_MAX,
            OPERATIONS_CONNECTIONS_PER_ADDRESS_MAX,
            &limits,
            "the operations address",
        )
    });
    tracing::info!("serving on {scheme}://{address}");
    tracing::info!(
        "limits: at most {} connections, {} from one address; {} ms to send a request header (and to stay idle); {} ms per request; open-file limit {}",
        limits.connections_max,
        limits.connections_per_address_max,
        limits.header_read_timeout.as_millis(),
        limits.request_timeout.as_millis(),
        open_files.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
    );
    match (operations_address, &options.metrics_token) {
        (Some(ops), token) => tracing::info!(
            "operations address http://{ops}: /healthz, /readyz, /metrics{}",
            if token.is_some() {
                " (with the metrics token)"
            } else {
                ""
            }
        ),
        (None, Some(_)) => tracing::info!("/metrics on the main address, with the metrics token"),
        (None, None) => tracing::info!("/metrics is not served (no operations address, no token)"),
    }
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        state.begin_shutdown();
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_sender.send(true);
    };
    let main = main.run(stop.clone());
    let operations = async move {
        if let Some(operations) = operations {
            operations.run(stop).await;
        }
    };
    tokio::join!(signal, main, operations);
    Ok(())
}
