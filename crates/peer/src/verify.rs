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
use medledger_types::Hash;

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
    let replay = MemoryStore::new();
    let mut tip = Tip::empty();
    let mut channel: Option<ChannelState> = None;
    let mut transactions = 0u64;
    let mut valid_transactions = 0u64;
    let mut tx_ids = Vec::new();

    for number in 0..height {
        let fail = at(number);
        let block = source
            .block(number)
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("missing".into()))?;
        let stored_codes = block.metadata.validation_codes.clone();
        let validated = match &channel {
            None => validate::validate_genesis(&replay, &tip, &block),
            Some(channel) => validate::validate_block(channel, &replay, &tip, &block),
        }
        .map_err(|e| fail(e.to_string()))?;
        if channel.is_none() {
            channel = Some(ChannelState::from_genesis(&block).map_err(|e| fail(e.to_string()))?);
        }
        let recomputed = &validated.block().metadata.validation_codes;
        if stored_codes.len() != recomputed.len() {
            return Err(fail(format!(
                "{} validation codes stored for {} entries",
                stored_codes.len(),
                recomputed.len()
            )));
        }
        for (index, (stored, computed)) in stored_codes.iter().zip(recomputed).enumerate() {
            if stored != computed {
                return Err(fail(format!(
                    "transaction {index}: stored as {stored}, but it is {computed}"
                )));
            }
        }
        tx_ids.extend(validated.statuses().into_iter().map(|s| (s.tx_id, number)));
        if number > 0 {
            transactions += recomputed.len() as u64;
            valid_transactions += recomputed.iter().filter(|c| c.is_valid()).count() as u64;
        }
        tip = validated.tip_after().clone();
        let (commit, new_channel) = validated.into_parts();
        if new_channel.is_some() {
            channel = new_channel;
        }
        replay
            .commit(commit)
            .map_err(|e| fail(format!("replay: {e}")))?;
        progress(number + 1, height);
    }

    let last = height - 1;
    // Transaction index: every id ends where the replay put it.
    for (tx_id, block) in tx_ids {
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
    let state_keys = compare_state(source, &replay)?;
    compare_merkle(source, &replay, &tip, last)?;
    Ok(VerifyReport {
        blocks: height,
        transactions,
        valid_transactions,
        state_keys,
        ledger_size: tip.frontier.size(),
        ledger_root: tip.frontier.root(),
    })
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
