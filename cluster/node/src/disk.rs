//! Free space where a node writes: a full disk stops the node (`docs/recovery.md`, "A full
//! disk"), so its metrics, `tesserad status` and the dashboard show it coming.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tessera_protocol::wire::DiskSpace;

/// How stale a reading given to status may be: a status query or a dashboard poll arrives at
/// most a few times a second, and free space does not need reading more often than that.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// The file system holding `dir`, now; `None` if it cannot be read (removed, or not made yet).
fn space(dir: &Path) -> Option<DiskSpace> {
    let fs = nix::sys::statvfs::statvfs(dir).ok()?;
    let unit = fs.fragment_size();
    Some(DiskSpace {
        available: bytes(fs.blocks_available(), unit),
        size: bytes(fs.blocks(), unit),
    })
}

/// Generic because statvfs's field types differ between platforms (32 or 64 bits).
fn bytes(blocks: impl Into<u64>, unit: impl Into<u64>) -> u64 {
    blocks.into().saturating_mul(unit.into())
}

/// A node's free space for its status, read again at most once per `FRESH_FOR` (a second).
/// The shells ask it on every burst of datagrams (a status query is one) and before each
/// metrics scrape, so a node that is asked sees a reading under a second old without a timer
/// of its own, and a busy node pays one clock comparison per burst.
pub struct DiskWatch {
    dir: PathBuf,
    read_at: Option<Instant>,
    last: Option<DiskSpace>,
}

impl DiskWatch {
    pub fn new(dir: PathBuf) -> DiskWatch {
        DiskWatch {
            dir,
            read_at: None,
            last: None,
        }
    }

    /// The latest reading, refreshed if older than `FRESH_FOR`. A directory that cannot be
    /// read keeps the last value: the node says what failed when it next writes.
    pub fn at(&mut self, now: Instant) -> Option<DiskSpace> {
        if self
            .read_at
            .is_none_or(|at| now.saturating_duration_since(at) >= FRESH_FOR)
        {
            self.read_at = Some(now);
            if let Some(space) = space(&self.dir) {
                self.last = Some(space);
            }
        }
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_the_file_system_of_the_directory_and_is_kept_when_it_goes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sub = dir.path().join("node");
        let mut watch = DiskWatch::new(sub.clone());
        let t0 = Instant::now();
        assert_eq!(
            watch.at(t0),
            None,
            "not made yet: nothing to show, not a full disk"
        );

        std::fs::create_dir(&sub).expect("mkdir");
        assert_eq!(watch.at(t0), None, "read again only after a second");
        let t1 = t0 + FRESH_FOR;
        let got = watch.at(t1).expect("readable now");
        let fs = nix::sys::statvfs::statvfs(&sub).expect("statvfs");
        assert_eq!(got.size, bytes(fs.blocks(), fs.fragment_size()));
        assert!(got.size > 0 && got.available <= got.size, "{got:?}");

        std::fs::remove_dir(&sub).expect("rmdir");
        assert_eq!(
            watch.at(t1 + FRESH_FOR),
            Some(got),
            "the last reading stays"
        );
    }
}
