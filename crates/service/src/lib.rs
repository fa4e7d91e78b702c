//! What a person can do with medledger, with no HTTP and no HTML: log in and keep a session (with the
//! login limiter), register administrators and doctors, create, read, list and amend records (the MVCC
//! retry written once), read a record's history, and read the ledger (blocks, transactions with their
//! inclusion proofs, checkpoints, consistency proofs). The REST API (`medledger-api`) and the web
//! application (`medledger-web`) are two doors onto these same functions, so every rule is enforced
//! once, whichever door a person comes in by.
//!
//! - [`state`]: what every action shares ([`AppState`]) and the two calls to the ledger: a write signed
//!   by the logged-in person ([`AppState::invoke`]) and a query ([`AppState::query`]).
//! - [`error`]: [`ServiceError`], the one typed error of every action, with its stable code and status.
//! - [`auth`]: logins, sessions, password changes, the login limiter.
//! - [`people`]: registering administrators and doctors; who wrote a version ([`people::RecordMeta`]).
//! - [`records`]: create, get, list, amend, history of every kind of record.
//! - [`ledger`]: blocks, transactions and proofs as people read them.
//! - [`metrics`]: the service's Prometheus series.
//! - [`start`]: first run or restart, and stop.
//!
//! Architecture invariant: this crate never depends on `axum`, `http`, `hyper`, `askama` or `utoipa`.
//! It decides nothing the contract decides: every write goes through `Node::invoke` signed by the
//! logged-in person, every read through `Node::query`.

pub mod auth;
pub mod error;
pub mod idempotency;
pub mod ledger;
pub mod metrics;
pub mod people;
pub mod records;
pub mod start;
pub mod state;

pub use error::{FieldProblem, ServiceError, StartError};
pub use state::{AppState, ServiceConfig};
