//! Errors as HTTP responses: `application/problem+json` (RFC 9457) with a stable `code` and, for
//! validation failures, field-level details. Internal details are logged, never sent.
//!
//! Domain errors become responses here and nowhere else: [`From<InvokeError>`](ApiError#impl-From<InvokeError>-for-ApiError)
//! and [`From<ContractError>`](ApiError#impl-From<ContractError>-for-ApiError) map the node's and the
//! contract's refusals, and [`JsonBody`] turns a body that does not parse into a problem instead of
//! axum's plain-text rejection. [`GatewayError`] is apart: it is for a gateway that cannot start or go on,
//! never for a refused request.
//!
//! | status | `code` | when |
//! |---|---|---|
//! | 400 | `bad_request` | malformed body, query or path; a call the contract calls malformed |
//! | 401 | `unauthorized` | no valid session (missing, unknown, expired or logged-out token) |
//! | 401 | `invalid_credentials` | login with an unknown email or a wrong password (one answer for both) |
//! | 403 | `forbidden` | the person's role may not do this (the gateway's check or the contract's) |
//! | 404 | `not_found` | no such record, route or block |
//! | 409 | `conflict` | the record (id or email) already exists; a write conflict that outlived its retries; a request valid in itself that the ledger's current state refuses (`errors` names the fields: a note for a patient that does not exist, an amendment whose changes do not fit the fields it leaves as they are) |
//! | 413 | `payload_too_large` | request body over [`REQUEST_BODY_BYTES_MAX`]; a value over a ledger limit |
//! | 422 | `validation_failed` | well-formed but invalid: `errors` lists `{field, code, message}` |
//! | 429 | `rate_limited` | too many failed logins for the account or from the address |
//! | 503 | `unavailable` | the node is not ready (starting, stopping, or cannot commit); ordering queue full |
//! | 500 | `internal` | a bug or a failing disk; the detail is logged, the response says only "internal error" |

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use medledger_contract::ContractError;
use medledger_node::{InvokeError, NodeError};
use medledger_orderer::SubmitError;
use medledger_peer::EndorseError;
use medledger_types::ValidationCode;
use serde::Serialize;

/// The largest request body the gateway reads, in bytes. A note's text is at most 64 KiB
/// (`limits::NOTE_TEXT_BYTES_MAX`); every request fits well within this.
pub const REQUEST_BODY_BYTES_MAX: usize = 1024 * 1024;

const _: () = assert!(medledger_types::limits::NOTE_TEXT_BYTES_MAX * 4 < REQUEST_BODY_BYTES_MAX);

/// The media type of every error response.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One field's problem, with the OMOP field name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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

/// An error a handler returns. Each variant maps to one status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
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
    #[error("request body over the limit")]
    PayloadTooLarge,
    #[error("validation failed")]
    Validation(Vec<FieldProblem>),
    #[error("too many attempts; try again later")]
    RateLimited,
    #[error("the node is not ready")]
    Unavailable,
    /// Logged with its detail; the response says only "internal error".
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every stable `code` of a [`Problem`] (the document lists them as the field's enumeration).
pub const PROBLEM_CODES: [&str; 11] = [
    "bad_request",
    "unauthorized",
    "invalid_credentials",
    "forbidden",
    "not_found",
    "conflict",
    "payload_too_large",
    "validation_failed",
    "rate_limited",
    "unavailable",
    "internal",
];

/// The body of every error response (RFC 9457 problem details, plus `code` and `errors`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: `code` is the stable machine-readable identifier.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    /// Stable error code: `bad_request`, `unauthorized`, `invalid_credentials`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `validation_failed`, `rate_limited`, `unavailable`, `internal`.
    pub code: &'static str,
    pub detail: String,
    /// Field-level problems (validation failures, and conflicts with the current state).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

impl ApiError {
    /// Status, stable code and title.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, "bad_request", "Malformed request")
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Not logged in"),
            ApiError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Wrong email or password",
            ),
            ApiError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for your role",
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::Conflict(_) | ApiError::StateConflict(_) => {
                (StatusCode::CONFLICT, "conflict", "Conflict")
            }
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request body too large",
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            ApiError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    /// A validation failure of one field.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldProblem::new(field, code, message)])
    }

    /// The problem document this error is answered with.
    pub fn problem(&self) -> Problem {
        let (status, code, title) = self.parts();
        let detail = match self {
            ApiError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            code,
            detail,
            errors: match self {
                ApiError::Validation(errors) | ApiError::StateConflict(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let status = self.parts().0;
        let mut response = (status, Json(self.problem())).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        response
    }
}

/// The contract's refusals, by kind. `State` is the peer's own failure, never the caller's.
impl From<ContractError> for ApiError {
    fn from(e: ContractError) -> ApiError {
        match e {
            ContractError::Validation(errors) => ApiError::Validation(
                errors
                    .into_iter()
                    .map(|e| FieldProblem {
                        field: e.field,
                        code: e.code,
                        message: e.message,
                    })
                    .collect(),
            ),
            e @ ContractError::AlreadyExists { .. } => ApiError::Conflict(e.to_string()),
            e @ ContractError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            e @ ContractError::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
            ContractError::BadRequest(detail) => ApiError::BadRequest(detail),
            ContractError::TooLarge { .. } => ApiError::PayloadTooLarge,
            e @ ContractError::State(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// Why a write or a query did not succeed, as a response.
///
/// - `Refused`: the contract's error ([`From<ContractError>`](ApiError#impl-From<ContractError>-for-ApiError));
///   a payload that does not decode is internal.
/// - `Endorse`: a certificate the peer does not accept (expired, revoked, foreign) is 403; a malformed
///   proposal is 400; the rest is internal.
/// - `Submit`: queue full or orderer stopped is 503; an envelope over the limit is 413.
/// - `Invalid`: an MVCC read conflict is 409 (the caller already retried, see
///   [`AppState::invoke`](crate::AppState::invoke)); any other code is internal (the gateway built a
///   transaction the ledger refused).
/// - `Timeout`: 503 (the transaction may still commit; its id is logged).
/// - `Node`: internal.
impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> ApiError {
        match e {
            InvokeError::Refused(payload) => match medledger_node::refusal(&payload) {
                Some(refusal) => refusal.into(),
                None => ApiError::Internal(format!(
                    "a refusal of {} bytes that is not a contract error",
                    payload.len()
                )),
            },
            InvokeError::Endorse(e) => match e {
                EndorseError::UnknownCertificate(_) | EndorseError::RevokedCertificate => {
                    ApiError::Forbidden("your certificate is not accepted by the ledger".into())
                }
                EndorseError::Malformed(detail) => ApiError::BadRequest(detail),
                e @ (EndorseError::WrongChannel { .. }
                | EndorseError::BadSignature
                | EndorseError::State(_)) => ApiError::Internal(e.to_string()),
            },
            InvokeError::Submit(e) => match e {
                SubmitError::QueueFull | SubmitError::Stopped => ApiError::Unavailable,
                SubmitError::TooLarge { .. } => ApiError::PayloadTooLarge,
            },
            InvokeError::Invalid(status) if status.code == ValidationCode::MvccReadConflict => {
                ApiError::Conflict(
                    "the record changed while this request was being committed; try again".into(),
                )
            }
            InvokeError::Invalid(status) => ApiError::Internal(format!(
                "transaction {} is invalid: {}",
                status.tx_id, status.code
            )),
            InvokeError::Timeout(ms) => {
                tracing::warn!(ms, "a transaction did not commit in time");
                ApiError::Unavailable
            }
            InvokeError::Node(e) => ApiError::Internal(e.to_string()),
        }
    }
}

/// A JSON request body whose rejections are problems: a body over [`REQUEST_BODY_BYTES_MAX`] is 413,
/// anything else that does not parse into `T` (bad syntax, wrong content type, missing or unknown field,
/// wrong type) is 400 with serde's explanation.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge;
        }
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::BadRequest("expected a body with Content-Type: application/json".into())
            }
            JsonRejection::JsonDataError(e) => ApiError::BadRequest(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// A query string whose rejection is a 400 problem (axum's is plain text).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Path parameters whose rejection is a 400 problem (axum's is plain text).
#[derive(Debug, Clone, Copy, Default)]
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParams(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// The gateway cannot start or cannot go on (never a refused request: that is an [`ApiError`]).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("node: {0}")]
    Node(#[from] NodeError),
    #[error("wallet: {0}")]
    Wallet(#[from] crate::wallet::WalletError),
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
            ApiError::BadRequest(String::new()),
            ApiError::Unauthorized,
            ApiError::InvalidCredentials,
            ApiError::Forbidden(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::Conflict(String::new()),
            ApiError::StateConflict(Vec::new()),
            ApiError::PayloadTooLarge,
            ApiError::Validation(Vec::new()),
            ApiError::RateLimited,
            ApiError::Unavailable,
            ApiError::Internal(String::new()),
        ];
        let mut codes: Vec<&str> = all.iter().map(|e| e.parts().1).collect();
        codes.sort_unstable();
        codes.dedup();
        let mut listed = PROBLEM_CODES.to_vec();
        listed.sort_unstable();
        assert_eq!(codes, listed);
    }
}
