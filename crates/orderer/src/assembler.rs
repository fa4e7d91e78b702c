//! Block assembly: turns a batch of entries into the next block of the chain.
//!
//! The assembler owns the chain tip as the orderer sees it: the next block number, the previous block's
//! hash and the frontier of the ledger-wide Merkle tree. It computes the block's own Merkle root, appends
//! every entry to the ledger-wide tree, and signs the header hash with the orderer's key. Peers recompute
//! all of it and refuse a block that disagrees, so a lying orderer is caught, not trusted.

use medledger_crypto::keys::SigningKey;
use medledger_crypto::merkle::{self, Frontier};
use medledger_crypto::verified::VerifiedSignatures;
use medledger_types::{
    Block, BlockData, BlockHeader, BlockMetadata, ChannelConfig, FORMAT_VERSION, Hash,
    OrdererSignature, codec,
};

/// The orderer's signing identity: its key and the certificate (DER) that names it.
pub struct OrdererIdentity {
    pub key: SigningKey,
    pub certificate: Vec<u8>,
}

impl std::fmt::Debug for OrdererIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrdererIdentity")
            .field("certificate_bytes", &self.certificate.len())
            .finish()
    }
}

/// Builds and signs the blocks of one chain, in order.
#[derive(Debug)]
pub struct BlockAssembler {
    identity: OrdererIdentity,
    next_number: u64,
    previous_hash: Hash,
    frontier: Frontier,
    last_timestamp_ms: i64,
    /// Where the header signatures it makes are remembered, when the node's peer is told of them.
    verified: Option<(
        std::sync::Arc<VerifiedSignatures>,
        medledger_crypto::keys::PublicKey,
    )>,
}

impl BlockAssembler {
    /// Starts a new chain: block 0 holds the channel configuration as its only entry.
    pub fn genesis(
        config: &ChannelConfig,
        identity: OrdererIdentity,
        timestamp_ms: i64,
    ) -> (Block, BlockAssembler) {
        let mut assembler = BlockAssembler {
            identity,
            next_number: 0,
            previous_hash: Hash::ZERO,
            frontier: Frontier::new(),
            last_timestamp_ms: i64::MIN,
            verified: None,
        };
        let block = assembler.assemble(vec![codec::encode(config)], timestamp_ms);
        (block, assembler)
    }

    /// Continues an existing chain whose last block is `next_number - 1` with hash `previous_hash`, and whose
    /// ledger-wide tree is `frontier`.
    pub fn resume(
        identity: OrdererIdentity,
        next_number: u64,
        previous_hash: Hash,
        frontier: Frontier,
        last_timestamp_ms: i64,
    ) -> BlockAssembler {
        BlockAssembler {
            identity,
            next_number,
            previous_hash,
            frontier,
            last_timestamp_ms,
            verified: None,
        }
    }

    /// Remembers each header signature it makes in `verified`, the set the node's own peer consults, so
    /// that the peer does not verify again what its own orderer signed.
    pub fn remembering_signatures_in(
        mut self,
        verified: std::sync::Arc<VerifiedSignatures>,
    ) -> Self {
        self.verified = Some((verified, self.identity.key.public_key()));
        self
    }

    pub fn next_number(&self) -> u64 {
        self.next_number
    }

    /// The next block, over `entries`. Timestamps never go backwards, even if the clock does.
    pub fn assemble(&mut self, entries: Vec<Vec<u8>>, timestamp_ms: i64) -> Block {
        let timestamp_ms = timestamp_ms.max(self.last_timestamp_ms);
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let data_hash = merkle::root_of(&leaves);
        for leaf in &leaves {
            self.frontier.append(*leaf);
        }
        let header = BlockHeader {
            format_version: FORMAT_VERSION,
            number: self.next_number,
            previous_hash: self.previous_hash,
            data_hash,
            ledger_root: self.frontier.root(),
            ledger_size: self.frontier.size(),
            timestamp_ms,
        };
        let hash = medledger_crypto::header_hash(&header);
        let signature = self.identity.key.sign(&hash.0);
        if let Some((verified, key)) = &self.verified {
            verified.made(&hash.0, &signature, key);
        }
        self.next_number += 1;
        self.previous_hash = hash;
        self.last_timestamp_ms = timestamp_ms;
        Block {
            header,
            data: BlockData { entries },
            metadata: BlockMetadata {
                orderer_signature: OrdererSignature {
                    // By hash: the certificate itself is in the channel configuration.
                    orderer: medledger_crypto::sha256(&self.identity.certificate),
                    signature,
                },
                validation_codes: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> OrdererIdentity {
        OrdererIdentity {
            key: SigningKey::from_seed(&[7; 32]),
            certificate: vec![1, 2, 3],
        }
    }

    fn config() -> ChannelConfig {
        ChannelConfig {
            format_version: FORMAT_VERSION,
            channel: "ehr".into(),
            orgs: vec![],
            orderers: vec![],
            contract: "ehr".into(),
            endorsement_policy: "OR('Org1.peer')".into(),
            batch: Default::default(),
            proposal_window_ms: medledger_types::limits::PROPOSAL_WINDOW_MS_DEFAULT,
        }
    }

    #[test]
    fn blocks_link_and_the_ledger_tree_spans_every_entry() {
        let (genesis, mut assembler) = BlockAssembler::genesis(&config(), identity(), 1000);
        assert_eq!(genesis.header.number, 0);
        assert_eq!(genesis.header.previous_hash, Hash::ZERO);
        assert_eq!(genesis.header.ledger_size, 1);
        let b1 = assembler.assemble(vec![b"a".to_vec(), b"b".to_vec()], 2000);
        let b2 = assembler.assemble(vec![b"c".to_vec()], 1500);
        assert_eq!(
            b1.header.previous_hash,
            medledger_crypto::header_hash(&genesis.header)
        );
        assert_eq!(
            b2.header.previous_hash,
            medledger_crypto::header_hash(&b1.header)
        );
        assert_eq!(b2.header.number, 2);
        assert_eq!(
            b2.header.timestamp_ms, 2000,
            "timestamps never go backwards"
        );
        let all: Vec<Hash> = [
            codec::encode(&config()),
            b"a".to_vec(),
            b"b".to_vec(),
            b"c".to_vec(),
        ]
        .iter()
        .map(|e| merkle::leaf_hash(e))
        .collect();
        assert_eq!(b2.header.ledger_size, 4);
        assert_eq!(b2.header.ledger_root, merkle::root_of(&all));
        assert_eq!(b1.header.data_hash, merkle::root_of(&all[1..3]));
    }

    #[test]
    fn the_header_hash_is_signed_by_the_orderer() {
        let (genesis, _) = BlockAssembler::genesis(&config(), identity(), 1);
        let hash = medledger_crypto::header_hash(&genesis.header);
        let public = identity().key.public_key();
        assert!(
            public
                .verify(&hash.0, &genesis.metadata.orderer_signature.signature)
                .is_ok()
        );
        assert!(
            public
                .verify(&[0; 32], &genesis.metadata.orderer_signature.signature)
                .is_err()
        );
    }
}
