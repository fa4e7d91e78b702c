//! [`RedbStore`]: the [`Store`] on disk, in one redb file, one durable redb write transaction per block.
//!
//! # Layout
//!
//! | table             | key                                   | value                                      |
//! |-------------------|---------------------------------------|--------------------------------------------|
//! | `blocks`          | block number `u64`                    | the block's canonical bytes, compressed    |
//! | `header_hashes`   | block number `u64`                    | header hash `[u8; 32]`                     |
//! | `block_checksums` | block number `u64`                    | SHA-256 of the stored block bytes          |
//! | `tx_index`        | tx id `[u8; 32]`                      | borsh [`TxLocation`] (block, index, code)  |
//! | `state`           | key, UTF-8 bytes                      | borsh `(Version, Option<Vec<u8>>)`: see below |
//! | `history`         | see below                             | nothing: the key is the pointer            |
//! |                   | (overwritten versions only)           |                                            |
//! | `certificates`    | certificate hash `[u8; 32]`           | the certificate's DER                      |
//! | `merkle_nodes`    | `(level u8, index u64)`, level ≥ 1    | node hash `[u8; 32]`                       |
//! | `leaf_starts`     | first leaf index `u64` of a block     | that block's number `u64`                  |
//! | `meta`            | `"format"`, `"height"`, `"merkle_size"` | `u64`                                    |
//!
//! A history key is `key length (u32, big-endian) ‖ key bytes ‖ block (u64, BE) ‖ tx (u32, BE)`. Keys
//! compare as bytes, so one key's versions are contiguous and in version order, and
//! `history(key, after, limit)` is one range scan. The length prefix keeps keys that are prefixes of
//! each other apart: `note/1` (length 6) and `note/10` (length 7) never interleave, where a plain
//! concatenation would put `note/10`'s entries between two of `note/1`'s whenever a version byte
//! happened to be `'0'`. The entry stores no value: the version names the block and the transaction
//! whose endorsed read–write set holds it, and [`Store::history`] reads it from there. The table holds
//! only the versions that were overwritten: a key's current version is its `state` entry's, so a key
//! written once (most keys: a record created and never amended, an index key) has no history entry.
//! `history(key)` is the table's versions of the key followed by the state's.
//!
//! The ledger-wide tree's leaves (level 0) are not kept: leaf `i` is the leaf hash of an entry the
//! blocks hold, found through `leaf_starts` (one row per block that has entries) and read from its block.
//! The commit checks that the leaves it is given are those hashes (`stored::check_leaves`).
//!
//! A state entry is the key's current version and, for a value of at most
//! [`STATE_INLINE_BYTES_MAX`](crate::STATE_INLINE_BYTES_MAX) bytes, the value; a longer value is the
//! write of the block entry the version names, read from there ([`Store::get`]) through a bounded cache
//! of values by key and version (a version's value never changes, so the cache is never stale).
//!
//! A block is stored as its canonical bytes' length (`u32`, little-endian) followed by those bytes
//! compressed as one LZ4 block (`lz4_flex`, safe and checked decoding). A transaction carries its
//! record twice, in the proposal's arguments and in the endorsed read–write set, and a block's
//! transactions share keys, names and structure: LZ4 stores the repeats as back-references. The length is
//! checked against `BLOCK_STORED_BYTES_MAX` before anything is allocated, and the checksum in
//! `block_checksums` is of the canonical bytes, so damage to the compressed bytes is caught as damage
//! to the block.
//!
//! Every value read back is decoded with a limit; damage is [`StoreError::Corrupted`]. redb itself can
//! panic on a damaged file (it unwraps lengths and UTF-8 it wrote itself, and trusts a cleanly closed
//! file on open), so every call into it runs under `catch_unwind` and a panic becomes `Corrupted`.
//!
//! # Read-only opens
//!
//! An auditor opens the file with [`RedbStore::open_read_only`]: the file is opened for reading only (the
//! operating system refuses any write), with a shared lock, so a running node makes the open fail. A
//! file that a crash left needs redb's recovery, which writes; it is then recovered into memory over a
//! [`CopyOnWriteBackend`](crate::overlay::CopyOnWriteBackend), never on the file.
//! [`RedbStore::check_page_checksums`] runs redb's page-checksum check the same way.

use std::collections::HashMap;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use medledger_types::{Block, Hash, TxId, TxLocation, Version, VersionedValue, codec, limits};
use redb::{
    Database, DatabaseError, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, TransactionError,
};

use crate::overlay::CopyOnWriteBackend;

use crate::stored::{CheckedCommit, check_block_bytes, check_key, decode_block, page_count};
use crate::{BlockCommit, STATE_STORED_BYTES_MAX, StateEntry, Store, StoreError};

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const HEADER_HASHES: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("header_hashes");
const BLOCK_CHECKSUMS: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("block_checksums");
const TX_INDEX: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("tx_index");
/// Keys are `&[u8]` rather than `&str`: redb unwraps UTF-8 when it decodes a `&str`, and we would rather
/// check it ourselves. UTF-8 orders as its bytes, so the order is the same.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
const HISTORY: TableDefinition<&[u8], ()> = TableDefinition::new("history");
const CERTIFICATES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("certificates");
const MERKLE_NODES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("merkle_nodes");
const LEAF_STARTS: TableDefinition<u64, u64> = TableDefinition::new("leaf_starts");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const META_FORMAT: &str = "format";
const META_HEIGHT: &str = "height";
const META_MERKLE_SIZE: &str = "merkle_size";

/// The version of the layout above, written when a file is created and checked on open.
/// Version 2: blocks compressed, history entries are pointers (no value), the `certificates` table.
pub const REDB_STORE_FORMAT_VERSION: u64 = 2;

/// The stored size of a [`TxLocation`]: block `u64`, index `u32`, code `u8`.
const TX_LOCATION_STORED_BYTES: usize = 8 + 4 + 1;
/// Bytes a history key adds to the state key: length prefix, block, tx.
const HISTORY_KEY_OVERHEAD_BYTES: usize = 4 + 8 + 4;

const _: () = assert!(limits::KEY_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(limits::BLOCK_STORED_BYTES_MAX <= u32::MAX as usize);

/// How to open a [`RedbStore`].
#[derive(Clone, Debug, Default)]
pub struct RedbOptions {
    /// Verify the checksum of every page when opening (reads the whole file). Off by default: blocks
    /// carry their own checksum, and a damaged page elsewhere surfaces as `Corrupted` when it is read.
    pub check_integrity_on_open: bool,
    /// redb's page cache, in bytes; `None` keeps redb's default (1 GiB).
    pub cache_bytes: Option<usize>,
    /// A scratch store, thrown away after use (the replay of `verify`): commits are not made durable
    /// but every [`SCRATCH_SYNC_EVERY_BLOCKS`]th, which is what lets redb reuse freed pages. A crash
    /// may lose such commits; never set it on a ledger.
    pub scratch: bool,
}

/// redb's page cache while [`RedbStore::check_page_checksums`] reads the whole file.
const PAGE_CHECK_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// How often a scratch store's commit is made durable anyway (see [`RedbOptions::scratch`]).
pub const SCRATCH_SYNC_EVERY_BLOCKS: u64 = 256;

/// A [`Store`] in one redb file.
#[derive(Debug)]
pub struct RedbStore {
    /// Behind a lock only so that [`Store::recover`] can replace it; every access takes it briefly.
    db: std::sync::RwLock<Db>,
    /// Opens the database again after an I/O failure, which redb latches (`None`: read-only opens).
    reopen: Option<Reopen>,
    scratch: bool,
    values: ValueCache,
}

/// How a writable store's database is opened again ([`Store::recover`]).
struct Reopen(Box<dyn Fn() -> Result<Database, StoreError> + Send + Sync>);

impl std::fmt::Debug for Reopen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reopen")
    }
}

/// Most values [`RedbStore`] keeps read from the blocks, and most bytes they may hold; the cache is
/// cleared when either is reached.
pub const VALUE_CACHE_COUNT_MAX: usize = 16 * 1024;
pub const VALUE_CACHE_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Long state values read from the blocks, by key and version (module doc), and their total bytes.
#[derive(Debug, Default)]
struct ValueCache {
    inner: std::sync::Mutex<(CachedValues, usize)>,
}

type CachedValues = HashMap<(String, Version), Vec<u8>>;

impl ValueCache {
    fn get(&self, key: &str, version: Version) -> Option<Vec<u8>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0.get(&(key.to_owned(), version)).cloned()
    }

    fn insert(&self, key: &str, version: Version, value: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.0.len() >= VALUE_CACHE_COUNT_MAX || inner.1 + value.len() > VALUE_CACHE_BYTES_MAX {
            inner.0.clear();
            inner.1 = 0;
        }
        inner.1 += value.len();
        inner.0.insert((key.to_owned(), version), value.to_vec());
    }
}

/// How the file is held: writable, or read-only (module doc, "Read-only opens").
enum Db {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
    /// Recovered in memory over a file opened read-only; its writes never reach the file.
    Overlay(Database),
    /// Between closing a database whose write failed and opening it again ([`Store::recover`]).
    Closed,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Db::Writable(_) => "Writable",
            Db::ReadOnly(_) => "ReadOnly",
            Db::Overlay(_) => "Overlay",
            Db::Closed => "Closed",
        })
    }
}

impl Db {
    fn begin_read(&self) -> Result<ReadTransaction, TransactionError> {
        match self {
            Db::Writable(db) | Db::Overlay(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
            Db::Closed => Err(redb::StorageError::DatabaseClosed.into()),
        }
    }

    /// The writable database; a read-only store refuses.
    fn writable(&self) -> Result<&Database, StoreError> {
        match self {
            Db::Writable(db) => Ok(db),
            Db::ReadOnly(_) | Db::Overlay(_) => {
                Err(StoreError::Invalid("the store is opened read-only".into()))
            }
            Db::Closed => Err(StoreError::Database(
                "the ledger file is closed after a failed write; it is being reopened".into(),
            )),
        }
    }
}

/// How an audited file was opened by [`RedbStore::open_read_only`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOnlyOpen {
    /// The file was closed cleanly and is read as it is.
    Clean,
    /// The file was not closed cleanly (a crash); redb's recovery ran in memory, the file is unchanged.
    RecoveredInMemory,
}

/// The outcome of [`RedbStore::check_page_checksums`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageChecksums {
    /// Every page of the committed trees has its checksum.
    Match,
    /// A page's checksum does not match (or the file cannot be read as redb): `detail` says what redb
    /// found.
    Mismatch { detail: String },
}

/// Runs `f`, turning a panic inside redb into [`StoreError::Corrupted`]. redb panics instead of
/// returning an error on some damaged files (see the module doc); a damaged file is input, not a bug.
/// The panic's message is dropped: it describes redb's internals, not the damage. (The process's panic
/// hook still runs; a caller that must print nothing installs a quiet one.)
fn unpanic<T>(operation: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => Err(StoreError::corrupted(
            "database file",
            format!("the database engine failed on damaged data during {operation}"),
        )),
    }
}

impl RedbStore {
    /// The database, for one access.
    fn db(&self) -> std::sync::RwLockReadGuard<'_, Db> {
        self.db.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the store in the file at `path`, creating it if missing, with default [`RedbOptions`].
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        RedbStore::open_with(path, &RedbOptions::default())
    }

    /// Opens the store in the file at `path`, creating it if missing.
    ///
    /// Outcomes: `Ok`; [`StoreError::Io`] if the file cannot be opened; [`StoreError::Database`] if
    /// another process holds it; [`StoreError::Corrupted`] if the file is damaged, is not a redb file,
    /// has another layout version, or its tables disagree about the height.
    pub fn open_with(path: &Path, options: &RedbOptions) -> Result<RedbStore, StoreError> {
        let path = path.to_path_buf();
        let opened = options.clone();
        let reopen = Reopen(Box::new(move || {
            unpanic("open", || Ok(builder(&opened).create(&path)?))
        }));
        RedbStore::writable(reopen, options)
    }

    /// A writable store over the database `reopen` opens: the tables created if missing, their heights
    /// checked; `reopen` is kept for [`Store::recover`].
    fn writable(reopen: Reopen, options: &RedbOptions) -> Result<RedbStore, StoreError> {
        let db = (reopen.0)()?;
        let store = RedbStore {
            db: std::sync::RwLock::new(Db::Writable(db)),
            reopen: Some(reopen),
            scratch: options.scratch,
            values: ValueCache::default(),
        };
        store.create_tables()?;
        store.check_consistent()?;
        Ok(store)
    }

    /// Opens the store on a storage backend of the caller's instead of a file (the simulation's disk that
    /// injects faults), creating it if the backend is empty. Outcomes as [`RedbStore::open_with`].
    pub fn open_on_backend<B: redb::StorageBackend>(
        backend: impl Fn() -> B + Send + Sync + 'static,
        options: &RedbOptions,
    ) -> Result<RedbStore, StoreError> {
        let opened = options.clone();
        let reopen = Reopen(Box::new(move || {
            unpanic("open", || {
                Ok(builder(&opened).create_with_backend(backend())?)
            })
        }));
        RedbStore::writable(reopen, options)
    }

    /// Opens an existing store at `path` without changing a byte of it (module doc, "Read-only opens").
    ///
    /// Outcomes: `Ok` with how it was opened; [`StoreError::Io`] if the file cannot be opened for
    /// reading; [`StoreError::Database`] if a running node holds it; [`StoreError::Corrupted`] if the
    /// file is damaged, is not a redb file, has another layout version, or its tables disagree about the
    /// height. Commits to the store are then refused with [`StoreError::Invalid`].
    pub fn open_read_only(
        path: &Path,
        options: &RedbOptions,
    ) -> Result<(RedbStore, ReadOnlyOpen), StoreError> {
        unpanic("read-only open", || {
            let mut builder = Database::builder();
            if let Some(bytes) = options.cache_bytes {
                builder.set_cache_size(bytes);
            }
            let (db, how) = match builder.open_read_only(path) {
                Ok(db) => (Db::ReadOnly(db), ReadOnlyOpen::Clean),
                Err(DatabaseError::RepairAborted) => {
                    let backend = CopyOnWriteBackend::new(std::fs::File::open(path)?)?;
                    (
                        Db::Overlay(builder.create_with_backend(backend)?),
                        ReadOnlyOpen::RecoveredInMemory,
                    )
                }
                Err(e) => return Err(e.into()),
            };
            let store = RedbStore {
                db: std::sync::RwLock::new(db),
                reopen: None,
                scratch: false,
                values: ValueCache::default(),
            };
            store.check_format()?;
            store.check_consistent()?;
            Ok((store, how))
        })
    }

    /// Runs redb's integrity check (every page checksum of the committed trees) on the file at `path`
    /// without changing it: the check needs a writable handle, so it runs over a
    /// [`CopyOnWriteBackend`] whose writes stay in memory. A damaged latest commit is a mismatch even
    /// where redb could fall back to the previous one.
    ///
    /// Outcomes: `Ok(Match)`; `Ok(Mismatch)` for damage; [`StoreError::Io`] if the file cannot be read;
    /// [`StoreError::Database`] if a running node holds it.
    pub fn check_page_checksums(path: &Path) -> Result<PageChecksums, StoreError> {
        let backend = CopyOnWriteBackend::new(std::fs::File::open(path)?)?;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut builder = Database::builder();
            builder.set_check_integrity_on_open(true);
            // The check reads every page once: a small cache keeps a large ledger's check small too
            // (redb's default would keep up to 1 GiB of it).
            builder.set_cache_size(PAGE_CHECK_CACHE_BYTES);
            // The repair reports progress 0.3 only after the latest commit failed its checksums,
            // before it would fall back to the previous commit: stop there instead.
            builder.set_repair_callback(|session| {
                if (session.progress() - 0.3).abs() < 1e-9 {
                    session.abort();
                }
            });
            builder.create_with_backend(backend).map(drop)
        }));
        match outcome {
            Ok(Ok(())) => Ok(PageChecksums::Match),
            Ok(Err(DatabaseError::RepairAborted)) => Ok(PageChecksums::Mismatch {
                detail: "the latest commit's page checksums do not match".into(),
            }),
            Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(StoreError::Database(
                DatabaseError::DatabaseAlreadyOpen.to_string(),
            )),
            Ok(Err(DatabaseError::Storage(redb::StorageError::Io(e)))) => Err(StoreError::Io(e)),
            Ok(Err(e)) => Ok(PageChecksums::Mismatch {
                detail: e.to_string(),
            }),
            Err(_) => Ok(PageChecksums::Mismatch {
                detail: "the database engine failed on damaged data".into(),
            }),
        }
    }

    /// Closes the file, reporting what dropping it would ignore.
    pub fn close(self) -> Result<(), StoreError> {
        let db = self.db.into_inner().unwrap_or_else(|p| p.into_inner());
        unpanic("close", || match db {
            Db::Writable(db) | Db::Overlay(db) => Ok(db.close()?),
            Db::ReadOnly(db) => Ok(db.close()?),
            Db::Closed => Ok(()),
        })
    }

    /// Checks the layout version of an existing file, writing nothing.
    fn check_format(&self) -> Result<(), StoreError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        match meta.get(META_FORMAT)?.map(|v| v.value()) {
            Some(REDB_STORE_FORMAT_VERSION) => Ok(()),
            Some(other) => Err(StoreError::corrupted(
                "store meta",
                format!("layout version {other}, expected {REDB_STORE_FORMAT_VERSION}"),
            )),
            None => Err(StoreError::corrupted("store meta", "the format is missing")),
        }
    }

    /// Creates the tables of a new file and writes its format version; checks it on an existing file.
    fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self.db().writable()?.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let format = meta.get(META_FORMAT)?.map(|v| v.value());
            match format {
                None => {
                    meta.insert(META_FORMAT, REDB_STORE_FORMAT_VERSION)?;
                    meta.insert(META_HEIGHT, 0)?;
                    meta.insert(META_MERKLE_SIZE, 0)?;
                }
                Some(REDB_STORE_FORMAT_VERSION) => {}
                Some(other) => {
                    return Err(StoreError::corrupted(
                        "store meta",
                        format!("layout version {other}, expected {REDB_STORE_FORMAT_VERSION}"),
                    ));
                }
            }
            txn.open_table(BLOCKS)?;
            txn.open_table(HEADER_HASHES)?;
            txn.open_table(BLOCK_CHECKSUMS)?;
            txn.open_table(TX_INDEX)?;
            txn.open_table(STATE)?;
            txn.open_table(HISTORY)?;
            txn.open_table(CERTIFICATES)?;
            txn.open_table(MERKLE_NODES)?;
            txn.open_table(LEAF_STARTS)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Checks that the per-block tables hold exactly blocks `0..height`: a cheap guard against a file
    /// that was damaged or written by something else.
    fn check_consistent(&self) -> Result<(), StoreError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        let height = read_meta(&meta, META_HEIGHT)?;
        let blocks = txn.open_table(BLOCKS)?;
        let header_hashes = txn.open_table(HEADER_HASHES)?;
        let checksums = txn.open_table(BLOCK_CHECKSUMS)?;
        let last_blocks = blocks.last()?.map(|(k, _)| k.value());
        let last_hashes = header_hashes.last()?.map(|(k, _)| k.value());
        let last_checksums = checksums.last()?.map(|(k, _)| k.value());
        let expected_last = height.checked_sub(1);
        let lens = [blocks.len()?, header_hashes.len()?, checksums.len()?];
        if [last_blocks, last_hashes, last_checksums] != [expected_last; 3] || lens != [height; 3] {
            return Err(StoreError::corrupted(
                "store meta",
                format!(
                    "height {height}, but the block tables hold {lens:?} entries ending at {:?}",
                    [last_blocks, last_hashes, last_checksums]
                ),
            ));
        }
        Ok(())
    }
}

/// How much of the file one table takes, from redb's own accounting (for measurements:
/// `docs/benchmarks.md`, "Bytes on disk per note").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableUsage {
    pub name: &'static str,
    pub entries: u64,
    /// Keys and values as inserted.
    pub stored_bytes: u64,
    /// Keys in branch pages and other B-tree metadata.
    pub metadata_bytes: u64,
    /// Unused space inside the table's pages.
    pub fragmented_bytes: u64,
    pub leaf_pages: u64,
    pub branch_pages: u64,
}

/// Where a store file's bytes go: each table, and redb's totals (pages allocated, free pages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageReport {
    pub tables: Vec<TableUsage>,
    pub page_size: u64,
    pub allocated_pages: u64,
    /// Fragmentation in every tree plus the free pages of the file (redb's `fragmented_bytes`).
    pub fragmented_bytes: u64,
    /// redb's own tables (the table of tables, the free lists), in bytes.
    pub metadata_bytes: u64,
}

impl RedbStore {
    /// Measures the file: redb's statistics of each table and of the whole database. Needs a writable
    /// store (redb counts free pages only inside a write transaction, which is then aborted).
    pub fn storage_report(&self) -> Result<StorageReport, StoreError> {
        unpanic("storage report", || {
            let txn = self.db().writable()?.begin_write()?;
            let mut tables = Vec::new();
            macro_rules! usage {
                ($def:expr, $name:expr) => {{
                    let table = txn.open_table($def)?;
                    let stats = table.stats()?;
                    tables.push(TableUsage {
                        name: $name,
                        entries: table.len()?,
                        stored_bytes: stats.stored_bytes(),
                        metadata_bytes: stats.metadata_bytes(),
                        fragmented_bytes: stats.fragmented_bytes(),
                        leaf_pages: stats.leaf_pages(),
                        branch_pages: stats.branch_pages(),
                    });
                }};
            }
            usage!(BLOCKS, "blocks");
            usage!(HEADER_HASHES, "header_hashes");
            usage!(BLOCK_CHECKSUMS, "block_checksums");
            usage!(TX_INDEX, "tx_index");
            usage!(STATE, "state");
            usage!(HISTORY, "history");
            usage!(CERTIFICATES, "certificates");
            usage!(MERKLE_NODES, "merkle_nodes");
            usage!(LEAF_STARTS, "leaf_starts");
            usage!(META, "meta");
            let stats = txn.stats()?;
            txn.abort()?;
            Ok(StorageReport {
                tables,
                page_size: stats.page_size() as u64,
                allocated_pages: stats.allocated_pages(),
                fragmented_bytes: stats.fragmented_bytes(),
                metadata_bytes: stats.metadata_bytes(),
            })
        })
    }
}

fn read_meta(meta: &impl ReadableTable<&'static str, u64>, name: &str) -> Result<u64, StoreError> {
    meta.get(name)?
        .map(|v| v.value())
        .ok_or_else(|| StoreError::corrupted("store meta", format!("{name} is missing")))
}

/// A database builder with `options`' integrity check and cache size.
fn builder(options: &RedbOptions) -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_check_integrity_on_open(options.check_integrity_on_open);
    if let Some(bytes) = options.cache_bytes {
        builder.set_cache_size(bytes);
    }
    builder
}

/// The history key of `key` at `version` (layout in the module doc).
fn history_key(key: &str, version: Version) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + HISTORY_KEY_OVERHEAD_BYTES);
    // `check_key` bounds every key by KEY_BYTES_MAX, which fits in a u32 (asserted above).
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&version.block.to_be_bytes());
    out.extend_from_slice(&version.tx.to_be_bytes());
    out
}

/// The version at the end of a stored history key whose key part is `prefix_len` bytes (length prefix
/// included).
fn history_key_version(stored: &[u8], prefix_len: usize) -> Option<Version> {
    let suffix = stored.get(prefix_len..).filter(|s| s.len() == 12)?;
    let (block, tx) = suffix.split_at(8);
    Some(Version {
        block: u64::from_be_bytes(block.try_into().ok()?),
        tx: u32::from_be_bytes(tx.try_into().ok()?),
    })
}

/// A block's canonical bytes as stored: their length, then one LZ4 block (module doc).
fn compress_block(bytes: &[u8]) -> Vec<u8> {
    // `CheckedCommit` bounds the bytes by BLOCK_STORED_BYTES_MAX, which fits in a u32 (asserted above).
    let mut out = Vec::with_capacity(4 + lz4_flex::block::get_maximum_output_size(bytes.len()));
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(bytes));
    out
}

/// The canonical bytes of a stored block, its length checked before any allocation; damage that LZ4
/// notices is `Corrupted` (damage it does not notice fails the block's checksum).
fn decompress_block(number: u64, stored: &[u8]) -> Result<Vec<u8>, StoreError> {
    let (len, compressed) = stored
        .split_first_chunk::<4>()
        .ok_or_else(|| StoreError::block_corrupted(number, "the stored block is truncated"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > limits::BLOCK_STORED_BYTES_MAX {
        return Err(StoreError::block_corrupted(
            number,
            format!(
                "its length {len} is over the stored limit of {}",
                limits::BLOCK_STORED_BYTES_MAX
            ),
        ));
    }
    let bytes = lz4_flex::block::decompress(compressed, len)
        .map_err(|e| StoreError::block_corrupted(number, format!("it does not decompress: {e}")))?;
    if bytes.len() != len {
        return Err(StoreError::block_corrupted(
            number,
            format!("it decompresses to {} bytes, not {len}", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// A stored certificate, checked against the hash it is stored under.
fn check_certificate(hash: &Hash, der: &[u8]) -> Result<Vec<u8>, StoreError> {
    if der.len() > limits::CERTIFICATE_BYTES_MAX || medledger_crypto::sha256(der) != *hash {
        return Err(StoreError::corrupted(
            format!("certificate {hash}"),
            "the stored bytes do not hash to the key",
        ));
    }
    Ok(der.to_vec())
}

fn decode_state(key: &[u8], bytes: &[u8]) -> Result<(String, StateEntry), StoreError> {
    let key = String::from_utf8(key.to_vec())
        .map_err(|_| StoreError::corrupted("state key", "not UTF-8"))?;
    if key.len() > limits::KEY_BYTES_MAX {
        return Err(StoreError::corrupted(
            "state key",
            format!("{} bytes is over the key limit", key.len()),
        ));
    }
    let (version, inline): (Version, Option<Vec<u8>>) =
        codec::decode("state entry", bytes, STATE_STORED_BYTES_MAX)
            .map_err(|e| StoreError::corrupted(format!("state of key {key:?}"), e.to_string()))?;
    if inline
        .as_ref()
        .is_some_and(|v| v.len() > crate::STATE_INLINE_BYTES_MAX)
    {
        return Err(StoreError::corrupted(
            format!("state of key {key:?}"),
            "an inline value over the inline limit",
        ));
    }
    Ok((key, StateEntry { version, inline }))
}

fn encode_state(entry: &StateEntry) -> Vec<u8> {
    codec::encode(&(entry.version, &entry.inline))
}

impl RedbStore {
    /// The values of `entries` (state entries as stored): inline, cached, or read from the blocks.
    fn resolve_state(
        &self,
        entries: Vec<(String, StateEntry)>,
    ) -> Result<Vec<(String, VersionedValue)>, StoreError> {
        let mut values: Vec<Option<Vec<u8>>> = entries
            .iter()
            .map(|(key, entry)| {
                entry
                    .inline
                    .clone()
                    .or_else(|| self.values.get(key, entry.version))
            })
            .collect();
        let missing: Vec<usize> = (0..entries.len())
            .filter(|&i| values[i].is_none())
            .collect();
        if !missing.is_empty() {
            let items: Vec<(&str, Version)> = missing
                .iter()
                .map(|&i| (entries[i].0.as_str(), entries[i].1.version))
                .collect();
            let resolved = crate::stored::resolve_writes(self, &items)?;
            for (&i, (_, value)) in missing.iter().zip(resolved) {
                self.values
                    .insert(&entries[i].0, entries[i].1.version, &value);
                values[i] = Some(value);
            }
        }
        Ok(entries
            .into_iter()
            .zip(values)
            .map(|((key, entry), value)| {
                let value = value.unwrap_or_default();
                (
                    key,
                    VersionedValue {
                        value,
                        version: entry.version,
                    },
                )
            })
            .collect())
    }

    /// The stored state entries of the keys in `[start, end)`, at most `page_count(limit)`.
    fn read_state_entries(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, StateEntry)>, StoreError> {
        check_key(start)?;
        check_key(end)?;
        // redb, like BTreeMap, refuses a range whose start is after its end.
        if start >= end {
            return Ok(Vec::new());
        }
        unpanic("state range", || {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(STATE)?;
            let mut out = Vec::new();
            for entry in table
                .range::<&[u8]>(start.as_bytes()..end.as_bytes())?
                .take(page_count(limit))
            {
                let (key, value) = entry?;
                out.push(decode_state(key.value(), value.value())?);
            }
            Ok(out)
        })
    }

    /// The stored state entry of `key`.
    fn read_state_entry(&self, key: &str) -> Result<Option<StateEntry>, StoreError> {
        check_key(key)?;
        unpanic("state read", || {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(STATE)?;
            let Some(bytes) = table.get(key.as_bytes())? else {
                return Ok(None);
            };
            decode_state(key.as_bytes(), bytes.value()).map(|(_, entry)| Some(entry))
        })
    }
}

impl Store for RedbStore {
    fn recover(&self) -> Result<(), StoreError> {
        let Some(reopen) = &self.reopen else {
            return Ok(());
        };
        {
            let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
            // The old handle must go first: it holds the file's lock.
            drop(std::mem::replace(&mut *db, Db::Closed));
            *db = Db::Writable((reopen.0)()?);
        }
        self.create_tables()?;
        self.check_consistent()
    }

    fn height(&self) -> Result<u64, StoreError> {
        unpanic("height", || {
            let txn = self.db().begin_read()?;
            read_meta(&txn.open_table(META)?, META_HEIGHT)
        })
    }

    fn commit(&self, commit: BlockCommit) -> Result<(), StoreError> {
        let commit = CheckedCommit::new(commit)?;
        unpanic("commit", || {
            // One write transaction for the whole block, with redb's default durability (Immediate:
            // fsync before `commit` returns). An early return drops the transaction, which aborts it.
            let mut txn = self.db().writable()?.begin_write()?;
            if self.scratch && !commit.number.is_multiple_of(SCRATCH_SYNC_EVERY_BLOCKS) {
                txn.set_durability(redb::Durability::None)
                    .map_err(|e| StoreError::Database(e.to_string()))?;
            }
            {
                let mut meta = txn.open_table(META)?;
                let height = read_meta(&meta, META_HEIGHT)?;
                let merkle_size = read_meta(&meta, META_MERKLE_SIZE)?;
                commit.check_position(height, merkle_size)?;
                let number = commit.number;

                txn.open_table(BLOCKS)?
                    .insert(number, compress_block(&commit.block_bytes).as_slice())?;
                txn.open_table(HEADER_HASHES)?
                    .insert(number, &commit.header_hash.0)?;
                txn.open_table(BLOCK_CHECKSUMS)?
                    .insert(number, &commit.block_checksum.0)?;

                let mut tx_index = txn.open_table(TX_INDEX)?;
                for tx in &commit.txs {
                    let id = &tx.tx_id.0.0;
                    // The first occurrence wins unless a valid one replaces an invalid one.
                    let replace = match tx_index.get(id)? {
                        None => true,
                        Some(recorded) => {
                            let recorded: TxLocation = codec::decode(
                                "tx location",
                                recorded.value(),
                                TX_LOCATION_STORED_BYTES,
                            )
                            .map_err(|e| {
                                StoreError::corrupted(
                                    format!("tx index entry of {}", tx.tx_id),
                                    e.to_string(),
                                )
                            })?;
                            crate::stored::supersedes(tx.code, recorded.code)
                        }
                    };
                    if replace {
                        let location = TxLocation {
                            block: number,
                            index: tx.index,
                            code: tx.code,
                        };
                        tx_index.insert(id, codec::encode(&location).as_slice())?;
                    }
                }
                drop(tx_index);

                // `state` comes sorted, so the B-tree is walked in order. A value it replaces becomes
                // history (module doc).
                let mut state = txn.open_table(STATE)?;
                let mut overwritten = Vec::new();
                for (key, value) in &commit.state {
                    let encoded = encode_state(&StateEntry::of(value));
                    if let Some(previous) = state.insert(key.as_bytes(), encoded.as_slice())? {
                        let (_, previous) = decode_state(key.as_bytes(), previous.value())?;
                        overwritten.push((key, previous.version));
                    }
                }
                drop(state);
                let mut history = txn.open_table(HISTORY)?;
                for (key, version) in overwritten
                    .into_iter()
                    .chain(commit.overwritten.iter().map(|(k, v)| (k, *v)))
                {
                    history.insert(history_key(key, version).as_slice(), ())?;
                }
                drop(history);
                let mut certificates = txn.open_table(CERTIFICATES)?;
                for (hash, der) in &commit.certificates {
                    if certificates.get(&hash.0)?.is_none() {
                        certificates.insert(&hash.0, der.as_slice())?;
                    }
                }
                drop(certificates);

                // Leaves are derived from the entries (module doc): only where each block's start.
                let mut nodes = txn.open_table(MERKLE_NODES)?;
                for (level, index, hash) in commit.merkle_nodes.iter().filter(|n| n.0 > 0) {
                    nodes.insert((*level, *index), &hash.0)?;
                }
                drop(nodes);
                if commit.entry_count > 0 {
                    txn.open_table(LEAF_STARTS)?.insert(merkle_size, number)?;
                }

                meta.insert(META_HEIGHT, number + 1)?;
                meta.insert(META_MERKLE_SIZE, commit.merkle_size)?;
            }
            txn.commit()?;
            Ok(())
        })
    }

    fn block(&self, number: u64) -> Result<Option<Block>, StoreError> {
        unpanic("block read", || {
            let txn = self.db().begin_read()?;
            let blocks = txn.open_table(BLOCKS)?;
            let Some(stored) = blocks.get(number)? else {
                return Ok(None);
            };
            let bytes = decompress_block(number, stored.value())?;
            let checksum = txn
                .open_table(BLOCK_CHECKSUMS)?
                .get(number)?
                .map(|v| Hash(*v.value()));
            let header_hash = txn
                .open_table(HEADER_HASHES)?
                .get(number)?
                .map(|v| Hash(*v.value()));
            check_block_bytes(number, &bytes, checksum)?;
            decode_block(number, &bytes, header_hash).map(Some)
        })
    }

    fn block_bytes(&self, number: u64) -> Result<Option<Vec<u8>>, StoreError> {
        unpanic("block read", || {
            let txn = self.db().begin_read()?;
            let blocks = txn.open_table(BLOCKS)?;
            let Some(stored) = blocks.get(number)? else {
                return Ok(None);
            };
            let bytes = decompress_block(number, stored.value())?;
            let checksum = txn
                .open_table(BLOCK_CHECKSUMS)?
                .get(number)?
                .map(|v| Hash(*v.value()));
            check_block_bytes(number, &bytes, checksum)?;
            Ok(Some(bytes))
        })
    }

    fn header_hash(&self, number: u64) -> Result<Option<Hash>, StoreError> {
        unpanic("header hash read", || {
            let txn = self.db().begin_read()?;
            Ok(txn
                .open_table(HEADER_HASHES)?
                .get(number)?
                .map(|v| Hash(*v.value())))
        })
    }

    fn tx_location(&self, tx_id: &TxId) -> Result<Option<TxLocation>, StoreError> {
        unpanic("tx index read", || {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(TX_INDEX)?;
            let Some(bytes) = table.get(&tx_id.0.0)? else {
                return Ok(None);
            };
            codec::decode("tx location", bytes.value(), TX_LOCATION_STORED_BYTES)
                .map(Some)
                .map_err(|e| {
                    StoreError::corrupted(format!("tx index entry of {tx_id}"), e.to_string())
                })
        })
    }

    fn get(&self, key: &str) -> Result<Option<VersionedValue>, StoreError> {
        let Some(entry) = self.read_state_entry(key)? else {
            return Ok(None);
        };
        Ok(self
            .resolve_state(vec![(key.to_owned(), entry)])?
            .pop()
            .map(|(_, value)| value))
    }

    fn version(&self, key: &str) -> Result<Option<Version>, StoreError> {
        Ok(self.read_state_entry(key)?.map(|entry| entry.version))
    }

    fn state_entries(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, StateEntry)>, StoreError> {
        self.read_state_entries(start, end, limit)
    }

    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, VersionedValue)>, StoreError> {
        let entries = self.read_state_entries(start, end, limit)?;
        self.resolve_state(entries)
    }

    fn history_versions(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        check_key(key)?;
        unpanic("history read", || {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(HISTORY)?;
            let lower_key = history_key(key, after.unwrap_or_default());
            let lower = match after {
                Some(_) => Bound::Excluded(lower_key.as_slice()),
                None => Bound::Included(lower_key.as_slice()),
            };
            let upper_key = history_key(
                key,
                Version {
                    block: u64::MAX,
                    tx: u32::MAX,
                },
            );
            let upper = Bound::Included(upper_key.as_slice());
            let prefix_len = 4 + key.len();
            let mut out = Vec::new();
            for entry in table
                .range::<&[u8]>((lower, upper))?
                .take(page_count(limit))
            {
                let (stored_key, _) = entry?;
                let stored_key = stored_key.value();
                let version = history_key_version(stored_key, prefix_len)
                    .filter(|_| stored_key[..prefix_len] == upper_key[..prefix_len])
                    .ok_or_else(|| {
                        StoreError::corrupted(
                            format!("history of key {key:?}"),
                            "malformed history key",
                        )
                    })?;
                out.push(version);
            }
            // The current version, from the state, comes after every overwritten one.
            if out.len() < page_count(limit)
                && let Some(current) = txn.open_table(STATE)?.get(key.as_bytes())?
            {
                let (_, current) = decode_state(key.as_bytes(), current.value())?;
                if after.is_none_or(|after| current.version > after) {
                    out.push(current.version);
                }
            }
            Ok(out)
        })
    }

    fn certificate(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        unpanic("certificate read", || {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(CERTIFICATES)?;
            let Some(der) = table.get(&hash.0)? else {
                return Ok(None);
            };
            check_certificate(hash, der.value()).map(Some)
        })
    }

    fn certificates(
        &self,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<(Hash, Vec<u8>)>, StoreError> {
        unpanic("certificates read", || {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(CERTIFICATES)?;
            let lower = after.map(|h| h.0);
            let range = match &lower {
                Some(after) => {
                    table.range::<&[u8; 32]>((Bound::Excluded(after), Bound::Unbounded))?
                }
                None => table.range::<&[u8; 32]>(..)?,
            };
            let mut out = Vec::new();
            for entry in range.take(page_count(limit)) {
                let (hash, der) = entry?;
                let hash = Hash(*hash.value());
                out.push((hash, check_certificate(&hash, der.value())?));
            }
            Ok(out)
        })
    }

    fn merkle_size(&self) -> Result<u64, StoreError> {
        unpanic("merkle size read", || {
            let txn = self.db().begin_read()?;
            read_meta(&txn.open_table(META)?, META_MERKLE_SIZE)
        })
    }

    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        if level > 0 {
            return unpanic("merkle node read", || {
                let txn = self.db().begin_read()?;
                Ok(txn
                    .open_table(MERKLE_NODES)?
                    .get((level, index))?
                    .map(|v| Hash(*v.value())))
            });
        }
        // A leaf: the leaf hash of the entry at that position of the ledger.
        let found = unpanic("leaf position read", || {
            let txn = self.db().begin_read()?;
            if index >= read_meta(&txn.open_table(META)?, META_MERKLE_SIZE)? {
                return Ok(None);
            }
            let starts = txn.open_table(LEAF_STARTS)?;
            let start = starts.range(..=index)?.next_back().transpose()?;
            Ok(Some(
                start.map(|(first, number)| (first.value(), number.value())),
            ))
        })?;
        let Some(found) = found else {
            return Ok(None);
        };
        let Some((first, number)) = found else {
            return Err(StoreError::corrupted(
                "merkle tree",
                format!("no block holds leaf {index}"),
            ));
        };
        let block = self.block(number)?.ok_or_else(|| {
            StoreError::corrupted(
                "merkle tree",
                format!("block {number} of leaf {index} is missing"),
            )
        })?;
        let entry = usize::try_from(index - first)
            .ok()
            .and_then(|i| block.data.entries.get(i))
            .ok_or_else(|| {
                StoreError::corrupted(
                    "merkle tree",
                    format!("block {number} does not hold leaf {index}"),
                )
            })?;
        Ok(Some(medledger_crypto::merkle::leaf_hash(entry)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_of_prefix_keys_do_not_interleave() {
        let versions = [
            Version { block: 0, tx: 0 },
            Version {
                block: 0x30,
                tx: 0x30,
            },
            Version {
                block: u64::MAX,
                tx: u32::MAX,
            },
        ];
        let mut all: Vec<(Vec<u8>, &str)> = Vec::new();
        for key in ["note/1", "note/10", "note/1\u{0}", "note/"] {
            for version in versions {
                all.push((history_key(key, version), key));
            }
        }
        all.sort();
        // After sorting by bytes, each key's entries are contiguous.
        let order: Vec<&str> = all.iter().map(|(_, key)| *key).collect();
        let mut runs = order.clone();
        runs.dedup();
        assert_eq!(runs.len(), 4, "interleaved: {order:?}");
    }

    #[test]
    fn stored_blocks_round_trip_and_damage_is_corrupted() {
        let canonical: Vec<u8> = (0..5000u32).flat_map(|i| (i % 97).to_le_bytes()).collect();
        let stored = compress_block(&canonical);
        assert!(stored.len() < canonical.len() / 2, "repeats compress");
        assert_eq!(decompress_block(7, &stored).expect("round trip"), canonical);
        let corrupted = |stored: &[u8]| matches!(decompress_block(7, stored), Err(StoreError::Corrupted { what, .. }) if what.contains("block 7"));
        assert!(corrupted(&stored[..3]), "truncated length");
        assert!(corrupted(&stored[..stored.len() / 2]), "truncated data");
        let mut oversize = stored.clone();
        oversize[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            corrupted(&oversize),
            "a length over the limit allocates nothing"
        );
        let mut shorter = stored.clone();
        shorter[..4].copy_from_slice(&((canonical.len() - 1) as u32).to_le_bytes());
        assert!(corrupted(&shorter), "a length that is not the data's");
    }

    #[test]
    fn history_key_round_trips_its_version() {
        let version = Version { block: 7, tx: 3 };
        let stored = history_key("note/1", version);
        assert_eq!(history_key_version(&stored, 4 + 6), Some(version));
        assert_eq!(
            history_key_version(&stored[..stored.len() - 1], 4 + 6),
            None
        );
    }
}
