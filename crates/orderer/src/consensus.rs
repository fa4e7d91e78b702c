//! The consensus interface, and Solo, its one-node implementation.
//!
//! The orderer hands every assembled block to [`Consensus::replicate`]. An implementation's obligation: once
//! `replicate` returns `Ok`, the block will be delivered to the node's peer, after every earlier block and
//! exactly once, unless the whole node stops (then nothing acknowledged to a client depends on it: clients
//! are answered only after their peer commits). The multi-node issue implements this with openraft: the
//! leader's block becomes a Raft log entry and every member's state machine delivers it.

use std::sync::mpsc::SyncSender;

use medledger_types::Block;

use crate::OrdererError;

/// Agrees on the order of blocks and delivers them.
pub trait Consensus: Send {
    /// Replicates `block`. See the module doc for the obligation that `Ok` carries.
    fn replicate(&mut self, block: Block) -> Result<(), OrdererError>;
}

/// Consensus of one: blocks are delivered straight to the local peer through a bounded channel, so a slow
/// peer slows the orderer down instead of letting blocks pile up in memory.
#[derive(Debug)]
pub struct Solo {
    deliver: SyncSender<Block>,
}

impl Solo {
    pub fn new(deliver: SyncSender<Block>) -> Self {
        Solo { deliver }
    }
}

impl Consensus for Solo {
    fn replicate(&mut self, block: Block) -> Result<(), OrdererError> {
        self.deliver
            .send(block)
            .map_err(|_| OrdererError::ConsensusStopped("the peer stopped receiving blocks".into()))
    }
}
