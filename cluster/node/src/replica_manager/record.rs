//! Where the replica manager's `Record` lives (what it must not forget across `kill -9` or
//! power loss: `tessera_protocol::replica_manager::Record`, `docs/recovery.md`, "Restarts"):
//! one small TOML file beside the replica's directory (`data/rmN/incarnation.toml`), replaced
//! atomically: written to a temporary file, fsynced, renamed over the old one, and the
//! directory fsynced, so a crash leaves either the old record or the new one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
pub use tessera_protocol::replica_manager::Record;

pub fn path(rm_dir: &Path) -> PathBuf {
    rm_dir.join("incarnation.toml")
}

/// The record at `path`; the default (generation 0, nothing recovering) if there is none,
/// which is a manager's first start.
pub fn load(path: &Path) -> anyhow::Result<Record> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; it holds this replica's generation, which its peers can \
                 restore: move it away and restart",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the record at `path` durably.
pub fn store(path: &Path, record: &Record) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let text = toml::to_string(record).context("encoding the incarnation record")?;
    let tmp = path.with_extension("toml.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_a_round_trip_and_a_missing_one_is_the_first_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = path(dir.path());
        assert_eq!(load(&p).expect("no file yet"), Record::default());
        let r = Record {
            generation: 7,
            from_seq: 12_345,
            recovering: true,
        };
        store(&p, &r).expect("store");
        assert_eq!(load(&p).expect("load"), r);
        store(
            &p,
            &Record {
                recovering: false,
                ..r
            },
        )
        .expect("store again");
        assert!(!load(&p).expect("load").recovering);
        assert!(!p.with_extension("toml.tmp").exists());
    }

    #[test]
    fn a_damaged_record_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = path(dir.path());
        std::fs::write(&p, "generation = \"x\"").expect("write");
        let e = format!("{:#}", load(&p).expect_err("damaged"));
        assert!(e.contains("move it away and restart"), "{e}");
    }
}
