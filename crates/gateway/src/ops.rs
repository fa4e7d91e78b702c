//! Running the gateway, and watching it run.
//!
//! - [`start`]: first run (the network and the first administrator) or restart, the node, the shared
//!   state. [`serve`]: the HTTP server until a shutdown signal, then in-flight requests finish.
//!   [`stop`]: the node orders and commits what is pending and stops.
//! - [`service`]: the application as served: [`crate::router`] plus the request body limit, the request
//!   metrics, `Cache-Control: no-store`, and a problem+json 404 for unknown paths.
//! - `GET /healthz` (the process answers), `GET /readyz` (the node can commit and the gateway is not
//!   stopping: 200, else 503), `GET /metrics` (Prometheus text format, unauthenticated).
//!
//! **Metrics are hand-written** rather than the `metrics` + `metrics-exporter-prometheus` crates: the
//! exposition is ~100 lines for a handful of series, the crates bring a global recorder (which would mix
//! the series of the many gateways a test process starts) and a dozen transitive dependencies. Series:
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `medledger_http_requests_total{class="2xx"}` | counter | HTTP responses by status class |
//! | `medledger_committed_transactions_total` | counter | writes through this gateway that committed valid |
//! | `medledger_mvcc_retries_total` | counter | writes endorsed again after an MVCC conflict |
//! | `medledger_commit_latency_seconds` | histogram | from endorsement to commit status, per committed write |
//! | `medledger_block_height` | gauge | blocks on the ledger (genesis included) |
//! | `medledger_ledger_transactions` | gauge | entries in the ledger-wide Merkle tree (all transactions) |
//! | `medledger_sessions` | gauge | sessions held |
//! | `medledger_ready` | gauge | 1 when `/readyz` answers 200 |

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medledger_node::{DataDir, InitOptions, InitOutcome, Node, NodeOptions};
use medledger_types::Role;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{GatewayError, Problem, REQUEST_BODY_BYTES_MAX};
use crate::state::GatewayConfig;
use crate::wallet::{WALLET_FILE, Wallet};
use crate::{ApiError, AppState};

/// Upper bounds of the commit latency histogram's buckets, in microseconds.
pub const COMMIT_LATENCY_BUCKETS_US: [u64; 12] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000, 30_000_000,
];

/// The gateway's counters. Lock-free; one per [`AppState`].
#[derive(Default)]
pub struct Metrics {
    /// Responses by status class: 1xx..5xx.
    http_responses: [AtomicU64; 5],
    committed: AtomicU64,
    mvcc_retries: AtomicU64,
    /// Count of commits whose latency fell in each bucket (not cumulative); the last is `+Inf`.
    latency_buckets: [AtomicU64; COMMIT_LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

impl Metrics {
    pub fn record_response(&self, status: StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.http_responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_commit(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let bucket = COMMIT_LATENCY_BUCKETS_US
            .iter()
            .position(|bound| us <= *bound)
            .unwrap_or(COMMIT_LATENCY_BUCKETS_US.len());
        self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
        self.committed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_mvcc_retry(&self) {
        self.mvcc_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, state: &AppState) -> String {
        fn family(out: &mut String, name: &str, kind: &str, help: &str) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        family(
            &mut out,
            "medledger_http_requests_total",
            "counter",
            "HTTP responses, by status class.",
        );
        for (i, counter) in self.http_responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "medledger_http_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                load(counter)
            );
        }
        let peer = state.node().peer();
        let simple: [(&str, &str, &str, u64); 6] = [
            (
                "medledger_committed_transactions_total",
                "counter",
                "Writes through this gateway that committed valid.",
                load(&self.committed),
            ),
            (
                "medledger_mvcc_retries_total",
                "counter",
                "Writes endorsed again after an MVCC read conflict.",
                load(&self.mvcc_retries),
            ),
            (
                "medledger_block_height",
                "gauge",
                "Blocks on the ledger, genesis included.",
                peer.height(),
            ),
            (
                "medledger_ledger_transactions",
                "gauge",
                "Entries in the ledger-wide Merkle tree: every transaction, valid or not.",
                peer.tree_head().0,
            ),
            (
                "medledger_sessions",
                "gauge",
                "Sessions held.",
                state.inner.sessions.count() as u64,
            ),
            (
                "medledger_ready",
                "gauge",
                "1 when the node can commit and the gateway is not stopping.",
                u64::from(state.is_ready()),
            ),
        ];
        for (name, kind, help, value) in simple {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        let name = "medledger_commit_latency_seconds";
        family(
            &mut out,
            name,
            "histogram",
            "Time from endorsement to commit status of each committed write.",
        );
        let mut cumulative = 0;
        for (i, bucket) in self.latency_buckets.iter().enumerate() {
            cumulative += load(bucket);
            let le = COMMIT_LATENCY_BUCKETS_US
                .get(i)
                .map(|us| format!("{}", *us as f64 / 1e6))
                .unwrap_or_else(|| "+Inf".into());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {cumulative}",
            load(&self.latency_sum_us) as f64 / 1e6
        );
        out
    }
}

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

/// The node can commit and the gateway is not stopping.
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
        Err(ApiError::Unavailable)
    }
}

/// Metrics in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.inner.metrics.render(&state),
    )
        .into_response()
}

/// `/healthz`, `/readyz`, `/metrics` (served at the root, outside `/api/v1`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    state.inner.metrics.record_response(response.status());
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such resource".into())
}

/// The whole application as served: [`crate::router`] with the body limit ([`REQUEST_BODY_BYTES_MAX`]),
/// request metrics, `Cache-Control: no-store` and a problem+json 404 for unknown paths.
pub fn service(state: AppState) -> Router {
    crate::router(state.clone())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state, track))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
}

/// The file a generated first-administrator password is saved to (owner-only), inside the data directory.
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";
/// Characters in a generated password (62-letter alphabet: about 143 bits).
pub const GENERATED_PASSWORD_CHARS: usize = 24;
/// The first administrator's record id (`admin_id`).
pub const FIRST_ADMIN_ID: i64 = 1;

/// What `medledger up` runs.
#[derive(Debug)]
pub struct UpOptions {
    pub data: DataDir,
    /// Used only when the network is created.
    pub init: InitOptions,
    pub node: NodeOptions,
    /// The first administrator's password when the network is created; `None`: generate one and save it
    /// to [`INITIAL_ADMIN_PASSWORD_FILE`].
    pub admin_password: Option<String>,
    pub gateway: GatewayConfig,
}

/// The first administrator, when this run created the network.
#[derive(Debug)]
pub struct FirstAdmin {
    pub email: String,
    /// The generated password (to show once), when none was given.
    pub generated_password: Option<String>,
    /// Where the generated password was saved.
    pub password_file: Option<PathBuf>,
}

/// A started gateway.
pub struct Started {
    pub state: AppState,
    /// `Some` only on the run that created the network.
    pub first_admin: Option<FirstAdmin>,
}

/// A random password of [`GENERATED_PASSWORD_CHARS`] letters and digits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut password = String::with_capacity(GENERATED_PASSWORD_CHARS);
    while password.len() < GENERATED_PASSWORD_CHARS {
        for byte in medledger_crypto::keys::random_bytes::<32>() {
            // 248 = 4 * 62: rejecting the rest keeps every letter equally likely.
            if byte < 248 && password.len() < GENERATED_PASSWORD_CHARS {
                password.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    password
}

/// Creates the network on first run (with the first administrator, whose key goes into the wallet
/// encrypted under their password before the genesis block is written), starts the node and builds the
/// shared state. A second run creates nothing.
pub async fn start(options: UpOptions) -> Result<Started, GatewayError> {
    let UpOptions {
        data,
        init,
        node: node_options,
        admin_password,
        gateway: config,
    } = options;
    if let Some(password) = &admin_password {
        crate::auth::check_new_password("MEDLEDGER_ADMIN_PASSWORD", password).map_err(|_| {
            GatewayError::Config(format!(
                "the first administrator's password must be {}..={} characters long",
                crate::auth::PASSWORD_CHARS_MIN,
                crate::auth::PASSWORD_CHARS_MAX,
            ))
        })?;
    }
    let wallet = Wallet::open(&data.root().join(WALLET_FILE), config.password)?;
    let now_ms = (config.clock)();
    let mut first_admin = None;
    let password_file = data.root().join(INITIAL_ADMIN_PASSWORD_FILE);
    let outcome = medledger_node::init_with(&data, &init, &mut |admin| {
        let (password, generated) = match &admin_password {
            Some(password) => (password.clone(), false),
            None => (generate_password(), true),
        };
        if generated {
            medledger_node::files::write_file(&password_file, password.as_bytes(), true)?;
        } else if password_file.exists() {
            // Left by an earlier first run that did not finish; that password opens nothing now.
            let _ = std::fs::remove_file(&password_file);
        }
        let keep = |e: crate::wallet::WalletError| {
            medledger_node::NodeError::Identity(format!(
                "cannot keep the first administrator's key in the wallet: {e}"
            ))
        };
        let sealed = Wallet::seal(
            &init.admin_email,
            Role::Admin,
            FIRST_ADMIN_ID,
            &password,
            admin,
            config.password,
            now_ms,
        )
        .map_err(keep)?;
        wallet.insert_first_admin(sealed).map_err(keep)?;
        first_admin = Some(FirstAdmin {
            email: crate::wallet::normalize_email(&init.admin_email),
            generated_password: generated.then_some(password),
            password_file: generated.then(|| password_file.clone()),
        });
        Ok(())
    })?;
    let node = Node::start(&data, &node_options)?;
    let msp_id = node
        .peer()
        .channel()
        .config
        .orgs
        .first()
        .map(|org| org.msp_id.clone())
        .ok_or_else(|| GatewayError::Config("the channel has no organization".into()))?;
    let ca = medledger_node::init::load_ca(&data, &msp_id)?;
    let config = GatewayConfig {
        initial_password_file: Some(password_file.clone()),
        ..config
    };
    let state = AppState::new(Arc::new(node), wallet, ca, config);
    match outcome {
        InitOutcome::Created { admin } => {
            let email = first_admin
                .as_ref()
                .map(|a| a.email.clone())
                .unwrap_or_else(|| init.admin_email.clone());
            crate::people::record_first_admin(&state, &admin, &email)
                .await
                .map_err(|e| GatewayError::FirstAdmin(e.to_string()))?;
        }
        InitOutcome::AlreadyInitialized => {
            first_admin = None;
            if state.inner.wallet.people()?.is_empty() {
                tracing::warn!(
                    "the wallet has nobody in it: no one can log in (was the data directory created by an older medledger?)"
                );
            }
        }
    }
    Ok(Started { state, first_admin })
}

/// Serves the application on `listener` until `shutdown` completes; then stops accepting connections,
/// marks the gateway not ready, and returns once in-flight requests have finished. Logs
/// `serving on http://ADDR` when accepting.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let app = service(state.clone());
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

/// Stops the node once nothing else holds the state: it orders and commits what is pending, then its
/// threads end. Sessions (and the keys they hold) are dropped.
pub fn stop(state: AppState) -> Result<(), GatewayError> {
    state.begin_shutdown();
    let inner = match Arc::try_unwrap(state.inner) {
        Ok(inner) => inner,
        Err(_) => {
            tracing::warn!("the gateway is still in use; the node stops when its last user ends");
            return Ok(());
        }
    };
    match Arc::try_unwrap(inner.node) {
        Ok(node) => node.shutdown()?,
        Err(_) => {
            tracing::warn!("the node is still in use; it stops when its last user ends");
        }
    }
    Ok(())
}
