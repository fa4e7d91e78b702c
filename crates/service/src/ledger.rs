//! The ledger as an auditor reads it: blocks, transactions with their inclusion proofs, the node's
//! signed checkpoint of the ledger-wide Merkle tree, the organizations' root certificates that checkpoint
//! chains to, and consistency proofs between two tree sizes.
//!
//! Everything a client needs to check a proof itself is in the answers, as the bytes the ledger hashed
//! and signed: a transaction's envelope (base64) is the Merkle leaf input, so
//! `verify_inclusion(leaf_hash(envelope), leaf_index, tree_size, audit_path, root)` must hold against the
//! checkpoint's root; the checkpoint's signature covers its canonical bytes (base64) under the signer's
//! certificate, which the organization's root certificate ([`roots`]) signed. Hashes are hex.
//!
//! Any logged-in person may read these, but an envelope holds the whole call — a note's text, a
//! patient's name — so it obeys the record-reading rules ([`may_read_envelopes`]): a reader who may not
//! read every kind of record in full gets `envelope: null` and keeps everything else (header facts,
//! signer, function, the proof with its `leaf_hash`, which is enough to check inclusion). Blocks list
//! only each entry's transaction id and validation code, never an entry's bytes.
//!
//! | status | when |
//! |---|---|
//! | 400 | a malformed number or transaction id; a consistency range with `from` after `to` |
//! | 401 | not logged in |
//! | 404 | no such block or committed transaction; a tree size beyond the ledger's; a transaction that is not in the tree of the size asked for |

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use medledger_contract::ehr::RecordKind;
use medledger_contract::ehr::auth::{Access, Operation, access};
use medledger_peer::{Peer, PeerError, ProofRequestError};
use medledger_types::{
    Block, Checkpoint, Envelope, Hash, IdentityRef, Proposal, Role, TxId, codec, limits,
};
use serde::{Deserialize, Serialize};

use crate::auth::{Session, rfc3339};
use crate::{AppState, ServiceError};

/// A block's header, hashes in hex.
#[derive(Debug, Clone, Serialize)]
pub struct BlockHeaderView {
    pub format_version: u8,
    pub number: u64,
    /// SHA-256 of the previous block's header (zeros for the genesis block).
    pub previous_hash: String,
    /// Merkle root of this block's entries.
    pub data_hash: String,
    /// Root of the ledger-wide Merkle tree after this block.
    pub ledger_root: String,
    /// Entries in the ledger-wide tree after this block.
    pub ledger_size: u64,
    pub timestamp: String,
    pub timestamp_ms: i64,
}

/// One entry of a block.
#[derive(Debug, Clone, Serialize)]
pub struct BlockTransaction {
    pub index: u32,
    /// The transaction id (hex); `null` for an entry that is not a transaction envelope (the genesis
    /// block's channel configuration) or does not decode.
    pub tx_id: Option<String>,
    /// `valid`, or why the transaction is invalid (`mvcc_read_conflict`, `bad_signature`, ...).
    pub validation_code: String,
}

/// A block: its header, the hash of the header, and each entry's id and validation code.
#[derive(Debug, Clone, Serialize)]
pub struct BlockView {
    pub number: u64,
    /// SHA-256 of the header's canonical bytes: what the next block links to and the orderer signed.
    pub header_hash: String,
    pub header: BlockHeaderView,
    pub tx_count: u64,
    pub transactions: Vec<BlockTransaction>,
    /// The orderer's Ed25519 signature over the header hash (hex).
    pub orderer_signature: String,
    /// The orderer's X.509 certificate (DER, base64).
    pub orderer_certificate: String,
}

/// Who signed a transaction, from the creator certificate in its proposal.
#[derive(Debug, Clone, Serialize)]
pub struct SignerView {
    /// The organization (MSP id).
    pub org: String,
    /// `admin`, `doctor`, `auditor`, ...; `null` if the certificate names no role.
    pub role: Option<String>,
    /// The certificate's common name: a person's email.
    pub name: String,
    /// The creator certificate (DER, base64).
    pub certificate: String,
}

/// An RFC 9162 inclusion proof of a leaf in the ledger-wide tree of `tree_size` leaves.
#[derive(Debug, Clone, Serialize)]
pub struct InclusionProofView {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// SHA-256(0x00 || envelope), hex.
    pub leaf_hash: String,
    /// Sibling hashes from the leaf up, hex.
    pub audit_path: Vec<String>,
    /// The tree's root at `tree_size`, hex.
    pub root: String,
}

/// A committed transaction with its proof.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionView {
    pub tx_id: String,
    pub block_number: u64,
    pub tx_index: u32,
    pub validation_code: String,
    /// The block's timestamp.
    pub block_timestamp: String,
    pub block_timestamp_ms: i64,
    /// `null` when the envelope does not decode (an invalid transaction kept in its block).
    pub signer: Option<SignerView>,
    /// The proposal's channel, contract and function.
    pub channel: Option<String>,
    pub contract: Option<String>,
    pub function: Option<String>,
    /// The envelope's canonical bytes as ordered, base64: the Merkle leaf input. `null` when withheld
    /// from this reader ([`may_read_envelopes`]); `inclusion_proof.leaf_hash` still proves inclusion.
    pub envelope: Option<String>,
    pub inclusion_proof: InclusionProofView,
}

/// The ledger-wide tree's head, signed by this node's peer.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointView {
    pub channel: String,
    /// The last block in the tree.
    pub block_number: u64,
    pub tree_size: u64,
    /// Hex.
    pub root: String,
    /// The last block's timestamp.
    pub timestamp: String,
    pub timestamp_ms: i64,
    /// The checkpoint's canonical bytes (base64): what the signature covers.
    pub checkpoint: String,
    /// Ed25519 signature over `checkpoint`'s bytes, hex.
    pub signature: String,
    /// The signing peer's X.509 certificate (DER, base64).
    pub signer_certificate: String,
}

/// An organization's root certificate: the trust anchor its certificates (the checkpoint signer's
/// among them) chain to.
#[derive(Debug, Clone, Serialize)]
pub struct OrganizationRootView {
    /// The organization (MSP id): the `O=` of every certificate it issues.
    pub msp_id: String,
    /// The organization CA's self-signed X.509 certificate (DER, base64).
    pub certificate: String,
    /// SHA-256 of the certificate's DER, hex: compare it with the fingerprint the organization
    /// publishes elsewhere, since this node could serve any certificate.
    pub fingerprint: String,
}

/// The trust anchors of the channel: its organizations' root certificates, from its configuration
/// (the genesis block's; configuration updates add CRLs, never roots).
#[derive(Debug, Clone, Serialize)]
pub struct RootsView {
    pub channel: String,
    pub organizations: Vec<OrganizationRootView>,
}

/// A consistency proof: the tree of `from` leaves is a prefix of the tree of `to` leaves.
#[derive(Debug, Clone, Serialize)]
pub struct ConsistencyView {
    pub from: u64,
    pub to: u64,
    /// The root at `from`, hex.
    pub from_root: String,
    /// The root at `to`, hex.
    pub to_root: String,
    /// Hex, as RFC 9162 §2.1.4.
    pub proof: Vec<String>,
}

/// `?tree_size=` of a transaction's proof.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProofQuery {
    /// Prove inclusion in the tree of this size (an earlier checkpoint's); default: the current size.
    pub tree_size: Option<u64>,
}

/// `?from=&to=` of a consistency proof.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConsistencyQuery {
    /// The older tree size, at least 1.
    pub from: u64,
    /// The newer tree size, at least `from` and at most the current size; default: the current size.
    pub to: Option<u64>,
}

fn internal(e: PeerError) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// A proof the ledger cannot give: of a tree larger than the ledger's (yet), or of a transaction in a
/// tree that ends before it, does not exist (404, as a block beyond the last); a range with `from`
/// after `to` is malformed (400).
fn bad_proof_request(e: ProofRequestError) -> ServiceError {
    match e {
        ProofRequestError::BeyondHead { .. } | ProofRequestError::NotInTree { .. } => {
            ServiceError::NotFound(e.to_string())
        }
        ProofRequestError::BadRange { .. } => ServiceError::BadRequest(e.to_string()),
    }
}

/// Whether `role` may read transactions' envelopes: only a role that may read every kind of record in
/// full (the contract's matrix, [`access`]; today doctors alone). An envelope holds the call as its
/// signer made it — a note's text, a patient's name — and its read–write set, so it is shown to exactly
/// those who could read what it writes.
///
/// Deliberately judged per role, not per transaction: what an envelope writes could only be learned by
/// trusting its bytes, and an invalid transaction's bytes are whatever its signer sent (a "doctor
/// registration" may carry anything). So administrators are not shown even the envelopes of people
/// registrations and configuration updates; they read those profiles through the record routes.
/// Auditors, who see record headers only, never see envelopes.
pub fn may_read_envelopes(role: Role) -> bool {
    RecordKind::ALL
        .iter()
        .all(|&kind| access(role, Operation::Read, kind) == Some(Access::Full))
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_hex).collect()
}

/// The envelope and its proposal, if the entry decodes as one (untrusted bytes: bounded decoding).
fn decode_envelope(entry: &[u8]) -> Option<(Envelope, Proposal)> {
    let envelope: Envelope = codec::decode("envelope", entry, limits::ENVELOPE_BYTES_MAX).ok()?;
    let proposal: Proposal = codec::decode(
        "proposal",
        &envelope.proposal.proposal,
        limits::PROPOSAL_BYTES_MAX,
    )
    .ok()?;
    Some((envelope, proposal))
}

/// The certificate (DER) a transaction names as its creator: carried whole, or read from the ledger's
/// certificate table by its hash.
fn creator_certificate(peer: &Peer, proposal: &Proposal) -> Option<Vec<u8>> {
    match &proposal.creator {
        IdentityRef::Certificate(der) => Some(der.clone()),
        IdentityRef::Known(hash) => peer.store().certificate(hash).ok().flatten(),
    }
}

/// The certificate (DER) of the orderer that signed `block`, from the channel configuration (a block
/// names its orderer by hash).
fn orderer_certificate(peer: &Peer, block: &Block) -> Vec<u8> {
    let named = block.metadata.orderer_signature.orderer;
    peer.channel()
        .config
        .orderers
        .iter()
        .find(|der| medledger_crypto::sha256(der) == named)
        .cloned()
        .unwrap_or_default()
}

fn block_view(block: Block, orderer_certificate: &[u8]) -> BlockView {
    let header = &block.header;
    let transactions = block
        .data
        .entries
        .iter()
        .enumerate()
        .map(|(index, entry)| BlockTransaction {
            index: index as u32,
            tx_id: decode_envelope(entry).map(|(envelope, _)| {
                medledger_crypto::tx_id(&envelope.proposal.proposal).to_string()
            }),
            validation_code: block
                .metadata
                .validation_codes
                .get(index)
                .map_or("unknown", |code| code.as_str())
                .to_owned(),
        })
        .collect();
    BlockView {
        number: header.number,
        header_hash: medledger_crypto::header_hash(header).to_hex(),
        header: BlockHeaderView {
            format_version: header.format_version,
            number: header.number,
            previous_hash: header.previous_hash.to_hex(),
            data_hash: header.data_hash.to_hex(),
            ledger_root: header.ledger_root.to_hex(),
            ledger_size: header.ledger_size,
            timestamp: rfc3339(header.timestamp_ms),
            timestamp_ms: header.timestamp_ms,
        },
        tx_count: block.data.entries.len() as u64,
        transactions,
        orderer_signature: hex::encode(block.metadata.orderer_signature.signature.0),
        orderer_certificate: BASE64.encode(orderer_certificate),
    }
}

/// Block `number` (what `GET /ledger/blocks/{number}` answers; shared with the web explorer). Outcomes:
/// the block; 404 if there is none.
pub async fn block(state: &AppState, number: u64) -> Result<BlockView, ServiceError> {
    let (block, orderer) = state
        .with_peer(move |peer| {
            peer.block(number).map(|block| {
                block.map(|block| {
                    let orderer = orderer_certificate(peer, &block);
                    (block, orderer)
                })
            })
        })
        .await?
        .map_err(internal)?
        .ok_or_else(|| ServiceError::NotFound(format!("no block {number}")))?;
    Ok(block_view(block, &orderer))
}

/// A committed transaction with its inclusion proof in the tree of `tree_size` leaves (default: the
/// current size), as `session`'s person may read it (the envelope only if [`may_read_envelopes`]):
/// what `GET /ledger/transactions/{tx_id}` answers, shared with the web explorer. Outcomes: the view;
/// 400 for a malformed id or a bad tree size; 404 if not committed.
pub async fn transaction(
    state: &AppState,
    session: &Session,
    tx_id: &str,
    tree_size: Option<u64>,
) -> Result<TransactionView, ServiceError> {
    let tx_id = tx_id.to_owned();
    let envelope_readable = may_read_envelopes(session.role);
    state
        .with_peer(move |peer| transaction_of(peer, &tx_id, tree_size, envelope_readable))
        .await?
}

/// Where a transaction stands, as `GET /ledger/transactions/{tx_id}/status` answers it: the answer to
/// a write that was accepted but not committed within its wait (202).
#[derive(Debug, Clone, Serialize)]
pub struct TransactionStatusView {
    pub tx_id: String,
    /// `committed` (in a block, valid or not: see `validation_code`), or `not_committed` (not in any
    /// block yet: still on its way, or never ordered).
    pub status: &'static str,
    /// The block and index, once committed.
    pub block_number: Option<u64>,
    pub tx_index: Option<u32>,
    /// `valid`, or why the transaction changed nothing; once committed.
    pub validation_code: Option<String>,
}

/// Where the transaction `tx_id` stands: committed (with its block, index and validation code) or not
/// yet. Any logged-in person may ask: the answer says nothing a block does not. 400 for a malformed id.
pub async fn transaction_status(
    state: &AppState,
    tx_id: &str,
) -> Result<TransactionStatusView, ServiceError> {
    let tx_id: TxId = tx_id.parse().map_err(|_| {
        ServiceError::BadRequest(format!(
            "{tx_id:?} is not a transaction id (64 hexadecimal digits)"
        ))
    })?;
    let location = state
        .with_peer(move |peer| peer.store().tx_location(&tx_id))
        .await?
        .map_err(|e| ServiceError::Internal(format!("transaction index: {e}")))?;
    Ok(TransactionStatusView {
        tx_id: tx_id.to_string(),
        status: if location.is_some() {
            "committed"
        } else {
            "not_committed"
        },
        block_number: location.map(|l| l.block),
        tx_index: location.map(|l| l.index),
        validation_code: location.map(|l| l.code.as_str().to_owned()),
    })
}

fn transaction_of(
    peer: &Peer,
    tx_id: &str,
    tree_size: Option<u64>,
    envelope_readable: bool,
) -> Result<TransactionView, ServiceError> {
    let tx_id: TxId = tx_id.parse().map_err(|_| {
        ServiceError::BadRequest(format!(
            "{tx_id:?} is not a transaction id (64 hexadecimal digits)"
        ))
    })?;
    let transaction = peer
        .transaction(&tx_id)
        .map_err(internal)?
        .ok_or_else(|| ServiceError::NotFound(format!("no committed transaction {tx_id}")))?;
    let inclusion = peer
        .inclusion_proof(transaction.leaf_index, tree_size)
        .map_err(internal)?
        .map_err(bad_proof_request)?;
    let decoded = decode_envelope(&transaction.envelope);
    let signer = decoded.as_ref().and_then(|(_, proposal)| {
        let der = creator_certificate(peer, proposal)?;
        let certificate = medledger_crypto::x509::parse_certificate(&der).ok()?;
        Some(SignerView {
            org: certificate.msp_id,
            role: certificate.role.map(|role| role.as_str().to_owned()),
            name: certificate.name,
            certificate: BASE64.encode(&der),
        })
    });
    let location = transaction.location;
    Ok(TransactionView {
        tx_id: tx_id.to_string(),
        block_number: location.block,
        tx_index: location.index,
        validation_code: location.code.as_str().to_owned(),
        block_timestamp: rfc3339(transaction.block_timestamp_ms),
        block_timestamp_ms: transaction.block_timestamp_ms,
        signer,
        channel: decoded.as_ref().map(|(_, p)| p.channel.clone()),
        contract: decoded.as_ref().map(|(_, p)| p.contract.clone()),
        function: decoded.as_ref().map(|(_, p)| p.function.clone()),
        envelope: envelope_readable.then(|| BASE64.encode(&transaction.envelope)),
        inclusion_proof: InclusionProofView {
            leaf_index: inclusion.leaf_index,
            tree_size: inclusion.tree_size,
            leaf_hash: inclusion.leaf_hash.to_hex(),
            audit_path: hexes(&inclusion.path),
            root: inclusion.root.to_hex(),
        },
    })
}

/// The node's current signed checkpoint (what `GET /ledger/checkpoint` answers; shared with the web
/// explorer).
pub async fn checkpoint(state: &AppState) -> Result<CheckpointView, ServiceError> {
    let signed = state
        .with_peer(|peer| peer.checkpoint())
        .await?
        .map_err(internal)?;
    let checkpoint: Checkpoint = codec::decode("checkpoint", &signed.checkpoint, 1024)
        .map_err(|e| ServiceError::Internal(format!("this node's own checkpoint: {e}")))?;
    Ok(CheckpointView {
        channel: checkpoint.channel,
        block_number: checkpoint.block_number,
        tree_size: checkpoint.tree_size,
        root: checkpoint.root.to_hex(),
        timestamp: rfc3339(checkpoint.timestamp_ms),
        timestamp_ms: checkpoint.timestamp_ms,
        checkpoint: BASE64.encode(&signed.checkpoint),
        signature: hex::encode(signed.signature.0),
        signer_certificate: BASE64.encode(&signed.signer),
    })
}

/// The channel's organizations' root certificates, from the peer's channel configuration: what
/// `GET /ledger/roots` answers, shared with the web explorer (the browser checks the checkpoint signer's
/// certificate against them). Outcomes: the roots (a channel has at least one organization).
pub async fn roots(state: &AppState) -> Result<RootsView, ServiceError> {
    state
        .with_peer(|peer| {
            let channel = peer.channel();
            RootsView {
                channel: channel.config.channel.clone(),
                organizations: channel
                    .config
                    .orgs
                    .iter()
                    .map(|org| OrganizationRootView {
                        msp_id: org.msp_id.clone(),
                        certificate: BASE64.encode(&org.root_certificate),
                        fingerprint: medledger_crypto::sha256(&org.root_certificate).to_hex(),
                    })
                    .collect(),
            }
        })
        .await
}

/// A consistency proof from the tree of `from` leaves to the tree of `to` (default: the current size):
/// what `GET /ledger/consistency` answers. Outcomes: the proof; 400 for `from` after `to`; 404 for a
/// size beyond the ledger's.
pub async fn consistency(
    state: &AppState,
    from: u64,
    to: Option<u64>,
) -> Result<ConsistencyView, ServiceError> {
    state
        .with_peer(move |peer| consistency_of(peer, from, to))
        .await?
}

fn consistency_of(
    peer: &Peer,
    from: u64,
    to: Option<u64>,
) -> Result<ConsistencyView, ServiceError> {
    let to = match to {
        Some(to) => to,
        None => {
            let size = peer.tree_head().0;
            if from > size {
                // With `to` left out, `from` beyond the ledger is not a bad range: there is no such tree.
                return Err(bad_proof_request(ProofRequestError::BeyondHead {
                    requested: from,
                    current: size,
                }));
            }
            size
        }
    };
    let proof = peer
        .consistency_proof(from, to)
        .map_err(internal)?
        .map_err(bad_proof_request)?;
    Ok(ConsistencyView {
        from,
        to,
        from_root: peer.root_at(from).map_err(internal)?.to_hex(),
        to_root: peer.root_at(to).map_err(internal)?.to_hex(),
        proof: hexes(&proof),
    })
}

#[cfg(test)]
mod tests {
    use medledger_types::ValidationCode;

    use super::*;

    #[test]
    fn only_roles_that_read_every_record_in_full_read_envelopes() {
        for role in Role::ALL {
            assert_eq!(may_read_envelopes(role), role == Role::Doctor, "{role}");
        }
    }

    #[test]
    fn an_entry_that_is_not_an_envelope_has_no_id() {
        assert!(decode_envelope(b"not an envelope").is_none());
        assert_eq!(ValidationCode::Valid.as_str(), "valid");
    }
}
