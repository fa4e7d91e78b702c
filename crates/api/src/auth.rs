//! `POST /auth/login`, `POST /auth/logout`, `POST /auth/password`, and the [`Authenticated`] extractor
//! every protected handler takes. Sessions, the login limiter and password rules are the service's
//! ([`medledger_service::auth`]); this module reads the token from the request.
//!
//! **Bearer tokens only.** The API never reads the web application's session cookie, and never sets it:
//! a browser sends cookies by itself, so a form on another site of the same host could otherwise make a
//! logged-in person's browser call the API (the web pages have their own CSRF-checked forms).

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_service::auth::{
    Session, authenticate, change_own_password, end_session, rfc3339, session_of, session_token,
};
use medledger_service::{AppState, ServiceError};
use medledger_types::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiError;
use crate::error::{JsonBody, Problem};

/// The session token of a request: its `Authorization: Bearer` token (never a cookie).
pub fn request_token(headers: &HeaderMap) -> Option<&str> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    session_token(Some(authorization), [])
}

/// A logged-in person: the extractor every protected handler takes. Rejects with 401 when there is no
/// valid session (bearer token), with 403 `password_change_required` while the person's password is one
/// someone else chose, and with 503 when the node is not ready.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Session);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AnySession(session) = AnySession::from_request_parts(parts, state).await?;
        if session.must_change_password {
            return Err(ApiError(ServiceError::PasswordChangeRequired));
        }
        Ok(Authenticated(session))
    }
}

/// A logged-in person who may still have to change their password: for the two things they may do
/// then, change it and log out.
#[derive(Debug, Clone)]
pub struct AnySession(pub Session);

impl FromRequestParts<AppState> for AnySession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(AnySession(session_of(
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
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the session ends at the latest (RFC 3339, UTC); it ends earlier after 30 minutes unused.
    pub expires_at: String,
    /// `admin` or `doctor`.
    #[schema(value_type = String, example = "doctor")]
    pub role: Role,
    pub email: String,
    /// The password was chosen by someone else (the administrator who registered this person, or
    /// generated at the first run): until `POST /auth/password` replaces it, every other call answers
    /// 403 `password_change_required`.
    pub must_change_password: bool,
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

/// Logs in: checks the password, unlocks the person's key for the session, and returns a bearer token.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Not checked: the account or the address is delayed after failed logins (each failure past a few doubles the wait, up to 15 minutes for an account), or too many password checks are running at once; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The node is not ready (`unavailable`), or this account's registration has not committed on the ledger yet (`registration_pending`: its write answered 202; try again shortly)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let LoginRequest { email, password } = request;
    let (session, role, email) = authenticate(&state, address, email, password).await?;
    let body = LoginResponse {
        must_change_password: session.must_change_password,
        token: session.token,
        expires_at: rfc3339(session.expires_at_ms),
        role,
        email,
    };
    Ok(Json(body).into_response())
}

/// Ends the session: its token stops working at once.
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
    AnySession(session): AnySession,
) -> Result<Response, ApiError> {
    end_session(&state, &session);
    Ok(StatusCode::NO_CONTENT.into_response())
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
    AnySession(session): AnySession,
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
