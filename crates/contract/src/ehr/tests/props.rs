//! Untrusted input never panics the contract: random bytes, mutated valid calls, wrong argument counts and
//! corrupt stored values all end in a typed error. And the value types round-trip over their whole range.

use std::sync::LazyLock;

use medledger_types::Role;
use proptest::prelude::*;

use super::*;
use crate::ehr::values::days_in_month;

static LEDGER: LazyLock<Ledger> = LazyLock::new(seeded);

const FUNCTIONS: [&str; 8] = [
    "create",
    "amend",
    "get",
    "list",
    "by_email",
    "patient_records",
    "history",
    "nope",
];

fn valid_calls() -> Vec<EhrCall> {
    vec![
        EhrCall::Create(NewRecord::Patient(full_patient(9))),
        EhrCall::Create(NewRecord::Note(full_note(9, 1))),
        EhrCall::Create(NewRecord::DrugExposure(full_drug(9, 1))),
        EhrCall::Create(NewRecord::Doctor(full_doctor(9, "z@hospital.cu"))),
        EhrCall::Amend {
            kind: RecordKind::Note,
            id: 1,
            record: NewRecord::Note(note(1, 1)),
            reason: "r".into(),
            expected_version: None,
        },
        EhrCall::List {
            kind: RecordKind::Patient,
            after: Some(0),
            limit: 5,
        },
        EhrCall::PatientRecords {
            patient_id: 1,
            kind: RecordKind::Note,
            after: None,
            limit: 5,
        },
        EhrCall::History {
            kind: RecordKind::Note,
            id: 1,
            after: None,
        },
        EhrCall::ByEmail {
            kind: RecordKind::Doctor,
            email: "ana@hospital.cu".into(),
        },
    ]
}

/// Runs the contract; a refusal must carry a decodable error.
fn run(role: Role, function: &str, args: &[Vec<u8>]) {
    let sim = LEDGER.simulate_raw(&signer(role), function, args);
    if sim.response.status == ResponseStatus::Refused {
        assert!(ContractError::from_payload(&sim.response.payload).is_ok());
        assert_eq!(sim.rwset, RwSet::default());
    }
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

proptest! {
    #[test]
    fn random_bytes_as_the_argument_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        function in prop::sample::select(FUNCTIONS.to_vec()),
        role in role(),
    ) {
        run(role, function, &[bytes]);
    }

    #[test]
    fn random_argument_lists_never_panic(
        args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4),
        role in role(),
    ) {
        run(role, "get", &args);
    }

    #[test]
    fn mutated_valid_calls_never_panic(
        which in 0usize..9,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
        role in prop::sample::select(vec![Role::Admin, Role::Doctor, Role::Auditor]),
    ) {
        let call = &valid_calls()[which];
        let mut bytes = call.encode();
        let i = at.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        run(role, call.function(), &[bytes]);
    }

    #[test]
    fn random_bytes_never_panic_the_decoders(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = EhrCall::decode(&bytes);
        let _ = Patient::decode_body(&bytes);
        let _ = DrugExposure::decode_body(&bytes);
        let _ = Note::decode_body(&bytes);
        let _ = Doctor::decode_body(&bytes);
        let _ = Admin::decode_body(&bytes);
        let _ = decode_response::<Record>(&bytes);
        let _ = decode_response::<Page>(&bytes);
        let _ = decode_response::<HistoryPage>(&bytes);
        let _ = ContractError::from_payload(&bytes);
    }

    #[test]
    fn dates_round_trip_and_are_valid_exactly_when_the_day_exists(y in -5i64..10_005, m in -1i64..14, d in -1i64..33) {
        let valid = (1..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m);
        let date = Date::new(y, m, d);
        prop_assert_eq!(date.is_ok(), valid);
        if let Ok(date) = date {
            prop_assert_eq!(date.to_string().parse::<Date>(), Ok(date));
            prop_assert_eq!(Date::from_days_since_epoch(date.days_since_epoch()), Ok(date));
            prop_assert_eq!(borsh::from_slice::<Date>(&borsh::to_vec(&date).expect("encode")).ok(), Some(date));
        }
    }

    #[test]
    fn datetimes_round_trip(seconds in -62_135_596_800i64..=253_402_300_799) {
        let dt = DateTime::from_unix_seconds(seconds).expect("in range");
        prop_assert_eq!(dt.to_string().parse::<DateTime>(), Ok(dt));
        let (h, m, s) = dt.time();
        prop_assert_eq!(DateTime::new(dt.date(), h, m, s), Ok(dt));
        prop_assert_eq!(borsh::from_slice::<DateTime>(&borsh::to_vec(&dt).expect("encode")).ok(), Some(dt));
    }

    #[test]
    fn call_encoding_round_trips(id in 1i64..i64::MAX, limit in any::<u32>(), after in proptest::option::of(0i64..i64::MAX)) {
        for call in [
            EhrCall::Get { kind: RecordKind::Patient, id },
            EhrCall::List { kind: RecordKind::Doctor, after, limit },
            EhrCall::Create(NewRecord::Patient(full_patient(id))),
        ] {
            prop_assert_eq!(EhrCall::decode(&call.encode()), Ok(call));
        }
    }
}

#[test]
fn corrupt_stored_records_are_state_errors_not_panics() {
    let mut ledger = seeded();
    let key = keys::record(RecordKind::Note, 1);
    let rwset = RwSet {
        reads: vec![],
        writes: vec![medledger_types::KvWrite {
            key,
            value: vec![1, 2, 3],
        }],
    };
    ledger.commit(&rwset);
    let state = ledger.state.clone();
    let invocation_call = EhrCall::Get {
        kind: RecordKind::Note,
        id: 1,
    };
    let args = [invocation_call.encode()];
    let doctor = signer(Role::Doctor);
    let invocation = Invocation {
        tx_id: tx_id(1),
        signer: &doctor,
        function: "get",
        args: &args,
        timestamp_ms: NOW_MS,
    };
    // A peer must not endorse its own corruption as a refusal: simulate reports it as a state error.
    assert!(simulate(&EhrContract, &state, &invocation).is_err());
    let chart = EhrCall::PatientRecords {
        patient_id: 1,
        kind: RecordKind::Note,
        after: None,
        limit: 5,
    };
    let args = [chart.encode()];
    let invocation = Invocation {
        function: "patient_records",
        args: &args,
        ..invocation
    };
    assert!(simulate(&EhrContract, &state, &invocation).is_err());
}
