//! Slowing down password guessing without letting an attacker lock out legitimate users.
//!
//! Each client address (IPv6 by /64, which one host usually owns) and each known user name
//! has a failure score: +1 per failed check, forgiven at [`FORGIVE_EVERY`]. Past
//! [`FREE_FAILURES`] the key is locked until the score has decayed back: an address is then
//! refused outright, a user name is refused from every address that has not proven that
//! user's password recently. So guesses run at one per [`FORGIVE_EVERY`] per name and per
//! address instead of line rate, while
//!
//! - a user whose address authenticated as them within [`TRUSTED_FOR`] is never locked out by
//!   failures for their name from elsewhere;
//! - scores are capped, so any lock ends at most [`MAX_LOCK`] after the last failure;
//! - refused attempts are not checked and do not add to the score.
//!
//! Plain state with the time passed in: no clock, no IO.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures allowed before a key is locked.
pub const FREE_FAILURES: f64 = 5.0;
/// One failure is forgiven per this much time.
pub const FORGIVE_EVERY: Duration = Duration::from_secs(2);
/// The longest any lock lasts after the last failure.
pub const MAX_LOCK: Duration = Duration::from_secs(60);
/// How long an address that authenticated as a user is exempt from that user's lock.
pub const TRUSTED_FOR: Duration = Duration::from_secs(24 * 3600);
/// Most keys tracked per map.
const MAX_KEYS: usize = 100_000;

/// The throttled unit of a client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(u128);

impl From<IpAddr> for AddressKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => AddressKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey(u128::from(u32::from(v4))),
                None => AddressKey((u128::from(v6) >> 64) << 64 | 1 << 32),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Score {
    value: f64,
    at: Instant,
}

impl Score {
    fn now(self, now: Instant) -> f64 {
        let forgiven =
            now.saturating_duration_since(self.at).as_secs_f64() / FORGIVE_EVERY.as_secs_f64();
        (self.value - forgiven).max(0.0)
    }
}

/// Why an attempt is refused unchecked, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after: Duration,
}

#[derive(Debug, Default)]
pub struct Throttle {
    addresses: HashMap<AddressKey, Score>,
    users: HashMap<String, Score>,
    /// Addresses that proved a user's password, by user, until when.
    trusted: HashMap<String, HashMap<AddressKey, Instant>>,
    trusted_count: usize,
}

fn locked_for(score: f64) -> Option<Duration> {
    (score > FREE_FAILURES)
        .then(|| Duration::from_secs_f64((score - FREE_FAILURES) * FORGIVE_EVERY.as_secs_f64()))
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Score>, key: K, now: Instant) {
    if map.len() >= MAX_KEYS {
        map.retain(|_, s| s.now(now) > 0.0);
        if map.len() >= MAX_KEYS {
            // Fail open rather than grow without bound; only reachable by failing from
            // 100,000 addresses (or for 100,000 real user names) within two minutes.
            map.clear();
        }
    }
    let cap = FREE_FAILURES + MAX_LOCK.as_secs_f64() / FORGIVE_EVERY.as_secs_f64();
    let score = map.entry(key).or_insert(Score {
        value: 0.0,
        at: now,
    });
    *score = Score {
        value: (score.now(now) + 1.0).min(cap),
        at: now,
    };
}

impl Throttle {
    /// Whether an attempt for `user` (a known name, or `None`) from `address` may be checked.
    pub fn check(
        &self,
        user: Option<&str>,
        address: AddressKey,
        now: Instant,
    ) -> Result<(), Locked> {
        let by_address = self
            .addresses
            .get(&address)
            .and_then(|s| locked_for(s.now(now)));
        let by_user = user.and_then(|user| {
            let locked = self.users.get(user).and_then(|s| locked_for(s.now(now)))?;
            (!self.is_trusted(user, address, now)).then_some(locked)
        });
        match by_address.max(by_user) {
            Some(wait) => Err(Locked {
                retry_after: wait.max(Duration::from_secs(1)),
            }),
            None => Ok(()),
        }
    }

    /// A failed check. `user` is the name if it is a known one: unknown names are not
    /// tracked, so made-up names cannot fill the map.
    pub fn failure(&mut self, user: Option<&str>, address: AddressKey, now: Instant) {
        bump(&mut self.addresses, address, now);
        if let Some(user) = user {
            bump(&mut self.users, user.to_owned(), now);
        }
    }

    /// Whether `address` proved `user`'s password within [`TRUSTED_FOR`].
    pub fn is_trusted(&self, user: &str, address: AddressKey, now: Instant) -> bool {
        self.trusted
            .get(user)
            .and_then(|addresses| addresses.get(&address))
            .is_some_and(|until| *until > now)
    }

    /// A successful password check: this address now vouches for this user.
    pub fn success(&mut self, user: &str, address: AddressKey, now: Instant) {
        if self.trusted_count >= MAX_KEYS {
            for addresses in self.trusted.values_mut() {
                addresses.retain(|_, until| *until > now);
            }
            self.trusted.retain(|_, addresses| !addresses.is_empty());
            self.trusted_count = self.trusted.values().map(HashMap::len).sum();
            if self.trusted_count >= MAX_KEYS {
                self.trusted.clear();
                self.trusted_count = 0;
            }
        }
        let previous = self
            .trusted
            .entry(user.to_owned())
            .or_default()
            .insert(address, now + TRUSTED_FOR);
        if previous.is_none() {
            self.trusted_count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> AddressKey {
        AddressKey::from(s.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn an_address_is_slowed_after_a_few_failures_and_recovers() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let a = addr("192.0.2.7");
        for _ in 0..5 {
            assert!(t.check(None, a, t0).is_ok());
            t.failure(None, a, t0);
        }
        // The sixth failure within the window locks the address.
        t.failure(None, a, t0);
        let locked = t.check(None, a, t0).unwrap_err();
        assert!(locked.retry_after <= Duration::from_secs(2), "{locked:?}");
        assert!(t.check(None, addr("192.0.2.8"), t0).is_ok());
        assert!(t.check(None, a, t0 + FORGIVE_EVERY * 2).is_ok());
    }

    #[test]
    fn a_lock_never_outlasts_max_lock_after_the_last_failure() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let a = addr("192.0.2.7");
        for _ in 0..10_000 {
            t.failure(Some("alice"), a, t0);
        }
        assert!(t
            .check(Some("alice"), a, t0 + MAX_LOCK - Duration::from_secs(3))
            .is_err());
        assert!(t.check(Some("alice"), a, t0 + MAX_LOCK).is_ok());
        assert!(t
            .check(Some("alice"), addr("198.51.100.1"), t0 + MAX_LOCK)
            .is_ok());
    }

    #[test]
    fn failures_elsewhere_do_not_lock_out_a_users_known_address() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let home = addr("198.51.100.20");
        t.success("alice", home, t0);
        // An attacker spread over many addresses guesses alice's password.
        for i in 0..50u8 {
            t.failure(Some("alice"), addr(&format!("203.0.113.{i}")), t0);
        }
        assert!(t.check(Some("alice"), addr("203.0.113.200"), t0).is_err());
        assert!(t.check(Some("alice"), home, t0).is_ok());
        assert!(t.check(Some("bob"), addr("203.0.113.200"), t0).is_ok());
    }

    #[test]
    fn ipv6_is_throttled_by_its_64_prefix() {
        assert_eq!(addr("2001:db8:1:2::1"), addr("2001:db8:1:2:ffff::9"));
        assert_ne!(addr("2001:db8:1:2::1"), addr("2001:db8:1:3::1"));
        assert_eq!(addr("::ffff:192.0.2.1"), addr("192.0.2.1"));
    }
}
