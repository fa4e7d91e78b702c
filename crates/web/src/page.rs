//! What every web page knows about its request: the language, the logged-in person (if any), the CSRF
//! token its forms must carry, and the path it was asked for; and the extractor that sends an anonymous
//! visitor to the login page instead of answering 401.
//!
//! CSRF: a logged-in person's token is derived from their session token (SHA-256, domain-separated), so it
//! needs no storage and dies with the session; forms post it back as `csrf` and [`WebUser::check_csrf`]
//! compares. Before login, the login form uses a double-submit cookie. The session cookie is also
//! `SameSite=Strict`, so the token is a second wall, not the only one.

use std::net::{IpAddr, SocketAddr};

use axum::extract::FromRequestParts;
use axum::extract::connect_info::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use medledger_types::Role;

use super::i18n::{self, Lang};
use medledger_service::auth::{Session, session_of, session_token};
use medledger_service::{AppState, ServiceError};

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "medledger_lang";
/// The double-submit cookie of the login form.
pub const LOGIN_CSRF_COOKIE: &str = "medledger_login_csrf";

/// The logged-in person, as pages show them.
#[derive(Debug, Clone)]
pub struct UserView {
    pub email: String,
    pub role: Role,
}

/// Per-request context every template receives as `page`.
#[derive(Debug, Clone)]
pub struct Page {
    pub lang: Lang,
    pub user: Option<UserView>,
    pub csrf: String,
    /// The request's path and query, for the language switch to come back to.
    pub path: String,
}

impl Page {
    /// The text of `key` in the page's language.
    pub fn t<'k>(&self, key: &'k str) -> &'k str {
        i18n::t(self.lang, key)
    }

    /// [`Page::t`] with `{placeholders}` filled.
    pub fn tf(&self, key: &str, values: &[(&str, &str)]) -> String {
        i18n::tf(self.lang, key, values)
    }

    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Admin)
    }

    pub fn is_doctor(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Doctor)
    }

    /// The language switch's link to `code`, coming back to this page.
    pub fn lang_link(&self, code: &str) -> String {
        format!("/lang/{code}?back={}", urlencode(&self.path))
    }
}

/// Percent-encodes a path for a query parameter.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A cookie's value from the request headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The language: the remembered choice, else the browser's Accept-Language, else Spanish.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    if let Some(lang) = cookie(headers, LANG_COOKIE).and_then(|code| code.parse().ok()) {
        return lang;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or(Lang::Es)
}

/// The CSRF token of a session token.
pub fn csrf_for(session_token: &str) -> String {
    let digest =
        medledger_crypto::sha256(format!("medledger web csrf v1\0{session_token}").as_bytes());
    digest.to_hex()[..32].to_owned()
}

/// Compares two tokens without leaking where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn path_of(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// The page context of an anonymous request (login page, errors).
pub struct AnonymousPage(pub Page);

impl FromRequestParts<AppState> for AnonymousPage {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(AnonymousPage(Page {
            lang: lang_of(&parts.headers),
            user: None,
            csrf: String::new(),
            path: path_of(parts),
        }))
    }
}

/// A logged-in person on a web page: their API session and the page context. An anonymous visitor (or an
/// expired session) is sent to the login page, coming back here afterwards.
pub struct WebUser {
    pub session: Session,
    pub page: Page,
}

/// Why a page could not be shown to the visitor as asked.
pub enum WebRejection {
    /// Not logged in (or the session expired): go to the login page.
    Login { next: String },
    /// The first administrator must replace the generated password before anything else.
    ChangePassword,
    /// Anything else, as the API would answer.
    Api(ServiceError),
}

impl IntoResponse for WebRejection {
    fn into_response(self) -> Response {
        match self {
            WebRejection::Login { next } => {
                Redirect::to(&format!("/login?next={}", urlencode(&next))).into_response()
            }
            WebRejection::ChangePassword => Redirect::to("/password?first_run=1").into_response(),
            WebRejection::Api(e) => (super::pages::status_of(&e), e.detail()).into_response(),
        }
    }
}

/// The session token a page request carries: its session cookie (or a bearer token, as the API takes).
pub fn request_token(headers: &HeaderMap) -> Option<&str> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or_default());
    let cookies = headers.get_all(header::COOKIE).iter();
    session_token(authorization, cookies.filter_map(|v| v.to_str().ok()))
}

/// The IP address of the client (the TCP peer), for the login limiter; `None` when the server does not
/// record it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(ClientAddress(peer.map(|info| info.0.ip())))
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = WebRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let path = path_of(parts);
        let session = match session_of(state, request_token(&parts.headers)) {
            Ok(session) => session,
            Err(ServiceError::Unauthorized) => return Err(WebRejection::Login { next: path }),
            Err(e) => return Err(WebRejection::Api(e)),
        };
        // A password someone else chose (the registering administrator's, or the generated first one) is
        // replaced before anything else.
        if !(parts.uri.path() == "/password" || parts.uri.path() == "/logout")
            && session.must_change_password
        {
            return Err(WebRejection::ChangePassword);
        }
        let csrf = request_token(&parts.headers)
            .map(csrf_for)
            .unwrap_or_default();
        let page = Page {
            lang: lang_of(&parts.headers),
            user: Some(UserView {
                email: session.email.clone(),
                role: session.role,
            }),
            csrf,
            path,
        };
        Ok(WebUser { session, page })
    }
}

impl WebUser {
    /// Refuses a form whose `csrf` field is not this session's token.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), ServiceError> {
        match submitted {
            Some(token) if !self.page.csrf.is_empty() && same_token(token, &self.page.csrf) => {
                Ok(())
            }
            _ => Err(ServiceError::Forbidden(
                "the form is stale or was not sent by this application; reload the page".into(),
            )),
        }
    }

    /// Refuses (403) unless the person has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ServiceError> {
        self.session.require(roles)
    }
}
