//! The user file: one principal per line, `NAME:ARGON2ID-HASH:GRANT,GRANT,…`, `#` comments and
//! blank lines allowed. A grant is a user ID (`MTLP0001`), `*` (every ID: service accounts)
//! or `operator` (the gateway's `/status`). Managed with `tesserad user add|remove|list`;
//! the gateway reloads it on SIGHUP and when it changes.
//!
//! Parsing is all or nothing: a file with one bad line is refused as a whole, so a half-edited
//! file never takes effect (the gateway keeps the previous one and logs why).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use tessera_types::UserId;

use super::password::is_argon2id;

/// What a principal may do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// Act as this admin or participant ID.
    Id(String),
    /// Act as any ID.
    Any,
    /// Read `/status` (and the operator views that will follow).
    Operator,
}

impl Grant {
    pub fn parse(s: &str) -> Result<Grant, String> {
        match s {
            "*" => Ok(Grant::Any),
            "operator" => Ok(Grant::Operator),
            id => UserId::parse(id)
                .map(|_| Grant::Id(id.to_owned()))
                .map_err(|e| format!("grant {id:?} is not a user ID ({e}), `*` or `operator`")),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Grant::Id(id) => id,
            Grant::Any => "*",
            Grant::Operator => "operator",
        }
    }
}

/// One principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// argon2id PHC string.
    pub hash: String,
    pub grants: Vec<Grant>,
}

impl User {
    /// Whether this principal may act as `id`.
    pub fn may_act_as(&self, id: &str) -> bool {
        self.grants.iter().any(|g| match g {
            Grant::Any => true,
            Grant::Id(granted) => granted == id,
            Grant::Operator => false,
        })
    }

    pub fn is_operator(&self) -> bool {
        self.grants.contains(&Grant::Operator)
    }
}

/// The parsed user file, by name. Entries are shared, so that a call holds its principal
/// without copying it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    users: BTreeMap<String, Arc<User>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct UsersError {
    pub line: usize,
    pub message: String,
}

/// Whether `name` may be a principal's name: 1 to 64 of `A-Z a-z 0-9 . _ @ -`. Also what
/// decides whether a presented name may be logged as sent.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

impl Users {
    pub fn parse(text: &str) -> Result<Users, UsersError> {
        let mut users = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let bad = |message: String| UsersError {
                line: line_no,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.splitn(3, ':');
            let (Some(name), Some(hash), Some(grants)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("expected NAME:ARGON2ID-HASH:GRANTS".into()));
            };
            if !is_valid_name(name) {
                return Err(bad(format!(
                    "user name {name:?} must be 1 to 64 of A-Z a-z 0-9 . _ @ -"
                )));
            }
            if !is_argon2id(hash) {
                return Err(bad(format!(
                    "the password hash of {name} is not an argon2id PHC string \
                     ($argon2id$v=19$m=…,t=…,p=…$salt$hash)"
                )));
            }
            let grants = grants
                .split(',')
                .map(|g| Grant::parse(g.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("{name}: {e}")))?;
            if grants.is_empty() {
                return Err(bad(format!("{name} has no grants")));
            }
            let user = User {
                name: name.to_owned(),
                hash: hash.to_owned(),
                grants,
            };
            if users.insert(name.to_owned(), Arc::new(user)).is_some() {
                return Err(bad(format!("{name} appears twice")));
            }
        }
        Ok(Users { users })
    }

    /// The file text: a header comment, then one line per user in name order.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Tessera users: NAME:ARGON2ID-HASH:GRANTS (IDs, `*` for every ID, `operator`).\n\
             # Managed with `tesserad user add|remove|list`; holds hashes only, keep it 0600.\n",
        );
        for user in self.users.values() {
            let grants: Vec<&str> = user.grants.iter().map(Grant::as_str).collect();
            let _ = writeln!(out, "{}:{}:{}", user.name, user.hash, grants.join(","));
        }
        out
    }

    pub fn get(&self, name: &str) -> Option<&Arc<User>> {
        self.users.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.values().map(|u| &**u)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Adds or replaces `user`; returns the previous entry of that name.
    pub fn insert(&mut self, user: User) -> Option<User> {
        self.users
            .insert(user.name.clone(), Arc::new(user))
            .map(Arc::unwrap_or_clone)
    }

    pub fn remove(&mut self, name: &str) -> Option<User> {
        self.users.remove(name).map(Arc::unwrap_or_clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$N0Gk0fYvQ9i5L8cwCk8Xo3Ug1mW8kqzN6cKJr0rDq0E";

    #[test]
    fn round_trip_and_grants() {
        let text = format!(
            "# comment\n\nalice:{HASH}:MTLP0001,TORP0002\nsvc:{HASH}:*\nops:{HASH}:operator\n"
        );
        let users = Users::parse(&text).unwrap();
        assert_eq!(users.len(), 3);
        let alice = users.get("alice").unwrap();
        assert!(alice.may_act_as("MTLP0001") && alice.may_act_as("TORP0002"));
        assert!(!alice.may_act_as("MTLP0002") && !alice.is_operator());
        assert!(users.get("svc").unwrap().may_act_as("VANA9999"));
        let ops = users.get("ops").unwrap();
        assert!(ops.is_operator() && !ops.may_act_as("MTLP0001"));
        assert_eq!(Users::parse(&users.render()).unwrap(), users);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (format!("alice:{HASH}:MTLX0001"), "line 1", "MTLX0001"),
            (
                format!("#\nalice:{HASH}:MTLP0001\nalice:{HASH}:*"),
                "line 3",
                "twice",
            ),
            ("bob:plaintext:*".to_owned(), "line 1", "argon2id"),
            (format!("bad name:{HASH}:*"), "line 1", "user name"),
            ("alice".to_owned(), "line 1", "NAME:ARGON2ID-HASH:GRANTS"),
        ];
        for (text, line, what) in cases {
            let e = Users::parse(&text).unwrap_err().to_string();
            assert!(e.starts_with(line) && e.contains(what), "{text:?}: {e}");
        }
    }
}
