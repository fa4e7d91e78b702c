//! Pins: a redb file damaged at rest (one byte flipped anywhere, or the file cut short or replaced by
//! garbage) opening or reading as anything but an error — a panic escaping the store, or a block that
//! differs from the one committed.

use std::path::Path;

use medledger_store::conformance::{TestChain, TestTx};
use medledger_store::{RedbOptions, RedbStore, Store, StoreError};
use medledger_types::Block;

/// Commits a few blocks to a new store at `path`, closes it, and returns the blocks.
fn write_ledger(path: &Path) -> Vec<Block> {
    let store = RedbStore::open(path).expect("a new store opens");
    let mut chain = TestChain::new();
    let mut blocks = Vec::new();
    for number in 0..4u64 {
        let txs: Vec<TestTx> = (0..3)
            .map(|i| {
                TestTx::valid(
                    number * 10 + i,
                    &[(
                        format!("key/{i}").as_str(),
                        format!("value {number}").as_bytes(),
                    )],
                )
            })
            .collect();
        let commit = chain.next_commit(&txs);
        blocks.push(commit.block.clone());
        store.commit(commit).expect("commit");
    }
    store.close().expect("close");
    blocks
}

/// Opens and reads everything; every answer must be correct or an error.
fn open_and_read(path: &Path, options: &RedbOptions, blocks: &[Block]) -> Result<(), StoreError> {
    let store = RedbStore::open_with(path, options)?;
    let height = store.height()?;
    for number in 0..height.min(16) {
        if let Ok(Some(block)) = store.block(number) {
            assert_eq!(
                Some(&block),
                blocks.get(number as usize),
                "block {number} read back different"
            );
        }
        let _ = store.block_bytes(number);
        let _ = store.header_hash(number);
    }
    let _ = store.range("", "\u{10FFFF}", 100);
    for i in 0..3 {
        let _ = store.get(&format!("key/{i}"));
        let _ = store.history(&format!("key/{i}"), None, 100);
    }
    let _ = store.merkle_size();
    let _ = store.merkle_node(0, 0);
    Ok(())
}

#[test]
fn flipped_bytes_anywhere_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ledger.redb");
    let blocks = write_ledger(&path);
    let original = std::fs::read(&path).expect("read the file");
    // Flip bytes that carry data (zero bytes are mostly unused space), spread over the whole file.
    let candidates: Vec<usize> = (0..original.len()).filter(|&i| original[i] != 0).collect();
    assert!(!candidates.is_empty());
    let step = (candidates.len() / 150).max(1);
    let mut outcomes = [0usize; 2];
    for &offset in candidates.iter().step_by(step) {
        let mut damaged = original.clone();
        damaged[offset] ^= 0x5a;
        for options in [
            RedbOptions::default(),
            RedbOptions {
                check_integrity_on_open: true,
                ..RedbOptions::default()
            },
        ] {
            std::fs::write(&path, &damaged).expect("write the damaged file");
            match open_and_read(&path, &options, &blocks) {
                Ok(()) => outcomes[0] += 1,
                Err(error) => {
                    assert!(
                        error.is_fatal(),
                        "offset {offset}: a damaged file gave a non-fatal error: {error:?}"
                    );
                    outcomes[1] += 1;
                }
            }
        }
    }
    eprintln!("opened and read: {}, refused: {}", outcomes[0], outcomes[1]);
}

#[test]
fn a_damaged_block_is_caught_by_a_full_integrity_check_on_open() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ledger.redb");
    let blocks = write_ledger(&path);
    let mut file = std::fs::read(&path).expect("read the file");
    // Block 2's entries are the only place its values are still written (state holds block 3's).
    let needle = b"value 2";
    let offsets = medledger_store::conformance::find_all(&file, needle);
    assert!(!offsets.is_empty());
    for offset in offsets {
        file[offset + 5] ^= 0xff;
    }
    std::fs::write(&path, &file).expect("write the damaged file");
    let options = RedbOptions {
        check_integrity_on_open: true,
        ..RedbOptions::default()
    };
    let result = open_and_read(&path, &options, &blocks);
    assert!(matches!(result, Err(ref e) if e.is_fatal()), "{result:?}");
}

#[test]
fn garbage_and_truncated_files_are_errors() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ledger.redb");
    let blocks = write_ledger(&path);
    let original = std::fs::read(&path).expect("read the file");
    for len in [1, 64, 511, 4096, original.len() / 2, original.len() - 1] {
        std::fs::write(&path, &original[..len]).expect("truncate");
        let result = open_and_read(&path, &RedbOptions::default(), &blocks);
        assert!(
            result.as_ref().is_err_and(StoreError::is_fatal) || result.is_ok(),
            "cut to {len}: {result:?}"
        );
    }
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).expect("write garbage");
    let result = RedbStore::open(&path);
    assert!(
        matches!(result, Err(ref e) if e.is_fatal()),
        "garbage opened: {:?}",
        result.map(|_| ())
    );
}

#[test]
fn a_second_open_of_the_same_file_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ledger.redb");
    let _first = RedbStore::open(&path).expect("a new store opens");
    let second = RedbStore::open(&path);
    assert!(
        matches!(second, Err(StoreError::Database(_))),
        "{:?}",
        second.map(|_| ())
    );
}
