//! `medledger bench`: drives a node over its REST API, as people's clients do, and reports what it
//! sustained.
//!
//! Setup: log in as an administrator, enrol a bench doctor (register, then replace the initial
//! password as the API requires), register `--patients` patients with a first note each. Then the
//! clients run the workload (closed loop: `--clients` connections each waiting for its answer; open
//! loop: `--rate` requests a second at fixed times, latency from the time each was due), first for
//! `--warmup` (not counted), then for `--duration` or `--requests`. The report: committed and read per
//! second, failures by the API's problem code, 202s apart, latency percentiles of the successes, the
//! node's CPU and resident memory (`/proc`, with `--pid`), and the data directory's growth per
//! committed record (with `--data`); `--check` counts through the API what the run wrote.
//!
//! Modules: `http` (the client), `workload` (operations, bodies, ids), `schedule` (when each operation
//! starts), `stats` (percentiles and the report), `system` (`/proc`, disk).

mod http;
mod schedule;
mod stats;
mod system;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::StatusCode;
use serde_json::json;

use self::http::{Answer, BaseUrl, Http, NoAnswer};
use self::schedule::{End, Load, Phases, Schedule};
use self::stats::{
    CheckReport, DiskReport, LoadReport, Measured, Outcome, ProcessReport, Report, Sample,
};
use self::system::{ProcessSample, disk_bytes};
use self::workload::{Ids, Operation, Rng, Workload};
use crate::progress::Progress;
use crate::scratch::ScratchDir;

/// The most clients (connections) a run opens.
const CLIENTS_MAX: u32 = 4096;
/// Closed-loop clients without `--clients`.
const CLOSED_LOOP_CLIENTS_DEFAULT: u32 = 8;
/// Open-loop connections without `--clients`: enough for 6,400 requests a second at 10 ms each.
const OPEN_LOOP_CLIENTS_DEFAULT: u32 = 64;
/// The most patients a run registers.
const PATIENTS_MAX: u32 = 100_000;
/// Connections registering patients at setup, at most.
const SETUP_CONNECTIONS_MAX: u32 = 16;
/// Notes per page when `--check` counts a patient's notes (the API's largest page).
const CHECK_PAGE_NOTES: u32 = 500;
/// Notes on the page a chart reads.
const CHART_PAGE_NOTES: u32 = 20;

/// The environment variable holding the administrator's password (as for `medledger up`).
const ADMIN_PASSWORD_VARIABLE: &str = super::ADMIN_PASSWORD_VARIABLE;

#[derive(clap::Args, Debug)]
pub(crate) struct BenchFlags {
    /// A running node's address (plain HTTP), e.g. http://127.0.0.1:8080.
    #[arg(
        long,
        required_unless_present = "in_process",
        conflicts_with = "in_process"
    )]
    url: Option<String>,
    /// Start a node and its HTTP API in this process, on a temporary data directory and 127.0.0.1
    /// port 0, as `up` would; removed afterwards. CPU then includes the bench's clients.
    #[arg(long, conflicts_with_all = ["data", "pid"])]
    in_process: bool,
    /// What the clients do: create-note (blind insert), chart (read a patient's chart), amend
    /// (read–modify–write naming the version read, so conflicts show as 412), mix (70% chart, 20%
    /// create-note, 10% amend).
    #[arg(long, value_enum, default_value_t = Workload::CreateNote)]
    workload: Workload,
    /// Closed loop: this many clients, each with one keep-alive connection, each sending its next
    /// request when its last is answered [default: 8]. With --rate: the connections that carry the
    /// open loop's requests [default: 64].
    #[arg(long)]
    clients: Option<u32>,
    /// Open loop: requests a second, sent at fixed times whatever the answers do; latency runs from
    /// each request's due time, so queueing is counted.
    #[arg(long)]
    rate: Option<f64>,
    /// How long to measure, after the warm-up: 30, 30s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Measure this many operations instead of a duration.
    #[arg(long, conflicts_with = "duration")]
    requests: Option<u64>,
    /// How long to run the workload before measuring (not counted).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Patients registered at setup (each with a first note); the workload picks among them.
    #[arg(long, default_value_t = 100)]
    patients: u32,
    /// Print the report as JSON (for machines) instead of a table.
    #[arg(long)]
    json: bool,
    /// The administrator who enrols the bench doctor.
    #[arg(long, default_value = "admin@medledger.local")]
    admin_email: String,
    /// The administrator's password [default: MEDLEDGER_ADMIN_PASSWORD, else the node's
    /// DATA/initial-admin-password with --data]. On the command line it is visible to other users.
    #[arg(long)]
    admin_password: Option<String>,
    /// The node's data directory: its growth over the run gives the bytes on disk per record.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The node's process id: its CPU time and resident memory are read from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// The longest wait for one answer (over the node's 30 s commit wait, so a slow write answers
    /// 202 first).
    #[arg(long, default_value = "35s", value_parser = parse_duration)]
    timeout: Duration,
    /// The seed of the patients' and operations' picks (a run is then repeatable in what it asks).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// After the run, count through the API the notes and amendments it wrote and compare them with
    /// the answers (exit 2 if they disagree).
    #[arg(long)]
    check: bool,
}

/// `30`, `30s`, `500ms`, `2m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (text, 1000.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (30, 30s, 500ms, 2m)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{text:?} is not a duration (30, 30s, 500ms, 2m)"));
    }
    Ok(Duration::from_secs_f64(value * unit_ms / 1000.0))
}

/// Where the node is.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Url(BaseUrl),
    InProcess,
}

/// The flags, checked.
#[derive(Debug, Clone, PartialEq)]
struct BenchConfig {
    target: Target,
    workload: Workload,
    load: Load,
    phases: Phases,
    patients: u32,
    json: bool,
    admin_email: String,
    /// From the flag or the environment (the file is read when the run starts).
    admin_password: Option<String>,
    data: Option<PathBuf>,
    pid: Option<u32>,
    timeout: Duration,
    seed: u64,
    check: bool,
}

impl BenchConfig {
    fn from_flags(flags: BenchFlags, password_from_env: Option<String>) -> anyhow::Result<Self> {
        let target = match (&flags.url, flags.in_process) {
            (Some(url), false) => Target::Url(BaseUrl::parse(url)?),
            (None, true) => Target::InProcess,
            _ => anyhow::bail!("give --url of a running node or --in-process"),
        };
        let load = match flags.rate {
            None => Load::Closed {
                clients: flags.clients.unwrap_or(CLOSED_LOOP_CLIENTS_DEFAULT),
            },
            Some(rate) if rate.is_finite() && rate > 0.0 => Load::Open {
                rate_per_s: rate,
                clients: flags.clients.unwrap_or(OPEN_LOOP_CLIENTS_DEFAULT),
            },
            Some(rate) => {
                anyhow::bail!("--rate {rate} must be a positive number of requests a second")
            }
        };
        if !(1..=CLIENTS_MAX).contains(&load.clients()) {
            anyhow::bail!("--clients must be 1..={CLIENTS_MAX}");
        }
        let end = match flags.requests {
            Some(0) => anyhow::bail!("--requests must be at least 1"),
            Some(count) => End::Operations(count),
            None if flags.duration.is_zero() => anyhow::bail!("--duration must be over zero"),
            None => End::After(flags.duration),
        };
        if !(1..=PATIENTS_MAX).contains(&flags.patients) {
            anyhow::bail!("--patients must be 1..={PATIENTS_MAX}");
        }
        if flags.timeout.is_zero() {
            anyhow::bail!("--timeout must be over zero");
        }
        Ok(BenchConfig {
            target,
            workload: flags.workload,
            load,
            phases: Phases {
                warmup: flags.warmup,
                end,
            },
            patients: flags.patients,
            json: flags.json,
            admin_email: flags.admin_email,
            admin_password: flags.admin_password.or(password_from_env),
            data: flags.data,
            pid: flags.pid,
            timeout: flags.timeout,
            seed: flags.seed,
            check: flags.check,
        })
    }

    /// The administrator's password: the flag or environment, else the node's saved first password.
    fn admin_password(&self) -> anyhow::Result<String> {
        if let Some(password) = &self.admin_password {
            return Ok(password.clone());
        }
        let Some(data) = &self.data else {
            anyhow::bail!(
                "no administrator password: set {ADMIN_PASSWORD_VARIABLE}, or give --admin-password, or --data DIR of the node (its {})",
                medledger_service::start::INITIAL_ADMIN_PASSWORD_FILE
            );
        };
        let file = data.join(medledger_service::start::INITIAL_ADMIN_PASSWORD_FILE);
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "no administrator password: {ADMIN_PASSWORD_VARIABLE} is not set and {} cannot be read (it is removed once the administrator replaces the password)",
                file.display()
            )
        })?;
        Ok(text.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// `medledger bench`: prints the report (a table, or JSON with `--json`) on standard output. Exit 0,
/// or 2 when `--check` found the ledger disagreeing with the answers; setup and other errors are
/// `Err` (exit 1).
pub(crate) fn run(flags: BenchFlags) -> anyhow::Result<ExitCode> {
    let config = BenchConfig::from_flags(flags, std::env::var(ADMIN_PASSWORD_VARIABLE).ok())?;
    let report = match &config.target {
        Target::Url(url) => {
            let password = config.admin_password()?;
            let node = Observed {
                data: config.data.clone(),
                pid: config.pid,
                includes_bench: false,
            };
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(bench(&config, url.clone(), &password, &node))?
        }
        Target::InProcess => in_process(&config)?,
    };
    if config.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    match &report.check {
        Some(check) if !check.consistent => {
            eprintln!("error: the ledger does not hold what the answers said was committed");
            Ok(ExitCode::from(2))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// What is measured of the node besides its answers.
#[derive(Debug, Clone)]
struct Observed {
    data: Option<PathBuf>,
    pid: Option<u32>,
    includes_bench: bool,
}

/// A node and its HTTP API in this process on a temporary data directory, benched, stopped.
fn in_process(config: &BenchConfig) -> anyhow::Result<Report> {
    use medledger_gateway::server::{CONNECTIONS_MAX, Limits};
    let scratch = ScratchDir::create("bench", None)?;
    let password = random_password()?;
    let options = medledger_service::start::UpOptions {
        data: medledger_node::DataDir::new(scratch.path()),
        init: medledger_node::InitOptions {
            admin_email: config.admin_email.clone(),
            ..medledger_node::InitOptions::default()
        },
        node: medledger_node::NodeOptions::default(),
        admin_password: Some(password.clone()),
        service: medledger_service::ServiceConfig::default(),
    };
    // Every connection is this process's, from 127.0.0.1: the per-address cap must let them all in.
    let connections = CONNECTIONS_MAX.max(config.load.clients() + SETUP_CONNECTIONS_MAX + 1);
    let serve_options = medledger_gateway::ServeOptions {
        limits: Limits {
            connections_max: connections,
            connections_per_address_max: connections,
            ..Limits::default()
        },
        ..medledger_gateway::ServeOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let outcome = runtime.block_on(async {
        let started = medledger_service::start::start(options)
            .await
            .context("cannot start the in-process node")?;
        let state = started.state;
        let listener = medledger_gateway::server::bind(std::net::SocketAddr::from((
            std::net::Ipv4Addr::LOCALHOST,
            0,
        )))
        .context("cannot listen on 127.0.0.1")?;
        let address = listener.local_addr().context("the listener's address")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(medledger_gateway::serve_with(
            medledger_gateway::Listeners {
                main: listener,
                operations: None,
            },
            state.clone(),
            serve_options,
            async {
                let _ = stopped.await;
            },
        ));
        let node = Observed {
            data: Some(scratch.path().to_path_buf()),
            pid: Some(std::process::id()),
            includes_bench: true,
        };
        let url = BaseUrl::parse(&format!("http://{address}"))?;
        let report = bench(config, url, &password, &node).await;
        let _ = stop.send(());
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("the in-process server: {e}"),
            Err(e) => tracing::warn!("the in-process server: {e}"),
        }
        anyhow::Ok((report, state))
    });
    drop(runtime);
    let result = match outcome {
        Ok((report, state)) => {
            medledger_service::start::stop(state)
                .context("the in-process node stopped with an error")?;
            report
        }
        Err(e) => Err(e),
    };
    scratch.remove();
    result
}

/// 32 hex digits from the operating system's generator.
fn random_password() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(hex::encode(bytes))
}

/// The doctor and patients the run uses.
#[derive(Debug, Clone)]
struct Setup {
    ids: Ids,
    doctor: Http,
}

/// Setup, the run and the report.
async fn bench(
    config: &BenchConfig,
    url: BaseUrl,
    admin_password: &str,
    node: &Observed,
) -> anyhow::Result<Report> {
    let setup = set_up(config, &url, admin_password).await?;
    let start = Instant::now();
    let schedule = Arc::new(Schedule::new(config.load, config.phases));
    let live = Arc::new(Live::default());
    let mut clients = Vec::new();
    for n in 0..config.load.clients() {
        let client = Client {
            http: setup.doctor.new_connection(),
            ids: setup.ids,
            workload: config.workload,
            rng: Rng::new(config.seed ^ (u64::from(n) << 32 | u64::from(n))),
            schedule: Arc::clone(&schedule),
            live: Arc::clone(&live),
            start,
        };
        clients.push(tokio::spawn(client.run()));
    }
    let measure_start = start + config.phases.warmup;
    let watching = watch(config, node, Arc::clone(&live), start, measure_start);
    let mut samples = Vec::new();
    let mut last_finish = Duration::ZERO;
    let mut behind_schedule = Duration::ZERO;
    for client in clients {
        let done = client.await.context("a bench client failed")?;
        samples.extend(done.samples);
        last_finish = last_finish.max(done.last_finish);
        behind_schedule = behind_schedule.max(done.behind_schedule);
    }
    live.done.store(true, Ordering::Relaxed);
    let before = watching.await.context("the progress task failed")??;
    let after = Snapshot::take(node)?;
    let measured = last_finish.saturating_sub(config.phases.warmup);
    let Measured {
        all,
        by_operation,
        committed_per_s,
        reads_per_s,
    } = Measured::of(&samples, measured);
    let process = match (before.process, after.process, node.pid) {
        (Some(before), Some(after), Some(pid)) => {
            let cpu_s = after.cpu_s - before.cpu_s;
            Some(ProcessReport {
                pid,
                includes_bench: node.includes_bench,
                cpu_s,
                cpu_cores: cpu_s / measured.as_secs_f64().max(1e-9),
                rss_bytes: after.rss_bytes,
                rss_peak_bytes: after.rss_peak_bytes,
            })
        }
        _ => None,
    };
    let disk = match (before.disk_bytes, after.disk_bytes) {
        (Some(before), Some(after)) => Some(DiskReport {
            bytes_before: before,
            bytes_after: after,
            bytes_per_record: (all.committed > 0)
                .then(|| after.saturating_sub(before) as f64 / all.committed as f64),
        }),
        _ => None,
    };
    let check = if config.check {
        Some(check(&setup, &live).await?)
    } else {
        None
    };
    Ok(Report {
        workload: config.workload.name().to_owned(),
        load: match config.load {
            Load::Closed { clients } => LoadReport::Closed { clients },
            Load::Open {
                rate_per_s,
                clients,
            } => LoadReport::Open {
                rate_per_s,
                clients,
                behind_schedule_ms_max: behind_schedule.as_secs_f64() * 1000.0,
            },
        },
        warmup_s: config.phases.warmup.as_secs_f64(),
        measured_s: measured.as_secs_f64(),
        patients: config.patients,
        committed_per_s,
        reads_per_s,
        all,
        by_operation,
        process,
        disk,
        check,
    })
}

/// The node's process and data directory at one moment.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    process: Option<ProcessSample>,
    disk_bytes: Option<u64>,
}

impl Snapshot {
    fn take(node: &Observed) -> anyhow::Result<Snapshot> {
        Ok(Snapshot {
            process: node.pid.map(ProcessSample::read).transpose()?,
            disk_bytes: node
                .data
                .as_deref()
                .map(disk_bytes)
                .transpose()
                .context("measuring the data directory")?,
        })
    }
}

/// Draws progress until the clients are done; returns the snapshot taken when the measured window
/// began.
fn watch(
    config: &BenchConfig,
    node: &Observed,
    live: Arc<Live>,
    start: Instant,
    measure_start: Instant,
) -> tokio::task::JoinHandle<anyhow::Result<Snapshot>> {
    let node = node.clone();
    let phases = config.phases;
    tokio::spawn(async move {
        let mut progress = Progress::new();
        let mut before = None;
        let mut measured_base = (0, 0);
        while !live.done.load(Ordering::Relaxed) {
            let now = Instant::now();
            if before.is_none() && now >= measure_start {
                before = Some(Snapshot::take(&node)?);
                measured_base = (live.succeeded(), live.failed.load(Ordering::Relaxed));
            }
            progress.update(|_| live.line(phases, start, measure_start, measured_base));
            let tick = if before.is_none() {
                measure_start
                    .saturating_duration_since(now)
                    .min(PROGRESS_TICK)
            } else {
                PROGRESS_TICK
            };
            tokio::time::sleep(tick.max(Duration::from_millis(1))).await;
        }
        progress.finish();
        match before {
            Some(before) => Ok(before),
            // A run shorter than its warm-up: nothing was measured, the snapshot is now.
            None => Snapshot::take(&node),
        }
    })
}

/// How often the progress task wakes.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// Counters the clients bump as they go (every phase), for the progress line and `--check`.
#[derive(Debug, Default)]
struct Live {
    committed: AtomicU64,
    reads: AtomicU64,
    failed: AtomicU64,
    pending: AtomicU64,
    /// Notes the run has asked to create: the next one's number.
    notes_asked: AtomicU64,
    notes_committed: AtomicU64,
    amendments_committed: AtomicU64,
    /// Writes whose fate the answers do not tell: 202, timeout, connection lost.
    writes_unknown: AtomicU64,
    /// Every client has finished.
    done: AtomicBool,
}

impl Live {
    fn succeeded(&self) -> u64 {
        self.committed.load(Ordering::Relaxed) + self.reads.load(Ordering::Relaxed)
    }

    fn line(
        &self,
        phases: Phases,
        start: Instant,
        measure_start: Instant,
        base: (u64, u64),
    ) -> String {
        let now = Instant::now();
        if now < measure_start {
            return format!(
                "warming up: {:.0}/{:.0} s, {} ok",
                start.elapsed().as_secs_f64(),
                phases.warmup.as_secs_f64(),
                self.succeeded()
            );
        }
        let seconds = now.duration_since(measure_start).as_secs_f64();
        let ok = self.succeeded() - base.0;
        let failed = self.failed.load(Ordering::Relaxed) - base.1;
        let of = match phases.end {
            End::After(window) => format!("{seconds:.0}/{:.0} s", window.as_secs_f64()),
            End::Operations(count) => format!("{}/{count} operations", ok + failed),
        };
        format!(
            "measuring: {of}, {ok} ok ({:.0}/s), {failed} failed, {} pending",
            ok as f64 / seconds.max(1e-9),
            self.pending.load(Ordering::Relaxed)
        )
    }
}

/// One bench client: its connection, its picks, and what it measured.
struct Client {
    http: Http,
    ids: Ids,
    workload: Workload,
    rng: Rng,
    schedule: Arc<Schedule>,
    live: Arc<Live>,
    start: Instant,
}

/// What a client measured.
struct ClientDone {
    samples: Vec<Sample>,
    last_finish: Duration,
    behind_schedule: Duration,
}

impl Client {
    async fn run(mut self) -> ClientDone {
        let mut done = ClientDone {
            samples: Vec::new(),
            last_finish: Duration::ZERO,
            behind_schedule: Duration::ZERO,
        };
        while let Some(slot) = self.schedule.next(self.start.elapsed()) {
            if slot.due > self.start.elapsed() {
                tokio::time::sleep_until((self.start + slot.due).into()).await;
            }
            let sent = self.start.elapsed();
            let operation = self.workload.operation(self.rng.next_u64());
            let outcome = self.operate(operation).await;
            let finished = self.start.elapsed();
            self.count(operation, &outcome);
            if slot.measured {
                done.behind_schedule = done.behind_schedule.max(sent.saturating_sub(slot.due));
                done.last_finish = done.last_finish.max(finished);
                done.samples.push(Sample {
                    operation,
                    latency: finished.saturating_sub(slot.due),
                    outcome,
                });
            }
        }
        done
    }

    fn count(&self, operation: Operation, outcome: &Outcome) {
        let live = &self.live;
        let counter = match outcome {
            Outcome::Committed => &live.committed,
            Outcome::Read => &live.reads,
            Outcome::Pending => &live.pending,
            Outcome::Failed(_) => &live.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let write = operation != Operation::Chart;
        match outcome {
            Outcome::Committed if operation == Operation::CreateNote => {
                live.notes_committed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Committed if operation == Operation::Amend => {
                live.amendments_committed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Pending => {
                live.writes_unknown.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failed(code) if write && (code == "timeout" || code == "connection") => {
                live.writes_unknown.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn patient(&mut self) -> u32 {
        self.rng.below(self.ids.patients)
    }

    async fn operate(&mut self, operation: Operation) -> Outcome {
        match operation {
            Operation::CreateNote => {
                let k = self.live.notes_asked.fetch_add(1, Ordering::Relaxed);
                let patient = self.ids.patient(self.patient());
                let body = workload::note_body(self.ids.new_note(k), patient);
                outcome(
                    self.http.post("/api/v1/notes", &body).await,
                    StatusCode::CREATED,
                )
            }
            Operation::Chart => {
                let patient = self.ids.patient(self.patient());
                let details = self.http.get(&format!("/api/v1/patients/{patient}")).await;
                match outcome(details, StatusCode::OK) {
                    Outcome::Read => {}
                    other => return other,
                }
                let notes = self
                    .http
                    .get(&format!(
                        "/api/v1/patients/{patient}/notes?limit={CHART_PAGE_NOTES}"
                    ))
                    .await;
                outcome(notes, StatusCode::OK)
            }
            Operation::Amend => {
                let note = self.ids.first_note(self.patient());
                let path = format!("/api/v1/notes/{note}");
                let read = match self.http.get(&path).await {
                    Ok(answer) if answer.status == StatusCode::OK => answer,
                    other => return outcome(other, StatusCode::OK),
                };
                let Some(tag) = read.etag else {
                    return Outcome::Failed("no_etag".to_owned());
                };
                let body = workload::amendment_body(note, self.rng.next_u64());
                let answer = self
                    .http
                    .post_if_match(&format!("{path}/amendments"), &body, &tag)
                    .await;
                outcome(answer, StatusCode::CREATED)
            }
        }
    }
}

/// An answer's outcome, `success` the status that means it worked (201 a committed write, 200 a
/// read).
fn outcome(answer: Result<Answer, NoAnswer>, success: StatusCode) -> Outcome {
    match answer {
        Ok(answer) if answer.status == success => {
            if success == StatusCode::CREATED {
                Outcome::Committed
            } else {
                Outcome::Read
            }
        }
        Ok(answer) if answer.status == StatusCode::ACCEPTED => Outcome::Pending,
        Ok(answer) => Outcome::Failed(answer.failure_code()),
        Err(no_answer) => Outcome::Failed(no_answer.code().to_owned()),
    }
}

/// Logs in as the administrator, enrols the bench doctor, registers the patients and their first
/// notes.
async fn set_up(
    config: &BenchConfig,
    url: &BaseUrl,
    admin_password: &str,
) -> anyhow::Result<Setup> {
    let anonymous = Http::new(url.clone(), config.timeout);
    let (admin_token, must_change) = log_in(
        &anonymous,
        url,
        &config.admin_email,
        admin_password,
        "the administrator",
    )
    .await?;
    if must_change {
        anyhow::bail!(
            "the administrator ({}) must replace the initial password before doing anything else: log in once (the web page, or POST /api/v1/auth/password), then give the new password in {ADMIN_PASSWORD_VARIABLE}",
            config.admin_email
        );
    }
    let admin = anonymous.with_token(&admin_token);
    let ids = Ids::new(medledger_node::now_ms(), config.patients);
    let email = format!("bench{}@bench.medledger.local", ids.base);
    let initial = random_password()?;
    let password = random_password()?;
    let registered = admin
        .post(
            "/api/v1/doctors",
            &json!({
                "provider_id": ids.doctor(),
                "given_name": "Bench",
                "family_name": "Doctor",
                "email": email,
                "password": initial,
            }),
        )
        .await
        .map_err(|e| unreachable_node(url, &e))?;
    expect(
        &registered,
        StatusCode::CREATED,
        "registering the bench doctor",
    )?;
    let (first, _) = log_in(&anonymous, url, &email, &initial, "the bench doctor").await?;
    let changed = anonymous
        .with_token(&first)
        .post(
            "/api/v1/auth/password",
            &json!({"current_password": initial, "new_password": password}),
        )
        .await
        .map_err(|e| unreachable_node(url, &e))?;
    expect(
        &changed,
        StatusCode::NO_CONTENT,
        "replacing the bench doctor's initial password",
    )?;
    let (token, _) = log_in(&anonymous, url, &email, &password, "the bench doctor").await?;
    let doctor = anonymous.with_token(&token);
    let connections = config.patients.min(SETUP_CONNECTIONS_MAX);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let http = doctor.new_connection();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            for n in (c..ids.patients).step_by(connections as usize) {
                let patient = http
                    .post("/api/v1/patients", &workload::patient_body(ids.patient(n)))
                    .await
                    .map_err(|e| unreachable_node(&url, &e))?;
                expect(&patient, StatusCode::CREATED, "registering a patient")?;
                let note = http
                    .post(
                        "/api/v1/notes",
                        &workload::note_body(ids.first_note(n), ids.patient(n)),
                    )
                    .await
                    .map_err(|e| unreachable_node(&url, &e))?;
                expect(&note, StatusCode::CREATED, "writing a patient's first note")?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("a setup task failed")??;
    }
    Ok(Setup { ids, doctor })
}

/// `POST /auth/login`: the token, and whether the person must replace their password first. Errors
/// say what went wrong in the person's terms.
async fn log_in(
    http: &Http,
    url: &BaseUrl,
    email: &str,
    password: &str,
    who: &str,
) -> anyhow::Result<(String, bool)> {
    let answer = http
        .post(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
        .map_err(|e| unreachable_node(url, &e))?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => {
            anyhow::bail!("{who} ({email}) could not log in: wrong email or password")
        }
        StatusCode::NOT_FOUND => anyhow::bail!(
            "{} answers 404 to /api/v1/auth/login: is it a medledger node?",
            url.as_str()
        ),
        _ => anyhow::bail!("{who} ({email}) could not log in: {}", answer.describe()),
    }
    let login = answer.json()?;
    let token = login["token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no token")?;
    Ok((token, login["must_change_password"].as_bool() == Some(true)))
}

fn unreachable_node(url: &BaseUrl, e: &NoAnswer) -> anyhow::Error {
    anyhow::anyhow!("cannot reach the node at {}: {e}", url.as_str())
}

/// `answer` has `status`, else an error naming what was being done.
fn expect(answer: &Answer, status: StatusCode, doing: &str) -> anyhow::Result<()> {
    if answer.status == status {
        return Ok(());
    }
    anyhow::bail!(
        "{doing}: expected {status}, the node answered {}",
        answer.describe()
    )
}

/// `--check`: what the ledger holds of the run's writes, through the API.
async fn check(setup: &Setup, live: &Live) -> anyhow::Result<CheckReport> {
    let ids = setup.ids;
    let http = &setup.doctor;
    let mut notes = 0u64;
    let mut amendments = 0u64;
    for n in 0..ids.patients {
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!(
                "/api/v1/patients/{}/notes?limit={CHECK_PAGE_NOTES}",
                ids.patient(n)
            );
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let answer = http
                .get(&path)
                .await
                .map_err(|e| anyhow::anyhow!("--check: {e}"))?;
            expect(
                &answer,
                StatusCode::OK,
                "--check: listing a patient's notes",
            )?;
            let page = answer.json()?;
            let items = page["items"]
                .as_array()
                .context("--check: a page without items")?;
            notes += items.len() as u64;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let answer = http
            .get(&format!("/api/v1/notes/{}", ids.first_note(n)))
            .await
            .map_err(|e| anyhow::anyhow!("--check: {e}"))?;
        expect(&answer, StatusCode::OK, "--check: reading a first note")?;
        let version = answer.json()?["header"]["version_number"]
            .as_u64()
            .context("--check: a note without header.version_number")?;
        amendments += version.saturating_sub(1);
    }
    // Each patient's first note is the setup's.
    let notes_on_ledger = notes.saturating_sub(u64::from(ids.patients));
    let notes_answered_committed = live.notes_committed.load(Ordering::Relaxed);
    let amendments_answered_committed = live.amendments_committed.load(Ordering::Relaxed);
    let unknown = live.writes_unknown.load(Ordering::Relaxed);
    let consistent = notes_on_ledger >= notes_answered_committed
        && amendments >= amendments_answered_committed
        && (notes_on_ledger - notes_answered_committed)
            + (amendments - amendments_answered_committed)
            <= unknown;
    Ok(CheckReport {
        notes_answered_committed,
        notes_on_ledger,
        amendments_answered_committed,
        amendments_on_ledger: amendments,
        writes_answered_pending: unknown,
        consistent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Args {
        #[command(flatten)]
        flags: BenchFlags,
    }

    fn config(args: &[&str]) -> anyhow::Result<BenchConfig> {
        let mut all = vec!["bench"];
        all.extend_from_slice(args);
        let flags = Args::try_parse_from(all)?.flags;
        BenchConfig::from_flags(flags, None)
    }

    #[test]
    fn durations_in_seconds_milliseconds_or_minutes() {
        for (text, expected) in [
            ("30", Duration::from_secs(30)),
            ("30s", Duration::from_secs(30)),
            ("1.5s", Duration::from_millis(1500)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
        for bad in ["", "s", "-1s", "ten", "1h", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_are_a_closed_loop_of_eight_for_ten_seconds() {
        let config = config(&["--url", "http://127.0.0.1:8080"]).expect("valid");
        assert_eq!(
            config.target,
            Target::Url(BaseUrl::parse("http://127.0.0.1:8080").expect("url"))
        );
        assert_eq!(config.workload, Workload::CreateNote);
        assert_eq!(config.load, Load::Closed { clients: 8 });
        assert_eq!(
            config.phases,
            Phases {
                warmup: Duration::from_secs(2),
                end: End::After(Duration::from_secs(10))
            }
        );
        assert_eq!(config.patients, 100);
        assert!(!config.json && !config.check);
        assert_eq!(config.timeout, Duration::from_secs(35));
    }

    #[test]
    fn a_rate_makes_an_open_loop() {
        let config = config(&[
            "--in-process",
            "--workload",
            "mix",
            "--rate",
            "250",
            "--requests",
            "40",
            "--warmup",
            "0",
        ])
        .expect("valid");
        assert_eq!(config.target, Target::InProcess);
        assert_eq!(config.workload, Workload::Mix);
        assert_eq!(
            config.load,
            Load::Open {
                rate_per_s: 250.0,
                clients: 64
            }
        );
        assert_eq!(
            config.phases,
            Phases {
                warmup: Duration::ZERO,
                end: End::Operations(40)
            }
        );
    }

    #[test]
    fn flags_that_cannot_work_are_refused() {
        for (args, why) in [
            (&[][..], "--url"),
            (
                &["--url", "http://a:1", "--in-process"][..],
                "cannot be used with",
            ),
            (&["--in-process", "--data", "x"][..], "cannot be used with"),
            (&["--in-process", "--pid", "1"][..], "cannot be used with"),
            (&["--in-process", "--clients", "0"][..], "--clients must be"),
            (&["--in-process", "--rate", "0"][..], "--rate 0 must be"),
            (&["--in-process", "--rate=-5"][..], "must be a positive"),
            (
                &["--in-process", "--patients", "0"][..],
                "--patients must be",
            ),
            (
                &["--in-process", "--duration", "0"][..],
                "--duration must be",
            ),
            (
                &["--in-process", "--requests", "0"][..],
                "--requests must be",
            ),
            (
                &["--in-process", "--workload", "delete"][..],
                "invalid value",
            ),
            (&["--url", "https://a:1"][..], "plain HTTP only"),
        ] {
            let error = format!("{:#}", config(args).expect_err(&format!("{args:?}")));
            assert!(error.contains(why), "{args:?}: {error}");
        }
    }

    #[test]
    fn the_password_comes_from_the_flag_the_environment_or_the_data_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_str().expect("utf-8");
        let from_file = config(&["--url", "http://a:1", "--data", data]).expect("valid");
        let error = from_file
            .admin_password()
            .expect_err("no file yet")
            .to_string();
        assert!(error.contains("initial-admin-password"), "{error}");
        std::fs::write(dir.path().join("initial-admin-password"), "saved\n").expect("write");
        assert_eq!(from_file.admin_password().expect("read"), "saved");
        let from_flag = config(&[
            "--url",
            "http://a:1",
            "--data",
            data,
            "--admin-password",
            "flag",
        ])
        .expect("valid");
        assert_eq!(from_flag.admin_password().expect("flag"), "flag");
        let flags = Args::try_parse_from(["bench", "--url", "http://a:1"])
            .expect("parses")
            .flags;
        let from_env = BenchConfig::from_flags(flags, Some("env".into())).expect("valid");
        assert_eq!(from_env.admin_password().expect("env"), "env");
        let none = config(&["--url", "http://a:1"]).expect("valid");
        assert!(
            none.admin_password()
                .expect_err("none")
                .to_string()
                .contains(ADMIN_PASSWORD_VARIABLE)
        );
    }
}
