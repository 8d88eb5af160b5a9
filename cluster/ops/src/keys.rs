//! Node key files: where each node's secret key lives, how it is made, read and written.
//!
//! A key file holds one node's X25519 secret as 64 hex digits on one line, mode 0600; next to
//! it, `NAME.pub` holds the public key. The cluster file lists every node's public key
//! (`public_key` in `[sequencer]`, each `[[replica_manager]]`, `[front_end]` and `[operator]`);
//! a node whose public key it omits is looked up in `cluster.key_dir` as `NAME.pub`, which is
//! how `tesserad up` runs on one machine without any key in its configuration.

use std::io::Write;
use std::path::{Path, PathBuf};

use tessera_protocol::wire::{KeyError, NodeId, PublicKey, SecretKey, KEY_LEN};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error(
        "{path} is readable by other users (mode {mode:o}); a key file must be mode 0600 \
         (chmod 600 {path})"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
}

/// The file name (without extension) of `node`'s key: `sequencer`, `sequencer-N`, `rm-N`,
/// `front-end-N`, `operator`.
pub fn key_name(node: NodeId) -> String {
    match node {
        NodeId::Sequencer(1) => "sequencer".into(),
        NodeId::Sequencer(n) => format!("sequencer-{n}"),
        NodeId::ReplicaManager(r) => format!("rm-{r}"),
        NodeId::FrontEnd(n) => format!("front-end-{n}"),
        NodeId::Tool(_) => "operator".into(),
    }
}

/// Where `node`'s secret key is read from when no `--key` names it.
pub fn key_path(cfg: &Config, node: NodeId) -> PathBuf {
    cfg.key_dir().join(format!("{}.key", key_name(node)))
}

/// Where `node`'s public key is read from when the configuration does not list it.
pub fn public_path(dir: &Path, node: NodeId) -> PathBuf {
    dir.join(format!("{}.pub", key_name(node)))
}

/// A new secret key from the operating system's random source.
pub fn generate() -> Result<SecretKey, KeyFileError> {
    let mut bytes = [0u8; KEY_LEN];
    getrandom::fill(&mut bytes).map_err(|e| KeyFileError::Random(e.to_string()))?;
    Ok(SecretKey::from_bytes(bytes))
}

/// Reads a secret key file, refusing one that other users can read.
pub fn read_secret(path: &Path) -> Result<SecretKey, KeyFileError> {
    let read_err = |source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(read_err)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Exposed {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    SecretKey::from_hex(&text).map_err(|source| KeyFileError::Format {
        path: path.to_owned(),
        source,
    })
}

pub fn read_public(path: &Path) -> Result<PublicKey, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    text.parse().map_err(|source| KeyFileError::Format {
        path: path.to_owned(),
        source,
    })
}

/// Writes `key` to `dir/NAME.key` (mode 0600, created afresh: an existing key is never
/// overwritten) and its public half to `dir/NAME.pub`.
pub fn write_pair(dir: &Path, node: NodeId, key: &SecretKey) -> Result<(), KeyFileError> {
    let name = key_name(node);
    let path = dir.join(format!("{name}.key"));
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyFileError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&path).map_err(write_err(&path))?;
    writeln!(f, "{}", key.to_hex()).map_err(write_err(&path))?;
    f.sync_all().map_err(write_err(&path))?;
    let public = public_path(dir, node);
    std::fs::write(&public, format!("{}\n", key.public())).map_err(write_err(&public))?;
    Ok(())
}

/// Every identity `cfg` names, in roster order: the sequencer, the managers, its front end,
/// the operator.
pub fn identities(cfg: &Config) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = cfg
        .sequencer_nodes()
        .into_iter()
        .map(|(id, _)| NodeId::Sequencer(id))
        .collect();
    nodes.extend(
        cfg.replica_manager
            .iter()
            .filter_map(|rm| tessera_protocol::ReplicaId::new(rm.id))
            .map(NodeId::ReplicaManager),
    );
    nodes.push(NodeId::FrontEnd(cfg.front_end.id));
    nodes.extend(cfg.front_end.others.iter().map(|o| NodeId::FrontEnd(o.id)));
    nodes.push(NodeId::OPERATOR);
    nodes
}

/// Makes a key pair in `dir` for every node of `cfg` that has none there yet; returns every
/// node's public key. What `tesserad keygen` and the first `tesserad up` do.
pub fn ensure_all(cfg: &Config, dir: &Path) -> Result<Vec<(NodeId, PublicKey)>, KeyFileError> {
    identities(cfg)
        .into_iter()
        .map(|node| {
            let secret = dir.join(format!("{}.key", key_name(node)));
            if !secret.exists() {
                write_pair(dir, node, &generate()?)?;
            }
            Ok((node, read_secret(&secret)?.public()))
        })
        .collect()
}

/// The TOML lines that list `keys` in a cluster file.
pub fn public_keys_toml(keys: &[(NodeId, PublicKey)]) -> String {
    let mut out = String::new();
    for (node, key) in keys {
        let section = match node {
            NodeId::Sequencer(1) => "[sequencer]".to_owned(),
            NodeId::Sequencer(n) => format!("[[sequencer.others]] id = {n}"),
            NodeId::ReplicaManager(r) => format!("[[replica_manager]] id = {r}"),
            NodeId::FrontEnd(_) => "[front_end]".to_owned(),
            NodeId::Tool(_) => "[operator]".to_owned(),
        };
        out.push_str(&format!("{section:<32} public_key = \"{key}\"\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tessera-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn keys_are_written_private_and_read_back() {
        let dir = temp_dir("rw");
        let cfg = Config::default();
        let keys = ensure_all(&cfg, &dir).unwrap();
        assert_eq!(keys.len(), 7);
        for (node, public) in &keys {
            let secret = read_secret(&dir.join(format!("{}.key", key_name(*node)))).unwrap();
            assert_eq!(secret.public(), *public);
            assert_eq!(read_public(&public_path(&dir, *node)).unwrap(), *public);
        }
        // A second run keeps the keys it finds.
        assert_eq!(ensure_all(&cfg, &dir).unwrap(), keys);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join("sequencer.key");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                read_secret(&path),
                Err(KeyFileError::Exposed { mode: 0o644, .. })
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
