//! The sequencer's durable log: every sequenced entry is appended and fsynced before anyone
//! hears of its sequence number, so a restarted sequencer continues exactly where it left off
//! (no number reused, none skipped) and still knows which request ids it has ordered.
//!
//! Segment files `<first seq, 20 digits>.log` hold records `len u32 | check [u8; 8] | postcard
//! Sequenced`, where `check` is the BLAKE3 of the payload. Reading stops at the first record
//! that is short or fails its check (a torn write from a crash) and truncates it away.
//!
//! The current segment is kept zero-filled `PREALLOC_BYTES` ahead of its last record, so
//! that the fdatasync of a batch overwrites blocks the file already has instead of growing
//! it: on ext4 that is a data-only flush, while a growing file also waits for a journal
//! commit shared with every other writer on the disk (the replicas' databases), which made
//! the sequencer's fsync, on every request's critical path, several times slower under
//! load. A crash leaves zeros after the last record, which reading treats as a torn tail
//! (a zero length with a zero check never verifies); a clean close trims them.
//!
//! Deleting old segments would make the sequencer forget which requests it ordered long ago,
//! and a captured `Submit` replayed to a restarted sequencer (whose replay windows start
//! empty) could then be ordered again. So before deleting, the log folds the deleted entries
//! into `frontends` (`check [u8; 8] | postcard Vec<RequestId>`, replaced atomically): per front
//! end, the highest request id among them. Its size is bounded by the roster.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use tessera_protocol::wire::{RequestId, Sequenced};

const SEGMENT_BYTES: u64 = 64 << 20;
const MAX_RECORD: usize = 64 << 20;
/// Zero-filled bytes kept ahead of the current segment's last record.
const PREALLOC_BYTES: u64 = 4 << 20;
/// The summary of deleted segments' request ids.
const FORGOTTEN_FILE: &str = "frontends";

/// Per front-end id, the highest request id seen.
type Highest = BTreeMap<u32, RequestId>;

fn note(highest: &mut Highest, id: RequestId) {
    let top = highest.entry(id.front_end_id()).or_insert(id);
    *top = (*top).max(id);
}

struct Segment {
    first: u64,
    last: u64,
    path: PathBuf,
    /// Of the segment's entries.
    highest: Highest,
}

pub struct SequencerLog {
    dir: PathBuf,
    /// Closed segments, oldest first, with their seq ranges.
    closed: Vec<Segment>,
    current: Segment,
    writer: BufWriter<File>,
    /// Bytes of records in the current segment (handed to `writer`).
    written: u64,
    /// The current segment file is zero-filled up to here (at least `written` once flushed).
    allocated: u64,
    /// Of every deleted segment's entries, as in `frontends`.
    forgotten: Highest,
}

fn check(payload: &[u8]) -> [u8; 8] {
    let mut c = [0; 8];
    c.copy_from_slice(&blake3::hash(payload).as_bytes()[..8]);
    c
}

/// A small file written whole (`check [u8; 8] | payload`), as read back.
pub(super) enum Checked {
    Missing,
    /// Short, or its check fails: never written so by us, since it is replaced atomically.
    Damaged,
    Payload(Vec<u8>),
}

pub(super) fn read_checked(path: &Path) -> io::Result<Checked> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Checked::Missing),
        Err(e) => return Err(e),
    };
    if bytes.len() < 8 || check(&bytes[8..]) != bytes[..8] {
        return Ok(Checked::Damaged);
    }
    Ok(Checked::Payload(bytes[8..].to_vec()))
}

/// Replaces `dir/name` with `check | payload` atomically and durably: a temporary file,
/// synced, renamed into place, the directory synced.
pub(super) fn replace_checked(dir: &Path, name: &str, payload: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(&check(payload))?;
    f.write_all(payload)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// A record as written before `Sequenced` carried the gateway's request id (`trace`).
#[derive(serde::Deserialize)]
struct SequencedWithoutTrace {
    seq: u64,
    id: tessera_protocol::wire::RequestId,
    reply_to: std::net::SocketAddr,
    timestamp_ms: u64,
    request: Vec<u8>,
}

/// One verified record's entry. A log written by the previous release has no `trace` in its
/// records: read as such, so that an upgraded sequencer continues its numbering instead of
/// taking those records for a torn tail and starting again below what the replicas applied.
fn decode(payload: &[u8]) -> Option<Sequenced> {
    if let Ok(e) = postcard::from_bytes::<Sequenced>(payload) {
        return Some(e);
    }
    let old = postcard::from_bytes::<SequencedWithoutTrace>(payload).ok()?;
    Some(Sequenced {
        seq: old.seq,
        id: old.id,
        reply_to: old.reply_to,
        timestamp_ms: old.timestamp_ms,
        request: old.request,
        trace: String::new(),
    })
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// Reads one segment's valid prefix; returns entries and the byte length of that prefix.
fn read_segment(path: &Path) -> io::Result<(Vec<Sequenced>, u64)> {
    read_segment_upto(path, u64::MAX)
}

/// As [`read_segment`], stopping after the entry with seq `keep`.
fn read_segment_upto(path: &Path, keep: u64) -> io::Result<(Vec<Sequenced>, u64)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut entries = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= 12 {
        let mut len = [0; 4];
        len.copy_from_slice(&bytes[at..at + 4]);
        let len = u32::from_le_bytes(len) as usize;
        let body = at + 12;
        if len > MAX_RECORD || bytes.len() - body < len {
            break;
        }
        let payload = &bytes[body..body + len];
        if check(payload) != bytes[at + 4..at + 12] {
            break;
        }
        match decode(payload) {
            Some(e) if e.seq > keep => break,
            Some(e) => entries.push(e),
            None => break,
        }
        at = body + len;
    }
    Ok((entries, at as u64))
}

impl SequencerLog {
    /// Opens (creating) the log in `dir` and returns the entries it holds, consecutive and
    /// ascending. A torn tail is cut off; entries that do not continue the sequence (which a
    /// correct log never has) end the recovered prefix, and later segments are set aside.
    pub fn open(dir: &Path) -> io::Result<(SequencerLog, Vec<Sequenced>)> {
        fs::create_dir_all(dir)?;
        let mut firsts: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
            .collect();
        firsts.sort_unstable();

        let mut all: Vec<Sequenced> = Vec::new();
        let mut closed = Vec::new();
        let mut tail: Option<(Segment, u64)> = None;
        for (i, first) in firsts.iter().copied().enumerate() {
            let path = segment_path(dir, first);
            let (entries, valid) = read_segment(&path)?;
            let continues = entries
                .first()
                .is_none_or(|e| all.last().is_none_or(|l| e.seq == l.seq + 1));
            let consecutive = entries.windows(2).all(|w| w[1].seq == w[0].seq + 1);
            if !continues || !consecutive {
                // Never written by us: keep it for inspection, out of the way.
                fs::rename(&path, path.with_extension("corrupt"))?;
                break;
            }
            let last = entries.last().map_or(first.saturating_sub(1), |e| e.seq);
            let mut highest = Highest::new();
            for e in &entries {
                note(&mut highest, e.id);
            }
            all.extend(entries);
            let seg = Segment {
                first,
                last,
                path,
                highest,
            };
            if i + 1 == firsts.len() {
                tail = Some((seg, valid));
            } else {
                closed.push(seg);
            }
        }
        let next = all.last().map_or(1, |e| e.seq + 1);
        let (current, valid) = match tail {
            Some(t) => t,
            None => (
                Segment {
                    first: next,
                    last: next - 1,
                    path: segment_path(dir, next),
                    highest: Highest::new(),
                },
                0,
            ),
        };
        let forgotten = read_forgotten(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&current.path)?;
        file.set_len(valid)?;
        file.sync_all()?;
        sync_dir(dir)?;
        let mut file = file;
        io::Seek::seek(&mut file, io::SeekFrom::End(0))?;
        Ok((
            SequencerLog {
                dir: dir.to_owned(),
                closed,
                current,
                writer: BufWriter::with_capacity(1 << 20, file),
                written: valid,
                allocated: valid,
                forgotten,
            },
            all,
        ))
    }

    /// Appends a batch and makes it durable (one fdatasync: group commit).
    pub fn append(&mut self, batch: &[Sequenced]) -> io::Result<()> {
        for e in batch {
            if self.written >= SEGMENT_BYTES {
                self.roll(e.seq)?;
            }
            let payload = postcard::to_stdvec(e).map_err(io::Error::other)?;
            let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
            self.writer.write_all(&len.to_le_bytes())?;
            self.writer.write_all(&check(&payload))?;
            self.writer.write_all(&payload)?;
            self.written += 12 + u64::from(len);
            self.current.last = e.seq;
            note(&mut self.current.highest, e.id);
        }
        self.preallocate()?;
        self.writer.flush()?;
        self.writer.get_ref().sync_data()
    }

    /// If this batch ends beyond the zero-filled region, zero-fills the next
    /// [`PREALLOC_BYTES`] after it (covered by the batch's fdatasync). Writes only beyond
    /// `written`, never over a record, and does not move the file position.
    fn preallocate(&mut self) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if self.written <= self.allocated {
            return Ok(());
        }
        let zeros = vec![0u8; 64 << 10];
        let end = self.written + PREALLOC_BYTES;
        let mut at = self.written;
        while at < end {
            let n = (end - at).min(zeros.len() as u64) as usize;
            self.writer.get_ref().write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        self.allocated = end;
        Ok(())
    }

    fn roll(&mut self, first: u64) -> io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_data()?;
        // Trim the closed segment's zero tail (harmless if a crash undoes it).
        self.writer.get_ref().set_len(self.written)?;
        let path = segment_path(&self.dir, first);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        sync_dir(&self.dir)?;
        let old = std::mem::replace(
            &mut self.current,
            Segment {
                first,
                last: first - 1,
                path,
                highest: Highest::new(),
            },
        );
        self.closed.push(old);
        self.writer = BufWriter::with_capacity(1 << 20, file);
        self.written = 0;
        self.allocated = 0;
        Ok(())
    }

    /// Deletes closed segments whose entries are all `<= upto`, after recording their
    /// highest request ids in `frontends`.
    pub fn truncate(&mut self, upto: u64) -> io::Result<()> {
        let doomed = self.closed.iter().take_while(|s| s.last <= upto).count();
        if doomed == 0 {
            return Ok(());
        }
        let mut forgotten = self.forgotten.clone();
        for seg in &self.closed[..doomed] {
            for id in seg.highest.values() {
                note(&mut forgotten, *id);
            }
        }
        if forgotten != self.forgotten {
            write_forgotten(&self.dir, &forgotten)?;
            self.forgotten = forgotten;
        }
        for seg in self.closed.drain(..doomed) {
            fs::remove_file(&seg.path)?;
        }
        Ok(())
    }

    /// Deletes every entry above `keep`: a standby sequencer's entries that the primary's
    /// log replaces (they were never committed). Durable when it returns.
    pub fn truncate_after(&mut self, keep: u64) -> io::Result<()> {
        if keep >= self.current.last {
            return Ok(());
        }
        self.writer.flush()?;
        // Whole segments beyond `keep` go, newest first; the one holding `keep` (if any)
        // becomes the current segment, cut after it.
        while self.current.first > keep {
            let Some(prev) = self.closed.pop() else {
                break;
            };
            fs::remove_file(&self.current.path)?;
            self.current = prev;
        }
        let (entries, valid) = if self.current.first > keep {
            // Nothing is left: start afresh after `keep`.
            fs::remove_file(&self.current.path)?;
            self.current = Segment {
                first: keep + 1,
                last: keep,
                path: segment_path(&self.dir, keep + 1),
                highest: Highest::new(),
            };
            (Vec::new(), 0)
        } else {
            read_segment_upto(&self.current.path, keep)?
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.current.path)?;
        file.set_len(valid)?;
        file.sync_all()?;
        sync_dir(&self.dir)?;
        io::Seek::seek(&mut file, io::SeekFrom::End(0))?;
        self.current.last = entries.last().map_or(self.current.first - 1, |e| e.seq);
        self.current.highest = Highest::new();
        for e in &entries {
            note(&mut self.current.highest, e.id);
        }
        self.writer = BufWriter::with_capacity(1 << 20, file);
        self.written = valid;
        self.allocated = valid;
        Ok(())
    }

    pub fn first_retained(&self) -> u64 {
        self.closed.first().map_or(self.current.first, |s| s.first)
    }

    /// Per front end, the highest request id among the entries of every deleted segment.
    pub fn forgotten(&self) -> Vec<RequestId> {
        self.forgotten.values().copied().collect()
    }
}

fn read_forgotten(dir: &Path) -> io::Result<Highest> {
    let path = dir.join(FORGOTTEN_FILE);
    // Written whole and renamed into place, so a bad one is damage, not a torn write: starting
    // without it would reopen replays of old requests, so refuse.
    let corrupt = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is damaged; it records which requests were ordered before the oldest log \
                 segment. Restore it from a backup (removing it lets old captured requests \
                 be ordered again)",
                path.display()
            ),
        )
    };
    let payload = match read_checked(&path)? {
        Checked::Missing => return Ok(Highest::new()),
        Checked::Damaged => return Err(corrupt()),
        Checked::Payload(p) => p,
    };
    let ids: Vec<RequestId> = postcard::from_bytes(&payload).map_err(|_| corrupt())?;
    let mut highest = Highest::new();
    for id in ids {
        note(&mut highest, id);
    }
    Ok(highest)
}

fn write_forgotten(dir: &Path, highest: &Highest) -> io::Result<()> {
    let ids: Vec<RequestId> = highest.values().copied().collect();
    let payload = postcard::to_stdvec(&ids).map_err(io::Error::other)?;
    replace_checked(dir, FORGOTTEN_FILE, &payload)
}

impl Drop for SequencerLog {
    /// A clean close trims the zero-filled tail, leaving exactly the records.
    fn drop(&mut self) {
        if self.writer.flush().is_ok() {
            let _ = self.writer.get_ref().set_len(self.written);
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tessera_protocol::wire::RequestId;

    fn entry(seq: u64) -> Sequenced {
        Sequenced {
            seq,
            id: RequestId {
                front_end: 7,
                number: seq,
            },
            reply_to: SocketAddr::from(([127, 0, 0, 1], 9)),
            timestamp_ms: 1000 + seq,
            request: vec![seq as u8; 40],
            trace: String::new(),
        }
    }

    /// A segment written before entries carried a request id reads back whole, and the log
    /// goes on after it.
    #[test]
    fn a_log_from_before_request_ids_reads_back() {
        #[derive(serde::Serialize)]
        struct Old {
            seq: u64,
            id: RequestId,
            reply_to: SocketAddr,
            timestamp_ms: u64,
            request: Vec<u8>,
        }
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for seq in 1..=3 {
            let e = entry(seq);
            let payload = postcard::to_stdvec(&Old {
                seq,
                id: e.id,
                reply_to: e.reply_to,
                timestamp_ms: e.timestamp_ms,
                request: e.request,
            })
            .unwrap();
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&check(&payload));
            bytes.extend_from_slice(&payload);
        }
        fs::write(segment_path(dir.path(), 1), bytes).unwrap();
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got, (1..=3).map(entry).collect::<Vec<_>>());
        let mut traced = entry(4);
        traced.trace = "gw-4".into();
        log.append(std::slice::from_ref(&traced)).unwrap();
        drop(log);
        let (_, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], traced);
    }

    #[test]
    fn reopen_returns_everything_appended() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert!(got.is_empty());
        log.append(&(1..=5).map(entry).collect::<Vec<_>>()).unwrap();
        log.append(&[entry(6)]).unwrap();
        drop(log);
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got, (1..=6).map(entry).collect::<Vec<_>>());
        log.append(&[entry(7)]).unwrap();
        drop(log);
        assert_eq!(SequencerLog::open(dir.path()).unwrap().1.len(), 7);
    }

    #[test]
    fn truncating_after_a_seq_keeps_exactly_what_precedes_it_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SequencerLog::open(dir.path()).unwrap();
        log.append(&(1..=5).map(entry).collect::<Vec<_>>()).unwrap();
        log.roll(6).unwrap();
        log.append(&(6..=9).map(entry).collect::<Vec<_>>()).unwrap();
        log.truncate_after(7).unwrap();
        log.append(&[entry(8)]).unwrap();
        drop(log);
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(
            got.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
        // Back into the closed segment: the later one goes.
        log.truncate_after(3).unwrap();
        log.append(&[entry(4)]).unwrap();
        drop(log);
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(
            got.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=4).collect::<Vec<_>>()
        );
        // Everything.
        log.truncate_after(0).unwrap();
        log.append(&[entry(1)]).unwrap();
        drop(log);
        let got = SequencerLog::open(dir.path()).unwrap().1;
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SequencerLog::open(dir.path()).unwrap();
        log.append(&(1..=3).map(entry).collect::<Vec<_>>()).unwrap();
        drop(log);
        let path = segment_path(dir.path(), 1);
        let len = fs::metadata(&path).unwrap().len();
        // Cut the last record in half, as a crash mid-write would.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
        // The next append continues cleanly after the cut.
        log.append(&[entry(3)]).unwrap();
        drop(log);
        assert_eq!(SequencerLog::open(dir.path()).unwrap().1.len(), 3);
    }

    #[test]
    fn flipped_byte_ends_the_valid_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SequencerLog::open(dir.path()).unwrap();
        log.append(&(1..=3).map(entry).collect::<Vec<_>>()).unwrap();
        drop(log);
        let path = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 5] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert_eq!(SequencerLog::open(dir.path()).unwrap().1.len(), 2);
    }

    #[test]
    fn zero_filled_tail_after_a_crash_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SequencerLog::open(dir.path()).unwrap();
        log.append(&(1..=3).map(entry).collect::<Vec<_>>()).unwrap();
        let path = segment_path(dir.path(), 1);
        assert!(fs::metadata(&path).unwrap().len() >= PREALLOC_BYTES);
        // A crash: no clean close, the zeros stay.
        std::mem::forget(log);
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got, (1..=3).map(entry).collect::<Vec<_>>());
        log.append(&[entry(4)]).unwrap();
        drop(log);
        let (_, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got, (1..=4).map(entry).collect::<Vec<_>>());
    }

    /// Records of many sizes (up to a few KiB, across page boundaries), one batch at a time
    /// and ten at once, through reopenings after a clean close and after a crash, a roll and
    /// a truncation: each segment holds exactly its records once closed, byte for byte.
    #[test]
    fn segments_hold_exactly_their_records_through_reopens_crashes_rolls_and_truncations() {
        let sized = |seq: u64| Sequenced {
            request: vec![seq as u8; (seq as usize * 613) % 5_000],
            ..entry(seq)
        };
        let records = |entries: &[Sequenced]| {
            let mut bytes = Vec::new();
            for e in entries {
                let payload = postcard::to_stdvec(e).unwrap();
                bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                bytes.extend_from_slice(&check(&payload));
                bytes.extend_from_slice(&payload);
            }
            bytes
        };
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SequencerLog::open(dir.path()).unwrap();
        for seq in 1..=20 {
            log.append(&[sized(seq)]).unwrap();
        }
        log.append(&(21..=30).map(sized).collect::<Vec<_>>())
            .unwrap();
        drop(log);
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got, (1..=30).map(sized).collect::<Vec<_>>());
        log.append(&[sized(31)]).unwrap();
        std::mem::forget(log);
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(
            got,
            (1..=31).map(sized).collect::<Vec<_>>(),
            "after a crash"
        );
        log.roll(32).unwrap();
        log.append(&(32..=40).map(sized).collect::<Vec<_>>())
            .unwrap();
        log.truncate_after(35).unwrap();
        log.append(&[sized(36), sized(37)]).unwrap();
        drop(log);
        let (_, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got, (1..=37).map(sized).collect::<Vec<_>>());
        let read = |first| fs::read(segment_path(dir.path(), first)).unwrap();
        assert!(
            read(1) == records(&got[..31]),
            "the closed segment, trimmed"
        );
        assert!(
            read(32) == records(&got[31..]),
            "the current one, trimmed on close"
        );
    }

    #[test]
    fn truncation_drops_whole_closed_segments_only() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SequencerLog::open(dir.path()).unwrap();
        log.append(&[entry(1), entry(2)]).unwrap();
        log.roll(3).unwrap();
        log.append(&[entry(3)]).unwrap();
        log.truncate(1).unwrap();
        assert_eq!(log.first_retained(), 1, "segment 1..=2 still holds 2");
        log.truncate(2).unwrap();
        assert_eq!(log.first_retained(), 3);
        drop(log);
        let got = SequencerLog::open(dir.path()).unwrap().1;
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
    }

    fn from(front_end: u64, number: u64, seq: u64) -> Sequenced {
        Sequenced {
            id: RequestId { front_end, number },
            ..entry(seq)
        }
    }

    /// Deleting segments keeps, per front end, the highest request id they held, across
    /// restarts and further deletions; a damaged summary stops the start.
    #[test]
    fn deleted_segments_leave_their_highest_request_ids() {
        let a = |start: u64| RequestId::incarnation(start, 1);
        let b = RequestId::incarnation(50, 2);
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = SequencerLog::open(dir.path()).unwrap();
        assert!(log.forgotten().is_empty());
        log.append(&[from(a(10), 1, 1), from(b, 9, 2), from(a(10), 2, 3)])
            .unwrap();
        log.roll(4).unwrap();
        log.append(&[from(b, 10, 4)]).unwrap();
        log.roll(5).unwrap();
        log.append(&[from(a(11), 1, 5)]).unwrap();
        log.truncate(3).unwrap();
        let first = vec![
            RequestId {
                front_end: a(10),
                number: 2,
            },
            RequestId {
                front_end: b,
                number: 9,
            },
        ];
        assert_eq!(log.forgotten(), first);
        drop(log);
        let (mut log, got) = SequencerLog::open(dir.path()).unwrap();
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(log.forgotten(), first, "read back");
        log.roll(6).unwrap();
        log.truncate(5).unwrap();
        let second = vec![
            RequestId {
                front_end: a(11),
                number: 1,
            },
            RequestId {
                front_end: b,
                number: 10,
            },
        ];
        assert_eq!(log.forgotten(), second, "a newer start of front end 1 wins");
        drop(log);
        assert_eq!(
            SequencerLog::open(dir.path()).unwrap().0.forgotten(),
            second
        );

        let path = dir.path().join(FORGOTTEN_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        fs::write(&path, bytes).unwrap();
        let err = SequencerLog::open(dir.path()).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("is damaged"), "{err}");
    }
}
