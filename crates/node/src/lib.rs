//! A running medledger node: one process holding a peer and an orderer for one organization, over one
//! data directory.
//!
//! [`init::init`] creates a network on first run; [`Node::start`] opens the ledger, resumes the orderer at
//! the chain's tip and starts the committer thread that validates and commits each block the orderer
//! delivers. [`Node::invoke`] is the whole write path for one signed request — endorse, assemble, order,
//! wait for the commit status — and [`Node::query`] the read path. The gateway calls these for each
//! logged-in person.
//!
//! Architecture invariant: the node wires roles together and owns threads and files; it makes no
//! validation decision of its own (the peer does) and knows nothing of HTTP.

pub mod client;
pub mod files;
pub mod init;

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use medledger_orderer::assembler::OrdererIdentity;
use medledger_orderer::{BlockAssembler, OrdererHandle, Solo, SubmitError};
use medledger_peer::validate::BlockError;
use medledger_peer::{
    EndorseError, Peer, PeerError, PeerIdentity, Subscription, TxStatus, WaitError,
};
use medledger_store::{RedbOptions, RedbStore, Store, StoreError};
use medledger_types::{BatchConfig, Block, Response, ResponseStatus, TxId, ValidationCode, codec};

pub use client::{Identity, assemble_envelope};
pub use files::DataDir;
pub use init::{InitOptions, InitOutcome, init, init_with};

/// How long `invoke` waits for its transaction to commit before giving up.
pub const COMMIT_WAIT_MS_MAX: u64 = 30_000;
/// Blocks in flight between the orderer and the committer.
pub const DELIVERY_QUEUE_BLOCKS_MAX: usize = 4;

/// The node could not start, or cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{path}: {detail}")]
    Io {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("{path}: damaged: {detail}")]
    Corrupted {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("the data directory has no ledger yet; run `medledger up` once to create the network")]
    NotInitialized,
    #[error("identity: {0}")]
    Identity(String),
    #[error("endorsement: {0}")]
    Endorsement(String),
    #[error("ledger store: {0}")]
    Store(#[from] StoreError),
    #[error("peer: {0}")]
    Peer(#[from] PeerError),
    #[error("this node's orderer certificate is not one of the channel's orderers")]
    NotAnOrderer,
    #[error("the node has stopped committing: {0}")]
    Stopped(String),
    /// A data directory's file or directory that others may read: a node refuses to run on it.
    #[error(
        "{} is open to other users (mode {mode:o}); a node's data directory must be its owner's alone: run `chmod -R go-rwx {}`",
        .path.display(),
        .root.display()
    )]
    NotPrivate {
        path: std::path::PathBuf,
        root: std::path::PathBuf,
        mode: u32,
    },
    /// A job on the blocking pool panicked or was cancelled (a bug; the node goes on).
    #[error("a blocking job failed: {0}")]
    Job(String),
}

/// Why a request did not become a committed transaction.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("{0}")]
    Endorse(#[from] EndorseError),
    /// The contract refused; the payload is its encoded error.
    #[error("the contract refused the request")]
    Refused(Vec<u8>),
    #[error("{0}")]
    Submit(#[from] SubmitError),
    #[error("{0}")]
    Node(#[from] NodeError),
    #[error("the transaction was ordered but is invalid: {}", .0.code)]
    Invalid(TxStatus),
    /// The transaction was ordered but had not committed after `waited_ms`: it may still commit, and
    /// `tx_id` is what to look for (its status in the transaction index).
    #[error("transaction {tx_id} did not commit within {waited_ms} ms; it may still commit")]
    Timeout { tx_id: TxId, waited_ms: u64 },
}

/// A transaction that committed valid.
#[derive(Debug, Clone)]
pub struct Committed {
    pub status: TxStatus,
    /// The contract's result, as endorsed.
    pub payload: Vec<u8>,
}

/// Milliseconds since the Unix epoch from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The ledger store's page cache by default: enough for the indexes and the recent blocks a node reads,
/// small enough that a node at idle stays well under 64 MB resident. `medledger up --cache-mb` changes it.
pub const STORE_CACHE_BYTES_DEFAULT: usize = 16 * 1024 * 1024;

/// Options for a running node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Overrides the channel's block-cutting settings for this node's orderer.
    pub batch: Option<BatchConfig>,
    /// The ledger store's page cache, in bytes ([`STORE_CACHE_BYTES_DEFAULT`] by default).
    pub store_cache_bytes: usize,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            batch: None,
            store_cache_bytes: STORE_CACHE_BYTES_DEFAULT,
        }
    }
}

/// Most blocking jobs (endorsements, queries, block and proof reads) a node runs at once on tokio's
/// blocking pool. More wait, without holding an async worker, for one to finish: a burst of requests
/// queues instead of spawning a thread each, and the async workers stay free to accept and answer.
pub const BLOCKING_JOBS_MAX: usize = 16;

/// A running node.
pub struct Node {
    peer: Arc<Peer>,
    /// Permits for [`BLOCKING_JOBS_MAX`] jobs on the blocking pool at once.
    blocking: Arc<tokio::sync::Semaphore>,
    /// How long a write waits for its commit before it answers "not committed yet"
    /// ([`InvokeError::Timeout`]): [`COMMIT_WAIT_MS_MAX`] unless [`Node::set_commit_wait_ms`] shortens it.
    commit_wait_ms: std::sync::atomic::AtomicU64,
    orderer: Option<OrdererHandle>,
    committer: Option<JoinHandle<Result<(), PeerError>>>,
    /// Why the node stopped committing, once it has.
    failure: Arc<std::sync::OnceLock<String>>,
    /// Holds the committer before its next block while paused ([`Node::pause_commits`]).
    gate: Arc<CommitGate>,
    channel: String,
    contract: String,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Opens the ledger in `data` and starts the orderer and the committer.
    pub fn start(data: &DataDir, options: &NodeOptions) -> Result<Node, NodeError> {
        if !data.ledger().exists() {
            return Err(NodeError::NotInitialized);
        }
        let store: Arc<dyn Store> = Arc::new(RedbStore::open_with(
            &data.ledger(),
            &RedbOptions {
                cache_bytes: Some(options.store_cache_bytes),
                ..RedbOptions::default()
            },
        )?);
        Node::start_on(data, options, store)
    }

    /// [`Node::start`] over a ledger store the caller opened (the simulation's disk, in tests); `data`
    /// still gives the node's identities.
    pub fn start_on(
        data: &DataDir,
        options: &NodeOptions,
        store: Arc<dyn Store>,
    ) -> Result<Node, NodeError> {
        if store.height()? == 0 {
            return Err(NodeError::NotInitialized);
        }
        let peer_identity = Identity::load(&data.node_identity("peer"))?;
        let orderer_identity = Identity::load(&data.node_identity("orderer"))?;
        let contract = Arc::new(medledger_contract::ehr::EhrContract);
        let clock: medledger_types::Clock = Arc::new(now_ms);
        let peer = Arc::new(Peer::open(
            store,
            contract,
            PeerIdentity {
                key: peer_identity.key,
                certificate: peer_identity.certificate,
            },
            clock.clone(),
        )?);
        let channel = peer.channel();
        if channel
            .orderer_key(&medledger_crypto::sha256(&orderer_identity.certificate))
            .is_none()
        {
            return Err(NodeError::NotAnOrderer);
        }
        let tip = peer.tip()?;
        let assembler = BlockAssembler::resume(
            OrdererIdentity {
                key: orderer_identity.key,
                certificate: orderer_identity.certificate,
            },
            tip.height,
            tip.last_hash,
            tip.frontier,
            tip.last_timestamp_ms,
        )
        .remembering_signatures_in(peer.verified_signatures());
        let batch = options
            .batch
            .clone()
            .unwrap_or_else(|| channel.config.batch.clone());
        let (deliver, delivered) = mpsc::sync_channel(DELIVERY_QUEUE_BLOCKS_MAX);
        let orderer = OrdererHandle::spawn(batch, assembler, Box::new(Solo::new(deliver)), clock);
        let block_done = orderer.block_done();
        let committer_peer = Arc::clone(&peer);
        let gate = Arc::new(CommitGate::default());
        let committer_gate = Arc::clone(&gate);
        let failure = Arc::new(std::sync::OnceLock::new());
        let committer_failure = Arc::clone(&failure);
        let committer = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || {
                // However the thread ends (a block it cannot commit, the orderer gone, a panic), no
                // status will come any more: every waiter hears it at once.
                let _abandon = AbandonWaitersOnExit {
                    peer: Arc::clone(&committer_peer),
                    failure: Arc::clone(&committer_failure),
                };
                for block in delivered {
                    committer_gate.wait_while_paused();
                    if let Err(e) = commit_until_durable(&committer_peer, &block, &committer_gate) {
                        // Dropping the receiver stops the orderer: nothing more can be acknowledged.
                        let number = block.header.number;
                        tracing::error!(block = number, error = %e, "cannot commit block; the node stops committing");
                        let _ = committer_failure.set(format!("block {number}: {e}"));
                        return Err(e);
                    }
                    // The orderer may cut the next block now, with everything that gathered meanwhile.
                    block_done.committed();
                }
                Ok(())
            })
            .map_err(|e| NodeError::Io { path: data.root().to_path_buf(), detail: format!("cannot start a thread: {e}") })?;
        Ok(Node {
            peer,
            blocking: Arc::new(tokio::sync::Semaphore::new(BLOCKING_JOBS_MAX)),
            commit_wait_ms: std::sync::atomic::AtomicU64::new(COMMIT_WAIT_MS_MAX),
            orderer: Some(orderer),
            committer: Some(committer),
            failure,
            gate,
            channel: channel.config.channel.clone(),
            contract: channel.config.contract.clone(),
        })
    }

    /// Whether the node can take transactions now: its orderer is running, its committer has not
    /// stopped (it stops only on a block it cannot commit, or at shutdown), and its last commit did not
    /// fail on the disk (a full disk: the committer retries, and the node is running again once a commit
    /// succeeds).
    pub fn is_running(&self) -> bool {
        self.orderer.is_some()
            && self.failure.get().is_none()
            && self.gate.degraded().is_none()
            && self
                .committer
                .as_ref()
                .is_some_and(|committer| !committer.is_finished())
    }

    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }

    /// `Ok` while the node orders and commits; otherwise why it stopped (readiness checks report it).
    pub fn health(&self) -> Result<(), String> {
        match self.failure.get() {
            Some(reason) => Err(reason.clone()),
            None if self.orderer.is_none() => Err("the node is shutting down".into()),
            None => match self.gate.degraded() {
                Some(reason) => Err(reason),
                None => Ok(()),
            },
        }
    }

    pub fn channel_name(&self) -> &str {
        &self.channel
    }

    /// Queues an envelope for ordering and returns the waiter for its commit status (the status of the
    /// occurrence that counts; see [`Peer::commit`]).
    pub fn submit(
        &self,
        tx_id: TxId,
        envelope: &medledger_types::Envelope,
    ) -> Result<Subscription, InvokeError> {
        let orderer = self
            .orderer
            .as_ref()
            .ok_or(InvokeError::Submit(SubmitError::Stopped))?;
        self.health().map_err(NodeError::Stopped)?;
        let entry = codec::encode(envelope);
        let subscription = self
            .peer
            .subscribe(tx_id, medledger_crypto::sha256(&entry))
            .map_err(NodeError::from)?;
        if let Err(e) = orderer.submit(entry) {
            self.peer.unsubscribe(&tx_id, subscription.waiter);
            return Err(e.into());
        }
        Ok(subscription)
    }

    /// Signs a proposal as `identity`, endorses it, orders it and waits until it commits.
    pub async fn invoke(
        &self,
        identity: &Identity,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Committed, InvokeError> {
        self.invoke_contract(identity, &self.contract, function, args)
            .await
    }

    /// Revokes certificates of `admin`'s organization: the organization CA `ca` (whose key the caller
    /// holds) signs a CRL naming `serials`, and `admin` proposes it as a configuration update.
    /// Certificates with those serials are refused from the block after the one that commits it.
    pub async fn revoke(
        &self,
        ca: &medledger_crypto::x509::CertificateAuthority,
        admin: &Identity,
        serials: &[u64],
    ) -> Result<Committed, InvokeError> {
        let certificate = medledger_crypto::x509::parse_certificate(&admin.certificate)
            .map_err(|e| NodeError::Identity(e.to_string()))?;
        let msp_id = certificate.msp_id;
        let crl_number = self
            .peer
            .channel()
            .config
            .orgs
            .iter()
            .find(|org| org.msp_id == msp_id)
            .map_or(0, |org| org.crls.len() as u64)
            + 1;
        let crl = ca
            .revocation_list(crl_number, now_ms() / 1000, serials)
            .map_err(|e| NodeError::Identity(e.to_string()))?;
        let update = medledger_types::ConfigUpdate::AddCrl { msp_id, crl };
        self.invoke_contract(
            admin,
            medledger_types::CONFIG_CONTRACT,
            update.function(),
            vec![codec::encode(&update)],
        )
        .await
    }

    /// Runs `job` with the peer on tokio's blocking pool, at most [`BLOCKING_JOBS_MAX`] at once (others
    /// wait for a permit without holding an async worker). For anything that reads the store, runs the
    /// contract or signs: endorsements, queries, block and proof reads.
    pub async fn with_peer<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Peer) -> T + Send + 'static,
    ) -> Result<T, NodeError> {
        let _permit = Arc::clone(&self.blocking)
            .acquire_owned()
            .await
            .map_err(|e| NodeError::Job(e.to_string()))?;
        let peer = Arc::clone(&self.peer);
        tokio::task::spawn_blocking(move || job(&peer))
            .await
            .map_err(|e| NodeError::Job(e.to_string()))
    }

    /// How long writes wait for their commit from now on, at most [`COMMIT_WAIT_MS_MAX`] (tests make a
    /// slow ledger with it).
    pub fn set_commit_wait_ms(&self, ms: u64) {
        self.commit_wait_ms.store(
            ms.min(COMMIT_WAIT_MS_MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Holds every block before its commit until the returned guard is dropped: blocks are still cut
    /// and delivered, nothing commits. For tests that need a write still on its way when it is answered,
    /// whatever the machine's speed; a node never pauses itself.
    pub fn pause_commits(&self) -> CommitsPaused {
        self.gate.set_paused(true);
        CommitsPaused(Arc::clone(&self.gate))
    }

    /// Jobs that could start on the blocking pool now ([`BLOCKING_JOBS_MAX`] less those running).
    pub fn blocking_jobs_available(&self) -> usize {
        self.blocking.available_permits()
    }

    /// [`Node::invoke`] for a named contract (the channel's, or the configuration).
    pub async fn invoke_contract(
        &self,
        identity: &Identity,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Committed, InvokeError> {
        let creator = self.peer.identity_ref(&identity.certificate);
        let (tx_id, signed) =
            identity.propose(creator, &self.channel, contract, function, args, now_ms());
        self.invoke_proposal(tx_id, signed).await
    }

    /// Signs a proposal of the channel's contract as `identity`, to be given to
    /// [`Node::invoke_proposal`]: for a caller that must note the transaction id before the write.
    pub fn propose(
        &self,
        identity: &Identity,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> (TxId, medledger_types::SignedProposal) {
        let creator = self.peer.identity_ref(&identity.certificate);
        identity.propose(
            creator,
            &self.channel,
            &self.contract,
            function,
            args,
            now_ms(),
        )
    }

    /// Endorses a signed proposal (whose id is `tx_id`), orders it and waits until it commits.
    pub async fn invoke_proposal(
        &self,
        tx_id: TxId,
        signed: medledger_types::SignedProposal,
    ) -> Result<Committed, InvokeError> {
        // A node that cannot write (a full disk) says so before any work.
        self.health().map_err(NodeError::Stopped)?;
        // The endorsement (the contract's run over the store, the peer's signature) runs on the
        // blocking pool.
        let (signed, endorsed) = self
            .with_peer(move |peer| {
                let endorsed = peer.endorse(&signed);
                (signed, endorsed)
            })
            .await?;
        let endorsed = endorsed?;
        if endorsed.response.status != ResponseStatus::Ok {
            return Err(InvokeError::Refused(endorsed.response.payload));
        }
        let payload = endorsed.response.payload.clone();
        let envelope = assemble_envelope(signed, std::slice::from_ref(&endorsed))?;
        let Subscription { waiter, receiver } = self.submit(tx_id, &envelope)?;
        let wait_ms = self
            .commit_wait_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let status = match tokio::time::timeout(Duration::from_millis(wait_ms), receiver).await {
            Ok(Ok(Ok(status))) => status,
            Ok(Ok(Err(WaitError::Stopped(reason)))) => {
                tracing::warn!(%tx_id, %reason, "the node stopped committing while a transaction waited");
                return Err(InvokeError::Submit(SubmitError::Stopped));
            }
            // The peer dropped the waiter without a word: only `unsubscribe` does, and only ours
            // would; treat it as a stop.
            Ok(Err(_)) => return Err(InvokeError::Submit(SubmitError::Stopped)),
            Err(_) => {
                self.peer.unsubscribe(&tx_id, waiter);
                return Err(InvokeError::Timeout {
                    tx_id,
                    waited_ms: wait_ms,
                });
            }
        };
        if status.code != ValidationCode::Valid {
            return Err(InvokeError::Invalid(status));
        }
        Ok(Committed { status, payload })
    }

    /// Runs a read-only request as `identity` on the blocking pool; nothing is ordered or written.
    pub async fn query(
        &self,
        identity: &Identity,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Response, InvokeError> {
        let (_, signed) = self.propose(identity, function, args);
        let evaluated = self.with_peer(move |peer| peer.evaluate(&signed)).await?;
        Ok(evaluated?.response)
    }

    /// Orders and commits what is pending, then stops the threads.
    pub fn shutdown(mut self) -> Result<(), NodeError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), NodeError> {
        // A pause must not outlive the node: the committer finishes what is delivered, and stops
        // retrying a block the disk refuses.
        self.gate.set_paused(false);
        self.gate.stop_retrying();
        if let Some(Err(e)) = self.orderer.take().map(OrdererHandle::shutdown) {
            tracing::warn!(error = %e, "orderer stopped with an error");
        }
        if let Some(committer) = self.committer.take() {
            match committer.join() {
                Ok(result) => result?,
                Err(_) => {
                    return Err(NodeError::Endorsement(
                        "the committer thread panicked".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "node stopped with an error");
        }
    }
}

/// Decodes a refused response's payload into the contract's error, if it is one.
pub fn refusal(payload: &[u8]) -> Option<medledger_contract::ContractError> {
    codec::decode(
        "contract error",
        payload,
        medledger_types::limits::ENVELOPE_BYTES_MAX,
    )
    .ok()
}

/// Whether a response is a success.
pub fn is_ok(response: &Response) -> bool {
    response.status == ResponseStatus::Ok
}

/// Records the first administrator (created by `init`) on the ledger, signed by that administrator.
pub async fn register_first_admin(
    node: &Node,
    admin: &Identity,
    email: &str,
) -> Result<Committed, InvokeError> {
    use medledger_contract::ehr::{Admin, EhrCall, NewRecord};
    let call = EhrCall::Create(NewRecord::Admin(Admin {
        admin_id: 1,
        given_name: "First".into(),
        family_name: "Administrator".into(),
        email: email.to_owned(),
        certificate: admin.certificate.clone(),
    }));
    node.invoke(admin, call.function(), vec![call.encode()])
        .await
}

/// The first wait before a block the disk refused is tried again; each later wait doubles, up to
/// [`COMMIT_RETRY_MS_MAX`].
pub const COMMIT_RETRY_MS_FIRST: u64 = 50;
/// The longest wait between two tries of a block the disk refused.
pub const COMMIT_RETRY_MS_MAX: u64 = 5_000;

/// What the node and its committer thread share about committing: a pause ([`Node::pause_commits`]),
/// a failing disk (the reason, while the committer retries), and the stop that ends the retries.
#[derive(Debug, Default)]
struct CommitGate {
    state: std::sync::Mutex<GateState>,
    changed: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    paused: bool,
    stopping: bool,
    degraded: Option<String>,
}

impl CommitGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_paused(&self, paused: bool) {
        self.lock().paused = paused;
        self.changed.notify_all();
    }

    fn wait_while_paused(&self) {
        let state = self.lock();
        let _resumed = self
            .changed
            .wait_while(state, |state| state.paused && !state.stopping)
            .unwrap_or_else(|p| p.into_inner());
    }

    fn stop_retrying(&self) {
        self.lock().stopping = true;
        self.changed.notify_all();
    }

    fn degraded(&self) -> Option<String> {
        self.lock().degraded.clone()
    }

    fn set_degraded(&self, reason: Option<String>) {
        self.lock().degraded = reason;
    }

    /// Waits `ms` before the next try, or less if the node stops; whether it is stopping.
    fn wait_to_retry(&self, ms: u64) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, Duration::from_millis(ms), |state| !state.stopping)
            .unwrap_or_else(|p| p.into_inner());
        state.stopping
    }
}

/// Validates and commits `block`. When the store refuses the commit (a full disk, an I/O error), the node
/// stops taking writes (its health says why) and the committer tries again, waiting longer each time,
/// after the store has recovered: until the block is durable — committed by this try, or found
/// committed by the failed one's final sync — or the node stops. Any other failure is returned at once.
fn commit_until_durable(peer: &Peer, block: &Block, gate: &CommitGate) -> Result<(), PeerError> {
    let number = block.header.number;
    let mut wait_ms = COMMIT_RETRY_MS_FIRST;
    loop {
        let refused = match peer.deliver(block) {
            Ok(()) => break,
            // The disk or the engine failed, in the commit or in a read validation made: not the
            // block, and it may pass. Damage and refused commits are not retried.
            Err(PeerError::Store(e)) if e.may_pass() => PeerError::Store(e),
            Err(e @ PeerError::Block(BlockError::Store { .. })) => e,
            Err(e) => return Err(e),
        };
        if gate.degraded().is_none() {
            tracing::error!(block = number, error = %refused, "the ledger cannot be written; writes are refused until it can (is the disk full?), retrying");
        }
        gate.set_degraded(Some(format!(
            "the ledger cannot be written (block {number}: {refused}); writes are refused until it can: is the disk full?"
        )));
        if gate.wait_to_retry(wait_ms) {
            return Err(refused);
        }
        wait_ms = (wait_ms * 2).min(COMMIT_RETRY_MS_MAX);
        match peer.recover_store() {
            // The failed try's final sync landed after all: the block is durable.
            Ok(height) if height > number => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(block = number, error = %e, "the ledger store does not reopen yet")
            }
        }
    }
    if gate.degraded().is_some() {
        tracing::info!(
            block = number,
            "the ledger is written again; writes are taken"
        );
        gate.set_degraded(None);
    }
    Ok(())
}

/// Commits resume when this is dropped ([`Node::pause_commits`]).
#[derive(Debug)]
pub struct CommitsPaused(Arc<CommitGate>);

impl Drop for CommitsPaused {
    fn drop(&mut self) {
        self.0.set_paused(false);
    }
}

/// Held by the committer thread: when the thread ends, for whatever reason (including a panic), the peer's
/// waiters hear at once that no status will come, with the failure if there was one.
struct AbandonWaitersOnExit {
    peer: Arc<Peer>,
    failure: Arc<std::sync::OnceLock<String>>,
}

impl Drop for AbandonWaitersOnExit {
    fn drop(&mut self) {
        let reason = match self.failure.get() {
            Some(failure) => failure.clone(),
            None if std::thread::panicking() => "the committer thread panicked".to_owned(),
            None => "the node stopped ordering".to_owned(),
        };
        self.peer.abandon_waiters(&reason);
    }
}
