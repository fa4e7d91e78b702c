//! The orderer's service loop: one thread that receives envelopes, cuts blocks by count, bytes and
//! timeout, assembles them and replicates them through consensus.
//!
//! The queue in front of it is bounded (`limits::ORDERER_QUEUE_COUNT_MAX`): when it is full, `submit`
//! refuses at once, so callers can answer "busy" instead of growing memory. Dropping every handle stops the
//! loop after it has cut and replicated whatever was pending.

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use medledger_types::{BatchConfig, Clock, limits};

use crate::{BlockAssembler, BlockCutter, Consensus, OrdererError};

/// Why an envelope was not accepted for ordering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the ordering queue is full; try again shortly")]
    QueueFull,
    #[error("the orderer has stopped")]
    Stopped,
    #[error("envelope of {len} bytes is over the limit of {max}")]
    TooLarge { len: usize, max: usize },
}

/// A running orderer. Cheap to share behind an `Arc`; `submit` may be called from many threads.
#[derive(Debug)]
pub struct OrdererHandle {
    queue: SyncSender<Vec<u8>>,
    thread: JoinHandle<Result<(), OrdererError>>,
}

impl OrdererHandle {
    /// Starts the service thread.
    pub fn spawn(
        batch: BatchConfig,
        mut assembler: BlockAssembler,
        mut consensus: Box<dyn Consensus>,
        clock: Clock,
    ) -> OrdererHandle {
        let (queue, receiver) = mpsc::sync_channel::<Vec<u8>>(limits::ORDERER_QUEUE_COUNT_MAX);
        let timeout = Duration::from_millis(batch.timeout_ms.max(1));
        let thread = std::thread::Builder::new()
            .name("orderer".into())
            .spawn(move || {
                let mut cutter = BlockCutter::new(&batch);
                let mut deadline: Option<Instant> = None;
                let mut emit = |batch: Vec<Vec<u8>>| -> Result<(), OrdererError> {
                    let block = assembler.assemble(batch, clock());
                    tracing::debug!(
                        number = block.header.number,
                        txs = block.data.entries.len(),
                        "block cut"
                    );
                    consensus.replicate(block)
                };
                loop {
                    let received = match deadline {
                        None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(at) => {
                            receiver.recv_timeout(at.saturating_duration_since(Instant::now()))
                        }
                    };
                    match received {
                        Ok(envelope) => {
                            for batch in cutter.ordered(envelope) {
                                emit(batch)?;
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            if let Some(batch) = cutter.cut() {
                                emit(batch)?;
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            if let Some(batch) = cutter.cut() {
                                emit(batch)?;
                            }
                            return Ok(());
                        }
                    }
                    deadline = match (cutter.has_pending(), deadline) {
                        (false, _) => None,
                        (true, None) => Some(Instant::now() + timeout),
                        (true, Some(at)) => Some(at),
                    };
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the orderer thread: {e}"));
        OrdererHandle { queue, thread }
    }

    /// Queues an envelope for ordering; refuses at once when the queue is full.
    pub fn submit(&self, envelope: Vec<u8>) -> Result<(), SubmitError> {
        if envelope.len() > limits::ENVELOPE_BYTES_MAX {
            return Err(SubmitError::TooLarge {
                len: envelope.len(),
                max: limits::ENVELOPE_BYTES_MAX,
            });
        }
        self.queue.try_send(envelope).map_err(|e| match e {
            TrySendError::Full(_) => SubmitError::QueueFull,
            TrySendError::Disconnected(_) => SubmitError::Stopped,
        })
    }

    /// Stops accepting envelopes, orders what is pending, and waits for the thread to end.
    pub fn shutdown(self) -> Result<(), OrdererError> {
        drop(self.queue);
        self.thread.join().unwrap_or_else(|_| {
            Err(OrdererError::ConsensusStopped(
                "the orderer thread panicked".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::Solo;
    use crate::assembler::OrdererIdentity;
    use medledger_crypto::keys::SigningKey;
    use medledger_types::{ChannelConfig, FORMAT_VERSION};

    fn start(batch: BatchConfig) -> (OrdererHandle, mpsc::Receiver<medledger_types::Block>) {
        let config = ChannelConfig {
            format_version: FORMAT_VERSION,
            channel: "ehr".into(),
            orgs: vec![],
            orderers: vec![],
            contract: "ehr".into(),
            endorsement_policy: "OR('Org1.peer')".into(),
            batch: batch.clone(),
        };
        let identity = OrdererIdentity {
            key: SigningKey::from_seed(&[1; 32]),
            certificate: vec![],
        };
        let (_genesis, assembler) = BlockAssembler::genesis(&config, identity, 0);
        let (tx, rx) = mpsc::sync_channel(4);
        let handle =
            OrdererHandle::spawn(batch, assembler, Box::new(Solo::new(tx)), Arc::new(|| 42));
        (handle, rx)
    }

    #[test]
    fn a_partial_batch_is_cut_by_the_timeout() {
        let (handle, blocks) = start(BatchConfig {
            tx_count_max: 100,
            bytes_max: 1 << 20,
            timeout_ms: 5,
        });
        handle.submit(b"one".to_vec()).expect("queued");
        handle.submit(b"two".to_vec()).expect("queued");
        // No more input: only the timeout can cut this block. The deadline bounds the wait, not a sleep.
        let block = blocks
            .recv_timeout(Duration::from_secs(10))
            .expect("block cut by timeout");
        assert_eq!(block.header.number, 1);
        assert_eq!(block.data.entries, vec![b"one".to_vec(), b"two".to_vec()]);
        handle.shutdown().expect("clean stop");
    }

    #[test]
    fn full_batches_are_cut_by_count_and_shutdown_flushes_the_rest() {
        let (handle, blocks) = start(BatchConfig {
            tx_count_max: 2,
            bytes_max: 1 << 20,
            timeout_ms: 60_000,
        });
        for i in 0..5u8 {
            handle.submit(vec![i]).expect("queued");
        }
        let first = blocks
            .recv_timeout(Duration::from_secs(10))
            .expect("first block");
        let second = blocks
            .recv_timeout(Duration::from_secs(10))
            .expect("second block");
        assert_eq!(first.data.entries, vec![vec![0], vec![1]]);
        assert_eq!(second.data.entries, vec![vec![2], vec![3]]);
        handle.shutdown().expect("clean stop");
        let last = blocks
            .recv_timeout(Duration::from_secs(10))
            .expect("flushed block");
        assert_eq!(last.data.entries, vec![vec![4]]);
        assert_eq!(last.header.number, 3);
    }

    #[test]
    fn oversize_envelopes_are_refused_at_submit() {
        let (handle, _blocks) = start(BatchConfig::default());
        let err = handle
            .submit(vec![0; limits::ENVELOPE_BYTES_MAX + 1])
            .expect_err("an oversize envelope is refused");
        assert!(matches!(err, SubmitError::TooLarge { .. }));
        handle.shutdown().expect("clean stop");
    }

    #[test]
    fn a_stopped_peer_stops_the_orderer_with_an_error() {
        let (handle, blocks) = start(BatchConfig {
            tx_count_max: 1,
            bytes_max: 1 << 20,
            timeout_ms: 5,
        });
        drop(blocks);
        let _ = handle.submit(vec![1]);
        assert!(handle.shutdown().is_err());
    }
}
