//! A simulated disk under redb (its `StorageBackend`), to inject the faults a real one has: the power
//! failing at any write or sync, writes torn at sector boundaries, a full disk (`ENOSPC`), an I/O error
//! (`EIO`).
//!
//! The disk keeps two images: what reads see, and what has survived the last `sync_data` (durable).
//! Writes since that sync are kept in order. [`Disk::power_loss`] rebuilds the disk as a machine that lost
//! power would find it: the durable image with each later write kept whole, dropped, or kept for only its
//! first sectors, as the seed decides (a sector, 512 bytes, is written whole or not at all, as disks
//! promise). [`Disk::restart_process`] keeps everything written (the operating system still has it).
//!
//! Every call to `write`, `set_len` and `sync_data` is an operation, counted from 1; a [`Fault`] names
//! the operation it strikes. After a power loss the disk answers every call with an error, as a machine
//! that is off would, until it is rebuilt.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;

use crate::Rng;

/// What a disk guarantees to write whole: a sector.
pub const SECTOR_BYTES: usize = 512;

/// A fault, and the operation it strikes (1 = the next one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The power fails during this operation: a write lands torn (some of its first sectors, maybe none),
    /// a sync does not happen; nothing after it reaches the disk.
    PowerLoss { at: u64 },
    /// This operation fails with `ENOSPC`, and so does every later write or length change, until
    /// [`Disk::free_space`] (redb's file is sparse past what it wrote, so even a write inside it may
    /// need a new block of a full disk).
    DiskFull { at: u64 },
    /// This operation fails with `EIO` (the disk goes on afterwards).
    IoError { at: u64 },
}

#[derive(Debug, Default)]
struct State {
    visible: Vec<u8>,
    durable: Vec<u8>,
    /// Writes since the last sync, in order: (offset, bytes), or a length change (offset = new
    /// length, no bytes, `resize` true).
    unsynced: Vec<Unsynced>,
    operations: u64,
    fault: Option<Fault>,
    /// Operations are counted from here for the fault.
    fault_base: u64,
    powered_off: bool,
    /// Set by a [`Fault::DiskFull`]: writes fail until space is freed.
    full: bool,
    /// How many faults struck.
    faults: u64,
}

#[derive(Debug, Clone)]
enum Unsynced {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

/// A simulated disk (cheap to clone: clones share it).
#[derive(Debug, Clone, Default)]
pub struct Disk(Arc<Mutex<State>>);

impl Disk {
    pub fn new() -> Disk {
        Disk::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A disk holding `bytes`, all of them durable (a file copied onto it).
    pub fn with_contents(bytes: Vec<u8>) -> Disk {
        Disk(Arc::new(Mutex::new(State {
            visible: bytes.clone(),
            durable: bytes,
            ..State::default()
        })))
    }

    /// A backend for redb over this disk.
    pub fn backend(&self) -> DiskBackend {
        DiskBackend(self.clone())
    }

    /// A separate disk holding what this one holds now, durable as it is (its unsynced writes stay
    /// unsynced), with no fault.
    pub fn snapshot(&self) -> Disk {
        let state = self.lock();
        Disk(Arc::new(Mutex::new(State {
            visible: state.visible.clone(),
            durable: state.durable.clone(),
            unsynced: state.unsynced.clone(),
            ..State::default()
        })))
    }

    /// Arms `fault`, counting its operation from now.
    pub fn arm(&self, fault: Fault) {
        let mut state = self.lock();
        state.fault_base = state.operations;
        state.fault = Some(fault);
    }

    /// Operations so far (writes, length changes, syncs).
    pub fn operations(&self) -> u64 {
        self.lock().operations
    }

    /// How many armed faults have struck.
    pub fn faults(&self) -> u64 {
        self.lock().faults
    }

    /// Whether the disk has lost power (and answers nothing until rebuilt).
    pub fn is_powered_off(&self) -> bool {
        self.lock().powered_off
    }

    /// Space is freed: the disk can grow again.
    pub fn free_space(&self) {
        self.lock().full = false;
    }

    /// Rebuilds the disk as a machine that lost power finds it (module doc), and powers it on.
    pub fn power_loss(&self, rng: &mut Rng) {
        let mut state = self.lock();
        let mut image = std::mem::take(&mut state.durable);
        for change in std::mem::take(&mut state.unsynced) {
            match change {
                Unsynced::SetLen(len) => {
                    if rng.chance(50) {
                        image.resize(to_usize(len), 0);
                    }
                }
                Unsynced::Write { offset, bytes } => {
                    let kept = match rng.below(4) {
                        0 | 1 => bytes.len(),
                        2 => 0,
                        _ => torn_length(bytes.len(), rng),
                    };
                    put(&mut image, offset, &bytes[..kept]);
                }
            }
        }
        state.visible = image.clone();
        state.durable = image;
        state.powered_off = false;
        state.fault = None;
        state.full = false;
    }

    /// The process stopped, the machine did not: everything written stays; the disk syncs it.
    pub fn restart_process(&self) {
        let mut state = self.lock();
        state.durable = state.visible.clone();
        state.unsynced.clear();
        state.fault = None;
    }
}

/// The first whole sectors of a write of `len` bytes that a power loss let through (maybe none).
fn torn_length(len: usize, rng: &mut Rng) -> usize {
    let sectors = len.div_ceil(SECTOR_BYTES) as u64;
    (to_usize(rng.below(sectors + 1)) * SECTOR_BYTES).min(len)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Writes `bytes` at `offset` of `image`, growing it with zeros if needed.
fn put(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = to_usize(offset);
    let end = start + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(bytes);
}

fn powered_off() -> io::Error {
    io::Error::other("the simulated machine has lost power")
}

/// redb's view of a [`Disk`].
#[derive(Debug)]
pub struct DiskBackend(Disk);

impl DiskBackend {
    /// Counts one operation and applies the armed fault if it strikes this one: `Ok(None)` to go on,
    /// `Ok(Some(fault))` when a power loss strikes it (the caller tears its write), `Err` for an error.
    fn operation(state: &mut State, writes: bool) -> io::Result<Option<Fault>> {
        if state.powered_off {
            return Err(powered_off());
        }
        state.operations += 1;
        let n = state.operations - state.fault_base;
        if state.full && writes {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        match state.fault {
            Some(fault @ Fault::PowerLoss { at }) if at == n => {
                state.fault = None;
                state.faults += 1;
                state.powered_off = true;
                Ok(Some(fault))
            }
            Some(Fault::DiskFull { at }) if at == n => {
                state.fault = None;
                state.faults += 1;
                state.full = true;
                Err(io::Error::from(io::ErrorKind::StorageFull))
            }
            Some(Fault::IoError { at }) if at == n => {
                state.fault = None;
                state.faults += 1;
                Err(io::Error::other("simulated EIO"))
            }
            _ => Ok(None),
        }
    }
}

impl StorageBackend for DiskBackend {
    fn len(&self) -> Result<u64, io::Error> {
        let state = self.0.lock();
        if state.powered_off {
            return Err(powered_off());
        }
        Ok(state.visible.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let state = self.0.lock();
        if state.powered_off {
            return Err(powered_off());
        }
        let start = to_usize(offset);
        let end = start.checked_add(out.len()).ok_or_else(past_the_end)?;
        let bytes = state.visible.get(start..end).ok_or_else(past_the_end)?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut state = self.0.lock();
        if DiskBackend::operation(&mut state, true)?.is_some() {
            // The power failed before the length changed.
            return Err(powered_off());
        }
        state.visible.resize(to_usize(len), 0);
        state.unsynced.push(Unsynced::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut state = self.0.lock();
        if DiskBackend::operation(&mut state, false)?.is_some() {
            return Err(powered_off());
        }
        state.durable = state.visible.clone();
        state.unsynced.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut state = self.0.lock();
        if DiskBackend::operation(&mut state, true)?.is_some() {
            // Torn: the power failed part-way through. What landed is unsynced like any write; the
            // machine is off, so the rebuild decides how much of it survives.
            state.unsynced.push(Unsynced::Write {
                offset,
                bytes: data.to_vec(),
            });
            return Err(powered_off());
        }
        put(&mut state.visible, offset, data);
        state.unsynced.push(Unsynced::Write {
            offset,
            bytes: data.to_vec(),
        });
        Ok(())
    }
}

fn past_the_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the simulated disk",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_writes_survive_a_power_loss_and_unsynced_ones_may_not() {
        let disk = Disk::new();
        let backend = disk.backend();
        backend.write(0, &[1; 1024]).expect("write");
        backend.sync_data().expect("sync");
        backend.write(0, &[2; 1024]).expect("write");
        disk.arm(Fault::PowerLoss { at: 1 });
        assert!(backend.sync_data().is_err(), "the power fails at the sync");
        assert!(disk.is_powered_off());
        assert!(
            backend.read(0, &mut [0; 8]).is_err(),
            "a machine that is off reads nothing"
        );
        let mut outcomes = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let copy = disk.snapshot();
            copy.lock().powered_off = true;
            copy.power_loss(&mut Rng::new(seed));
            let mut bytes = [0u8; 1024];
            copy.backend().read(0, &mut bytes).expect("read");
            // Each sector is the old one or the new one, never a mixture inside a sector.
            for sector in bytes.chunks(SECTOR_BYTES) {
                assert!(sector.iter().all(|b| *b == sector[0]));
                assert!(sector[0] == 1 || sector[0] == 2);
            }
            outcomes.insert(bytes.iter().filter(|b| **b == 2).count());
        }
        // Across seeds: the write lost, torn after its first sector, and kept whole.
        assert!(outcomes.contains(&0) && outcomes.contains(&512) && outcomes.contains(&1024));
    }

    #[test]
    fn a_full_disk_refuses_writes_until_space_is_freed() {
        let disk = Disk::new();
        let backend = disk.backend();
        backend.write(0, &[1; 100]).expect("write");
        disk.arm(Fault::DiskFull { at: 1 });
        let full = backend.write(100, &[1; 100]).expect_err("full");
        assert_eq!(full.kind(), io::ErrorKind::StorageFull);
        assert!(backend.write(0, &[3; 100]).is_err());
        assert!(backend.set_len(4096).is_err());
        // Reads and syncs still work.
        backend.read(0, &mut [0; 100]).expect("read");
        backend.sync_data().expect("sync");
        disk.free_space();
        backend.set_len(4096).expect("space again");
    }
}
