//! Remembered successful password checks, so that argon2 is paid once per client and not per
//! call. An entry is a keyed BLAKE3 digest of (user name, password) under a key drawn at
//! start-up and held only in memory: it is not the password, and without the key it is not a
//! hash anyone could test guesses against or present anywhere. Only successes are stored;
//! entries expire, the cache is bounded, and it is emptied whenever the user file changes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// How long a successful check is remembered.
pub const SUCCESS_TTL: Duration = Duration::from_secs(300);
/// Most user names remembered at once.
pub const MAX_USERS: usize = 10_000;
/// Most digests per user name (a client rolling a new password over).
const PER_USER: usize = 2;

#[derive(Debug)]
pub struct SuccessCache {
    key: [u8; 32],
    ttl: Duration,
    by_user: HashMap<String, Vec<([u8; 32], Instant)>>,
}

impl SuccessCache {
    pub fn new(key: [u8; 32], ttl: Duration) -> Self {
        SuccessCache {
            key,
            ttl,
            by_user: HashMap::new(),
        }
    }

    fn digest(&self, user: &str, password: &str) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        hasher.update(&(user.len() as u64).to_le_bytes());
        hasher.update(user.as_bytes());
        hasher.update(password.as_bytes());
        *hasher.finalize().as_bytes()
    }

    /// Whether `password` was proven right for `user` within the TTL.
    pub fn check(&self, user: &str, password: &str, now: Instant) -> bool {
        let Some(entries) = self.by_user.get(user) else {
            return false;
        };
        let digest = self.digest(user, password);
        let mut found = subtle::Choice::from(0);
        for (known, expires) in entries {
            // Every live entry is compared, in constant time.
            let live = subtle::Choice::from(u8::from(*expires > now));
            found |= known.ct_eq(&digest) & live;
        }
        found.into()
    }

    /// Remembers a successful check.
    pub fn remember(&mut self, user: &str, password: &str, now: Instant) {
        if self.by_user.len() >= MAX_USERS && !self.by_user.contains_key(user) {
            self.by_user
                .retain(|_, entries| entries.iter().any(|(_, expires)| *expires > now));
            if self.by_user.len() >= MAX_USERS {
                // Every entry is live: forgetting them all costs each client one argon2 check.
                self.by_user.clear();
            }
        }
        let digest = self.digest(user, password);
        let entries = self.by_user.entry(user.to_owned()).or_default();
        entries.retain(|(known, expires)| *expires > now && known != &digest);
        if entries.len() >= PER_USER {
            entries.remove(0);
        }
        entries.push((digest, now + self.ttl));
    }

    pub fn clear(&mut self) {
        self.by_user.clear();
    }

    pub fn len(&self) -> usize {
        self.by_user.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_the_right_password_for_a_while() {
        let now = Instant::now();
        let mut cache = SuccessCache::new([7; 32], Duration::from_secs(10));
        assert!(!cache.check("alice", "pw", now));
        cache.remember("alice", "pw", now);
        assert!(cache.check("alice", "pw", now));
        assert!(!cache.check("alice", "pW", now));
        assert!(!cache.check("bob", "pw", now));
        assert!(!cache.check("alice", "pw", now + Duration::from_secs(11)));
        cache.clear();
        assert!(!cache.check("alice", "pw", now));
    }

    #[test]
    fn stores_neither_the_password_nor_an_unkeyed_hash() {
        let now = Instant::now();
        let mut cache = SuccessCache::new([9; 32], Duration::from_secs(10));
        cache.remember("alice", "hunter2", now);
        let dump = format!("{:?}", cache.by_user);
        assert!(!dump.contains("hunter2"));
        let unkeyed = blake3::hash(b"hunter2").to_hex().to_string();
        let stored = &cache.by_user["alice"][0].0;
        assert_ne!(stored, blake3::hash(b"hunter2").as_bytes(), "{unkeyed}");
        // A different key gives a different digest: nothing stored is reusable elsewhere.
        let other = SuccessCache::new([10; 32], Duration::from_secs(10));
        assert_ne!(other.digest("alice", "hunter2"), *stored);
    }

    #[test]
    fn is_bounded() {
        let now = Instant::now();
        let mut cache = SuccessCache::new([1; 32], Duration::from_secs(10));
        for i in 0..MAX_USERS + 10 {
            cache.remember(&format!("user{i}"), "pw", now);
        }
        assert!(cache.by_user.len() <= MAX_USERS);
        for i in 0..5 {
            cache.remember("alice", &format!("pw{i}"), now);
        }
        assert_eq!(cache.by_user["alice"].len(), PER_USER);
    }
}
