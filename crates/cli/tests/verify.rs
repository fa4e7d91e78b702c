//! `medledger verify` on a data directory: the failure this pins is damage to the ledger file going
//! unnoticed, or being reported with a panic or without saying where it is.

use std::path::Path;
use std::process::Command;

use medledger_contract::ehr::{EhrCall, NewRecord, samples};
use medledger_node::init::issue_identity;
use medledger_node::{DataDir, InitOptions, InitOutcome, Node, NodeOptions, init, now_ms};
use medledger_types::{BatchConfig, Role};

/// A note text that appears nowhere else, to find the note's bytes in the file.
const MARKER: &str = "MARKER-7f3a9c-cefalea";

/// Builds a small ledger; returns the number of the block that holds the marked note.
fn build_ledger(data: &DataDir) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let InitOutcome::Created { admin, ca } = init(data, &InitOptions::default()).expect("init")
        else {
            panic!("fresh directory")
        };
        let options = NodeOptions {
            batch: Some(BatchConfig {
                tx_count_max: 10,
                bytes_max: 1 << 20,
                timeout_ms: 2,
            }),
        };
        let node = Node::start(data, &options).expect("start");
        medledger_node::register_first_admin(&node, &admin, "admin@medledger.local")
            .await
            .expect("admin");
        let doctor =
            issue_identity(&ca, "ana@hospital.cu", Role::Doctor, now_ms() / 1000).expect("doctor");
        let invoke = |who, call: EhrCall| {
            let node = &node;
            async move {
                node.invoke(who, call.function(), vec![call.encode()])
                    .await
                    .expect("committed")
            }
        };
        invoke(
            &admin,
            EhrCall::Create(NewRecord::Doctor(samples::doctor(
                10,
                "ana@hospital.cu",
                doctor.certificate.clone(),
            ))),
        )
        .await;
        invoke(
            &doctor,
            EhrCall::Create(NewRecord::Patient(samples::patient(1))),
        )
        .await;
        let mut note = samples::note(100, 1);
        note.note_text = MARKER.into();
        let marked = invoke(&doctor, EhrCall::Create(NewRecord::Note(note))).await;
        invoke(
            &doctor,
            EhrCall::Create(NewRecord::Note(samples::note(101, 1))),
        )
        .await;
        node.shutdown().expect("stop");
        marked.status.block
    })
}

fn verify(data: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["verify", "--data"])
        .arg(data)
        .output()
        .expect("run medledger verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains("panicked"), "verify must not panic:\n{text}");
    (output.status.code().unwrap_or(-1), text)
}

fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn an_honest_ledger_verifies_and_every_flipped_copy_of_a_record_is_found_in_its_block() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let marked_block = build_ledger(&data);

    let (code, text) = verify(dir.path());
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ok:"), "{text}");

    let path = data.ledger();
    let original = std::fs::read(&path).expect("read ledger");
    let places = occurrences(&original, MARKER.as_bytes());
    // The note is in the block (proposal and read-write set), in the state and in the history.
    assert!(
        places.len() >= 3,
        "the marker is stored in several places: {places:?}"
    );
    for at in places {
        let mut damaged = original.clone();
        damaged[at + 7] ^= 0x01;
        std::fs::write(&path, &damaged).expect("write damaged ledger");
        let (code, text) = verify(dir.path());
        assert_eq!(
            code, 2,
            "a flipped byte at offset {at} must fail verification:\n{text}"
        );
        assert!(
            text.contains(&format!("block {marked_block}")),
            "the report names block {marked_block} for the flip at offset {at}:\n{text}"
        );
    }
    std::fs::write(&path, &original).expect("restore");
    assert_eq!(verify(dir.path()).0, 0);
}

#[test]
fn a_truncated_or_missing_ledger_is_an_error_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let (code, text) = verify(dir.path());
    assert_ne!(code, 0);
    assert!(text.contains("does not exist"), "{text}");

    build_ledger(&data);
    let path = data.ledger();
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).expect("truncate");
    let (code, text) = verify(dir.path());
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("error") || text.contains("FAILED"), "{text}");
}
