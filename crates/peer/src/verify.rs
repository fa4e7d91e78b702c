//! Offline verification of a whole ledger.
//!
//! `verify` trusts nothing in the store but the genesis block's configuration (the trust anchors). It reads
//! every block and runs the same validation a live peer runs — header links, both Merkle roots, the
//! orderer's signature, every transaction's certificates, signatures, policy, duplicates and MVCC — into a
//! fresh store (in memory, or on disk with [`verify_ledger_into`] so that a ledger of millions of
//! transactions verifies in bounded memory), so the replay uses exactly the code that committed the
//! blocks. Then it compares: each recomputed validation code and transaction location with the stored
//! ones, block by block, and, at the end, every state value, every key's history (the versions it lists:
//! its values are read from the blocks just replayed), every certificate of the certificate table (from
//! which transactions naming a certificate by hash were resolved) and every Merkle node above the leaves
//! (the leaves are the entries' hashes, checked with each block).
//! The first difference is the answer, naming the block (and the transaction or key) where it is.
//!
//! A ledger rewritten as a whole — a new network created in the same directory — is consistent with
//! itself, so it verifies. An auditor catches it with an [`Anchors`] kept from outside: the genesis
//! block's header hash, or a signed checkpoint an earlier run of the node handed out.

use std::collections::{BTreeMap, HashMap};

use medledger_crypto::merkle::{self, Frontier};
use medledger_crypto::verified::VerifiedSignatures;
use medledger_store::{MemoryStore, Store};
use medledger_types::{
    Block, Checkpoint, Hash, Role, SignedCheckpoint, TxId, TxLocation, ValidationCode, codec,
};

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
    /// The genesis block's header hash: the anchor to keep for the next run (`--genesis`).
    pub genesis_hash: Hash,
    /// The checkpoint anchor that was checked: its block and tree size.
    pub checkpoint: Option<(u64, u64)>,
}

/// What an auditor knows from outside the ledger, so that a ledger rewritten as a whole is caught
/// (module doc). Both are optional; each given one must hold.
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    /// The genesis block's header hash.
    pub genesis_hash: Option<Hash>,
    /// A checkpoint signed by a peer of this network earlier: its signer's certificate must chain to an
    /// organization root of the genesis configuration, its signature must hold, and the ledger's block
    /// `block_number` must have that tree size and root (so today's ledger extends that earlier head).
    pub checkpoint: Option<SignedCheckpoint>,
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
    /// An external anchor does not hold: the ledger is not the one the anchor was taken from.
    #[error("anchor: {0}")]
    Anchor(String),
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

/// Verifies every block of `source` and the state derived from them, replaying into memory. `progress(done,
/// total)` is called after each block.
pub fn verify_ledger(
    source: &dyn Store,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    verify_ledger_into(source, &MemoryStore::new(), &Anchors::default(), progress)
}

/// Verifies every block of `source` and the state derived from them, replaying into `replay` (an empty
/// store: a disk-backed one keeps memory bounded), and checks `anchors`. `progress(done, total)` is
/// called after each block.
///
/// Outcomes: the report; [`VerifyError::Empty`]; the first problem, tied to its block or state key where
/// it has one; [`VerifyError::Anchor`] if the chain is sound but is not the anchored one.
pub fn verify_ledger_into(
    source: &dyn Store,
    replay: &dyn Store,
    anchors: &Anchors,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    let height = source
        .height()
        .map_err(|e| VerifyError::Other(format!("cannot read the ledger height: {e}")))?;
    if height == 0 {
        return Err(VerifyError::Empty);
    }
    let replay_height = replay
        .height()
        .map_err(|e| VerifyError::Other(format!("the replay store: {e}")))?;
    if replay_height != 0 {
        return Err(VerifyError::Other(
            "the replay store must start empty".into(),
        ));
    }
    let checkpoint = anchors
        .checkpoint
        .as_ref()
        .map(decode_checkpoint)
        .transpose()?;
    if let Some(checkpoint) = &checkpoint
        && checkpoint.block_number >= height
    {
        return Err(VerifyError::Anchor(format!(
            "the checkpoint is of block {}, but the ledger has only {height} blocks: it was cut back or replaced",
            checkpoint.block_number
        )));
    }
    let verified = VerifiedSignatures::new(crate::ahead::AHEAD_SIGNATURES_MAX);
    let (ahead, blocks) = std::sync::mpsc::sync_channel(crate::ahead::AHEAD_BLOCKS_MAX);
    std::thread::scope(|scope| {
        scope.spawn(|| crate::ahead::read_ahead(source, height, &verified, &ahead));
        let replayed = replay_all(
            source, replay, anchors, checkpoint, height, &verified, &blocks, progress,
        );
        // Dropping the receiver stops the reader if the replay stopped early.
        drop(blocks);
        replayed
    })
}

/// The replay of every block (its signatures partly checked ahead in `verified`), then the final
/// comparisons: the body of [`verify_ledger_into`].
#[allow(clippy::too_many_arguments)]
fn replay_all(
    source: &dyn Store,
    replay: &dyn Store,
    anchors: &Anchors,
    checkpoint: Option<Checkpoint>,
    height: u64,
    verified: &VerifiedSignatures,
    blocks: &std::sync::mpsc::Receiver<crate::ahead::Read>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    let mut replay = Replay::new(replay, verified);
    for number in 0..height {
        let (block, stored) = match blocks.recv() {
            Ok(Ok(ahead)) => (ahead.block, ahead.stored),
            Ok(Err(e)) => return Err(at(number)(e.to_string())),
            // The reader ended without a word: read this block here.
            Err(_) => (stored_block(source, number)?, HashMap::new()),
        };
        let tx_ids = replay.replay_block(number, &block)?;
        replay.compare_tx_index(source, number, &tx_ids, &stored)?;
        if number == 0 {
            check_genesis_anchor(&replay.tip.last_hash, anchors)?;
            if let (Some(signed), Some(checkpoint)) = (&anchors.checkpoint, &checkpoint) {
                check_checkpoint_signature(&block, signed, checkpoint)?;
            }
        }
        if let Some(checkpoint) = &checkpoint
            && checkpoint.block_number == number
        {
            check_checkpoint_head(&block, checkpoint)?;
        }
        progress(number + 1, height);
    }
    if let Some((tx_id, location)) = replay.pending_tx_index.first_key_value() {
        return Err(VerifyError::Block {
            block: location.block,
            reason: format!(
                "transaction {tx_id}: the stored index puts it at {location:?}, where the chain does not have it"
            ),
        });
    }
    let state_keys = compare_state(source, replay.store)?;
    compare_certificates(source, replay.store)?;
    compare_merkle(source, replay.store, &replay.tip, height - 1)?;
    if let Some(checkpoint) = &checkpoint {
        let root = merkle::root_at(&StoreNodes(replay.store), checkpoint.tree_size)
            .map_err(|e| VerifyError::Other(format!("the replayed tree: {e}")))?;
        if root != checkpoint.root {
            return Err(VerifyError::Anchor(format!(
                "the ledger's tree of size {} has root {root}, the checkpoint says {}",
                checkpoint.tree_size, checkpoint.root
            )));
        }
    }
    Ok(VerifyReport {
        blocks: height,
        transactions: replay.transactions,
        valid_transactions: replay.valid_transactions,
        state_keys,
        ledger_size: replay.tip.frontier.size(),
        ledger_root: replay.tip.frontier.root(),
        genesis_hash: replay.genesis_hash,
        checkpoint: checkpoint.map(|c| (c.block_number, c.tree_size)),
    })
}

/// The checkpoint's signed bytes, decoded as untrusted input.
fn decode_checkpoint(signed: &SignedCheckpoint) -> Result<Checkpoint, VerifyError> {
    let checkpoint: Checkpoint =
        codec::decode("checkpoint", &signed.checkpoint, CHECKPOINT_BYTES_MAX)
            .map_err(|e| VerifyError::Anchor(format!("the checkpoint does not decode: {e}")))?;
    codec::check_version("checkpoint", checkpoint.format_version)
        .map_err(|e| VerifyError::Anchor(e.to_string()))?;
    Ok(checkpoint)
}

/// The largest checkpoint's canonical bytes: a channel name and a few numbers.
const CHECKPOINT_BYTES_MAX: usize = 1024;

fn check_genesis_anchor(genesis_hash: &Hash, anchors: &Anchors) -> Result<(), VerifyError> {
    match anchors.genesis_hash {
        Some(expected) if expected != *genesis_hash => Err(VerifyError::Anchor(format!(
            "the genesis block's header hash is {genesis_hash}, not the anchored {expected}: this is another network's ledger"
        ))),
        _ => Ok(()),
    }
}

/// The checkpoint was signed by a peer whose certificate the genesis configuration's organization
/// roots issued, valid at the checkpoint's time, for this channel.
fn check_checkpoint_signature(
    genesis: &Block,
    signed: &SignedCheckpoint,
    checkpoint: &Checkpoint,
) -> Result<(), VerifyError> {
    let anchor = |reason: String| VerifyError::Anchor(reason);
    let channel = ChannelState::from_genesis(genesis).map_err(|e| anchor(e.to_string()))?;
    if checkpoint.channel != channel.config.channel {
        return Err(anchor(format!(
            "the checkpoint is of channel {:?}, this ledger's is {:?}",
            checkpoint.channel, channel.config.channel
        )));
    }
    let identity = channel
        .msp
        .validate(&signed.signer, checkpoint.timestamp_ms)
        .map_err(|e| {
            anchor(format!(
                "the checkpoint's signer is not a member of this ledger's genesis configuration: {e}"
            ))
        })?;
    if identity.signer.role != Role::Peer {
        return Err(anchor(format!(
            "the checkpoint's signer is {}, not a peer",
            identity.signer.role
        )));
    }
    identity
        .public_key
        .verify(&signed.checkpoint, &signed.signature)
        .map_err(|_| anchor("the checkpoint's signature does not hold".into()))
}

/// Block `checkpoint.block_number` (replayed and sound) has the checkpoint's tree size, root and time.
fn check_checkpoint_head(block: &Block, checkpoint: &Checkpoint) -> Result<(), VerifyError> {
    let header = &block.header;
    if header.ledger_size != checkpoint.tree_size
        || header.ledger_root != checkpoint.root
        || header.timestamp_ms != checkpoint.timestamp_ms
    {
        return Err(VerifyError::Anchor(format!(
            "block {} has tree size {} and root {}, the checkpoint says {} and {}: the ledger does not extend the checkpointed one",
            header.number,
            header.ledger_size,
            header.ledger_root,
            checkpoint.tree_size,
            checkpoint.root
        )));
    }
    Ok(())
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
struct Replay<'a> {
    store: &'a dyn Store,
    tip: Tip,
    /// The channel the next block is judged under; `None` before the genesis block.
    channel: Option<ChannelState>,
    /// Transactions after the genesis block, valid or not.
    transactions: u64,
    valid_transactions: u64,
    genesis_hash: Hash,
    /// Stored tx-index entries that point past the block being replayed, each to be met there
    /// ([`Replay::compare_tx_index`]); empty on an honest ledger but for duplicated ids.
    pending_tx_index: BTreeMap<TxId, TxLocation>,
    /// Signatures the reader thread verified ahead (`ahead`): the replay does not verify those again.
    verified: &'a VerifiedSignatures,
}

impl<'a> Replay<'a> {
    fn new(store: &'a dyn Store, verified: &'a VerifiedSignatures) -> Replay<'a> {
        Replay {
            store,
            verified,
            tip: Tip::empty(),
            channel: None,
            transactions: 0,
            valid_transactions: 0,
            genesis_hash: Hash::ZERO,
            pending_tx_index: BTreeMap::new(),
        }
    }

    /// Checks the stored transaction index for the ids of block `number`, just replayed, without keeping
    /// every id: the replay's entry for an id is final unless a later occurrence supersedes it, so a
    /// stored entry at or before this block must be the replay's entry now (a later move is caught at
    /// the later occurrence), and one past it must be met at its block.
    fn compare_tx_index(
        &mut self,
        source: &dyn Store,
        number: u64,
        tx_ids: &[TxId],
        read_ahead: &HashMap<TxId, Option<TxLocation>>,
    ) -> Result<(), VerifyError> {
        let fail = at(number);
        for &tx_id in tx_ids {
            let stored = match read_ahead.get(&tx_id) {
                Some(location) => *location,
                None => source
                    .tx_location(&tx_id)
                    .map_err(|e| fail(e.to_string()))?,
            };
            let replayed = self
                .store
                .tx_location(&tx_id)
                .map_err(|e| fail(format!("replay: {e}")))?;
            let mismatch = |stored: &Option<TxLocation>| {
                fail(format!(
                    "transaction {tx_id}: the stored index entry {stored:?} differs from the replay's {replayed:?}"
                ))
            };
            match stored {
                Some(location) if location.block > number => {
                    self.pending_tx_index.insert(tx_id, location);
                }
                Some(location) if Some(location) == replayed => {
                    if self.pending_tx_index.get(&tx_id) == Some(&location) {
                        self.pending_tx_index.remove(&tx_id);
                    }
                }
                other => return Err(mismatch(&other)),
            }
        }
        Ok(())
    }

    /// Validates stored block `number` with the live validation code against the replay so far, checks
    /// that its stored validation codes are the ones recomputed, and commits it to the replay.
    /// Returns the block's transaction ids.
    fn replay_block(&mut self, number: u64, block: &Block) -> Result<Vec<TxId>, VerifyError> {
        let fail = at(number);
        let validated = match &self.channel {
            None => validate::validate_genesis(self.store, &self.tip, block),
            // Only what this auditor's own reader thread verified is taken as verified.
            Some(channel) => {
                validate::validate_block(channel, self.store, &self.tip, block, self.verified)
            }
        }
        .map_err(|e| fail(e.to_string()))?;
        if self.channel.is_none() {
            self.channel =
                Some(ChannelState::from_genesis(block).map_err(|e| fail(e.to_string()))?);
        }
        let recomputed = &validated.block().metadata.validation_codes;
        compare_codes(number, &block.metadata.validation_codes, recomputed)?;
        let tx_ids = validated.statuses().into_iter().map(|s| s.tx_id).collect();
        if number > 0 {
            self.transactions += recomputed.len() as u64;
            self.valid_transactions += recomputed.iter().filter(|c| c.is_valid()).count() as u64;
        }
        self.tip = validated.tip_after().clone();
        if number == 0 {
            self.genesis_hash = self.tip.last_hash;
        }
        let (commit, new_channel) = validated.into_parts();
        if new_channel.is_some() {
            self.channel = new_channel;
        }
        self.store
            .commit(commit)
            .map_err(|e| fail(format!("replay: {e}")))?;
        Ok(tx_ids)
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

/// The greatest key: every state key sorts before it.
const KEY_END: &str = "\u{10FFFF}";

fn compare_state(source: &dyn Store, replay: &dyn Store) -> Result<u64, VerifyError> {
    let other = |e: medledger_store::StoreError| VerifyError::Other(format!("reading state: {e}"));
    let mut start = String::new();
    let mut count = 0u64;
    loop {
        // The entries as kept: versions (and short values). A long value is the write of the entry
        // its version names, in a block the replay has checked; the same version is the same value.
        let stored = source
            .state_entries(&start, KEY_END, VERIFY_PAGE_COUNT_MAX)
            .map_err(other)?;
        let replayed = replay
            .state_entries(&start, KEY_END, VERIFY_PAGE_COUNT_MAX)
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
            // History entries are pointers into the blocks: the same versions mean the same values.
            let stored_history = source
                .history_versions(stored_key, None, usize::MAX)
                .map_err(other)?;
            let replayed_history = replay
                .history_versions(stored_key, None, usize::MAX)
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

/// The stored certificate table must be the replay's: the certificates the chain's valid transactions
/// carried whole, no more, no fewer.
fn compare_certificates(source: &dyn Store, replay: &dyn Store) -> Result<(), VerifyError> {
    let other =
        |e: medledger_store::StoreError| VerifyError::Other(format!("reading certificates: {e}"));
    let mut after = None;
    loop {
        let stored = source
            .certificates(after, VERIFY_PAGE_COUNT_MAX)
            .map_err(other)?;
        let replayed = replay
            .certificates(after, VERIFY_PAGE_COUNT_MAX)
            .map_err(other)?;
        if stored != replayed {
            let first = stored
                .iter()
                .zip(&replayed)
                .find(|(s, r)| s != r)
                .map(|(s, r)| s.0.min(r.0))
                .or_else(|| stored.get(replayed.len()).map(|s| s.0))
                .or_else(|| replayed.get(stored.len()).map(|r| r.0));
            return Err(VerifyError::Other(format!(
                "the certificate table differs from the replayed chain (at certificate {})",
                first.map_or_else(|| "?".to_owned(), |h| h.to_hex())
            )));
        }
        match stored.last() {
            Some((hash, _)) if stored.len() == VERIFY_PAGE_COUNT_MAX => after = Some(*hash),
            _ => return Ok(()),
        }
    }
}

fn compare_merkle(
    source: &dyn Store,
    replay: &dyn Store,
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
    // From level 1: a leaf is the leaf hash of a stored block's entry (a store may derive it rather
    // than keep it), and the replay has checked every block's entries against its header.
    let mut level = 1u8;
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
