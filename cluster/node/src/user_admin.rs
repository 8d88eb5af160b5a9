//! `tesserad user add|remove|list`: edits the gateway's user file. Each change writes a new
//! file next to the old one (mode 0600: it holds password hashes) and renames it into place,
//! so a running gateway, which reloads the file when it changes, never reads half a file.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use tessera_gateway::auth::{hash_password, users, Grant, User, Users};

/// The users in `path`; an absent file is an empty one.
fn load(path: &Path) -> anyhow::Result<Users> {
    match std::fs::read_to_string(path) {
        Ok(text) => Users::parse(&text).with_context(|| format!("{}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Users::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save(path: &Path, users: &Users) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "users".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let written = file
        .write_all(users.render().as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// `--ids ID[,ID...]`: user IDs, `*` or `operator`.
pub fn parse_grants(ids: &str) -> anyhow::Result<Vec<Grant>> {
    let grants = ids
        .split(',')
        .map(|g| Grant::parse(g.trim()).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if grants.is_empty() {
        bail!("--ids: at least one ID, `*` or `operator` is needed");
    }
    Ok(grants)
}

/// Adds `name` with `password` and `grants`; an existing user is replaced only if `replace`.
pub fn add(
    path: &Path,
    name: &str,
    password: &str,
    grants: Vec<Grant>,
    replace: bool,
) -> anyhow::Result<()> {
    if !users::is_valid_name(name) {
        bail!("--name {name:?}: a user name is 1 to 64 of A-Z a-z 0-9 . _ @ -");
    }
    if password.is_empty() {
        bail!("the password (first line of stdin) is empty");
    }
    let mut users = load(path)?;
    if users.get(name).is_some() && !replace {
        bail!(
            "user {name} already exists in {}; pass --replace to change its password and \
             grants, or `tesserad user remove` it first",
            path.display()
        );
    }
    let hash = hash_password(password)?;
    users.insert(User {
        name: name.to_owned(),
        hash,
        grants,
    });
    save(path, &users)
}

pub fn remove(path: &Path, name: &str) -> anyhow::Result<()> {
    let mut users = load(path)?;
    if users.remove(name).is_none() {
        bail!("no user {name} in {}", path.display());
    }
    save(path, &users)
}

/// One line per user: name and grants (never the hash).
pub fn list(path: &Path) -> anyhow::Result<String> {
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    let users = load(path)?;
    let mut out = String::new();
    for user in users.iter() {
        let grants: Vec<&str> = user.grants.iter().map(Grant::as_str).collect();
        out.push_str(&format!("{}\t{}\n", user.name, grants.join(",")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_remove() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        add(
            &path,
            "alice",
            "pw1",
            parse_grants("MTLP0001,TORP0002").unwrap(),
            false,
        )
        .unwrap();
        add(
            &path,
            "ops",
            "pw2",
            parse_grants("operator").unwrap(),
            false,
        )
        .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("pw1") && text.contains("$argon2id$"));
        assert_eq!(
            list(&path).unwrap(),
            "alice\tMTLP0001,TORP0002\nops\toperator\n"
        );
        let again = add(&path, "alice", "x", parse_grants("*").unwrap(), false).unwrap_err();
        assert!(again.to_string().contains("--replace"), "{again}");
        add(&path, "alice", "x", parse_grants("*").unwrap(), true).unwrap();
        assert!(list(&path).unwrap().starts_with("alice\t*\n"));
        remove(&path, "alice").unwrap();
        assert!(remove(&path, "alice").is_err());
        assert!(parse_grants("MTLX0001").is_err());
        assert!(add(&path, "bad name", "x", parse_grants("*").unwrap(), false).is_err());
        assert!(add(&path, "bob", "", parse_grants("*").unwrap(), false).is_err());
    }
}
