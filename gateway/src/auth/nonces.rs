//! Nonces of accepted UsernameTokens, remembered for as long as a token carrying them could be
//! fresh (its Created may be up to 5 minutes either side of now), so that a captured token
//! cannot be replayed. Only tokens whose password was right are recorded, so a caller without
//! a password cannot fill the store; it is bounded all the same, and when full it refuses new
//! nonces rather than forgetting live ones (which would let replays through).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a nonce is remembered: the whole span in which its token is fresh.
pub const NONCE_TTL: Duration = Duration::from_secs(2 * 5 * 60);
/// Most nonces remembered at once (about 40 bytes each).
pub const MAX_NONCES: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceError {
    Replayed,
    Full,
}

#[derive(Debug)]
pub struct NonceStore {
    key: [u8; 32],
    ttl: Duration,
    max: usize,
    seen: HashMap<[u8; 16], Instant>,
    /// Insertion order, which is also expiry order (one TTL for all).
    order: VecDeque<([u8; 16], Instant)>,
}

impl NonceStore {
    pub fn new(key: [u8; 32], ttl: Duration, max: usize) -> Self {
        NonceStore {
            key,
            ttl,
            max,
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Records `nonce` for `user`, or says it was seen within the window.
    pub fn check_and_insert(
        &mut self,
        user: &str,
        nonce: &str,
        now: Instant,
    ) -> Result<(), NonceError> {
        while let Some((id, expires)) = self.order.front().copied() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&id) == Some(&expires) {
                self.seen.remove(&id);
            }
        }
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(&(user.len() as u64).to_le_bytes());
        hasher.update(user.as_bytes());
        hasher.update(nonce.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        if self.seen.get(&id).is_some_and(|expires| *expires > now) {
            return Err(NonceError::Replayed);
        }
        if self.seen.len() >= self.max {
            return Err(NonceError::Full);
        }
        let expires = now + self.ttl;
        self.seen.insert(id, expires);
        self.order.push_back((id, expires));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_within_the_window_and_forgotten_after() {
        let now = Instant::now();
        let mut store = NonceStore::new([3; 32], Duration::from_secs(600), 10);
        assert_eq!(store.check_and_insert("alice", "n1", now), Ok(()));
        assert_eq!(
            store.check_and_insert("alice", "n1", now + Duration::from_secs(599)),
            Err(NonceError::Replayed)
        );
        // Per user: another user's equal nonce is not a replay.
        assert_eq!(store.check_and_insert("bob", "n1", now), Ok(()));
        let later = now + Duration::from_secs(601);
        assert_eq!(store.check_and_insert("alice", "n1", later), Ok(()));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn when_full_it_refuses_instead_of_forgetting() {
        let now = Instant::now();
        let mut store = NonceStore::new([3; 32], Duration::from_secs(600), 3);
        for n in ["a", "b", "c"] {
            store.check_and_insert("alice", n, now).unwrap();
        }
        assert_eq!(
            store.check_and_insert("alice", "d", now),
            Err(NonceError::Full)
        );
        assert_eq!(
            store.check_and_insert("alice", "a", now),
            Err(NonceError::Replayed)
        );
    }
}
