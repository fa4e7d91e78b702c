//! The `medledger` binary: parse flags, turn them into a configuration, run, and map the outcome to an
//! exit code. Everything else lives in the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use medledger_node::{DataDir, InitOptions, NodeOptions};
use medledger_service::ServiceConfig;
use medledger_service::start::{self, UpOptions};
use medledger_types::BatchConfig;

mod bench;
mod progress;
mod scratch;
mod verify;

#[derive(Parser, Debug)]
#[command(
    name = "medledger",
    version,
    about = "A permissioned blockchain for electronic health records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node and its HTTP API; on the first run, create a one-organization network and its first
    /// administrator in the data directory. Stops cleanly on Ctrl-C or SIGTERM.
    Up {
        /// The node's data directory (created if missing).
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The organization's MSP id, used only when creating the network.
        #[arg(long, default_value = "Org1")]
        org: String,
        /// The first administrator's email, used only when creating the network. Their password is
        /// taken from the environment variable MEDLEDGER_ADMIN_PASSWORD, or else generated, printed once
        /// and saved to DATA/initial-admin-password (owner-only).
        #[arg(long, default_value = "admin@medledger.local")]
        admin_email: String,
        /// The address the HTTP API listens on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Under load, close a block once its first transaction has waited this many milliseconds
        /// (blocks are otherwise cut as soon as the previous one has committed, so a lone write never
        /// waits for this timer).
        #[arg(long)]
        block_timeout_ms: Option<u64>,
        /// Close a block at this many transactions.
        #[arg(long)]
        block_tx_count: Option<u32>,
        /// The ledger store's page cache, in MiB: more keeps more of a large ledger in memory (faster
        /// reads), less keeps the node small.
        #[arg(long, value_name = "MIB", default_value_t = (medledger_node::STORE_CACHE_BYTES_DEFAULT >> 20) as u64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
        cache_mb: u64,
        /// Serve HTTPS with this PEM certificate chain (the server's certificate first). Needs
        /// --tls-key. Session cookies are then `Secure`.
        #[arg(long, requires = "tls_key", value_name = "PEM")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
        #[arg(long, requires = "tls_cert", value_name = "PEM")]
        tls_key: Option<PathBuf>,
        /// A TLS proxy in front of the node serves HTTPS to people: session cookies are `Secure` and
        /// answers say `Strict-Transport-Security`. Every connection then comes from the proxy, so the
        /// per-address cap defaults to the connection cap.
        #[arg(long)]
        behind_tls_proxy: bool,
        /// Also serve /metrics, /healthz and /readyz on this address (an operations network). Without
        /// it, /metrics is not served at all, unless MEDLEDGER_METRICS_TOKEN is set: then it is served
        /// on the main address to requests with `Authorization: Bearer TOKEN` (and on this one too).
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<SocketAddr>,
        /// Connections open at once on the main address; over it, new connections are closed at once.
        #[arg(long, default_value_t = medledger_gateway::server::CONNECTIONS_MAX)]
        connections_max: u32,
        /// Connections open at once from one IP address (an IPv6 /64 counts as one) [default: 64, or
        /// --connections-max with --behind-tls-proxy].
        #[arg(long)]
        connections_per_address_max: Option<u32>,
        /// Milliseconds a client has to send a whole request header (also how long an idle
        /// connection stays open, and the TLS handshake's limit).
        #[arg(long, default_value_t = medledger_gateway::server::HEADER_READ_TIMEOUT_MS)]
        header_timeout_ms: u64,
        /// Milliseconds the node may take over one request, its body included (must be over the
        /// node's commit wait of 30 s); then it answers 503.
        #[arg(long, default_value_t = medledger_gateway::server::REQUEST_TIMEOUT_MS)]
        request_timeout_ms: u64,
    },
    /// List the people who can log in to a stopped node: email, role, ledger record id, and whether their
    /// profile is on the ledger yet. Reads only the wallet (DATA/wallet.redb).
    People {
        /// The node's data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Change a person's password on a stopped node: their key is re-encrypted under the new password.
    /// The current password comes from MEDLEDGER_PASSWORD and the new one from MEDLEDGER_NEW_PASSWORD,
    /// or else each from a line of standard input (current first).
    Password {
        /// The node's data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The person's email.
        #[arg(long)]
        email: String,
    },
    /// Check a stopped node's whole ledger offline: page checksums, hashes, links, Merkle roots,
    /// signatures, certificates, validation codes, and a replay of every transaction that must reproduce
    /// the stored state. Read-only: no byte of the data directory changes. Exit 0 if sound, 2 if damaged
    /// or not the anchored ledger, 1 if it could not run.
    Verify {
        /// The node's data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The genesis block's header hash (hex), as an earlier run printed it: a ledger replaced as a
        /// whole (another network in the same directory) is caught.
        #[arg(long, value_name = "HASH")]
        genesis: Option<String>,
        /// A signed checkpoint kept from an earlier `GET /api/v1/ledger/checkpoint` (its JSON answer, or
        /// the canonical bytes of a SignedCheckpoint): its signer must chain to the genesis
        /// configuration's organization root, and the ledger must extend the tree it signed.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Drive a node over its REST API (a running one, --url, or one started in this process,
    /// --in-process) with a workload, and report committed per second, failures by code, latency
    /// percentiles, the node's CPU and memory, and bytes on disk per record. Setup enrols a bench
    /// doctor and registers patients, on the node's ledger like any other records.
    Bench(bench::BenchFlags),
}

/// Makes glibc map every allocation of 1 MiB or more on its own and unmap it when freed. By default glibc
/// raises that threshold each time such a block is freed, so from the first login on, Argon2id's 19 MiB of
/// working memory came from the heap of whichever thread ran it and stayed resident after it was freed: a
/// node grew by about 40 MB with every few logins and never gave it back. A fixed threshold also stops the
/// adjusting, so large transient buffers (blocks, request bodies) go back to the system too.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn keep_large_allocations_mapped() {
    // SAFETY: `mallopt` only tunes the allocator, takes no pointers, and runs before any other thread
    // exists. It returns 0 on failure, which leaves glibc's defaults: nothing to undo.
    let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_allocations_mapped() {}

fn main() -> ExitCode {
    keep_large_allocations_mapped();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up {
            data,
            org,
            admin_email,
            listen,
            block_timeout_ms,
            block_tx_count,
            cache_mb,
            tls_cert,
            tls_key,
            behind_tls_proxy,
            metrics_listen,
            connections_max,
            connections_per_address_max,
            header_timeout_ms,
            request_timeout_ms,
        } => up(UpFlags {
            data,
            org,
            admin_email,
            listen,
            block_timeout_ms,
            block_tx_count,
            cache_mb,
            admin_password: std::env::var(ADMIN_PASSWORD_VARIABLE).ok(),
            serving: ServingFlags {
                tls: tls_cert.zip(tls_key),
                behind_tls_proxy,
                metrics_listen,
                metrics_token: std::env::var(METRICS_TOKEN_VARIABLE).ok(),
                connections_max,
                connections_per_address_max,
                header_timeout_ms,
                request_timeout_ms,
            },
        }),
        Command::Verify {
            data,
            genesis,
            checkpoint,
        } => verify::anchors(genesis.as_deref(), checkpoint.as_deref())
            .and_then(|anchors| verify::verify(&data, &anchors)),
        Command::People { data } => people(data),
        Command::Password { data, email } => password(data, &email),
        Command::Bench(flags) => bench::run(flags),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The environment variable that sets the first administrator's password.
const ADMIN_PASSWORD_VARIABLE: &str = "MEDLEDGER_ADMIN_PASSWORD";

/// The environment variable that puts `/metrics` on the main address, behind this bearer token.
const METRICS_TOKEN_VARIABLE: &str = "MEDLEDGER_METRICS_TOKEN";

/// `medledger up`'s flags and environment.
struct UpFlags {
    data: PathBuf,
    org: String,
    admin_email: String,
    listen: SocketAddr,
    block_timeout_ms: Option<u64>,
    block_tx_count: Option<u32>,
    cache_mb: u64,
    admin_password: Option<String>,
    serving: ServingFlags,
}

/// How `medledger up` serves HTTP: TLS, the metrics, the connection limits.
struct ServingFlags {
    /// The certificate chain and key PEM files.
    tls: Option<(PathBuf, PathBuf)>,
    behind_tls_proxy: bool,
    metrics_listen: Option<SocketAddr>,
    metrics_token: Option<String>,
    connections_max: u32,
    connections_per_address_max: Option<u32>,
    header_timeout_ms: u64,
    request_timeout_ms: u64,
}

impl ServingFlags {
    /// The server's options, checked (limits that cannot work, a short metrics token, unreadable or
    /// mismatched TLS files are refused here, before anything is created).
    fn options(&self) -> anyhow::Result<medledger_gateway::ServeOptions> {
        let per_address_default = if self.behind_tls_proxy {
            self.connections_max
        } else {
            medledger_gateway::server::CONNECTIONS_PER_ADDRESS_MAX.min(self.connections_max)
        };
        let limits = medledger_gateway::Limits {
            connections_max: self.connections_max,
            connections_per_address_max: self
                .connections_per_address_max
                .unwrap_or(per_address_default),
            header_read_timeout: Duration::from_millis(self.header_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
        };
        limits.check().context("the connection limits")?;
        let tls = match &self.tls {
            Some((certificate, key)) => Some(
                medledger_gateway::TlsConfig::from_pem_files(certificate, key)
                    .context("cannot serve TLS")?,
            ),
            None => None,
        };
        let metrics_token = self
            .metrics_token
            .clone()
            .map(medledger_gateway::MetricsToken::new)
            .transpose()
            .with_context(|| format!("{METRICS_TOKEN_VARIABLE} is refused"))?;
        Ok(medledger_gateway::ServeOptions {
            limits,
            tls,
            behind_tls_proxy: self.behind_tls_proxy,
            metrics_token,
        })
    }
}

fn up(flags: UpFlags) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let serve_options = flags.serving.options()?;
    let https = serve_options.tls.is_some() || serve_options.behind_tls_proxy;
    if !https && !flags.listen.ip().is_loopback() {
        tracing::warn!(
            "serving plain HTTP on {}: passwords and records cross the network in the clear; use --tls-cert and --tls-key, or a TLS proxy (--behind-tls-proxy)",
            flags.listen
        );
    }
    let data = DataDir::new(&flags.data);
    let mut batch = BatchConfig::default();
    if let Some(ms) = flags.block_timeout_ms {
        batch.timeout_ms = ms;
    }
    if let Some(count) = flags.block_tx_count {
        batch.tx_count_max = count;
    }
    let options = UpOptions {
        data: data.clone(),
        init: InitOptions {
            msp_id: flags.org,
            admin_email: flags.admin_email,
            batch: batch.clone(),
            ..InitOptions::default()
        },
        node: NodeOptions {
            batch: (flags.block_timeout_ms.is_some() || flags.block_tx_count.is_some())
                .then_some(batch),
            store_cache_bytes: usize::try_from(flags.cache_mb << 20).unwrap_or(usize::MAX),
        },
        admin_password: flags.admin_password,
        service: ServiceConfig {
            // The browser then sends the session cookie over HTTPS only.
            secure_cookies: https,
            ..ServiceConfig::default()
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let state = runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        // Bind first: a busy port should fail before anything is created.
        let listener = medledger_gateway::server::bind(flags.listen)
            .with_context(|| format!("cannot listen on {}", flags.listen))?;
        let operations = match flags.serving.metrics_listen {
            Some(address) => Some(
                medledger_gateway::server::bind(address)
                    .with_context(|| format!("cannot listen on {address} (--metrics-listen)"))?,
            ),
            None => None,
        };
        let started_gateway = start::start(options)
            .await
            .with_context(|| format!("cannot start in {}", data.root().display()))?;
        if let Some(admin) = &started_gateway.first_admin {
            eprintln!(
                "created a new network in {}; first administrator: {}",
                data.root().display(),
                admin.email
            );
            if let (Some(password), Some(file)) = (&admin.generated_password, &admin.password_file)
            {
                eprintln!(
                    "their generated password (shown once; also saved to {}): {password}",
                    file.display()
                );
            }
        }
        let state = started_gateway.state;
        eprintln!(
            "medledger is running: channel {}, {} blocks, started in {} ms. Press Ctrl-C to stop.",
            state.node().channel_name(),
            state.node().peer().height(),
            started.elapsed().as_millis()
        );
        let listeners = medledger_gateway::Listeners {
            main: listener,
            operations,
        };
        medledger_gateway::serve_with(listeners, state.clone(), serve_options, shutdown)
            .await
            .context("the HTTP server failed")?;
        anyhow::Ok(state)
    })?;
    eprintln!("stopping: ordering and committing what is pending");
    drop(runtime);
    start::stop(state).context("the node stopped with an error")?;
    Ok(ExitCode::SUCCESS)
}

/// A future that completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed now, not when the
/// future is first polled, so a signal that arrives while the node starts is not the default "die at
/// once": it stops the server as soon as it runs.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// The wallet of a stopped node's data directory; a running node holds it, so this is refused then.
fn offline_wallet(data: PathBuf) -> anyhow::Result<medledger_wallet::Wallet> {
    let path = DataDir::new(data)
        .root()
        .join(medledger_wallet::WALLET_FILE);
    if !path.exists() {
        anyhow::bail!(
            "{} does not exist: no one has been registered here (run `medledger up` first)",
            path.display()
        );
    }
    medledger_wallet::Wallet::open(&path, medledger_wallet::PasswordParams::RECOMMENDED)
        .with_context(|| {
            format!(
                "cannot open {} (is the node still running?)",
                path.display()
            )
        })
}

fn people(data: PathBuf) -> anyhow::Result<ExitCode> {
    let wallet = offline_wallet(data)?;
    let mut people = wallet.people()?;
    people.sort_by(|a, b| a.email.cmp(&b.email));
    println!(
        "{:<40} {:<8} {:>10}  on ledger",
        "email", "role", "record id"
    );
    for person in &people {
        println!(
            "{:<40} {:<8} {:>10}  {}",
            person.email,
            person.role,
            person.record_id,
            match person.on_ledger {
                medledger_wallet::OnLedger::Yes => "yes",
                medledger_wallet::OnLedger::FirstAdmin => "not yet (first administrator)",
                medledger_wallet::OnLedger::Registering { .. } =>
                    "registering (settled at the next start or login)",
            }
        );
    }
    eprintln!("{} people", people.len());
    Ok(ExitCode::SUCCESS)
}

/// A secret from the environment variable `variable`, else the next line of standard input.
fn secret(variable: &str, what: &str, stdin: &mut impl std::io::BufRead) -> anyhow::Result<String> {
    if let Ok(value) = std::env::var(variable) {
        return Ok(value);
    }
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        anyhow::bail!("no {what}: set {variable} or give it on a line of standard input");
    }
    Ok(line)
}

fn password(data: PathBuf, email: &str) -> anyhow::Result<ExitCode> {
    let saved = data.join(medledger_service::start::INITIAL_ADMIN_PASSWORD_FILE);
    let wallet = offline_wallet(data)?;
    let mut stdin = std::io::stdin().lock();
    let current = secret("MEDLEDGER_PASSWORD", "current password", &mut stdin)?;
    let new = secret("MEDLEDGER_NEW_PASSWORD", "new password", &mut stdin)?;
    medledger_service::auth::check_new_password("new password", &new)
        .map_err(|e| anyhow::anyhow!("the new password: {}", first_problem(&e)))?;
    let now_ms = medledger_node::now_ms();
    match wallet.change_password(
        email,
        &current,
        &new,
        medledger_wallet::PasswordParams::RECOMMENDED,
        now_ms,
    ) {
        Ok(()) => {
            // A generated first password opens nothing now.
            let first_admin = wallet.person(email)?.is_some_and(|p| {
                p.role == medledger_types::Role::Admin
                    && p.record_id == medledger_service::start::FIRST_ADMIN_ID
            });
            if first_admin && saved.exists() {
                std::fs::remove_file(&saved)
                    .with_context(|| format!("removing {}", saved.display()))?;
            }
            println!("the password of {email} is changed");
            Ok(ExitCode::SUCCESS)
        }
        Err(medledger_wallet::WalletError::WrongCredentials) => {
            eprintln!("error: wrong email or current password");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

/// The message of a service error's first field problem, else the error itself.
fn first_problem(e: &medledger_service::ServiceError) -> String {
    e.field_problems()
        .first()
        .map_or_else(|| e.to_string(), |p| p.message.clone())
}
