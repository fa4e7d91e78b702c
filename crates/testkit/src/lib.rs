//! A harness for the gateway's HTTP tests (not part of the API; hidden from the docs).
//!
//! [`TestGateway::start`] makes a fresh data directory, creates a network with the first administrator
//! ([`ADMIN_EMAIL`] / [`ADMIN_PASSWORD`]), starts the node with short block timeouts and builds the
//! application exactly as served ([`medledger_gateway::app`]; the operations address's
//! [`medledger_gateway::operations_app`] beside it) with the cheapest Argon2 setting. Requests go through
//! `tower::ServiceExt::oneshot`: no sockets, no ports, no sleeps. Each request carries a client address
//! ([`CLIENT_ADDRESS`] unless a test says otherwise) as the server would attach it, so per-address rate
//! limits work. The gateway's clock is a counter that tests move with [`TestGateway::advance`].
//!
//! A dev-dependency only: it never reaches the production binary's dependency graph.
//!
//! ```ignore
//! let gateway = TestGateway::start().await;
//! let admin = gateway.admin_token().await;
//! let (doctor, _) = gateway.doctor(10).await;
//! let response = gateway.post("/api/v1/patients", Some(&doctor), json!({...})).await;
//! assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use medledger_node::{DataDir, InitOptions, NodeOptions};
use medledger_types::BatchConfig;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use medledger_service::AppState;
use medledger_service::start::{self, FirstAdmin, UpOptions};
use medledger_service::state::ServiceConfig;
use medledger_wallet::PasswordParams;

pub const ADMIN_EMAIL: &str = "admin@medledger.local";
pub const ADMIN_PASSWORD: &str = "first-admin-password";
/// The initial password [`TestGateway::doctor`] gives doctors.
pub const DOCTOR_PASSWORD: &str = "doctor-initial-password";
/// The client address requests come from unless a test names another.
pub const CLIENT_ADDRESS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40_000);

/// What [`TestGateway::start_with`] varies.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// The first administrator's password; `None`: generated (and saved to the password file).
    pub admin_password: Option<String>,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            admin_password: Some(ADMIN_PASSWORD.to_owned()),
        }
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> Value {
        #[allow(clippy::unwrap_used)]
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("not JSON ({e}): {}", self.text()))
            .unwrap()
    }

    /// The `code` of a problem+json answer, checking the content type.
    pub fn problem_code(&self) -> String {
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some(medledger_api::error::PROBLEM_CONTENT_TYPE),
            "not a problem: {} {}",
            self.status,
            self.text()
        );
        let problem = self.json();
        assert_eq!(problem["status"], self.status.as_u16(), "{problem}");
        problem["code"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts the status and, for an error, the problem code.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.problem_code(), code, "{}", self.text());
    }
}

/// A gateway over a fresh data directory, driven without sockets.
pub struct TestGateway {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub app: Router,
    /// What an operations address serves (`/healthz`, `/readyz`, `/metrics`), over the same state.
    pub operations: Router,
    /// The gateway's clock, in milliseconds since the Unix epoch.
    pub clock: Arc<AtomicI64>,
    /// The first administrator, when this start created the network.
    pub first_admin: Option<FirstAdmin>,
}

fn up_options(
    data: &DataDir,
    admin_password: Option<String>,
    clock: Arc<AtomicI64>,
    secure_cookies: bool,
) -> UpOptions {
    UpOptions {
        data: data.clone(),
        init: InitOptions {
            admin_email: ADMIN_EMAIL.to_owned(),
            ..InitOptions::default()
        },
        node: NodeOptions {
            batch: Some(BatchConfig {
                tx_count_max: 50,
                timeout_ms: 2,
                ..BatchConfig::default()
            }),
            ..NodeOptions::default()
        },
        admin_password,
        service: ServiceConfig {
            password: PasswordParams::CHEAP_FOR_TESTS,
            clock: Arc::new(move || clock.load(Ordering::Relaxed)),
            secure_cookies,
            initial_password_file: None,
        },
    }
}

#[allow(clippy::expect_used)]
impl TestGateway {
    /// A new network whose first administrator has [`ADMIN_PASSWORD`].
    pub async fn start() -> TestGateway {
        TestGateway::start_with(TestOptions::default()).await
    }

    pub async fn start_with(options: TestOptions) -> TestGateway {
        let dir = tempfile::tempdir().expect("temporary directory");
        let clock = Arc::new(AtomicI64::new(medledger_node::now_ms()));
        TestGateway::open(dir, clock, options.admin_password, false).await
    }

    /// A new network (as [`TestGateway::start`]) whose writes wait only `ms` for their commit before
    /// answering that it is still pending (as a slow ledger would).
    pub async fn start_with_commit_wait(ms: u64) -> TestGateway {
        let dir = tempfile::tempdir().expect("temporary directory");
        let clock = Arc::new(AtomicI64::new(medledger_node::now_ms()));
        let gateway = TestGateway::open(dir, clock, Some(ADMIN_PASSWORD.to_owned()), false).await;
        // The first administrator's own record committed at the start, as on any first run.
        gateway.state.node().set_commit_wait_ms(ms);
        gateway
    }

    /// A new network (as [`TestGateway::start`]) whose session cookies are `Secure`, as when the node
    /// is served over HTTPS.
    pub async fn start_with_secure_cookies() -> TestGateway {
        let dir = tempfile::tempdir().expect("temporary directory");
        let clock = Arc::new(AtomicI64::new(medledger_node::now_ms()));
        TestGateway::open(dir, clock, Some(ADMIN_PASSWORD.to_owned()), true).await
    }

    /// A gateway over an existing data directory (which may hold a network already).
    pub async fn start_in(dir: tempfile::TempDir, options: TestOptions) -> TestGateway {
        let clock = Arc::new(AtomicI64::new(medledger_node::now_ms()));
        TestGateway::open(dir, clock, options.admin_password, false).await
    }

    async fn open(
        dir: tempfile::TempDir,
        clock: Arc<AtomicI64>,
        admin_password: Option<String>,
        secure_cookies: bool,
    ) -> TestGateway {
        let data = DataDir::new(dir.path());
        let options = up_options(&data, admin_password, Arc::clone(&clock), secure_cookies);
        let started = start::start(options).await.expect("the gateway starts");
        let app = medledger_gateway::app(started.state.clone());
        let operations = medledger_gateway::operations_app(
            started.state.clone(),
            &medledger_gateway::AppOptions::default(),
        );
        TestGateway {
            dir,
            state: started.state,
            app,
            operations,
            clock,
            first_admin: started.first_admin,
        }
    }

    pub fn data(&self) -> DataDir {
        DataDir::new(self.dir.path())
    }

    /// Stops everything and starts again over the same data directory (a second run).
    pub async fn restart(self, admin_password: Option<String>) -> TestGateway {
        let TestGateway {
            dir,
            state,
            app,
            operations,
            clock,
            ..
        } = self;
        drop((app, operations));
        let secure_cookies = state.inner.config.secure_cookies;
        start::stop(state).expect("the node stops");
        TestGateway::open(dir, clock, admin_password, secure_cookies).await
    }

    /// Stops the node (pending transactions commit).
    pub fn stop(self) {
        let TestGateway {
            state,
            app,
            operations,
            ..
        } = self;
        drop((app, operations));
        start::stop(state).expect("the node stops");
    }

    /// Moves the gateway's clock.
    pub fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::Relaxed);
    }

    /// Sends a request from [`CLIENT_ADDRESS`] (unless it carries a `ConnectInfo` already).
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        TestGateway::send_to(&self.app, request).await
    }

    /// `GET path` on the operations address's application ([`TestGateway::operations`]).
    pub async fn get_operations(&self, path: &str) -> TestResponse {
        let request = TestGateway::request(Method::GET, path, None, None);
        TestGateway::send_to(&self.operations, request).await
    }

    async fn send_to(router: &Router, mut request: Request<Body>) -> TestResponse {
        if request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_none()
        {
            request.extensions_mut().insert(ConnectInfo(CLIENT_ADDRESS));
        }
        let response = router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the body reads");
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        }
    }

    /// A request with an optional bearer token and an optional JSON body.
    pub fn request(
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Request<Body> {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(body).expect("JSON"))
            }
            None => Body::empty(),
        };
        builder.body(body).expect("a request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(TestGateway::request(Method::GET, path, token, None))
            .await
    }

    /// `GET path` with `token`, answered 200 (panics otherwise, with the answer): its JSON.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.get(path, Some(token)).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{path}: {}",
            response.text()
        );
        response.json()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.send(TestGateway::request(Method::POST, path, token, Some(&body)))
            .await
    }

    /// `POST /api/v1/auth/login` from `from`.
    pub async fn login_from(&self, from: SocketAddr, email: &str, password: &str) -> TestResponse {
        let mut request = TestGateway::request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({ "email": email, "password": password })),
        );
        request.extensions_mut().insert(ConnectInfo(from));
        self.send(request).await
    }

    /// Logs in and returns the token (panics unless 200).
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self.login_from(CLIENT_ADDRESS, email, password).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "login as {email}: {}",
            response.text()
        );
        response.json()["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// The first administrator's token.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A minimal `POST /doctors` body.
    pub fn doctor_body(provider_id: i64, email: &str, password: &str) -> Value {
        json!({
            "provider_id": provider_id,
            "given_name": "Ana",
            "family_name": "Pérez",
            "email": email,
            "specialty_source_value": "cardiology",
            "password": password,
        })
    }

    /// The initial password an administrator gives a person the tests register with `password` as the
    /// one they choose at their first login.
    pub fn initial_password(password: &str) -> String {
        format!("initial {password}")
    }

    /// Registers a doctor as `admin_token` with an initial password, and then, as the doctor, replaces
    /// it with `password` (as every person registered by someone else must before anything else);
    /// returns the registration's 201 answer (panics otherwise).
    pub async fn register_doctor(
        &self,
        admin_token: &str,
        provider_id: i64,
        email: &str,
        password: &str,
    ) -> Value {
        let initial = TestGateway::initial_password(password);
        let response = self
            .post(
                "/api/v1/doctors",
                Some(admin_token),
                TestGateway::doctor_body(provider_id, email, &initial),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "register doctor {email}: {}",
            response.text()
        );
        self.enrol(email, &initial, password).await;
        response.json()
    }

    /// Logs in as a newly registered person with their `initial` password and replaces it with
    /// `password` (panics unless both succeed).
    pub async fn enrol(&self, email: &str, initial: &str, password: &str) {
        let token = self.login(email, initial).await;
        let changed = self
            .post(
                "/api/v1/auth/password",
                Some(&token),
                json!({"current_password": initial, "new_password": password}),
            )
            .await;
        assert_eq!(
            changed.status,
            StatusCode::NO_CONTENT,
            "{email} replaces the initial password: {}",
            changed.text()
        );
    }

    /// Registers doctor `provider_id` as `doctor{provider_id}@hospital.test` with [`DOCTOR_PASSWORD`]
    /// (logging in as the first administrator) and logs them in; returns their token and email.
    pub async fn doctor(&self, provider_id: i64) -> (String, String) {
        let admin = self.admin_token().await;
        let email = format!("doctor{provider_id}@hospital.test");
        self.register_doctor(&admin, provider_id, &email, DOCTOR_PASSWORD)
            .await;
        (self.login(&email, DOCTOR_PASSWORD).await, email)
    }
}

/// A browser for the web pages' tests: keeps cookies, posts forms with the page's CSRF token.
pub struct TestBrowser<'g> {
    gateway: &'g TestGateway,
    cookies: std::collections::BTreeMap<String, String>,
    /// Sent as `Accept-Language` when set.
    pub accept_language: Option<String>,
}

impl<'g> TestBrowser<'g> {
    pub fn new(gateway: &'g TestGateway) -> TestBrowser<'g> {
        TestBrowser {
            gateway,
            cookies: Default::default(),
            accept_language: None,
        }
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn remember(&mut self, response: &TestResponse) {
        for value in response.headers.get_all(header::SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let Some((pair, attributes)) = value.split_once(';').or(Some((value, ""))) else {
                continue;
            };
            let Some((name, content)) = pair.split_once('=') else {
                continue;
            };
            if content.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), content.to_owned());
            }
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(cookies) = self.cookie_header() {
            builder = builder.header(header::COOKIE, cookies);
        }
        if let Some(lang) = &self.accept_language {
            builder = builder.header(header::ACCEPT_LANGUAGE, lang);
        }
        let body = match form {
            Some(fields) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(serde_urlencoded::to_string(fields).expect("form encodes"))
            }
            None => Body::empty(),
        };
        let response = self
            .gateway
            .send(builder.body(body).expect("a request"))
            .await;
        self.remember(&response);
        response
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }

    /// Posts a form as is (add the `csrf` field yourself, or use [`TestBrowser::submit`]).
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        self.send(Method::POST, path, Some(fields)).await
    }

    /// Loads `page`, takes the CSRF token of its forms, and posts `fields` with it to `action`.
    pub async fn submit(
        &mut self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> TestResponse {
        let html = self.get(page).await.text();
        let csrf = csrf_of(&html).expect("the page has a form with a CSRF token");
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(action, &all).await
    }

    /// Logs in through the login page; returns the answer to the form (a redirect on success).
    pub async fn login(&mut self, email: &str, password: &str) -> TestResponse {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }
}

/// The value of the first `name="csrf"` hidden input in a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\"")?;
    let rest = &html[at..];
    let value = rest.find("value=\"")? + "value=\"".len();
    let end = rest[value..].find('"')?;
    Some(rest[value..value + end].to_owned())
}

/// Where a redirect points.
pub fn location(response: &TestResponse) -> Option<String> {
    response
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The value of the first attribute `name` in `html`, with the escapes askama writes undone; `None`
/// if no element has it.
pub fn attribute_of(html: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    let escapes = [
        ("&#43;", "+"),
        ("&#47;", "/"),
        ("&#61;", "="),
        ("&#34;", "\""),
        ("&#39;", "'"),
        ("&#60;", "<"),
        ("&#62;", ">"),
        // Last, so that an escaped "&" never starts another escape.
        ("&#38;", "&"),
    ];
    Some(
        escapes
            .iter()
            .fold(html[start..end].to_owned(), |text, (escape, character)| {
                text.replace(escape, character)
            }),
    )
}
