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

mod ahead;
pub mod channel;
pub mod endorse;
pub mod ledger;
pub mod validate;
pub mod verify;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use medledger_contract::runtime::Contract;
use medledger_crypto::keys::SigningKey;
use medledger_crypto::merkle::Frontier;
use medledger_crypto::verified::VerifiedSignatures;
use medledger_store::{Store, StoreError};
use medledger_types::{Block, Clock, Hash, IdentityRef, TxId, TxLocation, ValidationCode};
use tokio::sync::oneshot;

pub use channel::ChannelState;
pub use endorse::{EndorseError, Endorsed, Evaluated};
pub use ledger::{CommittedTransaction, InclusionProof, ProofRequestError};
pub use validate::{BlockError, StoreState, ValidatedBlock};

/// Most transactions that may be awaited at once; beyond it `subscribe` refuses.
pub const WAITERS_COUNT_MAX: usize = 64 * 1024;
/// Most certificate hashes [`Peer::identity_ref`] remembers as on the ledger; the set is cleared when
/// full (a signer then carries its certificate whole once more).
pub const KNOWN_CERTIFICATES_COUNT_MAX: usize = 10_000;

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
    /// The peer stopped committing ([`Peer::abandon_waiters`]): no status will come.
    #[error("the peer stopped committing: {0}")]
    Stopped(String),
}

/// Names one waiter, so that [`Peer::unsubscribe`] removes that one and no other waiting on the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId(u64);

/// Why a waiter hears no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The committer stopped ([`Peer::abandon_waiters`]); the reason it gave.
    #[error("the peer stopped committing: {0}")]
    Stopped(String),
}

/// What a waiter hears, once: the status of the occurrence of its transaction that counts, or why none
/// will come.
pub type WaitOutcome = Result<TxStatus, WaitError>;

/// A waiter registered by [`Peer::subscribe`]: its id (for [`Peer::unsubscribe`]) and where it hears.
#[derive(Debug)]
pub struct Subscription {
    pub waiter: WaiterId,
    pub receiver: oneshot::Receiver<WaitOutcome>,
}

/// One caller waiting for one transaction id.
#[derive(Debug)]
struct Waiter {
    id: WaiterId,
    /// SHA-256 of the entry the caller submitted: an invalid occurrence of the id with other bytes (a
    /// forged or mangled copy) is not this caller's verdict.
    entry_hash: Hash,
    sender: oneshot::Sender<WaitOutcome>,
}

/// Everyone waiting for a commit status, and whether any status can still come.
#[derive(Debug, Default)]
struct Waiters {
    by_tx: HashMap<TxId, Vec<Waiter>>,
    /// Waiters in `by_tx`, at most [`WAITERS_COUNT_MAX`].
    count: usize,
    next_id: u64,
    /// Set once by [`Peer::abandon_waiters`]: from then on `subscribe` refuses.
    stopped: Option<String>,
}

impl Waiters {
    /// Removes and returns the waiters of `tx_id` that `picks` chooses.
    fn take(&mut self, tx_id: &TxId, picks: impl Fn(&Waiter) -> bool) -> Vec<Waiter> {
        let Some(list) = self.by_tx.get_mut(tx_id) else {
            return Vec::new();
        };
        let (taken, kept): (Vec<Waiter>, Vec<Waiter>) = list.drain(..).partition(|w| picks(w));
        self.count -= taken.len();
        if kept.is_empty() {
            self.by_tx.remove(tx_id);
        } else {
            *list = kept;
        }
        taken
    }

    /// Sends `status` to the waiters of its id that `hears` picks, and forgets them.
    fn wake(&mut self, status: TxStatus, hears: impl Fn(&Waiter) -> bool) {
        for waiter in self.take(&status.tx_id, hears) {
            // A receiver dropped by a caller that gave up is not an error.
            let _ = waiter.sender.send(Ok(status));
        }
    }
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
    waiters: Mutex<Waiters>,
    /// The time endorsements judge certificate validity at.
    clock: Clock,
    /// Signatures this node has verified or made: validation does not check them again.
    verified: Arc<VerifiedSignatures>,
    /// The public half of this peer's endorsing key.
    own_key: medledger_crypto::keys::PublicKey,
    /// Hashes of certificates in the ledger's certificate table: those it held when the peer opened
    /// and those committed since (at most [`KNOWN_CERTIFICATES_COUNT_MAX`]).
    known_certificates: Mutex<HashSet<Hash>>,
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
        let identity_key = identity.key.public_key();
        let (tip, channel) = committed_view(store.as_ref())?;
        // The certificates already on the ledger, up to the set's bound: a restarted peer names them
        // by hash at once.
        let known_certificates = store
            .certificates(None, KNOWN_CERTIFICATES_COUNT_MAX)?
            .into_iter()
            .map(|(hash, _)| hash)
            .collect();
        Ok(Peer {
            store,
            contract,
            identity,
            channel: RwLock::new(Arc::new(channel)),
            tip: Mutex::new(tip),
            waiters: Mutex::new(Waiters::default()),
            clock,
            verified: Arc::new(VerifiedSignatures::default()),
            own_key: identity_key,
            known_certificates: Mutex::new(known_certificates),
        })
    }

    /// After a failed commit: has the store recover ([`Store::recover`]) and reads the chain's tip and
    /// the channel back from what is durable, which may or may not include the block whose commit
    /// failed (a failed final sync can leave either). Returns the height. The committer calls it before
    /// trying the block again, or moving past it if it turned out committed.
    pub fn recover_store(&self) -> Result<u64, PeerError> {
        self.store.recover()?;
        let (tip, channel) = committed_view(self.store.as_ref())?;
        let height = tip.height;
        let mut current = self.lock_tip();
        *current = tip;
        *self.channel.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(channel);
        drop(current);
        Ok(height)
    }

    /// The signatures this node has verified or made (give it to the node's orderer, so that its header
    /// signatures are known too).
    pub fn verified_signatures(&self) -> Arc<VerifiedSignatures> {
        Arc::clone(&self.verified)
    }

    /// How a transaction should name the certificate `der`: by hash if this peer knows it is committed
    /// (so every validator can resolve it), else whole. Reads no store: it may run on an async worker.
    /// A certificate carried whole again (one the bounded set forgot) is harmless.
    pub fn identity_ref(&self, der: &[u8]) -> IdentityRef {
        let hash = medledger_crypto::sha256(der);
        let known = self
            .known_certificates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&hash);
        if known {
            IdentityRef::Known(hash)
        } else {
            IdentityRef::Certificate(der.to_vec())
        }
    }

    /// Remembers certificates a committed block put on the ledger (see [`Peer::identity_ref`]).
    fn remember_certificates(&self, hashes: &[Hash]) {
        let mut known = self
            .known_certificates
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for hash in hashes {
            if known.len() >= KNOWN_CERTIFICATES_COUNT_MAX {
                known.clear();
            }
            known.insert(*hash);
        }
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
            &self.verified,
        )?)
    }

    /// Writes a validated block durably, then reports each transaction's status to its waiters.
    ///
    /// A waiter hears the occurrence of its id that counts: a valid one, if the block has one (whatever
    /// entry the waiter submitted: the transaction took effect); otherwise the occurrence whose bytes are
    /// the entry it submitted. An invalid occurrence with other bytes (a forged copy ordered before the
    /// genuine one, in this block or an earlier one) wakes nobody, so the genuine one's verdict is heard.
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
        // The invalid occurrences, with the hash of their bytes: the entry a waiter must have submitted
        // to hear one of them.
        let invalid: Vec<(TxStatus, Hash)> = validated
            .occurrences()
            .iter()
            .filter(|o| !o.code.is_valid())
            .filter_map(|o| {
                let entry = validated.block().data.entries.get(o.index as usize)?;
                Some((*o, medledger_crypto::sha256(entry)))
            })
            .collect();
        let certificates = validated.certificate_hashes().to_vec();
        let (commit, new_channel) = validated.into_parts();
        self.store.commit(commit)?;
        self.remember_certificates(&certificates);
        *tip = new_tip;
        if let Some(channel) = new_channel {
            *self.channel.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(channel);
        }
        drop(tip);
        let mut waiters = self.lock_waiters();
        for status in statuses.iter().filter(|s| s.code.is_valid()) {
            waiters.wake(*status, |_| true);
        }
        for (status, entry_hash) in invalid {
            waiters.wake(status, |w| w.entry_hash == entry_hash);
        }
        Ok(())
    }

    /// Validates and commits in one step.
    pub fn deliver(&self, block: &Block) -> Result<(), PeerError> {
        let validated = self.validate(block)?;
        self.commit(validated)
    }

    /// Registers a waiter for the commit status of `tx_id`, whose entry (the encoded envelope as
    /// submitted to the orderer) hashes to `entry_hash`. Subscribe before submitting. Outcomes:
    /// - the id has already committed valid, or the committed occurrence is this very entry: the status is
    ///   sent at once;
    /// - otherwise the waiter hears, once, what [`Peer::commit`] decides it hears, or that the peer
    ///   stopped ([`Peer::abandon_waiters`]);
    /// - `Err(Stopped)` if the peer has already stopped; `Err(TooManyWaiters)` beyond
    ///   [`WAITERS_COUNT_MAX`]; `Err(Store)` if the transaction index cannot be read.
    pub fn subscribe(&self, tx_id: TxId, entry_hash: Hash) -> Result<Subscription, PeerError> {
        let (sender, receiver) = oneshot::channel();
        let mut waiters = self.lock_waiters();
        if let Some(reason) = &waiters.stopped {
            return Err(PeerError::Stopped(reason.clone()));
        }
        waiters.next_id += 1;
        let id = WaiterId(waiters.next_id);
        if let Some(TxLocation { block, index, code }) = self.store.tx_location(&tx_id)? {
            let status = TxStatus {
                tx_id,
                block,
                index,
                code,
            };
            if code.is_valid() || self.entry_hash_at(block, index)? == Some(entry_hash) {
                let _ = sender.send(Ok(status));
                return Ok(Subscription {
                    waiter: id,
                    receiver,
                });
            }
        }
        if waiters.count >= WAITERS_COUNT_MAX {
            return Err(PeerError::TooManyWaiters);
        }
        waiters.count += 1;
        waiters.by_tx.entry(tx_id).or_default().push(Waiter {
            id,
            entry_hash,
            sender,
        });
        Ok(Subscription {
            waiter: id,
            receiver,
        })
    }

    /// The hash of the committed entry at `index` of block `number`, if there is one.
    fn entry_hash_at(&self, number: u64, index: u32) -> Result<Option<Hash>, PeerError> {
        Ok(self.store.block(number)?.and_then(|block| {
            block
                .data
                .entries
                .get(index as usize)
                .map(|entry| medledger_crypto::sha256(entry))
        }))
    }

    /// The committer stopped: every waiter hears at once `Err(WaitError::Stopped(reason))`, and later
    /// `subscribe` calls are refused with the same reason. Calling it again changes nothing.
    pub fn abandon_waiters(&self, reason: &str) {
        let mut waiters = self.lock_waiters();
        if waiters.stopped.is_some() {
            return;
        }
        waiters.stopped = Some(reason.to_owned());
        let outcome = Err(WaitError::Stopped(reason.to_owned()));
        for (_, list) in waiters.by_tx.drain() {
            for waiter in list {
                let _ = waiter.sender.send(outcome.clone());
            }
        }
        waiters.count = 0;
    }

    /// Forgets one waiter (after its caller gave up waiting); the others waiting on the same id stay.
    /// Unknown pairs (already woken, or never registered) are ignored.
    pub fn unsubscribe(&self, tx_id: &TxId, waiter: WaiterId) {
        // Dropping the sender closes the channel of a receiver nobody reads any more.
        drop(self.lock_waiters().take(tx_id, |w| w.id == waiter));
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The chain's tip and the channel as the store's committed blocks leave them.
fn committed_view(store: &dyn Store) -> Result<(Tip, ChannelState), PeerError> {
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
    let frontier = Frontier::from_source(store.merkle_size()?, &validate::StoreNodes(store))
        .map_err(|e| {
            PeerError::Store(StoreError::Corrupted {
                what: "merkle tree".into(),
                detail: e.to_string(),
            })
        })?;
    Ok((
        Tip {
            height,
            last_hash,
            frontier,
            last_timestamp_ms,
        },
        channel,
    ))
}
