//! The numbers of a run: every operation's outcome and latency as recorded, exact percentiles over
//! them (sorted, nearest rank: no histogram buckets to tune at a few hundred thousand samples), the
//! failures by the API's problem `code` (or the HTTP status, or `timeout` / `connection`), and the
//! report as a table for people and as JSON for machines (`bench/compare` reads it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::workload::Operation;

/// How one operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A write answered 201: committed.
    Committed,
    /// A read answered 200.
    Read,
    /// A write answered 202: accepted, not committed within the node's wait.
    Pending,
    /// Anything else: the problem's `code`, `http_<status>` without one, `timeout`, `connection`.
    Failed(String),
}

/// One operation as measured: latency from its start (closed loop) or its scheduled time (open
/// loop) to its whole answer.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) operation: Operation,
    pub(crate) latency: Duration,
    pub(crate) outcome: Outcome,
}

/// The value at percentile `p` (0 < p ≤ 100) of `sorted` (ascending), by nearest rank: the smallest
/// value with at least p% of the values at or below it. `None` when there are no values.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Latencies in milliseconds: p50, p95, p99, max and mean (each `None` without samples).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct Latency {
    pub(crate) p50: Option<f64>,
    pub(crate) p95: Option<f64>,
    pub(crate) p99: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) mean: Option<f64>,
}

impl Latency {
    /// Over `latencies` in microseconds (sorted here).
    pub(crate) fn of(mut latencies: Vec<u64>) -> Latency {
        latencies.sort_unstable();
        let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
        let mean = (!latencies.is_empty()).then(|| {
            latencies.iter().map(|&us| us as f64).sum::<f64>() / latencies.len() as f64 / 1000.0
        });
        Latency {
            p50: ms(percentile(&latencies, 50.0)),
            p95: ms(percentile(&latencies, 95.0)),
            p99: ms(percentile(&latencies, 99.0)),
            max: ms(latencies.last().copied()),
            mean,
        }
    }
}

/// The counts and latency of a set of samples (all of a run's, or one operation's).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct Tally {
    /// Operations measured (started in the measured window and finished).
    pub(crate) operations: u64,
    pub(crate) committed: u64,
    pub(crate) reads: u64,
    pub(crate) pending: u64,
    pub(crate) failed: u64,
    /// Failures by code.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Of the operations that succeeded (committed or read): a 202's latency is the node's commit
    /// wait, and a failure's is how fast the refusal came.
    pub(crate) latency_ms: Latency,
}

impl Tally {
    pub(crate) fn of<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Tally {
        let mut tally = Tally::default();
        let mut latencies = Vec::new();
        for sample in samples {
            tally.operations += 1;
            match &sample.outcome {
                Outcome::Committed => tally.committed += 1,
                Outcome::Read => tally.reads += 1,
                Outcome::Pending => tally.pending += 1,
                Outcome::Failed(code) => {
                    tally.failed += 1;
                    *tally.failures.entry(code.clone()).or_default() += 1;
                }
            }
            if matches!(sample.outcome, Outcome::Committed | Outcome::Read) {
                latencies.push(u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX));
            }
        }
        tally.latency_ms = Latency::of(latencies);
        tally
    }
}

/// How the load was offered.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub(crate) enum LoadReport {
    /// Each client sends its next request when the last one is answered.
    Closed { clients: u32 },
    /// Requests at fixed times, `rate_per_s` a second, over at most `clients` connections.
    Open {
        rate_per_s: f64,
        clients: u32,
        /// How late the last request was sent after its scheduled time: over a few ms, the clients
        /// could not keep up and the latencies include that queueing (as they should).
        behind_schedule_ms_max: f64,
    },
}

/// CPU and memory of the node's process over the measured window, from `/proc`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ProcessReport {
    pub(crate) pid: u32,
    /// Whether the process is this one (`--in-process`): then the CPU includes the bench's clients.
    pub(crate) includes_bench: bool,
    pub(crate) cpu_s: f64,
    /// CPU seconds per second of the window: 2.0 is two cores busy.
    pub(crate) cpu_cores: f64,
    pub(crate) rss_bytes: u64,
    pub(crate) rss_peak_bytes: u64,
}

/// The data directory's growth over the measured window (allocated bytes).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct DiskReport {
    pub(crate) bytes_before: u64,
    pub(crate) bytes_after: u64,
    /// Growth ÷ writes committed in the window (`None` without any).
    pub(crate) bytes_per_record: Option<f64>,
}

/// What `--check` counted through the API after the run, against what the bench counted: every
/// note and amendment the run's answers said were committed (warm-up included) must be on the
/// ledger, and nothing more, except writes answered 202 that committed later.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct CheckReport {
    pub(crate) notes_answered_committed: u64,
    pub(crate) notes_on_ledger: u64,
    pub(crate) amendments_answered_committed: u64,
    pub(crate) amendments_on_ledger: u64,
    pub(crate) writes_answered_pending: u64,
    pub(crate) consistent: bool,
}

/// The whole report. `bench/compare` reads `committed_per_s`, the first `p50`/`p99` (the run's,
/// before the per-operation ones) and `bytes_per_record`: keep them in this order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Report {
    pub(crate) workload: String,
    pub(crate) load: LoadReport,
    pub(crate) warmup_s: f64,
    /// From the start of the measured window to the last measured answer.
    pub(crate) measured_s: f64,
    pub(crate) patients: u32,
    pub(crate) committed_per_s: f64,
    pub(crate) reads_per_s: f64,
    #[serde(flatten)]
    pub(crate) all: Tally,
    /// The same, per operation (one entry but for `mix`).
    pub(crate) by_operation: BTreeMap<String, Tally>,
    pub(crate) process: Option<ProcessReport>,
    pub(crate) disk: Option<DiskReport>,
    pub(crate) check: Option<CheckReport>,
}

/// A run's samples summed up: in all, per operation, and per second of the measured window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measured {
    pub(crate) all: Tally,
    pub(crate) by_operation: BTreeMap<String, Tally>,
    pub(crate) committed_per_s: f64,
    pub(crate) reads_per_s: f64,
}

impl Measured {
    /// `samples` over a window of `window`.
    pub(crate) fn of(samples: &[Sample], window: Duration) -> Measured {
        let all = Tally::of(samples);
        let mut by_operation = BTreeMap::new();
        for operation in Operation::ALL {
            if samples.iter().any(|s| s.operation == operation) {
                by_operation.insert(
                    operation.name().to_owned(),
                    Tally::of(samples.iter().filter(|s| s.operation == operation)),
                );
            }
        }
        let seconds = window.as_secs_f64().max(1e-9);
        Measured {
            committed_per_s: all.committed as f64 / seconds,
            reads_per_s: all.reads as f64 / seconds,
            all,
            by_operation,
        }
    }
}

impl Report {
    pub(crate) fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report for people.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let load = match &self.load {
            LoadReport::Closed { clients } => format!("closed loop, {clients} clients"),
            LoadReport::Open {
                rate_per_s,
                clients,
                behind_schedule_ms_max,
            } => format!(
                "open loop, {rate_per_s} requests/s over up to {clients} connections (at most {behind_schedule_ms_max:.1} ms behind schedule)"
            ),
        };
        let _ = writeln!(
            out,
            "workload {} ({load}), {} patients; {:.1} s measured after {:.1} s of warm-up",
            self.workload, self.patients, self.measured_s, self.warmup_s
        );
        let _ = writeln!(
            out,
            "committed {:.1}/s, reads {:.1}/s; {} operations: {} committed, {} read, {} pending (202), {} failed",
            self.committed_per_s,
            self.reads_per_s,
            self.all.operations,
            self.all.committed,
            self.all.reads,
            self.all.pending,
            self.all.failed
        );
        let _ = writeln!(
            out,
            "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "operation", "ok", "failed", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        let mut row = |name: &str, tally: &Tally| {
            let _ = writeln!(
                out,
                "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                tally.committed + tally.reads,
                tally.failed,
                ms(tally.latency_ms.p50),
                ms(tally.latency_ms.p95),
                ms(tally.latency_ms.p99),
                ms(tally.latency_ms.max)
            );
        };
        for (name, tally) in &self.by_operation {
            row(name, tally);
        }
        if self.by_operation.len() > 1 {
            row("all", &self.all);
        }
        if !self.all.failures.is_empty() {
            let failures: Vec<String> = self
                .all
                .failures
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            let _ = writeln!(out, "failures by code: {}", failures.join(", "));
        }
        if let Some(process) = &self.process {
            let _ = writeln!(
                out,
                "node process {}{}: CPU {:.1} s ({:.2} cores), resident {:.1} MiB (peak {:.1} MiB)",
                process.pid,
                if process.includes_bench {
                    " (this process: node and bench clients)"
                } else {
                    ""
                },
                process.cpu_s,
                process.cpu_cores,
                process.rss_bytes as f64 / MIB,
                process.rss_peak_bytes as f64 / MIB
            );
        }
        if let Some(disk) = &self.disk {
            let per_record = disk
                .bytes_per_record
                .map_or_else(|| "-".to_owned(), |b| format!("{b:.0}"));
            let _ = writeln!(
                out,
                "data directory: {:.1} MiB → {:.1} MiB, {per_record} bytes per committed record",
                disk.bytes_before as f64 / MIB,
                disk.bytes_after as f64 / MIB
            );
        }
        if let Some(check) = &self.check {
            let _ = writeln!(
                out,
                "check through the API: notes {} answered committed, {} on the ledger; amendments {} answered committed, {} on the ledger; {} answered 202: {}",
                check.notes_answered_committed,
                check.notes_on_ledger,
                check.amendments_answered_committed,
                check.amendments_on_ledger,
                check.writes_answered_pending,
                if check.consistent {
                    "consistent"
                } else {
                    "INCONSISTENT"
                }
            );
        }
        out
    }
}

const MIB: f64 = 1024.0 * 1024.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        for (p, expected) in [
            (50.0, 50),
            (95.0, 95),
            (99.0, 99),
            (99.9, 100),
            (100.0, 100),
            (0.1, 1),
        ] {
            assert_eq!(percentile(&values, p), Some(expected), "p{p}");
        }
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2], 50.0), Some(1));
        assert_eq!(percentile(&[1, 2], 51.0), Some(2));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn latency_in_milliseconds_of_unsorted_microseconds() {
        let latency = Latency::of(vec![3_000, 1_000, 2_000, 10_000]);
        assert_eq!(latency.p50, Some(2.0));
        assert_eq!(latency.p99, Some(10.0));
        assert_eq!(latency.max, Some(10.0));
        assert_eq!(latency.mean, Some(4.0));
        assert_eq!(Latency::of(Vec::new()), Latency::default());
    }

    fn sample(operation: Operation, ms: u64, outcome: Outcome) -> Sample {
        Sample {
            operation,
            latency: Duration::from_millis(ms),
            outcome,
        }
    }

    fn samples() -> Vec<Sample> {
        vec![
            sample(Operation::CreateNote, 2, Outcome::Committed),
            sample(Operation::CreateNote, 4, Outcome::Committed),
            sample(Operation::CreateNote, 30_000, Outcome::Pending),
            sample(Operation::Amend, 6, Outcome::Committed),
            sample(
                Operation::Amend,
                1,
                Outcome::Failed("precondition_failed".into()),
            ),
            sample(
                Operation::Amend,
                1,
                Outcome::Failed("precondition_failed".into()),
            ),
            sample(Operation::Chart, 1, Outcome::Read),
            sample(Operation::Chart, 35_000, Outcome::Failed("timeout".into())),
        ]
    }

    #[test]
    fn failures_by_code_and_pending_apart() {
        let tally = Tally::of(&samples());
        assert_eq!(
            (
                tally.operations,
                tally.committed,
                tally.reads,
                tally.pending,
                tally.failed
            ),
            (8, 3, 1, 1, 3)
        );
        assert_eq!(
            tally.failures,
            BTreeMap::from([
                ("precondition_failed".to_owned(), 2),
                ("timeout".to_owned(), 1)
            ])
        );
        // Only successes count in the latency: not the 202's 30 s nor the timeout.
        assert_eq!(tally.latency_ms.max, Some(6.0));
        assert_eq!(tally.latency_ms.p50, Some(2.0));
    }

    fn report() -> Report {
        let measured = Measured::of(&samples(), Duration::from_secs(2));
        Report {
            workload: "mix".into(),
            load: LoadReport::Closed { clients: 4 },
            warmup_s: 1.0,
            measured_s: 2.0,
            patients: 3,
            committed_per_s: measured.committed_per_s,
            reads_per_s: measured.reads_per_s,
            all: measured.all,
            by_operation: measured.by_operation,
            process: None,
            disk: Some(DiskReport {
                bytes_before: 1000,
                bytes_after: 4000,
                bytes_per_record: Some(1000.0),
            }),
            check: None,
        }
    }

    #[test]
    fn the_json_has_the_fields_compare_reads_in_their_order() {
        let report = report();
        assert_eq!(report.committed_per_s, 1.5);
        assert_eq!(report.reads_per_s, 0.5);
        let json = report.json();
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(
            value["load"],
            serde_json::json!({"mode": "closed", "clients": 4})
        );
        assert_eq!(value["committed"], 3);
        assert_eq!(value["pending"], 1);
        assert_eq!(value["failures"]["precondition_failed"], 2);
        assert_eq!(value["latency_ms"]["p99"], 6.0);
        assert_eq!(value["by_operation"]["amend"]["failed"], 2);
        assert_eq!(value["by_operation"]["create-note"]["committed"], 2);
        assert_eq!(value["disk"]["bytes_per_record"], 1000.0);
        assert!(value["process"].is_null());
        // bench/compare takes the first "p50" and "p99": the run's, not an operation's.
        let first = |key: &str| json.find(&format!("\"{key}\"")).expect(key);
        assert!(first("committed_per_s") < first("p50"));
        assert!(first("latency_ms") < first("by_operation"));
        assert!(first("p99") < first("by_operation"));
    }

    #[test]
    fn the_table_names_every_operation_and_failure() {
        let table = report().table();
        for expected in [
            "workload mix (closed loop, 4 clients)",
            "committed 1.5/s",
            "create-note",
            "amend",
            "chart",
            "all",
            "failures by code: precondition_failed 2, timeout 1",
            "1000 bytes per committed record",
        ] {
            assert!(table.contains(expected), "{expected:?} in\n{table}");
        }
    }
}
