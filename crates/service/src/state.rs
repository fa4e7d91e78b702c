//! What every action shares ([`AppState`]), the service's configuration, and the two calls every action
//! makes to the ledger: [`AppState::invoke`] (a write signed by the logged-in person, retried on MVCC
//! conflicts, timed for the metrics) and [`AppState::query`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use borsh::BorshDeserialize;
use medledger_contract::ehr::{EhrCall, RecordHeader, decode_response};
use medledger_crypto::x509::CertificateAuthority;
use medledger_node::{InvokeError, Node};
use medledger_types::{Clock, TxId, ValidationCode};

use crate::ServiceError;
use crate::auth::{LoginLimiter, Session, Sessions};
use crate::metrics::Metrics;
use medledger_wallet::{PasswordParams, Wallet};

/// How many times a write is re-endorsed after an MVCC read conflict before the caller gets 409.
pub const MVCC_RETRIES_MAX: u32 = 3;

/// How the service behaves.
#[derive(Clone)]
pub struct ServiceConfig {
    /// Argon2id cost for new password hashes and key encryptions.
    pub password: PasswordParams,
    pub clock: Clock,
    /// Mark the session cookie `Secure` (when served over HTTPS, e.g. behind a TLS proxy).
    pub secure_cookies: bool,
    /// Where a generated first-administrator password is saved. While that file exists, the first
    /// administrator is still on the generated password: the web pages send them to change it, and the
    /// change removes the file.
    pub initial_password_file: Option<std::path::PathBuf>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            password: PasswordParams::RECOMMENDED,
            clock: Arc::new(medledger_node::now_ms),
            secure_cookies: false,
            initial_password_file: None,
        }
    }
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("password", &self.password)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

/// Shared by every action (and by the REST and web handlers that call them); cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

/// The service's shared parts.
pub struct Inner {
    pub node: Arc<Node>,
    pub sessions: Sessions,
    pub login_limiter: LoginLimiter,
    /// The Argon2 jobs that may run at once ([`ARGON2_RUNS_MAX`](crate::auth::ARGON2_RUNS_MAX)
    /// permits): logins, password changes and registrations take one
    /// ([`Argon2Permit`](crate::auth::Argon2Permit)).
    pub argon2_runs: Arc<tokio::sync::Semaphore>,
    pub wallet: Wallet,
    pub metrics: Metrics,
    pub config: ServiceConfig,
    /// The first answers to writes sent with an idempotency key ([`crate::idempotency`]).
    pub idempotency: crate::idempotency::Idempotency,
    /// Set when the gateway starts shutting down: readiness fails and new API calls get 503.
    draining: AtomicBool,
}

/// A write that committed valid: the record's new header and where it landed.
#[derive(Debug, Clone)]
pub struct Written {
    pub header: RecordHeader,
    pub tx_id: TxId,
    pub block_number: u64,
    /// The transaction's index in its block.
    pub tx_index: u32,
}

impl AppState {
    pub fn new(node: Arc<Node>, wallet: Wallet, config: ServiceConfig) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                node,
                sessions: Sessions::default(),
                login_limiter: LoginLimiter::default(),
                argon2_runs: Arc::new(tokio::sync::Semaphore::new(crate::auth::ARGON2_RUNS_MAX)),
                wallet,
                idempotency: crate::idempotency::Idempotency::default(),
                metrics: Metrics::default(),
                config,
                draining: AtomicBool::new(false),
            }),
        }
    }

    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    /// Runs `job` with the peer on the node's bounded blocking pool ([`Node::with_peer`]): for store
    /// reads (blocks, proofs, the transaction index) that must not hold an async worker.
    pub async fn with_peer<T: Send + 'static>(
        &self,
        job: impl FnOnce(&medledger_peer::Peer) -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        self.inner
            .node
            .with_peer(job)
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// The organization CA of this node's organization, with `key` (unlocked from an administrator's
    /// wallet entry). Its certificate is the organization's root in the channel configuration.
    pub fn organization_ca(
        &self,
        key: medledger_crypto::keys::SigningKey,
    ) -> Result<CertificateAuthority, ServiceError> {
        let channel = self.inner.node.peer().channel();
        let org = channel
            .config
            .orgs
            .first()
            .ok_or_else(|| ServiceError::Internal("the channel has no organization".into()))?;
        CertificateAuthority::from_parts(&org.msp_id, org.root_certificate.clone(), key)
            .map_err(|e| ServiceError::Internal(format!("the organization CA's key: {e}")))
    }

    /// After the first administrator replaced the generated password, the saved copy opens nothing:
    /// remove it.
    pub fn forget_initial_password(&self, email: &str) {
        let Some(file) = &self.inner.config.initial_password_file else {
            return;
        };
        let first_admin = matches!(
            self.inner.wallet.person(email),
            Ok(Some(person)) if person.role == medledger_types::Role::Admin && person.record_id == crate::start::FIRST_ADMIN_ID
        );
        if first_admin
            && file.exists()
            && let Err(e) = std::fs::remove_file(file)
        {
            tracing::warn!(file = %file.display(), error = %e, "cannot remove the saved initial password");
        }
    }

    /// The gateway's clock (milliseconds since the Unix epoch).
    pub fn now_ms(&self) -> i64 {
        (self.inner.config.clock)()
    }

    /// Whether requests can be served: not shutting down, and the node can commit.
    pub fn is_ready(&self) -> bool {
        !self.inner.draining.load(Ordering::Relaxed) && self.inner.node.is_running()
    }

    /// Marks the gateway as stopping: `/readyz` and new API calls answer 503 from now on.
    pub fn begin_shutdown(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    /// Writes `call` signed by the logged-in person and waits until it commits. An MVCC read conflict
    /// (another write changed what this one read) is re-endorsed up to [`MVCC_RETRIES_MAX`] times; after
    /// that, and for every other failure, the error maps as [`From<InvokeError>`](ServiceError).
    pub async fn invoke(&self, session: &Session, call: &EhrCall) -> Result<Written, ServiceError> {
        self.invoke_noting(session, call, |_| Ok(()))
            .await
            .map_err(ServiceError::from)
    }

    /// [`AppState::invoke`], calling `note` with each attempt's transaction id before that transaction
    /// is submitted (a registration notes it in the wallet entry first); an error from `note` stops
    /// before the submit. The error is the node's own, for a caller that must tell "may still commit"
    /// ([`may_still_commit`]) from "will not".
    pub(crate) async fn invoke_noting(
        &self,
        session: &Session,
        call: &EhrCall,
        mut note: impl FnMut(TxId) -> Result<(), ServiceError>,
    ) -> Result<Written, Attempt> {
        let args = vec![call.encode()];
        let mut retries = 0;
        loop {
            let started = Instant::now();
            let node = &self.inner.node;
            let (tx_id, signed) = node.propose(&session.identity, call.function(), args.clone());
            note(tx_id).map_err(Attempt::Noting)?;
            let result = node.invoke_proposal(tx_id, signed).await;
            match result {
                Ok(committed) => {
                    self.inner.metrics.record_commit(started.elapsed());
                    let header: RecordHeader =
                        decode_response(&committed.payload).map_err(|e| {
                            Attempt::Unreadable(ServiceError::Internal(format!(
                                "the contract's answer to a write: {e}"
                            )))
                        })?;
                    return Ok(Written {
                        header,
                        tx_id: committed.status.tx_id,
                        block_number: committed.status.block,
                        tx_index: committed.status.index,
                    });
                }
                Err(InvokeError::Invalid(status))
                    if status.code == ValidationCode::MvccReadConflict
                        && retries < MVCC_RETRIES_MAX =>
                {
                    retries += 1;
                    self.inner.metrics.record_mvcc_retry();
                    tracing::debug!(tx_id = %status.tx_id, retries, "MVCC conflict; endorsing again");
                }
                Err(e) => return Err(Attempt::Node(e)),
            }
        }
    }

    /// Runs a read-only `call` as the logged-in person and decodes its answer (`Record`, `Page`,
    /// `HistoryPage`, ...), on the node's blocking pool. A refusal maps as
    /// [`From<InvokeError>`](ServiceError).
    pub async fn query<T: BorshDeserialize>(
        &self,
        session: &Session,
        call: &EhrCall,
    ) -> Result<T, ServiceError> {
        let response = self
            .inner
            .node
            .query(&session.identity, call.function(), vec![call.encode()])
            .await?;
        if !medledger_node::is_ok(&response) {
            return Err(InvokeError::Refused(response.payload).into());
        }
        decode_response(&response.payload)
            .map_err(|e| ServiceError::Internal(format!("the contract's answer to a query: {e}")))
    }
}

/// Why [`AppState::invoke_noting`] did not write.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The node's answer to the last attempt.
    Node(InvokeError),
    /// The caller's `note` refused: nothing was submitted.
    Noting(ServiceError),
    /// The write committed valid, but the contract's answer to it could not be read.
    Unreadable(ServiceError),
}

impl From<Attempt> for ServiceError {
    fn from(attempt: Attempt) -> ServiceError {
        match attempt {
            Attempt::Node(e) => e.into(),
            Attempt::Noting(e) | Attempt::Unreadable(e) => e,
        }
    }
}

/// Whether a transaction that failed so may still commit (it was, or may have been, ordered): its
/// outcome is then read from the ledger later, never assumed.
pub(crate) fn may_still_commit(e: &InvokeError) -> bool {
    use medledger_orderer::SubmitError;
    match e {
        InvokeError::Timeout { .. } => true,
        // `Stopped` also ends a wait for a transaction already queued.
        InvokeError::Submit(SubmitError::Stopped) => true,
        // Every node error comes before the envelope is queued (a node that takes no writes, the
        // endorsement's job, the waiter's registration): the transaction never reached the orderer.
        InvokeError::Node(_)
        | InvokeError::Submit(SubmitError::QueueFull | SubmitError::TooLarge { .. })
        | InvokeError::Endorse(_)
        | InvokeError::Refused(_)
        | InvokeError::Invalid(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::may_still_commit;
    use medledger_node::{InvokeError, NodeError};
    use medledger_orderer::SubmitError;
    use medledger_types::{Hash, TxId};

    #[test]
    fn only_a_queued_transaction_may_still_commit() {
        let tx_id = TxId(Hash([1; 32]));
        // Queued, or perhaps queued: its outcome is read from the ledger later.
        assert!(may_still_commit(&InvokeError::Timeout {
            tx_id,
            waited_ms: 1
        }));
        assert!(may_still_commit(&InvokeError::Submit(SubmitError::Stopped)));
        // Never reached the orderer: a registration's entry can be removed at once.
        assert!(!may_still_commit(&InvokeError::Node(NodeError::Stopped(
            "the ledger cannot be written".into()
        ))));
        assert!(!may_still_commit(&InvokeError::Submit(
            SubmitError::QueueFull
        )));
        assert!(!may_still_commit(&InvokeError::Refused(Vec::new())));
    }
}
