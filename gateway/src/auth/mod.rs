//! Who is calling, and may they act as the ID in the body.
//!
//! The protocol logic is plain code with the time passed in: [`basic`] and the envelope
//! pass's [`crate::soap::wsse`] read credentials, [`created`] judges a token's freshness,
//! [`users`] is the user file, [`cache`], [`nonces`] and [`throttle`] are the state. The
//! [`Authenticator`] is the thin shell that holds that state behind locks and runs argon2
//! ([`password`]) on the blocking pool, since one check costs milliseconds by design.
//!
//! Order of a check: read the credentials (a UsernameToken wins over a Basic header); a
//! `#PasswordDigest` token or a stale `Created` is refused at once; a throttled user name or
//! address is refused unchecked; a password remembered by the success cache passes without
//! argon2; otherwise argon2 decides (against a dummy hash for unknown names, so that they
//! take as long as known ones). Then a nonce must be new.

pub mod basic;
pub mod cache;
pub mod created;
pub mod nonces;
pub mod password;
pub mod throttle;
pub mod users;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tessera_types::Request;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::soap::{AuthFault, PasswordKind, WsSecurity};
pub use password::{hash_password, verify_password, PasswordError};
pub use users::{Grant, User, Users, UsersError};

use cache::{SuccessCache, SUCCESS_TTL};
use nonces::{NonceError, NonceStore, MAX_NONCES, NONCE_TTL};
use throttle::{AddressKey, Throttle};

/// Whether callers must authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Anyone reaching the gateway may act as any ID (loopback trials).
    Off,
    Required,
}

/// Argon2 checks running at once; more wait. Each uses ~19 MiB and a core for milliseconds.
const CONCURRENT_CHECKS: usize = 2;

/// A refusal and, for a throttled caller, how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub fault: AuthFault,
    pub retry_after_secs: Option<u64>,
}

impl From<AuthFault> for Refusal {
    fn from(fault: AuthFault) -> Self {
        Refusal {
            fault,
            retry_after_secs: None,
        }
    }
}

struct State {
    cache: SuccessCache,
    nonces: NonceStore,
    throttle: Throttle,
}

/// The user file in force and everything remembered about recent checks.
pub struct Authenticator {
    users: RwLock<Arc<Users>>,
    state: Mutex<State>,
    checks: Semaphore,
    /// Checked for unknown user names, so they cost what known ones cost.
    dummy_hash: String,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("users", &self.users().len())
            .finish_non_exhaustive()
    }
}

/// The credentials as presented, before any check.
struct Presented<'a> {
    username: &'a str,
    password: &'a str,
    nonce: Option<&'a str>,
}

impl Authenticator {
    pub fn new(users: Users) -> Result<Self, PasswordError> {
        let random_key = || password::random_bytes::<32>().map_err(PasswordError::Random);
        let dummy = password::random_bytes::<16>().map_err(PasswordError::Random)?;
        Ok(Authenticator {
            users: RwLock::new(Arc::new(users)),
            state: Mutex::new(State {
                cache: SuccessCache::new(random_key()?, SUCCESS_TTL),
                nonces: NonceStore::new(random_key()?, NONCE_TTL, MAX_NONCES),
                throttle: Throttle::default(),
            }),
            checks: Semaphore::new(CONCURRENT_CHECKS),
            dummy_hash: hash_password(&String::from_utf8_lossy(&dummy))?,
        })
    }

    /// The user file in force.
    pub fn users(&self) -> Arc<Users> {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a new user file in force. Calls being checked finish against the old one; the
    /// success cache is emptied, so a changed or removed password stops working at once.
    pub fn replace_users(&self, users: Users) {
        *self.users.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(users);
        self.state().cache.clear();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the credentials of one request: the `Authorization` header's value and the
    /// envelope's WS-Security token (pass [`WsSecurity::Absent`] for requests without an
    /// envelope). Logs every failure once, with the user name and the peer, never the
    /// password.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        security: &WsSecurity,
        peer: IpAddr,
    ) -> Result<Arc<User>, Refusal> {
        let basic;
        let presented = match security {
            WsSecurity::Token(token) => {
                if token.kind == PasswordKind::Digest {
                    return Err(self.refused(&token.username, peer, AuthFault::PasswordDigest));
                }
                if let Some(created) = &token.created {
                    let Some(created) = created::parse_unix_seconds(created) else {
                        return Err(self.refused(
                            &token.username,
                            peer,
                            AuthFault::Unusable(
                                "the UsernameToken's Created is not a date and time with a zone",
                            ),
                        ));
                    };
                    if !created::is_fresh(created, unix_now()) {
                        return Err(self.refused(&token.username, peer, AuthFault::Stale));
                    }
                }
                Presented {
                    username: &token.username,
                    password: &token.password,
                    nonce: token.nonce.as_deref(),
                }
            }
            WsSecurity::Unusable(why) => {
                return Err(self.refused("", peer, AuthFault::Unusable(why)));
            }
            WsSecurity::Absent => match basic::parse(authorization) {
                Ok(Some(credentials)) => {
                    basic = credentials;
                    Presented {
                        username: &basic.username,
                        password: &basic.password,
                        nonce: None,
                    }
                }
                Ok(None) => {
                    info!(%peer, "call without credentials");
                    return Err(AuthFault::Missing.into());
                }
                Err(why) => return Err(self.refused("", peer, AuthFault::Unusable(why))),
            },
        };
        self.check(presented, peer).await
    }

    async fn check(&self, presented: Presented<'_>, peer: IpAddr) -> Result<Arc<User>, Refusal> {
        let users = self.users();
        let user = users.get(presented.username);
        let known = user.map(|u| u.name.as_str());
        let address = AddressKey::from(peer);
        let cached = {
            let state = self.state();
            if let Err(locked) = state.throttle.check(known, address, Instant::now()) {
                drop(state);
                let mut refusal = self.refused(presented.username, peer, AuthFault::Throttled);
                refusal.retry_after_secs = Some(locked.retry_after.as_secs().max(1));
                return Err(refusal);
            }
            user.is_some()
                && state
                    .cache
                    .check(presented.username, presented.password, Instant::now())
        };
        let proven = cached || {
            let hash = user.map_or(&self.dummy_hash, |u| &u.hash).clone();
            let password = presented.password.to_owned();
            let _permit = self.checks.acquire().await;
            let verified =
                tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await;
            verified.unwrap_or(false) && user.is_some()
        };
        let mut state = self.state();
        let now = Instant::now();
        let Some(user) = user.filter(|_| proven) else {
            state.throttle.failure(known, address, now);
            drop(state);
            return Err(self.refused(presented.username, peer, AuthFault::WrongCredentials));
        };
        if let Some(nonce) = presented.nonce {
            match state.nonces.check_and_insert(&user.name, nonce, now) {
                Ok(()) => {}
                Err(NonceError::Replayed) => {
                    state.throttle.failure(known, address, now);
                    drop(state);
                    return Err(self.refused(&user.name, peer, AuthFault::Replayed));
                }
                Err(NonceError::Full) => {
                    drop(state);
                    return Err(self.refused(
                        &user.name,
                        peer,
                        AuthFault::Unusable(
                            "the server is remembering too many nonces; retry shortly",
                        ),
                    ));
                }
            }
        }
        if !cached {
            state.cache.remember(&user.name, presented.password, now);
        }
        // Per call only a lookup: an address is recorded when it proves the password, not on
        // every call.
        if !cached || !state.throttle.is_trusted(&user.name, address, now) {
            state.throttle.success(&user.name, address, now);
        }
        Ok(user.clone())
    }

    /// Logs one failure and turns it into a refusal.
    fn refused(&self, username: &str, peer: IpAddr, fault: AuthFault) -> Refusal {
        // A presented name is logged only if it could be a real one: no log forging.
        let user = if users::is_valid_name(username) {
            username
        } else if username.is_empty() {
            "(none)"
        } else {
            "(unloggable)"
        };
        warn!(user, %peer, reason = fault.code(), detail = %fault.reason(), "authentication failed");
        fault.into()
    }
}

/// The argument naming the ID a request acts as.
pub fn acting_as(request: &Request) -> (&'static str, &str) {
    match request {
        Request::AddReservationSlot { admin_id, .. }
        | Request::RemoveReservationSlot { admin_id, .. }
        | Request::ListReservationSlotAvailable { admin_id, .. } => ("adminID", admin_id.as_str()),
        Request::ReserveTicket { participant_id, .. }
        | Request::GetEventSchedule { participant_id }
        | Request::CancelTicket { participant_id, .. }
        | Request::ExchangeTicket { participant_id, .. } => {
            ("participantID", participant_id.as_str())
        }
    }
}

/// Whether `user` may make `request`; `Err` names the argument it may not act as.
pub fn authorize(user: &User, request: &Request) -> Result<(), &'static str> {
    let (field, id) = acting_as(request);
    if user.may_act_as(id) {
        Ok(())
    } else {
        Err(field)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
