//! Errors as HTTP responses: `application/problem+json` (RFC 9457) with the service error's stable
//! `code` and, for validation failures and conflicts with the state, field-level details. Internal
//! details are logged, never sent. The statuses and codes are the service's
//! ([`medledger_service::error`]); this module only writes them out, and makes axum's rejections
//! (a body, query or path that does not parse) problems too instead of plain text.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_service::{FieldProblem, ServiceError};
use serde::Serialize;

/// The largest request body the gateway reads, in bytes. A note's text is at most 64 KiB
/// (`limits::NOTE_TEXT_BYTES_MAX`); every request fits well within this.
pub const REQUEST_BODY_BYTES_MAX: usize = 1024 * 1024;

const _: () = assert!(medledger_types::limits::NOTE_TEXT_BYTES_MAX * 4 < REQUEST_BODY_BYTES_MAX);

/// The media type of every error response.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Every stable `code` of a [`Problem`] (the document lists them as the field's enumeration).
pub use medledger_service::error::ERROR_CODES as PROBLEM_CODES;

/// An error a handler answers with: a [`ServiceError`] written as a problem.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        ApiError(e)
    }
}

impl ApiError {
    /// A malformed request (400).
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError(ServiceError::BadRequest(detail.into()))
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The problem document this error is answered with.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: "about:blank",
            title: self.0.title(),
            status: self.0.status(),
            code: self.0.code(),
            detail: self.0.detail(),
            errors: self.0.field_problems().to_vec(),
        }
    }
}

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
    #[schema(value_type = Vec<FieldProblemSchema>)]
    pub errors: Vec<FieldProblem>,
}

/// One field's problem, with the OMOP field name.
#[derive(utoipa::ToSchema)]
#[schema(as = FieldProblem)]
#[allow(dead_code)]
pub struct FieldProblemSchema {
    /// The field's name as the request spells it (OMOP's column name where there is one).
    field: String,
    /// A stable machine-readable code (`required`, `too_long`, `too_short`, `invalid_email`, ...).
    code: String,
    /// A human-readable explanation, in English.
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ServiceError::Internal(detail) = &self.0 {
            tracing::error!(%detail, "internal error");
        }
        let mut response = (self.status(), Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(seconds) = self.0.retry_after_s()
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
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
            return ApiError(ServiceError::PayloadTooLarge);
        }
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::bad_request("expected a body with Content-Type: application/json")
            }
            JsonRejection::JsonDataError(e) => ApiError::bad_request(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(e.body_text()),
            other => ApiError::bad_request(other.body_text()),
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
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
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
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_says_when_to_come_back() {
        let response = ApiError(ServiceError::RateLimited {
            retry_after_ms: 1_500,
        })
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
    }

    #[test]
    fn internal_details_stay_in_the_log() {
        let problem = ApiError(ServiceError::Internal("disk full at /x".into())).problem();
        assert_eq!((problem.status, problem.code), (500, "internal"));
        assert_eq!(problem.detail, "internal error");
    }
}
