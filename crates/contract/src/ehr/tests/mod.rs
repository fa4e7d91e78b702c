//! Tests of the EHR contract, run through the real runtime: each call is simulated with a [`Simulator`]
//! over a [`MemoryState`], MVCC-checked and applied as a committing peer would, one transaction per block.
//!
//! - `scenarios`: what a hospital does (create, read, list, chart, amend, history, emails), determinism.
//! - `fields`: the field description against the models; every field validated by its type.
//! - `validation`: field errors by OMOP name and code; dates, datetimes, decimals and their encodings.
//! - `authorization`: the role × call × kind matrix, as a table.
//! - `omop`: the models against the official OMOP CDM v5.4 field list.
//! - `schema`: the JSON Schemas against validation and the value parsers.
//! - `props`: undecodable or mutated arguments never panic.

mod authorization;
mod fields;
mod omop;
mod props;
mod scenarios;
mod schema;
mod validation;

use borsh::BorshDeserialize;
use medledger_types::{Hash, ResponseStatus, Role, RwSet, Signer, TxId, Version};

use super::*;
use crate::runtime::{Invocation, MemoryState, Simulation, simulate};

pub(super) use super::samples::{note, patient};

pub(super) fn drug(id: i64, patient_id: i64) -> DrugExposure {
    super::samples::drug_exposure(id, patient_id)
}

pub(super) fn doctor(id: i64, email: &str) -> Doctor {
    super::samples::doctor(id, email, vec![0x30, 0x82, 0x01, 0x00, 1, 2, 3])
}

pub(super) fn admin(id: i64, email: &str) -> Admin {
    super::samples::admin(id, email, vec![0x30, 0x82, 0x01, 0x00, 9, 9])
}

/// 2024-06-01T00:00:00Z: the tests' clock.
pub(super) const NOW_MS: i64 = 1_717_200_000_000;

pub(super) fn signer(role: Role) -> Signer {
    Signer {
        org: "Org1".into(),
        role,
        name: format!("{role}@hospital.cu"),
        certificate_hash: Hash([role as u8; 32]),
    }
}

pub(super) fn tx_id(n: u64) -> TxId {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    TxId(Hash(bytes))
}

pub(super) fn date(s: &str) -> Date {
    s.parse().expect("test date")
}

pub(super) fn datetime(s: &str) -> DateTime {
    s.parse().expect("test datetime")
}

/// A patient with every column filled.
pub(super) fn full_patient(id: i64) -> Patient {
    Patient {
        month_of_birth: Some(2),
        day_of_birth: Some(29),
        birth_datetime: Some(datetime("1980-02-29T06:30:00Z")),
        location_id: Some(3),
        provider_id: Some(7),
        care_site_id: Some(11),
        person_source_value: Some("a7f1-synthea".into()),
        gender_source_value: Some("F".into()),
        gender_source_concept_id: Some(0),
        race_source_value: Some("white".into()),
        race_source_concept_id: Some(0),
        ethnicity_source_value: Some("hispanic".into()),
        ethnicity_source_concept_id: Some(0),
        second_given_name: Some("José".into()),
        second_family_name: Some("Núñez".into()),
        national_id: Some("80022912345".into()),
        ..patient(id)
    }
}

pub(super) fn full_note(id: i64, patient_id: i64) -> Note {
    Note {
        note_datetime: Some(datetime("2024-05-30T10:15:00Z")),
        note_title: Some("Consulta".into()),
        provider_id: Some(1),
        visit_occurrence_id: Some(90),
        visit_detail_id: Some(91),
        note_source_value: Some("src".into()),
        note_event_id: Some(92),
        note_event_field_concept_id: Some(1147165),
        ..note(id, patient_id)
    }
}

pub(super) fn full_drug(id: i64, patient_id: i64) -> DrugExposure {
    DrugExposure {
        drug_exposure_start_datetime: Some(datetime("2024-05-01T08:00:00Z")),
        drug_exposure_end_datetime: Some(datetime("2024-05-10T08:00:00Z")),
        verbatim_end_date: Some(date("2024-05-09")),
        stop_reason: Some("completed".into()),
        refills: Some(0),
        quantity: Some("30.5".parse().expect("decimal")),
        days_supply: Some(10),
        sig: Some("1 tableta cada 8 horas".into()),
        route_concept_id: Some(4132161),
        lot_number: Some("L-2024-001".into()),
        provider_id: Some(1),
        visit_occurrence_id: Some(5),
        visit_detail_id: Some(6),
        drug_source_value: Some("paracetamol 500 mg".into()),
        drug_source_concept_id: Some(0),
        route_source_value: Some("oral".into()),
        dose_unit_source_value: Some("mg".into()),
        ..drug(id, patient_id)
    }
}

/// A sample of `kind` with every optional field filled (with a month of birth and a datetime start and
/// end), as JSON.
pub(super) fn full_json(kind: RecordKind) -> serde_json::Value {
    let json = match kind {
        RecordKind::Patient => serde_json::to_value(full_patient(1)),
        RecordKind::DrugExposure => serde_json::to_value(full_drug(1, 1)),
        RecordKind::Note => serde_json::to_value(full_note(1, 1)),
        RecordKind::Doctor => serde_json::to_value(full_doctor(1, "a@b.cu")),
        RecordKind::Admin => serde_json::to_value(admin(1, "a@b.cu")),
    };
    json.expect("a model serializes")
}

/// `json` as a record of `kind`.
pub(super) fn record_from_json(
    kind: RecordKind,
    json: serde_json::Value,
) -> Result<NewRecord, serde_json::Error> {
    match kind {
        RecordKind::Patient => serde_json::from_value(json).map(NewRecord::Patient),
        RecordKind::DrugExposure => serde_json::from_value(json).map(NewRecord::DrugExposure),
        RecordKind::Note => serde_json::from_value(json).map(NewRecord::Note),
        RecordKind::Doctor => serde_json::from_value(json).map(NewRecord::Doctor),
        RecordKind::Admin => serde_json::from_value(json).map(NewRecord::Admin),
    }
}

pub(super) fn full_doctor(id: i64, email: &str) -> Doctor {
    Doctor {
        provider_name: Some("Ana García López".into()),
        npi: Some("1234567890".into()),
        dea: Some("AB1234563".into()),
        specialty_concept_id: Some(38004456),
        care_site_id: Some(2),
        year_of_birth: Some(1975),
        gender_concept_id: Some(8532),
        provider_source_value: Some("dr-ana".into()),
        specialty_source_value: Some("Medicina General".into()),
        specialty_source_concept_id: Some(0),
        gender_source_value: Some("F".into()),
        gender_source_concept_id: Some(0),
        second_given_name: Some("Luisa".into()),
        second_family_name: Some("López".into()),
        ..doctor(id, email)
    }
}

/// A world state with a committing peer's discipline: simulate, MVCC-check, apply; one tx per block.
#[derive(Clone)]
pub(super) struct Ledger {
    pub state: MemoryState,
    pub block: u64,
    pub now_ms: i64,
}

impl Ledger {
    pub fn new() -> Self {
        Ledger {
            state: MemoryState::new(),
            block: 0,
            now_ms: NOW_MS,
        }
    }

    /// Simulates without committing; tx id from the next block number.
    pub fn simulate_raw(&self, signer: &Signer, function: &str, args: &[Vec<u8>]) -> Simulation {
        let invocation = Invocation {
            tx_id: tx_id(self.block + 1),
            signer,
            function,
            args,
            timestamp_ms: self.now_ms,
        };
        simulate(&EhrContract, &self.state, &invocation).expect("the memory state never fails")
    }

    pub fn simulate(&self, signer: &Signer, call: &EhrCall) -> Simulation {
        self.simulate_raw(signer, call.function(), &[call.encode()])
    }

    /// Runs a read-only call; the answer or the refusal.
    pub fn query<T: BorshDeserialize>(
        &self,
        signer: &Signer,
        call: &EhrCall,
    ) -> Result<T, ContractError> {
        let sim = self.simulate(signer, call);
        outcome(&sim).map(|payload| decode_response(&payload).expect("response decodes"))
    }

    /// Runs a call and commits its writes if the contract accepted it.
    pub fn submit(&mut self, signer: &Signer, call: &EhrCall) -> Result<Vec<u8>, ContractError> {
        let sim = self.simulate(signer, call);
        let payload = outcome(&sim)?;
        self.commit(&sim.rwset);
        Ok(payload)
    }

    pub fn commit(&mut self, rwset: &RwSet) {
        self.state
            .check_reads(rwset)
            .expect("no concurrent writer in these tests");
        self.block += 1;
        self.state.apply(
            rwset,
            Version {
                block: self.block,
                tx: 0,
            },
            tx_id(self.block),
        );
    }

    /// Creates a record that must be accepted.
    pub fn create(&mut self, signer: &Signer, record: NewRecord) -> RecordHeader {
        let payload = self
            .submit(signer, &EhrCall::Create(record))
            .expect("create accepted");
        decode_response(&payload).expect("header")
    }
}

/// The payload of an accepted call, or the decoded refusal.
pub(super) fn outcome(sim: &Simulation) -> Result<Vec<u8>, ContractError> {
    match sim.response.status {
        ResponseStatus::Ok => Ok(sim.response.payload.clone()),
        ResponseStatus::Refused => {
            Err(ContractError::from_payload(&sim.response.payload).expect("refusal decodes"))
        }
    }
}

/// A ledger holding admin 1, doctor 1, patient 1, note 1 and drug exposure 1.
pub(super) fn seeded() -> Ledger {
    let mut ledger = Ledger::new();
    let admin_signer = signer(Role::Admin);
    let doctor_signer = signer(Role::Doctor);
    ledger.create(
        &admin_signer,
        NewRecord::Admin(admin(1, "admin@hospital.cu")),
    );
    ledger.create(
        &admin_signer,
        NewRecord::Doctor(doctor(1, "ana@hospital.cu")),
    );
    ledger.create(&doctor_signer, NewRecord::Patient(patient(1)));
    ledger.create(&doctor_signer, NewRecord::Note(note(1, 1)));
    ledger.create(&doctor_signer, NewRecord::DrugExposure(drug(1, 1)));
    ledger
}

/// The field errors of a refusal (empty if it is not a validation error).
pub(super) fn fields(result: Result<impl Sized, ContractError>) -> Vec<(String, String)> {
    match result {
        Err(ContractError::Validation(errors)) => {
            errors.into_iter().map(|e| (e.field, e.code)).collect()
        }
        Err(other) => panic!("expected a validation error, got {other:?}"),
        Ok(_) => panic!("expected a validation error, got success"),
    }
}
