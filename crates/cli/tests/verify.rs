//! `medledger verify` on a data directory: the failure this pins is damage to the ledger file going
//! unnoticed, or being reported with a panic or without saying where it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use medledger_peer::verify::verify_ledger;
use medledger_store::{PageChecksums, RedbOptions, RedbStore, Store};
use medledger_types::{Checkpoint, codec};

use medledger_contract::ehr::{EhrCall, NewRecord, samples};
use medledger_node::init::issue_identity;
use medledger_node::{DataDir, InitOptions, InitOutcome, Node, NodeOptions, init, now_ms};
use medledger_types::{BatchConfig, Role, SignedCheckpoint};

/// A note text that appears nowhere else, to find the note's bytes in the file.
const MARKER: &str = "MARKER-7f3a9c-cefalea";

/// Builds a small ledger; returns the number of the block that holds the marked note.
fn build_ledger(data: &DataDir) -> u64 {
    build_ledger_with_checkpoint(data).0
}

/// Builds a small ledger; returns the number of the block that holds the marked note and the
/// checkpoint the peer signed half-way.
fn build_ledger_with_checkpoint(data: &DataDir) -> (u64, SignedCheckpoint) {
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
            ..NodeOptions::default()
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
        let checkpoint = node.peer().checkpoint().expect("checkpoint");
        let mut note = samples::note(100, 1);
        note.note_text = MARKER.into();
        let marked = invoke(&doctor, EhrCall::Create(NewRecord::Note(note))).await;
        invoke(
            &doctor,
            EhrCall::Create(NewRecord::Note(samples::note(101, 1))),
        )
        .await;
        node.shutdown().expect("stop");
        (marked.status.block, checkpoint)
    })
}

fn verify(data: &Path) -> (i32, String) {
    verify_with(data, &[])
}

fn verify_with(data: &Path, flags: &[&std::ffi::OsStr]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["verify", "--data"])
        .arg(data)
        .args(flags)
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
    let answers = |path: &Path| {
        let (store, _) = RedbStore::open_read_only(path, &RedbOptions::default()).expect("opens");
        let answers = (
            store.block_bytes(marked_block).expect("block"),
            store.range("", "\u{10FFFF}", 1000).expect("state"),
        );
        store.close().expect("close");
        answers
    };
    let honest = answers(&path);
    // The note is on disk once, in its block (stored compressed: the read–write set's copy of the
    // proposal's text is a back-reference); the state and the history point into the block. A copy in
    // a page that copy-on-write freed is read by nothing.
    let mut caught = 0;
    for at in places {
        let mut damaged = original.clone();
        damaged[at + 7] ^= 0x01;
        std::fs::write(&path, &damaged).expect("write damaged ledger");
        let (code, text) = verify(dir.path());
        if code == 0 {
            assert_eq!(
                answers(&path),
                honest,
                "the flip at offset {at} changed what the store answers, and verify passed:\n{text}"
            );
            continue;
        }
        assert_eq!(
            code, 2,
            "a flipped byte at offset {at} must fail verification:\n{text}"
        );
        assert!(
            text.contains(&format!("block {marked_block}")),
            "the report names block {marked_block} for the flip at offset {at}:\n{text}"
        );
        caught += 1;
    }
    assert!(
        caught >= 1,
        "the live copy of the marker (in its block) is caught: {caught}"
    );
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

/// Every file under `root` with its bytes: what "no byte changed" compares.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                out.insert(path, bytes);
            }
        }
    }
    out
}

#[test]
fn verify_changes_no_byte_of_the_data_directory_on_a_clean_or_a_damaged_ledger() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    build_ledger(&data);
    let before = snapshot(dir.path());
    let (code, text) = verify(dir.path());
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a clean ledger's directory is unchanged"
    );

    let path = data.ledger();
    let mut damaged = std::fs::read(&path).expect("read");
    let at = occurrences(&damaged, MARKER.as_bytes())[0];
    damaged[at] ^= 0x20;
    std::fs::write(&path, &damaged).expect("damage");
    let before = snapshot(dir.path());
    let (code, text) = verify(dir.path());
    assert_eq!(code, 2, "{text}");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a damaged ledger's directory is unchanged"
    );
}

/// Runs the auditor's two checks in this process on the file at `path`: whether redb's page checksums
/// match, and whether the replay passes; and whether a dependency panicked meanwhile.
fn audit_in_process(path: &Path) -> (bool, bool, bool) {
    PANICS.store(0, Ordering::SeqCst);
    let checksums = matches!(
        RedbStore::check_page_checksums(path),
        Ok(PageChecksums::Match)
    );
    let replay = std::panic::catch_unwind(|| {
        RedbStore::open_read_only(path, &RedbOptions::default())
            .ok()
            .is_some_and(|(store, _)| verify_ledger(&store, &mut |_, _| {}).is_ok())
    })
    .unwrap_or(false);
    (checksums, replay, PANICS.load(Ordering::SeqCst) > 0)
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Damage that only redb's page checksums see (the replay passes) is still the damage exit, with a
/// clear message; damage on which a dependency panics is reported as damage without the panic's text.
/// The file's layout is not fixed (keys and times differ each run), so the test searches the file for
/// one flip of each kind, in this process, before running the binary on it.
#[test]
fn checksum_only_damage_fails_and_a_dependency_panic_is_reported_as_damage_without_its_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    build_ledger(&data);
    let path = data.ledger();
    let original = std::fs::read(&path).expect("read");
    let copy_dir = tempfile::tempdir().expect("temp dir");
    let copy = copy_dir.path().join("ledger.redb");
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
    let mut checksum_only = None;
    let mut panicking = None;
    // Every page of 4 KiB, a few places in each: the page header and its body.
    'search: for page in 0..original.len() / 4096 {
        for within in [0usize, 1, 9, 17, 40, 200, 1000, 3000] {
            let at = page * 4096 + within;
            let mut damaged = original.clone();
            damaged[at] ^= 0x04;
            std::fs::write(&copy, &damaged).expect("write copy");
            let (checksums, replay, panicked) = audit_in_process(&copy);
            if !checksums && replay && checksum_only.is_none() {
                checksum_only = Some(damaged.clone());
            }
            if panicked && panicking.is_none() {
                panicking = Some(damaged);
            }
            if checksum_only.is_some() && panicking.is_some() {
                break 'search;
            }
        }
    }
    std::panic::set_hook(previous_hook);

    let damaged = checksum_only.expect("some flip trips only the page checksums");
    std::fs::write(&path, &damaged).expect("damage");
    let (code, text) = verify(dir.path());
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("page checksums do not match"), "{text}");
    assert!(!text.contains("ok:"), "{text}");

    let damaged = panicking.expect("some flip makes redb panic");
    std::fs::write(&path, &damaged).expect("damage");
    let (code, text) = verify(dir.path());
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("FAILED"), "{text}");
    for panic_text in ["panicked", "unwrap", "RUST_BACKTRACE", ".rs:"] {
        assert!(
            !text.contains(panic_text),
            "no panic text ({panic_text}):\n{text}"
        );
    }
}

/// The genesis hash that `verify` printed for a sound ledger.
fn printed_genesis(text: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix("genesis "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("verify prints the genesis hash")
        .to_owned()
}

#[test]
fn the_genesis_anchor_catches_a_wrong_hash_and_a_whole_new_network_in_the_same_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    build_ledger(&data);
    let (code, text) = verify(dir.path());
    assert_eq!(code, 0, "{text}");
    let genesis = printed_genesis(&text);
    let (code, text) = verify_with(dir.path(), &["--genesis".as_ref(), genesis.as_ref()]);
    assert_eq!(code, 0, "{text}");

    let wrong = "00".repeat(32);
    let (code, text) = verify_with(dir.path(), &["--genesis".as_ref(), wrong.as_ref()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("another network"), "{text}");

    // The whole ledger replaced: a new network, consistent with itself, in the same directory.
    for entry in std::fs::read_dir(dir.path()).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("remove");
        } else {
            std::fs::remove_file(&path).expect("remove");
        }
    }
    build_ledger(&data);
    assert_eq!(verify(dir.path()).0, 0, "the new ledger is sound in itself");
    let (code, text) = verify_with(dir.path(), &["--genesis".as_ref(), genesis.as_ref()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("another network"), "{text}");
}

#[test]
fn an_earlier_signed_checkpoint_is_accepted_and_a_forged_or_foreign_one_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let (_, checkpoint) = build_ledger_with_checkpoint(&data);
    let files = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, bytes: &[u8]| {
        let path = files.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let json = |signed: &SignedCheckpoint| {
        serde_json::json!({
            "checkpoint": BASE64.encode(&signed.checkpoint),
            "signature": hex::encode(signed.signature.0),
            "signer_certificate": BASE64.encode(&signed.signer),
        })
        .to_string()
    };
    let with_checkpoint =
        |file: &Path| verify_with(dir.path(), &["--checkpoint".as_ref(), file.as_os_str()]);

    let as_json = write("checkpoint.json", json(&checkpoint).as_bytes());
    let (code, text) = with_checkpoint(&as_json);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("the checkpoint of block"), "{text}");
    let as_bytes = write("checkpoint.bin", &codec::encode(&checkpoint));
    assert_eq!(with_checkpoint(&as_bytes).0, 0);

    // The same checkpoint with another root: the signature no longer covers it.
    let mut forged = checkpoint.clone();
    let mut inner: Checkpoint =
        codec::decode("checkpoint", &forged.checkpoint, 1024).expect("decode");
    inner.root.0[0] ^= 1;
    forged.checkpoint = codec::encode(&inner);
    let (code, text) = with_checkpoint(&write("forged.json", json(&forged).as_bytes()));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("signature does not hold"), "{text}");

    // A genuine checkpoint of another network: its signer does not chain to this genesis.
    let other = tempfile::tempdir().expect("temp dir");
    let (_, foreign) = build_ledger_with_checkpoint(&DataDir::new(other.path()));
    let (code, text) = with_checkpoint(&write("foreign.json", json(&foreign).as_bytes()));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("anchor:"), "{text}");
}
