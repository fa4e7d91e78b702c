//! The contract runtime: a contract runs against a [`Stub`] that simulates a transaction over committed
//! world state and records what it read (with versions) and what it would write.
//!
//! This is the "execute" of execute–order–validate. An endorsing peer builds a [`Simulator`] over its
//! [`StateReader`], runs the contract, and signs the resulting [`RwSet`]; nothing is written to the store.
//! At commit, every peer checks that each recorded read still has the recorded version (MVCC) before
//! applying the writes.
//!
//! What is recorded, and why:
//! - [`Stub::get`] records the key and the version it had (`None` if absent), the first time a committed
//!   key is read. A key this transaction already wrote is answered from the write set and not recorded,
//!   because its value then does not depend on committed state.
//! - [`Stub::range`] and [`Stub::history`] are **not** recorded (there are no phantom-read checks, as in
//!   Fabric's query functions), and they see committed state only, not this transaction's own writes.
//!   Contracts therefore must never let a write depend on a range or history result; any key whose value
//!   decides a write must be read with [`Stub::get`]. The EHR contract uses ranges only in read-only calls.
//! - [`Stub::put`] checks the key and value sizes and the number of writes against [`limits`], so an
//!   endorsed read-write set always fits what the validators accept. A later put to the same key replaces
//!   the earlier one; the read-write set holds one write per key.
//!
//! Determinism: reads and writes are kept in `BTreeMap`s, so [`Simulator::into_rwset`] is sorted by key and
//! the same state and proposal always give the same bytes.

use std::collections::BTreeMap;

use medledger_types::limits;
use medledger_types::{
    HistoryEntry, KvRead, KvWrite, Response, ResponseStatus, RwSet, Signer, TxId, Version,
    VersionedValue,
};

use crate::error::ContractError;
pub use crate::error::StateError;

/// Most items one [`Stub::range`] or [`Stub::history`] call may ask for: a full page plus one, so that a
/// contract can tell whether there is a next page.
pub const RANGE_COUNT_MAX: usize = limits::PAGE_LIMIT_MAX + 1;
const _: () = assert!(limits::HISTORY_COUNT_MAX < RANGE_COUNT_MAX);

/// Read access to committed world state (the peer implements it over the store).
pub trait StateReader {
    /// The current value of `key` and the version that wrote it.
    fn get(&self, key: &str) -> Result<Option<VersionedValue>, StateError>;
    /// Up to `limit` current entries with `start <= key < end`, in key order.
    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, VersionedValue)>, StateError>;
    /// Up to `limit` versions of `key` written after `after` (all if `None`), oldest first.
    fn history(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StateError>;
}

/// What a contract sees during simulation.
pub trait Stub {
    /// The value of `key`: this transaction's own earlier put if any, else the committed value (recording
    /// the read and its version for MVCC).
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, ContractError>;
    /// Writes `value` under `key` (checked against the key, value and write-count limits).
    fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), ContractError>;
    /// Up to `limit` committed entries with `start <= key < end`, in key order. Not recorded for MVCC:
    /// writes must never depend on range results.
    fn range(
        &mut self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, ContractError>;
    /// Up to `limit` committed versions of `key` after `after`, oldest first. Not recorded for MVCC.
    fn history(
        &mut self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ContractError>;
}

/// A [`Stub`] over committed state that records a read-write set.
pub struct Simulator<'a> {
    state: &'a dyn StateReader,
    reads: BTreeMap<String, Option<Version>>,
    writes: BTreeMap<String, Vec<u8>>,
}

impl<'a> Simulator<'a> {
    pub fn new(state: &'a dyn StateReader) -> Self {
        Simulator {
            state,
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
        }
    }

    /// The recorded reads and writes, each sorted by key without duplicates.
    pub fn into_rwset(self) -> RwSet {
        RwSet {
            reads: self
                .reads
                .into_iter()
                .map(|(key, version)| KvRead { key, version })
                .collect(),
            writes: self
                .writes
                .into_iter()
                .map(|(key, value)| KvWrite { key, value })
                .collect(),
        }
    }
}

fn check_count(what: &str, len: usize, max: usize) -> Result<(), ContractError> {
    if len > max {
        return Err(ContractError::TooLarge {
            what: what.to_owned(),
            len: len as u64,
            max: max as u64,
        });
    }
    Ok(())
}

impl Stub for Simulator<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, ContractError> {
        if let Some(value) = self.writes.get(key) {
            return Ok(Some(value.clone()));
        }
        let current = self.state.get(key)?;
        let version = current.as_ref().map(|v| v.version);
        match self.reads.get(key) {
            // Committed state cannot change during one simulation; keep the first recorded version.
            Some(_) => {}
            None => {
                check_count(
                    "reads in one transaction",
                    self.reads.len() + 1,
                    limits::RWSET_READS_COUNT_MAX,
                )?;
                self.reads.insert(key.to_owned(), version);
            }
        }
        Ok(current.map(|v| v.value))
    }

    fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), ContractError> {
        if key.is_empty() {
            return Err(ContractError::BadRequest("empty state key".to_owned()));
        }
        check_count("state key bytes", key.len(), limits::KEY_BYTES_MAX)?;
        check_count("state value bytes", value.len(), limits::VALUE_BYTES_MAX)?;
        if !self.writes.contains_key(key) {
            check_count(
                "writes in one transaction",
                self.writes.len() + 1,
                limits::RWSET_WRITES_COUNT_MAX,
            )?;
        }
        self.writes.insert(key.to_owned(), value);
        Ok(())
    }

    fn range(
        &mut self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, ContractError> {
        check_count("range limit", limit, RANGE_COUNT_MAX)?;
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let entries = self.state.range(start, end, limit)?;
        Ok(entries
            .into_iter()
            .take(limit)
            .map(|(k, v)| (k, v.value))
            .collect())
    }

    fn history(
        &mut self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ContractError> {
        check_count("history limit", limit, RANGE_COUNT_MAX)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut entries = self.state.history(key, after, limit)?;
        entries.truncate(limit);
        Ok(entries)
    }
}

/// One call of a contract function, as the peer hands it over after checking the proposal's signature and
/// the signer's certificate.
#[derive(Clone, Copy, Debug)]
pub struct Invocation<'a> {
    pub tx_id: TxId,
    pub signer: &'a Signer,
    pub function: &'a str,
    pub args: &'a [Vec<u8>],
    /// The proposal's timestamp: the contract's only clock.
    pub timestamp_ms: i64,
}

/// A smart contract. Implementations must be deterministic: no clock, randomness, I/O or hash-map order.
pub trait Contract: Send + Sync {
    /// The name proposals use to address it (`Proposal::contract`).
    fn name(&self) -> &'static str;
    /// Runs one call against `stub`. The returned bytes are the response payload.
    fn invoke(
        &self,
        stub: &mut dyn Stub,
        invocation: &Invocation<'_>,
    ) -> Result<Vec<u8>, ContractError>;
}

/// The result of simulating one proposal: what a peer endorses.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Simulation {
    /// Empty when the contract refused: a refused transaction changes nothing.
    pub rwset: RwSet,
    pub response: Response,
}

/// Runs `contract` on a fresh [`Simulator`] over `state`, as an endorsing peer does. A refusal becomes a
/// `Refused` response whose payload is the encoded [`ContractError`], with an empty read-write set. A
/// failure to read this peer's own state is returned as an error instead: it says nothing about the
/// proposal, and another peer would answer differently, so it must not be endorsed.
pub fn simulate(
    contract: &dyn Contract,
    state: &dyn StateReader,
    invocation: &Invocation<'_>,
) -> Result<Simulation, StateError> {
    let mut sim = Simulator::new(state);
    match contract.invoke(&mut sim, invocation) {
        Ok(payload) => Ok(Simulation {
            rwset: sim.into_rwset(),
            response: Response {
                status: ResponseStatus::Ok,
                payload,
            },
        }),
        Err(ContractError::State(message)) => Err(StateError(message)),
        Err(e) => Ok(Simulation {
            rwset: RwSet::default(),
            response: Response {
                status: ResponseStatus::Refused,
                payload: e.to_payload(),
            },
        }),
    }
}

/// An in-memory world state with history, for tests (here and in other crates). Not durable.
#[derive(Clone, Debug, Default)]
pub struct MemoryState {
    current: BTreeMap<String, VersionedValue>,
    history: BTreeMap<String, Vec<HistoryEntry>>,
}

/// A read in a read-write set no longer matches the state's current version.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("MVCC conflict on {key:?}: read {read:?}, current {current:?}")]
pub struct MvccConflict {
    pub key: String,
    pub read: Option<Version>,
    pub current: Option<Version>,
}

impl MemoryState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks every read of `rwset` against the current versions, as a validating peer does.
    pub fn check_reads(&self, rwset: &RwSet) -> Result<(), MvccConflict> {
        for read in &rwset.reads {
            let current = self.current.get(&read.key).map(|v| v.version);
            if current != read.version {
                return Err(MvccConflict {
                    key: read.key.clone(),
                    read: read.version,
                    current,
                });
            }
        }
        Ok(())
    }

    /// Applies the writes of `rwset` at `version` (no MVCC check: call [`MemoryState::check_reads`] first
    /// to behave like a validating peer).
    pub fn apply(&mut self, rwset: &RwSet, version: Version, tx_id: TxId) {
        for write in &rwset.writes {
            self.current.insert(
                write.key.clone(),
                VersionedValue {
                    value: write.value.clone(),
                    version,
                },
            );
            self.history
                .entry(write.key.clone())
                .or_default()
                .push(HistoryEntry {
                    version,
                    tx_id,
                    value: write.value.clone(),
                });
        }
    }

    /// Number of keys with a current value.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }
}

impl StateReader for MemoryState {
    fn get(&self, key: &str) -> Result<Option<VersionedValue>, StateError> {
        Ok(self.current.get(key).cloned())
    }

    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        if start >= end {
            return Ok(Vec::new());
        }
        Ok(self
            .current
            .range::<str, _>((
                std::ops::Bound::Included(start),
                std::ops::Bound::Excluded(end),
            ))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn history(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StateError> {
        let Some(entries) = self.history.get(key) else {
            return Ok(Vec::new());
        };
        Ok(entries
            .iter()
            .filter(|e| after.is_none_or(|a| e.version > a))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests;
