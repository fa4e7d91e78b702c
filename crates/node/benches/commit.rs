//! Benchmark: committed transactions per second and commit latency on one durable node, with every
//! signature and certificate checked. Not a test: it prints numbers for `docs/benchmarks.md`.
//!
//! `cargo bench -p medledger-node --bench commit` runs two phases on a fresh data directory under
//! `target/`, on disk (redb, fsync on every block commit):
//! 0. one client — `MEDLEDGER_BENCH_ALONE` (default 500) note creations one after the other;
//! 1. saturation — `MEDLEDGER_BENCH_TXS` (default 20,000) note creations with up to
//!    `MEDLEDGER_BENCH_IN_FLIGHT` (default 2,000) in flight: committed tx/s and latency percentiles;
//! 2. open loop — `MEDLEDGER_BENCH_RATE` (default 1,000) transactions per second offered for
//!    `MEDLEDGER_BENCH_SECONDS` (default 10) seconds: latency percentiles from request to commit status.
//!
//! With `MEDLEDGER_BENCH_KEEP=DIR` (a directory that does not exist yet) the data directory is made
//! there and kept: `MEDLEDGER_BENCH_TXS=100000 MEDLEDGER_BENCH_SECONDS=0` makes the ledger that
//! `medledger verify`'s benchmark in `docs/benchmarks.md` reads.
//!
//! Each transaction is the whole write path: a doctor's proposal is signed, endorsed (signature and
//! certificate checked, contract simulated, endorsement signed), ordered, cut into a block, validated
//! (certificates, batch signature verification, policy, duplicates, MVCC) and committed durably.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medledger_contract::ehr::{EhrCall, NewRecord, samples};
use medledger_node::{DataDir, Identity, Node};

#[path = "common/mod.rs"]
mod common;
use common::{PATIENTS_COUNT, env_or};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, count: usize, elapsed: Duration, mut latencies: Vec<Duration>, blocks: u64) {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<28} {count:>7} tx in {:>6.2} s = {:>7.0} tx/s | latency p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms | {blocks} blocks ({:.0} tx/block)",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        count as f64 / blocks.max(1) as f64,
    );
}

async fn create_note(node: &Node, doctor: &Identity, id: i64) -> Duration {
    let call = EhrCall::Create(NewRecord::Note(samples::note(id, 1 + id % PATIENTS_COUNT)));
    let started = Instant::now();
    node.invoke(doctor, call.function(), vec![call.encode()])
        .await
        .expect("committed");
    started.elapsed()
}

fn main() {
    let txs = env_or("MEDLEDGER_BENCH_TXS", 20_000) as i64;
    let in_flight = env_or("MEDLEDGER_BENCH_IN_FLIGHT", 2_000) as usize;
    let rate = env_or("MEDLEDGER_BENCH_RATE", 1_000);
    let seconds = env_or("MEDLEDGER_BENCH_SECONDS", 10);

    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&target).expect("bench directory");
    let temporary = tempfile::tempdir_in(&target).expect("bench data directory on disk");
    let kept = std::env::var_os("MEDLEDGER_BENCH_KEEP").map(std::path::PathBuf::from);
    let path = kept
        .clone()
        .unwrap_or_else(|| temporary.path().to_path_buf());
    if kept.is_some() {
        std::fs::create_dir(&path).expect("MEDLEDGER_BENCH_KEEP must not exist yet");
    }
    let data = DataDir::new(&path);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    runtime.block_on(async {
        let (node, doctor) = common::doctor_with_patients(&data).await;
        println!(
            "machine: {} cores; data directory {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            path.display()
        );

        // Phase 0: one client alone, one write after the other (what one person at the desk waits).
        let alone = env_or("MEDLEDGER_BENCH_ALONE", 500) as i64;
        let height = node.peer().height();
        let started = Instant::now();
        let mut latencies = Vec::new();
        for n in 0..alone {
            latencies.push(create_note(&node, &doctor, 10_000_000 + n).await);
        }
        report(
            "one client",
            latencies.len(),
            started.elapsed(),
            latencies,
            node.peer().height() - height,
        );

        // Phase 1: saturation.
        let height = node.peer().height();
        let started = Instant::now();
        let latencies = common::create_records(&node, &doctor, 1..=txs, in_flight, |id| {
            NewRecord::Note(samples::note(id, 1 + id % PATIENTS_COUNT))
        })
        .await;
        report(
            "saturation",
            latencies.len(),
            started.elapsed(),
            latencies,
            node.peer().height() - height,
        );

        // Phase 2: open loop at a fixed offered rate.
        let total = rate * seconds;
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let height = node.peer().height();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..total {
            let due = started + interval.mul_f64(n as f64);
            tokio::time::sleep_until(due.into()).await;
            let (node, doctor) = (Arc::clone(&node), Arc::clone(&doctor));
            let id = txs + 1 + n as i64;
            tasks.spawn(async move { create_note(&node, &doctor, id).await });
        }
        let latencies: Vec<Duration> = tasks.join_all().await;
        report(
            &format!("open loop at {rate}/s"),
            latencies.len(),
            started.elapsed(),
            latencies,
            node.peer().height() - height,
        );

        match Arc::try_unwrap(node) {
            Ok(node) => node.shutdown().expect("stop"),
            Err(_) => unreachable!("every task has finished"),
        }
    });
}
