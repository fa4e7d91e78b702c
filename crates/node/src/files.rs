//! The node's data directory: where each file lives and how secrets are written.
//!
//! ```text
//! DATA/
//!   ledger.redb            blocks, transaction index, world state, history, Merkle nodes
//!   node.toml              written at first run: organization, channel (informational)
//!   msp/ca.crt             the organization CA's certificate (DER); its key is never written here: it
//!                          is sealed in the wallet under each administrator's password
//!   node/peer.crt peer.key the peer's identity
//!   node/orderer.crt orderer.key
//!   wallet.redb            people's credentials and encrypted keys (written by the service, not here)
//! ```
//! The directory and everything in it is the node operator's alone: directories are created 0700 and
//! files 0600, and [`check_private`] refuses a data directory that others can read. Files are written
//! through a temporary file that is synced and renamed, so a crash never leaves half a key.

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

    /// The organization CA's certificate (DER).
    pub fn ca_certificate(&self) -> PathBuf {
        self.root.join("msp/ca.crt")
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

/// The mode of every directory in a data directory: the owner's alone.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// The mode of every file in a data directory: the owner's alone.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents, the ones it creates owner-only ([`PRIVATE_DIR_MODE`]).
pub fn create_private_dir(dir: &Path) -> Result<(), NodeError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(dir).map_err(|e| io_error(dir, e))
}

/// Makes `path` (a file that a library created with the default mode) owner-only.
pub fn make_private(path: &Path) -> Result<(), NodeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if path.is_dir() {
            PRIVATE_DIR_MODE
        } else {
            PRIVATE_FILE_MODE
        };
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| io_error(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Refuses a data directory that anyone but its owner can read, write or enter: the directory itself and
/// every directory and file in it (to a depth of two, as the layout has) must have no group or other
/// permission bits. The error names the first offender and the command that fixes it.
pub fn check_private(data: &DataDir) -> Result<(), NodeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fn check(root: &Path, path: &Path, depth: u32) -> Result<(), NodeError> {
            let meta = fs::symlink_metadata(path).map_err(|e| io_error(path, e))?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(NodeError::NotPrivate {
                    path: path.to_path_buf(),
                    root: root.to_path_buf(),
                    mode,
                });
            }
            if meta.is_dir() && depth < 2 {
                for entry in fs::read_dir(path).map_err(|e| io_error(path, e))? {
                    let entry = entry.map_err(|e| io_error(path, e))?;
                    check(root, &entry.path(), depth + 1)?;
                }
            }
            Ok(())
        }
        if data.root().exists() {
            check(data.root(), data.root(), 0)?;
        }
    }
    #[cfg(not(unix))]
    let _ = data;
    Ok(())
}

/// Writes `bytes` to `path` atomically, owner-only ([`PRIVATE_FILE_MODE`]: nothing in a data directory
/// is for other users, not even certificates, which name the people of a hospital).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let dir = path
        .parent()
        .ok_or_else(|| io_error(path, std::io::Error::other("no parent directory")))?;
    create_private_dir(dir)?;
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
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
    write_file(path, &key.seed())
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
