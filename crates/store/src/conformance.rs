//! The conformance suite: the checks every [`Store`] implementation must pass, written once against
//! `&dyn Store`, plus a small chain builder ([`TestChain`]) that makes valid [`BlockCommit`]s.
//!
//! Each check is a function that panics on a broken obligation and returns `Err` only when the store
//! failed unexpectedly. [`conformance_tests!`](crate::conformance_tests) turns the whole list into one
//! `#[test]` per check for a given [`Harness`]; this crate runs it for [`MemoryStore`] and
//! [`RedbStore`](crate::RedbStore), and a new implementation (or a fault-injecting wrapper in the
//! simulator) runs it the same way. [`snapshot`] captures every answer a store gives, so two stores fed
//! the same commits can be compared.
//!
//! The Merkle node hashes the builder makes above the leaves are synthetic ([`test_merkle_node_hash`];
//! the leaves are the entries' leaf hashes, which a store may derive from the blocks): the store records
//! nodes, it does not compute them.

use std::collections::BTreeMap;

use medledger_types::{
    Block, BlockData, BlockHeader, BlockMetadata, Envelope, FORMAT_VERSION, Hash, HistoryEntry,
    IdentityRef, KvWrite, OrdererSignature, Proposal, ProposalResponsePayload, Response,
    ResponseStatus, RwSet, Signature, SignedProposal, TxId, TxLocation, ValidationCode, Version,
    VersionedValue, codec, limits,
};

use crate::{
    BlockCommit, MemoryStore, PAGE_COUNT_MAX, STATE_INLINE_BYTES_MAX, StateEntry, StateWrite,
    Store, StoreError, TxRecord,
};

/// What the suite needs from an implementation besides the [`Store`] itself.
pub trait Harness {
    /// The store under test. Fresh harnesses start with an empty store.
    fn store(&self) -> &dyn Store;

    /// Closes the store and opens it again from its durable medium. A store without one (in memory)
    /// keeps the same instance: reopening must be invisible either way.
    fn reopen(&mut self) -> Result<(), StoreError>;

    /// Damages the stored bytes of block `number` at rest, as a failing disk would: flips one byte inside
    /// every stored copy of `needle` (bytes that occur in that block and nowhere else), then reopens.
    /// An `Err` from reopening is a detection of the damage, which the suite accepts if it is fatal.
    fn damage_block(&mut self, number: u64, needle: &[u8]) -> Result<(), StoreError>;
}

/// A [`Harness`] for [`MemoryStore`].
#[derive(Debug, Default)]
pub struct MemoryHarness {
    store: MemoryStore,
}

impl MemoryHarness {
    pub fn new() -> MemoryHarness {
        MemoryHarness::default()
    }
}

impl Harness for MemoryHarness {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    fn reopen(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn damage_block(&mut self, number: u64, needle: &[u8]) -> Result<(), StoreError> {
        let bytes = self
            .store
            .raw_block_bytes(number)?
            .expect("damage_block: the block is stored");
        let offsets = find_all(&bytes, needle);
        assert!(
            !offsets.is_empty(),
            "damage_block: the needle is in the block's bytes"
        );
        for offset in offsets {
            self.store
                .damage_block_byte(number, offset + needle.len() / 2)?;
        }
        Ok(())
    }
}

/// Every offset at which `needle` starts in `haystack`.
pub fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() {
        return Vec::new();
    }
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Generates one `#[test]` per conformance check, each on a fresh harness made by `$make_harness` (an
/// expression evaluating to a [`Harness`]). Invoke it inside a module per implementation.
#[macro_export]
macro_rules! conformance_tests {
    ($make_harness:expr) => {
        $crate::conformance_tests!(@store $make_harness;
            empty_store,
            commit_and_read_back,
            out_of_order_is_refused,
            inconsistent_commit_is_refused,
            state_latest_write_wins,
            range_bounds_and_limit,
            history_order_after_and_limit,
            history_of_prefix_keys_does_not_mix,
            tx_index_first_occurrence_wins,
            merkle_nodes_and_size,
            key_limits_are_enforced,
            readers_see_whole_blocks,
            history_values_are_the_endorsed_writes,
            long_values_are_read_from_the_blocks,
            certificates_are_kept_by_hash,
        );
        $crate::conformance_tests!(@harness $make_harness;
            reopen_keeps_everything,
            damaged_block_is_reported,
        );
    };
    (@store $make_harness:expr; $($check:ident),* $(,)?) => {$(
        #[test]
        fn $check() {
            let harness = $make_harness;
            $crate::conformance::$check($crate::conformance::Harness::store(&harness))
                .expect(concat!(stringify!($check), ": the store failed"));
        }
    )*};
    (@harness $make_harness:expr; $($check:ident),* $(,)?) => {$(
        #[test]
        fn $check() {
            let mut harness = $make_harness;
            $crate::conformance::$check(&mut harness).expect(concat!(stringify!($check), ": the store failed"));
        }
    )*};
}

// ---------------------------------------------------------------------------------------------------
// Building valid commits

/// One entry of a test block.
#[derive(Clone, Debug)]
pub struct TestTx {
    /// `None` for an entry without a transaction id (the genesis configuration, a malformed envelope).
    pub tx_id: Option<TxId>,
    pub code: ValidationCode,
    /// Written only if `code` is `Valid` and the entry has an id (the builder drops the others' writes,
    /// as a peer would); a later write of the same key wins.
    pub writes: Vec<(String, Vec<u8>)>,
    /// The entry's bytes; `None` makes them: for an entry with an id, an envelope whose proposal gives
    /// that id ([`test_envelope`]) and whose endorsed read–write set holds the writes; without one,
    /// unique bytes from the block number and index.
    pub entry: Option<Vec<u8>>,
}

impl TestTx {
    /// A valid transaction with id `test_tx_id(id)` writing `writes`.
    pub fn valid(id: u64, writes: &[(&str, &[u8])]) -> TestTx {
        TestTx {
            tx_id: Some(test_tx_id(id)),
            code: ValidationCode::Valid,
            writes: writes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                .collect(),
            entry: None,
        }
    }

    /// A transaction with id `test_tx_id(id)` judged `code`, writing nothing.
    pub fn judged(id: u64, code: ValidationCode) -> TestTx {
        TestTx {
            tx_id: Some(test_tx_id(id)),
            code,
            writes: Vec::new(),
            entry: None,
        }
    }

    /// An entry without a transaction id (like the genesis configuration).
    pub fn without_id() -> TestTx {
        TestTx {
            tx_id: None,
            code: ValidationCode::Valid,
            writes: Vec::new(),
            entry: None,
        }
    }
}

/// The canonical bytes of test proposal `id`: the same id always gives the same bytes.
fn test_proposal(id: u64) -> Vec<u8> {
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&id.to_be_bytes());
    codec::encode(&Proposal {
        format_version: FORMAT_VERSION,
        channel: "test".into(),
        contract: "test".into(),
        function: "test".into(),
        args: Vec::new(),
        creator: IdentityRef::Known(Hash::ZERO),
        nonce,
        timestamp_ms: 0,
    })
}

/// A deterministic transaction id for tests: the id of test proposal `id`.
pub fn test_tx_id(id: u64) -> TxId {
    medledger_crypto::tx_id(&test_proposal(id))
}

/// The canonical bytes of an envelope of test proposal `id` whose endorsed read–write set writes
/// `writes` (sorted by key). Nothing in it is signed: the store does not check signatures.
pub fn test_envelope(id: u64, writes: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let proposal = test_proposal(id);
    let payload = ProposalResponsePayload {
        format_version: FORMAT_VERSION,
        tx_id: medledger_crypto::tx_id(&proposal),
        rwset: RwSet {
            reads: Vec::new(),
            writes: writes
                .iter()
                .map(|(key, value)| KvWrite {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        },
        response: Response {
            status: ResponseStatus::Ok,
            payload: Vec::new(),
        },
    };
    codec::encode(&Envelope {
        format_version: FORMAT_VERSION,
        proposal: SignedProposal {
            proposal,
            signature: Signature([0; 64]),
        },
        response_payload: codec::encode(&payload),
        endorsements: Vec::new(),
    })
}

/// The test id whose [`test_tx_id`] is `tx_id`, among the first `TEST_TX_ID_SEARCH_COUNT` ids.
fn test_id_of(tx_id: TxId) -> Option<u64> {
    (0..TEST_TX_ID_SEARCH_COUNT).find(|id| test_tx_id(*id) == tx_id)
}

/// Test transaction ids the builder recognizes (`TestTx::tx_id` must be one of theirs to get an
/// envelope).
const TEST_TX_ID_SEARCH_COUNT: u64 = 4096;

/// The synthetic hash the builder gives Merkle node `(level, index)`.
pub fn test_merkle_node_hash(level: u8, index: u64) -> Hash {
    medledger_crypto::sha256(
        &[
            b"test merkle node ".as_slice(),
            &[level],
            &index.to_be_bytes(),
        ]
        .concat(),
    )
}

/// Builds a chain of valid [`BlockCommit`]s: numbers, previous hashes, ledger sizes and Merkle nodes
/// follow on from the previous commit it built (whether or not that one was committed).
#[derive(Clone, Debug, Default)]
pub struct TestChain {
    height: u64,
    previous_hash: Hash,
    merkle_size: u64,
}

impl TestChain {
    pub fn new() -> TestChain {
        TestChain::default()
    }

    /// The number of the next commit this chain builds.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The next block, holding one entry per `txs` item, and everything derived from it.
    pub fn next_commit(&mut self, txs: &[TestTx]) -> BlockCommit {
        let number = self.height;
        // Each entry's writes: with an id and valid, the latest write of each key.
        let entry_writes: Vec<BTreeMap<String, Vec<u8>>> = txs
            .iter()
            .map(|tx| match tx.tx_id {
                Some(_) if tx.code.is_valid() => tx.writes.iter().cloned().collect(),
                _ => BTreeMap::new(),
            })
            .collect();
        let entries: Vec<Vec<u8>> = txs
            .iter()
            .zip(&entry_writes)
            .enumerate()
            .map(
                |(i, (tx, writes))| match (&tx.entry, tx.tx_id.and_then(test_id_of)) {
                    (Some(entry), _) => entry.clone(),
                    (None, Some(id)) => test_envelope(id, writes),
                    (None, None) => format!("test entry {number}/{i}").into_bytes(),
                },
            )
            .collect();
        let old_size = self.merkle_size;
        let new_size = old_size + entries.len() as u64;
        let mut merkle_nodes = Vec::new();
        // Leaves are the entries' leaf hashes (a store may derive them); the nodes above are synthetic.
        for (i, entry) in entries.iter().enumerate() {
            let leaf = medledger_crypto::merkle::leaf_hash(entry);
            merkle_nodes.push((0, old_size + i as u64, leaf));
        }
        for level in 1..crate::MERKLE_LEVEL_COUNT_MAX {
            for index in (old_size >> level)..(new_size >> level) {
                merkle_nodes.push((level, index, test_merkle_node_hash(level, index)));
            }
        }
        let header = BlockHeader {
            format_version: FORMAT_VERSION,
            number,
            previous_hash: self.previous_hash,
            data_hash: medledger_crypto::sha256(&codec::encode(&entries)),
            ledger_root: medledger_crypto::sha256(&new_size.to_be_bytes()),
            ledger_size: new_size,
            timestamp_ms: 1_700_000_000_000 + number as i64,
        };
        let header_hash = medledger_crypto::header_hash(&header);
        let mut records = Vec::new();
        let mut writes = Vec::new();
        for (index, tx) in txs.iter().enumerate() {
            let index = index as u32;
            if let Some(tx_id) = tx.tx_id {
                records.push(TxRecord {
                    index,
                    tx_id,
                    code: tx.code,
                });
            }
            if let Some(tx_id) = tx.tx_id {
                for (key, value) in &entry_writes[index as usize] {
                    writes.push(StateWrite {
                        key: key.clone(),
                        value: value.clone(),
                        version: Version {
                            block: number,
                            tx: index,
                        },
                        tx_id,
                    });
                }
            }
        }
        let block = Block {
            header,
            data: BlockData { entries },
            metadata: BlockMetadata {
                orderer_signature: OrdererSignature {
                    orderer: Hash([9; 32]),
                    signature: Signature([7; 64]),
                },
                validation_codes: txs.iter().map(|tx| tx.code).collect(),
            },
        };
        self.height += 1;
        self.previous_hash = header_hash;
        self.merkle_size = new_size;
        BlockCommit {
            block,
            header_hash,
            txs: records,
            writes,
            certificates: Vec::new(),
            merkle_nodes,
            merkle_size: new_size,
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Comparing stores

/// What a store answers about one block number: `(block, block_bytes, header_hash)`.
pub type BlockAnswers = (Option<Block>, Option<Vec<u8>>, Option<Hash>);

/// Every answer a store gives about the given keys and transaction ids (and all blocks, the whole
/// state, and every Merkle node). Two stores that were given the same commits have equal snapshots.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Snapshot {
    pub height: u64,
    /// `(block, block_bytes, header_hash)` for `0..=height` (one past the end, which must be absent).
    pub blocks: Vec<BlockAnswers>,
    pub merkle_size: u64,
    /// `(level, index, node)` for every level and every index up to one past the last perfect node.
    pub merkle_nodes: Vec<(u8, u64, Option<Hash>)>,
    /// The whole state, paged through with a small limit.
    pub state: Vec<(String, VersionedValue)>,
    pub gets: Vec<(String, Option<VersionedValue>)>,
    /// Each key's history, in full and paged two at a time with `after`.
    pub histories: Vec<(String, Vec<HistoryEntry>, Vec<HistoryEntry>)>,
    pub tx_locations: Vec<(TxId, Option<TxLocation>)>,
}

/// A range end above every key the suite uses.
const STATE_END: &str = "\u{10FFFF}";

/// Reads everything from `store` (see [`Snapshot`]).
pub fn snapshot(store: &dyn Store, keys: &[&str], tx_ids: &[TxId]) -> Result<Snapshot, StoreError> {
    let height = store.height()?;
    let mut blocks = Vec::new();
    for number in 0..=height {
        blocks.push((
            store.block(number)?,
            store.block_bytes(number)?,
            store.header_hash(number)?,
        ));
    }
    let merkle_size = store.merkle_size()?;
    let mut merkle_nodes = Vec::new();
    for level in 0..crate::MERKLE_LEVEL_COUNT_MAX {
        for index in 0..=(merkle_size >> level) {
            merkle_nodes.push((level, index, store.merkle_node(level, index)?));
        }
    }
    let state = page_state(store, "", STATE_END, 3)?;
    let mut gets = Vec::new();
    let mut histories = Vec::new();
    for key in keys {
        gets.push(((*key).to_owned(), store.get(key)?));
        let full = store.history(key, None, PAGE_COUNT_MAX)?;
        let paged = page_history(store, key, 2)?;
        histories.push(((*key).to_owned(), full, paged));
    }
    let mut tx_locations = Vec::new();
    for tx_id in tx_ids {
        tx_locations.push((*tx_id, store.tx_location(tx_id)?));
    }
    Ok(Snapshot {
        height,
        blocks,
        merkle_size,
        merkle_nodes,
        state,
        gets,
        histories,
        tx_locations,
    })
}

/// The keys in `[start, end)`, fetched `page` at a time.
pub fn page_state(
    store: &dyn Store,
    start: &str,
    end: &str,
    page: usize,
) -> Result<Vec<(String, VersionedValue)>, StoreError> {
    let mut out: Vec<(String, VersionedValue)> = Vec::new();
    let mut next = start.to_owned();
    loop {
        let batch = store.range(&next, end, page)?;
        assert!(
            batch.len() <= page,
            "range returned {} items for a limit of {page}",
            batch.len()
        );
        let done = batch.len() < page;
        if let Some((last, _)) = batch.last() {
            // The smallest key after `last`.
            next = format!("{last}\u{0}");
        }
        out.extend(batch);
        if done {
            return Ok(out);
        }
    }
}

/// A key's whole history, fetched `page` versions at a time with `after`.
pub fn page_history(
    store: &dyn Store,
    key: &str,
    page: usize,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut out: Vec<HistoryEntry> = Vec::new();
    let mut after = None;
    loop {
        let batch = store.history(key, after, page)?;
        assert!(
            batch.len() <= page,
            "history returned {} items for a limit of {page}",
            batch.len()
        );
        let done = batch.len() < page;
        if let Some(last) = batch.last() {
            after = Some(last.version);
        }
        out.extend(batch);
        if done {
            return Ok(out);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The checks

fn v(block: u64, tx: u32) -> Version {
    Version { block, tx }
}

fn vv(value: &[u8], block: u64, tx: u32) -> VersionedValue {
    VersionedValue {
        value: value.to_vec(),
        version: v(block, tx),
    }
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, why: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "{why}: expected Invalid, got {result:?}"
    );
}

/// A new store is empty and answers every question with "absent".
pub fn empty_store(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.height()?, 0);
    assert_eq!(store.block(0)?, None);
    assert_eq!(store.block_bytes(0)?, None);
    assert_eq!(store.header_hash(0)?, None);
    assert_eq!(store.block(u64::MAX)?, None);
    assert_eq!(store.tx_location(&test_tx_id(1))?, None);
    assert_eq!(store.get("a")?, None);
    assert_eq!(store.range("", STATE_END, 10)?, Vec::new());
    assert_eq!(store.history("a", None, 10)?, Vec::new());
    assert_eq!(store.merkle_size()?, 0);
    assert_eq!(store.merkle_node(0, 0)?, None);
    Ok(())
}

/// Committed blocks read back exactly: decoded, as bytes, and their header hashes.
pub fn commit_and_read_back(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    let mut committed = Vec::new();
    for txs in [
        vec![TestTx::without_id()],
        vec![
            TestTx::valid(1, &[("a", b"1")]),
            TestTx::judged(2, ValidationCode::BadSignature),
        ],
        vec![],
        vec![
            TestTx::valid(3, &[]),
            TestTx::valid(4, &[("b", b"2")]),
            TestTx::without_id(),
        ],
    ] {
        let commit = chain.next_commit(&txs);
        committed.push((commit.block.clone(), commit.header_hash));
        store.commit(commit)?;
        assert_eq!(store.height()?, committed.len() as u64);
    }
    for (number, (block, header_hash)) in committed.iter().enumerate() {
        let number = number as u64;
        assert_eq!(store.block(number)?.as_ref(), Some(block), "block {number}");
        assert_eq!(
            store.block_bytes(number)?,
            Some(codec::encode(block)),
            "block {number} bytes"
        );
        assert_eq!(
            store.header_hash(number)?,
            Some(*header_hash),
            "block {number} header hash"
        );
        if number > 0 {
            assert_eq!(block.header.previous_hash, committed[number as usize - 1].1);
        }
    }
    let height = store.height()?;
    assert_eq!(store.block(height)?, None);
    assert_eq!(store.block_bytes(height)?, None);
    assert_eq!(store.header_hash(height)?, None);
    Ok(())
}

/// Only block `height()` is accepted; a refused block leaves no trace.
pub fn out_of_order_is_refused(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    let block0 = chain.next_commit(&[TestTx::valid(1, &[("a", b"0")])]);
    let block1 = chain.next_commit(&[TestTx::valid(2, &[("b", b"1")])]);
    let block2 = chain.next_commit(&[TestTx::valid(3, &[("c", b"2")])]);

    let result = store.commit(block1.clone());
    assert!(
        matches!(
            result,
            Err(StoreError::OutOfOrder {
                expected: 0,
                got: 1
            })
        ),
        "{result:?}"
    );
    assert_eq!(store.height()?, 0);
    assert_eq!(store.get("b")?, None);
    assert_eq!(store.tx_location(&test_tx_id(2))?, None);

    store.commit(block0.clone())?;
    let result = store.commit(block0);
    assert!(
        matches!(
            result,
            Err(StoreError::OutOfOrder {
                expected: 1,
                got: 0
            })
        ),
        "{result:?}"
    );
    let result = store.commit(block2.clone());
    assert!(
        matches!(
            result,
            Err(StoreError::OutOfOrder {
                expected: 1,
                got: 2
            })
        ),
        "{result:?}"
    );
    assert_eq!(store.height()?, 1);
    assert_eq!(store.get("c")?, None);
    assert_eq!(store.merkle_size()?, 1);

    store.commit(block1)?;
    store.commit(block2)?;
    assert_eq!(store.height()?, 3);
    assert_eq!(store.get("c")?, Some(vv(b"2", 2, 0)));
    Ok(())
}

/// A commit that disagrees with itself or with the ledger is refused as `Invalid`, and changes nothing.
pub fn inconsistent_commit_is_refused(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    store.commit(chain.next_commit(&[TestTx::valid(1, &[("a", b"0")])]))?;
    let good = chain.clone().next_commit(&[
        TestTx::valid(2, &[("b", b"1")]),
        TestTx::judged(3, ValidationCode::MvccReadConflict),
        TestTx::valid(4, &[("c", b"2")]),
    ]);

    type Breakage = (&'static str, fn(&mut BlockCommit));
    let breakages: &[Breakage] = &[
        ("header hash of another header", |c| {
            c.header_hash = Hash([1; 32])
        }),
        ("header changed after hashing", |c| {
            c.block.header.timestamp_ms += 1
        }),
        ("validation codes missing", |c| {
            c.block.metadata.validation_codes.pop();
        }),
        ("tx record code differs from the block's", |c| {
            c.txs[0].code = ValidationCode::BadSignature
        }),
        ("tx record index out of the block", |c| c.txs[2].index = 3),
        ("tx records out of order", |c| c.txs.swap(0, 1)),
        ("write by an invalid transaction", |c| {
            c.writes[0].version.tx = 1
        }),
        ("write by a transaction not in the block", |c| {
            c.writes[0].version.tx = 9
        }),
        ("write with another block's version", |c| {
            c.writes[0].version.block = 0
        }),
        ("writes going back in commit order", |c| c.writes.swap(0, 1)),
        ("write naming another transaction's id", |c| {
            c.writes[0].tx_id = test_tx_id(4)
        }),
        ("key over the limit", |c| {
            c.writes[0].key = "k".repeat(limits::KEY_BYTES_MAX + 1)
        }),
        ("value over the limit", |c| {
            c.writes[0].value = vec![0; limits::VALUE_BYTES_MAX + 1]
        }),
        ("merkle size not the header's", |c| c.merkle_size += 1),
        ("merkle node missing", |c| {
            c.merkle_nodes.pop();
        }),
        ("merkle node given twice", |c| {
            let node = c.merkle_nodes[0];
            c.merkle_nodes[1] = node;
        }),
        ("merkle node of an earlier block", |c| {
            c.merkle_nodes[0] = (0, 0, Hash::ZERO)
        }),
        ("merkle node beyond the tree", |c| {
            c.merkle_nodes[0] = (0, 4, Hash::ZERO)
        }),
        ("merkle leaf that is not its entry's hash", |c| {
            c.merkle_nodes[0].2 = Hash([3; 32])
        }),
        ("merkle node at level 64", |c| {
            c.merkle_nodes[0] = (64, 0, Hash::ZERO)
        }),
    ];
    for (why, breakage) in breakages {
        let mut commit = good.clone();
        breakage(&mut commit);
        assert_invalid(store.commit(commit), why);
        assert_eq!(store.height()?, 1, "{why}: height changed");
        assert_eq!(store.get("b")?, None, "{why}: state changed");
        assert_eq!(
            store.tx_location(&test_tx_id(2))?,
            None,
            "{why}: tx index changed"
        );
        assert_eq!(store.merkle_size()?, 1, "{why}: merkle size changed");
        assert_eq!(store.merkle_node(0, 1)?, None, "{why}: merkle node written");
    }

    // A header whose ledger size skips leaves: consistent with itself, not with the ledger.
    let mut skipping = chain.clone();
    skipping.merkle_size += 1;
    assert_invalid(
        store.commit(skipping.next_commit(&[TestTx::valid(5, &[])])),
        "ledger size skips leaves",
    );
    assert_eq!(store.height()?, 1);

    store.commit(good)?;
    assert_eq!(store.height()?, 2);
    assert_eq!(store.get("c")?, Some(vv(b"2", 1, 2)));
    Ok(())
}

/// The latest write of a key wins, within a block (later transaction) and across blocks, and carries
/// the writing transaction's version. Invalid transactions write nothing.
pub fn state_latest_write_wins(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    store.commit(chain.next_commit(&[
        TestTx::valid(1, &[("a", b"a0"), ("b", b"b0")]),
        TestTx::valid(2, &[("a", b"a1")]),
        TestTx::judged(3, ValidationCode::MvccReadConflict),
        TestTx::valid(4, &[("c", b"c0")]),
    ]))?;
    assert_eq!(store.get("a")?, Some(vv(b"a1", 0, 1)));
    assert_eq!(store.get("b")?, Some(vv(b"b0", 0, 0)));
    assert_eq!(store.get("c")?, Some(vv(b"c0", 0, 3)));

    store.commit(chain.next_commit(&[
        TestTx::valid(5, &[("b", b"b1")]),
        TestTx::valid(6, &[("d", b"")]),
    ]))?;
    assert_eq!(store.get("a")?, Some(vv(b"a1", 0, 1)));
    assert_eq!(store.get("b")?, Some(vv(b"b1", 1, 0)));
    assert_eq!(
        store.get("d")?,
        Some(vv(b"", 1, 1)),
        "an empty value is a value"
    );
    assert_eq!(store.get("e")?, None);

    // A key written twice by one transaction: the later write wins.
    store.commit(chain.next_commit(&[TestTx::valid(7, &[("a", b"first"), ("a", b"second")])]))?;
    assert_eq!(store.get("a")?, Some(vv(b"second", 2, 0)));
    assert_eq!(
        store
            .range("", STATE_END, 100)?
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        ["a", "b", "c", "d"]
    );
    Ok(())
}

/// `range` is `[start, end)` in byte order, at most `limit` (capped at `PAGE_COUNT_MAX`).
pub fn range_bounds_and_limit(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    let keys = ["a", "b", "b/", "b/1", "b/10", "b/2", "ba", "c", "é"];
    let writes: Vec<(&str, &[u8])> = keys.iter().map(|k| (*k, k.as_bytes())).collect();
    store.commit(chain.next_commit(&[TestTx::valid(1, &writes)]))?;
    let names = |items: Vec<(String, VersionedValue)>| {
        items.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
    };

    assert_eq!(names(store.range("", STATE_END, 100)?), keys);
    assert_eq!(
        names(store.range("b", "c", 100)?),
        ["b", "b/", "b/1", "b/10", "b/2", "ba"]
    );
    assert_eq!(
        names(store.range("b/", "b0", 100)?),
        ["b/", "b/1", "b/10", "b/2"],
        "a prefix scan"
    );
    assert_eq!(
        names(store.range("b/1", "b/2", 100)?),
        ["b/1", "b/10"],
        "end excluded"
    );
    assert_eq!(
        names(store.range("a", "a\u{0}", 100)?),
        ["a"],
        "a single key"
    );
    assert_eq!(names(store.range("b", "c", 2)?), ["b", "b/"], "limit");
    assert_eq!(
        names(store.range("b", "c", 0)?),
        Vec::<String>::new(),
        "limit 0"
    );
    assert_eq!(
        names(store.range("c", "b", 100)?),
        Vec::<String>::new(),
        "start after end"
    );
    assert_eq!(
        names(store.range("b", "b", 100)?),
        Vec::<String>::new(),
        "empty range"
    );
    assert_eq!(
        names(store.range("d", "e", 100)?),
        Vec::<String>::new(),
        "no keys in range"
    );
    assert_eq!(
        names(store.range("z", STATE_END, 100)?),
        ["é"],
        "multi-byte keys order as bytes"
    );
    let values = store.range("a", "b", 1)?;
    assert_eq!(values, [("a".to_owned(), vv(b"a", 0, 0))]);

    // More keys than a page holds: the limit is capped.
    let many: Vec<String> = (0..PAGE_COUNT_MAX + 5)
        .map(|i| format!("m/{i:06}"))
        .collect();
    let txs: Vec<TestTx> = many
        .chunks(limits::RWSET_WRITES_COUNT_MAX)
        .enumerate()
        .map(|(i, chunk)| TestTx {
            tx_id: Some(test_tx_id(100 + i as u64)),
            code: ValidationCode::Valid,
            writes: chunk.iter().map(|k| (k.clone(), Vec::new())).collect(),
            entry: None,
        })
        .collect();
    store.commit(chain.next_commit(&txs))?;
    let page = store.range("m/", "m0", usize::MAX)?;
    assert_eq!(page.len(), PAGE_COUNT_MAX);
    assert_eq!(page[0].0, many[0]);
    assert_eq!(page[PAGE_COUNT_MAX - 1].0, many[PAGE_COUNT_MAX - 1]);
    assert_eq!(names(page_state(store, "m/", "m0", 4096)?), many);
    Ok(())
}

/// `history` lists every version oldest first (including ones overwritten in the same block), strictly
/// after `after`, at most `limit`.
pub fn history_order_after_and_limit(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    store.commit(chain.next_commit(&[
        TestTx::valid(1, &[("k", b"0")]),
        TestTx::valid(2, &[("k", b"1")]),
    ]))?;
    store.commit(chain.next_commit(&[TestTx::valid(3, &[("other", b"x")])]))?;
    store.commit(chain.next_commit(&[
        TestTx::judged(4, ValidationCode::MvccReadConflict),
        TestTx::valid(5, &[("k", b"2")]),
    ]))?;
    let entry = |block, tx, id, value: &[u8]| HistoryEntry {
        version: v(block, tx),
        tx_id: test_tx_id(id),
        value: value.to_vec(),
    };
    let all = vec![
        entry(0, 0, 1, b"0"),
        entry(0, 1, 2, b"1"),
        entry(2, 1, 5, b"2"),
    ];

    assert_eq!(store.history("k", None, 100)?, all);
    assert_eq!(store.history("k", None, 2)?, all[..2]);
    assert_eq!(store.history("k", None, 0)?, Vec::new());
    assert_eq!(store.history("k", Some(v(0, 0)), 100)?, all[1..]);
    assert_eq!(store.history("k", Some(v(0, 1)), 1)?, all[2..]);
    assert_eq!(
        store.history("k", Some(v(1, 7)), 100)?,
        all[2..],
        "after a version the key never had"
    );
    assert_eq!(store.history("k", Some(v(2, 1)), 100)?, Vec::new());
    assert_eq!(
        store.history("k", Some(v(u64::MAX, u32::MAX)), 100)?,
        Vec::new()
    );
    assert_eq!(
        store.history("k", None, usize::MAX)?,
        all,
        "a huge limit is capped, not refused"
    );
    assert_eq!(page_history(store, "k", 1)?, all);
    assert_eq!(store.history("missing", None, 100)?, Vec::new());
    assert_eq!(
        store.history("other", None, 100)?,
        vec![entry(1, 0, 3, b"x")]
    );
    Ok(())
}

/// One key being a prefix of another (`note/1`, `note/10`, `note/1\0`) never mixes their histories,
/// whatever the version bytes.
pub fn history_of_prefix_keys_does_not_mix(store: &dyn Store) -> Result<(), StoreError> {
    let keys = ["note/1", "note/10", "note/1\u{0}", "note/", "", "note/1/0"];
    let mut chain = TestChain::new();
    let mut expected: Vec<Vec<Version>> = vec![Vec::new(); keys.len()];
    // Enough blocks and transactions that version bytes take the values of key bytes ('0' = 0x30, '/').
    for block in 0u64..3 {
        let mut txs = Vec::new();
        for tx in 0..0x32u32 {
            let which = (tx as usize + block as usize) % keys.len();
            let key = keys[which];
            txs.push(TestTx::valid(
                block * 1000 + tx as u64,
                &[(key, key.as_bytes())],
            ));
            expected[which].push(v(block, tx));
        }
        store.commit(chain.next_commit(&txs))?;
    }
    for (key, versions) in keys.iter().zip(&expected) {
        let history = store.history(key, None, PAGE_COUNT_MAX)?;
        assert_eq!(
            history.iter().map(|e| e.version).collect::<Vec<_>>(),
            *versions,
            "history of {key:?}"
        );
        assert!(
            history.iter().all(|e| e.value == key.as_bytes()),
            "history of {key:?} holds another key's value"
        );
        assert_eq!(
            page_history(store, key, 3)?,
            history,
            "paged history of {key:?}"
        );
        let after = versions[versions.len() / 2];
        let tail = store.history(key, Some(after), PAGE_COUNT_MAX)?;
        assert!(
            tail.iter()
                .all(|e| e.version > after && e.value == key.as_bytes()),
            "tail of {key:?}"
        );
    }
    Ok(())
}

/// The transaction index records every transaction with an id, with its code; the first occurrence of
/// an id wins over later duplicates in the same block or a later one, unless it was invalid and a later
/// one is valid.
pub fn tx_index_first_occurrence_wins(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    store.commit(chain.next_commit(&[
        TestTx::without_id(),
        TestTx::valid(1, &[("a", b"1")]),
        TestTx::judged(2, ValidationCode::EndorsementPolicyFailure),
        TestTx::judged(1, ValidationCode::DuplicateTxId),
    ]))?;
    store.commit(chain.next_commit(&[
        TestTx::judged(1, ValidationCode::DuplicateTxId),
        TestTx::judged(2, ValidationCode::DuplicateTxId),
        TestTx::valid(3, &[]),
        TestTx::valid(2, &[]),
        TestTx::judged(2, ValidationCode::DuplicateTxId),
    ]))?;
    let at = |block, index, code| Some(TxLocation { block, index, code });
    assert_eq!(
        store.tx_location(&test_tx_id(1))?,
        at(0, 1, ValidationCode::Valid)
    );
    assert_eq!(
        store.tx_location(&test_tx_id(2))?,
        at(1, 3, ValidationCode::Valid),
        "a valid occurrence replaces an invalid one"
    );
    assert_eq!(
        store.tx_location(&test_tx_id(3))?,
        at(1, 2, ValidationCode::Valid)
    );
    assert_eq!(store.tx_location(&test_tx_id(4))?, None);
    Ok(())
}

/// The ledger-wide tree's size grows by each block's entry count, and every perfect node a block
/// completes is kept.
pub fn merkle_nodes_and_size(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    let mut size = 0u64;
    let mut leaves = Vec::new();
    for entry_count in [1u64, 0, 3, 4, 9, 1] {
        let txs: Vec<TestTx> = (0..entry_count).map(|_| TestTx::without_id()).collect();
        let commit = chain.next_commit(&txs);
        leaves.extend(
            commit
                .block
                .data
                .entries
                .iter()
                .map(|e| medledger_crypto::merkle::leaf_hash(e)),
        );
        store.commit(commit)?;
        size += entry_count;
        assert_eq!(store.merkle_size()?, size);
        for level in 0u8..6 {
            let perfect = size >> level;
            for index in 0..perfect {
                let expected = match level {
                    0 => leaves[index as usize],
                    _ => test_merkle_node_hash(level, index),
                };
                assert_eq!(
                    store.merkle_node(level, index)?,
                    Some(expected),
                    "node ({level}, {index}) at size {size}"
                );
            }
            assert_eq!(
                store.merkle_node(level, perfect)?,
                None,
                "node ({level}, {perfect}) at size {size} is not perfect yet"
            );
        }
    }
    assert_eq!(size, 18);
    assert_eq!(store.merkle_node(4, 0)?, Some(test_merkle_node_hash(4, 0)));
    assert_eq!(store.merkle_node(63, 0)?, None);
    assert_eq!(store.merkle_node(255, 0)?, None);
    Ok(())
}

/// Keys and range bounds over `limits::KEY_BYTES_MAX` are refused as `Invalid`; a key at the limit works.
pub fn key_limits_are_enforced(store: &dyn Store) -> Result<(), StoreError> {
    let longest = "k".repeat(limits::KEY_BYTES_MAX);
    let too_long = "k".repeat(limits::KEY_BYTES_MAX + 1);
    let mut chain = TestChain::new();
    store.commit(chain.next_commit(&[TestTx::valid(1, &[(longest.as_str(), b"v")])]))?;
    assert_eq!(store.get(&longest)?, Some(vv(b"v", 0, 0)));
    assert_eq!(store.history(&longest, None, 10)?.len(), 1);
    assert_invalid(store.get(&too_long), "get");
    assert_invalid(store.history(&too_long, None, 10), "history");
    assert_invalid(store.range(&too_long, STATE_END, 10), "range start");
    assert_invalid(store.range("", &too_long, 10), "range end");
    Ok(())
}

/// Concurrent readers observe whole commits: every block rewrites the same keys, and a reader never
/// sees two of them with different versions.
pub fn readers_see_whole_blocks(store: &dyn Store) -> Result<(), StoreError> {
    const BLOCKS: u64 = 20;
    const KEYS: usize = 8;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("w/{i}")).collect();
    let writer_done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<(), StoreError> {
        let reader = scope.spawn(|| -> Result<(), StoreError> {
            loop {
                let finished = writer_done.load(std::sync::atomic::Ordering::Acquire);
                let page = store.range("w/", "w0", KEYS)?;
                let versions: Vec<Version> = page.iter().map(|(_, value)| value.version).collect();
                assert!(
                    versions.windows(2).all(|w| w[0] == w[1]),
                    "a read saw parts of two blocks: {versions:?}"
                );
                assert!(
                    page.is_empty() || page.len() == KEYS,
                    "a read saw part of a block: {page:?}"
                );
                if finished {
                    return Ok(());
                }
            }
        });
        let mut chain = TestChain::new();
        let mut written = Ok(());
        for block in 0..BLOCKS {
            let writes: Vec<(&str, &[u8])> =
                keys.iter().map(|k| (k.as_str(), b"x".as_slice())).collect();
            written = store.commit(chain.next_commit(&[TestTx::valid(block, &writes)]));
            if written.is_err() {
                break;
            }
        }
        writer_done.store(true, std::sync::atomic::Ordering::Release);
        let read = reader.join().expect("the reader panicked");
        written?;
        read?;
        assert_eq!(
            store.get("w/0")?.map(|value| value.version),
            Some(v(BLOCKS - 1, 0))
        );
        Ok(())
    })
}

/// Everything committed is there after reopening, and commits continue from it.
pub fn reopen_keeps_everything(harness: &mut dyn Harness) -> Result<(), StoreError> {
    let keys = ["a", "b", "note/1", "note/10"];
    let tx_ids: Vec<TxId> = (1..=6).map(test_tx_id).collect();
    let mut chain = TestChain::new();
    let store = harness.store();
    store.commit(chain.next_commit(&[TestTx::without_id()]))?;
    store.commit(chain.next_commit(&[
        TestTx::valid(1, &[("a", b"1"), ("note/1", b"n1")]),
        TestTx::judged(2, ValidationCode::BadSignature),
        TestTx::valid(3, &[("note/10", b"n10"), ("a", b"2")]),
    ]))?;
    store.commit(chain.next_commit(&[
        TestTx::valid(4, &[("b", b"3")]),
        TestTx::judged(1, ValidationCode::DuplicateTxId),
    ]))?;
    let before = snapshot(store, &keys, &tx_ids)?;

    harness.reopen()?;
    let after = snapshot(harness.store(), &keys, &tx_ids)?;
    assert_eq!(after, before, "reopening changed what the store answers");

    harness
        .store()
        .commit(chain.next_commit(&[TestTx::valid(5, &[("a", b"4")])]))?;
    harness.reopen()?;
    let store = harness.store();
    assert_eq!(store.height()?, 4);
    assert_eq!(store.get("a")?, Some(vv(b"4", 3, 0)));
    assert_eq!(store.history("a", None, 10)?.len(), 3);
    assert_eq!(store.merkle_size()?, 7);
    Ok(())
}

/// A block whose stored bytes were altered at rest is reported (as `Corrupted` naming the block, or a
/// fatal database error), never returned and never a panic.
pub fn damaged_block_is_reported(harness: &mut dyn Harness) -> Result<(), StoreError> {
    let needle: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    let mut chain = TestChain::new();
    let store = harness.store();
    store.commit(chain.next_commit(&[TestTx::without_id()]))?;
    store.commit(chain.next_commit(&[TestTx {
        entry: Some(needle.clone()),
        ..TestTx::judged(1, ValidationCode::Valid)
    }]))?;
    store.commit(chain.next_commit(&[TestTx::valid(2, &[("b", b"2")])]))?;

    match harness.damage_block(1, &needle) {
        Ok(()) => {}
        Err(error) if error.is_fatal() => return Ok(()), // detected on reopening
        Err(error) => panic!("damaging the block: unexpected {error:?}"),
    }
    let store = harness.store();
    fn reported<T>(result: &Result<T, StoreError>) -> bool {
        match result {
            Err(StoreError::Corrupted { what, .. }) => {
                what.contains("block 1") || what.contains("database")
            }
            Err(StoreError::Database(_)) => true,
            _ => false,
        }
    }
    let block = store.block(1);
    assert!(reported(&block), "a damaged block was read: {block:?}");
    let bytes = store.block_bytes(1);
    assert!(
        reported(&bytes),
        "damaged block bytes were read: {:?}",
        bytes.map(|b| b.map(|b| b.len()))
    );
    // The other blocks are readable or fatally unreadable; nothing panics.
    for number in [0, 2] {
        let result = store.block(number);
        assert!(
            result.is_ok() || result.as_ref().is_err_and(StoreError::is_fatal),
            "block {number}: {result:?}"
        );
    }
    Ok(())
}

/// History keeps no values: each is read back from its transaction's endorsed read–write set, and is the
/// value written. A write that is not in its entry's read–write set is refused.
pub fn history_values_are_the_endorsed_writes(store: &dyn Store) -> Result<(), StoreError> {
    let mut chain = TestChain::new();
    store.commit(chain.next_commit(&[TestTx::without_id()]))?;
    store.commit(chain.next_commit(&[
        TestTx::valid(1, &[("note/1", b"first"), ("index/1", b"")]),
        TestTx::valid(2, &[("note/2", b"other")]),
    ]))?;
    store.commit(chain.next_commit(&[TestTx::valid(3, &[("note/1", b"amended")])]))?;
    assert_eq!(
        store.history("note/1", None, 10)?,
        vec![
            HistoryEntry {
                version: v(1, 0),
                tx_id: test_tx_id(1),
                value: b"first".to_vec()
            },
            HistoryEntry {
                version: v(2, 0),
                tx_id: test_tx_id(3),
                value: b"amended".to_vec()
            },
        ]
    );
    assert_eq!(
        store.history_versions("note/1", None, 10)?,
        vec![v(1, 0), v(2, 0)]
    );
    assert_eq!(store.history("index/1", None, 10)?[0].value, b"");

    // A write its entry did not endorse (another value; a key it does not write) is refused.
    let good = chain.next_commit(&[TestTx::valid(4, &[("note/4", b"four")])]);
    let mut other_value = good.clone();
    other_value.writes[0].value = b"forged".to_vec();
    assert_invalid(
        store.commit(other_value),
        "a value the entry did not endorse",
    );
    let mut other_key = good.clone();
    other_key.writes[0].key = "note/5".into();
    assert_invalid(store.commit(other_key), "a key the entry did not write");
    let mut not_an_envelope = good.clone();
    not_an_envelope.block.data.entries[0] = b"not an envelope".to_vec();
    not_an_envelope.header_hash = medledger_crypto::header_hash(&not_an_envelope.block.header);
    assert_invalid(
        store.commit(not_an_envelope),
        "an entry that is not an envelope",
    );
    assert_eq!(store.height()?, 3);
    store.commit(good)?;
    assert_eq!(store.history("note/4", None, 10)?[0].value, b"four");
    Ok(())
}

/// Certificates carried by a commit are kept under their SHA-256, once; paging lists them in hash order;
/// one over the size limit is refused.
pub fn certificates_are_kept_by_hash(store: &dyn Store) -> Result<(), StoreError> {
    let (a, b) = (b"certificate a".to_vec(), b"certificate b".to_vec());
    let (hash_a, hash_b) = (medledger_crypto::sha256(&a), medledger_crypto::sha256(&b));
    let mut chain = TestChain::new();
    assert_eq!(store.certificate(&hash_a)?, None);
    let mut first = chain.next_commit(&[TestTx::without_id()]);
    first.certificates = vec![a.clone(), b.clone(), a.clone()];
    store.commit(first)?;
    let mut again = chain.next_commit(&[TestTx::valid(1, &[])]);
    again.certificates = vec![a.clone()];
    store.commit(again)?;
    assert_eq!(store.certificate(&hash_a)?, Some(a.clone()));
    assert_eq!(store.certificate(&hash_b)?, Some(b.clone()));
    assert_eq!(store.certificate(&Hash([1; 32]))?, None);
    let mut sorted = vec![(hash_a, a), (hash_b, b)];
    sorted.sort();
    assert_eq!(store.certificates(None, 10)?, sorted);
    assert_eq!(store.certificates(None, 1)?, sorted[..1].to_vec());
    assert_eq!(
        store.certificates(Some(sorted[0].0), 10)?,
        sorted[1..].to_vec()
    );

    let mut oversize = chain.next_commit(&[TestTx::without_id()]);
    oversize.certificates = vec![vec![0; limits::CERTIFICATE_BYTES_MAX + 1]];
    assert_invalid(store.commit(oversize), "a certificate over the limit");
    assert_eq!(store.certificates(None, 10)?.len(), 2);
    Ok(())
}

/// A value longer than [`STATE_INLINE_BYTES_MAX`] is kept in the state as its version only and read
/// back from its block entry, by `get` and `range` alike, the same as a short one kept inline; the
/// state entries say which is which, and `version` answers without the value.
pub fn long_values_are_read_from_the_blocks(store: &dyn Store) -> Result<(), StoreError> {
    let long = vec![b'n'; STATE_INLINE_BYTES_MAX + 1];
    let longer = vec![b'm'; 4 * STATE_INLINE_BYTES_MAX];
    let short = vec![b's'; STATE_INLINE_BYTES_MAX];
    let mut chain = TestChain::new();
    store.commit(chain.next_commit(&[TestTx::without_id()]))?;
    store.commit(chain.next_commit(&[
        TestTx::valid(1, &[("long/1", &long), ("short/1", &short)]),
        TestTx::valid(2, &[("long/2", &longer)]),
    ]))?;
    store.commit(chain.next_commit(&[TestTx::valid(3, &[("long/1", &longer)])]))?;
    assert_eq!(store.get("long/1")?, Some(vv(&longer, 2, 0)));
    assert_eq!(store.get("long/2")?, Some(vv(&longer, 1, 1)));
    assert_eq!(store.get("short/1")?, Some(vv(&short, 1, 0)));
    assert_eq!(store.version("long/1")?, Some(v(2, 0)));
    assert_eq!(store.version("absent")?, None);
    assert_eq!(
        store.range("", STATE_END, 10)?,
        vec![
            ("long/1".to_owned(), vv(&longer, 2, 0)),
            ("long/2".to_owned(), vv(&longer, 1, 1)),
            ("short/1".to_owned(), vv(&short, 1, 0)),
        ]
    );
    assert_eq!(
        store.state_entries("", STATE_END, 10)?,
        vec![
            (
                "long/1".to_owned(),
                StateEntry {
                    version: v(2, 0),
                    inline: None
                }
            ),
            (
                "long/2".to_owned(),
                StateEntry {
                    version: v(1, 1),
                    inline: None
                }
            ),
            (
                "short/1".to_owned(),
                StateEntry {
                    version: v(1, 0),
                    inline: Some(short.clone())
                }
            ),
        ]
    );
    assert_eq!(store.state_entries("long/2", "short/1", 10)?.len(), 1);
    // Read again (a cache may answer): the same.
    assert_eq!(store.get("long/1")?, Some(vv(&longer, 2, 0)));
    let history: Vec<Vec<u8>> = store
        .history("long/1", None, 10)?
        .into_iter()
        .map(|entry| entry.value)
        .collect();
    assert_eq!(history, vec![long, longer]);
    Ok(())
}
