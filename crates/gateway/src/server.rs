//! The HTTP server: an accept loop per address that admits a connection only under the connection caps
//! ([`Limits`]), then serves it with hyper's HTTP/1.1 server (with a header timeout), over TLS when
//! configured. What a hostile network can do against it, and what stops it:
//!
//! - Open many connections and send nothing, or an unfinished header, or drip a header byte by byte
//!   (slowloris): each connection has [`Limits::header_read_timeout`] from its first byte of the TLS
//!   handshake or from its previous answer to send a whole header, then it is closed; at most
//!   [`Limits::connections_max`] are open at once and at most [`Limits::connections_per_address_max`]
//!   from one address (IPv6: one /64), so one address cannot take them all. Over a cap, a new
//!   connection is closed at once, before anything is read: the node's open files stay bounded.
//! - Drip a body, or make a request that takes forever: the application's request timeout
//!   ([`Limits::request_timeout`], in [`crate::app_with`]) answers 503.
//! - Keep a connection idle: hyper's header timer runs while a kept-alive connection waits for its
//!   next request, so idle connections close after the same header timeout.
//!
//! Shutdown stops the accept loops, lets every connection finish its request in flight (idle ones
//! close at once), and waits for them at most the request timeout plus [`SHUTDOWN_WRITE_GRACE_MS`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

/// Connections open at once on the main address, by default. A browser opens at most 6 connections to a
/// host, so this is some 80 people at the same moment, more than a hospital's node serves; and with
/// [`FILES_RESERVED`] and the operations address it stays under the open-file limit most systems give a
/// process (1024), so the node never runs out of file descriptors ("Too many open files").
pub const CONNECTIONS_MAX: u32 = 512;

/// Connections open at once from one address (an IPv6 /64 counts as one), by default: a person's
/// browser needs 6; a ward's workstations behind one NAT address a few dozen. One address cannot
/// take the whole of [`CONNECTIONS_MAX`]. (Behind a proxy every connection is the proxy's: raise it.)
pub const CONNECTIONS_PER_ADDRESS_MAX: u32 = 64;

/// How long a client has to send a whole request header, by default: from connecting (and again for
/// the TLS handshake) or from the previous answer on a kept-alive connection, so it is also how long an
/// idle connection stays open. A real client sends its header at once; 10 s allows a slow mobile link.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;

/// How long the application may take over one request, by default, reading its body included. Writes
/// wait for their commit up to [`medledger_node::COMMIT_WAIT_MS_MAX`] (30 s); this is twice that, so a
/// write is never cut while the node may still commit it, and a dripped body ends in at most a minute.
pub const REQUEST_TIMEOUT_MS: u64 = 60_000;

const _: () = assert!(REQUEST_TIMEOUT_MS > medledger_node::COMMIT_WAIT_MS_MAX);
const _: () = assert!(CONNECTIONS_PER_ADDRESS_MAX <= CONNECTIONS_MAX);

/// Connections open at once on the operations address: a metrics scraper and a health checker need
/// one or two each. Separate from [`CONNECTIONS_MAX`], so a flood of the main address never stops the
/// node's own health check there.
pub const OPERATIONS_CONNECTIONS_MAX: u32 = 16;

/// Open files the process needs besides its connections: the ledger and the wallet, the listeners,
/// the standard streams, the runtime's own descriptors, with room to spare.
pub const FILES_RESERVED: u64 = 64;

/// How long shutdown waits, past the request timeout, for connections to finish writing their last
/// answer (a client that does not read it is then dropped).
pub const SHUTDOWN_WRITE_GRACE_MS: u64 = 5_000;

/// Connections the kernel queues for the accept loop. The loop takes them in microseconds (and closes
/// those over a cap at once), but a burst faster than that finds a short queue full, and a refused SYN
/// waits a whole second to retry; the standard library's default is 128. (The kernel caps it at
/// `net.core.somaxconn`.)
pub const LISTEN_BACKLOG: u32 = 1024;

/// After an accept error (such as running out of file descriptors), the loop waits this long before
/// accepting again, rather than spinning.
const ACCEPT_ERROR_BACKOFF_MS: u64 = 100;

/// Refused connections are logged at most once per this interval (with a count), so a flood does not
/// also flood the log.
const REFUSAL_LOG_INTERVAL_MS: u64 = 10_000;

/// The limits on connections and requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once on the main address ([`CONNECTIONS_MAX`]).
    pub connections_max: u32,
    /// Connections open at once from one address ([`CONNECTIONS_PER_ADDRESS_MAX`]).
    pub connections_per_address_max: u32,
    /// The time to send a whole header; also the idle limit ([`HEADER_READ_TIMEOUT_MS`]).
    pub header_read_timeout: Duration,
    /// The application's time for one request ([`REQUEST_TIMEOUT_MS`]).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections_max: CONNECTIONS_MAX,
            connections_per_address_max: CONNECTIONS_PER_ADDRESS_MAX,
            header_read_timeout: Duration::from_millis(HEADER_READ_TIMEOUT_MS),
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS),
        }
    }
}

/// A [`Limits`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("the connection cap must be at least 1")]
    NoConnections,
    #[error("the per-address connection cap must be between 1 and the connection cap ({0})")]
    PerAddress(u32),
    #[error("the header timeout must be at least 1 ms")]
    NoHeaderTime,
    #[error(
        "the request timeout must be over the node's commit wait ({} ms), or writes that will still commit are cut",
        medledger_node::COMMIT_WAIT_MS_MAX
    )]
    RequestTimeoutUnderCommitWait,
}

impl Limits {
    /// Checks that the limits can serve: caps of at least 1, a per-address cap within the total, a
    /// header timeout, and a request timeout over the node's commit wait.
    pub fn check(&self) -> Result<(), LimitsError> {
        if self.connections_max == 0 {
            return Err(LimitsError::NoConnections);
        }
        if self.connections_per_address_max == 0
            || self.connections_per_address_max > self.connections_max
        {
            return Err(LimitsError::PerAddress(self.connections_max));
        }
        if self.header_read_timeout.is_zero() {
            return Err(LimitsError::NoHeaderTime);
        }
        if self.request_timeout <= Duration::from_millis(medledger_node::COMMIT_WAIT_MS_MAX) {
            return Err(LimitsError::RequestTimeoutUnderCommitWait);
        }
        Ok(())
    }

    /// These limits with the connection cap lowered, if needed, so that the connections of both
    /// addresses and [`FILES_RESERVED`] fit in `open_files_max`; the per-address cap stays within it.
    pub fn within_open_files(mut self, open_files_max: u64) -> Limits {
        let reserved = FILES_RESERVED + u64::from(OPERATIONS_CONNECTIONS_MAX);
        let room = u32::try_from(open_files_max.saturating_sub(reserved))
            .unwrap_or(u32::MAX)
            .max(1);
        self.connections_max = self.connections_max.min(room);
        self.connections_per_address_max = self
            .connections_per_address_max
            .min(self.connections_max)
            .max(1);
        self
    }
}

/// A listener on `address` with a queue of [`LISTEN_BACKLOG`] connections.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As the standard library does: a restarted node can listen again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The process's soft limit on open files, where the system tells it (Linux: `/proc/self/limits`);
/// `None` if unknown or unlimited.
pub fn open_files_max() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    // "Max open files            1024                 524288               files"
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The key connections are counted under: the IP address, with an IPv4-mapped IPv6 address as its
/// IPv4 form and an IPv6 address cut to its /64 (one host or LAN commonly holds a whole /64).
fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// [`Limits::connections_max`] connections are open.
    Full,
    /// [`Limits::connections_per_address_max`] connections are open from this address.
    AddressFull,
}

/// The connection caps of one listener: a semaphore of all connections and a count per address. The
/// map holds only addresses with a connection open, each of which holds a permit, so it has at most
/// `connections_max` entries.
struct Gate {
    permits: Arc<Semaphore>,
    connections_max: u32,
    per_address_max: u32,
    per_address: Mutex<HashMap<IpAddr, u32>>,
}

/// An admitted connection: while it lives, it holds a permit and counts against its address.
struct Admission {
    gate: Arc<Gate>,
    key: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Gate {
    fn new(connections_max: u32, per_address_max: u32) -> Arc<Gate> {
        Arc::new(Gate {
            permits: Arc::new(Semaphore::new(connections_max as usize)),
            connections_max,
            per_address_max,
            per_address: Mutex::new(HashMap::new()),
        })
    }

    fn admit(self: &Arc<Gate>, address: IpAddr) -> Result<Admission, Refusal> {
        let permit = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| Refusal::Full)?;
        let key = address_key(address);
        let mut counts = self
            .per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.get(&key).copied().unwrap_or(0);
        if count >= self.per_address_max {
            return Err(Refusal::AddressFull);
        }
        counts.insert(key, count + 1);
        debug_assert!(counts.len() <= self.connections_max as usize);
        Ok(Admission {
            gate: Arc::clone(self),
            key,
            _permit: permit,
        })
    }

    /// Waits until every admitted connection has ended, at most `wait`; returns how many are still
    /// open then.
    async fn drained(&self, wait: Duration) -> u32 {
        match tokio::time::timeout(wait, self.permits.acquire_many(self.connections_max)).await {
            Ok(_) => 0,
            Err(_) => self
                .connections_max
                .saturating_sub(u32::try_from(self.permits.available_permits()).unwrap_or(0)),
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self
            .gate
            .per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// One listening address and what it serves.
pub(crate) struct Endpoint {
    pub(crate) listener: TcpListener,
    pub(crate) app: Router,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    gate: Arc<Gate>,
    header_read_timeout: Duration,
    /// How long shutdown waits for this endpoint's connections.
    shutdown_wait: Duration,
    /// "the main address" or "the operations address", for the log.
    name: &'static str,
}

impl Endpoint {
    pub(crate) fn new(
        listener: TcpListener,
        app: Router,
        tls: Option<tokio_rustls::TlsAcceptor>,
        connections_max: u32,
        connections_per_address_max: u32,
        limits: &Limits,
        name: &'static str,
    ) -> Endpoint {
        Endpoint {
            listener,
            app,
            tls,
            gate: Gate::new(connections_max, connections_per_address_max),
            header_read_timeout: limits.header_read_timeout,
            shutdown_wait: limits.request_timeout + Duration::from_millis(SHUTDOWN_WRITE_GRACE_MS),
            name,
        }
    }

    /// Accepts and serves connections until `stop` turns true; then waits for the open connections to
    /// finish (at most `shutdown_wait`).
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut refusals = RefusalLog::default();
        loop {
            let accepted = tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, or of memory: wait rather than spin.
                    tracing::error!("accept error on {}: {e}", self.name);
                    tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_BACKOFF_MS)).await;
                    continue;
                }
            };
            let admission = match self.gate.admit(peer.ip()) {
                Ok(admission) => admission,
                Err(refusal) => {
                    // Closed before anything is read: the descriptor is freed at once.
                    drop(stream);
                    refusals.note(refusal, self.name);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let connection = Connection {
                app: self.app.clone(),
                peer,
                header_read_timeout: self.header_read_timeout,
                stop: stop.clone(),
            };
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let _admission = admission;
                connection.serve(stream, tls).await;
            });
        }
        drop(self.listener);
        let open = self.gate.drained(self.shutdown_wait).await;
        if open > 0 {
            tracing::warn!(
                "{}: {open} connections still open after {} ms; dropping them",
                self.name,
                self.shutdown_wait.as_millis()
            );
        }
    }
}

/// Errors of one incoming connection (the peer gave up before it was accepted), not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Counts refused connections and logs them at most once per [`REFUSAL_LOG_INTERVAL_MS`].
#[derive(Default)]
struct RefusalLog {
    full: u64,
    address_full: u64,
    last: Option<Instant>,
}

impl RefusalLog {
    fn note(&mut self, refusal: Refusal, name: &str) {
        match refusal {
            Refusal::Full => self.full += 1,
            Refusal::AddressFull => self.address_full += 1,
        }
        let due = self
            .last
            .is_none_or(|last| last.elapsed() >= Duration::from_millis(REFUSAL_LOG_INTERVAL_MS));
        if due {
            tracing::warn!(
                "{name}: refused {} connections over the connection cap and {} over the per-address cap",
                self.full,
                self.address_full
            );
            self.full = 0;
            self.address_full = 0;
            self.last = Some(Instant::now());
        }
    }
}

/// One admitted connection.
struct Connection {
    app: Router,
    peer: SocketAddr,
    header_read_timeout: Duration,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream, tls: Option<tokio_rustls::TlsAcceptor>) {
        let Some(acceptor) = tls else {
            return self.serve_http(stream).await;
        };
        let handshake = tokio::time::timeout(self.header_read_timeout, acceptor.accept(stream));
        let outcome = tokio::select! {
            outcome = handshake => outcome,
            _ = self.stop.wait_for(|stopping| *stopping) => return,
        };
        match outcome {
            Ok(Ok(stream)) => self.serve_http(stream).await,
            Ok(Err(e)) => tracing::debug!("TLS handshake with {} failed: {e}", self.peer),
            Err(_) => tracing::debug!("TLS handshake with {} timed out", self.peer),
        }
    }

    async fn serve_http<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let app = self.app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // The front ends read the client's address from here (login limits, logs).
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                app.oneshot(request.map(axum::body::Body::new))
                    .await
                    .map_err(|never: Infallible| match never {})
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let outcome = tokio::select! {
            outcome = connection.as_mut() => Some(outcome),
            _ = self.stop.wait_for(|stopping| *stopping) => None,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => {
                // Finish the request in flight, then close; an idle connection closes now.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = outcome {
            tracing::debug!("connection from {peer} ended: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_by_host_and_ipv6_by_64() {
        let v4: IpAddr = "192.0.2.7".parse().expect("v4");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("mapped");
        assert_eq!(address_key(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("v6");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("v6");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("v6");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
    }

    #[test]
    fn the_gate_counts_per_address_and_forgets_closed_connections() {
        let gate = Gate::new(3, 2);
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        let two: IpAddr = "192.0.2.2".parse().expect("ip");
        let a = gate.admit(one).expect("first");
        let b = gate.admit(one).expect("second");
        assert_eq!(gate.admit(one).err(), Some(Refusal::AddressFull));
        let c = gate.admit(two).expect("another address");
        assert_eq!(gate.admit(two).err(), Some(Refusal::Full));
        drop((a, b, c));
        let counts = gate.per_address.lock().expect("lock");
        assert!(counts.is_empty(), "{counts:?}");
        assert_eq!(gate.permits.available_permits(), 3);
    }

    #[test]
    fn limits_are_checked_and_fit_the_open_file_limit() {
        assert_eq!(Limits::default().check(), Ok(()));
        let short = Limits {
            request_timeout: Duration::from_millis(medledger_node::COMMIT_WAIT_MS_MAX),
            ..Limits::default()
        };
        assert_eq!(
            short.check(),
            Err(LimitsError::RequestTimeoutUnderCommitWait)
        );
        let wide = Limits {
            connections_per_address_max: CONNECTIONS_MAX + 1,
            ..Limits::default()
        };
        assert_eq!(wide.check(), Err(LimitsError::PerAddress(CONNECTIONS_MAX)));
        let fitted = Limits::default().within_open_files(256);
        assert_eq!(
            u64::from(fitted.connections_max),
            256 - FILES_RESERVED - u64::from(OPERATIONS_CONNECTIONS_MAX)
        );
        assert!(fitted.connections_per_address_max <= fitted.connections_max);
        assert_eq!(
            Limits::default().within_open_files(1_000_000),
            Limits::default()
        );
    }
}
