//! The authorization matrix as a table: every role × every call × every kind, against a ledger holding
//! one record of each kind. The table is written out here by hand (not derived from `auth::access`), so
//! it is a second statement of the policy in the module doc.

use std::cell::Cell;

use medledger_types::{HistoryEntry, Role, VersionedValue};

use super::*;
use crate::runtime::{Contract, Simulator, StateReader};
use crate::{ContractError, StateError};

/// `ok`: allowed in full; `hdr`: allowed, bodies withheld; `-`: Forbidden; `bad`: BadRequest for anyone.
const MATRIX: &str = "
# function        kind           admin  doctor  peer  orderer  client  auditor
create            admin          ok     -       -     -        -       -
create            doctor         ok     -       -     -        -       -
create            patient        -      ok      -     -        -       -
create            note           -      ok      -     -        -       -
create            drug_exposure  -      ok      -     -        -       -
amend             admin          ok     -       -     -        -       -
amend             doctor         ok     -       -     -        -       -
amend             patient        -      ok      -     -        -       -
amend             note           -      ok      -     -        -       -
amend             drug_exposure  -      ok      -     -        -       -
get               admin          ok     ok      -     -        -       hdr
get               doctor         ok     ok      -     -        -       hdr
get               patient        -      ok      -     -        -       hdr
get               note           -      ok      -     -        -       hdr
get               drug_exposure  -      ok      -     -        -       hdr
list              admin          ok     ok      -     -        -       hdr
list              doctor         ok     ok      -     -        -       hdr
list              patient        -      ok      -     -        -       hdr
list              note           -      ok      -     -        -       hdr
list              drug_exposure  -      ok      -     -        -       hdr
history           admin          ok     ok      -     -        -       hdr
history           doctor         ok     ok      -     -        -       hdr
history           patient        -      ok      -     -        -       hdr
history           note           -      ok      -     -        -       hdr
history           drug_exposure  -      ok      -     -        -       hdr
by_email          admin          ok     ok      -     -        -       hdr
by_email          doctor         ok     ok      -     -        -       hdr
by_email          patient        bad    bad     bad   bad      bad     bad
by_email          note           bad    bad     bad   bad      bad     bad
by_email          drug_exposure  bad    bad     bad   bad      bad     bad
patient_records   admin          bad    bad     bad   bad      bad     bad
patient_records   doctor         bad    bad     bad   bad      bad     bad
patient_records   patient        bad    bad     bad   bad      bad     bad
patient_records   note           -      ok      -     -        -       hdr
patient_records   drug_exposure  -      ok      -     -        -       hdr
";

const ROLES: [Role; 6] = [
    Role::Admin,
    Role::Doctor,
    Role::Peer,
    Role::Orderer,
    Role::Client,
    Role::Auditor,
];

fn kind_named(name: &str) -> RecordKind {
    RecordKind::ALL
        .into_iter()
        .find(|k| k.as_str() == name)
        .unwrap_or_else(|| panic!("kind {name}"))
}

/// A record of `kind` with id `id`, valid against the seeded ledger.
fn sample(kind: RecordKind, id: i64) -> NewRecord {
    match kind {
        RecordKind::Patient => NewRecord::Patient(patient(id)),
        RecordKind::Note => NewRecord::Note(note(id, 1)),
        RecordKind::DrugExposure => NewRecord::DrugExposure(drug(id, 1)),
        // Id 1 keeps the seeded email (emails cannot be amended); a new id gets a new email.
        RecordKind::Doctor if id == 1 => NewRecord::Doctor(doctor(1, "ana@hospital.cu")),
        RecordKind::Doctor => NewRecord::Doctor(doctor(id, &format!("doctor{id}@hospital.cu"))),
        RecordKind::Admin if id == 1 => NewRecord::Admin(admin(1, "admin@hospital.cu")),
        RecordKind::Admin => NewRecord::Admin(admin(id, &format!("admin{id}@hospital.cu"))),
    }
}

fn call(function: &str, kind: RecordKind) -> EhrCall {
    let email = if kind == RecordKind::Admin {
        "admin@hospital.cu"
    } else {
        "ana@hospital.cu"
    };
    match function {
        "create" => EhrCall::Create(sample(kind, 100)),
        "amend" => EhrCall::Amend {
            kind,
            id: 1,
            record: sample(kind, 1),
            reason: "correction".into(),
            expected_version: None,
        },
        "get" => EhrCall::Get { kind, id: 1 },
        "list" => EhrCall::List {
            kind,
            after: None,
            limit: 10,
        },
        "history" => EhrCall::History {
            kind,
            id: 1,
            after: None,
        },
        "by_email" => EhrCall::ByEmail {
            kind,
            email: email.into(),
        },
        "patient_records" => EhrCall::PatientRecords {
            patient_id: 1,
            kind,
            after: None,
            limit: 10,
        },
        other => panic!("function {other}"),
    }
}

/// A state reader that counts how often it is asked, to show refusals happen before any read.
struct Counting<'a> {
    inner: &'a MemoryState,
    calls: Cell<usize>,
}

impl StateReader for Counting<'_> {
    fn get(&self, key: &str) -> Result<Option<VersionedValue>, StateError> {
        self.calls.set(self.calls.get() + 1);
        self.inner.get(key)
    }
    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        self.calls.set(self.calls.get() + 1);
        self.inner.range(start, end, limit)
    }
    fn history(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StateError> {
        self.calls.set(self.calls.get() + 1);
        self.inner.history(key, after, limit)
    }
}

/// The records in a read's answer.
fn records(function: &str, payload: &[u8]) -> Vec<Record> {
    match function {
        "get" | "by_email" => vec![decode_response::<Record>(payload).expect("record")],
        "list" | "patient_records" => decode_response::<Page>(payload).expect("page").items,
        "history" => decode_response::<HistoryPage>(payload)
            .expect("history")
            .items
            .into_iter()
            .map(|i| i.record)
            .collect(),
        other => panic!("not a read: {other}"),
    }
}

#[test]
fn every_role_call_and_kind_is_allowed_or_refused_as_the_matrix_says() {
    let ledger = seeded();
    let mut covered = Vec::new();
    for line in MATRIX
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells.len(), 2 + ROLES.len(), "row {line:?}");
        let (function, kind) = (cells[0], kind_named(cells[1]));
        covered.push((function.to_owned(), kind));
        for (role, expected) in ROLES.iter().zip(&cells[2..]) {
            let who = signer(*role);
            let call = call(function, kind);
            assert_eq!(call.function(), function);
            let counting = Counting {
                inner: &ledger.state,
                calls: Cell::new(0),
            };
            let mut sim = Simulator::new(&counting);
            let invocation = Invocation {
                tx_id: tx_id(1000),
                signer: &who,
                function,
                args: &[call.encode()],
                timestamp_ms: NOW_MS,
            };
            let result = EhrContract.invoke(&mut sim, &invocation);
            let case = format!("{role} {function} {kind}: {result:?}");
            match *expected {
                "ok" | "hdr" => {
                    let payload = result.unwrap_or_else(|e| panic!("{case}: refused: {e}"));
                    if call.is_write() {
                        let header: RecordHeader = decode_response(&payload).expect("header");
                        assert_eq!(
                            (header.kind, header.author.as_str()),
                            (kind, who.name.as_str()),
                            "{case}"
                        );
                    } else {
                        let got = records(function, &payload);
                        assert!(!got.is_empty(), "{case}: nothing returned");
                        assert!(got.iter().all(|r| r.header.kind == kind), "{case}");
                        let withheld = *expected == "hdr";
                        assert!(
                            got.iter().all(|r| r.is_redacted() == withheld),
                            "{case}: bodies withheld: {withheld}"
                        );
                    }
                }
                "-" => {
                    assert_eq!(
                        result,
                        Err(ContractError::Forbidden {
                            role: *role,
                            action: format!("{function} {kind}")
                        }),
                        "{case}"
                    );
                    assert_eq!(
                        counting.calls.get(),
                        0,
                        "{case}: refused after reading state"
                    );
                }
                "bad" => {
                    assert!(
                        matches!(result, Err(ContractError::BadRequest(_))),
                        "{case}"
                    );
                    assert_eq!(
                        counting.calls.get(),
                        0,
                        "{case}: refused after reading state"
                    );
                }
                other => panic!("unknown cell {other:?}"),
            }
        }
    }
    // The table covers every call of every kind, once.
    let functions = [
        "create",
        "amend",
        "get",
        "list",
        "history",
        "by_email",
        "patient_records",
    ];
    let mut all: Vec<(String, RecordKind)> = functions
        .iter()
        .flat_map(|f| RecordKind::ALL.map(|k| (f.to_string(), k)))
        .collect();
    all.sort();
    covered.sort();
    assert_eq!(covered, all);
    assert_eq!(ROLES.len(), Role::ALL.len());
}

#[test]
fn an_auditor_sees_who_did_what_but_no_clinical_text() {
    let ledger = seeded();
    let auditor = signer(Role::Auditor);
    let record: Record = ledger
        .query(
            &auditor,
            &EhrCall::Get {
                kind: RecordKind::Note,
                id: 1,
            },
        )
        .expect("header");
    assert!(record.body.is_empty());
    assert_eq!(record.header.author, signer(Role::Doctor).name);
    assert_eq!(record.header.patient_id, Some(1));
    assert!(matches!(
        record.decode_body::<Note>(),
        Err(ContractError::BadRequest(_))
    ));
    let history: HistoryPage = ledger
        .query(
            &auditor,
            &EhrCall::History {
                kind: RecordKind::Note,
                id: 1,
                after: None,
            },
        )
        .expect("history");
    assert_eq!(history.items.len(), 1);
    assert!(history.items[0].record.body.is_empty());
}
