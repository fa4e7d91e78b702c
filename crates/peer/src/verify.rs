//! Offline verification of a whole ledger.
//!
//! `verify` trusts nothing in the store but the genesis block's configuration (the trust anchors). It reads
//! every block and runs the same validation a live peer runs — header links, both Merkle roots, the
//! orderer's signature, every transaction's certificates, signatures, policy, duplicates and MVCC — into a
//! fresh in-memory store, so the replay uses exactly the code that committed the blocks. Then it compares:
//! each recomputed validation code and transaction location with the stored ones, and, at the end, every
//! state value, every key's history and every Merkle node. The first difference is the answer, naming the
//! block (and the transaction or key) where it is.

use medledger_crypto::merkle::Frontier;
use medledger_store::{MemoryStore, Store};
use medledger_types::{Block, Hash, TxId, ValidationCode};

use crate::Tip;
use crate::channel::ChannelState;
use crate::validate::{self, StoreNodes};

/// Keys fetched per page when comparing state.
const VERIFY_PAGE_COUNT_MAX: usize = 1000;

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub blocks: u64,
    pub transactions: u64,
    pub valid_transactions: u64,
    pub state_keys: u64,
    pub ledger_size: u64,
    pub ledger_root: Hash,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the ledger is empty: there is no genesis block")]
    Empty,
    #[error("block {block}: {reason}")]
    Block { block: u64, reason: String },
    #[error("state key {key:?} (last written in block {block}): {reason}")]
    State {
        key: String,
        block: u64,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
}

impl VerifyError {
    /// The block the problem was found in, if it is tied to one.
    pub fn block(&self) -> Option<u64> {
        match self {
            VerifyError::Block { block, .. } | VerifyError::State { block, .. } => Some(*block),
            _ => None,
        }
    }
}

fn at(block: u64) -> impl Fn(String) -> VerifyError {
    move |reason| VerifyError::Block { block, reason }
}

/// Verifies every block of `source` and the state derived from them. `progress(done, total)` is called
/// after each block.
pub fn verify_ledger(
    source: &dyn Store,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    let height = source
        .height()
        .map_err(|e| VerifyError::Other(format!("cannot read the ledger height: {e}")))?;
    if height == 0 {
        return Err(VerifyError::Empty);
    }
    let mut replay = Replay::new();
    for number in 0..height {
        let block = stored_block(source, number)?;
        replay.replay_block(number, &block)?;
        progress(number + 1, height);
    }
    compare_tx_index(source, &replay.store, &replay.tx_ids)?;
    let state_keys = compare_state(source, &replay.store)?;
    compare_merkle(source, &replay.store, &replay.tip, height - 1)?;
    Ok(VerifyReport {
        blocks: height,
        transactions: replay.transactions,
        valid_transactions: replay.valid_transactions,
        state_keys,
        ledger_size: replay.tip.frontier.size(),
        ledger_root: replay.tip.frontier.root(),
    })
}

/// Block `number` of `source`; a block the store cannot return is the problem found.
fn stored_block(source: &dyn Store, number: u64) -> Result<Block, VerifyError> {
    let fail = at(number);
    source
        .block(number)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("missing".into()))
}

/// The chain replayed so far into a fresh store, and what the report and the final comparisons need.
struct Replay {
    store: MemoryStore,
    tip: Tip,
    /// The channel the next block is judged under; `None` before the genesis block.
    channel: Option<ChannelState>,
    /// Transactions after the genesis block, valid or not.
    transactions: u64,
    valid_transactions: u64,
    /// Each transaction id with the block the replay recorded it in.
    tx_ids: Vec<(TxId, u64)>,
}

impl Replay {
    fn new() -> Replay {
        Replay {
            store: MemoryStore::new(),
            tip: Tip::empty(),
            channel: None,
            transactions: 0,
            valid_transactions: 0,
            tx_ids: Vec::new(),
        }
    }

    /// Validates stored block `number` with the live validation code against the replay so far, checks
    /// that its stored validation codes are the ones recomputed, and commits it to the replay.
    fn replay_block(&mut self, number: u64, block: &Block) -> Result<(), VerifyError> {
        let fail = at(number);
        let validated = match &self.channel {
            None => validate::validate_genesis(&self.store, &self.tip, block),
            Some(channel) => validate::validate_block(channel, &self.store, &self.tip, block),
        }
        .map_err(|e| fail(e.to_string()))?;
        if self.channel.is_none() {
            self.channel =
                Some(ChannelState::from_genesis(block).map_err(|e| fail(e.to_string()))?);
        }
        let recomputed = &validated.block().metadata.validation_codes;
        compare_codes(number, &block.metadata.validation_codes, recomputed)?;
        self.tx_ids
            .extend(validated.statuses().into_iter().map(|s| (s.tx_id, number)));
        if number > 0 {
            self.transactions += recomputed.len() as u64;
            self.valid_transactions += recomputed.iter().filter(|c| c.is_valid()).count() as u64;
        }
        self.tip = validated.tip_after().clone();
        let (commit, new_channel) = validated.into_parts();
        if new_channel.is_some() {
            self.channel = new_channel;
        }
        self.store
            .commit(commit)
            .map_err(|e| fail(format!("replay: {e}")))
    }
}

/// Checks that block `number`'s stored validation codes are the recomputed ones, one for one.
fn compare_codes(
    number: u64,
    stored: &[ValidationCode],
    recomputed: &[ValidationCode],
) -> Result<(), VerifyError> {
    let fail = at(number);
    if stored.len() != recomputed.len() {
        return Err(fail(format!(
            "{} validation codes stored for {} entries",
            stored.len(),
            recomputed.len()
        )));
    }
    for (index, (stored, computed)) in stored.iter().zip(recomputed).enumerate() {
        if stored != computed {
            return Err(fail(format!(
                "transaction {index}: stored as {stored}, but it is {computed}"
            )));
        }
    }
    Ok(())
}

/// Checks the transaction index: every id ends where the replay put it.
fn compare_tx_index(
    source: &dyn Store,
    replay: &MemoryStore,
    tx_ids: &[(TxId, u64)],
) -> Result<(), VerifyError> {
    for &(tx_id, block) in tx_ids {
        let stored = source
            .tx_location(&tx_id)
            .map_err(|e| at(block)(e.to_string()))?;
        let replayed = replay
            .tx_location(&tx_id)
            .map_err(|e| at(block)(e.to_string()))?;
        if stored != replayed {
            return Err(VerifyError::Block {
                block,
                reason: format!(
                    "transaction {tx_id}: the stored index entry {stored:?} differs from the replay's {replayed:?}"
                ),
            });
        }
    }
    Ok(())
}

/// The greatest key: every state key sorts before it.
const KEY_END: &str = "\u{10FFFF}";

fn compare_state(source: &dyn Store, replay: &MemoryStore) -> Result<u64, VerifyError> {
    let other = |e: medledger_store::StoreError| VerifyError::Other(format!("reading state: {e}"));
    let mut start = String::new();
    let mut count = 0u64;
    loop {
        let stored = source
            .range(&start, KEY_END, VERIFY_PAGE_COUNT_MAX)
            .map_err(other)?;
        let replayed = replay
            .range(&start, KEY_END, VERIFY_PAGE_COUNT_MAX)
            .map_err(other)?;
        for pair in stored
            .iter()
            .zip(replayed.iter())
            .map(Some)
            .chain(std::iter::once(None))
        {
            let Some(((stored_key, stored_value), (replayed_key, replayed_value))) = pair else {
                break;
            };
            if stored_key != replayed_key {
                let (key, block) = if stored_key < replayed_key {
                    (stored_key, stored_value.version.block)
                } else {
                    (replayed_key, replayed_value.version.block)
                };
                return Err(VerifyError::State {
                    key: key.clone(),
                    block,
                    reason: "the stored state and the replayed chain disagree on whether this key exists".into(),
                });
            }
            if stored_value != replayed_value {
                return Err(VerifyError::State {
                    key: stored_key.clone(),
                    block: replayed_value.version.block,
                    reason: "the stored value or version differs from the replayed chain".into(),
                });
            }
            let stored_history = source
                .history(stored_key, None, usize::MAX)
                .map_err(other)?;
            let replayed_history = replay
                .history(stored_key, None, usize::MAX)
                .map_err(other)?;
            if stored_history != replayed_history {
                return Err(VerifyError::State {
                    key: stored_key.clone(),
                    block: replayed_value.version.block,
                    reason: format!(
                        "the stored history ({} versions) differs from the replayed chain ({} versions)",
                        stored_history.len(),
                        replayed_history.len()
                    ),
                });
            }
            count += 1;
        }
        if stored.len() != replayed.len() {
            let (key, value) = if stored.len() > replayed.len() {
                &stored[replayed.len()]
            } else {
                &replayed[stored.len()]
            };
            return Err(VerifyError::State {
                key: key.clone(),
                block: value.version.block,
                reason:
                    "the stored state and the replayed chain disagree on whether this key exists"
                        .into(),
            });
        }
        match stored.last() {
            Some((key, _)) if stored.len() == VERIFY_PAGE_COUNT_MAX => start = format!("{key}\0"),
            _ => return Ok(count),
        }
    }
}

fn compare_merkle(
    source: &dyn Store,
    replay: &MemoryStore,
    tip: &Tip,
    last: u64,
) -> Result<(), VerifyError> {
    let fail = at(last);
    let size = source.merkle_size().map_err(|e| fail(e.to_string()))?;
    if size != tip.frontier.size() {
        return Err(fail(format!(
            "the store's Merkle tree has {size} leaves, the chain has {}",
            tip.frontier.size()
        )));
    }
    let mut level = 0u8;
    while level < 64 && (size >> level) > 0 {
        for index in 0..(size >> level) {
            let stored = source
                .merkle_node(level, index)
                .map_err(|e| fail(e.to_string()))?;
            let replayed = replay
                .merkle_node(level, index)
                .map_err(|e| fail(e.to_string()))?;
            if stored != replayed {
                let leaf = index << level;
                return Err(VerifyError::Other(format!(
                    "Merkle node at level {level}, index {index} (covering leaf {leaf}) differs from the replayed chain"
                )));
            }
        }
        level += 1;
    }
    let rebuilt =
        Frontier::from_source(size, &StoreNodes(source)).map_err(|e| fail(e.to_string()))?;
    if rebuilt.root() != tip.frontier.root() {
        return Err(fail(
            "the stored Merkle tree's root differs from the last block's ledger root".into(),
        ));
    }
    Ok(())
}
