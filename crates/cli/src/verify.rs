//! `medledger verify`: a read-only auditor of a stopped node's ledger.
//!
//! It opens the ledger file for reading only (the operating system refuses a write), runs redb's
//! page-checksum check over a copy-on-write view whose writes stay in memory, and replays the chain
//! into a scratch store in a temporary directory outside the data directory, so memory stays bounded
//! however long the chain is. A panic inside a dependency on damaged bytes is caught and reported as
//! damage; a quiet panic hook keeps its message out of the output while verify runs. External anchors
//! (`--genesis`, `--checkpoint`) catch a ledger replaced as a whole.
//!
//! Exit codes: 0 the ledger is sound (and anchored, if asked); 2 it is damaged, or is not the anchored
//! ledger, or cannot be opened; 1 verify could not run (bad flags, no ledger, no temporary directory).

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use medledger_node::DataDir;
use medledger_peer::verify::{Anchors, VerifyReport, verify_ledger_into};
use medledger_store::{PageChecksums, ReadOnlyOpen, RedbOptions, RedbStore};
use medledger_types::{Hash, Signature, SignedCheckpoint, codec, limits};

use crate::progress::Progress;
use crate::scratch::ScratchDir;

/// The exit code of a damaged or unanchored ledger.
const DAMAGED_EXIT_CODE: u8 = 2;

/// redb's page cache for the audited file and for the replay, each (redb's default is 1 GiB).
const VERIFY_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The largest checkpoint file read: the JSON answer is well under a kilobyte plus a certificate.
const CHECKPOINT_FILE_BYTES_MAX: u64 = 64 * 1024;

/// The anchors from the flags: `--genesis HASH` and `--checkpoint FILE`.
pub(crate) fn anchors(genesis: Option<&str>, checkpoint: Option<&Path>) -> anyhow::Result<Anchors> {
    let genesis_hash = genesis
        .map(|hex| {
            hex.trim()
                .parse::<Hash>()
                .map_err(|e| anyhow::anyhow!("--genesis {hex:?} is not a 64-digit hex hash: {e}"))
        })
        .transpose()?;
    let checkpoint = checkpoint
        .map(|path| {
            read_checkpoint(path).with_context(|| format!("--checkpoint {}", path.display()))
        })
        .transpose()?;
    Ok(Anchors {
        genesis_hash,
        checkpoint,
    })
}

/// A signed checkpoint from a file: the JSON of `GET /api/v1/ledger/checkpoint`, or the canonical
/// (borsh) bytes of a [`SignedCheckpoint`].
fn read_checkpoint(path: &Path) -> anyhow::Result<SignedCheckpoint> {
    let size = std::fs::metadata(path).context("cannot read it")?.len();
    if size > CHECKPOINT_FILE_BYTES_MAX {
        anyhow::bail!(
            "{size} bytes is more than a checkpoint ({CHECKPOINT_FILE_BYTES_MAX} at most)"
        );
    }
    let bytes = std::fs::read(path).context("cannot read it")?;
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return codec::decode(
            "signed checkpoint",
            &bytes,
            CHECKPOINT_FILE_BYTES_MAX as usize,
        )
        .map_err(|e| anyhow::anyhow!("neither the checkpoint's JSON nor its bytes: {e}"));
    };
    let field = |name: &str| {
        json.get(name)
            .and_then(serde_json::Value::as_str)
            .with_context(|| format!("the JSON has no string field {name:?}"))
    };
    let checkpoint = BASE64
        .decode(field("checkpoint")?)
        .context("`checkpoint` is not base64")?;
    let signer = BASE64
        .decode(field("signer_certificate")?)
        .context("`signer_certificate` is not base64")?;
    if signer.len() > limits::CERTIFICATE_BYTES_MAX {
        anyhow::bail!("`signer_certificate` is {} bytes, too long", signer.len());
    }
    let signature: [u8; 64] = hex::decode(field("signature")?)
        .context("`signature` is not hex")?
        .try_into()
        .map_err(|_| anyhow::anyhow!("`signature` is not 64 bytes"))?;
    Ok(SignedCheckpoint {
        checkpoint,
        signer,
        signature: Signature(signature),
    })
}

/// Runs the audit of `data`'s ledger against `anchors` and prints its verdict on standard output.
pub(crate) fn verify(data: &Path, anchors: &Anchors) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(data);
    let path = data.ledger();
    if !path.exists() {
        anyhow::bail!("{} does not exist: nothing to verify", path.display());
    }
    let scratch = ScratchDir::create("verify", Some(data.root()))?;
    let _quiet = QuietPanics::install();
    let verdict = audit(&path, scratch.path(), anchors);
    drop(_quiet);
    scratch.remove();
    match verdict {
        Verdict::Sound(report) => {
            println!(
                "ok: {} blocks, {} transactions ({} valid), {} state keys; ledger root {} over {} entries",
                report.blocks,
                report.transactions,
                report.valid_transactions,
                report.state_keys,
                report.ledger_root,
                report.ledger_size
            );
            println!("genesis {} (keep it: --genesis)", report.genesis_hash);
            if let Some((block, size)) = report.checkpoint {
                println!("the checkpoint of block {block} (tree size {size}) holds");
            }
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Damaged(problems) => {
            for problem in problems {
                println!("FAILED: {problem}");
            }
            Ok(ExitCode::from(DAMAGED_EXIT_CODE))
        }
    }
}

/// What the audit found.
enum Verdict {
    Sound(VerifyReport),
    /// Each problem found, in the order found.
    Damaged(Vec<String>),
}

/// Opens the ledger at `path` read-only, checks its page checksums and replays it into `scratch`.
fn audit(path: &Path, scratch: &Path, anchors: &Anchors) -> Verdict {
    let options = RedbOptions {
        cache_bytes: Some(VERIFY_CACHE_BYTES),
        ..RedbOptions::default()
    };
    let mut problems = Vec::new();
    let source = match caught(|| RedbStore::open_read_only(path, &options)) {
        Some(Ok((store, how))) => {
            if how == ReadOnlyOpen::RecoveredInMemory {
                eprintln!(
                    "note: {} was not closed cleanly (a crash?); it was recovered in memory, the file is unchanged",
                    path.display()
                );
            }
            store
        }
        Some(Err(e)) => {
            return Verdict::Damaged(vec![format!(
                "cannot open {}: {e} (is the node still running?)",
                path.display()
            )]);
        }
        None => return Verdict::Damaged(vec![engine_failed(path)]),
    };
    match caught(|| RedbStore::check_page_checksums(path)) {
        Some(Ok(PageChecksums::Match)) => {}
        Some(Ok(PageChecksums::Mismatch { detail })) => problems.push(format!(
            "the ledger file's page checksums do not match: {detail}"
        )),
        Some(Err(e)) => problems.push(format!("cannot check the page checksums: {e}")),
        None => problems.push(engine_failed(path)),
    }
    let replay_options = RedbOptions {
        cache_bytes: Some(VERIFY_CACHE_BYTES),
        scratch: true,
        ..RedbOptions::default()
    };
    let replay = match RedbStore::open_with(&scratch.join("replay.redb"), &replay_options) {
        Ok(replay) => replay,
        Err(e) => {
            problems.push(format!(
                "cannot create the replay store in {}: {e}",
                scratch.display()
            ));
            return Verdict::Damaged(problems);
        }
    };
    let mut progress = Progress::new();
    let outcome = caught(|| {
        verify_ledger_into(&source, &replay, anchors, &mut |done, total| {
            progress.update(|elapsed| verified_line(done, total, elapsed))
        })
    });
    progress.finish();
    match outcome {
        Some(Ok(report)) if problems.is_empty() => Verdict::Sound(report),
        Some(Ok(_)) => Verdict::Damaged(problems),
        Some(Err(e)) => {
            problems.push(e.to_string());
            Verdict::Damaged(problems)
        }
        None => {
            problems.push(engine_failed(path));
            Verdict::Damaged(problems)
        }
    }
}

/// The progress line: blocks verified, the rate and the time left.
fn verified_line(done: u64, total: u64, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let remaining = total.saturating_sub(done) as f64 / rate.max(1e-9);
    let percent = done as f64 * 100.0 / total.max(1) as f64;
    format!(
        "verified {done}/{total} blocks ({percent:.0}%, {rate:.0} blocks/s, about {remaining:.0} s left)"
    )
}

fn engine_failed(path: &Path) -> String {
    format!(
        "{} is damaged: decoding it failed inside a dependency",
        path.display()
    )
}

/// Runs `f`; `None` if it panicked (the panic's message is not kept: see [`QuietPanics`]).
fn caught<T>(f: impl FnOnce() -> T) -> Option<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).ok()
}

/// A panic hook that prints nothing, installed while verify decodes untrusted bytes: a dependency's
/// panic on damaged input is reported as damage, and its message (about the dependency's internals,
/// and possibly quoting the damaged bytes) is not shown. The previous hook comes back on drop.
struct QuietPanics {
    previous: Option<PanicHook>,
}

/// A panic hook, as `std::panic::take_hook` returns it.
type PanicHook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

impl QuietPanics {
    fn install() -> QuietPanics {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        QuietPanics {
            previous: Some(previous),
        }
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            panic::set_hook(previous);
        }
    }
}
