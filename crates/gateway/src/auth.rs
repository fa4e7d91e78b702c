//! Logins and sessions. (Skeleton: the shape other modules rely on. To be completed.)

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use medledger_node::Identity;
use medledger_types::Role;

use crate::{ApiError, AppState};

/// The sessions of logged-in people.
#[derive(Default)]
pub struct Sessions {}

/// A logged-in person: the extractor every protected handler takes. Rejects with 401 when there is no
/// valid session (bearer token or session cookie).
#[derive(Clone)]
pub struct Session {
    pub email: String,
    pub role: Role,
    /// The person's unlocked signing identity, held for the session only.
    pub identity: Arc<Identity>,
}

impl Session {
    /// Refuses (403) unless the person has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "a {} may not do this",
                self.role
            )))
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Err(ApiError::Unauthorized)
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
}
