//! The node's data directory: where each file lives and how secrets are written.
//!
//! ```text
//! DATA/
//!   ledger.redb            blocks, transaction index, world state, history, Merkle nodes
//!   node.toml              written at first run: organization, channel (informational)
//!   msp/ca.crt  ca.key     the organization CA (DER certificate, 32-byte Ed25519 seed)
//!   node/peer.crt peer.key the peer's identity
//!   node/orderer.crt orderer.key
//!   wallet.redb            people's credentials and encrypted keys (written by the gateway, not here)
//! ```
//! Keys are written owner-only (0600), through a temporary file that is synced and renamed, so a crash
//! never leaves half a key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use medledger_crypto::keys::SigningKey;

use crate::NodeError;

pub const LEDGER_FILE: &str = "ledger.redb";

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn ledger(&self) -> PathBuf {
        self.root.join(LEDGER_FILE)
    }

    pub fn ca(&self) -> (PathBuf, PathBuf) {
        (self.root.join("msp/ca.crt"), self.root.join("msp/ca.key"))
    }

    pub fn node_identity(&self, role: &str) -> (PathBuf, PathBuf) {
        (
            self.root.join(format!("node/{role}.crt")),
            self.root.join(format!("node/{role}.key")),
        )
    }
}

fn io_error(path: &Path, e: std::io::Error) -> NodeError {
    NodeError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// Writes `bytes` to `path` atomically; `secret` makes the file owner-only.
pub fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), NodeError> {
    let dir = path
        .parent()
        .ok_or_else(|| io_error(path, std::io::Error::other("no parent directory")))?;
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&tmp).map_err(|e| io_error(&tmp, e))?;
    file.write_all(bytes).map_err(|e| io_error(&tmp, e))?;
    file.sync_all().map_err(|e| io_error(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub fn read_file(path: &Path, max_bytes: usize) -> Result<Vec<u8>, NodeError> {
    let bytes = fs::read(path).map_err(|e| io_error(path, e))?;
    if bytes.len() > max_bytes {
        return Err(NodeError::Corrupted {
            path: path.to_path_buf(),
            detail: format!("{} bytes, expected at most {max_bytes}", bytes.len()),
        });
    }
    Ok(bytes)
}

pub fn write_key(path: &Path, key: &SigningKey) -> Result<(), NodeError> {
    write_file(path, &key.seed(), true)
}

pub fn read_key(path: &Path) -> Result<SigningKey, NodeError> {
    let bytes = read_file(path, 32)?;
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| NodeError::Corrupted {
            path: path.to_path_buf(),
            detail: format!("a key file holds 32 bytes, this one {}", bytes.len()),
        })?;
    Ok(SigningKey::from_seed(&seed))
}
