//! Reading the ledger as an auditor would: a committed transaction with its envelope, its inclusion proof
//! in the ledger-wide Merkle tree, the signed checkpoint of the tree's head, and consistency proofs
//! between two heads. Everything here reads committed data only.

use medledger_crypto::merkle::{self, NodeSource};
use medledger_store::StoreError;
use medledger_types::{
    Block, Checkpoint, FORMAT_VERSION, Hash, SignedCheckpoint, TxId, TxLocation, codec,
};

use crate::validate::StoreNodes;
use crate::{Peer, PeerError};

/// A committed transaction as stored.
#[derive(Debug, Clone)]
pub struct CommittedTransaction {
    pub location: TxLocation,
    /// The envelope's canonical bytes, exactly as ordered (the Merkle leaf input).
    pub envelope: Vec<u8>,
    /// Index of the envelope among all ledger entries (the leaf index in the ledger-wide tree).
    pub leaf_index: u64,
    pub block_timestamp_ms: i64,
}

/// An RFC 9162 inclusion proof of one entry in the ledger-wide tree of a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    /// Sibling hashes, nearest the leaf first.
    pub path: Vec<Hash>,
    pub root: Hash,
}

/// A request the ledger cannot answer as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofRequestError {
    #[error("tree size {requested} is beyond the ledger's {current}")]
    BeyondHead { requested: u64, current: u64 },
    #[error("consistency needs 0 < from <= to (got from {from}, to {to})")]
    BadRange { from: u64, to: u64 },
    #[error("the transaction is not in the first {tree_size} entries")]
    NotInTree { tree_size: u64 },
}

fn corrupted(what: &str, detail: impl std::fmt::Display) -> PeerError {
    PeerError::Store(StoreError::Corrupted {
        what: what.into(),
        detail: detail.to_string(),
    })
}

impl Peer {
    /// The block, if committed.
    pub fn block(&self, number: u64) -> Result<Option<Block>, PeerError> {
        Ok(self.store.block(number)?)
    }

    /// A committed transaction by id.
    pub fn transaction(&self, tx_id: &TxId) -> Result<Option<CommittedTransaction>, PeerError> {
        let Some(location) = self.store.tx_location(tx_id)? else {
            return Ok(None);
        };
        let block = self.store.block(location.block)?.ok_or_else(|| {
            corrupted(
                "tx index",
                format!(
                    "{tx_id} points at block {}, which is missing",
                    location.block
                ),
            )
        })?;
        let count = block.data.entries.len() as u64;
        let envelope = block
            .data
            .entries
            .get(location.index as usize)
            .cloned()
            .ok_or_else(|| {
                corrupted(
                    "tx index",
                    format!("{tx_id} points past the end of block {}", location.block),
                )
            })?;
        let first_leaf = block.header.ledger_size.checked_sub(count).ok_or_else(|| {
            corrupted(
                &format!("block {}", location.block),
                "ledger size smaller than its entry count",
            )
        })?;
        Ok(Some(CommittedTransaction {
            location,
            envelope,
            leaf_index: first_leaf + u64::from(location.index),
            block_timestamp_ms: block.header.timestamp_ms,
        }))
    }

    /// The ledger-wide tree's current size and root.
    pub fn tree_head(&self) -> (u64, Hash) {
        let tip = self.lock_tip();
        (tip.frontier.size(), tip.frontier.root())
    }

    /// The inclusion proof of `leaf_index` in the tree of `tree_size` leaves (the current size if `None`).
    pub fn inclusion_proof(
        &self,
        leaf_index: u64,
        tree_size: Option<u64>,
    ) -> Result<Result<InclusionProof, ProofRequestError>, PeerError> {
        let (current, _) = self.tree_head();
        let tree_size = tree_size.unwrap_or(current);
        if tree_size > current {
            return Ok(Err(ProofRequestError::BeyondHead {
                requested: tree_size,
                current,
            }));
        }
        if leaf_index >= tree_size {
            return Ok(Err(ProofRequestError::NotInTree { tree_size }));
        }
        let nodes = StoreNodes(self.store.as_ref());
        let path = merkle::inclusion_proof(&nodes, leaf_index, tree_size)
            .map_err(|e| corrupted("merkle tree", e))?;
        let root = merkle::root_at(&nodes, tree_size)?;
        let leaf_hash = nodes.perfect_node(0, leaf_index)?;
        Ok(Ok(InclusionProof {
            leaf_index,
            tree_size,
            leaf_hash,
            path,
            root,
        }))
    }

    /// The consistency proof that the tree of `from` leaves is a prefix of the tree of `to` leaves.
    pub fn consistency_proof(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Result<Vec<Hash>, ProofRequestError>, PeerError> {
        let (current, _) = self.tree_head();
        if from == 0 || from > to {
            return Ok(Err(ProofRequestError::BadRange { from, to }));
        }
        if to > current {
            return Ok(Err(ProofRequestError::BeyondHead {
                requested: to,
                current,
            }));
        }
        let nodes = StoreNodes(self.store.as_ref());
        let proof =
            merkle::consistency_proof(&nodes, from, to).map_err(|e| corrupted("merkle tree", e))?;
        Ok(Ok(proof))
    }

    /// The root of the tree of `tree_size` leaves.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, PeerError> {
        Ok(merkle::root_at(
            &StoreNodes(self.store.as_ref()),
            tree_size,
        )?)
    }

    /// The current head of the ledger-wide tree, signed with this peer's key.
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, PeerError> {
        let (height, root, size) = {
            let tip = self.lock_tip();
            (tip.height, tip.frontier.root(), tip.frontier.size())
        };
        let last = self
            .store
            .block(height.saturating_sub(1))?
            .ok_or(PeerError::NoGenesis)?;
        let checkpoint = Checkpoint {
            format_version: FORMAT_VERSION,
            channel: self.channel().config.channel.clone(),
            block_number: last.header.number,
            tree_size: size,
            root,
            timestamp_ms: last.header.timestamp_ms,
        };
        let bytes = codec::encode(&checkpoint);
        let signature = self.identity.key.sign(&bytes);
        Ok(SignedCheckpoint {
            checkpoint: bytes,
            signer: self.identity.certificate.clone(),
            signature,
        })
    }
}
