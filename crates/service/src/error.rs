//! What can go wrong when a person acts, as one typed error ([`ServiceError`]), and the mapping of the
//! node's and the contract's refusals onto it — in one place, for the REST API and the web pages alike.
//!
//! Each variant has a stable machine-readable [`code`](ServiceError::code), a short
//! [`title`](ServiceError::title) and the [`status`](ServiceError::status) that both front ends answer
//! with (a number: this crate knows no HTTP types). [`StartError`] is apart: it is for a service that
//! cannot start or go on, never for a refused request.
//!
//! | status | `code` | when |
//! |---|---|---|
//! | 400 | `bad_request` | malformed body, query or path; a call the contract calls malformed |
//! | 401 | `unauthorized` | no valid session (missing, unknown, expired or logged-out token) |
//! | 401 | `invalid_credentials` | login with an unknown email or a wrong password (one answer for both) |
//! | 403 | `forbidden` | the person's role may not do this (the service's check or the contract's) |
//! | 403 | `password_change_required` | the person's password was chosen by someone else and must be replaced first |
//! | 404 | `not_found` | no such record, route or block |
//! | 409 | `conflict` | the record (id or email) already exists; a write conflict that outlived its retries; a request valid in itself that the ledger's current state refuses (`errors` names the fields) |
//! | 412 | `precondition_failed` | an amendment named the version it was made on (`If-Match`, `expected_version`) and the record is at another; `current` is the current version |
//! | 413 | `payload_too_large` | a request body or a value over a ledger limit |
//! | 422 | `validation_failed` | well-formed but invalid: `errors` lists `{field, code, message}` |
//! | 429 | `rate_limited` | the account or the address is delayed after failed logins; too many password checks at once (`Retry-After` says when to try again) |
//! | 202 | `pending` | the write was ordered but not committed within the wait: `tx_id` names it; its status route tells how it ended |
//! | 503 | `unavailable` | the node is not ready (starting, stopping, or cannot commit); ordering queue full |
//! | 500 | `internal` | a bug or a failing disk; the detail is logged, the answer says only "internal error" |

use medledger_contract::ContractError;
use medledger_node::{InvokeError, NodeError};
use medledger_orderer::SubmitError;
use medledger_peer::EndorseError;
use medledger_types::ValidationCode;
use serde::Serialize;

/// One field's problem, with the OMOP field name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's name as the request spells it (OMOP's column name where there is one).
    pub field: String,
    /// A stable machine-readable code (`required`, `too_long`, `too_short`, `invalid_email`, ...).
    pub code: String,
    /// A human-readable explanation, in English.
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Why a person's request was not done. Each variant has one status and one stable code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not logged in")]
    Unauthorized,
    /// Login refused. One answer for an unknown email and a wrong password, so that the answer does not
    /// tell who has an account.
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    /// The person's password was chosen by someone else (the administrator who registered them, or
    /// generated at the first run): they must replace it before anything else.
    #[error("change your initial password first (POST /api/v1/auth/password)")]
    PasswordChangeRequired,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The request is valid in itself, but the ledger's current state makes these fields wrong (a
    /// patient that does not exist; an amendment's change that does not fit the fields it leaves as
    /// they are). The same request may succeed once the state changes, so it is not a validation
    /// failure: 409, with the field problems.
    #[error("the request conflicts with the ledger's current state")]
    StateConflict(Vec<FieldProblem>),
    /// An amendment named the version it was made on (`expected_version`) and the record is at another
    /// (`current_version`): someone else amended it meanwhile, and nothing was written. `current` is the
    /// current version as the person may read it (a `RecordVersion` as JSON), when it could be read.
    #[error(
        "the record is at version {current_version}, not at the expected version {expected_version}"
    )]
    PreconditionFailed {
        expected_version: u32,
        current_version: u32,
        current: Option<Box<serde_json::Value>>,
    },
    #[error("request body over the limit")]
    PayloadTooLarge,
    #[error("validation failed")]
    Validation(Vec<FieldProblem>),
    /// Too many attempts: the account or the address is delayed after failed logins, the login
    /// limiter is full of running delays, or the most password checks that run at once are running.
    /// The next attempt may come after `retry_after_ms`.
    #[error("too many attempts; try again later")]
    RateLimited { retry_after_ms: i64 },
    #[error("the node is not ready")]
    Unavailable,
    /// A login of someone whose registration's ledger write has not committed yet (it answered 202):
    /// the account exists once it commits. 503, to retry shortly.
    #[error("this account's registration is still being written to the ledger; try again shortly")]
    RegistrationPending,
    /// The write was ordered but its commit took longer than the wait: it may still commit (or be
    /// judged invalid). Not a failure to retry blindly: the transaction's status tells which
    /// (`GET /api/v1/ledger/transactions/{tx_id}/status`). 202.
    #[error("accepted, not committed yet: transaction {tx_id}")]
    Pending {
        /// Boxed: the error stays small for the common refusals.
        tx_id: Box<medledger_types::TxId>,
    },
    /// Logged with its detail; the answer says only "internal error".
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every stable [`ServiceError::code`] (the OpenAPI document lists them as an enumeration).
pub const ERROR_CODES: [&str; 14] = [
    "bad_request",
    "unauthorized",
    "invalid_credentials",
    "forbidden",
    "password_change_required",
    "not_found",
    "conflict",
    "precondition_failed",
    "payload_too_large",
    "validation_failed",
    "rate_limited",
    "unavailable",
    "pending",
    "internal",
];

impl ServiceError {
    /// The HTTP status code, stable code and title.
    fn parts(&self) -> (u16, &'static str, &'static str) {
        match self {
            ServiceError::BadRequest(_) => (400, "bad_request", "Malformed request"),
            ServiceError::Unauthorized => (401, "unauthorized", "Not logged in"),
            ServiceError::InvalidCredentials => {
                (401, "invalid_credentials", "Wrong email or password")
            }
            ServiceError::Forbidden(_) => (403, "forbidden", "Not allowed for your role"),
            ServiceError::PasswordChangeRequired => (
                403,
                "password_change_required",
                "Change your initial password first",
            ),
            ServiceError::NotFound(_) => (404, "not_found", "Not found"),
            ServiceError::Conflict(_) | ServiceError::StateConflict(_) => {
                (409, "conflict", "Conflict")
            }
            ServiceError::PreconditionFailed { .. } => (
                412,
                "precondition_failed",
                "The record changed since that version",
            ),
            ServiceError::PayloadTooLarge => (413, "payload_too_large", "Request body too large"),
            ServiceError::Validation(_) => (422, "validation_failed", "Validation failed"),
            ServiceError::RateLimited { .. } => (429, "rate_limited", "Too many requests"),
            ServiceError::Unavailable => (503, "unavailable", "Service unavailable"),
            ServiceError::RegistrationPending => {
                (503, "registration_pending", "Registration not finished")
            }
            ServiceError::Pending { .. } => (202, "pending", "Accepted, not committed yet"),
            ServiceError::Internal(_) => (500, "internal", "Internal error"),
        }
    }

    /// The HTTP status code the REST API and the web pages answer this error with.
    pub fn status(&self) -> u16 {
        self.parts().0
    }

    /// The stable machine-readable code ([`ERROR_CODES`]).
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    /// A short English title.
    pub fn title(&self) -> &'static str {
        self.parts().2
    }

    /// What may be told to the person: the message, except for internal errors ("internal error").
    pub fn detail(&self) -> String {
        match self {
            ServiceError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    /// The whole seconds to wait before trying again (at least 1), for [`ServiceError::RateLimited`]: the
    /// `Retry-After` of both front ends.
    pub fn retry_after_s(&self) -> Option<i64> {
        match self {
            ServiceError::RateLimited { retry_after_ms } => {
                Some(retry_after_ms.saturating_add(999).div_euclid(1000).max(1))
            }
            _ => None,
        }
    }

    /// The current version of the record a stale amendment was refused for (412), as JSON.
    pub fn current_version(&self) -> Option<&serde_json::Value> {
        match self {
            ServiceError::PreconditionFailed { current, .. } => current.as_deref(),
            _ => None,
        }
    }

    /// The field problems of a validation failure or a conflict with the state; empty otherwise.
    pub fn field_problems(&self) -> &[FieldProblem] {
        match self {
            ServiceError::Validation(errors) | ServiceError::StateConflict(errors) => errors,
            _ => &[],
        }
    }

    /// A validation failure of one field.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> ServiceError {
        ServiceError::Validation(vec![FieldProblem::new(field, code, message)])
    }
}

/// The contract's refusals, by kind. `State` is the peer's own failure, never the caller's.
impl From<ContractError> for ServiceError {
    fn from(e: ContractError) -> ServiceError {
        match e {
            ContractError::Validation(errors) => ServiceError::Validation(
                errors
                    .into_iter()
                    .map(|e| FieldProblem {
                        field: e.field,
                        code: e.code,
                        message: e.message,
                    })
                    .collect(),
            ),
            e @ ContractError::AlreadyExists { .. } => ServiceError::Conflict(e.to_string()),
            e @ ContractError::NotFound { .. } => ServiceError::NotFound(e.to_string()),
            e @ ContractError::Forbidden { .. } => ServiceError::Forbidden(e.to_string()),
            ContractError::BadRequest(detail) => ServiceError::BadRequest(detail),
            ContractError::TooLarge { .. } => ServiceError::PayloadTooLarge,
            ContractError::VersionMismatch {
                expected, current, ..
            } => ServiceError::PreconditionFailed {
                expected_version: expected,
                current_version: current,
                current: None,
            },
            e @ ContractError::State(_) => ServiceError::Internal(e.to_string()),
        }
    }
}

/// Why a write or a query did not succeed.
///
/// - `Refused`: the contract's error ([`From<ContractError>`](ServiceError#impl-From<ContractError>-for-ServiceError));
///   a payload that does not decode is internal.
/// - `Endorse`: a certificate the peer does not accept (expired, revoked, foreign) is 403; a malformed
///   proposal is 400; the rest is internal.
/// - `Submit`: queue full or orderer stopped is 503; an envelope over the limit is 413.
/// - `Invalid`: an MVCC read conflict is 409 (the caller already retried, see
///   [`AppState::invoke`](crate::AppState::invoke)); any other code is internal (the service built a
///   transaction the ledger refused).
/// - `Timeout`: 202 [`ServiceError::Pending`] with the transaction id (it may still commit).
/// - `Node`: internal.
impl From<InvokeError> for ServiceError {
    fn from(e: InvokeError) -> ServiceError {
        match e {
            InvokeError::Refused(payload) => match medledger_node::refusal(&payload) {
                Some(refusal) => refusal.into(),
                None => ServiceError::Internal(format!(
                    "a refusal of {} bytes that is not a contract error",
                    payload.len()
                )),
            },
            InvokeError::Endorse(e) => match e {
                EndorseError::UnknownCertificate(_) | EndorseError::RevokedCertificate => {
                    ServiceError::Forbidden("your certificate is not accepted by the ledger".into())
                }
                EndorseError::Malformed(detail) => ServiceError::BadRequest(detail),
                e @ EndorseError::OutsideTimeWindow { .. } => {
                    ServiceError::BadRequest(e.to_string())
                }
                e @ (EndorseError::WrongChannel { .. }
                | EndorseError::BadSignature
                | EndorseError::State(_)) => ServiceError::Internal(e.to_string()),
            },
            InvokeError::Submit(e) => match e {
                SubmitError::QueueFull | SubmitError::Stopped => ServiceError::Unavailable,
                SubmitError::TooLarge { .. } => ServiceError::PayloadTooLarge,
            },
            InvokeError::Invalid(status) if status.code == ValidationCode::MvccReadConflict => {
                ServiceError::Conflict(
                    "the record changed while this request was being committed; try again".into(),
                )
            }
            InvokeError::Invalid(status) => ServiceError::Internal(format!(
                "transaction {} is invalid: {}",
                status.tx_id, status.code
            )),
            InvokeError::Timeout { tx_id, waited_ms } => {
                tracing::warn!(%tx_id, waited_ms, "a transaction did not commit in time");
                ServiceError::Pending {
                    tx_id: Box::new(tx_id),
                }
            }
            // The node takes no writes now (its disk refuses them, or it stopped committing): the
            // reason is in its health, on the readiness check and in the log.
            InvokeError::Node(medledger_node::NodeError::Stopped(reason)) => {
                tracing::warn!(%reason, "a write was refused: the node takes no writes now");
                ServiceError::Unavailable
            }
            InvokeError::Node(e) => ServiceError::Internal(e.to_string()),
        }
    }
}

/// The service cannot start or cannot go on (never a refused request: that is a [`ServiceError`]).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("node: {0}")]
    Node(#[from] NodeError),
    #[error("wallet: {0}")]
    Wallet(#[from] medledger_wallet::WalletError),
    #[error("the registrations under way could not be settled: {0}")]
    Registrations(String),
    #[error("the first administrator could not be recorded on the ledger: {0}")]
    FirstAdmin(String),
    #[error("{0}")]
    Config(String),
    #[error("{path}: {detail}")]
    Io {
        path: std::path::PathBuf,
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let all = [
            ServiceError::BadRequest(String::new()),
            ServiceError::Unauthorized,
            ServiceError::InvalidCredentials,
            ServiceError::Forbidden(String::new()),
            ServiceError::PasswordChangeRequired,
            ServiceError::NotFound(String::new()),
            ServiceError::Conflict(String::new()),
            ServiceError::StateConflict(Vec::new()),
            ServiceError::PreconditionFailed {
                expected_version: 1,
                current_version: 2,
                current: None,
            },
            ServiceError::PayloadTooLarge,
            ServiceError::Validation(Vec::new()),
            ServiceError::RateLimited { retry_after_ms: 0 },
            ServiceError::Unavailable,
            ServiceError::Pending {
                tx_id: Box::new(medledger_types::TxId(medledger_types::Hash::ZERO)),
            },
            ServiceError::Internal(String::new()),
        ];
        let mut codes: Vec<&str> = all.iter().map(ServiceError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        let mut listed = ERROR_CODES.to_vec();
        listed.sort_unstable();
        assert_eq!(codes, listed);
    }

    #[test]
    fn internal_details_are_not_told() {
        let e = ServiceError::Internal("disk /dev/sda1 failed".into());
        assert_eq!(e.detail(), "internal error");
        assert_eq!(e.status(), 500);
    }
}
