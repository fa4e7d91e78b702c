//! A private temporary directory (mode 0700, a fresh name, never an existing directory reused),
//! removed when the command ends: `verify`'s replay store, `bench --in-process`'s node.

use std::path::{Path, PathBuf};

use anyhow::Context;

pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A new directory `medledger-{purpose}-{pid}-{nanos}` in the system's temporary directory;
    /// refused if that is inside `outside_of` (a data directory it must not write into).
    pub(crate) fn create(purpose: &str, outside_of: Option<&Path>) -> anyhow::Result<ScratchDir> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = base.join(format!(
            "medledger-{purpose}-{}-{nanos}",
            std::process::id()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        // `create`, not `create_all`: an existing directory of that name is refused, not reused.
        builder
            .create(&path)
            .with_context(|| format!("cannot create the {purpose} directory {}", path.display()))?;
        let dir = ScratchDir(path);
        if let Some(outside_of) = outside_of {
            let inside = match (dir.0.canonicalize(), outside_of.canonicalize()) {
                (Ok(scratch), Ok(data)) => scratch.starts_with(&data),
                _ => false,
            };
            if inside {
                dir.remove();
                anyhow::bail!(
                    "the temporary directory {} is inside the data directory; set TMPDIR elsewhere",
                    base.display()
                );
            }
        }
        Ok(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn remove(self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!(
                "warning: cannot remove the temporary directory {}: {e}",
                self.0.display()
            );
        }
    }
}
