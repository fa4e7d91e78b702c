//! The ledger's durable storage: blocks, the transaction index, the versioned world state, each key's
//! history, the certificates transactions name by hash and the ledger-wide Merkle tree, behind one small
//! trait, [`Store`].
//!
//! Nothing the blocks hold is kept twice but values no longer than a pointer ([`STATE_INLINE_BYTES_MAX`])
//! and one copy of each certificate (read when a transaction names it by hash). The world state is each
//! key's current version, and a key's history its list of versions: the values are read back from the
//! endorsed read–write sets of the blocks ([`Store::get`], [`Store::history`]).
//!
//! A peer hands the store everything it derived from one validated block as a [`BlockCommit`]; the store
//! checks that the commit agrees with itself and with the chain so far, then writes all of it in one
//! durable transaction. Two implementations: [`RedbStore`] (on disk, redb, fsync on every commit) and
//! [`MemoryStore`] (a twin for tests and simulation). [`conformance`] is one suite of checks that every
//! implementation must pass; the crate's tests run it against both.
//!
//! Bytes read back are untrusted input: a block is hash-checked when it is written and again when it is
//! read back (its header hash, and a checksum of all its stored bytes), every stored value is decoded
//! with a limit, and damage becomes [`StoreError::Corrupted`], never a panic. State, history and index
//! values are not hashed one by one: a flipped byte inside one can decode as a different value. Those
//! are caught by replaying the blocks (`verify` recomputes the state) or by redb's page checksums
//! ([`RedbOptions::check_integrity_on_open`]).
//!
//! Architecture invariant: the store does not validate transactions and does not build Merkle trees. It
//! records what the peer decided (validation codes, writes, tree nodes) and checks only what it can check
//! cheaply and locally: positions, hashes, sizes and limits. It knows nothing of contracts, certificates,
//! Raft or HTTP.

pub mod conformance;
mod error;
mod memory;
mod overlay;
mod redb_store;
mod stored;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use redb_store::{
    PageChecksums, REDB_STORE_FORMAT_VERSION, ReadOnlyOpen, RedbOptions, RedbStore,
    SCRATCH_SYNC_EVERY_BLOCKS, StorageReport, TableUsage, VALUE_CACHE_BYTES_MAX,
    VALUE_CACHE_COUNT_MAX,
};

use medledger_types::{
    Block, Hash, HistoryEntry, TxId, TxLocation, ValidationCode, Version, VersionedValue, limits,
};

pub use stored::entry_rwset;

/// Most items one [`Store::range`] or [`Store::history`] call returns; larger limits are lowered to it.
/// Larger than the user-facing pages because `verify` pages through the whole state with it.
pub const PAGE_COUNT_MAX: usize = 10_000;
/// Most state writes one [`BlockCommit`] may carry: every transaction of a full block writing its most.
pub const COMMIT_WRITES_COUNT_MAX: usize =
    limits::BLOCK_TX_COUNT_MAX * limits::RWSET_WRITES_COUNT_MAX;
/// Largest stored encoding of a world-state entry ([`StateEntry`]), in bytes: the version, then an
/// optional inline value (tag, length prefix, at most [`STATE_INLINE_BYTES_MAX`] bytes).
pub const STATE_STORED_BYTES_MAX: usize = 12 + 1 + 4 + STATE_INLINE_BYTES_MAX;
/// Values at most this long are kept in the world state beside their version (a pointer would cost as
/// much: an index key's empty value, a record id); longer ones are read from the block entry that wrote
/// them.
pub const STATE_INLINE_BYTES_MAX: usize = 64;

/// A key's world-state entry as a store keeps it: its current version, and its value if that is at most
/// [`STATE_INLINE_BYTES_MAX`] long (else the value is the write of the entry the version names).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StateEntry {
    pub version: Version,
    pub inline: Option<Vec<u8>>,
}

impl StateEntry {
    /// The entry a store keeps for `value`: the rule every implementation applies, so that `verify` can
    /// compare two stores' entries.
    pub fn of(value: &VersionedValue) -> StateEntry {
        StateEntry {
            version: value.version,
            inline: (value.value.len() <= STATE_INLINE_BYTES_MAX).then(|| value.value.clone()),
        }
    }
}

/// Most certificates one [`BlockCommit`] may carry: every transaction of a full block carrying its
/// creator's and every endorser's whole.
pub const COMMIT_CERTIFICATES_COUNT_MAX: usize =
    limits::BLOCK_TX_COUNT_MAX * (1 + limits::ENDORSEMENTS_COUNT_MAX);
/// Levels of the ledger-wide Merkle tree whose nodes the store keeps: a node at level 64 would cover
/// 2^64 leaves, more than a `u64` size can count.
pub const MERKLE_LEVEL_COUNT_MAX: u8 = 64;

const _: () = assert!(PAGE_COUNT_MAX >= limits::PAGE_LIMIT_MAX);
const _: () = assert!(PAGE_COUNT_MAX >= limits::HISTORY_COUNT_MAX);
const _: () = assert!(COMMIT_WRITES_COUNT_MAX < u32::MAX as usize);

/// One transaction of a block, as the transaction index records it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TxRecord {
    /// The entry's position in the block.
    pub index: u32,
    pub tx_id: TxId,
    /// Must equal the block's `metadata.validation_codes[index]`.
    pub code: ValidationCode,
}

/// One write to the world state by a valid transaction of the block being committed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StateWrite {
    pub key: String,
    pub value: Vec<u8>,
    /// `block` is the committed block's number; `tx` is the index of a valid entry of it.
    pub version: Version,
    pub tx_id: TxId,
}

/// Everything a peer writes for one block, in one store transaction.
///
/// [`Store::commit`] refuses with [`StoreError::Invalid`] a commit that disagrees with itself: see there
/// for the full list of checks.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlockCommit {
    /// The block, with `metadata.validation_codes` filled (one code per entry).
    pub block: Block,
    /// `medledger_crypto::header_hash(&block.header)`; the store recomputes it and compares.
    pub header_hash: Hash,
    /// One record for each entry that has a transaction id, in entry order.
    pub txs: Vec<TxRecord>,
    /// The valid transactions' writes in commit order (non-decreasing versions); a later write of the same
    /// key wins. Each must be a write of its entry's endorsed read–write set (the history is read back
    /// from there).
    pub writes: Vec<StateWrite>,
    /// Certificates (DER) carried whole by the block's valid transactions, from which later
    /// transactions may name them by hash. The store keeps each under its SHA-256; one it already
    /// holds changes nothing.
    pub certificates: Vec<Vec<u8>>,
    /// The perfect nodes of the ledger-wide Merkle tree that this block completes, as `(level, index,
    /// hash)`: node `(level, index)` covers leaves `index << level .. (index + 1) << level`. Exactly the
    /// nodes that end within the new size and beyond the old one, each once, in any order.
    pub merkle_nodes: Vec<(u8, u64, Hash)>,
    /// The ledger-wide tree's size after this block: `block.header.ledger_size`, which is the size before
    /// it plus the block's entry count.
    pub merkle_size: u64,
}

/// The ledger's durable storage.
///
/// Obligations of every implementation (checked by [`conformance`]):
/// - **Durable when it returns:** once [`Store::commit`] returns `Ok`, the block and everything derived
///   from it survive a crash or restart. Before that, none of it is visible: a commit is all or nothing.
/// - **No holes:** blocks are numbered `0..height()` without gaps; a block is accepted only as number
///   `height()`. A committed block is never rewritten.
/// - **Checked both ways:** a block's header hash is checked when written and when read back; bytes read
///   back that do not decode or do not match their hash are [`StoreError::Corrupted`], never a panic and
///   never silently returned.
/// - **Readers see whole blocks:** every read observes the state after some number of whole commits.
/// - `Err` means the store itself failed ([`StoreError::is_fatal`]) or the caller passed a bad argument
///   ([`StoreError::Invalid`], [`StoreError::OutOfOrder`]); an absent item is `Ok(None)`.
pub trait Store: Send + Sync {
    /// Number of committed blocks (= the next block's number).
    fn height(&self) -> Result<u64, StoreError>;

    /// Appends the block and everything derived from it atomically. Durable when it returns `Ok`.
    ///
    /// Outcomes:
    /// - `Ok(())`: committed and durable.
    /// - [`StoreError::OutOfOrder`]: the block's number is not `height()`; nothing was written.
    /// - [`StoreError::Invalid`]: the commit disagrees with itself or with the ledger, nothing was
    ///   written: the header hash is not the block header's; the block does not encode within
    ///   `BLOCK_STORED_BYTES_MAX`; the validation codes are not one per entry; a transaction record's
    ///   index is out of range or not increasing, or its code differs from the block's; a write's key or
    ///   value breaks its limit or its version is not an entry of this block with code `Valid`, or versions
    ///   decrease, or it is not a write of that entry's endorsed read–write set (with that entry's
    ///   transaction id); a certificate is over `CERTIFICATE_BYTES_MAX` or there are more than
    ///   [`COMMIT_CERTIFICATES_COUNT_MAX`]; `merkle_size` is not the header's `ledger_size` or not the previous size plus the entry
    ///   count; the Merkle nodes are not exactly the ones this block completes.
    /// - [`StoreError::Io`], [`StoreError::Database`], [`StoreError::Corrupted`]: the store failed and the
    ///   node cannot go on. The commit is either wholly durable or wholly absent (a failed final sync can
    ///   leave either); `height()` after a restart, or after [`Store::recover`], tells which.
    fn commit(&self, commit: BlockCommit) -> Result<(), StoreError>;

    /// After a failed commit (a full disk, an I/O error), makes the store usable again if it can: a
    /// file-backed store closes its file and opens it again (redb refuses every access after an I/O
    /// error until then), so what is durable is read back and a commit may be retried. `Ok` if the store
    /// is open and consistent again; the error otherwise (try again later). A store with nothing to
    /// recover returns `Ok`.
    fn recover(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The block, decoded. Its header hash is recomputed and must equal the hash recorded at commit, else
    /// [`StoreError::Corrupted`] naming the block. `Ok(None)` for `number >= height()`.
    fn block(&self, number: u64) -> Result<Option<Block>, StoreError>;

    /// The block's canonical bytes exactly as stored (for verify and for delivery to other nodes). They
    /// are checked against the checksum recorded at commit, else [`StoreError::Corrupted`].
    fn block_bytes(&self, number: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The header hash recorded when block `number` was committed.
    fn header_hash(&self, number: u64) -> Result<Option<Hash>, StoreError>;

    /// Where a transaction is. The first occurrence of an id is kept (a later duplicate, in the same
    /// block or a later one, does not overwrite it), unless the recorded one is invalid and a later one is
    /// valid: then the valid occurrence replaces it, because that is the one that took effect.
    fn tx_location(&self, tx_id: &TxId) -> Result<Option<TxLocation>, StoreError>;

    /// The current value of `key` and the version that wrote it (a long value read from that version's
    /// block entry; one that does not resolve is [`StoreError::Corrupted`]). [`StoreError::Invalid`] if
    /// the key is longer than `limits::KEY_BYTES_MAX`.
    fn get(&self, key: &str) -> Result<Option<VersionedValue>, StoreError>;

    /// The version that wrote `key`'s current value, without reading the value (the MVCC check).
    /// [`StoreError::Invalid`] if the key is longer than `limits::KEY_BYTES_MAX`.
    fn version(&self, key: &str) -> Result<Option<Version>, StoreError>;

    /// The world-state entries as kept (see [`StateEntry`]) of the keys in `[start, end)`, as
    /// [`Store::range`] pages them, without reading long values (for `verify` to compare stores).
    fn state_entries(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, StateEntry)>, StoreError>;

    /// The keys in `[start, end)` with their values, in key (byte) order, at most `min(limit,
    /// PAGE_COUNT_MAX)` of them. Empty if `start >= end`. [`StoreError::Invalid`] if a bound is longer than
    /// `limits::KEY_BYTES_MAX`.
    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, VersionedValue)>, StoreError>;

    /// The versions of `key` (where each of its values was written), oldest first, strictly after
    /// `after` if given, at most `min(limit, PAGE_COUNT_MAX)`. History of one key never mixes with
    /// another's, even when one key is a prefix of the other. [`StoreError::Invalid`] if the key is
    /// longer than `limits::KEY_BYTES_MAX`.
    fn history_versions(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError>;

    /// [`Store::history_versions`] with each version's transaction id and value, read from the
    /// transaction's entry in its block (the store keeps no copy). An entry that does not decode or does
    /// not write `key` is [`StoreError::Corrupted`].
    fn history(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let versions = self.history_versions(key, after, limit)?;
        stored::resolve_history(self, key, &versions)
    }

    /// The certificate (DER) whose SHA-256 is `hash`, if a committed block's valid transaction carried it.
    fn certificate(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError>;

    /// The certificates held, in hash order, strictly after `after` if given, at most `min(limit,
    /// PAGE_COUNT_MAX)` (for `verify` to compare them all).
    fn certificates(
        &self,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<(Hash, Vec<u8>)>, StoreError>;

    /// The ledger-wide Merkle tree's size: the number of entries in all committed blocks.
    fn merkle_size(&self) -> Result<u64, StoreError>;

    /// The hash of the perfect node `(level, index)` of the ledger-wide tree, once a block completed it.
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError>;
}
