//! Disk faults at every write and sync of a block commit (issue 8, item 8), on the simulated [`Disk`]
//! under redb.
//!
//! A simulation first makes a chain on peer A. Then, for each block of it and for each operation its
//! commit does on disk, a peer over a fresh redb store on a [`Disk`] holding the chain before that block
//! commits the block with a fault at that operation:
//!
//! - **power loss** (the write torn at a sector, or the sync lost; the disk rebuilt as it would be found),
//! - **a full disk** (`ENOSPC`, then space is freed),
//! - **an I/O error** (`EIO`).
//!
//! The commit must fail with an error (never a panic, never a success it did not make durable). After a
//! power loss the node restarts on the disk as it was found; after a full disk or an I/O error the same
//! peer recovers its store (`Peer::recover_store`, what a running node's committer does once space
//! returns). Then the invariants are checked:
//!
//! - `recovers`: the store opens again;
//! - `durable`: every block committed before the faulty one is there, and the chain is either at the
//!   faulty block's number (it did not commit) or just past it with that very block (its sync landed);
//! - `same_state`: once the block is delivered again where needed, the world state is exactly the one a
//!   peer that never saw a fault has at that height.

use std::sync::Arc;

use medledger_peer::Peer;
use medledger_store::{MemoryStore, RedbOptions, RedbStore, Store, StoreError};
use medledger_types::{Block, VersionedValue};

use crate::disk::{Disk, Fault};
use crate::{Rng, START_MS, Simulation, Violation, open_peer};

/// Every state key with its value and version: what `same_state` compares.
type State = Vec<(String, VersionedValue)>;

/// What a fault campaign did (for the test's assertions that it really struck).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultReport {
    /// Blocks whose commit was struck.
    pub blocks: usize,
    /// Disk operations of those commits, each struck by each kind of fault.
    pub operations: u64,
    pub power_losses: u64,
    pub disk_full: u64,
    pub io_errors: u64,
    /// Power losses after which the block turned out committed (its sync had landed).
    pub committed_anyway: u64,
}

/// A campaign over a simulated chain.
pub struct FaultCampaign {
    seed: u64,
    rng: Rng,
    blocks: Vec<Block>,
    identity: (medledger_crypto::keys::SigningKey, Vec<u8>),
    /// The state a fault-free peer has after block `n` (index `n`).
    states: Vec<State>,
}

impl FaultCampaign {
    /// Runs a simulation of `seed` until peer A holds `blocks` blocks past the genesis (at most
    /// `blocks * 50` steps), and computes the fault-free state after each block.
    pub fn new(seed: u64, blocks: usize) -> Result<FaultCampaign, Violation> {
        let mut simulation = Simulation::new(seed);
        let mut steps = 0;
        while simulation.height() < blocks as u64 + 1 && steps < blocks * 50 {
            simulation.step()?;
            steps += 1;
        }
        let (chain, identity) = simulation.chain()?;
        let mut campaign = FaultCampaign {
            seed,
            rng: Rng::new(seed ^ 0xD15C),
            blocks: chain,
            identity,
            states: Vec::new(),
        };
        let reference = Arc::new(MemoryStore::new());
        Peer::bootstrap(reference.as_ref(), &campaign.blocks[0])
            .map_err(|e| campaign.violation("same_state", format!("genesis: {e}")))?;
        let peer = open_peer(reference.clone(), &campaign.identity, START_MS);
        campaign.states.push(campaign.state(reference.as_ref())?);
        for block in &campaign.blocks[1..] {
            peer.deliver(block)
                .map_err(|e| campaign.violation("same_state", e.to_string()))?;
            campaign.states.push(campaign.state(reference.as_ref())?);
        }
        Ok(campaign)
    }

    fn violation(&self, invariant: &'static str, detail: impl Into<String>) -> Violation {
        Violation {
            seed: self.seed,
            step: 0,
            invariant,
            detail: detail.into(),
        }
    }

    fn state(&self, store: &dyn Store) -> Result<State, Violation> {
        store
            .range("", "\u{10FFFF}", 1_000_000)
            .map_err(|e| self.violation("same_state", e.to_string()))
    }

    /// The blocks past the genesis the campaign strikes.
    pub fn block_count(&self) -> usize {
        self.blocks.len() - 1
    }

    fn open(&self, disk: &Disk) -> Result<(Arc<RedbStore>, Peer), StoreError> {
        let backend = disk.clone();
        let store = Arc::new(RedbStore::open_on_backend(
            move || backend.backend(),
            &RedbOptions::default(),
        )?);
        let peer = open_peer(store.clone(), &self.identity, START_MS);
        Ok((store, peer))
    }

    /// A disk holding the genesis and blocks `1..number`, all synced.
    fn disk_before(&self, number: usize) -> Result<Disk, Violation> {
        let disk = Disk::new();
        let backend = disk.clone();
        let store = RedbStore::open_on_backend(move || backend.backend(), &RedbOptions::default())
            .map_err(|e| self.violation("recovers", e.to_string()))?;
        Peer::bootstrap(&store, &self.blocks[0])
            .map_err(|e| self.violation("recovers", format!("genesis: {e}")))?;
        let peer = open_peer(Arc::new(store), &self.identity, START_MS);
        for block in &self.blocks[1..number] {
            peer.deliver(block)
                .map_err(|e| self.violation("durable", e.to_string()))?;
        }
        drop(peer);
        disk.restart_process();
        Ok(disk)
    }

    /// Strikes block `number`'s commit with `fault` on a copy of `before`, restarts, and checks the
    /// invariants. Whether the block was found committed after the restart.
    fn strike(&mut self, before: &Disk, number: usize, fault: Fault) -> Result<bool, Violation> {
        let disk = before.snapshot();
        let (store, peer) = self
            .open(&disk)
            .map_err(|e| self.violation("recovers", e.to_string()))?;
        disk.arm(fault);
        let outcome = peer.deliver(&self.blocks[number]);
        if disk.faults() == 0 {
            return Err(self.violation(
                "recovers",
                format!("{fault:?} on block {number} never struck"),
            ));
        }
        let (store, peer) = match fault {
            // The machine stops: the node starts again on the disk as the power loss left it.
            Fault::PowerLoss { .. } => {
                drop(peer);
                drop(store);
                disk.power_loss(&mut self.rng);
                self.open(&disk).map_err(|e| {
                    self.violation(
                        "recovers",
                        format!("after {fault:?} on block {number}: {e}"),
                    )
                })?
            }
            // The node goes on: space is freed (or the error passes) and the same peer recovers its
            // store, as a running node's committer does before it tries the block again.
            Fault::DiskFull { .. } | Fault::IoError { .. } => {
                disk.free_space();
                peer.recover_store().map_err(|e| {
                    self.violation(
                        "recovers",
                        format!("recovering after {fault:?} on block {number}: {e}"),
                    )
                })?;
                (store, peer)
            }
        };
        let height = peer.height() as usize;
        let committed = if height == number + 1 {
            let hash = store
                .header_hash(number as u64)
                .map_err(|e| self.violation("durable", e.to_string()))?;
            if hash != Some(medledger_crypto::header_hash(&self.blocks[number].header)) {
                return Err(self.violation(
                    "durable",
                    format!("after {fault:?} block {number} is not the block committed"),
                ));
            }
            true
        } else if height == number {
            if outcome.is_ok() {
                return Err(self.violation(
                    "durable",
                    format!("block {number} was acknowledged, then lost after {fault:?}"),
                ));
            }
            peer.deliver(&self.blocks[number]).map_err(|e| {
                self.violation(
                    "same_state",
                    format!("delivering block {number} again after {fault:?}: {e}"),
                )
            })?;
            false
        } else {
            return Err(self.violation(
                "durable",
                format!("after {fault:?} on block {number} the height is {height}"),
            ));
        };
        if self.state(store.as_ref())? != self.states[number] {
            return Err(self.violation(
                "same_state",
                format!("after {fault:?} on block {number} the state differs"),
            ));
        }
        Ok(committed)
    }

    /// Strikes every block's commit at each of its disk operations with each kind of fault.
    pub fn run(mut self) -> Result<FaultReport, Violation> {
        let mut report = FaultReport::default();
        for number in 1..self.blocks.len() {
            let before = self.disk_before(number)?;
            // How many operations the commit does: count them on a copy without a fault.
            let counting = before.snapshot();
            let (store, peer) = self
                .open(&counting)
                .map_err(|e| self.violation("recovers", e.to_string()))?;
            let start = counting.operations();
            peer.deliver(&self.blocks[number])
                .map_err(|e| self.violation("same_state", e.to_string()))?;
            let operations = counting.operations() - start;
            drop((peer, store));
            report.blocks += 1;
            report.operations += operations;
            for at in 1..=operations {
                if self.strike(&before, number, Fault::PowerLoss { at })? {
                    report.committed_anyway += 1;
                }
                report.power_losses += 1;
                self.strike(&before, number, Fault::DiskFull { at })?;
                report.disk_full += 1;
                self.strike(&before, number, Fault::IoError { at })?;
                report.io_errors += 1;
            }
        }
        Ok(report)
    }
}
