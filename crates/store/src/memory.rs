//! [`MemoryStore`]: the in-memory twin of [`RedbStore`](crate::RedbStore), for tests and simulation.
//!
//! It keeps blocks as encoded bytes with their recorded hashes, so reads go through the same decode and
//! hash checks as on disk; everything else lives in plain ordered maps. It is deliberately simple and
//! independent of the redb layout, so the equivalence tests can use it as the reference answer.
//! "Durable" here means: for the lifetime of the value.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use medledger_types::{Block, Hash, TxId, TxLocation, Version, VersionedValue};

use crate::stored::{CheckedCommit, check_block_bytes, check_key, decode_block, page_count};
use crate::{BlockCommit, StateEntry, Store, StoreError};

/// One committed block as kept in memory: the same three items the redb store records.
#[derive(Debug)]
struct StoredBlock {
    bytes: Vec<u8>,
    header_hash: Hash,
    checksum: Hash,
}

#[derive(Debug, Default)]
struct Inner {
    /// Index = block number; no holes by construction.
    blocks: Vec<StoredBlock>,
    tx_index: HashMap<TxId, TxLocation>,
    state: BTreeMap<String, VersionedValue>,
    history: HashMap<String, BTreeSet<Version>>,
    certificates: BTreeMap<Hash, Vec<u8>>,
    merkle_nodes: HashMap<(u8, u64), Hash>,
    merkle_size: u64,
}

/// A [`Store`] held in memory. Cheap to create; lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Inner>, StoreError> {
        self.inner
            .read()
            .map_err(|_| StoreError::Database("memory store lock poisoned".into()))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Inner>, StoreError> {
        self.inner
            .write()
            .map_err(|_| StoreError::Database("memory store lock poisoned".into()))
    }

    /// Flips the bits of byte `offset` of block `number`'s stored bytes, as a damaged disk would. For the
    /// conformance suite's corruption check. Returns whether there was such a byte.
    pub(crate) fn damage_block_byte(&self, number: u64, offset: usize) -> Result<bool, StoreError> {
        let mut inner = self.write()?;
        let byte = usize::try_from(number)
            .ok()
            .and_then(|n| inner.blocks.get_mut(n))
            .and_then(|block| block.bytes.get_mut(offset));
        Ok(match byte {
            Some(byte) => {
                *byte ^= 0xff;
                true
            }
            None => false,
        })
    }

    /// The stored bytes of block `number`, unchecked (for the conformance suite to locate a byte).
    pub(crate) fn raw_block_bytes(&self, number: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.read()?;
        Ok(usize::try_from(number)
            .ok()
            .and_then(|n| inner.blocks.get(n))
            .map(|b| b.bytes.clone()))
    }
}

impl Inner {
    fn stored_block(&self, number: u64) -> Option<&StoredBlock> {
        usize::try_from(number)
            .ok()
            .and_then(|n| self.blocks.get(n))
    }
}

impl Store for MemoryStore {
    fn height(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.blocks.len() as u64)
    }

    fn commit(&self, commit: BlockCommit) -> Result<(), StoreError> {
        let commit = CheckedCommit::new(commit)?;
        let mut inner = self.write()?;
        commit.check_position(inner.blocks.len() as u64, inner.merkle_size)?;

        // Nothing below can fail, so the commit is all or nothing.
        let number = commit.number;
        for tx in &commit.txs {
            let location = TxLocation {
                block: number,
                index: tx.index,
                code: tx.code,
            };
            match inner.tx_index.get(&tx.tx_id) {
                Some(recorded) if !crate::stored::supersedes(tx.code, recorded.code) => {}
                _ => {
                    inner.tx_index.insert(tx.tx_id, location);
                }
            }
        }
        for (key, version) in commit.overwritten {
            inner.history.entry(key).or_default().insert(version);
        }
        for (key, value) in commit.state {
            inner
                .history
                .entry(key.clone())
                .or_default()
                .insert(value.version);
            inner.state.insert(key, value);
        }
        for (hash, der) in commit.certificates {
            inner.certificates.entry(hash).or_insert(der);
        }
        for (level, index, hash) in commit.merkle_nodes {
            inner.merkle_nodes.insert((level, index), hash);
        }
        inner.merkle_size = commit.merkle_size;
        inner.blocks.push(StoredBlock {
            bytes: commit.block_bytes,
            header_hash: commit.header_hash,
            checksum: commit.block_checksum,
        });
        Ok(())
    }

    fn block(&self, number: u64) -> Result<Option<Block>, StoreError> {
        let inner = self.read()?;
        let Some(stored) = inner.stored_block(number) else {
            return Ok(None);
        };
        check_block_bytes(number, &stored.bytes, Some(stored.checksum))?;
        decode_block(number, &stored.bytes, Some(stored.header_hash)).map(Some)
    }

    fn block_bytes(&self, number: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.read()?;
        let Some(stored) = inner.stored_block(number) else {
            return Ok(None);
        };
        check_block_bytes(number, &stored.bytes, Some(stored.checksum))?;
        Ok(Some(stored.bytes.clone()))
    }

    fn header_hash(&self, number: u64) -> Result<Option<Hash>, StoreError> {
        Ok(self
            .read()?
            .stored_block(number)
            .map(|stored| stored.header_hash))
    }

    fn tx_location(&self, tx_id: &TxId) -> Result<Option<TxLocation>, StoreError> {
        Ok(self.read()?.tx_index.get(tx_id).copied())
    }

    fn get(&self, key: &str) -> Result<Option<VersionedValue>, StoreError> {
        check_key(key)?;
        Ok(self.read()?.state.get(key).cloned())
    }

    fn version(&self, key: &str) -> Result<Option<Version>, StoreError> {
        check_key(key)?;
        Ok(self.read()?.state.get(key).map(|v| v.version))
    }

    fn state_entries(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, StateEntry)>, StoreError> {
        Ok(self
            .range(start, end, limit)?
            .into_iter()
            .map(|(key, value)| {
                let entry = StateEntry::of(&value);
                (key, entry)
            })
            .collect())
    }

    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, VersionedValue)>, StoreError> {
        check_key(start)?;
        check_key(end)?;
        if start >= end {
            return Ok(Vec::new());
        }
        let inner = self.read()?;
        Ok(inner
            .state
            .range::<str, _>((Bound::Included(start), Bound::Excluded(end)))
            .take(page_count(limit))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }

    fn history_versions(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        check_key(key)?;
        let inner = self.read()?;
        let Some(versions) = inner.history.get(key) else {
            return Ok(Vec::new());
        };
        let lower = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        Ok(versions
            .range((lower, Bound::Unbounded))
            .take(page_count(limit))
            .copied()
            .collect())
    }

    fn certificate(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read()?.certificates.get(hash).cloned())
    }

    fn certificates(
        &self,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<(Hash, Vec<u8>)>, StoreError> {
        let lower = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        Ok(self
            .read()?
            .certificates
            .range((lower, Bound::Unbounded))
            .take(page_count(limit))
            .map(|(hash, der)| (*hash, der.clone()))
            .collect())
    }

    fn merkle_size(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.merkle_size)
    }

    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        Ok(self.read()?.merkle_nodes.get(&(level, index)).copied())
    }
}
