//! Every limit of the ledger, in one place, with the unit last in the name.
//!
//! A value coming from disk or from another node is checked against these before any arithmetic or
//! allocation. Related limits are checked against each other at compile time at the bottom of the file.

/// Largest canonical envelope (one transaction) the ledger accepts, in bytes.
pub const ENVELOPE_BYTES_MAX: usize = 256 * 1024;
/// Largest canonical proposal, in bytes (it travels inside an envelope).
pub const PROPOSAL_BYTES_MAX: usize = 192 * 1024;
/// Most arguments a proposal may carry.
pub const PROPOSAL_ARGS_COUNT_MAX: usize = 16;
/// Largest certificate (DER) accepted anywhere, in bytes.
pub const CERTIFICATE_BYTES_MAX: usize = 4 * 1024;
/// Most endorsements one envelope may carry.
pub const ENDORSEMENTS_COUNT_MAX: usize = 16;

/// Longest world-state key, in bytes.
pub const KEY_BYTES_MAX: usize = 512;
/// Largest world-state value, in bytes.
pub const VALUE_BYTES_MAX: usize = 128 * 1024;
/// Most reads one transaction may record.
pub const RWSET_READS_COUNT_MAX: usize = 1024;
/// Most writes one transaction may make.
pub const RWSET_WRITES_COUNT_MAX: usize = 256;

/// Most transactions in one block.
pub const BLOCK_TX_COUNT_MAX: usize = 2048;
/// Default number of transactions after which the cutter closes a block.
pub const BLOCK_TX_COUNT_DEFAULT: usize = 500;
/// Largest block (sum of its envelopes), in bytes.
pub const BLOCK_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Default byte size after which the cutter closes a block.
pub const BLOCK_BYTES_DEFAULT: usize = 4 * 1024 * 1024;
/// Default time a non-empty batch may wait, while the committer is busy, before it is cut anyway (an idle
/// committer takes it at once).
pub const BLOCK_TIMEOUT_MS_DEFAULT: u64 = 20;
/// Largest block the store will read back, in bytes (envelopes plus header and metadata).
pub const BLOCK_STORED_BYTES_MAX: usize = BLOCK_BYTES_MAX + BLOCK_TX_COUNT_MAX * 8 + 64 * 1024;

/// Default time window of a proposal's timestamp around its block's time (Fabric's default, 15 minutes).
pub const PROPOSAL_WINDOW_MS_DEFAULT: u64 = 15 * 60 * 1000;

/// Most transactions waiting to be ordered; submitters block (or are refused) beyond it.
pub const ORDERER_QUEUE_COUNT_MAX: usize = 16 * 1024;

/// Most items one list or range call returns.
pub const PAGE_LIMIT_MAX: usize = 500;
/// Items a list returns when the caller names no limit.
pub const PAGE_LIMIT_DEFAULT: usize = 50;
/// Most versions one history call returns.
pub const HISTORY_COUNT_MAX: usize = 500;

/// Longest text field in a record (a note's text), in bytes.
pub const NOTE_TEXT_BYTES_MAX: usize = 64 * 1024;
/// Longest short text field (names, codes, identifiers), in bytes.
pub const SHORT_TEXT_BYTES_MAX: usize = 255;
/// Longest amendment reason, in bytes.
pub const REASON_BYTES_MAX: usize = 1024;

const _: () = assert!(BLOCK_TX_COUNT_DEFAULT <= BLOCK_TX_COUNT_MAX);
const _: () = assert!(BLOCK_BYTES_DEFAULT <= BLOCK_BYTES_MAX);
const _: () = assert!(ENVELOPE_BYTES_MAX <= BLOCK_BYTES_DEFAULT);
const _: () = assert!(PROPOSAL_BYTES_MAX < ENVELOPE_BYTES_MAX);
const _: () = assert!(VALUE_BYTES_MAX < PROPOSAL_BYTES_MAX);
const _: () = assert!(NOTE_TEXT_BYTES_MAX < VALUE_BYTES_MAX);
const _: () = assert!(PAGE_LIMIT_DEFAULT <= PAGE_LIMIT_MAX);
const _: () = assert!(BLOCK_TX_COUNT_MAX <= u32::MAX as usize);
