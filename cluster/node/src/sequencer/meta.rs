//! A sequencer node's `meta` file: its view, its vote in that view, and the views of its log's
//! entries (`tessera_protocol::sequencer::Meta`). Written whole to a temporary file, synced
//! and renamed into place, so it is either the old or the new one after a crash.
//!
//! Format: `check [u8; 8] | postcard Meta`, `check` being the BLAKE3 of the rest.

use std::io;
use std::path::Path;

use tessera_protocol::sequencer::Meta;

use super::log::{read_checked, replace_checked, Checked};

const META_FILE: &str = "meta";

/// The node's meta; the default (view 0, no vote) if it has none yet.
pub fn read(dir: &Path) -> io::Result<Meta> {
    let path = dir.join(META_FILE);
    // Replaced atomically, so a bad one is damage. Starting without it could make this node
    // vote twice in one view, or take its entries for another view's: refuse.
    let corrupt = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is damaged; it holds this sequencer node's view and vote. Restore it \
                 from a backup, or, if a majority of the other sequencer nodes is up, remove \
                 this node's whole data directory so that it starts empty and copies their log",
                path.display()
            ),
        )
    };
    match read_checked(&path)? {
        Checked::Missing => Ok(Meta::default()),
        Checked::Damaged => Err(corrupt()),
        Checked::Payload(p) => postcard::from_bytes(&p).map_err(|_| corrupt()),
    }
}

/// Replaces the node's meta, durably.
pub fn write(dir: &Path, meta: &Meta) -> io::Result<()> {
    let payload = postcard::to_stdvec(meta).map_err(io::Error::other)?;
    replace_checked(dir, META_FILE, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Meta::default());
        let meta = Meta {
            view: 7,
            voted_for: Some(2),
            boundaries: vec![(1, 3), (40, 7)],
        };
        write(dir.path(), &meta).unwrap();
        assert_eq!(read(dir.path()).unwrap(), meta);
        let path = dir.path().join(META_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
