//! Block validation: is this block the next link of the chain, and which of its transactions count?
//!
//! A block that is not the next link — wrong number, previous hash, Merkle roots, or an orderer signature
//! that does not verify — is refused whole ([`BlockError`]): the orderer lied or the block was damaged,
//! and committing it would fork the chain. Inside an accepted block each transaction gets a
//! [`ValidationCode`]; invalid transactions stay in the block and change no state. The checks, in the
//! order that decides which code a transaction gets when several apply:
//!
//! 1. `malformed_envelope`: it does not decode, breaks a limit, or its parts disagree (tx id, versions).
//! 2. `wrong_channel`: the proposal names another channel or contract.
//! 3. `outside_time_window`: the proposal's timestamp is further from the block's time than the
//!    channel's `proposal_window_ms` (so a record cannot be backdated).
//! 4. `unknown_certificate_hash` / `unknown_certificate` / `revoked_certificate`: the creator or an
//!    endorser is named by a hash that no valid transaction of an earlier block carried whole; or the
//!    certificate does not chain to a member root (judged at the block's timestamp), or is on its org's
//!    CRL.
//! 5. `bad_signature`: the creator's or an endorser's signature does not verify. All signatures of a block
//!    are batch-verified on two threads; only a failing batch is re-checked one by one.
//! 6. `endorsement_policy_failure`: the distinct endorsers do not satisfy the channel's policy.
//! 7. `contract_refused`: the endorsed response is a refusal.
//! 8. `duplicate_tx_id`: a valid transaction with the same id is already committed or earlier in the block.
//! 9. `mvcc_read_conflict`: a key read during simulation has another version now (counting the writes of
//!    valid transactions earlier in the same block).
//!
//! The result, a [`ValidatedBlock`], is everything one store transaction writes.

use std::collections::{BTreeMap, HashMap, HashSet};

use medledger_contract::runtime::{StateError, StateReader};
use medledger_crypto::keys::{self, PublicKey};
use medledger_crypto::merkle::{self, Frontier, NodeSource};
use medledger_crypto::verified::VerifiedSignatures;
use medledger_store::{BlockCommit, StateWrite, Store, StoreError, TxRecord};
use medledger_types::{
    Block, BlockHeader, CONFIG_CONTRACT, CONFIG_KEY, CONFIG_KEY_PREFIX, Envelope, Hash,
    HistoryEntry, KvWrite, Proposal, ProposalResponsePayload, ResponseStatus, RwSet, Signature,
    Signer, TxId, ValidationCode, Version, VersionedValue, codec, limits,
};

use crate::channel::{ChannelError, ChannelState, ResolveError};
use crate::{Tip, TxStatus};

/// A block that is not the next valid link of the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block {got} is not the next block (expected {expected})")]
    WrongNumber { expected: u64, got: u64 },
    #[error("block {number}: previous-hash does not match block {}'s header hash", number.saturating_sub(1))]
    PreviousHash { number: u64 },
    #[error("block {number}: data hash is not the Merkle root of its entries")]
    DataHash { number: u64 },
    #[error(
        "block {number}: ledger root or size does not match the ledger-wide Merkle tree (header says {claimed} leaves, the chain gives {actual})"
    )]
    LedgerRoot {
        number: u64,
        claimed: u64,
        actual: u64,
    },
    #[error("block {number}: signed by a certificate that is not one of the channel's orderers")]
    UnknownOrderer { number: u64 },
    #[error("block {number}: the orderer's signature does not verify")]
    OrdererSignature { number: u64 },
    #[error("block {number}: {count} entries (a block holds 1 to {max})")]
    EntryCount {
        number: u64,
        count: usize,
        max: usize,
    },
    #[error("block {number}: its entries total {bytes} bytes (at most {max})")]
    Bytes {
        number: u64,
        bytes: usize,
        max: usize,
    },
    #[error(
        "block {number}: dated {timestamp_ms} ms, before the previous block ({previous_ms} ms)"
    )]
    Timestamp {
        number: u64,
        timestamp_ms: i64,
        previous_ms: i64,
    },
    #[error("block {number}: unsupported header format version {version}")]
    FormatVersion { number: u64, version: u8 },
    #[error("genesis block: {0}")]
    Genesis(ChannelError),
    #[error("block {number}: the store failed while validating: {detail}")]
    Store { number: u64, detail: String },
}

/// A block the peer has judged, ready to be committed; the only way to build a [`BlockCommit`] from a block.
#[derive(Debug)]
pub struct ValidatedBlock {
    commit: BlockCommit,
    tip_after: Tip,
    statuses: Vec<TxStatus>,
    /// Every entry that has a transaction id, in entry order, with its code.
    occurrences: Vec<TxStatus>,
    /// The channel as a configuration update in this block leaves it, for the blocks after it.
    new_channel: Option<ChannelState>,
    /// SHA-256 of each certificate the block's valid transactions carried whole.
    certificate_hashes: Vec<Hash>,
}

impl ValidatedBlock {
    /// `block` with the codes of `verdicts`, and everything committing it writes.
    fn new(block: &Block, linked: Linked, verdicts: Verdicts) -> ValidatedBlock {
        let mut block = block.clone();
        block.metadata.validation_codes = verdicts.codes;
        let merkle_size = block.header.ledger_size;
        let (certificate_hashes, certificates) = verdicts.certificates.into_iter().unzip();
        ValidatedBlock {
            certificate_hashes,
            commit: BlockCommit {
                block,
                header_hash: linked.tip_after.last_hash,
                txs: verdicts.txs,
                writes: verdicts.writes,
                certificates,
                merkle_nodes: linked.merkle_nodes,
                merkle_size,
            },
            tip_after: linked.tip_after,
            statuses: verdicts.statuses.into_values().collect(),
            occurrences: verdicts.occurrences,
            new_channel: verdicts.new_channel,
        }
    }

    pub fn number(&self) -> u64 {
        self.commit.block.header.number
    }

    pub fn block(&self) -> &Block {
        &self.commit.block
    }

    pub(crate) fn tip_after(&self) -> &Tip {
        &self.tip_after
    }

    /// The final status of each transaction id in the block.
    pub fn statuses(&self) -> Vec<TxStatus> {
        self.statuses.clone()
    }

    /// Every entry of the block that has a transaction id, in entry order, with its code: duplicates and
    /// invalid copies included (the waiters of [`crate::Peer::commit`] tell them apart).
    pub fn occurrences(&self) -> &[TxStatus] {
        &self.occurrences
    }

    /// SHA-256 of each certificate the block's valid transactions carried whole: from the next block
    /// on, transactions may name them by hash.
    pub fn certificate_hashes(&self) -> &[Hash] {
        &self.certificate_hashes
    }

    /// The channel after this block, if a configuration update in it changed the channel.
    pub fn new_channel(&self) -> Option<&ChannelState> {
        self.new_channel.as_ref()
    }

    pub fn into_commit(self) -> BlockCommit {
        self.commit
    }

    /// The store's part and the channel's part.
    pub(crate) fn into_parts(self) -> (BlockCommit, Option<ChannelState>) {
        (self.commit, self.new_channel)
    }
}

/// Reads committed state for the contract runtime: the adapter from the store to the contract's
/// [`StateReader`], also for tests and tools that simulate against a peer's store.
pub struct StoreState<'a>(pub &'a dyn Store);

fn state_error(e: StoreError) -> StateError {
    StateError(e.to_string())
}

impl StateReader for StoreState<'_> {
    fn get(&self, key: &str) -> Result<Option<VersionedValue>, StateError> {
        self.0.get(key).map_err(state_error)
    }

    fn range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        self.0.range(start, end, limit).map_err(state_error)
    }

    fn history(
        &self,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StateError> {
        self.0.history(key, after, limit).map_err(state_error)
    }
}

/// The ledger-wide Merkle tree's stored nodes.
pub(crate) struct StoreNodes<'a>(pub &'a dyn Store);

impl NodeSource for StoreNodes<'_> {
    type Error = StoreError;
    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        self.0
            .merkle_node(level, index)?
            .ok_or_else(|| StoreError::Corrupted {
                what: "merkle tree".into(),
                detail: format!("node at level {level}, index {index} is missing"),
            })
    }
}

/// Perfect nodes of the ledger-wide Merkle tree, as (level, index, hash).
type MerkleNodes = Vec<(u8, u64, Hash)>;

/// A block accepted as the next link of the chain.
struct Linked {
    /// The tip after the block (its `last_hash` is the block's header hash).
    tip_after: Tip,
    /// The ledger-wide Merkle nodes the block completes.
    merkle_nodes: MerkleNodes,
}

/// Checks that `block` is the next link after `tip`: it continues the chain, keeps to the block limits,
/// is not dated before its predecessor, is signed by an orderer, and both Merkle roots are right. The
/// checks run in that order, and the first that fails is the error.
fn check_link(
    tip: &Tip,
    block: &Block,
    orderer_key: impl FnOnce(&Hash) -> Option<PublicKey>,
    known: &VerifiedSignatures,
) -> Result<Linked, BlockError> {
    check_follows_tip(tip, &block.header)?;
    check_block_limits(block)?;
    check_not_before_tip(tip, &block.header)?;
    let header_hash = check_orderer_signature(block, orderer_key, known)?;
    let (frontier, merkle_nodes) = check_roots(tip, block)?;
    Ok(Linked {
        tip_after: Tip {
            height: block.header.number + 1,
            last_hash: header_hash,
            frontier,
            last_timestamp_ms: block.header.timestamp_ms,
        },
        merkle_nodes,
    })
}

/// Checks that the header is in a known format, numbered as the next block, and names the tip's hash as
/// its previous one.
fn check_follows_tip(tip: &Tip, header: &BlockHeader) -> Result<(), BlockError> {
    let number = header.number;
    if header.format_version != medledger_types::FORMAT_VERSION {
        return Err(BlockError::FormatVersion {
            number,
            version: header.format_version,
        });
    }
    if number != tip.height {
        return Err(BlockError::WrongNumber {
            expected: tip.height,
            got: number,
        });
    }
    if header.previous_hash != tip.last_hash {
        return Err(BlockError::PreviousHash { number });
    }
    Ok(())
}

/// Checks that the block holds 1 to `BLOCK_TX_COUNT_MAX` entries of at most `BLOCK_BYTES_MAX` in all.
fn check_block_limits(block: &Block) -> Result<(), BlockError> {
    let number = block.header.number;
    let count = block.data.entries.len();
    if count == 0 || count > limits::BLOCK_TX_COUNT_MAX {
        return Err(BlockError::EntryCount {
            number,
            count,
            max: limits::BLOCK_TX_COUNT_MAX,
        });
    }
    let bytes: usize = block.data.entries.iter().map(Vec::len).sum();
    if bytes > limits::BLOCK_BYTES_MAX {
        return Err(BlockError::Bytes {
            number,
            bytes,
            max: limits::BLOCK_BYTES_MAX,
        });
    }
    Ok(())
}

/// Checks that the block is not dated before its predecessor. Certificates are judged at the block's
/// time: a block dated earlier could admit a certificate that had already expired on the chain.
fn check_not_before_tip(tip: &Tip, header: &BlockHeader) -> Result<(), BlockError> {
    if header.timestamp_ms < tip.last_timestamp_ms {
        return Err(BlockError::Timestamp {
            number: header.number,
            timestamp_ms: header.timestamp_ms,
            previous_ms: tip.last_timestamp_ms,
        });
    }
    Ok(())
}

/// Checks that the header is signed by the orderer `orderer_key` knows the certificate of; returns the
/// header hash it signed.
fn check_orderer_signature(
    block: &Block,
    orderer_key: impl FnOnce(&Hash) -> Option<PublicKey>,
    known: &VerifiedSignatures,
) -> Result<Hash, BlockError> {
    let number = block.header.number;
    let hash = medledger_crypto::header_hash(&block.header);
    let key = orderer_key(&block.metadata.orderer_signature.orderer)
        .ok_or(BlockError::UnknownOrderer { number })?;
    let signature = &block.metadata.orderer_signature.signature;
    if !known.contains(&hash.0, signature, &key) {
        key.verify(&hash.0, signature)
            .map_err(|_| BlockError::OrdererSignature { number })?;
    }
    Ok(hash)
}

/// Checks the header's data hash (the Merkle root of the block's entries) and its ledger-wide root and
/// size (the tip's tree with the entries appended); returns that tree and the nodes the block completes.
fn check_roots(tip: &Tip, block: &Block) -> Result<(Frontier, MerkleNodes), BlockError> {
    let header = &block.header;
    let number = header.number;
    let leaves: Vec<Hash> = block
        .data
        .entries
        .iter()
        .map(|e| merkle::leaf_hash(e))
        .collect();
    if merkle::root_of(&leaves) != header.data_hash {
        return Err(BlockError::DataHash { number });
    }
    let mut frontier = tip.frontier.clone();
    let mut nodes = Vec::with_capacity(leaves.len() * 2);
    for leaf in leaves {
        nodes.extend(frontier.append(leaf));
    }
    if frontier.size() != header.ledger_size || frontier.root() != header.ledger_root {
        return Err(BlockError::LedgerRoot {
            number,
            claimed: header.ledger_size,
            actual: frontier.size(),
        });
    }
    Ok((frontier, nodes))
}

/// Validates the genesis block: one entry, a usable channel configuration, signed by one of its orderers.
pub(crate) fn validate_genesis(
    _store: &dyn Store,
    tip: &Tip,
    block: &Block,
) -> Result<ValidatedBlock, BlockError> {
    let channel = ChannelState::from_genesis(block).map_err(BlockError::Genesis)?;
    let linked = check_link(
        tip,
        block,
        |hash| channel.orderer_key(hash).copied(),
        &VerifiedSignatures::new(0),
    )?;
    // The configuration entry is valid and writes nothing: the channel is read from the block itself.
    let verdicts = Verdicts {
        codes: vec![ValidationCode::Valid],
        ..Verdicts::default()
    };
    Ok(ValidatedBlock::new(block, linked, verdicts))
}

/// What can be judged of one entry without looking at other entries or at state (checks 1–3).
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every entry is ready; boxing would cost an allocation per transaction"
)]
enum Prepared {
    /// The entry failed one of checks 1–3 and gets `code`. Its transaction id is known if its proposal
    /// decoded.
    Failed {
        tx_id: Option<TxId>,
        code: ValidationCode,
    },
    /// The entry passed checks 1–3; what checks 4–8 need.
    Ready(ReadyEntry),
}

impl Prepared {
    fn tx_id(&self) -> Option<TxId> {
        match self {
            Prepared::Failed { tx_id, .. } => *tx_id,
            Prepared::Ready(ready) => Some(ready.tx_id),
        }
    }
}

/// An entry that decoded, is for this channel and whose certificates are all members'.
struct ReadyEntry {
    tx_id: TxId,
    envelope: Envelope,
    creator_key: PublicKey,
    /// One key for each of the envelope's endorsements, in the same order.
    endorser_keys: Vec<PublicKey>,
    policy_met: bool,
    refused: bool,
    rwset: RwSet,
    /// For a configuration update: who proposed it, and the proposal, to recompute what it must write.
    config: Option<(Signer, Proposal)>,
    /// The certificates the entry carries whole (creator's, endorsers'), with their hashes: if it is
    /// valid, the ledger keeps them, and later transactions may name them by hash.
    carried: Vec<(Hash, Vec<u8>)>,
}

fn rwset_within_limits(rwset: &RwSet) -> bool {
    fn sorted_unique<'a>(keys: impl Iterator<Item = &'a String>) -> bool {
        let mut previous: Option<&String> = None;
        for key in keys {
            if key.len() > limits::KEY_BYTES_MAX || previous.is_some_and(|p| p >= key) {
                return false;
            }
            previous = Some(key);
        }
        true
    }
    rwset.reads.len() <= limits::RWSET_READS_COUNT_MAX
        && rwset.writes.len() <= limits::RWSET_WRITES_COUNT_MAX
        && rwset
            .writes
            .iter()
            .all(|w| w.value.len() <= limits::VALUE_BYTES_MAX)
        && sorted_unique(rwset.reads.iter().map(|r| &r.key))
        && sorted_unique(rwset.writes.iter().map(|w| &w.key))
}

/// Checks 1–3 of one entry. `Err` only if the certificate table cannot be read.
fn prepare(
    channel: &ChannelState,
    store: &dyn Store,
    entry: &[u8],
    at_ms: i64,
) -> Result<Prepared, StoreError> {
    use ValidationCode::*;
    let undecodable = Prepared::Failed {
        tx_id: None,
        code: MalformedEnvelope,
    };
    let Ok(envelope) = codec::decode::<Envelope>("envelope", entry, limits::ENVELOPE_BYTES_MAX)
    else {
        return Ok(undecodable);
    };
    let Ok(proposal) = codec::decode::<Proposal>(
        "proposal",
        &envelope.proposal.proposal,
        limits::PROPOSAL_BYTES_MAX,
    ) else {
        return Ok(undecodable);
    };
    let tx_id = medledger_crypto::tx_id(&envelope.proposal.proposal);
    let failed = |code| {
        Ok(Prepared::Failed {
            tx_id: Some(tx_id),
            code,
        })
    };
    let payload = codec::decode::<ProposalResponsePayload>(
        "response payload",
        &envelope.response_payload,
        limits::ENVELOPE_BYTES_MAX,
    );
    let Ok(payload) = payload else {
        return failed(MalformedEnvelope);
    };
    if envelope.format_version != medledger_types::FORMAT_VERSION
        || proposal.format_version != medledger_types::FORMAT_VERSION
        || payload.format_version != medledger_types::FORMAT_VERSION
        || payload.tx_id != tx_id
        || proposal.args.len() > limits::PROPOSAL_ARGS_COUNT_MAX
        || envelope.endorsements.is_empty()
        || envelope.endorsements.len() > limits::ENDORSEMENTS_COUNT_MAX
        || !rwset_within_limits(&payload.rwset)
    {
        return failed(MalformedEnvelope);
    }
    let is_config = proposal.contract == CONFIG_CONTRACT;
    if proposal.channel != channel.config.channel
        || (!is_config && proposal.contract != channel.config.contract)
    {
        return failed(WrongChannel);
    }
    if !within_window(
        proposal.timestamp_ms,
        at_ms,
        channel.config.proposal_window_ms,
    ) {
        return failed(OutsideTimeWindow);
    }
    // Configuration keys are written only by configuration updates, which write nothing else.
    let writes_config = |w: &medledger_types::KvWrite| w.key.starts_with(CONFIG_KEY_PREFIX);
    if (!is_config && payload.rwset.writes.iter().any(writes_config))
        || (is_config && !payload.rwset.writes.iter().all(writes_config))
    {
        return failed(BadConfigUpdate);
    }
    let resolve = |identity| match channel.resolve_identity(store, identity, at_ms) {
        Ok(identity) => Ok(Ok(identity)),
        Err(ResolveError::Store(e)) => Err(e),
        Err(e) => Ok(Err(e.code().unwrap_or(UnknownCertificate))),
    };
    let creator = match resolve(&proposal.creator)? {
        Ok(identity) => identity,
        Err(code) => return failed(code),
    };
    let mut endorser_keys = Vec::with_capacity(envelope.endorsements.len());
    let mut endorsers: Vec<(String, medledger_types::Role)> = Vec::new();
    let mut seen = HashSet::new();
    for endorsement in &envelope.endorsements {
        match resolve(&endorsement.endorser)? {
            Ok(identity) => {
                endorser_keys.push(identity.public_key);
                // The same endorser twice counts once toward the policy, even under two certificates.
                if seen.insert(identity.public_key) {
                    endorsers.push((identity.signer.org.clone(), identity.signer.role));
                }
            }
            Err(code) => return failed(code),
        }
    }
    // Every certificate above validated, so each one carried whole hashes to its signer's hash.
    let carried = std::iter::once(&proposal.creator)
        .chain(envelope.endorsements.iter().map(|e| &e.endorser))
        .filter_map(|identity| identity.certificate())
        .map(|der| (medledger_crypto::sha256(der), der.to_vec()))
        .collect();
    let signers: Vec<(&str, medledger_types::Role)> =
        endorsers.iter().map(|(o, r)| (o.as_str(), *r)).collect();
    Ok(Prepared::Ready(ReadyEntry {
        tx_id,
        policy_met: channel.policy.is_satisfied_by(&signers),
        refused: payload.response.status != ResponseStatus::Ok,
        rwset: payload.rwset,
        envelope,
        creator_key: creator.public_key,
        endorser_keys,
        config: is_config.then_some((creator.signer, proposal)),
        carried,
    }))
}

/// Whether a proposal dated `proposal_ms` may be in a block dated `block_ms`: at most `window_ms` apart,
/// either way.
pub(crate) fn within_window(proposal_ms: i64, block_ms: i64, window_ms: u64) -> bool {
    proposal_ms.abs_diff(block_ms) <= window_ms
}

/// The signatures one prepared entry carries: (message, signature, key).
fn signature_items(p: &Prepared) -> Vec<(&[u8], &Signature, &PublicKey)> {
    let Prepared::Ready(ready) = p else {
        return Vec::new();
    };
    let envelope = &ready.envelope;
    let mut items = Vec::with_capacity(1 + ready.endorser_keys.len());
    items.push((
        envelope.proposal.proposal.as_slice(),
        &envelope.proposal.signature,
        &ready.creator_key,
    ));
    for (endorsement, key) in envelope.endorsements.iter().zip(&ready.endorser_keys) {
        items.push((
            envelope.response_payload.as_slice(),
            &endorsement.signature,
            key,
        ));
    }
    items
}

/// For each prepared entry, whether all its signatures verify: those `known` to verify are not checked
/// again; the rest in one batch first, one by one only on failure.
fn check_signatures(prepared: &[Prepared], known: &VerifiedSignatures) -> Vec<bool> {
    fn unknown<'a>(
        p: &'a Prepared,
        known: &VerifiedSignatures,
    ) -> Vec<(&'a [u8], &'a Signature, &'a PublicKey)> {
        let mut items = signature_items(p);
        items.retain(|(msg, sig, key)| !known.contains(msg, sig, key));
        items
    }
    let check = |chunk: &[Prepared]| -> Vec<bool> {
        let all: Vec<_> = chunk.iter().flat_map(|p| unknown(p, known)).collect();
        if keys::verify_batch(&all).is_ok() {
            return vec![true; chunk.len()];
        }
        chunk
            .iter()
            .map(|p| {
                unknown(p, known)
                    .iter()
                    .all(|(msg, sig, key)| key.verify(msg, sig).is_ok())
            })
            .collect()
    };
    if prepared.len() < 16 {
        return check(prepared);
    }
    let (left, right) = prepared.split_at(prepared.len() / 2);
    std::thread::scope(|scope| {
        let right = scope.spawn(|| check(right));
        let mut result = check(left);
        match right.join() {
            Ok(r) => result.extend(r),
            // A panic in a verifier is a bug; judge the half again on this thread rather than lose the block.
            Err(_) => result.extend(check(prepared.split_at(prepared.len() / 2).1)),
        }
        result
    })
}

/// Validates a block that follows `tip`, against `store`'s committed state: checks the link, prepares
/// each entry on its own (checks 1–3), verifies every signature in one batch, then judges the entries in
/// order, each seeing the writes of the valid ones before it.
pub(crate) fn validate_block(
    channel: &ChannelState,
    store: &dyn Store,
    tip: &Tip,
    block: &Block,
    known: &VerifiedSignatures,
) -> Result<ValidatedBlock, BlockError> {
    let linked = check_link(tip, block, |hash| channel.orderer_key(hash).copied(), known)?;
    let at_ms = block.header.timestamp_ms;
    let prepared: Vec<Prepared> = block
        .data
        .entries
        .iter()
        .map(|entry| prepare(channel, store, entry, at_ms))
        .collect::<Result<_, _>>()
        .map_err(|e| BlockError::Store {
            number: block.header.number,
            detail: e.to_string(),
        })?;
    let signatures_ok = check_signatures(&prepared, known);
    let mut judge = BlockJudge::new(channel, store, &block.header);
    for (index, (entry, signature_ok)) in prepared.iter().zip(signatures_ok).enumerate() {
        judge.judge_entry(index as u32, entry, signature_ok)?;
    }
    Ok(ValidatedBlock::new(block, linked, judge.verdicts))
}

/// What judging a block's entries decided.
#[derive(Default)]
struct Verdicts {
    /// One code for each entry, in entry order.
    codes: Vec<ValidationCode>,
    /// Where each transaction id of the block is recorded.
    txs: Vec<TxRecord>,
    /// The writes of the valid transactions, in entry order.
    writes: Vec<StateWrite>,
    /// The final status of each transaction id.
    statuses: BTreeMap<TxId, TxStatus>,
    /// Every entry with a transaction id, in entry order.
    occurrences: Vec<TxStatus>,
    /// The channel as a valid configuration update leaves it.
    new_channel: Option<ChannelState>,
    /// The certificates valid transactions carried whole, by hash, each once.
    certificates: BTreeMap<Hash, Vec<u8>>,
}

/// Judges a block's entries one after the other: what judging an entry needs to know of the entries
/// before it, and the verdicts so far.
struct BlockJudge<'a> {
    channel: &'a ChannelState,
    store: &'a dyn Store,
    number: u64,
    /// The block's timestamp: a configuration update's new channel is judged at it.
    at_ms: i64,
    /// Versions written by valid transactions earlier in this block.
    block_versions: HashMap<&'a str, Version>,
    /// Transaction ids whose location is settled by an earlier entry of this block: true if valid.
    seen_in_block: HashMap<TxId, bool>,
    verdicts: Verdicts,
}

impl<'a> BlockJudge<'a> {
    fn new(
        channel: &'a ChannelState,
        store: &'a dyn Store,
        header: &BlockHeader,
    ) -> BlockJudge<'a> {
        BlockJudge {
            channel,
            store,
            number: header.number,
            at_ms: header.timestamp_ms,
            block_versions: HashMap::new(),
            seen_in_block: HashMap::new(),
            verdicts: Verdicts::default(),
        }
    }

    /// Gives the entry at `index` its code, records where its transaction id is, and applies its writes
    /// if it is valid. `Err` only if the store fails.
    fn judge_entry(
        &mut self,
        index: u32,
        entry: &'a Prepared,
        signature_ok: bool,
    ) -> Result<(), BlockError> {
        let tx_id = entry.tx_id();
        let earlier = match tx_id {
            None => None,
            Some(tx_id) => self.earlier_occurrence(tx_id)?,
        };
        let code = match entry {
            Prepared::Failed { code, .. } => *code,
            Prepared::Ready(ready) => self.judge_ready(ready, signature_ok, earlier)?,
        };
        if let Some(tx_id) = tx_id {
            self.record_occurrence(index, tx_id, code, earlier);
        }
        if let Prepared::Ready(ready) = entry
            && code.is_valid()
        {
            self.apply_writes(index, ready);
        }
        self.verdicts.codes.push(code);
        Ok(())
    }

    /// Where the id already is on the ledger (earlier in this block, or committed), if anywhere: whether
    /// that occurrence was valid.
    fn earlier_occurrence(&self, tx_id: TxId) -> Result<Option<bool>, BlockError> {
        if let Some(valid) = self.seen_in_block.get(&tx_id) {
            return Ok(Some(*valid));
        }
        Ok(self
            .store
            .tx_location(&tx_id)
            .map_err(|e| self.store_error(e))?
            .map(|l| l.code.is_valid()))
    }

    /// Checks 4–8 of an entry that passed checks 1–3, and for a configuration update that it writes what
    /// the update gives. The first check that fails gives the code; a valid update sets the new channel.
    fn judge_ready(
        &mut self,
        ready: &ReadyEntry,
        signature_ok: bool,
        earlier: Option<bool>,
    ) -> Result<ValidationCode, BlockError> {
        use ValidationCode::*;
        if !signature_ok {
            return Ok(BadSignature);
        }
        if !ready.policy_met {
            return Ok(EndorsementPolicyFailure);
        }
        if ready.refused {
            return Ok(ContractRefused);
        }
        if earlier == Some(true) {
            return Ok(DuplicateTxId);
        }
        if !self.reads_are_current(&ready.rwset)? {
            return Ok(MvccReadConflict);
        }
        if let Some((creator, proposal)) = &ready.config {
            match self.next_channel(creator, proposal, &ready.rwset) {
                Some(next) => self.verdicts.new_channel = Some(next),
                None => return Ok(BadConfigUpdate),
            }
        }
        Ok(Valid)
    }

    /// Whether every key read during simulation still has the version it was read at, counting the
    /// writes of valid transactions earlier in this block.
    fn reads_are_current(&self, rwset: &RwSet) -> Result<bool, BlockError> {
        for read in &rwset.reads {
            let current = match self.block_versions.get(read.key.as_str()) {
                Some(v) => Some(*v),
                None => self
                    .store
                    .version(&read.key)
                    .map_err(|e| self.store_error(e))?,
            };
            if current != read.version {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The channel a configuration update leads to, if the update is allowed and `rwset` writes exactly
    /// the configuration it gives. Recomputed instead of trusting the endorser; it applies from the next
    /// block.
    fn next_channel(
        &self,
        creator: &Signer,
        proposal: &Proposal,
        rwset: &RwSet,
    ) -> Option<ChannelState> {
        let config = self
            .channel
            .apply_update(creator, &proposal.function, &proposal.args)
            .ok()?;
        let written = [KvWrite {
            key: CONFIG_KEY.into(),
            value: codec::encode(&config),
        }];
        // It must have read the configuration it replaces (the MVCC check above has found that read
        // current): so a second update in the same block, computed on the same configuration, conflicts
        // instead of silently undoing the first. An endorsement without the read is not one.
        let read_the_configuration =
            matches!(rwset.reads.as_slice(), [read] if read.key == CONFIG_KEY);
        (read_the_configuration && rwset.writes == written)
            .then(|| ChannelState::new(config, self.at_ms).ok())
            .flatten()
    }

    /// Records where a transaction id is. The index keeps the first occurrence, unless a later one is the
    /// valid one: a transaction that cannot take effect must not hide the one that does.
    fn record_occurrence(
        &mut self,
        index: u32,
        tx_id: TxId,
        code: ValidationCode,
        earlier: Option<bool>,
    ) {
        self.verdicts.occurrences.push(TxStatus {
            tx_id,
            block: self.number,
            index,
            code,
        });
        if earlier.is_none() || (code.is_valid() && earlier == Some(false)) {
            self.verdicts.txs.push(TxRecord { index, tx_id, code });
            self.seen_in_block.insert(tx_id, code.is_valid());
            self.verdicts.statuses.insert(
                tx_id,
                TxStatus {
                    tx_id,
                    block: self.number,
                    index,
                    code,
                },
            );
        }
    }

    /// Applies the writes of the valid entry at `index`, for the commit and for the entries after it.
    fn apply_writes(&mut self, index: u32, ready: &'a ReadyEntry) {
        let version = Version {
            block: self.number,
            tx: index,
        };
        for write in &ready.rwset.writes {
            self.block_versions.insert(write.key.as_str(), version);
            self.verdicts.writes.push(StateWrite {
                key: write.key.clone(),
                value: write.value.clone(),
                version,
                tx_id: ready.tx_id,
            });
        }
        for (hash, der) in &ready.carried {
            self.verdicts
                .certificates
                .entry(*hash)
                .or_insert_with(|| der.clone());
        }
    }

    fn store_error(&self, e: StoreError) -> BlockError {
        BlockError::Store {
            number: self.number,
            detail: e.to_string(),
        }
    }
}
