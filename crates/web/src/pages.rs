//! The pages every visitor meets: the entry redirect, login and logout, the language switch, HTML error
//! pages, and the static files.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use medledger_types::Role;
use serde::Deserialize;

use super::page::{
    AnonymousPage, LANG_COOKIE, LOGIN_CSRF_COOKIE, Page, WebUser, cookie, same_token,
};
use medledger_service::auth::{authenticate, end_session, session_cookie};

use crate::page::ClientAddress;
use medledger_service::{AppState, ServiceError};

/// Renders a template as an HTML response, or a plain 500 if rendering fails (a bug, logged).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a template did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: &'a Page,
    title: &'a str,
    detail: String,
}

/// The HTTP status of a service error.
pub fn status_of(error: &ServiceError) -> StatusCode {
    StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An error shown as an HTML page with the API's status code, in the page's language.
pub struct PageError {
    pub page: Page,
    pub error: ServiceError,
}

impl PageError {
    pub fn new(page: &Page, error: ServiceError) -> PageError {
        PageError {
            page: page.clone(),
            error,
        }
    }
}

/// The longest wait told in seconds; a longer one is told in minutes.
const WAIT_SECONDS_TOLD_MAX: i64 = 120;

/// What a person is told about a [`ServiceError::RateLimited`]: how long to wait, in their language.
pub fn wait_message(page: &Page, error: &ServiceError) -> Option<String> {
    let seconds = error.retry_after_s()?;
    Some(if seconds <= WAIT_SECONDS_TOLD_MAX {
        page.tf(
            "error.rate_limited_seconds",
            &[("seconds", &seconds.to_string())],
        )
    } else {
        let minutes = (seconds + 59) / 60;
        page.tf(
            "error.rate_limited_minutes",
            &[("minutes", &minutes.to_string())],
        )
    })
}

/// Sets `Retry-After` on the answer to a [`ServiceError::RateLimited`] (as the API does).
fn set_retry_after(response: &mut Response, error: &ServiceError) {
    if let Some(seconds) = error.retry_after_s()
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = status_of(&self.error);
        let code = self.error.code();
        if let ServiceError::Internal(detail) = &self.error {
            tracing::error!(%detail, "internal error on a page");
        }
        let key = format!("error.{code}");
        let wait = wait_message(&self.page, &self.error);
        let title = match &wait {
            Some(wait) => wait.as_str(),
            None if self.page.t(&key) == key => self.page.t("error.internal"),
            None => self.page.t(&key),
        };
        // The API's detail is English and written for programs; the translated title says it for people.
        // Only a not-found or malformed request keeps its detail (which record, which value).
        let detail = match &self.error {
            ServiceError::NotFound(_) | ServiceError::BadRequest(_) => self.error.to_string(),
            // Where to see whether it committed, before sending it again.
            ServiceError::Pending { tx_id } => format!("/explorer/tx/{tx_id}"),
            _ => String::new(),
        };
        let mut response = render(&ErrorPage {
            page: &self.page,
            title,
            detail,
        });
        *response.status_mut() = status;
        set_retry_after(&mut response, &self.error);
        response
    }
}

/// `/`: a logged-in person goes to their home; anyone else to the login page.
pub async fn home(user: Result<WebUser, super::page::WebRejection>) -> Response {
    match user {
        Ok(user) => Redirect::to(home_of(user.session.role)).into_response(),
        Err(super::page::WebRejection::Login { .. }) => Redirect::to("/login").into_response(),
        Err(other) => other.into_response(),
    }
}

/// Where each role lands after login.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Admin => "/doctors",
        Role::Doctor => "/patients",
        _ => "/explorer",
    }
}

/// A place on this site to go to after a login or a language switch: `/` followed by printable ASCII
/// only, and not `//` (another host). White space, control characters and backslashes are refused
/// because browsers drop or rewrite them (`/\t/evil.example` becomes `//evil.example`), and a line end
/// cannot be put in a header at all. Anything else goes home.
fn local_path(next: &str) -> Option<&str> {
    let rest = next.strip_prefix('/')?;
    let printable = next
        .bytes()
        .all(|b| (0x21..=0x7E).contains(&b) && b != b'\\');
    (printable && !rest.starts_with('/')).then_some(next)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    page: &'a Page,
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    message: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    bye: Option<String>,
}

fn login_csrf_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{LOGIN_CSRF_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/login; Max-Age=3600"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("medledger_login_csrf=; Path=/login"))
}

fn login_page(
    page: &Page,
    next: &str,
    email: &str,
    error: Option<&str>,
    message: Option<&str>,
) -> Response {
    let token = hex::encode(medledger_crypto::keys::random_bytes::<16>());
    let mut response = render(&LoginPage {
        page,
        csrf: &token,
        next,
        email,
        error,
        message,
    });
    response
        .headers_mut()
        .append(header::SET_COOKIE, login_csrf_cookie(&token));
    response
}

/// `GET /login`.
pub async fn login_form(
    AnonymousPage(page): AnonymousPage,
    Query(query): Query<LoginQuery>,
) -> Response {
    let message = query.bye.is_some().then(|| page.t("login.logged_out"));
    login_page(
        &page,
        local_path(&query.next).unwrap_or(""),
        "",
        None,
        message,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: on success the session cookie is set and the person goes where they were headed.
pub async fn login_submit(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    AnonymousPage(page): AnonymousPage,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(&form.next).unwrap_or("").to_owned();
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_token(expected, &form.csrf) {
        return login_page(
            &page,
            &next,
            &form.email,
            Some(page.t("error.session_expired")),
            None,
        );
    }
    match authenticate(&state, address, form.email.clone(), form.password).await {
        Ok((session, role, _email)) => {
            let max_age_s = (session.expires_at_ms - state.now_ms()) / 1000;
            let cookie =
                match HeaderValue::from_str(&session_cookie(&state, &session.token, max_age_s)) {
                    Ok(cookie) => cookie,
                    Err(e) => {
                        let e = ServiceError::Internal(format!("session cookie: {e}"));
                        return PageError::new(&page, e).into_response();
                    }
                };
            let target = if next.is_empty() {
                home_of(role).to_owned()
            } else {
                next
            };
            let mut response = Redirect::to(&target).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(e @ ServiceError::RateLimited { .. }) => {
            let wait = wait_message(&page, &e);
            let mut response = login_page(&page, &next, &form.email, wait.as_deref(), None);
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            set_retry_after(&mut response, &e);
            response
        }
        Err(ServiceError::InvalidCredentials) => {
            let mut response = login_page(
                &page,
                &next,
                &form.email,
                Some(page.t("login.wrong_credentials")),
                None,
            );
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
        Err(e) => PageError::new(&page, e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    user: WebUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = user.check_csrf(Some(&form.csrf)) {
        return PageError::new(&user.page, e).into_response();
    }
    end_session(&state, &user.session);
    let mut response = Redirect::to("/login?bye=1").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session_cookie(&state, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
pub struct LangQuery {
    #[serde(default)]
    back: String,
}

/// `GET /lang/{code}`: remembers the language for a year and goes back.
pub async fn switch_language(Path(code): Path<String>, Query(query): Query<LangQuery>) -> Response {
    let back = local_path(&query.back).unwrap_or("/").to_owned();
    let mut response = Redirect::to(&back).into_response();
    if let Ok(lang) = code.parse::<super::i18n::Lang>()
        && let Ok(value) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; SameSite=Lax; Path=/; Max-Age=31536000",
            lang.code()
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

const APP_CSS: &str = include_str!("../static/app.css");
const APP_JS: &str = include_str!("../static/app.js");

pub async fn app_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS)
}

pub async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn the_browser_checks_checkpoints_of_the_ledgers_format_version() {
        let expected = format!(
            "var CHECKPOINT_FORMAT_VERSION = {};",
            medledger_types::FORMAT_VERSION
        );
        assert!(
            super::APP_JS.contains(&expected),
            "static/app.js must say `{expected}`"
        );
    }

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for local in [
            "/",
            "/patients",
            "/patients/7?tab=notes&x=%2F%2F",
            "/explorer/tx/ab12",
        ] {
            assert_eq!(local_path(local), Some(local), "{local}");
        }
        for elsewhere in [
            "",
            "patients",
            "//evil.example/",
            "/\t/evil.example/",
            "/\n",
            "/\r\nSet-Cookie: x=1",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "/ /evil.example",
            "/pacientes/ñ",
            "/\u{0}",
        ] {
            assert_eq!(local_path(elsewhere), None, "{elsewhere:?}");
        }
    }
}
