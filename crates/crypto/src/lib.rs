//! Cryptography for medledger: hashing, Ed25519 keys and signatures, X.509 identities issued by
//! organization CAs and validated by the MSP (with CRLs), Fabric-syntax endorsement policies, and
//! RFC 6962 Merkle trees with inclusion and consistency proofs.
//!
//! Architecture invariant: nothing here does I/O or keeps global state; callers own keys and trees.

pub mod keys;
pub mod merkle;
pub mod msp;
pub mod policy;
pub mod verified;
pub mod x509;

use medledger_types::{Hash, TxId};
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Hash(Sha256::digest(bytes).into())
}

/// A transaction's id: SHA-256 of its proposal's canonical bytes.
pub fn tx_id(proposal_bytes: &[u8]) -> TxId {
    TxId(sha256(proposal_bytes))
}

/// A block header's hash: SHA-256 of its canonical bytes.
pub fn header_hash(header: &medledger_types::BlockHeader) -> Hash {
    sha256(&medledger_types::codec::encode(header))
}
