//! The security headers every answer carries, set in one layer ([`security_headers`]) so that no page
//! can forget them: a page of another site (or of another port of the same host) may not frame ours,
//! run scripts or styles that are not our own files, guess content types, or learn our URLs from the
//! `Referer` header.
//!
//! The policy allows scripts and styles from our own origin only, so the pages carry no inline
//! `<script>`, `<style>`, `style=` attribute or `on…=` handler (`crates/web/templates`); the explorer's
//! proof check is `static/app.js`, which the policy allows.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The `Content-Security-Policy` of every answer: everything from our own origin only, no plugins,
/// no `<base>`, forms post only to us, and no one may frame us (`frame-ancestors 'none'`, the modern
/// form of `X-Frame-Options: DENY`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// `X-Frame-Options`, for browsers that predate `frame-ancestors`.
pub const FRAME_OPTIONS: &str = "DENY";

/// `X-Content-Type-Options`: a browser must take our `Content-Type` as it is, never sniff one.
pub const CONTENT_TYPE_OPTIONS: &str = "nosniff";

/// `Referrer-Policy`: links to other sites do not tell them our URLs (which name patients' records).
pub const REFERRER_POLICY: &str = "same-origin";

/// `Strict-Transport-Security` when the node is reached over HTTPS: a browser that has seen it once
/// never tries plain HTTP to this host for a year. Without `includeSubDomains`: a hospital's other
/// hosts may not all speak HTTPS. (Browsers ignore it over plain HTTP and for IP addresses.)
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Whether answers are reached over HTTPS (TLS here or at a proxy in front), which adds
/// [`STRICT_TRANSPORT_SECURITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Https(pub bool);

/// The headers every answer carries, with their values.
const ALWAYS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_FRAME_OPTIONS, FRAME_OPTIONS),
    (header::X_CONTENT_TYPE_OPTIONS, CONTENT_TYPE_OPTIONS),
    (header::REFERRER_POLICY, REFERRER_POLICY),
];

/// Sets the security headers on every answer (this is the one place that sets them).
pub async fn security_headers(
    State(Https(https)): State<Https>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in ALWAYS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    response
}
