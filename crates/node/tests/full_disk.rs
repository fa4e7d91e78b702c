//! A node whose disk fills up (issue 8, item 8): the failures this pins are a write acknowledged and then
//! lost, a node that goes on taking writes it cannot commit, one that says it is healthy meanwhile, and one
//! that needs a restart once space is back. The ledger lives on the simulation's disk (`medledger_sim::disk`)
//! so that the full disk is exact and deterministic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medledger_contract::ehr::{EhrCall, NewRecord, samples};
use medledger_node::{
    DataDir, InitOptions, InitOutcome, InvokeError, Node, NodeError, NodeOptions, init,
};
use medledger_sim::disk::{Disk, Fault};
use medledger_store::{RedbOptions, RedbStore, StateEntry, Store, StoreError};
use medledger_types::{Hash, TxId, TxLocation, Version, VersionedValue};

const DEADLINE: Duration = Duration::from_secs(30);

fn patient(id: i64) -> (String, Vec<Vec<u8>>) {
    let call = EhrCall::Create(NewRecord::Patient(samples::patient(id)));
    (call.function().to_owned(), vec![call.encode()])
}

/// Issues a doctor's identity and records the doctor on the ledger as `admin`.
async fn enrol_doctor(
    node: &Node,
    admin: &medledger_node::Identity,
    ca: &medledger_crypto::x509::CertificateAuthority,
) -> medledger_node::Identity {
    let doctor = medledger_node::init::issue_identity(
        ca,
        "ana@hospital.cu",
        medledger_types::Role::Doctor,
        medledger_node::now_ms() / 1000,
    )
    .expect("doctor");
    let call = EhrCall::Create(NewRecord::Doctor(samples::doctor(
        10,
        "ana@hospital.cu",
        doctor.certificate.clone(),
    )));
    node.invoke(admin, call.function(), vec![call.encode()])
        .await
        .expect("doctor registered");
    doctor
}

/// A new network whose node runs on a simulated disk.
struct Network {
    node: Node,
    store: Arc<dyn Store>,
    disk: Disk,
    admin: Box<medledger_node::Identity>,
    ca: Box<medledger_crypto::x509::CertificateAuthority>,
}

fn network(dir: &tempfile::TempDir) -> Network {
    let data = DataDir::new(dir.path());
    let InitOutcome::Created { admin, ca } = init(&data, &InitOptions::default()).expect("init")
    else {
        panic!("a fresh directory is initialized")
    };
    // The ledger `init` wrote, copied onto a simulated disk the node then runs on.
    let disk = Disk::with_contents(std::fs::read(data.ledger()).expect("the ledger file"));
    let backend = disk.clone();
    let store: Arc<dyn Store> = Arc::new(
        RedbStore::open_on_backend(move || backend.backend(), &RedbOptions::default())
            .expect("the store opens on the disk"),
    );
    let node = Node::start_on(&data, &NodeOptions::default(), Arc::clone(&store)).expect("starts");
    Network {
        node,
        store,
        disk,
        admin,
        ca,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_writes_and_says_so_and_the_node_resumes_when_space_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Network {
        node,
        store,
        disk,
        admin,
        ca,
    } = network(&dir);
    medledger_node::register_first_admin(&node, &admin, "admin@medledger.local")
        .await
        .expect("first admin");
    let doctor = enrol_doctor(&node, &admin, &ca).await;
    assert_eq!(node.health(), Ok(()));

    // The disk is full from the next write on: the commit fails, the write is not acknowledged.
    node.set_commit_wait_ms(300);
    disk.arm(Fault::DiskFull { at: 1 });
    let (function, args) = patient(1);
    let waited = node.invoke(&doctor, &function, args).await;
    let Err(InvokeError::Timeout { tx_id, .. }) = waited else {
        panic!("a write on a full disk is not acknowledged: {waited:?}")
    };
    // The node says why, is not ready, and refuses further writes at once.
    let deadline = Instant::now() + DEADLINE;
    let reason = loop {
        match node.health() {
            Err(reason) => break reason,
            Ok(()) => assert!(
                Instant::now() < deadline,
                "the node never said its disk is full"
            ),
        }
        tokio::task::yield_now().await;
    };
    assert!(reason.contains("cannot be written"), "{reason}");
    assert!(!node.is_running());
    let (function, args) = patient(2);
    let refused = node.invoke(&doctor, &function, args).await;
    assert!(
        matches!(refused, Err(InvokeError::Node(NodeError::Stopped(_)))),
        "{refused:?}"
    );

    // Space returns: the committer's next try commits the block, and the node takes writes again.
    disk.free_space();
    let deadline = Instant::now() + DEADLINE;
    while node.health().is_err() {
        assert!(Instant::now() < deadline, "the node never resumed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(node.is_running());
    let location = store
        .tx_location(&tx_id)
        .expect("the index reads")
        .expect("the write refused by the full disk committed once space returned");
    assert!(location.code.is_valid());
    node.set_commit_wait_ms(medledger_node::COMMIT_WAIT_MS_MAX);
    let (function, args) = patient(3);
    node.invoke(&doctor, &function, args)
        .await
        .expect("writes are taken again");
    node.shutdown().expect("a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopping_while_its_disk_is_full_stops_without_hanging_and_loses_nothing_acknowledged()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let Network {
        node,
        store,
        disk,
        admin,
        ..
    } = network(&dir);
    let height = store.height().expect("height");
    node.set_commit_wait_ms(200);
    disk.arm(Fault::DiskFull { at: 1 });
    let waited = medledger_node::register_first_admin(&node, &admin, "admin@medledger.local").await;
    assert!(
        matches!(waited, Err(InvokeError::Timeout { .. })),
        "{waited:?}"
    );
    let deadline = Instant::now() + DEADLINE;
    while node.health().is_ok() {
        assert!(
            Instant::now() < deadline,
            "the node never said its disk is full"
        );
        tokio::task::yield_now().await;
    }
    // The stop ends the retries; the block that never became durable is not on the ledger.
    let stopped = node.shutdown();
    assert!(
        stopped.is_err(),
        "the stop reports the block it could not commit"
    );
    // (While the disk refused writes the store could not reopen: redb writes to open a file that was
    // not closed cleanly. With space back it opens.)
    disk.free_space();
    store.recover().expect("the store opens again");
    assert_eq!(store.height().expect("height"), height);
}

/// A store that refuses every commit once told to, as a damaged ledger would (`Corrupted`): a failure
/// that does not pass, so the committer must stop rather than retry.
struct Refusing {
    inner: Arc<dyn Store>,
    refuse: std::sync::atomic::AtomicBool,
}

impl Store for Refusing {
    fn height(&self) -> Result<u64, StoreError> {
        self.inner.height()
    }
    fn commit(&self, commit: medledger_store::BlockCommit) -> Result<(), StoreError> {
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Corrupted {
                what: "the ledger file".into(),
                detail: "a page does not match its checksum (simulated)".into(),
            });
        }
        self.inner.commit(commit)
    }
    fn block(&self, number: u64) -> Result<Option<medledger_types::Block>, StoreError> {
        self.inner.block(number)
    }
    fn block_bytes(&self, number: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.block_bytes(number)
    }
    fn header_hash(&self, number: u64) -> Result<Option<Hash>, StoreError> {
        self.inner.header_hash(number)
    }
    fn tx_location(&self, tx_id: &TxId) -> Result<Option<TxLocation>, StoreError> {
        self.inner.tx_location(tx_id)
    }
    fn get(&self, key: &str) -> Result<Option<VersionedValue>, StoreError> {
        self.inner.get(key)
    }
    fn version(&self, key: &str) -> Result<Option<Version>, StoreError> {
        self.inner.version(key)
    }
    fn state_entries(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, StateEntry)>, StoreError> {
        self.inner.state_entries(start, end, limit)
    }
    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, VersionedValue)>, StoreError> {
        self.inner.range(start, end, limit)
    }
    fn history_versions(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        self.inner.history_versions(key, after, limit)
    }
    fn certificate(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.certificate(hash)
    }
    fn certificates(
        &self,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<(Hash, Vec<u8>)>, StoreError> {
        self.inner.certificates(after, limit)
    }
    fn merkle_size(&self) -> Result<u64, StoreError> {
        self.inner.merkle_size()
    }
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        self.inner.merkle_node(level, index)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_fails_for_good_stops_the_node_says_why_and_wakes_every_waiter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let InitOutcome::Created { admin, ca } = init(&data, &InitOptions::default()).expect("init")
    else {
        panic!("a fresh directory is initialized")
    };
    let inner: Arc<dyn Store> =
        Arc::new(RedbStore::open(&data.ledger()).expect("the ledger opens"));
    let store = Arc::new(Refusing {
        inner,
        refuse: std::sync::atomic::AtomicBool::new(false),
    });
    let node = Node::start_on(&data, &NodeOptions::default(), store.clone()).expect("starts");
    medledger_node::register_first_admin(&node, &admin, "admin@medledger.local")
        .await
        .expect("first admin");
    let doctor = enrol_doctor(&node, &admin, &ca).await;
    assert_eq!(node.health(), Ok(()));

    store
        .refuse
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (function, args) = patient(1);
    // The waiter hears that the node stopped (woken, not timed out: it would wait 30 s for a 202).
    let failed = node.invoke(&doctor, &function, args).await;
    assert!(matches!(failed, Err(InvokeError::Submit(_))), "{failed:?}");
    let reason = node.health().expect_err("the node says it stopped");
    assert!(reason.contains("checksum"), "{reason}");
    assert!(!node.is_running());
    // Writes are refused from then on, and the stop reports the failure.
    let (function, args) = patient(2);
    assert!(node.invoke(&doctor, &function, args).await.is_err());
    assert!(node.shutdown().is_err());
}
