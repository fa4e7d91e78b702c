//! The ordering service: it takes endorsed envelopes, cuts them into batches by count, bytes and time,
//! assembles each batch into a signed block that extends the chain, and hands blocks to consensus, which
//! delivers them, in order and exactly once, to the node's peer.
//!
//! - [`cutter`]: the pure block-cutting rules (count, bytes; the timeout is the service loop's).
//! - [`assembler`]: numbering, hash links, Merkle roots (per block and ledger-wide), the orderer signature.
//! - [`consensus`]: the interface consensus implementations fill; [`consensus::Solo`] for one node. The
//!   multi-node issue adds an openraft implementation behind the same trait.
//! - [`service`]: the thread that drives the three.
//!
//! Architecture invariant: this is the only crate that will know the Raft library's types. It does not
//! validate transactions (peers do) and it never looks inside an envelope beyond its length.

pub mod assembler;
pub mod consensus;
pub mod cutter;
pub mod service;

pub use assembler::BlockAssembler;
pub use consensus::{Consensus, Solo};
pub use cutter::BlockCutter;
pub use service::{OrdererHandle, SubmitError};

/// The ordering service cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum OrdererError {
    /// Consensus could not replicate a block (for Solo: the receiving peer has gone away).
    #[error("consensus stopped: {0}")]
    ConsensusStopped(String),
}
