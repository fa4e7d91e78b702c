//! The service's metrics, in a `prometheus-client` registry of its own (no global recorder: a test
//! process runs many services side by side, and each keeps its own series).
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `medledger_http_requests_total{class="2xx"}` | counter | HTTP responses by status class |
//! | `medledger_committed_transactions_total` | counter | writes through this service that committed valid |
//! | `medledger_mvcc_retries_total` | counter | writes endorsed again after an MVCC conflict |
//! | `medledger_commit_latency_seconds` | histogram | from endorsement to commit status, per committed write |
//! | `medledger_block_height` | gauge | blocks on the ledger (genesis included) |
//! | `medledger_ledger_transactions` | gauge | entries in the ledger-wide Merkle tree (all transactions) |
//! | `medledger_sessions` | gauge | sessions held |
//! | `medledger_ready` | gauge | 1 when the node can commit and the service is not stopping |
//!
//! The exposition is OpenMetrics text ([`OPENMETRICS_CONTENT_TYPE`]), which Prometheus reads. Gauges of
//! the ledger are read when the metrics are rendered, so they are never stale.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::AppState;

/// Upper bounds of the commit latency histogram's buckets, in seconds.
pub const COMMIT_LATENCY_BUCKETS_S: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The media type of [`Metrics::render`]'s text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label of HTTP responses: their status class (`2xx`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusClass {
    class: &'static str,
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The service's series and their registry. One per [`AppState`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_responses: Family<StatusClass, Counter>,
    committed: Counter,
    mvcc_retries: Counter,
    commit_latency: Histogram,
    block_height: Gauge,
    ledger_transactions: Gauge,
    sessions: Gauge,
    ready: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let http_responses = Family::<StatusClass, Counter>::default();
        let committed = Counter::default();
        let mvcc_retries = Counter::default();
        let commit_latency = Histogram::new(COMMIT_LATENCY_BUCKETS_S);
        let (block_height, ledger_transactions, sessions, ready) = Default::default();
        let mut registry = Registry::default();
        // Counters are registered without `_total`: the encoder adds it.
        registry.register(
            "medledger_http_requests",
            "HTTP responses, by status class",
            http_responses.clone(),
        );
        registry.register(
            "medledger_committed_transactions",
            "Writes through this service that committed valid",
            committed.clone(),
        );
        registry.register(
            "medledger_mvcc_retries",
            "Writes endorsed again after an MVCC read conflict",
            mvcc_retries.clone(),
        );
        registry.register(
            "medledger_commit_latency_seconds",
            "Time from endorsement to commit status of each committed write",
            commit_latency.clone(),
        );
        registry.register(
            "medledger_block_height",
            "Blocks on the ledger, genesis included",
            Gauge::clone(&block_height),
        );
        registry.register(
            "medledger_ledger_transactions",
            "Entries in the ledger-wide Merkle tree: every transaction, valid or not",
            Gauge::clone(&ledger_transactions),
        );
        registry.register(
            "medledger_sessions",
            "Sessions held",
            Gauge::clone(&sessions),
        );
        registry.register(
            "medledger_ready",
            "1 when the node can commit and the service is not stopping",
            Gauge::clone(&ready),
        );
        // Every class shows from the start, at 0.
        for class in STATUS_CLASSES {
            drop(http_responses.get_or_create(&StatusClass { class }));
        }
        Metrics {
            registry,
            http_responses,
            committed,
            mvcc_retries,
            commit_latency,
            block_height,
            ledger_transactions,
            sessions,
            ready,
        }
    }
}

impl Metrics {
    /// Counts a response by its HTTP status code's class.
    pub fn record_response(&self, status: u16) {
        let class = STATUS_CLASSES[usize::from(status / 100).clamp(1, 5) - 1];
        self.http_responses
            .get_or_create(&StatusClass { class })
            .inc();
    }

    /// Counts a write that committed valid, and how long it took from endorsement to commit status.
    pub fn record_commit(&self, latency: Duration) {
        self.commit_latency.observe(latency.as_secs_f64());
        self.committed.inc();
    }

    /// Counts a write endorsed again after an MVCC read conflict.
    pub fn record_mvcc_retry(&self) {
        self.mvcc_retries.inc();
    }

    /// The OpenMetrics text exposition, with the ledger's gauges read now.
    pub fn render(&self, state: &AppState) -> String {
        let peer = state.node().peer();
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.block_height.set(gauge(peer.height()));
        self.ledger_transactions.set(gauge(peer.tree_head().0));
        self.sessions
            .set(gauge(state.inner.sessions.count() as u64));
        self.ready.set(i64::from(state.is_ready()));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}
