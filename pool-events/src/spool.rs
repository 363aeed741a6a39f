//! The share log: an append-only file of batches, each record
//! `length (u32 LE) ‖ CRC-32 of the payload (u32 LE) ‖ payload (the batch as JSON)`,
//! synced to disk before an append returns. With durable acknowledgements every batch
//! goes through it; otherwise it holds batches while the store is down or slow.
//!
//! Its operations block (they write and sync a file): the writer runs them on the
//! blocking pool.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// A spool file that cannot be read or written.
#[derive(Debug, Error)]
#[error("spool {path}: {source}")]
pub struct SpoolError {
    /// The spool file.
    pub path: String,
    /// The operating system's reason.
    pub source: std::io::Error,
}

const HEADER: usize = 8;
/// No batch is this large; a longer length field means the file is damaged there.
const MAX_RECORD: usize = 256 * 1024 * 1024;

/// An open spool of `T`s with a replay cursor.
#[derive(Debug)]
pub(crate) struct Spool<T> {
    path: PathBuf,
    file: File,
    /// Bytes of the file holding whole records.
    len: u64,
    /// Where the next record to replay starts.
    cursor: u64,
    /// The sizes (header included) of the records from the cursor on, in order.
    records: VecDeque<u64>,
    /// A failed append may have left bytes past `len`; they are cut before the next one.
    torn: bool,
    items: PhantomData<fn() -> T>,
}

/// What the record at the cursor holds.
#[derive(Debug)]
pub(crate) enum Peeked<T> {
    /// A batch.
    Item(T),
    /// A whole, intact record this version cannot decode (written by another version?):
    /// its bytes, so they can be kept aside rather than block the spool for ever.
    Unreadable(Vec<u8>, String),
}

impl<T: Serialize + DeserializeOwned> Spool<T> {
    /// Opens or creates the spool at `path`. A torn record at the end (a crash during an
    /// append, before it was synced, so before its batch counted as written) is cut off.
    pub(crate) fn open(path: &Path) -> Result<Spool<T>, SpoolError> {
        let io = |source| SpoolError {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut whole = 0;
        let mut records = VecDeque::new();
        while let Some((_, next)) = decode_at(&bytes, whole) {
            records.push_back((next - whole) as u64);
            whole = next;
        }
        if whole < bytes.len() {
            tracing::warn!(
                spool = %path.display(),
                cut = bytes.len() - whole,
                "cutting a torn record off the end of the share spool"
            );
            file.set_len(whole as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(Spool {
            path: path.to_owned(),
            file,
            len: whole as u64,
            cursor: 0,
            records,
            torn: false,
            items: PhantomData,
        })
    }

    fn io_error(&self, source: std::io::Error) -> SpoolError {
        SpoolError {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The spool's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether batches wait to be replayed.
    pub(crate) fn has_pending(&self) -> bool {
        !self.records.is_empty()
    }

    /// How many batches wait to be replayed.
    pub(crate) fn pending(&self) -> usize {
        self.records.len()
    }

    /// The record of `item` as [`Spool::append_record`] takes it (done off the blocking
    /// pool: it is plain CPU work).
    pub(crate) fn encode(item: &T) -> Vec<u8> {
        let payload = serde_json::to_vec(item).expect("spooled batches serialize");
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        record
    }

    /// Appends `item` and syncs it to disk.
    #[cfg(test)]
    pub(crate) fn append(&mut self, item: &T) -> Result<(), SpoolError> {
        self.append_record(&Self::encode(item))
    }

    /// Appends an encoded record and syncs it to disk. On failure (a full or read-only
    /// disk) the file is cut back to its last whole record, so a torn write never hides
    /// the records after it.
    pub(crate) fn append_record(&mut self, record: &[u8]) -> Result<(), SpoolError> {
        if self.torn {
            self.file.set_len(self.len).map_err(|e| self.io_error(e))?;
            self.torn = false;
        }
        let written = self
            .file
            .write_all(record)
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // ENOSPC leaves part of the record; a failed sync may leave all of it unsynced.
            self.torn = self.file.set_len(self.len).is_err();
            return Err(self.io_error(error));
        }
        self.len += record.len() as u64;
        self.records.push_back(record.len() as u64);
        Ok(())
    }

    /// The record at the cursor, if any.
    pub(crate) fn peek(&mut self) -> Result<Option<Peeked<T>>, SpoolError> {
        let Some(&size) = self.records.front() else {
            return Ok(None);
        };
        let mut record = vec![0u8; size as usize];
        self.file
            .seek(SeekFrom::Start(self.cursor))
            .and_then(|_| self.file.read_exact(&mut record))
            .map_err(|e| self.io_error(e))?;
        let Some((payload, _)) = decode_at(&record, 0) else {
            return Err(self.io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the record at byte {} changed on disk", self.cursor),
            )));
        };
        Ok(Some(match serde_json::from_slice(payload) {
            Ok(item) => Peeked::Item(item),
            Err(error) => Peeked::Unreadable(payload.to_vec(), error.to_string()),
        }))
    }

    /// Moves the cursor past `count` records. Once everything is replayed the file is
    /// emptied; that is not synced, because replaying a record twice changes nothing
    /// (targets apply each batch once).
    pub(crate) fn advance(&mut self, count: usize) -> Result<(), SpoolError> {
        for _ in 0..count {
            let Some(size) = self.records.pop_front() else {
                break;
            };
            self.cursor += size;
        }
        if self.records.is_empty() && self.len > 0 {
            self.file.set_len(0).map_err(|e| self.io_error(e))?;
            self.len = 0;
            self.cursor = 0;
        }
        Ok(())
    }
}

/// The record at `at` and where the next starts, if a whole, intact one is there.
fn decode_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD {
        return None;
    }
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    (crc32fast::hash(payload) == crc).then_some((payload, at + HEADER + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seq: u64) -> (u64, String) {
        (seq, format!("batch {seq}"))
    }

    fn drain(spool: &mut Spool<(u64, String)>) -> Vec<u64> {
        let mut seqs = Vec::new();
        while let Some(peeked) = spool.peek().unwrap() {
            match peeked {
                Peeked::Item((seq, _)) => seqs.push(seq),
                Peeked::Unreadable(_, error) => panic!("unreadable: {error}"),
            }
            spool.advance(1).unwrap();
        }
        seqs
    }

    #[test]
    fn batches_come_back_in_order_after_a_reopen_and_the_file_empties() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool/shares.spool");
        let mut spool = Spool::open(&path).unwrap();
        for seq in 1..=3 {
            spool.append(&batch(seq)).unwrap();
        }
        drop(spool);
        let mut spool = Spool::open(&path).unwrap();
        assert_eq!(spool.pending(), 3);
        assert_eq!(drain(&mut spool), [1, 2, 3]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        spool.append(&batch(4)).unwrap();
        spool.append(&batch(5)).unwrap();
        spool.advance(2).unwrap();
        assert!(!spool.has_pending());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_torn_or_damaged_tail_is_cut_and_whole_records_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shares.spool");
        let mut spool = Spool::open(&path).unwrap();
        spool.append(&batch(1)).unwrap();
        spool.append(&batch(2)).unwrap();
        drop(spool);
        let whole = std::fs::metadata(&path).unwrap().len();
        // A third record torn mid-write: its header and half its payload.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, b'{', b'"'])
            .unwrap();
        drop(file);
        let mut spool = Spool::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        assert_eq!(drain(&mut spool), [1, 2]);

        // A flipped byte fails the checksum: that record and what follows are not trusted.
        let mut spool = Spool::open(&path).unwrap();
        spool.append(&batch(1)).unwrap();
        drop(spool);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let mut spool = Spool::open(&path).unwrap();
        assert!(drain(&mut spool).is_empty());
    }

    #[test]
    fn a_record_of_another_shape_is_handed_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shares.spool");
        let mut other: Spool<String> = Spool::open(&path).unwrap();
        other.append(&"not a batch".to_owned()).unwrap();
        drop(other);
        let mut spool: Spool<(u64, String)> = Spool::open(&path).unwrap();
        match spool.peek().unwrap() {
            Some(Peeked::Unreadable(bytes, _)) => assert_eq!(bytes, b"\"not a batch\""),
            other => panic!("expected an unreadable record, got {other:?}"),
        }
    }
}
