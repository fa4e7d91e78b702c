//! End to end through a real node on a temporary data directory. The failures this pins: a break anywhere
//! in the write path (sign → endorse → order → validate → commit → status), a record or its history lost
//! across a restart, and a ledger that `verify` would not accept after honest use.

use medledger_contract::ContractError;
use medledger_contract::ehr::{
    EhrCall, HistoryPage, NewRecord, Page, Record, RecordHeader, RecordKind, decode_response,
    samples,
};
use medledger_crypto::x509::CertificateAuthority;
use medledger_node::init::issue_identity;
use medledger_node::{
    DataDir, Identity, InitOptions, InitOutcome, InvokeError, Node, NodeOptions, init, now_ms,
};
use medledger_store::RedbStore;
use medledger_types::{BatchConfig, Role};

const ADMIN_EMAIL: &str = "admin@medledger.local";

fn options() -> NodeOptions {
    NodeOptions {
        batch: Some(BatchConfig {
            tx_count_max: 100,
            bytes_max: 1 << 20,
            timeout_ms: 2,
        }),
        ..NodeOptions::default()
    }
}

async fn write(node: &Node, who: &Identity, call: EhrCall) -> (RecordHeader, u64) {
    let committed = node
        .invoke(who, call.function(), vec![call.encode()])
        .await
        .expect("committed");
    (
        decode_response(&committed.payload).expect("a record header"),
        committed.status.block,
    )
}

async fn read<T: borsh::BorshDeserialize>(node: &Node, who: &Identity, call: EhrCall) -> T {
    let response = node
        .query(who, call.function(), vec![call.encode()])
        .await
        .expect("evaluated");
    assert!(
        medledger_node::is_ok(&response),
        "refused: {:?}",
        medledger_node::refusal(&response.payload)
    );
    decode_response(&response.payload).expect("decodes")
}

/// Creates a network with a first admin and one doctor; returns the node, the admin's and the doctor's
/// identities, and the organization CA (whose key the node never stores).
async fn new_network(data: &DataDir) -> (Node, Identity, Identity, CertificateAuthority) {
    let InitOutcome::Created { admin, ca } = init(data, &InitOptions::default()).expect("init")
    else {
        panic!("a fresh directory is initialized")
    };
    let node = Node::start(data, &options()).expect("node starts");
    medledger_node::register_first_admin(&node, &admin, ADMIN_EMAIL)
        .await
        .expect("first admin recorded");
    let doctor = issue_identity(&ca, "ana@hospital.cu", Role::Doctor, now_ms() / 1000)
        .expect("doctor identity");
    let record = samples::doctor(10, "ana@hospital.cu", doctor.certificate.clone());
    write(&node, &admin, EhrCall::Create(NewRecord::Doctor(record))).await;
    (node, *admin, doctor, *ca)
}

#[tokio::test]
async fn a_clinic_day_survives_a_restart_and_verifies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let (node, admin, doctor, _) = new_network(&data).await;

    write(
        &node,
        &doctor,
        EhrCall::Create(NewRecord::Patient(samples::patient(1))),
    )
    .await;
    write(
        &node,
        &doctor,
        EhrCall::Create(NewRecord::Note(samples::note(100, 1))),
    )
    .await;
    write(
        &node,
        &doctor,
        EhrCall::Create(NewRecord::Note(samples::note(101, 1))),
    )
    .await;
    write(
        &node,
        &doctor,
        EhrCall::Create(NewRecord::DrugExposure(samples::drug_exposure(200, 1))),
    )
    .await;
    let mut amended = samples::note(100, 1);
    amended.note_text = "Cefalea de cinco días, no tres.".into();
    let reason = "El paciente corrigió la duración.".to_owned();
    let (header, _) = write(
        &node,
        &doctor,
        EhrCall::Amend {
            kind: RecordKind::Note,
            id: 100,
            record: NewRecord::Note(amended),
            reason: reason.clone(),
            expected_version: None,
        },
    )
    .await;
    assert_eq!(header.version_number, 2);

    // Refusals come back as the contract's error and order nothing.
    let height = node.peer().height();
    let duplicate = EhrCall::Create(NewRecord::Patient(samples::patient(1)));
    match node
        .invoke(&doctor, duplicate.function(), vec![duplicate.encode()])
        .await
    {
        Err(InvokeError::Refused(payload)) => {
            assert!(matches!(
                medledger_node::refusal(&payload),
                Some(ContractError::AlreadyExists { .. })
            ))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let forbidden = EhrCall::Create(NewRecord::Patient(samples::patient(2)));
    match node
        .invoke(&admin, forbidden.function(), vec![forbidden.encode()])
        .await
    {
        Err(InvokeError::Refused(payload)) => {
            assert!(matches!(
                medledger_node::refusal(&payload),
                Some(ContractError::Forbidden { .. })
            ))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        node.peer().height(),
        height,
        "refused requests are not ordered"
    );
    node.shutdown().expect("clean stop");

    assert!(matches!(
        init(&data, &InitOptions::default()),
        Ok(InitOutcome::AlreadyInitialized)
    ));
    let node = Node::start(&data, &options()).expect("restarts");
    assert_eq!(node.peer().height(), height, "every block is still there");

    let history: HistoryPage = read(
        &node,
        &doctor,
        EhrCall::History {
            kind: RecordKind::Note,
            id: 100,
            after: None,
        },
    )
    .await;
    assert_eq!(history.items.len(), 2);
    assert_eq!(history.items[0].record.header.version_number, 1);
    assert_eq!(
        history.items[1].record.header.amendment_reason.as_deref(),
        Some(reason.as_str())
    );
    assert_eq!(history.items[1].record.header.author, "ana@hospital.cu");
    assert!(history.items[0].version < history.items[1].version);
    let current: Record = read(
        &node,
        &doctor,
        EhrCall::Get {
            kind: RecordKind::Note,
            id: 100,
        },
    )
    .await;
    let note: medledger_contract::ehr::Note = current.decode_body().expect("note body");
    assert_eq!(note.note_text, "Cefalea de cinco días, no tres.");

    let notes: Page = read(
        &node,
        &doctor,
        EhrCall::PatientRecords {
            patient_id: 1,
            kind: RecordKind::Note,
            after: None,
            limit: 10,
        },
    )
    .await;
    assert_eq!(
        notes.items.iter().map(|r| r.header.id).collect::<Vec<_>>(),
        vec![100, 101]
    );
    let drugs: Page = read(
        &node,
        &doctor,
        EhrCall::PatientRecords {
            patient_id: 1,
            kind: RecordKind::DrugExposure,
            after: None,
            limit: 10,
        },
    )
    .await;
    assert_eq!(drugs.items.len(), 1);
    let by_email: Record = read(
        &node,
        &admin,
        EhrCall::ByEmail {
            kind: RecordKind::Doctor,
            email: "ana@hospital.cu".into(),
        },
    )
    .await;
    assert_eq!(by_email.header.id, 10);

    // Writing continues where the chain left off.
    let (_, block) = write(
        &node,
        &doctor,
        EhrCall::Create(NewRecord::Patient(samples::patient(2))),
    )
    .await;
    assert_eq!(block, height);
    node.shutdown().expect("clean stop");

    let store = RedbStore::open(&data.ledger()).expect("open ledger");
    let report =
        medledger_peer::verify::verify_ledger(&store, &mut |_, _| {}).expect("the ledger verifies");
    assert_eq!(report.blocks, height + 1);
    // admin, doctor, patient 1, two notes, a drug exposure, the amendment, patient 2.
    assert_eq!(report.valid_transactions, 8);
    assert_eq!(report.transactions, 8);
}

#[tokio::test]
async fn concurrent_writers_all_commit_in_shared_blocks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let (node, _admin, doctor, _) = new_network(&data).await;
    let height_before = node.peer().height();
    let writes = (1..=200).map(|id| {
        let call = EhrCall::Create(NewRecord::Patient(samples::patient(id)));
        let node = &node;
        let doctor = &doctor;
        async move {
            node.invoke(doctor, call.function(), vec![call.encode()])
                .await
        }
    });
    let results = futures_join_all(writes).await;
    assert!(
        results.iter().all(Result::is_ok),
        "every write commits: {:?}",
        results.iter().find(|r| r.is_err())
    );
    let blocks_used = node.peer().height() - height_before;
    assert!(
        blocks_used < 200,
        "transactions share blocks ({blocks_used} blocks for 200 transactions)"
    );
    let page: Page = read(
        &node,
        &doctor,
        EhrCall::List {
            kind: RecordKind::Patient,
            after: None,
            limit: 500,
        },
    )
    .await;
    assert_eq!(page.items.len(), 200);
}

/// Runs futures concurrently on the current task (no extra dependency for one test).
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

#[tokio::test]
async fn a_transaction_is_proven_in_the_signed_checkpoint_and_heads_are_consistent() {
    use medledger_crypto::merkle;
    use medledger_types::{Checkpoint, codec};
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let (node, _admin, doctor, _) = new_network(&data).await;
    let peer = node.peer();
    let call = EhrCall::Create(NewRecord::Patient(samples::patient(1)));
    let committed = node
        .invoke(&doctor, call.function(), vec![call.encode()])
        .await
        .expect("committed");
    let (old_size, old_root) = peer.tree_head();
    for id in 2..=5 {
        write(
            &node,
            &doctor,
            EhrCall::Create(NewRecord::Patient(samples::patient(id))),
        )
        .await;
    }

    let signed = peer.checkpoint().expect("checkpoint");
    let checkpoint: Checkpoint =
        codec::decode("checkpoint", &signed.checkpoint, 1024).expect("decodes");
    let signer =
        medledger_crypto::x509::parse_certificate(&signed.signer).expect("signer certificate");
    assert!(
        signer
            .public_key
            .verify(&signed.checkpoint, &signed.signature)
            .is_ok(),
        "checkpoint signed by the peer"
    );

    let tx = peer
        .transaction(&committed.status.tx_id)
        .expect("read")
        .expect("committed transaction");
    assert_eq!(tx.location.block, committed.status.block);
    let proof = peer
        .inclusion_proof(tx.leaf_index, Some(checkpoint.tree_size))
        .expect("read")
        .expect("proof");
    assert_eq!(proof.leaf_hash, merkle::leaf_hash(&tx.envelope));
    assert_eq!(proof.root, checkpoint.root);
    merkle::verify_inclusion(
        &proof.leaf_hash,
        proof.leaf_index,
        proof.tree_size,
        &proof.path,
        &checkpoint.root,
    )
    .expect("the proof verifies against the signed checkpoint");
    let mut tampered = tx.envelope.clone();
    tampered[10] ^= 1;
    assert!(
        merkle::verify_inclusion(
            &merkle::leaf_hash(&tampered),
            proof.leaf_index,
            proof.tree_size,
            &proof.path,
            &checkpoint.root
        )
        .is_err()
    );

    let consistency = peer
        .consistency_proof(old_size, checkpoint.tree_size)
        .expect("read")
        .expect("proof");
    merkle::verify_consistency(
        old_size,
        checkpoint.tree_size,
        &old_root,
        &checkpoint.root,
        &consistency,
    )
    .expect("the old head is a prefix of the new one");
    assert!(peer.consistency_proof(0, 3).expect("read").is_err());
    assert!(
        peer.consistency_proof(1, checkpoint.tree_size + 1)
            .expect("read")
            .is_err()
    );
    assert!(
        peer.inclusion_proof(checkpoint.tree_size, None)
            .expect("read")
            .is_err()
    );
}

#[tokio::test]
async fn a_revoked_doctor_can_no_longer_write_even_after_a_restart() {
    use medledger_peer::EndorseError;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path());
    let (node, admin, doctor, ca) = new_network(&data).await;
    let colleague =
        issue_identity(&ca, "luis@hospital.cu", Role::Doctor, now_ms() / 1000).expect("identity");
    write(
        &node,
        &admin,
        EhrCall::Create(NewRecord::Doctor(samples::doctor(
            11,
            "luis@hospital.cu",
            colleague.certificate.clone(),
        ))),
    )
    .await;
    write(
        &node,
        &doctor,
        EhrCall::Create(NewRecord::Patient(samples::patient(1))),
    )
    .await;

    // Only an administrator may change the revocation list.
    let serial = medledger_crypto::x509::parse_certificate(&doctor.certificate)
        .expect("cert")
        .serial;
    assert!(matches!(
        node.revoke(&ca, &doctor, &[serial]).await,
        Err(InvokeError::Refused(_))
    ));
    node.revoke(&ca, &admin, &[serial])
        .await
        .expect("revocation committed");

    let call = EhrCall::Create(NewRecord::Patient(samples::patient(2)));
    match node
        .invoke(&doctor, call.function(), vec![call.encode()])
        .await
    {
        Err(InvokeError::Endorse(EndorseError::RevokedCertificate)) => {}
        other => panic!("a revoked doctor must be refused, got {other:?}"),
    }
    write(
        &node,
        &colleague,
        EhrCall::Create(NewRecord::Patient(samples::patient(3))),
    )
    .await;
    node.shutdown().expect("stop");

    let node = Node::start(&data, &options()).expect("restart");
    let call = EhrCall::Create(NewRecord::Patient(samples::patient(4)));
    assert!(
        matches!(
            node.invoke(&doctor, call.function(), vec![call.encode()])
                .await,
            Err(InvokeError::Endorse(EndorseError::RevokedCertificate))
        ),
        "the revocation survives a restart"
    );
    node.shutdown().expect("stop");
    let store = RedbStore::open(&data.ledger()).expect("open");
    medledger_peer::verify::verify_ledger(&store, &mut |_, _| {})
        .expect("verify replays the configuration change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_jobs_are_bounded_and_the_rest_wait_their_turn() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use medledger_node::BLOCKING_JOBS_MAX;

    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path());
    let (node, _, _, _) = new_network(&data).await;
    let node = Arc::new(node);
    let running = Arc::new(AtomicUsize::new(0));
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let job = |node: Arc<Node>| {
        let (running, gate) = (Arc::clone(&running), Arc::clone(&gate));
        tokio::spawn(async move {
            node.with_peer(move |peer| {
                running.fetch_add(1, Ordering::SeqCst);
                // Each job holds its slot until the test lets one go.
                let _ = gate.lock().map(|gate| gate.recv());
                running.fetch_sub(1, Ordering::SeqCst);
                peer.height()
            })
            .await
        })
    };
    let jobs: Vec<_> = (0..BLOCKING_JOBS_MAX + 1)
        .map(|_| job(Arc::clone(&node)))
        .collect();
    // The jobs hand the gate to each other: one waits on it, the rest on its lock. Wait until every
    // permit is taken.
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.blocking_jobs_available() > 0 {
        assert!(
            Instant::now() < deadline,
            "the jobs never took their permits"
        );
        tokio::task::yield_now().await;
    }
    while running.load(Ordering::SeqCst) < BLOCKING_JOBS_MAX {
        assert!(Instant::now() < deadline, "the jobs never started");
        tokio::task::yield_now().await;
    }
    // Every permit is held and the last job waits for one: exactly the bound runs.
    assert_eq!(node.blocking_jobs_available(), 0);
    assert_eq!(running.load(Ordering::SeqCst), BLOCKING_JOBS_MAX);
    for _ in 0..=BLOCKING_JOBS_MAX {
        release.send(()).expect("a job is waiting");
    }
    for job in jobs {
        let height = job.await.expect("joined").expect("the job ran");
        assert!(height >= 1);
    }
    assert_eq!(node.blocking_jobs_available(), BLOCKING_JOBS_MAX);
}
