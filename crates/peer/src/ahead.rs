//! Signatures checked ahead of the replay, on a second thread, for `verify`.
//!
//! The replay of `verify` is sequential: each block is judged against the state the blocks before it
//! left. Its signature checks are not: they depend only on the bytes and on which key signed. So while the
//! replay judges and commits block N, this thread reads the next blocks, works out the key of every
//! signature they carry (certificates carried whole, certificates named by hash from the audited store's
//! certificate table, the orderers from the genesis configuration), verifies them under the one rule
//! ([`VerifiedSignatures::verify_all`]: one batch, one by one only when it fails) and remembers those that
//! verify in a [`VerifiedSignatures`]. The replay still works out every key from its own replayed state and
//! asks the set about exactly that (key, signature, message): a key the audited store lied about is another
//! item, missing from the set, and is verified again; a signature that failed here is verified again and
//! fails there. So the verdicts are the replay's own; only the work is shared with the second core.
//!
//! The thread hands each block it read to the replay (which therefore reads each block once), with the
//! audited store's transaction-index entry of each id in it (the replay compares them with its own),
//! through a bounded channel: it runs at most [`AHEAD_BLOCKS_MAX`] blocks ahead.

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;

use medledger_crypto::keys::PublicKey;
use medledger_crypto::verified::VerifiedSignatures;
use medledger_store::Store;
use medledger_types::{
    Block, ChannelConfig, Envelope, Hash, IdentityRef, Proposal, Signature, TxId, TxLocation,
    codec, limits,
};

/// How many blocks the thread reads ahead of the replay, at most.
pub(crate) const AHEAD_BLOCKS_MAX: usize = 32;

/// Signatures the set remembers: more than [`AHEAD_BLOCKS_MAX`] full blocks carry (two or three a
/// transaction), so nothing is forgotten before the replay asks.
pub(crate) const AHEAD_SIGNATURES_MAX: usize =
    AHEAD_BLOCKS_MAX * (limits::BLOCK_TX_COUNT_MAX * 3 + 1);

/// What the replay receives for each block number: the stored block with the audited index's entry for
/// each transaction id it carries, or why the block cannot be read.
pub(crate) type Read = Result<Ahead, medledger_store::StoreError>;

/// A block read ahead.
pub(crate) struct Ahead {
    pub(crate) block: Block,
    /// The audited store's transaction index for the ids of the block's decodable proposals, as read
    /// here (an id whose read failed is absent: the replay reads it again and reports the failure).
    pub(crate) stored: HashMap<TxId, Option<TxLocation>>,
}

/// Keys by certificate hash, as far as this thread could work them out.
struct Keys<'a> {
    source: &'a dyn Store,
    known: HashMap<Hash, Option<PublicKey>>,
}

impl Keys<'_> {
    /// The public key of a certificate given whole.
    fn of_der(&mut self, der: &[u8]) -> Option<PublicKey> {
        let hash = medledger_crypto::sha256(der);
        *self.known.entry(hash).or_insert_with(|| {
            medledger_crypto::x509::parse_certificate(der)
                .ok()
                .map(|c| c.public_key)
        })
    }

    /// The public key of a certificate named by hash, from the audited store's table.
    fn of_hash(&mut self, hash: &Hash) -> Option<PublicKey> {
        if let Some(key) = self.known.get(hash) {
            return *key;
        }
        let key = self
            .source
            .certificate(hash)
            .ok()
            .flatten()
            .and_then(|der| medledger_crypto::x509::parse_certificate(&der).ok())
            .map(|c| c.public_key);
        self.known.insert(*hash, key);
        key
    }

    fn of(&mut self, identity: &IdentityRef) -> Option<PublicKey> {
        match identity {
            IdentityRef::Certificate(der) => self.of_der(der),
            IdentityRef::Known(hash) => self.of_hash(hash),
        }
    }
}

/// Reads blocks `0..height` of `source` in order, checks their signatures into `verified`, and sends each
/// block to `blocks`; stops at the first block it cannot read (after sending why), or when the replay
/// stops listening.
pub(crate) fn read_ahead(
    source: &dyn Store,
    height: u64,
    verified: &VerifiedSignatures,
    blocks: &SyncSender<Read>,
) {
    let mut keys = Keys {
        source,
        known: HashMap::new(),
    };
    for number in 0..height {
        let block = match source.block(number) {
            Ok(Some(block)) => block,
            Ok(None) => {
                let _ = blocks.send(Err(medledger_store::StoreError::Corrupted {
                    what: format!("block {number}"),
                    detail: "missing".into(),
                }));
                return;
            }
            Err(e) => {
                let _ = blocks.send(Err(e));
                return;
            }
        };
        let stored = if number == 0 {
            learn_orderers(&block, &mut keys);
            HashMap::new()
        } else {
            check_block(&block, &mut keys, verified)
        };
        if blocks.send(Ok(Ahead { block, stored })).is_err() {
            return;
        }
    }
}

/// The orderers' keys, from the genesis block's configuration (named by hash in every later block).
fn learn_orderers(genesis: &Block, keys: &mut Keys<'_>) {
    let Some(entry) = genesis.data.entries.first() else {
        return;
    };
    let Ok(config) =
        codec::decode::<ChannelConfig>("channel config", entry, limits::BLOCK_BYTES_MAX)
    else {
        return;
    };
    for der in &config.orderers {
        keys.of_der(der);
    }
}

/// Verifies the signatures of `block` whose keys it can work out, and remembers those that verify;
/// returns the audited index's entries for the block's transaction ids.
fn check_block(
    block: &Block,
    keys: &mut Keys<'_>,
    verified: &VerifiedSignatures,
) -> HashMap<TxId, Option<TxLocation>> {
    let mut stored = HashMap::new();
    let mut items: Vec<(Vec<u8>, Signature, PublicKey)> = Vec::new();
    let header_hash = medledger_crypto::header_hash(&block.header);
    let orderer = &block.metadata.orderer_signature;
    if let Some(key) = keys.of_hash(&orderer.orderer) {
        items.push((header_hash.0.to_vec(), orderer.signature, key));
    }
    for entry in &block.data.entries {
        let Ok(envelope) = codec::decode::<Envelope>("envelope", entry, limits::ENVELOPE_BYTES_MAX)
        else {
            continue;
        };
        if let Ok(proposal) = codec::decode::<Proposal>(
            "proposal",
            &envelope.proposal.proposal,
            limits::PROPOSAL_BYTES_MAX,
        ) {
            let tx_id = medledger_crypto::tx_id(&envelope.proposal.proposal);
            if let Ok(location) = keys.source.tx_location(&tx_id) {
                stored.insert(tx_id, location);
            }
            if let Some(key) = keys.of(&proposal.creator) {
                items.push((
                    envelope.proposal.proposal.clone(),
                    envelope.proposal.signature,
                    key,
                ));
            }
        }
        for endorsement in &envelope.endorsements {
            if let Some(key) = keys.of(&endorsement.endorser) {
                items.push((
                    envelope.response_payload.clone(),
                    endorsement.signature,
                    key,
                ));
            }
        }
    }
    let batch: Vec<(&[u8], &Signature, &PublicKey)> = items
        .iter()
        .map(|(msg, signature, key)| (msg.as_slice(), signature, key))
        .collect();
    // A failure is not remembered: the replay verifies it again and judges it.
    verified.verify_all(&batch);
    stored
}
