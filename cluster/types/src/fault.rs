//! Byzantine fault mode, for tests and demos: a wrapper that makes any replica return wrong but
//! well-formed replies and, if configured, corrupt its own state. The corruption is a pure
//! function of the seed and the sequence number, so a faulty run replays exactly.
//!
//! State corruption damages the real state once (at the first request after the mode is set)
//! and shows one more damage in every export and digest, so the replica's checkpoints always
//! give it away while it costs no more per request than a correct replica. (Damaging the real
//! state after every request meant exporting and re-importing the whole state each time: the
//! SQLite replica then ran some 50 times slower, which is a different fault.)

use crate::call::{Ordered, Outcome};
use crate::ids::{EventId, EventType, UserId, MAX_CAPACITY};
use crate::replica::{Replica, ReplicaError};
use crate::reply::{Code, Reply, ReplyBody};
use crate::request::Request;
use crate::snapshot::{Digest, SlotRecord, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultConfig {
    pub seed: u64,
    /// Also damage the state, so the replica's digest drifts too.
    pub corrupt_state: bool,
    /// Return wrong replies. Off with `corrupt_state` on gives a replica whose replies look
    /// right while its state is wrong: only checkpoint digests can tell.
    pub corrupt_replies: bool,
}

/// A replica with a switchable Byzantine mode. When the mode is off it is transparent.
pub struct Faulty<R> {
    inner: R,
    mode: Option<FaultConfig>,
    /// The real state was damaged since the mode was last set.
    damaged: bool,
}

impl<R: Replica> Faulty<R> {
    pub fn new(inner: R) -> Self {
        Faulty {
            inner,
            mode: None,
            damaged: false,
        }
    }

    /// `Some` turns Byzantine mode on; `None` heals (the state is not repaired).
    pub fn set_mode(&mut self, mode: Option<FaultConfig>) {
        self.mode = mode;
        self.damaged = false;
    }

    pub fn mode(&self) -> Option<FaultConfig> {
        self.mode
    }

    pub fn inner(&self) -> &R {
        &self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The state `self.inner` would export, with the damage of (`cfg`, `seq`).
    fn damaged_export(&self, cfg: FaultConfig, seq: u64) -> Result<Snapshot, ReplicaError> {
        let (mut slots, calls) = self.inner.export()?.into_parts();
        let r = mix(cfg.seed ^ 0x5eed_57a7e, seq);
        if slots.is_empty() {
            // Nothing to damage: invent a slot no correct replica has.
            if let (Ok(event_id), Ok(holder)) =
                (EventId::parse("MTLM010100"), UserId::parse("MTLP9999"))
            {
                slots.push(SlotRecord {
                    event_type: EventType::ArtGallery,
                    event_id,
                    capacity: 1,
                    holders: vec![holder],
                });
            }
        } else {
            let n = slots.len();
            let slot = &mut slots[(r % n as u64) as usize];
            if slot.capacity < MAX_CAPACITY.unsigned_abs() {
                slot.capacity += 1;
            } else {
                slot.holders.pop();
                slot.capacity -= 1;
            }
        }
        Ok(Snapshot::with_calls(slots, calls)?)
    }

    /// The damage an inspector sees, if the mode corrupts state.
    fn state_mode(&self) -> Option<FaultConfig> {
        self.mode.filter(|m| m.corrupt_state)
    }
}

/// splitmix64 of seed and sequence number: deterministic, no RNG state to carry.
fn mix(seed: u64, seq: u64) -> u64 {
    let mut z = seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A reply that is well-formed and always different from `reply`.
pub fn corrupt_reply(reply: &Reply, seed: u64, seq: u64) -> Reply {
    let r = mix(seed, seq);
    let pick = |len: usize| (r >> 8) as usize % len;
    let mut out = reply.clone();
    if r & 1 == 1 {
        match &mut out.body {
            ReplyBody::Slots(rows) if !rows.is_empty() => {
                let i = pick(rows.len());
                rows[i].available ^= 1;
                return out;
            }
            ReplyBody::Schedule(rows) if !rows.is_empty() => {
                rows.remove(pick(rows.len()));
                return out;
            }
            ReplyBody::Removed { moved, .. } => {
                *moved = moved.wrapping_add(1);
                return out;
            }
            _ => {}
        }
    }
    let n = Code::ALL.len();
    let here = Code::ALL.iter().position(|c| *c == reply.code).unwrap_or(0);
    let other = Code::ALL[(here + 1 + pick(n - 1)) % n];
    Reply::code(other)
}

impl<R: Replica> Replica for Faulty<R> {
    fn call(&mut self, call: &Ordered<'_>) -> Result<Outcome, ReplicaError> {
        let seq = call.seq;
        let outcome = self.inner.call(call)?;
        let Some(cfg) = self.mode else {
            return Ok(outcome);
        };
        if cfg.corrupt_state && !self.damaged {
            let snapshot = self.damaged_export(cfg, seq)?;
            self.inner.import(seq, &snapshot)?;
            self.damaged = true;
        }
        Ok(if cfg.corrupt_replies {
            Outcome {
                reply: corrupt_reply(&outcome.reply, cfg.seed, seq),
                ..outcome
            }
        } else {
            outcome
        })
    }

    fn applied_seq(&self) -> u64 {
        self.inner.applied_seq()
    }

    fn read(&self, request: &Request) -> Result<Option<Reply>, ReplicaError> {
        let reply = self.inner.read(request)?;
        // A lying replica lies on reads too; keyed by the seq it reads at, as its ordered
        // replies are, so it stays deterministic.
        Ok(match self.mode {
            Some(cfg) if cfg.corrupt_replies => {
                reply.map(|r| corrupt_reply(&r, cfg.seed, self.inner.applied_seq()))
            }
            _ => reply,
        })
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        match self.state_mode() {
            Some(cfg) => self.damaged_export(cfg, self.inner.applied_seq()),
            None => self.inner.export(),
        }
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        self.inner.import(seq, snapshot)
    }

    fn digest(&self) -> Result<Digest, ReplicaError> {
        match self.state_mode() {
            Some(_) => Ok(self.export()?.digest()),
            None => self.inner.digest(),
        }
    }

    fn sync(&mut self) -> Result<(), ReplicaError> {
        self.inner.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Booking, SlotAvailability};

    #[test]
    fn corruption_always_differs_and_is_deterministic() {
        let e = EventId::parse("MTLE101226").unwrap();
        let samples = [
            Reply::code(Code::Reserved),
            Reply::code(Code::InvalidArgument),
            Reply::removed(2, 1),
            Reply::slots(vec![]),
            Reply::slots(vec![SlotAvailability {
                event_id: e,
                event_type: EventType::Concerts,
                available: 0,
            }]),
            Reply::schedule(vec![Booking {
                event_id: e,
                event_type: EventType::Theatre,
            }]),
        ];
        for seed in 0..50 {
            for seq in 1..50 {
                for reply in &samples {
                    let bad = corrupt_reply(reply, seed, seq);
                    assert_ne!(bad.encode(), reply.encode());
                    assert_eq!(bad, corrupt_reply(reply, seed, seq));
                    assert!(Reply::decode(&bad.encode()).is_ok());
                }
            }
        }
    }
}
