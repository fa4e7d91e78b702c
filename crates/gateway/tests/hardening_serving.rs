//! The server against a hostile network, over real sockets on 127.0.0.1 (the security review's
//! findings 4, 9, 11 and 13b). The failures this pins: connections that pile up until the node runs
//! out of file descriptors and stops answering its own health check; one address that takes every
//! connection; a header dripped for ever; a body dripped for ever; a page another site can frame or
//! inject scripts into; a session cookie that travels over plain HTTP; and metrics any passer-by can read.
//!
//! Every wait is a poll against a deadline; nothing sleeps for a condition. Limits are small and timeouts
//! short (configured per test), so each test takes a few seconds at most.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medledger_gateway::{Limits, Listeners, MetricsToken, ServeOptions, TlsConfig};
use medledger_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, DOCTOR_PASSWORD, TestBrowser, TestGateway};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// The loopback address the floods come from.
const FLOOD_FROM: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Another loopback address (Linux routes all of 127/8 to `lo`): a second client.
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// Bound on any one exchange the tests expect to succeed.
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// "At once": how soon a connection over a cap must be closed (well under any header timeout used).
const AT_ONCE: Duration = Duration::from_millis(700);
/// Bound on one attempt of a poll (a refused connection ends at once; a held one is given up).
const ATTEMPT_WAIT: Duration = Duration::from_millis(500);
/// A token long enough for [`MetricsToken::new`].
const METRICS_TOKEN: &str = "a-metrics-token-for-the-tests-only";

/// A gateway served on real sockets until dropped (or [`Served::stop`]).
struct Served {
    gateway: TestGateway,
    address: SocketAddr,
    operations: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Limits for the tests: the default request timeout, and `connections`, `per_address` and a header
/// timeout of `header_ms`.
fn limits(connections: u32, per_address: u32, header_ms: u64) -> Limits {
    Limits {
        connections_max: connections,
        connections_per_address_max: per_address,
        header_read_timeout: Duration::from_millis(header_ms),
        ..Limits::default()
    }
}

async fn serve(gateway: TestGateway, options: ServeOptions, with_operations: bool) -> Served {
    let any_port = SocketAddr::new(FLOOD_FROM, 0);
    let main = medledger_gateway::server::bind(any_port).expect("bind");
    let address = main.local_addr().expect("address");
    let (operations, operations_address) = if with_operations {
        let listener = medledger_gateway::server::bind(any_port).expect("bind");
        let address = listener.local_addr().expect("address");
        (Some(listener), Some(address))
    } else {
        (None, None)
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(medledger_gateway::serve_with(
        Listeners { main, operations },
        gateway.state.clone(),
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    Served {
        gateway,
        address,
        operations: operations_address,
        stop: Some(stop),
        task: Some(task),
    }
}

impl Served {
    /// Stops the server and waits (bounded) for `serve_with` to return.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(ANSWER_WAIT * 2, task)
                .await
                .expect("the server stops")
                .expect("the server task")
                .expect("the server returns Ok");
        }
    }
}

/// A connection to `to` from the local address `from`.
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    socket.connect(to).await.expect("connect")
}

/// An answer, read whole.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The header lines, as sent.
    head: String,
    body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if there is one.
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn headers(&self, name: &str) -> Vec<&str> {
        self.head
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name).then(|| value.trim())
            })
            .collect()
    }
}

/// Sends `request` (the rest of an HTTP/1.1 request with `Connection: close`) on `stream` and reads
/// the answer to its end, within `wait`; `None` if there is no answer (closed, reset, too slow).
async fn try_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
    wait: Duration,
) -> Option<Answer> {
    let read = async {
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut bytes = Vec::new();
        // A TLS peer may end without close_notify; what was read is the answer.
        let _ = stream.read_to_end(&mut bytes).await;
        Some(bytes)
    };
    let bytes = tokio::time::timeout(wait, read).await.ok()??;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    Some(Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// [`try_exchange`] within [`ANSWER_WAIT`], which must answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: S, request: &str) -> Answer {
    try_exchange(stream, request, ANSWER_WAIT)
        .await
        .expect("an answer in time")
}

fn get_request(path: &str, extra_headers: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: medledger.test\r\n{extra_headers}Connection: close\r\n\r\n"
    )
}

async fn get_from(from: IpAddr, to: SocketAddr, path: &str) -> Answer {
    exchange(connect_from(from, to).await, &get_request(path, "")).await
}

/// `count` connections from [`FLOOD_FROM`], each having sent an unfinished header.
async fn unfinished_headers(to: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = connect_from(FLOOD_FROM, to).await;
        // The server may already have closed an over-limit connection: a failed write is fine.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: medledger.test\r\nX-Slow: ")
            .await;
        streams.push(stream);
    }
    streams
}

/// Watches each stream, from now on, until the server closes it (end of stream or reset; any bytes
/// are skipped) or until `deadline` after `since`.
fn watch_closing(
    streams: Vec<TcpStream>,
    since: Instant,
    deadline: Duration,
) -> Vec<JoinHandle<Option<Duration>>> {
    streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let closed = async {
                    let mut buffer = [0u8; 512];
                    loop {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return since.elapsed(),
                            Ok(_) => continue,
                        }
                    }
                };
                tokio::time::timeout(deadline.saturating_sub(since.elapsed()), closed)
                    .await
                    .ok()
            })
        })
        .collect()
}

/// Each watched stream's closing time after `since`, `None` for one still open at the deadline.
async fn closing_times(watchers: Vec<JoinHandle<Option<Duration>>>) -> Vec<Option<Duration>> {
    let mut times = Vec::with_capacity(watchers.len());
    for watcher in watchers {
        times.push(watcher.await.expect("watcher"));
    }
    times
}

fn closed_within(times: &[Option<Duration>], within: Duration) -> usize {
    times
        .iter()
        .filter(|t| t.is_some_and(|t| t <= within))
        .count()
}

/// Polls `GET /healthz` on `to` from `from` until it answers 200 or `wait` has passed; returns how
/// long it took.
async fn healthz_answers_within(from: IpAddr, to: SocketAddr, wait: Duration) -> Option<Duration> {
    let began = Instant::now();
    while began.elapsed() < wait {
        let stream = connect_from(from, to).await;
        let answer = try_exchange(stream, &get_request("/healthz", ""), ATTEMPT_WAIT).await;
        if answer.is_some_and(|answer| answer.status == 200) {
            return Some(began.elapsed());
        }
        tokio::task::yield_now().await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unfinished_headers_is_capped_and_the_health_check_still_answers() {
    const CAP: u32 = 64;
    const FLOOD: usize = 200;
    const HEADER_MS: u64 = 2_000;
    let served = serve(
        TestGateway::start().await,
        ServeOptions {
            limits: limits(CAP, CAP, HEADER_MS),
            ..ServeOptions::default()
        },
        true,
    )
    .await;
    let began = Instant::now();
    let flood = unfinished_headers(served.address, FLOOD).await;
    let watch = watch_closing(flood, began, Duration::from_millis(HEADER_MS) + ANSWER_WAIT);
    let operations = served.operations.expect("an operations address");

    // The node's own health check on the operations address answers while the main one is full.
    let health = healthz_answers_within(FLOOD_FROM, operations, ANSWER_WAIT)
        .await
        .expect("/healthz answers on the operations address under the flood");
    assert!(health < Duration::from_secs(1), "answered after {health:?}");

    let times = closing_times(watch).await;
    // Over the cap: closed at once, before the header timeout.
    let at_once = closed_within(&times, AT_ONCE);
    assert!(
        at_once >= FLOOD - CAP as usize,
        "{at_once} of {FLOOD} closed at once; the cap is {CAP}: {times:?}"
    );
    // The rest: cut by the header timeout, none of them left open.
    assert!(times.iter().all(Option::is_some), "{times:?}");
    let last = times.iter().flatten().max().copied().unwrap_or_default();
    assert!(
        last >= Duration::from_millis(HEADER_MS) - Duration::from_millis(200),
        "the admitted ones were held until the header timeout, not {last:?}"
    );

    // The main address answers again once the flood's connections are cut.
    let health = healthz_answers_within(FLOOD_FROM, served.address, ANSWER_WAIT).await;
    assert!(
        health.is_some(),
        "/healthz answers on the main address again"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    const CAP: u32 = 64;
    const PER_ADDRESS: u32 = 16;
    const FLOOD: usize = 100;
    let served = serve(
        TestGateway::start().await,
        ServeOptions {
            limits: limits(CAP, PER_ADDRESS, 3_000),
            ..ServeOptions::default()
        },
        false,
    )
    .await;
    let began = Instant::now();
    let flood = unfinished_headers(served.address, FLOOD).await;
    let watch = watch_closing(flood, began, AT_ONCE + Duration::from_millis(300));

    // Another address gets its answer on the main address while the flood is held.
    let health = healthz_answers_within(OTHER_CLIENT, served.address, ANSWER_WAIT)
        .await
        .expect("/healthz answers another address");
    assert!(health < Duration::from_secs(1), "answered after {health:?}");

    let times = closing_times(watch).await;
    let at_once = closed_within(&times, AT_ONCE);
    assert_eq!(
        at_once,
        FLOOD - PER_ADDRESS as usize,
        "all but the address's {PER_ADDRESS} are closed at once"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripped_header_and_an_idle_connection_are_cut_after_the_header_timeout() {
    const HEADER_MS: u64 = 600;
    let header_timeout = Duration::from_millis(HEADER_MS);
    let served = serve(
        TestGateway::start().await,
        ServeOptions {
            limits: limits(64, 16, HEADER_MS),
            ..ServeOptions::default()
        },
        false,
    )
    .await;

    // One byte every 50 ms, for at most 5 s (100 bytes): the server must cut it long before.
    let mut stream = connect_from(FLOOD_FROM, served.address).await;
    let header = b"GET /healthz HTTP/1.1\r\nHost: medledger.test\r\nX-Drip: ".iter();
    let filler = std::iter::repeat(&b'a');
    let began = Instant::now();
    let mut cut_after = None;
    for byte in header.chain(filler).take(100) {
        if stream.write_all(&[*byte]).await.is_err() {
            cut_after = Some(began.elapsed());
            break;
        }
        // The drip's pace: wait 50 ms for the server to close (an answer such as 408 is skipped).
        let mut buffer = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buffer)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            cut_after = Some(began.elapsed());
            break;
        }
    }
    let cut_after = cut_after.expect("the dripped header is cut");
    assert!(
        cut_after >= header_timeout - Duration::from_millis(100)
            && cut_after < header_timeout + Duration::from_secs(1),
        "cut after {cut_after:?}; the header timeout is {header_timeout:?}"
    );

    // A kept-alive connection that has had its answer and then says nothing is closed as well.
    let mut stream = connect_from(FLOOD_FROM, served.address).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: medledger.test\r\n\r\n")
        .await
        .expect("send");
    let answered = Instant::now();
    let mut received = Vec::new();
    let closed = tokio::time::timeout(ANSWER_WAIT, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return answered.elapsed(),
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("the idle connection is closed");
    assert!(
        String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"),
        "answered first"
    );
    assert!(
        closed >= header_timeout - Duration::from_millis(100),
        "closed after {closed:?}, before the header timeout"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripped_body_is_answered_503_at_the_request_timeout() {
    const REQUEST_MS: u64 = 700;
    let served = serve(
        TestGateway::start().await,
        ServeOptions {
            // Below the commit wait only here, to see the timeout fire quickly (`Limits::check`
            // refuses it for `medledger up`).
            limits: Limits {
                request_timeout: Duration::from_millis(REQUEST_MS),
                ..limits(64, 16, 5_000)
            },
            ..ServeOptions::default()
        },
        false,
    )
    .await;
    let mut stream = connect_from(FLOOD_FROM, served.address).await;
    let began = Instant::now();
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: medledger.test\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"email\":",
        )
        .await
        .expect("send");
    let answer = exchange(stream, "").await;
    let took = began.elapsed();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.body.contains("\"unavailable\""), "{}", answer.body);
    assert!(
        took >= Duration::from_millis(REQUEST_MS) - Duration::from_millis(100)
            && took < Duration::from_millis(REQUEST_MS) + Duration::from_secs(2),
        "answered after {took:?}"
    );
    served.stop().await;
}

/// The four headers (and a strict policy) on an answer.
#[track_caller]
fn assert_security_headers(what: &str, header: impl Fn(&str) -> Option<String>) {
    let policy = header("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{what}: {directive} in {policy}"
        );
    }
    assert!(!policy.contains("unsafe-inline"), "{what}: {policy}");
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{what}");
    assert_eq!(
        header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header("referrer-policy").as_deref(),
        Some("same-origin"),
        "{what}"
    );
}

/// What a strict policy would block in a page: inline scripts, inline styles, event handlers.
fn inline_code(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for (i, _) in lower.match_indices("<script") {
        let tag_end = lower[i..].find('>').map_or(lower.len(), |end| i + end);
        if !lower[i..tag_end].contains(" src=") {
            found.push(html[i..tag_end.min(i + 80)].to_owned());
        }
    }
    for needle in ["<style", " style=", "javascript:"] {
        if let Some(i) = lower.find(needle) {
            found.push(html[i..(i + 80).min(html.len())].to_owned());
        }
    }
    // ` onclick=`, ` onload=`, …: an attribute named on… inside a tag.
    for (i, _) in lower.match_indices(" on") {
        let rest = &lower[i + 3..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let in_tag = lower[..i].rfind('<') > lower[..i].rfind('>');
        if !name.is_empty() && rest[name.len()..].starts_with('=') && in_tag {
            found.push(html[i..(i + 40).min(html.len())].to_owned());
        }
    }
    found
}

#[tokio::test]
async fn every_page_and_api_answer_has_the_security_headers_and_no_inline_code() {
    let gateway = TestGateway::start().await;
    let admin = gateway.admin_token().await;
    let (doctor, email) = gateway.doctor(10).await;
    let patient = json!({
        "person_id": 7, "gender_concept_id": 8532, "year_of_birth": 1980, "race_concept_id": 0,
        "ethnicity_concept_id": 0, "given_name": "María", "family_name": "Pérez",
    });
    let created = gateway
        .post("/api/v1/patients", Some(&doctor), patient)
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text());
    let note = json!({
        "note_id": 100, "person_id": 7, "note_date": "2024-05-30", "note_type_concept_id": 44814645,
        "note_class_concept_id": 44814639, "note_text": "Cefalea\nde tres días.",
        "encoding_concept_id": 32678, "language_concept_id": 4182511,
    });
    let note = gateway.post("/api/v1/notes", Some(&doctor), note).await;
    assert_eq!(note.status.as_u16(), 201, "{}", note.text());
    let amended = gateway
        .post(
            "/api/v1/notes/100/amendments",
            Some(&doctor),
            json!({"changes": {"note_text": "Cefalea\nde tres días, sin fiebre."}, "reason": "precisión"}),
        )
        .await;
    assert_eq!(amended.status.as_u16(), 201, "{}", amended.text());
    let tx_id = amended.json()["tx_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Pages, anonymous and as the doctor (the chart is what was framed).
    let mut anonymous = TestBrowser::new(&gateway);
    let mut browser = TestBrowser::new(&gateway);
    browser.login(&email, DOCTOR_PASSWORD).await;
    let mut pages = vec![
        ("login", anonymous.get("/login").await),
        ("home, anonymous", anonymous.get("/").await),
        ("app.js", anonymous.get("/static/app.js").await),
        ("app.css", anonymous.get("/static/app.css").await),
    ];
    let proof_page = format!("/explorer/tx/{tx_id}");
    for path in [
        "/patients",
        "/patients/7",
        "/patients/7/history",
        "/patients/7/notes/new",
        "/notes/100/history",
        "/explorer",
        &proof_page,
        "/password",
        "/no/such/page",
    ] {
        pages.push((path, browser.get(path).await));
    }
    let mut admin_browser = TestBrowser::new(&gateway);
    admin_browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    pages.push(("/doctors", admin_browser.get("/doctors").await));
    pages.push(("/admins", admin_browser.get("/admins").await));
    // API answers: success, problem, document, health.
    pages.push((
        "GET /api/v1/patients/7",
        gateway.get("/api/v1/patients/7", Some(&doctor)).await,
    ));
    pages.push((
        "GET /api/v1/admins (doctor)",
        gateway.get("/api/v1/admins", Some(&doctor)).await,
    ));
    pages.push((
        "GET /api/v1/admins",
        gateway.get("/api/v1/admins", Some(&admin)).await,
    ));
    pages.push((
        "openapi.json",
        gateway.get("/api/v1/openapi.json", None).await,
    ));
    pages.push(("/healthz", gateway.get("/healthz", None).await));
    pages.push((
        "/metrics on the operations address",
        gateway.get_operations("/metrics").await,
    ));

    for (what, response) in &pages {
        assert_security_headers(what, |name| {
            response
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let is_html = response
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if is_html {
            let inline = inline_code(&response.text());
            assert!(inline.is_empty(), "{what} has inline code: {inline:?}");
        }
    }
    // The chart and the explorer's proof page really were rendered (not a redirect to the login).
    let rendered = |path: &str| {
        pages
            .iter()
            .find(|(what, _)| *what == path)
            .is_some_and(|(_, r)| r.status.as_u16() == 200 && r.text().contains("<main"))
    };
    assert!(rendered("/patients/7"), "the chart renders");
    assert!(rendered(&proof_page), "the explorer renders");
    assert!(rendered("/patients/7/history"), "the history renders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_with_a_secure_session_cookie_and_the_headers() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let certificate_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let tls = TlsConfig::from_pem(certificate_pem.as_bytes(), key_pem.as_bytes()).expect("tls");
    let served = serve(
        TestGateway::start_with_secure_cookies().await,
        ServeOptions {
            tls: Some(tls),
            ..ServeOptions::default()
        },
        false,
    )
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            certified.cert.der().to_vec(),
        ))
        .expect("root");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let https = |request: String| {
        let connector = connector.clone();
        let address = served.address;
        async move {
            let tcp = connect_from(FLOOD_FROM, address).await;
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let stream = tokio::time::timeout(ANSWER_WAIT, connector.connect(name, tcp))
                .await
                .expect("handshake in time")
                .expect("the handshake succeeds");
            exchange(stream, &request).await
        }
    };

    let health = https(get_request("/healthz", "")).await;
    assert_eq!(health.status, 200, "{health:?}");
    assert_security_headers("/healthz over TLS", |name| {
        health.header(name).map(str::to_owned)
    });
    assert_eq!(
        health.header("strict-transport-security"),
        Some(medledger_gateway::headers::STRICT_TRANSPORT_SECURITY)
    );

    // The web login over TLS: its session cookie is `Secure` (the API takes bearer tokens and sets no
    // cookie).
    let form = https(get_request("/login", "")).await;
    assert_eq!(form.status, 200, "{form:?}");
    let csrf = medledger_testkit::csrf_of(&form.body).expect("a login form");
    let login_cookie = form
        .headers("set-cookie")
        .into_iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|p| p.starts_with("medledger_login_csrf="))
                .map(str::to_owned)
        })
        .expect("the login form's cookie");
    let body = format!(
        "email={}&password={}&csrf={csrf}&next=",
        ADMIN_EMAIL.replace('@', "%40"),
        ADMIN_PASSWORD.replace(' ', "+")
    );
    let login = https(format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nCookie: {login_cookie}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    assert_eq!(login.status, 303, "{login:?}");
    let session: Vec<String> = login
        .headers("set-cookie")
        .into_iter()
        .filter(|c| c.starts_with("medledger_session="))
        .map(str::to_owned)
        .collect();
    assert_eq!(session.len(), 1, "{login:?}");
    for cookie in session {
        let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
        assert!(attributes.contains(&"Secure"), "{cookie}");
        assert!(attributes.contains(&"HttpOnly"), "{cookie}");
    }

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = connect_from(FLOOD_FROM, served.address).await;
    let _ = plain
        .write_all(get_request("/healthz", "").as_bytes())
        .await;
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(ANSWER_WAIT, plain.read_to_end(&mut bytes)).await;
    assert!(
        !String::from_utf8_lossy(&bytes).contains("200 OK"),
        "{bytes:?}"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_the_main_address_unless_asked_and_on_the_operations_address() {
    // Nothing configured: no /metrics anywhere; health and readiness on the main address.
    let served = serve(TestGateway::start().await, ServeOptions::default(), false).await;
    let metrics = get_from(OTHER_CLIENT, served.address, "/metrics").await;
    assert_eq!(metrics.status, 404, "{metrics:?}");
    assert!(!metrics.body.contains("medledger_"), "{}", metrics.body);
    assert_eq!(
        get_from(OTHER_CLIENT, served.address, "/healthz")
            .await
            .status,
        200
    );
    assert_eq!(
        get_from(OTHER_CLIENT, served.address, "/readyz")
            .await
            .status,
        200
    );
    served.stop().await;

    // An operations address: /metrics, /healthz, /readyz there; still no /metrics on the main one.
    let served = serve(TestGateway::start().await, ServeOptions::default(), true).await;
    let operations = served.operations.expect("operations");
    let metrics = get_from(FLOOD_FROM, operations, "/metrics").await;
    assert_eq!(metrics.status, 200, "{metrics:?}");
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/openmetrics-text")),
        "{metrics:?}"
    );
    assert!(
        metrics.body.contains("medledger_ready 1"),
        "{}",
        metrics.body
    );
    assert_eq!(
        get_from(FLOOD_FROM, operations, "/healthz").await.status,
        200
    );
    assert_eq!(
        get_from(FLOOD_FROM, operations, "/readyz").await.status,
        200
    );
    assert_eq!(
        get_from(FLOOD_FROM, operations, "/api/v1/openapi.json")
            .await
            .status,
        404,
        "the operations address serves nothing else"
    );
    assert_eq!(
        get_from(FLOOD_FROM, served.address, "/metrics")
            .await
            .status,
        404
    );
    served.stop().await;

    // A token: /metrics on the main address, only with it.
    let token = MetricsToken::new(METRICS_TOKEN.to_owned()).expect("token");
    let served = serve(
        TestGateway::start().await,
        ServeOptions {
            metrics_token: Some(token),
            ..ServeOptions::default()
        },
        false,
    )
    .await;
    let ask = |authorization: &str| {
        let address = served.address;
        let headers = authorization.to_owned();
        async move {
            exchange(
                connect_from(OTHER_CLIENT, address).await,
                &get_request("/metrics", &headers),
            )
            .await
        }
    };
    let anonymous = ask("").await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert!(anonymous.header("www-authenticate").is_some());
    assert_eq!(
        ask("Authorization: Bearer not-the-metrics-token-at-all-no\r\n")
            .await
            .status,
        401
    );
    let with_token = ask(&format!("Authorization: Bearer {METRICS_TOKEN}\r\n")).await;
    assert_eq!(with_token.status, 200, "{with_token:?}");
    assert!(
        with_token.body.contains("medledger_"),
        "{}",
        with_token.body
    );
    served.stop().await;

    assert!(MetricsToken::new("short".to_owned()).is_err());
    assert!(MetricsToken::new("has a space in it, which headers mangle".to_owned()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish_and_closes_idle_connections() {
    let served = serve(TestGateway::start().await, ServeOptions::default(), false).await;
    // An idle kept-alive connection and a request whose body is still coming.
    let mut idle = connect_from(FLOOD_FROM, served.address).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: medledger.test\r\n\r\n")
        .await
        .expect("send");
    let mut buffer = [0u8; 1024];
    let n = tokio::time::timeout(ANSWER_WAIT, idle.read(&mut buffer))
        .await
        .expect("answer in time")
        .expect("read");
    assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));

    let body = format!(r#"{{"email":"{ADMIN_EMAIL}","password":"{ADMIN_PASSWORD}"}}"#);
    let (first, rest) = body.split_at(10);
    let mut in_flight = connect_from(FLOOD_FROM, served.address).await;
    in_flight
        .write_all(
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: medledger.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{first}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .expect("send");
    // `100 Continue` comes when the handler starts reading the body: the request is in flight.
    let mut interim = Vec::new();
    tokio::time::timeout(ANSWER_WAIT, async {
        while !interim.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if in_flight.read(&mut byte).await.expect("read") == 0 {
                break;
            }
            interim.push(byte[0]);
        }
    })
    .await
    .expect("100 Continue in time");
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{interim:?}");
    let Served {
        gateway,
        stop,
        task,
        address,
        ..
    } = served;
    let _ = stop.map(|stop| stop.send(()));
    // The idle connection is closed by the shutdown.
    let closed = tokio::time::timeout(ANSWER_WAIT, idle.read(&mut buffer)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "{closed:?}");
    // The request in flight still gets its answer: logged in, or (if the handler saw the drain
    // first) the service's 503; never a dropped connection.
    let answer = exchange(in_flight, rest).await;
    assert!(
        answer.status == 200 || answer.body.contains("\"unavailable\""),
        "{answer:?}"
    );
    if let Some(task) = task {
        tokio::time::timeout(ANSWER_WAIT, task)
            .await
            .expect("serve returns")
            .expect("task")
            .expect("Ok");
    }
    // Nothing listens any more.
    assert!(TcpStream::connect(address).await.is_err());
    drop(gateway);
}
