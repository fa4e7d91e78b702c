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
//! 3. `unknown_certificate` / `revoked_certificate`: the creator's or an endorser's certificate does not
//!    chain to a member root (judged at the block's timestamp), or is on its org's CRL.
//! 4. `bad_signature`: the creator's or an endorser's signature does not verify. All signatures of a block
//!    are batch-verified on two threads; only a failing batch is re-checked one by one.
//! 5. `endorsement_policy_failure`: the distinct endorsers do not satisfy the channel's policy.
//! 6. `contract_refused`: the endorsed response is a refusal.
//! 7. `duplicate_tx_id`: a valid transaction with the same id is already committed or earlier in the block.
//! 8. `mvcc_read_conflict`: a key read during simulation has another version now (counting the writes of
//!    valid transactions earlier in the same block).
//!
//! The result, a [`ValidatedBlock`], is everything one store transaction writes.

use std::collections::{BTreeMap, HashMap, HashSet};

use medledger_contract::runtime::{StateError, StateReader};
use medledger_crypto::keys::{self, PublicKey};
use medledger_crypto::merkle::{self, NodeSource};
use medledger_crypto::msp::IdentityError;
use medledger_store::{BlockCommit, StateWrite, Store, StoreError, TxRecord};
use medledger_types::{
    Block, CONFIG_CONTRACT, CONFIG_KEY, CONFIG_KEY_PREFIX, Envelope, Hash, HistoryEntry, KvWrite,
    Proposal, ProposalResponsePayload, ResponseStatus, RwSet, Signature, TxId, ValidationCode,
    Version, VersionedValue, codec, limits,
};

use crate::channel::{ChannelError, ChannelState};
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
    /// The channel as a configuration update in this block leaves it, for the blocks after it.
    new_channel: Option<ChannelState>,
}

impl ValidatedBlock {
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

/// A block accepted as the next link: the tip after it, its header hash, and the Merkle nodes it completes.
type Linked = (Tip, Hash, Vec<(u8, u64, Hash)>);

/// Checks the chain link, both Merkle roots and the orderer's signature; returns the tree after the block
/// and the Merkle nodes the block completes.
fn check_link(
    tip: &Tip,
    block: &Block,
    orderer_key: impl FnOnce(&[u8]) -> Option<PublicKey>,
) -> Result<Linked, BlockError> {
    let header = &block.header;
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
    // Certificates are judged at the block's time: a block dated before its predecessor could admit a
    // certificate that had already expired on the chain.
    if header.timestamp_ms < tip.last_timestamp_ms {
        return Err(BlockError::Timestamp {
            number,
            timestamp_ms: header.timestamp_ms,
            previous_ms: tip.last_timestamp_ms,
        });
    }
    let hash = medledger_crypto::header_hash(header);
    let key = orderer_key(&block.metadata.orderer_signature.orderer)
        .ok_or(BlockError::UnknownOrderer { number })?;
    key.verify(&hash.0, &block.metadata.orderer_signature.signature)
        .map_err(|_| BlockError::OrdererSignature { number })?;
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
    Ok((
        Tip {
            height: number + 1,
            last_hash: hash,
            frontier,
            last_timestamp_ms: header.timestamp_ms,
        },
        hash,
        nodes,
    ))
}

/// Validates the genesis block: one entry, a usable channel configuration, signed by one of its orderers.
pub(crate) fn validate_genesis(
    _store: &dyn Store,
    tip: &Tip,
    block: &Block,
) -> Result<ValidatedBlock, BlockError> {
    let channel = ChannelState::from_genesis(block).map_err(BlockError::Genesis)?;
    let (tip_after, header_hash, merkle_nodes) =
        check_link(tip, block, |der| channel.orderer_key(der).copied())?;
    let mut block = block.clone();
    block.metadata.validation_codes = vec![ValidationCode::Valid];
    let merkle_size = block.header.ledger_size;
    Ok(ValidatedBlock {
        commit: BlockCommit {
            block,
            header_hash,
            txs: Vec::new(),
            writes: Vec::new(),
            merkle_nodes,
            merkle_size,
        },
        tip_after,
        new_channel: None,
        statuses: Vec::new(),
    })
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
    config: Option<(medledger_types::Signer, Proposal)>,
}

fn identity_code(e: &IdentityError) -> ValidationCode {
    match e {
        IdentityError::Revoked { .. } => ValidationCode::RevokedCertificate,
        _ => ValidationCode::UnknownCertificate,
    }
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

fn prepare(channel: &ChannelState, entry: &[u8], at_ms: i64) -> Prepared {
    use ValidationCode::*;
    let undecodable = Prepared::Failed {
        tx_id: None,
        code: MalformedEnvelope,
    };
    let Ok(envelope) = codec::decode::<Envelope>("envelope", entry, limits::ENVELOPE_BYTES_MAX)
    else {
        return undecodable;
    };
    let Ok(proposal) = codec::decode::<Proposal>(
        "proposal",
        &envelope.proposal.proposal,
        limits::PROPOSAL_BYTES_MAX,
    ) else {
        return undecodable;
    };
    let tx_id = medledger_crypto::tx_id(&envelope.proposal.proposal);
    let failed = |code| Prepared::Failed {
        tx_id: Some(tx_id),
        code,
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
    // Configuration keys are written only by configuration updates, which write nothing else.
    let writes_config = |w: &medledger_types::KvWrite| w.key.starts_with(CONFIG_KEY_PREFIX);
    if (!is_config && payload.rwset.writes.iter().any(writes_config))
        || (is_config && !payload.rwset.writes.iter().all(writes_config))
    {
        return failed(BadConfigUpdate);
    }
    let creator = match channel.msp.validate(&proposal.creator, at_ms) {
        Ok(identity) => identity,
        Err(e) => return failed(identity_code(&e)),
    };
    let mut endorser_keys = Vec::with_capacity(envelope.endorsements.len());
    let mut endorsers: Vec<(String, medledger_types::Role)> = Vec::new();
    let mut seen = HashSet::new();
    for endorsement in &envelope.endorsements {
        match channel.msp.validate(&endorsement.endorser, at_ms) {
            Ok(identity) => {
                endorser_keys.push(identity.public_key);
                // The same endorser twice counts once toward the policy, even under two certificates.
                if seen.insert(identity.public_key) {
                    endorsers.push((identity.signer.org.clone(), identity.signer.role));
                }
            }
            Err(e) => return failed(identity_code(&e)),
        }
    }
    let signers: Vec<(&str, medledger_types::Role)> =
        endorsers.iter().map(|(o, r)| (o.as_str(), *r)).collect();
    Prepared::Ready(ReadyEntry {
        tx_id,
        policy_met: channel.policy.is_satisfied_by(&signers),
        refused: payload.response.status != ResponseStatus::Ok,
        rwset: payload.rwset,
        envelope,
        creator_key: creator.public_key,
        endorser_keys,
        config: is_config.then_some((creator.signer, proposal)),
    })
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

/// For each prepared entry, whether all its signatures verify. Batch first; one by one only on failure.
fn check_signatures(prepared: &[Prepared]) -> Vec<bool> {
    fn check(chunk: &[Prepared]) -> Vec<bool> {
        let all: Vec<_> = chunk.iter().flat_map(signature_items).collect();
        if keys::verify_batch(&all).is_ok() {
            return vec![true; chunk.len()];
        }
        chunk
            .iter()
            .map(|p| {
                signature_items(p)
                    .iter()
                    .all(|(msg, sig, key)| key.verify(msg, sig).is_ok())
            })
            .collect()
    }
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

/// Validates a block that follows `tip`, against `store`'s committed state.
pub(crate) fn validate_block(
    channel: &ChannelState,
    store: &dyn Store,
    tip: &Tip,
    block: &Block,
) -> Result<ValidatedBlock, BlockError> {
    let number = block.header.number;
    let (tip_after, header_hash, merkle_nodes) =
        check_link(tip, block, |der| channel.orderer_key(der).copied())?;
    let at_ms = block.header.timestamp_ms;
    let prepared: Vec<Prepared> = block
        .data
        .entries
        .iter()
        .map(|entry| prepare(channel, entry, at_ms))
        .collect();
    let signatures_ok = check_signatures(&prepared);
    let store_error = |e: StoreError| BlockError::Store {
        number,
        detail: e.to_string(),
    };

    let mut codes = Vec::with_capacity(prepared.len());
    let mut txs: Vec<TxRecord> = Vec::new();
    let mut writes: Vec<StateWrite> = Vec::new();
    // Versions written by valid transactions earlier in this block.
    let mut block_versions: HashMap<&str, Version> = HashMap::new();
    // Transaction ids whose location is settled by an earlier entry of this block: true if valid.
    let mut seen_in_block: HashMap<TxId, bool> = HashMap::new();
    let mut statuses: BTreeMap<TxId, TxStatus> = BTreeMap::new();
    let mut new_channel: Option<ChannelState> = None;

    for (index, (p, signature_ok)) in prepared.iter().zip(signatures_ok).enumerate() {
        let index = index as u32;
        let version = Version {
            block: number,
            tx: index,
        };
        let tx_id = p.tx_id();
        let (mut code, ready) = match p {
            Prepared::Failed { code, .. } => (*code, None),
            Prepared::Ready(ready) => (ValidationCode::Valid, Some(ready)),
        };
        if code.is_valid() && !signature_ok {
            code = ValidationCode::BadSignature;
        }
        if code.is_valid() && ready.is_some_and(|r| !r.policy_met) {
            code = ValidationCode::EndorsementPolicyFailure;
        }
        if code.is_valid() && ready.is_some_and(|r| r.refused) {
            code = ValidationCode::ContractRefused;
        }
        // Where the id already is on the ledger, if anywhere, and whether that occurrence was valid.
        let earlier = match tx_id {
            None => None,
            Some(tx_id) => match seen_in_block.get(&tx_id) {
                Some(valid) => Some(*valid),
                None => store
                    .tx_location(&tx_id)
                    .map_err(store_error)?
                    .map(|l| l.code.is_valid()),
            },
        };
        if code.is_valid() && earlier == Some(true) {
            code = ValidationCode::DuplicateTxId;
        }
        if code.is_valid()
            && let Some(ready) = ready
        {
            for read in &ready.rwset.reads {
                let current = match block_versions.get(read.key.as_str()) {
                    Some(v) => Some(*v),
                    None => store
                        .get(&read.key)
                        .map_err(store_error)?
                        .map(|v| v.version),
                };
                if current != read.version {
                    code = ValidationCode::MvccReadConflict;
                    break;
                }
            }
        }
        if code.is_valid()
            && let Some(ready) = ready
            && let Some((creator, proposal)) = &ready.config
        {
            // Recompute the update instead of trusting the endorser; it applies from the next block.
            let expected = channel
                .apply_update(creator, &proposal.function, &proposal.args)
                .ok()
                .and_then(|config| {
                    let written = [KvWrite {
                        key: CONFIG_KEY.into(),
                        value: codec::encode(&config),
                    }];
                    (ready.rwset.writes == written)
                        .then(|| ChannelState::new(config, at_ms).ok())
                        .flatten()
                });
            match expected {
                Some(next) => new_channel = Some(next),
                None => code = ValidationCode::BadConfigUpdate,
            }
        }
        if let Some(tx_id) = tx_id {
            // The index keeps the first occurrence, unless a later one is the valid one. A transaction
            // that cannot take effect must not hide the one that does.
            if earlier.is_none() || (code.is_valid() && earlier == Some(false)) {
                txs.push(TxRecord { index, tx_id, code });
                seen_in_block.insert(tx_id, code.is_valid());
                statuses.insert(
                    tx_id,
                    TxStatus {
                        tx_id,
                        block: number,
                        index,
                        code,
                    },
                );
            }
        }
        if code.is_valid()
            && let Some(ready) = ready
        {
            let tx_id = ready.tx_id;
            for write in &ready.rwset.writes {
                block_versions.insert(write.key.as_str(), version);
                writes.push(StateWrite {
                    key: write.key.clone(),
                    value: write.value.clone(),
                    version,
                    tx_id,
                });
            }
        }
        codes.push(code);
    }

    let mut block = block.clone();
    block.metadata.validation_codes = codes;
    let merkle_size = block.header.ledger_size;
    Ok(ValidatedBlock {
        commit: BlockCommit {
            block,
            header_hash,
            txs,
            writes,
            merkle_nodes,
            merkle_size,
        },
        tip_after,
        statuses: statuses.into_values().collect(),
        new_channel,
    })
}
