//! Pins: the redb store and the in-memory store disagreeing about anything after the same sequence of
//! commits (accepted, refused as out of order, or refused as invalid). The in-memory store is the
//! simple reference; random sequences explore latest-wins, duplicate ids, invalid transactions, prefix
//! keys and Merkle growth together.

use medledger_store::conformance::{TestChain, TestTx, snapshot, test_tx_id};
use medledger_store::{BlockCommit, MemoryStore, RedbStore, Store, StoreError};
use medledger_types::ValidationCode;
use proptest::prelude::*;

const KEYS: [&str; 7] = ["a", "b", "", "note/", "note/1", "note/10", "note/1/0"];
const TX_ID_COUNT: u64 = 12;

#[derive(Clone, Debug)]
struct TxPlan {
    /// `None`: an entry without a transaction id.
    id: Option<u64>,
    code: ValidationCode,
    writes: Vec<(usize, Vec<u8>)>,
}

#[derive(Clone, Debug)]
enum Step {
    Commit(Vec<TxPlan>),
    /// Offer the last commit again.
    Replay,
    /// Offer the block after the next one.
    Ahead,
    /// Offer a block whose header hash is wrong.
    BadHash,
}

fn tx_plan() -> impl Strategy<Value = TxPlan> {
    let code = prop_oneof![
        4 => Just(ValidationCode::Valid),
        1 => Just(ValidationCode::MvccReadConflict),
        1 => Just(ValidationCode::DuplicateTxId),
        1 => Just(ValidationCode::BadSignature),
    ];
    let writes = prop::collection::vec(
        (0..KEYS.len(), prop::collection::vec(any::<u8>(), 0..4)),
        0..4,
    );
    (prop::option::weighted(0.9, 0..TX_ID_COUNT), code, writes).prop_map(|(id, code, writes)| {
        match id {
            Some(id) => TxPlan {
                id: Some(id),
                code,
                writes,
            },
            None => TxPlan {
                id: None,
                code: ValidationCode::MalformedEnvelope,
                writes: Vec::new(),
            },
        }
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => prop::collection::vec(tx_plan(), 0..6).prop_map(Step::Commit),
        1 => Just(Step::Replay),
        1 => Just(Step::Ahead),
        1 => Just(Step::BadHash),
    ]
}

fn to_test_txs(plans: &[TxPlan]) -> Vec<TestTx> {
    plans
        .iter()
        .map(|plan| TestTx {
            tx_id: plan.id.map(test_tx_id),
            code: plan.code,
            writes: plan
                .writes
                .iter()
                .map(|(key, value)| (KEYS[*key].to_owned(), value.clone()))
                .collect(),
            entry: None,
        })
        .collect()
}

/// The outcome of a commit, comparable across implementations (error texts may differ).
fn outcome(result: &Result<(), StoreError>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(StoreError::OutOfOrder { expected, got }) => {
            format!("out of order: expected {expected}, got {got}")
        }
        Err(StoreError::Invalid(_)) => "invalid".to_owned(),
        Err(other) => panic!("the store failed: {other:?}"),
    }
}

fn commit_both(stores: &[&dyn Store; 2], commit: &BlockCommit) -> String {
    let memory = outcome(&stores[0].commit(commit.clone()));
    let redb = outcome(&stores[1].commit(commit.clone()));
    assert_eq!(
        memory, redb,
        "the stores disagree about committing block {}",
        commit.block.header.number
    );
    memory
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn both_stores_give_identical_answers(steps in prop::collection::vec(step(), 1..10)) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let memory = MemoryStore::new();
        let redb = RedbStore::open(&dir.path().join("ledger.redb")).expect("a new store opens");
        let stores: [&dyn Store; 2] = [&memory, &redb];
        let mut chain = TestChain::new();
        let mut last: Option<BlockCommit> = None;
        for step in &steps {
            match step {
                Step::Commit(plans) => {
                    let commit = chain.next_commit(&to_test_txs(plans));
                    prop_assert_eq!(commit_both(&stores, &commit), "ok");
                    last = Some(commit);
                }
                Step::Replay => {
                    if let Some(commit) = &last {
                        prop_assert!(commit_both(&stores, commit).starts_with("out of order"));
                    }
                }
                Step::Ahead => {
                    let mut ahead = chain.clone();
                    ahead.next_commit(&[]);
                    let commit = ahead.next_commit(&to_test_txs(&[]));
                    prop_assert!(commit_both(&stores, &commit).starts_with("out of order"));
                }
                Step::BadHash => {
                    let mut commit = chain.clone().next_commit(&[TestTx::valid(0, &[("a", b"bad")])]);
                    commit.header_hash.0[0] ^= 1;
                    prop_assert_eq!(commit_both(&stores, &commit), "invalid");
                }
            }
            prop_assert_eq!(memory.height().expect("height"), redb.height().expect("height"));
        }
        let tx_ids: Vec<_> = (0..TX_ID_COUNT).map(test_tx_id).collect();
        let expected = snapshot(&memory, &KEYS, &tx_ids).expect("memory snapshot");
        let actual = snapshot(&redb, &KEYS, &tx_ids).expect("redb snapshot");
        prop_assert_eq!(&actual, &expected);
        drop(redb);
        let reopened = RedbStore::open(&dir.path().join("ledger.redb")).expect("the store reopens");
        prop_assert_eq!(&snapshot(&reopened, &KEYS, &tx_ids).expect("reopened snapshot"), &expected);
    }
}
