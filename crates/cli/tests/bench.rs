//! `medledger bench` as a process, against a node it starts in itself: the failures this pins are a
//! report that counts writes the ledger does not hold (or misses some it does), failures not
//! attributed to the API's code, a JSON report without the fields `bench/compare` reads, and a setup
//! that does not get past the doctor's required password change. Sizes are counted (`--requests`),
//! not timed, and no latency is asserted.

use std::process::Command;

use serde_json::Value;

/// `medledger bench --in-process --json --check` with `args`; the report (panics unless exit 0).
fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args([
            "bench",
            "--in-process",
            "--json",
            "--check",
            "--warmup",
            "0",
        ])
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("MEDLEDGER_ADMIN_PASSWORD")
        .output()
        .expect("run medledger bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{args:?}: {}\n{stderr}",
        output.status
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn count(report: &Value, path: &[&str]) -> u64 {
    path.iter()
        .fold(report, |value, key| &value[*key])
        .as_u64()
        .unwrap_or_else(|| panic!("{path:?} in {report:#}"))
}

#[test]
fn what_the_report_says_was_committed_is_what_the_ledger_holds() {
    let report = bench(&[
        "--workload",
        "mix",
        "--clients",
        "4",
        "--requests",
        "120",
        "--patients",
        "3",
    ]);
    assert_eq!(report["workload"], "mix");
    assert_eq!(report["load"]["mode"], "closed");
    assert_eq!(count(&report, &["operations"]), 120);
    // Every operation is accounted for once.
    let failures: u64 = report["failures"]
        .as_object()
        .expect("failures by code")
        .values()
        .map(|n| n.as_u64().expect("a count"))
        .sum();
    assert_eq!(count(&report, &["failed"]), failures);
    assert_eq!(
        count(&report, &["committed"])
            + count(&report, &["reads"])
            + count(&report, &["pending"])
            + failures,
        120
    );
    // The mix reads and writes; per operation, the counts add up to the whole.
    let by_operation = report["by_operation"].as_object().expect("by operation");
    let sum = |field: &str| -> u64 {
        by_operation
            .values()
            .map(|tally| tally[field].as_u64().expect("a count"))
            .sum()
    };
    assert_eq!(sum("operations"), 120);
    assert_eq!(sum("committed"), count(&report, &["committed"]));
    assert_eq!(count(&report, &["by_operation", "chart", "committed"]), 0);
    // Failures are the API's codes, and only an amendment can be refused: a stale version (412), or
    // a conflict the service's retries did not get past.
    for (code, _) in report["failures"].as_object().expect("failures") {
        assert!(
            ["precondition_failed", "conflict"].contains(&code.as_str()),
            "{code} in {report:#}"
        );
    }
    assert_eq!(
        count(&report, &["by_operation", "amend", "failed"]),
        failures
    );
    // Counted through the API afterwards: the warm-up is 0, so the measured writes are all of them.
    let check = &report["check"];
    assert_eq!(check["consistent"], true, "{report:#}");
    assert_eq!(
        count(check, &["notes_on_ledger"]),
        count(&report, &["by_operation", "create-note", "committed"])
    );
    assert_eq!(
        count(check, &["amendments_on_ledger"]),
        count(&report, &["by_operation", "amend", "committed"])
    );
    // What bench/compare reads, and the process and disk measures of an in-process node.
    assert!(report["committed_per_s"].as_f64().expect("a rate") > 0.0);
    assert!(report["latency_ms"]["p99"].as_f64().is_some());
    assert_eq!(report["process"]["includes_bench"], true);
    assert!(count(&report, &["process", "rss_bytes"]) > 0);
    assert!(report["disk"]["bytes_per_record"].as_f64().is_some());
}

#[test]
fn an_open_loop_of_blind_inserts_commits_every_note_it_reports() {
    let report = bench(&[
        "--workload",
        "create-note",
        "--rate",
        "400",
        "--clients",
        "8",
        "--requests",
        "40",
        "--patients",
        "2",
    ]);
    assert_eq!(report["load"]["mode"], "open");
    assert_eq!(report["load"]["rate_per_s"], 400.0);
    assert_eq!(count(&report, &["operations"]), 40);
    assert_eq!(
        count(&report, &["committed"]) + count(&report, &["pending"]),
        40,
        "{report:#}"
    );
    assert_eq!(
        count(&report, &["check", "notes_on_ledger"]),
        count(&report, &["committed"]) + count(&report, &["pending"])
    );
    assert_eq!(report["check"]["consistent"], true);
}

#[test]
fn a_node_that_is_not_there_is_a_clear_error() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let output = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["bench", "--url", &format!("http://127.0.0.1:{port}")])
        .env("MEDLEDGER_ADMIN_PASSWORD", "irrelevant")
        .output()
        .expect("run medledger bench");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the node at http://127.0.0.1:{port}")),
        "{stderr}"
    );
}
