//! The peer: the part of a node that holds the ledger and the world state.
//!
//! - [`endorse`]: runs a signed proposal through the contract against committed state (read-only), and
//!   signs the resulting read-write set; [`Peer::evaluate`] does the same for queries and signs nothing.
//! - [`validate`]: checks a delivered block (links, Merkle roots, orderer signature) and judges each of its
//!   transactions (certificates and CRLs, signatures batch-verified, endorsement policy, contract refusal,
//!   duplicate id, MVCC read versions), giving each a [`ValidationCode`](medledger_types::ValidationCode).
//! - [`Peer::commit`]: writes a validated block and everything derived from it in one store transaction,
//!   then wakes whoever waits for the commit status of its transactions.
//! - [`verify`]: replays a whole ledger from genesis into a fresh in-memory store with the same validation
//!   code, and compares every code, root and state value with what is stored.
//!
//! Architecture invariant: the peer's state is a pure function of the blocks. Validation reads no clock
//! (certificate validity is judged at the block's timestamp) and depends on nothing outside the chain.

pub mod channel;
pub mod endorse;
pub mod ledger;
pub mod validate;
pub mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use medledger_contract::runtime::Contract;
use medledger_crypto::keys::SigningKey;
use medledger_crypto::merkle::Frontier;
use medledger_store::{Store, StoreError};
use medledger_types::{Block, Clock, Hash, TxId, TxLocation, ValidationCode};
use tokio::sync::oneshot;

pub use channel::ChannelState;
pub use endorse::{EndorseError, Endorsed, Evaluated};
pub use ledger::{CommittedTransaction, InclusionProof, ProofRequestError};
pub use validate::{BlockError, StoreState, ValidatedBlock};

/// Most transactions that may be awaited at once; beyond it `subscribe` refuses.
pub const WAITERS_COUNT_MAX: usize = 64 * 1024;

/// The peer's signing identity.
pub struct PeerIdentity {
    pub key: SigningKey,
    pub certificate: Vec<u8>,
}

impl std::fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerIdentity")
            .field("certificate_bytes", &self.certificate.len())
            .finish()
    }
}

/// The outcome of a committed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStatus {
    pub tx_id: TxId,
    pub block: u64,
    pub index: u32,
    pub code: ValidationCode,
}

/// The peer cannot go on, or was asked something impossible.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("block refused: {0}")]
    Block(#[from] BlockError),
    #[error("the ledger has no genesis block")]
    NoGenesis,
    #[error("too many transactions are being awaited")]
    TooManyWaiters,
}

/// What the peer knows about the chain it has committed: enough to check that a block is the next link,
/// or (for an orderer resuming) to assemble it.
#[derive(Debug, Clone)]
pub struct Tip {
    /// Number of committed blocks: the number of the next block.
    pub height: u64,
    /// The last block's header hash ([`Hash::ZERO`] before genesis).
    pub last_hash: Hash,
    /// The ledger-wide Merkle tree over every entry committed so far.
    pub frontier: Frontier,
    /// The last block's timestamp; the next block may not be dated earlier ([`i64::MIN`] before genesis).
    pub last_timestamp_ms: i64,
}

impl Tip {
    /// Before the genesis block.
    pub(crate) fn empty() -> Tip {
        Tip {
            height: 0,
            last_hash: Hash::ZERO,
            frontier: Frontier::new(),
            last_timestamp_ms: i64::MIN,
        }
    }
}

/// A peer over one store and one channel.
pub struct Peer {
    store: Arc<dyn Store>,
    contract: Arc<dyn Contract>,
    identity: PeerIdentity,
    channel: RwLock<Arc<ChannelState>>,
    tip: Mutex<Tip>,
    waiters: Mutex<HashMap<TxId, Vec<oneshot::Sender<TxStatus>>>>,
    /// The time endorsements judge certificate validity at.
    clock: Clock,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Opens a peer over a store that already holds the genesis block.
    pub fn open(
        store: Arc<dyn Store>,
        contract: Arc<dyn Contract>,
        identity: PeerIdentity,
        clock: Clock,
    ) -> Result<Peer, PeerError> {
        let height = store.height()?;
        if height == 0 {
            return Err(PeerError::NoGenesis);
        }
        let genesis = store.block(0)?.ok_or(PeerError::NoGenesis)?;
        let channel = match store.get(medledger_types::CONFIG_KEY)? {
            // The genesis configuration until the first update; then the latest update, judged as it
            // was when committed (at its block's time).
            None => ChannelState::from_genesis(&genesis)
                .map_err(|e| PeerError::Block(BlockError::Genesis(e)))?,
            Some(current) => {
                let corrupted = |detail: String| {
                    PeerError::Store(StoreError::Corrupted {
                        what: "channel configuration".into(),
                        detail,
                    })
                };
                let config = medledger_types::codec::decode(
                    "channel config",
                    &current.value,
                    medledger_types::limits::VALUE_BYTES_MAX,
                )
                .map_err(|e| corrupted(e.to_string()))?;
                let at = store
                    .block(current.version.block)?
                    .ok_or(PeerError::NoGenesis)?
                    .header
                    .timestamp_ms;
                ChannelState::new(config, at).map_err(|e| corrupted(e.to_string()))?
            }
        };
        let last_hash = store.header_hash(height - 1)?.ok_or(PeerError::NoGenesis)?;
        let last_timestamp_ms = store
            .block(height - 1)?
            .ok_or(PeerError::NoGenesis)?
            .header
            .timestamp_ms;
        let frontier =
            Frontier::from_source(store.merkle_size()?, &validate::StoreNodes(store.as_ref()))
                .map_err(|e| {
                    PeerError::Store(StoreError::Corrupted {
                        what: "merkle tree".into(),
                        detail: e.to_string(),
                    })
                })?;
        Ok(Peer {
            store,
            contract,
            identity,
            channel: RwLock::new(Arc::new(channel)),
            tip: Mutex::new(Tip {
                height,
                last_hash,
                frontier,
                last_timestamp_ms,
            }),
            waiters: Mutex::new(HashMap::new()),
            clock,
        })
    }

    /// Validates and commits the genesis block into an empty store.
    pub fn bootstrap(store: &dyn Store, genesis: &Block) -> Result<(), PeerError> {
        let validated = validate::validate_genesis(store, &Tip::empty(), genesis)?;
        store.commit(validated.into_commit())?;
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn channel(&self) -> Arc<ChannelState> {
        Arc::clone(&self.channel.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Number of committed blocks.
    pub fn height(&self) -> u64 {
        self.lock_tip().height
    }

    /// The committed chain's tip. The last block's timestamp is read back from the store, so a store that
    /// cannot return the last block is an error.
    pub fn tip(&self) -> Result<Tip, PeerError> {
        let tip = self.lock_tip().clone();
        let last = self
            .store
            .block(tip.height.saturating_sub(1))?
            .ok_or(PeerError::NoGenesis)?;
        Ok(Tip {
            last_timestamp_ms: last.header.timestamp_ms,
            ..tip
        })
    }

    fn lock_tip(&self) -> std::sync::MutexGuard<'_, Tip> {
        self.tip.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a delivered block against the committed chain and judges its transactions.
    pub fn validate(&self, block: &Block) -> Result<ValidatedBlock, PeerError> {
        let tip = self.lock_tip().clone();
        let channel = self.channel();
        Ok(validate::validate_block(
            &channel,
            self.store.as_ref(),
            &tip,
            block,
        )?)
    }

    /// Writes a validated block durably, then reports each transaction's status to its waiters.
    pub fn commit(&self, validated: ValidatedBlock) -> Result<(), PeerError> {
        let mut tip = self.lock_tip();
        if validated.number() != tip.height {
            return Err(PeerError::Block(BlockError::WrongNumber {
                expected: tip.height,
                got: validated.number(),
            }));
        }
        let new_tip = validated.tip_after().clone();
        let statuses = validated.statuses();
        let (commit, new_channel) = validated.into_parts();
        self.store.commit(commit)?;
        *tip = new_tip;
        if let Some(channel) = new_channel {
            *self.channel.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(channel);
        }
        drop(tip);
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for status in statuses {
            if let Some(senders) = waiters.remove(&status.tx_id) {
                for sender in senders {
                    let _ = sender.send(status);
                }
            }
        }
        Ok(())
    }

    /// Validates and commits in one step.
    pub fn deliver(&self, block: &Block) -> Result<(), PeerError> {
        let validated = self.validate(block)?;
        self.commit(validated)
    }

    /// Returns a receiver that gets the transaction's status once it commits. Subscribe before submitting:
    /// if the transaction has already committed, the status is sent at once.
    pub fn subscribe(&self, tx_id: TxId) -> Result<oneshot::Receiver<TxStatus>, PeerError> {
        let (sender, receiver) = oneshot::channel();
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(TxLocation { block, index, code }) = self.store.tx_location(&tx_id)? {
            let _ = sender.send(TxStatus {
                tx_id,
                block,
                index,
                code,
            });
            return Ok(receiver);
        }
        if waiters.len() >= WAITERS_COUNT_MAX {
            return Err(PeerError::TooManyWaiters);
        }
        waiters.entry(tx_id).or_default().push(sender);
        Ok(receiver)
    }

    /// Drops every waiter: their receivers see the channel closed at once instead of waiting for a commit
    /// that will not come (the node stopped committing).
    pub fn abandon_waiters(&self) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Forgets the waiters of a transaction (after a caller gave up waiting).
    pub fn unsubscribe(&self, tx_id: &TxId) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tx_id);
    }
}
