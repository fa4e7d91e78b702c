//! Commit throughput: one block of 500 transactions with 5 writes each (the default block size), into
//! redb (one durable write transaction) and into memory. Run with `cargo bench -p medledger-store`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use medledger_store::conformance::{TestChain, TestTx, test_envelope, test_tx_id};
use medledger_store::{BlockCommit, MemoryStore, RedbStore, Store};
use medledger_types::ValidationCode;

const TXS_PER_BLOCK: u64 = 500;
const WRITES_PER_TX: u64 = 5;

fn main() {
    divan::main();
}

/// The next block: keys spread over the key space as record ids are, 100-byte values.
fn next_block(chain: &mut TestChain) -> BlockCommit {
    let number = chain.height();
    let txs: Vec<TestTx> = (0..TXS_PER_BLOCK)
        .map(|i| {
            let id = number * TXS_PER_BLOCK + i;
            let writes: BTreeMap<String, Vec<u8>> = (0..WRITES_PER_TX)
                .map(|w| (format!("record/{}/{w}", test_tx_id(id)), vec![w as u8; 100]))
                .collect();
            TestTx {
                tx_id: Some(test_tx_id(id)),
                code: ValidationCode::Valid,
                entry: Some(test_envelope(id, &writes)),
                writes: writes.into_iter().collect(),
            }
        })
        .collect();
    chain.next_commit(&txs)
}

fn bench_store(bencher: divan::Bencher, store: &dyn Store) {
    let chain = RefCell::new(TestChain::new());
    // sample_size = 1: each input is built just before it is committed, so blocks arrive in order.
    bencher
        .counter(divan::counter::ItemsCount::new(TXS_PER_BLOCK))
        .with_inputs(|| next_block(&mut chain.borrow_mut()))
        .bench_local_values(|commit| store.commit(commit).expect("commit"));
}

#[divan::bench(sample_count = 30, sample_size = 1)]
fn commit_500_txs_redb(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = RedbStore::open(&dir.path().join("bench.redb")).expect("open");
    bench_store(bencher, &store);
}

#[divan::bench(sample_count = 30, sample_size = 1)]
fn commit_500_txs_memory(bencher: divan::Bencher) {
    bench_store(bencher, &MemoryStore::new());
}
