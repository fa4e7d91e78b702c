//! What the node's benchmark and measurements share: a fresh network with one doctor and its patients,
//! as the issues' runs had (a doctor, 100 patients).

use std::sync::Arc;
use std::time::{Duration, Instant};

use medledger_contract::ehr::{EhrCall, NewRecord, samples};
use medledger_node::init::issue_identity;
use medledger_node::{
    DataDir, Identity, InitOptions, InitOutcome, Node, NodeOptions, init, now_ms,
};
use medledger_types::Role;

/// The number in environment variable `name`, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Patients the workload writes notes for.
pub const PATIENTS_COUNT: i64 = 100;

/// Creates a network in the empty directory `data`, starts its node, registers the first
/// administrator, a doctor and [`PATIENTS_COUNT`] patients; returns the node and the doctor.
pub async fn doctor_with_patients(data: &DataDir) -> (Arc<Node>, Arc<Identity>) {
    let InitOutcome::Created { admin, ca } = init(data, &InitOptions::default()).expect("init")
    else {
        unreachable!("fresh directory")
    };
    let node = Arc::new(Node::start(data, &NodeOptions::default()).expect("start"));
    medledger_node::register_first_admin(&node, &admin, "admin@medledger.local")
        .await
        .expect("admin");
    let doctor = Arc::new(
        issue_identity(&ca, "ana@hospital.cu", Role::Doctor, now_ms() / 1000).expect("doctor"),
    );
    let call = EhrCall::Create(NewRecord::Doctor(samples::doctor(
        10,
        "ana@hospital.cu",
        doctor.certificate.clone(),
    )));
    node.invoke(&admin, call.function(), vec![call.encode()])
        .await
        .expect("doctor");
    for id in 1..=PATIENTS_COUNT {
        let call = EhrCall::Create(NewRecord::Patient(samples::patient(id)));
        node.invoke(&doctor, call.function(), vec![call.encode()])
            .await
            .expect("patient");
    }
    (node, doctor)
}

/// The doctor creates the records `record(id)` for `ids`, at most `in_flight` at a time, each waiting
/// for its commit; returns each one's latency from request to commit status.
pub async fn create_records(
    node: &Arc<Node>,
    doctor: &Arc<Identity>,
    ids: std::ops::RangeInclusive<i64>,
    in_flight: usize,
    record: fn(i64) -> NewRecord,
) -> Vec<Duration> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let permit = Arc::clone(&semaphore)
            .acquire_owned()
            .await
            .expect("semaphore");
        let (node, doctor) = (Arc::clone(node), Arc::clone(doctor));
        tasks.spawn(async move {
            let call = EhrCall::Create(record(id));
            let started = Instant::now();
            node.invoke(&doctor, call.function(), vec![call.encode()])
                .await
                .expect("committed");
            drop(permit);
            started.elapsed()
        });
    }
    tasks.join_all().await
}
