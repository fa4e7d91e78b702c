//! The orderer's service loop: one thread that receives envelopes, cuts blocks, assembles them and
//! replicates them through consensus.
//!
//! **Blocks never wait for nothing** (group commit, as PostgreSQL's WAL flush): the loop cuts a block as
//! soon as the pipeline behind it can take one — fewer than [`BLOCKS_IN_FLIGHT_MAX`] blocks cut and not
//! yet committed (the committer reports each commit through [`BlockDone`]). What arrives while earlier
//! blocks are being validated and committed waits, and goes together into the next block. A batch is also
//! cut when it is full (count or bytes), or when its first envelope has waited the batch timeout: the
//! timeout only bounds latency under load, when the pipeline stays busy. One person alone is answered after
//! about one durable commit, not after a timer.
//!
//! The queue in front of it is bounded (`limits::ORDERER_QUEUE_COUNT_MAX`): when it is full, `submit`
//! refuses at once, so callers can answer "busy" instead of growing memory. Dropping every handle stops the
//! loop after it has cut and replicated whatever was pending.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use medledger_types::{BatchConfig, Clock, limits};

use crate::{BlockAssembler, BlockCutter, Consensus, OrdererError};

/// Blocks cut but not yet reported committed, at most, before the loop stops cutting partial batches and
/// lets envelopes gather for the next one.
pub const BLOCKS_IN_FLIGHT_MAX: usize = 1;

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

/// What the submitters, the loop and the committer share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when an envelope is queued, a block is reported committed, or the queue closes.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Vec<u8>>,
    /// No more envelopes are accepted: the last handle asked to stop, or the loop ended.
    closed: bool,
    /// Blocks replicated and not yet reported committed.
    in_flight: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// Reports to the orderer that a block it cut has been committed (its consumer is done with it), so the
/// next one can be cut at once. Cheap to clone; give one to whatever commits the delivered blocks.
#[derive(Debug, Clone)]
pub struct BlockDone(Arc<Shared>);

impl BlockDone {
    /// One more block of this orderer's has committed.
    pub fn committed(&self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.0.changed.notify_all();
    }
}

/// Closes the queue when the loop ends, however it ends, so that `submit` answers `Stopped`.
struct CloseOnExit(Arc<Shared>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A running orderer. Cheap to share behind an `Arc`; `submit` may be called from many threads.
#[derive(Debug)]
pub struct OrdererHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), OrdererError>>>,
}

/// What the loop should do next, decided under the lock.
enum Step {
    /// Replicate these batches (oldest first), then look again.
    Emit(Vec<Vec<Vec<u8>>>),
    /// Nothing to do until something changes, or until the deadline if there is one.
    Wait(Option<Instant>),
    /// The queue is closed and everything is replicated.
    Finish,
}

/// The loop's state between steps: the cutter with the pending batch, and when that batch must be cut.
struct Loop {
    cutter: BlockCutter,
    timeout: Duration,
    /// When the pending batch's first envelope has waited the timeout.
    deadline: Option<Instant>,
}

impl Loop {
    /// Moves the queued envelopes into the cutter and decides what to do. Full batches are cut whatever
    /// the pipeline holds (consensus applies back pressure); a partial one when the pipeline has room,
    /// when its deadline has passed, or when the queue is closed.
    fn step(&mut self, state: &mut State, now: Instant) -> Step {
        let mut batches = Vec::new();
        while let Some(envelope) = state.queue.pop_front() {
            batches.extend(self.cutter.ordered(envelope));
        }
        if !self.cutter.has_pending() {
            self.deadline = None;
        } else if self.deadline.is_none() || !batches.is_empty() {
            // A new batch began (the first envelope since the last cut).
            self.deadline = Some(now + self.timeout);
        }
        let room = state.in_flight + batches.len() < BLOCKS_IN_FLIGHT_MAX;
        let due = self.deadline.is_some_and(|at| at <= now);
        if self.cutter.has_pending() && (room || due || state.closed) {
            batches.extend(self.cutter.cut());
            self.deadline = None;
        }
        if !batches.is_empty() {
            state.in_flight += batches.len();
            return Step::Emit(batches);
        }
        if state.closed && !self.cutter.has_pending() {
            return Step::Finish;
        }
        Step::Wait(self.deadline)
    }
}

impl OrdererHandle {
    /// Starts the service thread.
    pub fn spawn(
        batch: BatchConfig,
        mut assembler: BlockAssembler,
        mut consensus: Box<dyn Consensus>,
        clock: Clock,
    ) -> OrdererHandle {
        let shared = Arc::new(Shared::default());
        let looping = Arc::clone(&shared);
        let mut run = Loop {
            cutter: BlockCutter::new(&batch),
            timeout: Duration::from_millis(batch.timeout_ms.max(1)),
            deadline: None,
        };
        let thread = std::thread::Builder::new()
            .name("orderer".into())
            .spawn(move || {
                let _close = CloseOnExit(Arc::clone(&looping));
                let mut state = looping.lock();
                loop {
                    match run.step(&mut state, Instant::now()) {
                        Step::Emit(batches) => {
                            drop(state);
                            for batch in batches {
                                let block = assembler.assemble(batch, clock());
                                tracing::debug!(
                                    number = block.header.number,
                                    txs = block.data.entries.len(),
                                    "block cut"
                                );
                                consensus.replicate(block)?;
                            }
                            state = looping.lock();
                        }
                        Step::Wait(None) => {
                            state = looping
                                .changed
                                .wait(state)
                                .unwrap_or_else(|p| p.into_inner());
                        }
                        Step::Wait(Some(at)) => {
                            let wait = at.saturating_duration_since(Instant::now());
                            state = looping
                                .changed
                                .wait_timeout(state, wait)
                                .unwrap_or_else(|p| p.into_inner())
                                .0;
                        }
                        Step::Finish => return Ok(()),
                    }
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the orderer thread: {e}"));
        OrdererHandle {
            shared,
            thread: Some(thread),
        }
    }

    /// The handle through which the blocks' consumer reports each commit (see [`BlockDone`]).
    pub fn block_done(&self) -> BlockDone {
        BlockDone(Arc::clone(&self.shared))
    }

    /// Queues an envelope for ordering; refuses at once when the queue is full.
    pub fn submit(&self, envelope: Vec<u8>) -> Result<(), SubmitError> {
        if envelope.len() > limits::ENVELOPE_BYTES_MAX {
            return Err(SubmitError::TooLarge {
                len: envelope.len(),
                max: limits::ENVELOPE_BYTES_MAX,
            });
        }
        let mut state = self.shared.lock();
        if state.closed {
            return Err(SubmitError::Stopped);
        }
        if state.queue.len() >= limits::ORDERER_QUEUE_COUNT_MAX {
            return Err(SubmitError::QueueFull);
        }
        state.queue.push_back(envelope);
        drop(state);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Stops accepting envelopes, orders what is pending, and waits for the thread to end.
    pub fn shutdown(mut self) -> Result<(), OrdererError> {
        self.shared.close();
        match self.thread.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(OrdererError::ConsensusStopped(
                "the orderer thread panicked".into(),
            )),
        }
    }
}

impl Drop for OrdererHandle {
    /// A handle dropped without [`OrdererHandle::shutdown`] still stops the loop (after it has ordered
    /// what is pending); nobody waits for it.
    fn drop(&mut self) {
        self.shared.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    use crate::Solo;
    use crate::assembler::OrdererIdentity;
    use medledger_crypto::keys::SigningKey;
    use medledger_types::{Block, ChannelConfig, FORMAT_VERSION};

    /// Long enough that a test which passes cannot have been helped by the timeout.
    const NEVER_MS: u64 = 600_000;
    /// How long a test waits for a block that must come.
    const DEADLINE: Duration = Duration::from_secs(10);

    fn start(batch: BatchConfig) -> (OrdererHandle, mpsc::Receiver<Block>) {
        let config = ChannelConfig {
            format_version: FORMAT_VERSION,
            channel: "ehr".into(),
            orgs: vec![],
            orderers: vec![],
            contract: "ehr".into(),
            endorsement_policy: "OR('Org1.peer')".into(),
            batch: batch.clone(),
            proposal_window_ms: medledger_types::limits::PROPOSAL_WINDOW_MS_DEFAULT,
        };
        let identity = OrdererIdentity {
            key: SigningKey::from_seed(&[1; 32]),
            certificate: vec![],
        };
        let (_genesis, assembler) = BlockAssembler::genesis(&config, identity, 0);
        let (tx, rx) = mpsc::sync_channel(8);
        let handle =
            OrdererHandle::spawn(batch, assembler, Box::new(Solo::new(tx)), Arc::new(|| 42));
        (handle, rx)
    }

    fn batch(count: u32, timeout_ms: u64) -> BatchConfig {
        BatchConfig {
            tx_count_max: count,
            bytes_max: 1 << 20,
            timeout_ms,
        }
    }

    fn next(blocks: &mpsc::Receiver<Block>) -> Block {
        blocks
            .recv_timeout(DEADLINE)
            .expect("a block within the deadline")
    }

    #[test]
    fn a_lone_envelope_is_cut_at_once_not_after_the_timeout() {
        let (handle, blocks) = start(batch(100, NEVER_MS));
        handle.submit(b"one".to_vec()).expect("queued");
        let block = next(&blocks);
        assert_eq!(block.header.number, 1);
        assert_eq!(block.data.entries, vec![b"one".to_vec()]);
        handle.shutdown().expect("clean stop");
    }

    #[test]
    fn while_a_block_commits_the_next_ones_gather_into_one_block() {
        let (handle, blocks) = start(batch(100, NEVER_MS));
        let done = handle.block_done();
        handle.submit(b"a".to_vec()).expect("queued");
        assert_eq!(next(&blocks).data.entries, vec![b"a".to_vec()]);
        // Block 1 is not reported committed: these wait, however long, and travel together.
        for e in [b"b", b"c", b"d"] {
            handle.submit(e.to_vec()).expect("queued");
        }
        done.committed();
        let block = next(&blocks);
        assert_eq!(block.header.number, 2);
        assert_eq!(
            block.data.entries,
            vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
        handle.shutdown().expect("clean stop");
    }

    #[test]
    fn when_the_pipeline_stays_busy_the_timeout_cuts_the_batch() {
        let (handle, blocks) = start(batch(100, 5));
        handle.submit(b"a".to_vec()).expect("queued");
        assert_eq!(next(&blocks).header.number, 1);
        // Nothing is ever reported committed: only the timeout can cut these.
        handle.submit(b"b".to_vec()).expect("queued");
        handle.submit(b"c".to_vec()).expect("queued");
        let mut entries = Vec::new();
        while entries.len() < 2 {
            entries.extend(next(&blocks).data.entries);
        }
        assert_eq!(entries, vec![b"b".to_vec(), b"c".to_vec()]);
        handle.shutdown().expect("clean stop");
    }

    #[test]
    fn full_batches_are_cut_whatever_the_pipeline_holds_and_shutdown_flushes_the_rest() {
        let (handle, blocks) = start(batch(2, NEVER_MS));
        handle.submit(b"a".to_vec()).expect("queued");
        assert_eq!(next(&blocks).data.entries, vec![b"a".to_vec()]);
        for i in 0..5u8 {
            handle.submit(vec![i]).expect("queued");
        }
        assert_eq!(next(&blocks).data.entries, vec![vec![0], vec![1]]);
        assert_eq!(next(&blocks).data.entries, vec![vec![2], vec![3]]);
        handle.shutdown().expect("clean stop");
        let last = next(&blocks);
        assert_eq!(last.data.entries, vec![vec![4]]);
        assert_eq!(last.header.number, 4);
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
    fn a_stopped_peer_stops_the_orderer_with_an_error_and_submit_says_stopped() {
        let (handle, blocks) = start(batch(1, 5));
        drop(blocks);
        let _ = handle.submit(vec![1]);
        // The loop ends on its own; from then on submit answers `Stopped`.
        let deadline = Instant::now() + DEADLINE;
        while handle.submit(vec![2]) != Err(SubmitError::Stopped) {
            assert!(Instant::now() < deadline, "the orderer never stopped");
            std::thread::yield_now();
        }
        assert!(handle.shutdown().is_err());
    }
}
