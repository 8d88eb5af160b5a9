//! The on-disk log format: framing, checksums, torn-tail detection, atomic replacement.
//!
//! ```text
//! file    := MAGIC record*
//! record  := len:u32le body[len] check[8]
//! body    := kind:u8 seq:u64le payload
//! check   := first 8 bytes of BLAKE3(len || body)
//! ```
//!
//! A request `seq` is written as its events (kind `EVENT`, one record each), then the changes
//! to the remembered calls it made (kind `CALL`, one record each; most requests make none),
//! followed by one `COMMIT` record; a request that changed nothing is a bare `COMMIT`, so the log alone tells
//! how far the sequence got. A request counts only once its commit is read back intact, so a
//! crash mid-request leaves a tail that recovery cuts off, and the request is all or nothing.
//! A `SNAPSHOT` record (the canonical snapshot after request `seq`) can only be the first
//! record: it is how an imported or compacted state starts a new log.
//!
//! `CALL` records came with remembered calls; a log without them is read as before, so logs
//! written before then still replay. (An older reader refuses a log that has them: an intact
//! record of an unknown kind is never cut off as a torn tail.)
//!
//! This module knows nothing of what events mean; it hands record payloads to its caller.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use tessera_types::Durability;

use crate::answered::CallEvent;
use crate::events::Event;

pub const LOG_FILE: &str = "events.log";
const TMP_FILE: &str = "events.log.tmp";
const MAGIC: &[u8; 8] = b"TSEVLOG1";

const LEN_BYTES: usize = 4;
const CHECK_BYTES: usize = 8;
/// kind + seq.
const BODY_HEADER: usize = 1 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Event,
    Commit,
    Snapshot,
    Call,
}

impl Kind {
    fn tag(self) -> u8 {
        match self {
            Kind::Event => 1,
            Kind::Commit => 2,
            Kind::Snapshot => 3,
            Kind::Call => 4,
        }
    }

    fn from_tag(tag: u8) -> Option<Kind> {
        match tag {
            1 => Some(Kind::Event),
            2 => Some(Kind::Commit),
            3 => Some(Kind::Snapshot),
            4 => Some(Kind::Call),
            _ => None,
        }
    }
}

fn checksum(framed: &[u8]) -> [u8; CHECK_BYTES] {
    let mut out = [0u8; CHECK_BYTES];
    out.copy_from_slice(&blake3::hash(framed).as_bytes()[..CHECK_BYTES]);
    out
}

/// Appends one framed record to `out`; `payload` writes the payload bytes.
fn put_record(out: &mut Vec<u8>, kind: Kind, seq: u64, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; LEN_BYTES]);
    out.push(kind.tag());
    out.extend_from_slice(&seq.to_le_bytes());
    payload(out);
    // A record is at most one event or one snapshot; a snapshot beyond 4 GiB cannot be
    // framed, and saturating makes it fail its checksum on read rather than alias.
    let body_len = u32::try_from(out.len() - start - LEN_BYTES).unwrap_or(u32::MAX);
    out[start..start + LEN_BYTES].copy_from_slice(&body_len.to_le_bytes());
    let check = checksum(&out[start..]);
    out.extend_from_slice(&check);
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Atomically replaces the log in `dir` with a new one that holds only `snapshot`, if any:
/// the new file is fully written and synced under a temporary name, then renamed over the
/// old, so a crash leaves either the old log or the new one, never a mix. Returns the new
/// log's length.
pub fn replace(dir: &Path, snapshot: Option<(u64, &[u8])>) -> io::Result<u64> {
    let tmp = dir.join(TMP_FILE);
    let mut bytes = MAGIC.to_vec();
    if let Some((seq, encoded)) = snapshot {
        put_record(&mut bytes, Kind::Snapshot, seq, |out| {
            out.extend_from_slice(encoded)
        });
    }
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join(LOG_FILE))?;
    sync_dir(dir)?;
    Ok(bytes.len() as u64)
}

/// Removes a temporary file left by a `replace` that crashed before its rename.
pub fn remove_stale_tmp(dir: &Path) -> io::Result<()> {
    match fs::remove_file(dir.join(TMP_FILE)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// One record as read back.
pub struct Record<'a> {
    pub kind: Kind,
    pub seq: u64,
    pub payload: &'a [u8],
    /// File offset just past this record.
    pub end: u64,
}

pub enum Step<'a> {
    Record(Record<'a>),
    /// The file ends exactly after the previous record.
    End,
    /// What follows the previous record is not a whole, intact record: a write cut short
    /// by a crash, or damage. Everything from there on is unusable.
    Torn,
}

/// Reads a log front to back, one record at a time.
pub struct Scanner {
    reader: BufReader<File>,
    file_len: u64,
    /// Offset just past the last record returned.
    offset: u64,
    buf: Vec<u8>,
}

impl Scanner {
    /// Opens the log at `path`; `Ok(None)` if it is not a log of this format.
    pub fn open(path: &Path) -> io::Result<Option<Scanner>> {
        let file = File::open(path)?;
        let file_len = file.metadata()?.len();
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut magic = [0u8; MAGIC.len()];
        if reader.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Ok(None);
        }
        Ok(Some(Scanner {
            reader,
            file_len,
            offset: MAGIC.len() as u64,
            buf: Vec::new(),
        }))
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn next_record(&mut self) -> io::Result<Step<'_>> {
        let remaining = self.file_len - self.offset;
        if remaining == 0 {
            return Ok(Step::End);
        }
        if remaining < (LEN_BYTES + BODY_HEADER + CHECK_BYTES) as u64 {
            return Ok(Step::Torn);
        }
        let mut len = [0u8; LEN_BYTES];
        self.reader.read_exact(&mut len)?;
        let body_len = u32::from_le_bytes(len) as usize;
        // Checked against the file size before allocating, so a garbled length cannot
        // trigger a huge allocation.
        let framed = (LEN_BYTES + body_len + CHECK_BYTES) as u64;
        if body_len < BODY_HEADER || framed > remaining {
            return Ok(Step::Torn);
        }
        self.buf.clear();
        self.buf.extend_from_slice(&len);
        self.buf.resize(LEN_BYTES + body_len + CHECK_BYTES, 0);
        self.reader.read_exact(&mut self.buf[LEN_BYTES..])?;
        let (framed_bytes, check) = self.buf.split_at(LEN_BYTES + body_len);
        if checksum(framed_bytes) != check {
            return Ok(Step::Torn);
        }
        let body = &framed_bytes[LEN_BYTES..];
        // An intact record of an unknown kind is no crash artifact; cutting it off would
        // throw away what a newer writer committed.
        let kind = Kind::from_tag(body[0]).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "log record of unknown kind")
        })?;
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&body[1..BODY_HEADER]);
        self.offset += framed;
        Ok(Step::Record(Record {
            kind,
            seq: u64::from_le_bytes(seq),
            payload: &body[BODY_HEADER..],
            end: self.offset,
        }))
    }
}

/// Under [`Durability::Deferred`], buffered records beyond this size are written out before
/// the next sync, so that a long batch does not hold an unbounded buffer.
const BUFFER_MAX: usize = 64 << 10;

/// Appends requests to the end of a log.
pub struct Writer {
    file: File,
    path: PathBuf,
    durability: Durability,
    /// Records not yet handed to the OS: one request's under [`Durability::Sync`], every
    /// request's since the last sync under [`Durability::Deferred`] (one write per batch
    /// instead of one per request, which was a third of this replica's time under load).
    buf: Vec<u8>,
    /// A write failed, so part of the buffer may be in the file: nothing may follow it.
    failed: bool,
}

impl Writer {
    /// Opens the log at `path` for appending, first cutting it to `valid_len` bytes (the end
    /// of its last committed request), so that a torn tail is gone before anything follows.
    pub fn open(path: &Path, valid_len: u64, durability: Durability) -> io::Result<Writer> {
        let file = OpenOptions::new().append(true).open(path)?;
        if file.metadata()?.len() != valid_len {
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        Ok(Writer {
            file,
            path: path.to_path_buf(),
            durability,
            buf: Vec::new(),
            failed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends request `seq`: its events, its changes to the remembered calls, then its
    /// commit marker. Under [`Durability::Sync`] they are on stable storage when this
    /// returns; under [`Durability::Deferred`] once [`sync`](Self::sync) returns (a crash of
    /// the process before then loses them, as the replica contract allows).
    pub fn append(&mut self, seq: u64, events: &[Event], calls: &[CallEvent]) -> io::Result<()> {
        for event in events {
            put_record(&mut self.buf, Kind::Event, seq, |out| {
                event.encode_into(out)
            });
        }
        for call in calls {
            put_record(&mut self.buf, Kind::Call, seq, |out| call.encode_into(out));
        }
        put_record(&mut self.buf, Kind::Commit, seq, |_| {});
        match self.durability {
            Durability::Sync => self.sync(),
            Durability::Deferred if self.buf.len() >= BUFFER_MAX => self.write_out(),
            Durability::Deferred => Ok(()),
        }
    }

    /// Writes out everything appended and forces it to stable storage.
    pub fn sync(&mut self) -> io::Result<()> {
        self.write_out()?;
        self.file.sync_data()
    }

    /// Drops the writer without writing what it buffered: its log has been replaced.
    pub fn discard(mut self) {
        self.buf.clear();
    }

    fn write_out(&mut self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("an earlier write to the log failed"));
        }
        let written = self.file.write_all(&self.buf);
        self.buf.clear();
        self.failed = written.is_err();
        written
    }
}

impl Drop for Writer {
    /// A clean close keeps every appended request.
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            // Nothing to report an error to: the requests are lost as in a crash.
            let _ = self.write_out();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Scanned = (Vec<(Kind, u64, Vec<u8>)>, bool, u64);

    /// All intact records, whether the scan ended torn, and the offset it stopped at.
    fn records(path: &Path) -> Scanned {
        let mut scan = Scanner::open(path).unwrap().unwrap();
        let mut out = Vec::new();
        loop {
            match scan.next_record().unwrap() {
                Step::Record(r) => out.push((r.kind, r.seq, r.payload.to_vec())),
                Step::End => return (out, false, scan.offset()),
                Step::Torn => return (out, true, scan.offset()),
            }
        }
    }

    #[test]
    fn frames_round_trip_and_damage_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let len = replace(dir.path(), Some((7, b"snap"))).unwrap();
        let path = dir.path().join(LOG_FILE);
        assert_eq!(len, fs::metadata(&path).unwrap().len());
        let mut w = Writer::open(&path, len, Durability::Deferred).unwrap();
        w.append(8, &[], &[]).unwrap();
        w.append(9, &[], &[]).unwrap();
        // Deferred: nothing reaches the file before the sync.
        assert_eq!(fs::metadata(&path).unwrap().len(), len);
        w.sync().unwrap();
        let (recs, torn, end) = records(&path);
        assert!(!torn);
        assert_eq!(end, fs::metadata(&path).unwrap().len());
        assert_eq!(
            recs,
            vec![
                (Kind::Snapshot, 7, b"snap".to_vec()),
                (Kind::Commit, 8, vec![]),
                (Kind::Commit, 9, vec![]),
            ]
        );

        let bytes = fs::read(&path).unwrap();
        let commit = (LEN_BYTES + BODY_HEADER + CHECK_BYTES) as u64;
        for i in (end - commit) as usize..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            fs::write(&path, &damaged).unwrap();
            let (recs, torn, valid) = records(&path);
            assert!(torn, "flip at {i}");
            assert_eq!((recs.len(), valid), (2, end - commit), "flip at {i}");
        }
        for cut in 1..commit {
            fs::write(&path, &bytes[..(end - cut) as usize]).unwrap();
            let (recs, torn, valid) = records(&path);
            assert!(torn);
            assert_eq!((recs.len(), valid), (2, end - commit));
        }
    }

    #[test]
    fn foreign_files_are_not_logs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        fs::write(&path, b"TSEV").unwrap();
        assert!(Scanner::open(&path).unwrap().is_none());
        fs::write(&path, b"something else entirely").unwrap();
        assert!(Scanner::open(&path).unwrap().is_none());
    }
}
