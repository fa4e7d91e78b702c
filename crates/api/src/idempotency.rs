//! `Idempotency-Key` on writes: a retry with the same key and the same request gets the first answer
//! again, byte for byte, instead of writing twice ([`medledger_service::idempotency`] keeps the answers).
//! The layer is applied by the composition to the whole application; it acts only on `POST`s under
//! `/api/v1/` that carry the header and a valid bearer token (anything else passes through untouched, and
//! the routes answer as they would).
//!
//! | case | answer |
//! |---|---|
//! | a new key | the write runs; its answer is kept (but 429 and 5xx) |
//! | the same key and request again | the kept answer, with `Idempotent-Replayed: true` |
//! | the same key, another request | 422 `validation_failed` on `Idempotency-Key` (`key_reused`) |
//! | the same key while its first request runs | 409 `conflict` |
//! | a malformed key | 400 |

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medledger_service::idempotency::{Begin, IDEMPOTENCY_ANSWER_BYTES_MAX, KeptAnswer, is_key};
use medledger_service::{AppState, ServiceError};

use crate::ApiError;
use crate::auth::request_token;
use crate::error::REQUEST_BODY_BYTES_MAX;

/// The request header that names a write for retries.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The answer header that marks a kept answer given again.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The middleware (see the module doc).
pub async fn idempotent(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.uri().path().starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(request).await;
    };
    let Some(key) = value.to_str().ok().filter(|k| is_key(k)).map(str::to_owned) else {
        return ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
            .into_response();
    };
    let Ok(session) = medledger_service::auth::session_of(&state, request_token(request.headers()))
    else {
        // The route itself answers 401 or 503.
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, REQUEST_BODY_BYTES_MAX).await else {
        return ApiError(ServiceError::PayloadTooLarge).into_response();
    };
    let mut hashed = Vec::with_capacity(bytes.len() + 64);
    hashed.extend_from_slice(parts.method.as_str().as_bytes());
    hashed.push(0);
    hashed.extend_from_slice(parts.uri.to_string().as_bytes());
    hashed.push(0);
    hashed.extend_from_slice(&bytes);
    let digest = medledger_crypto::sha256(&hashed).0;
    let idempotency = &state.inner.idempotency;
    match idempotency.begin(&session.email, &key, digest, state.now_ms()) {
        Begin::Run => {
            // Frees the key if this request is dropped before it is answered (a request timeout, a
            // client gone): a key left "in progress" would refuse every retry.
            let guard = Unfinished {
                state: &state,
                person: &session.email,
                key: &key,
            };
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (mut head, body) = response.into_parts();
            let Ok(body) = axum::body::to_bytes(body, IDEMPOTENCY_ANSWER_BYTES_MAX).await else {
                return ApiError(ServiceError::Internal("an answer too large to keep".into()))
                    .into_response();
            };
            std::mem::forget(guard);
            idempotency.finish(
                &session.email,
                &key,
                KeptAnswer {
                    status: head.status.as_u16(),
                    content_type: head
                        .headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: body.to_vec(),
                },
            );
            head.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(head, Body::from(body))
        }
        Begin::Replay(kept) => replay(kept),
        // As the IETF's Idempotency-Key draft has it: the request does not fit its key.
        Begin::Reused => ApiError(ServiceError::field(
            "Idempotency-Key",
            "key_reused",
            "this key was sent before with another request; use a new key for a new write",
        ))
        .into_response(),
        Begin::InProgress => ApiError(ServiceError::Conflict(
            "the first request with this Idempotency-Key is still being answered; ask again shortly"
                .into(),
        ))
        .into_response(),
        Begin::Full => ApiError(ServiceError::RateLimited {
            retry_after_ms: 1000,
        })
        .into_response(),
    }
}

/// Frees a key whose request was not answered, when dropped.
struct Unfinished<'a> {
    state: &'a AppState,
    person: &'a str,
    key: &'a str,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        self.state.inner.idempotency.abandon(self.person, self.key);
    }
}

/// A kept answer, given again.
fn replay(kept: KeptAnswer) -> Response {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(kept.body)).into_response();
    let headers = response.headers_mut();
    if let Some(value) = kept
        .content_type
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}
