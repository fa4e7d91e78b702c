//! The checks every [`Store`](crate::Store) implementation shares: a [`BlockCommit`] is checked once, into
//! a [`CheckedCommit`] that is ready to write, and a block read back is checked against what was recorded
//! when it was written (the pair of the write-side check).
//!
//! Keeping both sides here means the implementations differ only in where the bytes live.

use std::collections::{BTreeMap, HashMap};

use medledger_types::{
    Block, Envelope, Hash, HistoryEntry, ProposalResponsePayload, RwSet, TxId, ValidationCode,
    Version, VersionedValue, codec, limits,
};

use crate::{
    BlockCommit, COMMIT_CERTIFICATES_COUNT_MAX, COMMIT_WRITES_COUNT_MAX, MERKLE_LEVEL_COUNT_MAX,
    StateWrite, Store, StoreError, TxRecord,
};

/// A [`BlockCommit`] that agrees with itself, encoded and arranged for writing. Whether it also fits the
/// ledger (its number is the height, its Merkle nodes continue the tree) is checked by
/// [`CheckedCommit::check_position`] inside the implementation's write transaction.
#[derive(Debug)]
pub(crate) struct CheckedCommit {
    pub number: u64,
    pub header_hash: Hash,
    /// The block's canonical bytes, as they will be stored.
    pub block_bytes: Vec<u8>,
    /// SHA-256 of `block_bytes`: detects damage to parts of the block the header hash does not cover
    /// (entries and metadata) without re-deriving the block's Merkle root on every read.
    pub block_checksum: Hash,
    pub entry_count: u64,
    /// The transaction records with a block-internal duplicate id removed (the first occurrence wins).
    pub txs: Vec<TxRecord>,
    /// The latest write of each key, sorted by key.
    pub state: Vec<(String, VersionedValue)>,
    /// The versions this block writes and also overwrites (a later transaction of the block writes
    /// the key again), sorted by key then version. With `state`, every version the block writes.
    pub overwritten: Vec<(String, Version)>,
    /// The certificates carried whole, by hash, sorted, no duplicates.
    pub certificates: Vec<(Hash, Vec<u8>)>,
    /// Sorted by (level, index), no duplicates.
    pub merkle_nodes: Vec<(u8, u64, Hash)>,
    pub merkle_size: u64,
}

/// Whether a new occurrence of a transaction id replaces the recorded one in the index: the first
/// occurrence is kept, unless it is invalid and the new one is valid. An invalid copy ordered first (a
/// replayed proposal with forged endorsements, say) must not hide the transaction that took effect.
pub(crate) fn supersedes(new: ValidationCode, recorded: ValidationCode) -> bool {
    new.is_valid() && !recorded.is_valid()
}

fn invalid(number: u64, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("commit of block {number}: {detail}"))
}

impl CheckedCommit {
    /// Checks everything about `commit` that does not depend on the store's contents. The checks run in
    /// this order, and the first that fails is the error: the header and sizes, the transaction records,
    /// the state writes, the Merkle nodes, the encoded size.
    pub fn new(commit: BlockCommit) -> Result<CheckedCommit, StoreError> {
        let BlockCommit {
            block,
            header_hash,
            txs,
            writes,
            certificates,
            merkle_nodes,
            merkle_size,
        } = commit;
        let number = block.header.number;
        check_header(&block, header_hash, merkle_size)?;
        check_tx_records(&block, &txs)?;
        let ArrangedWrites { state, overwritten } = arrange_writes(&block, &txs, writes)?;
        let certificates = arrange_certificates(number, certificates)?;
        let merkle_nodes = arrange_merkle_nodes(number, merkle_size, merkle_nodes)?;
        check_leaves(&block, merkle_size, &merkle_nodes)?;
        let txs = one_record_per_id(txs);
        let block_bytes = encode_block(&block)?;
        let block_checksum = medledger_crypto::sha256(&block_bytes);
        Ok(CheckedCommit {
            number,
            header_hash,
            block_bytes,
            block_checksum,
            entry_count: block.data.entries.len() as u64,
            txs,
            state,
            overwritten,
            certificates,
            merkle_nodes,
            merkle_size,
        })
    }

    /// Checks that the commit continues a ledger of `height` blocks whose tree has `merkle_size` leaves.
    pub fn check_position(&self, height: u64, merkle_size: u64) -> Result<(), StoreError> {
        if self.number != height {
            return Err(StoreError::OutOfOrder {
                expected: height,
                got: self.number,
            });
        }
        let number = self.number;
        if merkle_size.checked_add(self.entry_count) != Some(self.merkle_size) {
            return Err(invalid(
                number,
                format!(
                    "merkle size {} is not the previous size {merkle_size} plus {} entries",
                    self.merkle_size, self.entry_count
                ),
            ));
        }
        // Node (level, index) is completed by this block when it ends after the old size: the nodes
        // completed at `level` are indexes `old >> level .. new >> level`.
        let mut expected_count: u64 = 0;
        for level in 0..MERKLE_LEVEL_COUNT_MAX {
            expected_count += (self.merkle_size >> level) - (merkle_size >> level);
        }
        for &(level, index, _) in &self.merkle_nodes {
            if index < (merkle_size >> level) {
                return Err(invalid(
                    number,
                    format!("merkle node ({level}, {index}) was completed by an earlier block"),
                ));
            }
        }
        // All given nodes are distinct and completed by this block, so equal counts mean no node is missing.
        if self.merkle_nodes.len() as u64 != expected_count {
            return Err(invalid(
                number,
                format!(
                    "{} merkle nodes given; this block completes {expected_count}",
                    self.merkle_nodes.len()
                ),
            ));
        }
        Ok(())
    }
}

/// Checks that `header_hash` is the block's, that the block holds at most `BLOCK_TX_COUNT_MAX` entries
/// with one validation code each, and that `merkle_size` is the header's ledger size.
fn check_header(block: &Block, header_hash: Hash, merkle_size: u64) -> Result<(), StoreError> {
    let number = block.header.number;
    let recomputed = medledger_crypto::header_hash(&block.header);
    if recomputed != header_hash {
        return Err(invalid(
            number,
            format!("header hash {header_hash} is not the header's hash {recomputed}"),
        ));
    }
    let entry_count = block.data.entries.len();
    if entry_count > limits::BLOCK_TX_COUNT_MAX {
        return Err(invalid(
            number,
            format!(
                "{entry_count} entries is over the limit of {}",
                limits::BLOCK_TX_COUNT_MAX
            ),
        ));
    }
    let codes = &block.metadata.validation_codes;
    if codes.len() != entry_count {
        return Err(invalid(
            number,
            format!("{} validation codes for {entry_count} entries", codes.len()),
        ));
    }
    if merkle_size != block.header.ledger_size {
        return Err(invalid(
            number,
            format!(
                "merkle size {merkle_size} is not the header's ledger size {}",
                block.header.ledger_size
            ),
        ));
    }
    Ok(())
}

/// Checks the transaction records: in entry order, each naming an entry, with the block's own code.
fn check_tx_records(block: &Block, txs: &[TxRecord]) -> Result<(), StoreError> {
    let number = block.header.number;
    let entry_count = block.data.entries.len();
    let codes = &block.metadata.validation_codes;
    if txs.len() > entry_count {
        return Err(invalid(
            number,
            format!(
                "{} transaction records for {entry_count} entries",
                txs.len()
            ),
        ));
    }
    let mut previous_index: Option<u32> = None;
    for tx in txs {
        let code = codes.get(tx.index as usize).ok_or_else(|| {
            invalid(
                number,
                format!("transaction record index {} is not an entry", tx.index),
            )
        })?;
        if previous_index.is_some_and(|previous| tx.index <= previous) {
            return Err(invalid(
                number,
                format!("transaction record index {} is not increasing", tx.index),
            ));
        }
        previous_index = Some(tx.index);
        if *code != tx.code {
            return Err(invalid(
                number,
                format!(
                    "transaction {} has code {} but the block says {code}",
                    tx.index, tx.code
                ),
            ));
        }
    }
    Ok(())
}

/// A block's writes, arranged for the state and history tables.
struct ArrangedWrites {
    /// The latest write of each key, sorted by key.
    state: Vec<(String, VersionedValue)>,
    /// The versions overwritten within the block, sorted by key then version.
    overwritten: Vec<(String, Version)>,
}

/// Checks the state writes (within limits, from valid entries of this block, in commit order; see
/// [`check_write`]) and arranges them for the state and history tables. `txs` are the checked
/// transaction records.
fn arrange_writes(
    block: &Block,
    txs: &[TxRecord],
    writes: Vec<StateWrite>,
) -> Result<ArrangedWrites, StoreError> {
    let number = block.header.number;
    if writes.len() > COMMIT_WRITES_COUNT_MAX {
        return Err(invalid(
            number,
            format!(
                "{} writes is over the limit of {COMMIT_WRITES_COUNT_MAX}",
                writes.len()
            ),
        ));
    }
    let tx_id_at = |index: u32| -> Option<TxId> {
        txs.binary_search_by_key(&index, |tx| tx.index)
            .ok()
            .map(|i| txs[i].tx_id)
    };
    let mut previous_version = Version {
        block: number,
        tx: 0,
    };
    let mut latest: BTreeMap<String, VersionedValue> = BTreeMap::new();
    let mut overwritten: std::collections::BTreeSet<(String, Version)> = Default::default();
    // The endorsed read–write set of the entry the last write came from: writes come in entry order.
    let mut endorsed: Option<(u32, TxId, RwSet)> = None;
    for write in writes {
        check_write(block, &write, previous_version, tx_id_at(write.version.tx))?;
        let version = write.version;
        previous_version = version;
        if endorsed
            .as_ref()
            .is_none_or(|(index, ..)| *index != version.tx)
        {
            let entry = block
                .data
                .entries
                .get(version.tx as usize)
                .ok_or_else(|| invalid(number, format!("entry {} is missing", version.tx)))?;
            let (tx_id, rwset) = entry_rwset(entry)
                .map_err(|e| invalid(number, format!("entry {}: {e}", version.tx)))?;
            endorsed = Some((version.tx, tx_id, rwset));
        }
        if let Some((_, tx_id, rwset)) = &endorsed
            && (*tx_id != write.tx_id || !rwset_writes(rwset, &write.key, &write.value))
        {
            return Err(invalid(
                number,
                format!(
                    "write of key {:?} by entry {} is not one of that entry's endorsed writes",
                    write.key, version.tx
                ),
            ));
        }
        let previous = latest.insert(
            write.key.clone(),
            VersionedValue {
                value: write.value,
                version,
            },
        );
        // A second write of a key by the same transaction replaces the first: one version.
        if let Some(previous) = previous
            && previous.version != version
        {
            overwritten.insert((write.key, previous.version));
        }
    }
    Ok(ArrangedWrites {
        state: latest.into_iter().collect(),
        overwritten: overwritten.into_iter().collect(),
    })
}

/// Whether `rwset` (whose writes are sorted by key) writes `value` under `key`.
fn rwset_writes(rwset: &RwSet, key: &str, value: &[u8]) -> bool {
    rwset
        .writes
        .binary_search_by(|w| w.key.as_str().cmp(key))
        .is_ok_and(|i| rwset.writes[i].value == value)
}

/// The transaction id and the endorsed read–write set of a block entry (an envelope), decoded as
/// untrusted input. `Err` says why the entry is not an envelope.
pub fn entry_rwset(entry: &[u8]) -> Result<(TxId, RwSet), String> {
    let envelope: Envelope =
        codec::decode("envelope", entry, limits::ENVELOPE_BYTES_MAX).map_err(|e| e.to_string())?;
    let payload: ProposalResponsePayload = codec::decode(
        "response payload",
        &envelope.response_payload,
        limits::ENVELOPE_BYTES_MAX,
    )
    .map_err(|e| e.to_string())?;
    Ok((
        medledger_crypto::tx_id(&envelope.proposal.proposal),
        payload.rwset,
    ))
}

/// The history entries of `key` at `versions` ([`resolve_writes`]).
pub(crate) fn resolve_history<S: Store + ?Sized>(
    store: &S,
    key: &str,
    versions: &[Version],
) -> Result<Vec<HistoryEntry>, StoreError> {
    let items: Vec<(&str, Version)> = versions.iter().map(|v| (key, *v)).collect();
    Ok(resolve_writes(store, &items)?
        .into_iter()
        .zip(versions)
        .map(|((tx_id, value), version)| HistoryEntry {
            version: *version,
            tx_id,
            value,
        })
        .collect())
}

/// For each `(key, version)`, the transaction id and the value that version's block entry wrote under
/// the key, read from the entry's endorsed read–write set; in the order given. Each block is read once
/// however many of the items it holds. An item that does not resolve is [`StoreError::Corrupted`].
pub(crate) fn resolve_writes<S: Store + ?Sized>(
    store: &S,
    items: &[(&str, Version)],
) -> Result<Vec<(TxId, Vec<u8>)>, StoreError> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| items[i].1);
    let mut out: Vec<Option<(TxId, Vec<u8>)>> = vec![None; items.len()];
    let mut block: Option<Block> = None;
    for i in order {
        let (key, version) = items[i];
        let corrupted = |detail: String| {
            StoreError::corrupted(format!("the value of key {key:?} at {version:?}"), detail)
        };
        if block
            .as_ref()
            .is_none_or(|b| b.header.number != version.block)
        {
            block = Some(
                store
                    .block(version.block)?
                    .ok_or_else(|| corrupted("the block is missing".into()))?,
            );
        }
        let entry = block
            .as_ref()
            .and_then(|b| b.data.entries.get(version.tx as usize))
            .ok_or_else(|| corrupted("the block has no such entry".into()))?;
        let (tx_id, rwset) = entry_rwset(entry).map_err(corrupted)?;
        let value = rwset
            .writes
            .binary_search_by(|w| w.key.as_str().cmp(key))
            .ok()
            .and_then(|i| rwset.writes.into_iter().nth(i))
            .ok_or_else(|| corrupted("the entry does not write this key".into()))?
            .value;
        out[i] = Some((tx_id, value));
    }
    Ok(out.into_iter().flatten().collect())
}

/// Checks the certificates (each within `CERTIFICATE_BYTES_MAX`, at most
/// [`COMMIT_CERTIFICATES_COUNT_MAX`]) and keys them by hash.
fn arrange_certificates(
    number: u64,
    certificates: Vec<Vec<u8>>,
) -> Result<Vec<(Hash, Vec<u8>)>, StoreError> {
    if certificates.len() > COMMIT_CERTIFICATES_COUNT_MAX {
        return Err(invalid(
            number,
            format!(
                "{} certificates is over the limit of {COMMIT_CERTIFICATES_COUNT_MAX}",
                certificates.len()
            ),
        ));
    }
    let mut by_hash = BTreeMap::new();
    for der in certificates {
        if der.len() > limits::CERTIFICATE_BYTES_MAX {
            return Err(invalid(
                number,
                format!(
                    "a certificate of {} bytes is over the limit of {}",
                    der.len(),
                    limits::CERTIFICATE_BYTES_MAX
                ),
            ));
        }
        by_hash.insert(medledger_crypto::sha256(&der), der);
    }
    Ok(by_hash.into_iter().collect())
}

/// Checks one write: its key and value are within limits, it is by a valid entry of this block, its
/// version does not go back from `previous_version`, and it names the transaction recorded for its
/// entry (`recorded`), if one is.
fn check_write(
    block: &Block,
    write: &StateWrite,
    previous_version: Version,
    recorded: Option<TxId>,
) -> Result<(), StoreError> {
    let number = block.header.number;
    check_key(&write.key)?;
    if write.value.len() > limits::VALUE_BYTES_MAX {
        return Err(invalid(
            number,
            format!(
                "value of key {:?} is {} bytes, over the limit of {}",
                write.key,
                write.value.len(),
                limits::VALUE_BYTES_MAX
            ),
        ));
    }
    let version = write.version;
    if version.block != number {
        return Err(invalid(
            number,
            format!(
                "write of key {:?} has version in block {}",
                write.key, version.block
            ),
        ));
    }
    match block.metadata.validation_codes.get(version.tx as usize) {
        Some(ValidationCode::Valid) => {}
        Some(code) => {
            return Err(invalid(
                number,
                format!(
                    "write of key {:?} by entry {} with code {code}",
                    write.key, version.tx
                ),
            ));
        }
        None => {
            return Err(invalid(
                number,
                format!(
                    "write of key {:?} by entry {} which is not in the block",
                    write.key, version.tx
                ),
            ));
        }
    }
    if version < previous_version {
        return Err(invalid(
            number,
            format!(
                "write of key {:?} goes back to entry {}",
                write.key, version.tx
            ),
        ));
    }
    if let Some(recorded) = recorded
        && recorded != write.tx_id
    {
        return Err(invalid(
            number,
            format!(
                "write of key {:?} names tx {} but entry {} is tx {recorded}",
                write.key, write.tx_id, version.tx
            ),
        ));
    }
    Ok(())
}

/// Checks that the Merkle nodes are perfect nodes inside a tree of `merkle_size` leaves, each given once,
/// and sorts them by (level, index). That they are exactly the ones this block completes needs the
/// previous size: see [`CheckedCommit::check_position`].
fn arrange_merkle_nodes(
    number: u64,
    merkle_size: u64,
    merkle_nodes: Vec<(u8, u64, Hash)>,
) -> Result<Vec<(u8, u64, Hash)>, StoreError> {
    let mut nodes: BTreeMap<(u8, u64), Hash> = BTreeMap::new();
    for (level, index, hash) in merkle_nodes {
        if level >= MERKLE_LEVEL_COUNT_MAX || index >= (merkle_size >> level) {
            return Err(invalid(
                number,
                format!(
                    "merkle node ({level}, {index}) is not a perfect node of a tree of size {merkle_size}"
                ),
            ));
        }
        if nodes.insert((level, index), hash).is_some() {
            return Err(invalid(
                number,
                format!("merkle node ({level}, {index}) is given twice"),
            ));
        }
    }
    Ok(nodes
        .into_iter()
        .map(|((level, index), hash)| (level, index, hash))
        .collect())
}

/// Checks that the level-0 nodes of this block's leaves are its entries' leaf hashes (a store may derive
/// them from the entries instead of keeping them). Nodes of earlier leaves are refused later, by
/// [`CheckedCommit::check_position`].
fn check_leaves(
    block: &Block,
    merkle_size: u64,
    merkle_nodes: &[(u8, u64, Hash)],
) -> Result<(), StoreError> {
    let number = block.header.number;
    let entries = &block.data.entries;
    let Some(first) = merkle_size.checked_sub(entries.len() as u64) else {
        return Err(invalid(
            number,
            format!(
                "merkle size {merkle_size} is less than the block's {} entries",
                entries.len()
            ),
        ));
    };
    for &(level, index, hash) in merkle_nodes {
        if level != 0 || index < first {
            continue;
        }
        let entry = usize::try_from(index - first)
            .ok()
            .and_then(|i| entries.get(i));
        if entry.is_none_or(|entry| medledger_crypto::merkle::leaf_hash(entry) != hash) {
            return Err(invalid(
                number,
                format!("merkle leaf {index} is not its entry's leaf hash"),
            ));
        }
    }
    Ok(())
}

/// Keeps one record per transaction id within the block, by the same rule as across blocks
/// ([`supersedes`]): the first occurrence, unless a later one is valid and it is not.
fn one_record_per_id(txs: Vec<TxRecord>) -> Vec<TxRecord> {
    let mut kept: Vec<TxRecord> = Vec::with_capacity(txs.len());
    let mut position: HashMap<TxId, usize> = HashMap::with_capacity(txs.len());
    for tx in txs {
        match position.get(&tx.tx_id) {
            None => {
                position.insert(tx.tx_id, kept.len());
                kept.push(tx);
            }
            Some(&at) if supersedes(tx.code, kept[at].code) => kept[at] = tx,
            Some(_) => {}
        }
    }
    kept
}

/// The block's canonical bytes, refused if over `BLOCK_STORED_BYTES_MAX`.
fn encode_block(block: &Block) -> Result<Vec<u8>, StoreError> {
    let block_bytes = codec::encode(block);
    if block_bytes.len() > limits::BLOCK_STORED_BYTES_MAX {
        return Err(invalid(
            block.header.number,
            format!(
                "{} bytes is over the stored limit of {}",
                block_bytes.len(),
                limits::BLOCK_STORED_BYTES_MAX
            ),
        ));
    }
    Ok(block_bytes)
}

/// Refuses a key (or range bound) over `limits::KEY_BYTES_MAX`.
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.len() > limits::KEY_BYTES_MAX {
        return Err(StoreError::Invalid(format!(
            "key of {} bytes is over the limit of {}",
            key.len(),
            limits::KEY_BYTES_MAX
        )));
    }
    Ok(())
}

/// Checks stored block bytes against the checksum recorded at commit.
pub(crate) fn check_block_bytes(
    number: u64,
    bytes: &[u8],
    checksum: Option<Hash>,
) -> Result<(), StoreError> {
    if bytes.len() > limits::BLOCK_STORED_BYTES_MAX {
        return Err(StoreError::block_corrupted(
            number,
            format!(
                "{} bytes is over the stored limit of {}",
                bytes.len(),
                limits::BLOCK_STORED_BYTES_MAX
            ),
        ));
    }
    let checksum =
        checksum.ok_or_else(|| StoreError::block_corrupted(number, "no checksum was recorded"))?;
    let actual = medledger_crypto::sha256(bytes);
    if actual != checksum {
        return Err(StoreError::block_corrupted(
            number,
            format!("stored bytes hash to {actual}, but {checksum} was recorded"),
        ));
    }
    Ok(())
}

/// Decodes stored block bytes (already checked by [`check_block_bytes`]) and checks the header against
/// the block number and the header hash recorded at commit: the read-side pair of the commit check.
pub(crate) fn decode_block(
    number: u64,
    bytes: &[u8],
    recorded_hash: Option<Hash>,
) -> Result<Block, StoreError> {
    let block: Block = codec::decode("block", bytes, limits::BLOCK_STORED_BYTES_MAX)
        .map_err(|e| StoreError::block_corrupted(number, e.to_string()))?;
    if block.header.number != number {
        return Err(StoreError::block_corrupted(
            number,
            format!("stored header says block {}", block.header.number),
        ));
    }
    let recorded_hash = recorded_hash
        .ok_or_else(|| StoreError::block_corrupted(number, "no header hash was recorded"))?;
    let actual = medledger_crypto::header_hash(&block.header);
    if actual != recorded_hash {
        return Err(StoreError::block_corrupted(
            number,
            format!("header hashes to {actual}, but {recorded_hash} was recorded"),
        ));
    }
    Ok(block)
}

/// The number of items a range or history call returns at most.
pub(crate) fn page_count(limit: usize) -> usize {
    limit.min(crate::PAGE_COUNT_MAX)
}
