//! `POST /auth/login`, `POST /auth/logout`, `POST /auth/password`, and the [`Authenticated`] extractor
//! every protected handler takes. Sessions, the login limiter and password rules are the service's
//! ([`medledger_service::auth`]); this module reads the token from the request (a bearer token, else
//! the session cookie) and sets the cookie on login and logout.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_service::auth::{
    Session, authenticate, change_own_password, end_session, rfc3339, session_cookie, session_of,
    session_token,
};
use medledger_service::{AppState, ServiceError};
use medledger_types::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiError;
use crate::error::{JsonBody, Problem};

/// The session token of a request: `Authorization: Bearer`, else the session cookie.
pub fn request_token(headers: &HeaderMap) -> Option<&str> {
    let authorization = match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(value.to_str().ok()?),
        None => None,
    };
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok());
    session_token(authorization, cookies)
}

/// A logged-in person: the extractor every protected handler takes. Rejects with 401 when there is no
/// valid session (bearer token or session cookie), and with 503 when the node is not ready.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Session);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Authenticated(session_of(
            state,
            request_token(&parts.headers),
        )?))
    }
}

/// The client's IP address (the TCP peer's), when the server records it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

/// A `Set-Cookie` header value.
fn cookie_header(value: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&value)
        .map_err(|e| ApiError(ServiceError::Internal(format!("session cookie: {e}"))))
}

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "admin@medledger.local")]
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>` (the response also sets the session cookie).
    pub token: String,
    /// When the session ends at the latest (RFC 3339, UTC); it ends earlier after 30 minutes unused.
    pub expires_at: String,
    /// `admin` or `doctor`.
    #[schema(value_type = String, example = "doctor")]
    pub role: Role,
    pub email: String,
}

/// `POST /auth/password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(format = Password)]
    pub current_password: String,
    /// 12 to 1024 characters, not too easy to guess (`too_weak`: blank, too few different characters,
    /// a keyboard run, or a common password).
    #[schema(format = Password)]
    pub new_password: String,
}

/// Logs in: checks the password, unlocks the person's key for the session, and returns a token (also
/// set as the session cookie).
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; also sets the session cookie", body = LoginResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Not checked: the account or the address is delayed after failed logins (each failure past a few doubles the wait, up to 15 minutes for an account), or too many password checks are running at once; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let LoginRequest { email, password } = request;
    let (session, role, email) = authenticate(&state, address, email, password).await?;
    let cookie = cookie_header(session_cookie(
        &state,
        &session.token,
        (session.expires_at_ms - state.now_ms()) / 1000,
    ))?;
    let body = LoginResponse {
        token: session.token,
        expires_at: rfc3339(session.expires_at_ms),
        role,
        email,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Ends the session (its token stops working at once) and clears the session cookie.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
) -> Result<Response, ApiError> {
    end_session(&state, &session);
    let cookie = cookie_header(session_cookie(&state, "", 0))?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Changes the logged-in person's password: their key is re-encrypted under the new one, and their
/// other sessions end (this one goes on).
#[utoipa::path(
    post,
    path = "/auth/password",
    tag = "auth",
    request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`current_password` is wrong (`wrong_password`) or `new_password` is too short, too long or too easy to guess (`too_weak`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Not checked: too many wrong passwords for the account or from the address, or too many password checks at once; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Authenticated(session): Authenticated,
    JsonBody(request): JsonBody<PasswordChange>,
) -> Result<Response, ApiError> {
    change_own_password(
        &state,
        address,
        &session,
        request.current_password,
        request.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `/auth/login`, `/auth/logout`, `/auth/password`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(change_password))
}
