//! Runs the conformance suite against both stores. Failures pinned: a store that loses or mixes data,
//! accepts a block out of order or a commit that disagrees with itself, forgets across a reopen, or
//! returns (or panics on) a block damaged at rest.

use std::path::PathBuf;

use medledger_store::conformance::{Harness, find_all};
use medledger_store::{RedbStore, Store, StoreError};

mod memory {
    medledger_store::conformance_tests!(medledger_store::conformance::MemoryHarness::new());
}

mod redb {
    medledger_store::conformance_tests!(crate::RedbHarness::new());
}

/// A [`RedbStore`] in a temporary directory, closed and reopened from its file on demand.
struct RedbHarness {
    store: Option<RedbStore>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl RedbHarness {
    fn new() -> RedbHarness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("ledger.redb");
        let store = RedbStore::open(&path).expect("a new store opens");
        RedbHarness {
            store: Some(store),
            path,
            _dir: dir,
        }
    }

    fn close(&mut self) -> Result<(), StoreError> {
        match self.store.take() {
            Some(store) => store.close(),
            None => Ok(()),
        }
    }
}

impl Harness for RedbHarness {
    fn store(&self) -> &dyn Store {
        self.store.as_ref().expect("the store is open")
    }

    fn reopen(&mut self) -> Result<(), StoreError> {
        self.close()?;
        self.store = Some(RedbStore::open(&self.path)?);
        Ok(())
    }

    fn damage_block(&mut self, _number: u64, needle: &[u8]) -> Result<(), StoreError> {
        self.close()?;
        let mut file = std::fs::read(&self.path)?;
        let offsets = find_all(&file, needle);
        assert!(!offsets.is_empty(), "the needle is in the file");
        for offset in offsets {
            file[offset + needle.len() / 2] ^= 0xff;
        }
        std::fs::write(&self.path, &file)?;
        self.store = Some(RedbStore::open(&self.path)?);
        Ok(())
    }
}
