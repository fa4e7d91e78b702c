//! Measurement: where the bytes of a ledger go. Not a test: it prints the numbers of
//! `docs/benchmarks.md`, "Bytes on disk per note".
//!
//! `cargo run -p medledger-node --example disk_usage` makes a node in a fresh data directory
//! under `target/`, registers an administrator, a doctor and 100 patients, then has the doctor create
//! `MEDLEDGER_DISK_NOTES` (default 5,000) notes of about 300 bytes (as the REST run did),
//! `MEDLEDGER_DISK_IN_FLIGHT` (default 1) at a time. It stops the node and prints, for the ledger file:
//! its size, redb's statistics of each table, and what the block entries hold (proposal arguments,
//! certificates, read–write sets, signatures).

use std::sync::Arc;

use medledger_contract::ehr::{NewRecord, RecordKind, keys, samples};
use medledger_node::DataDir;
use medledger_store::{RedbStore, Store};
use medledger_types::{Envelope, Proposal, ProposalResponsePayload, codec, limits};

#[path = "../benches/common/mod.rs"]
mod common;
use common::{PATIENTS_COUNT, env_or};

/// A note whose text is about 300 bytes, different for every id (words drawn by a fixed generator, so
/// that compression cannot profit from notes being copies of each other).
fn note(id: i64) -> NewRecord {
    const WORDS: &[&str] = &[
        "paciente",
        "refiere",
        "cefalea",
        "fiebre",
        "dolor",
        "abdominal",
        "tos",
        "seca",
        "desde",
        "hace",
        "tres",
        "días",
        "semanas",
        "sin",
        "con",
        "náuseas",
        "vómitos",
        "examen",
        "físico",
        "normal",
        "tensión",
        "arterial",
        "frecuencia",
        "cardíaca",
        "saturación",
        "se",
        "indica",
        "paracetamol",
        "ibuprofeno",
        "amoxicilina",
        "cada",
        "ocho",
        "horas",
        "control",
        "en",
        "una",
        "semana",
        "reposo",
        "hidratación",
        "antecedentes",
        "diabetes",
        "hipertensión",
        "alergia",
        "penicilina",
        "refiere",
        "mejoría",
        "parcial",
        "empeora",
        "noche",
        "esfuerzo",
        "leve",
        "moderado",
        "intenso",
        "derivar",
        "cardiología",
        "laboratorio",
        "hemograma",
        "glucemia",
    ];
    let mut state = (id as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut text = String::new();
    while text.len() < 300 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[(state >> 33) as usize % WORDS.len()]);
    }
    let mut note = samples::note(id, 1 + id % PATIENTS_COUNT);
    note.note_text = text;
    NewRecord::Note(note)
}

/// Bytes of the block entries by part, summed over the ledger.
#[derive(Default, Debug)]
struct EntryBytes {
    entries: u64,
    entry_bytes: u64,
    args: u64,
    creator: u64,
    rwset_reads: u64,
    rwset_write_keys: u64,
    rwset_write_values: u64,
    response: u64,
    endorsers: u64,
    signatures: u64,
    block_overhead: u64,
    orderer: u64,
}

fn identity_bytes(identity: &impl borsh::BorshSerialize) -> u64 {
    codec::encode(identity).len() as u64
}

fn count_entries(store: &RedbStore) -> EntryBytes {
    let mut out = EntryBytes::default();
    let height = store.height().expect("height");
    for number in 1..height {
        let block = store.block(number).expect("block").expect("present");
        let block_bytes = codec::encode(&block).len() as u64;
        let mut entries_bytes = 0;
        out.orderer += codec::encode(&block.metadata.orderer_signature).len() as u64;
        for entry in &block.data.entries {
            entries_bytes += entry.len() as u64 + 4;
            out.entries += 1;
            out.entry_bytes += entry.len() as u64;
            let envelope: Envelope =
                codec::decode("envelope", entry, limits::ENVELOPE_BYTES_MAX).expect("envelope");
            let proposal: Proposal = codec::decode(
                "proposal",
                &envelope.proposal.proposal,
                limits::PROPOSAL_BYTES_MAX,
            )
            .expect("proposal");
            let payload: ProposalResponsePayload = codec::decode(
                "payload",
                &envelope.response_payload,
                limits::ENVELOPE_BYTES_MAX,
            )
            .expect("payload");
            out.args += proposal
                .args
                .iter()
                .map(|a| a.len() as u64 + 4)
                .sum::<u64>();
            out.creator += identity_bytes(&proposal.creator);
            out.rwset_reads += codec::encode(&payload.rwset.reads).len() as u64;
            for write in &payload.rwset.writes {
                out.rwset_write_keys += write.key.len() as u64 + 4;
                out.rwset_write_values += write.value.len() as u64 + 4;
            }
            out.response += codec::encode(&payload.response).len() as u64;
            for endorsement in &envelope.endorsements {
                out.endorsers += identity_bytes(&endorsement.endorser);
            }
            out.signatures += 64 * (1 + envelope.endorsements.len() as u64);
        }
        out.block_overhead += block_bytes - entries_bytes;
    }
    out
}

fn main() {
    let notes = env_or("MEDLEDGER_DISK_NOTES", 5_000) as i64;
    let in_flight = env_or("MEDLEDGER_DISK_IN_FLIGHT", 1) as usize;
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&target).expect("bench directory");
    let temporary = tempfile::tempdir_in(&target).expect("data directory");
    let data = DataDir::new(temporary.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = std::time::Instant::now();
    runtime.block_on(async {
        let (node, doctor) = common::doctor_with_patients(&data).await;
        common::create_records(&node, &doctor, 1..=notes, in_flight, note).await;
        match Arc::try_unwrap(node) {
            Ok(node) => node.shutdown().expect("stop"),
            Err(_) => unreachable!("every task has finished"),
        }
    });
    let elapsed = started.elapsed();
    let metadata = std::fs::metadata(data.ledger()).expect("ledger");
    let file_bytes = metadata.len();
    // What the file occupies (`du`): redb grows a file by doubling it (up to 4 GiB regions), and the
    // grown tail is a hole until pages are written there.
    let disk_bytes = std::os::unix::fs::MetadataExt::blocks(&metadata) * 512;
    let store = RedbStore::open(&data.ledger()).expect("open");
    let height = store.height().expect("height");
    let per_note = |bytes: u64| bytes as f64 / notes as f64;
    println!(
        "{notes} notes, {in_flight} in flight, {height} blocks, {:.1} s; ledger.redb {file_bytes} bytes = {:.0} bytes per note; on disk (du) {disk_bytes} bytes = {:.0} bytes per note",
        elapsed.as_secs_f64(),
        per_note(file_bytes),
        per_note(disk_bytes)
    );
    let report = store.storage_report().expect("report");
    println!(
        "{:<16} {:>9} {:>12} {:>9} {:>12} {:>9} {:>10} {:>9}",
        "table", "entries", "stored", "/note", "metadata", "/note", "fragmented", "/note"
    );
    for t in &report.tables {
        println!(
            "{:<16} {:>9} {:>12} {:>9.0} {:>12} {:>9.0} {:>10} {:>9.0}",
            t.name,
            t.entries,
            t.stored_bytes,
            per_note(t.stored_bytes),
            t.metadata_bytes,
            per_note(t.metadata_bytes),
            t.fragmented_bytes,
            per_note(t.fragmented_bytes)
        );
    }
    println!(
        "redb: page {} bytes, {} pages allocated = {} bytes ({:.0}/note); fragmented incl. free pages {} ({:.0}/note); redb metadata {} ({:.0}/note)",
        report.page_size,
        report.allocated_pages,
        report.allocated_pages * report.page_size,
        per_note(report.allocated_pages * report.page_size),
        report.fragmented_bytes,
        per_note(report.fragmented_bytes),
        report.metadata_bytes,
        per_note(report.metadata_bytes),
    );
    if let Some(dir) = std::env::var_os("MEDLEDGER_DISK_DUMP") {
        for number in (height * 3 / 4)..(height * 3 / 4 + 3).min(height) {
            let bytes = store.block_bytes(number).expect("block").expect("present");
            std::fs::write(
                std::path::Path::new(&dir).join(format!("block-{number}")),
                bytes,
            )
            .expect("dump");
        }
    }
    // What a read of a long state value costs now that it comes from its block: the first read of
    // each note after opening (nothing cached), then the same notes again (from the value cache).
    let sample: Vec<String> = (1..=notes)
        .step_by((notes as usize / 1000).max(1))
        .map(|id| keys::record(RecordKind::Note, id))
        .collect();
    for pass in ["first read", "read again"] {
        let started = std::time::Instant::now();
        for key in &sample {
            assert!(store.get(key).expect("get").is_some());
        }
        println!(
            "{pass} of a note: {:.1} µs each ({} notes)",
            started.elapsed().as_secs_f64() * 1e6 / sample.len() as f64,
            sample.len()
        );
    }
    let e = count_entries(&store);
    println!(
        "block entries: {} entries, {} bytes ({:.0}/entry)",
        e.entries,
        e.entry_bytes,
        e.entry_bytes as f64 / e.entries.max(1) as f64
    );
    let per_entry = |b: u64| b as f64 / e.entries.max(1) as f64;
    for (what, bytes) in [
        ("proposal args", e.args),
        ("creator", e.creator),
        ("rwset reads", e.rwset_reads),
        ("rwset write keys", e.rwset_write_keys),
        ("rwset write values", e.rwset_write_values),
        ("response", e.response),
        ("endorsers", e.endorsers),
        ("signatures", e.signatures),
        ("block header+metadata", e.block_overhead),
        ("  of which orderer sig", e.orderer),
    ] {
        println!("  {what:<24} {bytes:>12} {:>8.0}/entry", per_entry(bytes));
    }
}
