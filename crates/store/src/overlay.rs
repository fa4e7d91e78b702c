//! [`CopyOnWriteBackend`]: a redb storage backend that reads a file opened read-only and keeps every
//! write in memory, so that redb's work that needs a writable handle — its page-checksum integrity
//! check, or the recovery of a file a crash left — can run on a ledger without changing a byte of it.
//!
//! The overlay holds whole pages of [`OVERLAY_PAGE_BYTES`]; a read takes each page from the overlay if
//! it was written, else from the file (zeros past the file's end, as a grown file would read). The
//! integrity check and the recovery write only redb's headers and allocator state, a few pages, so the
//! overlay stays small whatever the size of the ledger.
//!
//! Locks are taken on the file, always shared: an exclusive lock asked for is taken shared, so a
//! running node (which holds the file exclusively) makes the open fail, while other readers do not.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::sync::Mutex;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// The overlay's unit: redb's page size, so that one write touches few overlay pages.
const OVERLAY_PAGE_BYTES: u64 = 4096;

/// A backend over a read-only file whose writes stay in memory (module doc).
#[derive(Debug)]
pub(crate) struct CopyOnWriteBackend {
    file: FileBackend,
    /// The file's length when opened; what lies past it reads as zeros.
    file_len: u64,
    overlay: Mutex<Overlay>,
}

#[derive(Debug)]
struct Overlay {
    /// The length redb sees (it may grow or shrink the storage).
    len: u64,
    /// Written pages by page number, each `OVERLAY_PAGE_BYTES` long.
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl CopyOnWriteBackend {
    /// A backend over `file`, which the caller opened for reading only.
    pub(crate) fn new(file: File) -> io::Result<CopyOnWriteBackend> {
        let file_len = file.metadata()?.len();
        #[allow(deprecated)]
        // `from_file` is crate-private; `new` is the public constructor in 4.x.
        let file = FileBackend::new(file).map_err(io::Error::other)?;
        Ok(CopyOnWriteBackend {
            file,
            file_len,
            overlay: Mutex::new(Overlay {
                len: file_len,
                pages: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> io::Result<std::sync::MutexGuard<'_, Overlay>> {
        self.overlay
            .lock()
            .map_err(|_| io::Error::other("the overlay's lock is poisoned"))
    }

    /// Page `page` as the file has it (zeros past its end).
    fn file_page(&self, page: u64) -> io::Result<Box<[u8]>> {
        let mut bytes = vec![0u8; OVERLAY_PAGE_BYTES as usize].into_boxed_slice();
        let start = page * OVERLAY_PAGE_BYTES;
        if start < self.file_len {
            let available = (self.file_len - start).min(OVERLAY_PAGE_BYTES) as usize;
            self.file.read(start, &mut bytes[..available])?;
        }
        Ok(bytes)
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the storage",
    )
}

impl StorageBackend for CopyOnWriteBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock()?.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let overlay = self.lock()?;
        let end = offset
            .checked_add(out.len() as u64)
            .ok_or_else(out_of_range)?;
        if end > overlay.len {
            return Err(out_of_range());
        }
        let mut done = 0usize;
        while done < out.len() {
            let position = offset + done as u64;
            let page = position / OVERLAY_PAGE_BYTES;
            let within = (position % OVERLAY_PAGE_BYTES) as usize;
            let take = (OVERLAY_PAGE_BYTES as usize - within).min(out.len() - done);
            let target = &mut out[done..done + take];
            match overlay.pages.get(&page) {
                Some(bytes) => target.copy_from_slice(&bytes[within..within + take]),
                None if position >= self.file_len => target.fill(0),
                None => {
                    let available = (self.file_len - position).min(take as u64) as usize;
                    self.file.read(position, &mut target[..available])?;
                    target[available..].fill(0);
                }
            }
            done += take;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut overlay = self.lock()?;
        if len < overlay.len {
            // Bytes cut off must read as zeros if the storage grows again.
            let first_cut = len / OVERLAY_PAGE_BYTES;
            let keep_in_first = (len % OVERLAY_PAGE_BYTES) as usize;
            if keep_in_first > 0 && !overlay.pages.contains_key(&first_cut) {
                let bytes = self.file_page(first_cut)?;
                overlay.pages.insert(first_cut, bytes);
            }
            if let Some(bytes) = overlay.pages.get_mut(&first_cut) {
                bytes[keep_in_first..].fill(0);
            }
            let last = overlay.len.div_ceil(OVERLAY_PAGE_BYTES);
            for page in first_cut + u64::from(keep_in_first > 0)
                ..last.min(self.file_len.div_ceil(OVERLAY_PAGE_BYTES))
            {
                overlay.pages.insert(
                    page,
                    vec![0u8; OVERLAY_PAGE_BYTES as usize].into_boxed_slice(),
                );
            }
        }
        overlay.len = len;
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut overlay = self.lock()?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(out_of_range)?;
        if end > overlay.len {
            return Err(out_of_range());
        }
        let mut done = 0usize;
        while done < data.len() {
            let position = offset + done as u64;
            let page = position / OVERLAY_PAGE_BYTES;
            let within = (position % OVERLAY_PAGE_BYTES) as usize;
            let take = (OVERLAY_PAGE_BYTES as usize - within).min(data.len() - done);
            let bytes = match overlay.pages.entry(page) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(self.file_page(page)?)
                }
            };
            bytes[within..within + take].copy_from_slice(&data[done..done + take]);
            done += take;
        }
        Ok(())
    }

    fn close(&self) -> Result<(), io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(contents: &[u8]) -> (tempfile::TempDir, CopyOnWriteBackend) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("file");
        std::fs::write(&path, contents).expect("write");
        let file = File::open(&path).expect("open read-only");
        (dir, CopyOnWriteBackend::new(file).expect("backend"))
    }

    #[test]
    fn writes_are_read_back_and_never_reach_the_file() {
        let original: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let (dir, backend) = backend(&original);
        backend
            .write(4090, &[0xAA; 20])
            .expect("write across a page edge");
        backend.set_len(12_000).expect("grow");
        backend
            .write(11_000, &[0xBB; 10])
            .expect("write past the file");
        let mut out = vec![0u8; 12_000];
        backend.read(0, &mut out).expect("read");
        let mut expected = original.clone();
        expected.resize(12_000, 0);
        expected[4090..4110].fill(0xAA);
        expected[11_000..11_010].fill(0xBB);
        assert_eq!(out, expected);
        backend.set_len(5000).expect("shrink");
        backend.set_len(6000).expect("grow again");
        let mut tail = vec![1u8; 1000];
        backend.read(5000, &mut tail).expect("read");
        assert_eq!(tail, vec![0u8; 1000], "cut bytes read as zeros");
        assert!(backend.read(5999, &mut [0u8; 2]).is_err());
        assert_eq!(
            std::fs::read(dir.path().join("file")).expect("read"),
            original
        );
    }
}
