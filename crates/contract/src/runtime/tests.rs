//! The simulator records exactly what MVCC needs (first read of each committed key, with its version),
//! sees its own writes, enforces the write limits, and yields sorted read-write sets; `MemoryState`
//! behaves as a store (ranges, history, MVCC check).

use medledger_types::{Hash, KvRead, KvWrite, Role, Signer, TxId, Version, limits};

use super::*;

fn tx(n: u8) -> TxId {
    TxId(Hash([n; 32]))
}

fn v(block: u64, tx: u32) -> Version {
    Version { block, tx }
}

fn state_with(entries: &[(&str, &str, Version)]) -> MemoryState {
    let mut state = MemoryState::new();
    for (i, (key, value, version)) in entries.iter().enumerate() {
        let rwset = RwSet {
            reads: vec![],
            writes: vec![KvWrite {
                key: (*key).into(),
                value: value.as_bytes().to_vec(),
            }],
        };
        state.apply(&rwset, *version, tx(i as u8));
    }
    state
}

#[test]
fn get_records_the_first_read_with_its_version_and_absent_keys_as_none() {
    let state = state_with(&[("a", "1", v(1, 0)), ("b", "2", v(2, 3))]);
    let mut sim = Simulator::new(&state);
    assert_eq!(sim.get("b").expect("get"), Some(b"2".to_vec()));
    assert_eq!(sim.get("zz").expect("get"), None);
    assert_eq!(sim.get("b").expect("get"), Some(b"2".to_vec()));
    let rwset = sim.into_rwset();
    assert_eq!(
        rwset.reads,
        vec![
            KvRead {
                key: "b".into(),
                version: Some(v(2, 3))
            },
            KvRead {
                key: "zz".into(),
                version: None
            }
        ]
    );
    assert!(rwset.writes.is_empty());
}

#[test]
fn get_sees_own_writes_without_recording_a_read() {
    let state = state_with(&[("a", "old", v(1, 0))]);
    let mut sim = Simulator::new(&state);
    sim.put("a", b"new".to_vec()).expect("put");
    sim.put("c", b"x".to_vec()).expect("put");
    assert_eq!(sim.get("a").expect("get"), Some(b"new".to_vec()));
    assert_eq!(sim.get("c").expect("get"), Some(b"x".to_vec()));
    let rwset = sim.into_rwset();
    assert!(rwset.reads.is_empty());
    assert_eq!(rwset.writes.len(), 2);
}

#[test]
fn read_then_write_keeps_the_read_version_and_the_last_write() {
    let state = state_with(&[("k", "1", v(4, 1))]);
    let mut sim = Simulator::new(&state);
    assert_eq!(sim.get("k").expect("get"), Some(b"1".to_vec()));
    sim.put("k", b"2".to_vec()).expect("put");
    sim.put("k", b"3".to_vec()).expect("put");
    let rwset = sim.into_rwset();
    assert_eq!(
        rwset.reads,
        vec![KvRead {
            key: "k".into(),
            version: Some(v(4, 1))
        }]
    );
    assert_eq!(
        rwset.writes,
        vec![KvWrite {
            key: "k".into(),
            value: b"3".to_vec()
        }]
    );
}

#[test]
fn rwset_is_sorted_by_key_whatever_the_call_order() {
    let state = MemoryState::new();
    let mut sim = Simulator::new(&state);
    for key in ["m", "b", "z", "a"] {
        sim.get(&format!("r/{key}")).expect("get");
        sim.put(&format!("w/{key}"), vec![1]).expect("put");
    }
    let rwset = sim.into_rwset();
    let reads: Vec<_> = rwset.reads.iter().map(|r| r.key.as_str()).collect();
    let writes: Vec<_> = rwset.writes.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(reads, ["r/a", "r/b", "r/m", "r/z"]);
    assert_eq!(writes, ["w/a", "w/b", "w/m", "w/z"]);
}

#[test]
fn put_enforces_key_value_and_write_count_limits() {
    let state = MemoryState::new();
    let mut sim = Simulator::new(&state);
    let too_large = |r: Result<(), ContractError>| matches!(r, Err(ContractError::TooLarge { .. }));
    assert!(matches!(
        sim.put("", vec![]),
        Err(ContractError::BadRequest(_))
    ));
    assert!(too_large(
        sim.put(&"k".repeat(limits::KEY_BYTES_MAX + 1), vec![])
    ));
    sim.put(&"k".repeat(limits::KEY_BYTES_MAX), vec![])
        .expect("key at the limit");
    assert!(too_large(
        sim.put("v", vec![0; limits::VALUE_BYTES_MAX + 1])
    ));
    sim.put("v", vec![0; limits::VALUE_BYTES_MAX])
        .expect("value at the limit");
    for i in 2..limits::RWSET_WRITES_COUNT_MAX {
        sim.put(&format!("n/{i:04}"), vec![])
            .expect("within the write count");
    }
    assert!(too_large(sim.put("one-too-many", vec![])));
    // Rewriting a key already in the set does not count as another write.
    sim.put("v", vec![1]).expect("rewrite");
    assert_eq!(
        sim.into_rwset().writes.len(),
        limits::RWSET_WRITES_COUNT_MAX
    );
}

#[test]
fn reads_are_bounded_too() {
    let state = MemoryState::new();
    let mut sim = Simulator::new(&state);
    for i in 0..limits::RWSET_READS_COUNT_MAX {
        sim.get(&format!("k/{i}")).expect("within the read count");
    }
    assert!(matches!(
        sim.get("one-more"),
        Err(ContractError::TooLarge { .. })
    ));
    // Reading an already-read key is free.
    sim.get("k/0").expect("repeat read");
}

#[test]
fn range_is_half_open_ordered_limited_committed_only_and_not_recorded() {
    let state = state_with(&[
        ("p/1", "a", v(1, 0)),
        ("p/2", "b", v(1, 1)),
        ("p/3", "c", v(1, 2)),
        ("q/1", "d", v(1, 3)),
    ]);
    let mut sim = Simulator::new(&state);
    sim.put("p/25", b"own".to_vec()).expect("put");
    let got = sim.range("p/", "p/3", 10).expect("range");
    assert_eq!(
        got,
        vec![("p/1".into(), b"a".to_vec()), ("p/2".into(), b"b".to_vec())]
    );
    assert_eq!(sim.range("p/", "q/", 2).expect("range").len(), 2);
    assert!(sim.range("q/", "p/", 5).expect("empty range").is_empty());
    assert!(sim.range("p/", "q/", 0).expect("zero limit").is_empty());
    assert!(matches!(
        sim.range("p/", "q/", RANGE_COUNT_MAX + 1),
        Err(ContractError::TooLarge { .. })
    ));
    let rwset = sim.into_rwset();
    assert!(rwset.reads.is_empty(), "ranges are not recorded for MVCC");
}

#[test]
fn history_is_oldest_first_after_a_version_and_limited() {
    let mut state = MemoryState::new();
    for (i, value) in ["1", "2", "3"].iter().enumerate() {
        let rwset = RwSet {
            reads: vec![],
            writes: vec![KvWrite {
                key: "k".into(),
                value: value.as_bytes().to_vec(),
            }],
        };
        state.apply(&rwset, v(i as u64 + 1, 0), tx(i as u8));
    }
    let mut sim = Simulator::new(&state);
    let all = sim.history("k", None, 10).expect("history");
    assert_eq!(
        all.iter().map(|e| e.value.clone()).collect::<Vec<_>>(),
        [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
    );
    assert_eq!(all[1].tx_id, tx(1));
    let after = sim.history("k", Some(v(1, 0)), 1).expect("history");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].version, v(2, 0));
    assert!(sim.history("absent", None, 10).expect("history").is_empty());
    assert!(sim.into_rwset().reads.is_empty());
}

#[test]
fn memory_state_detects_mvcc_conflicts() {
    let state = state_with(&[("a", "1", v(1, 0))]);
    let mut sim = Simulator::new(&state);
    sim.get("a").expect("get");
    sim.get("b").expect("get");
    sim.put("b", vec![1]).expect("put");
    let rwset = sim.into_rwset();
    state.check_reads(&rwset).expect("fresh reads are current");

    let mut moved = state.clone();
    moved.apply(
        &RwSet {
            reads: vec![],
            writes: vec![KvWrite {
                key: "b".into(),
                value: vec![2],
            }],
        },
        v(2, 0),
        tx(9),
    );
    let conflict = moved.check_reads(&rwset).expect_err("b was created since");
    assert_eq!(
        conflict,
        MvccConflict {
            key: "b".into(),
            read: None,
            current: Some(v(2, 0))
        }
    );
    assert_eq!(moved.len(), 2);
}

struct Echo;

impl Contract for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn invoke(
        &self,
        stub: &mut dyn Stub,
        invocation: &Invocation<'_>,
    ) -> Result<Vec<u8>, ContractError> {
        stub.put("written", vec![1])?;
        match invocation.function {
            "ok" => Ok(b"fine".to_vec()),
            "state" => Err(ContractError::State("disk on fire".into())),
            _ => Err(ContractError::BadRequest("no".into())),
        }
    }
}

#[test]
fn simulate_turns_refusals_into_empty_rwsets_and_encoded_errors_and_state_failures_into_errors() {
    let state = MemoryState::new();
    let signer = Signer {
        org: "Org1".into(),
        role: Role::Client,
        name: "c".into(),
        certificate_hash: Hash::ZERO,
    };
    let inv = |function| Invocation {
        tx_id: tx(1),
        signer: &signer,
        function,
        args: &[],
        timestamp_ms: 0,
    };

    let ok = simulate(&Echo, &state, &inv("ok")).expect("simulated");
    assert_eq!(ok.response.status, ResponseStatus::Ok);
    assert_eq!(ok.response.payload, b"fine");
    assert_eq!(ok.rwset.writes.len(), 1);

    let refused = simulate(&Echo, &state, &inv("nope")).expect("simulated");
    assert_eq!(refused.response.status, ResponseStatus::Refused);
    assert_eq!(refused.rwset, RwSet::default());
    assert_eq!(
        ContractError::from_payload(&refused.response.payload),
        Ok(ContractError::BadRequest("no".into()))
    );

    assert_eq!(
        simulate(&Echo, &state, &inv("state")),
        Err(StateError("disk on fire".into()))
    );
}
