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
            current: self.0.current_version().cloned(),
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
    /// `conflict`, `precondition_failed`, `payload_too_large`, `validation_failed`, `rate_limited`, `unavailable`, `internal`.
    pub code: &'static str,
    pub detail: String,
    /// Field-level problems (validation failures, and conflicts with the current state).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldProblemSchema>)]
    pub errors: Vec<FieldProblem>,
    /// A stale amendment's refusal (412 `precondition_failed`) only: the record's current version, a
    /// `RecordVersion` of its kind, to compare with the changes and send again with its
    /// `version_number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current: Option<serde_json::Value>,
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

/// The answer to a write that was ordered but not committed within the wait (202): not a failure, so
/// not a problem document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PendingWrite {
    /// The transaction that may still commit.
    pub tx_id: String,
    /// Where to ask how it ended: `GET` it with the same bearer token.
    pub status_url: String,
    pub detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ServiceError::Pending { tx_id } = &self.0 {
            let body = PendingWrite {
                tx_id: tx_id.to_string(),
                status_url: format!("/api/v1/ledger/transactions/{tx_id}/status"),
                detail: self.0.to_string(),
            };
            let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
            if let Ok(location) =
                HeaderValue::from_str(&format!("/api/v1/ledger/transactions/{tx_id}/status"))
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return response;
        }
        if let ServiceError::Internal(detail) = &self.0 {
            tracing::error!(%detail, "internal error");
        }
        let mut response = (self.status(), Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(version) = self
            .0
            .current_version()
            .and_then(|current| current["header"]["version_number"].as_u64())
            && let Ok(value) = HeaderValue::from_str(&crate::records::etag(version))
        {
            headers.insert(header::ETAG, value);
        }
        if let Some(seconds) = self.0.retry_after_s()
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A JSON request body whose rejections are problems: a body over [`REQUEST_BODY_BYTES_MAX`] is 413; an
/// object that names a key twice is 422 naming the key (a parser keeps one of the two silently, and
/// which one differs between parsers, so a signature or an audit could see another value than the
/// ledger stores); anything else that does not parse into `T` (bad syntax, wrong content type, missing
/// or unknown field, wrong type) is 400 with serde's explanation.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::bad_request(
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError(ServiceError::PayloadTooLarge)
                } else {
                    ApiError::bad_request(rejection.body_text())
                }
            })?;
        // Syntax errors are left to the parse below, which explains them as axum does.
        if let Err(duplicate) = serde_json::from_slice::<UniqueKeys>(&bytes)
            && let Some(key) = duplicate_key(&duplicate)
        {
            return Err(ApiError(ServiceError::field(
                &key,
                "duplicate_key",
                format!("{key} appears more than once in an object"),
            )));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// Whether a request says its body is JSON (`application/json`, or a `+json` type).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.rsplit_once('+').is_some_and(|(kind, suffix)| {
            kind.starts_with("application/") && suffix.eq_ignore_ascii_case("json")
        })
}

/// The prefix of the error [`UniqueKeys`] raises for a key seen twice.
const DUPLICATE_KEY: &str = "duplicate key: ";

/// The key a [`UniqueKeys`] error names, if that is why it failed.
fn duplicate_key(error: &serde_json::Error) -> Option<String> {
    let message = error.to_string();
    let rest = message.strip_prefix(DUPLICATE_KEY)?;
    // serde_json appends " at line L column C".
    let key = rest.rsplit_once(" at line ").map_or(rest, |(key, _)| key);
    Some(key.to_owned())
}

/// Any JSON value, parsed only to refuse an object with a key twice (at any depth).
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("{DUPLICATE_KEY}{key}")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
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
    fn a_key_twice_is_found_at_any_depth() {
        let parse = |json: &str| {
            serde_json::from_slice::<UniqueKeys>(json.as_bytes())
                .err()
                .and_then(|e| duplicate_key(&e))
        };
        assert_eq!(parse(r#"{"a": 1, "b": 2}"#), None);
        assert_eq!(parse(r#"{"a": 1, "a": 2}"#).as_deref(), Some("a"));
        assert_eq!(
            parse(r#"{"changes": {"x": [1, {"k": 1, "k": 2}]}}"#).as_deref(),
            Some("k")
        );
        assert_eq!(
            parse(r#"{"a": 1,"#),
            None,
            "syntax errors are not duplicates"
        );
    }

    #[test]
    fn internal_details_stay_in_the_log() {
        let problem = ApiError(ServiceError::Internal("disk full at /x".into())).problem();
        assert_eq!((problem.status, problem.code), (500, "internal"));
        assert_eq!(problem.detail, "internal error");
    }
}
