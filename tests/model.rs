//! A deliberately plain model of `docs/domain.md`, written for the tests alone. It is not one
//! of the replicas: it exists only to cross-check the scenario tables (hand-derived expected
//! results) for slips, independently of the real implementations. Where the model and a
//! table disagree, the spec decides which one is wrong.

use std::collections::{BTreeMap, BTreeSet};

use tessera_types::{
    Booking, CallRecord, City, Code, EventId, EventType, Ordered, Outcome, Replica, ReplicaError,
    Reply, Request, Role, SlotAvailability, SlotRecord, Snapshot, TimeSlot, UserId,
};

#[derive(Default)]
pub struct Model {
    seq: u64,
    slots: BTreeMap<(EventType, EventId), (u32, BTreeSet<UserId>)>,
    /// Remembered calls in seq order, searched linearly: the model is for reading, not speed.
    calls: Vec<CallRecord>,
}

type Key = (EventType, EventId);

/// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
fn days(e: &EventId) -> i64 {
    let (y, m, d) = (
        i64::from(e.year()),
        i64::from(e.month()),
        i64::from(e.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (day number, slot order): the domain's "when".
fn when(e: &EventId) -> (i64, u8) {
    let slot = match e.slot() {
        TimeSlot::Morning => 0,
        TimeSlot::Afternoon => 1,
        TimeSlot::Evening => 2,
    };
    (days(e), slot)
}

/// Monday-based week number (1970-01-01 was a Thursday).
fn week(e: &EventId) -> i64 {
    (days(e) + 3).div_euclid(7)
}

fn deny() -> Reply {
    Reply::code(Code::NotAuthorized)
}

/// Only a participant may: anyone else is refused.
fn participant(u: &UserId) -> Result<(), Reply> {
    if u.role() == Role::Participant {
        Ok(())
    } else {
        Err(deny())
    }
}

impl Model {
    fn held(&self, p: &UserId) -> Vec<Key> {
        self.slots
            .iter()
            .filter(|(_, (_, h))| h.contains(p))
            .map(|(k, _)| *k)
            .collect()
    }

    /// TIME_CONFLICT / OTHER_CITY_LIMIT checks for holding `target`, ignoring `except`.
    fn conflict(&self, p: &UserId, target: &EventId, except: Option<Key>) -> Option<Code> {
        let held: Vec<Key> = self
            .held(p)
            .into_iter()
            .filter(|k| Some(*k) != except)
            .collect();
        if held.iter().any(|(_, e)| when(e) == when(target)) {
            return Some(Code::TimeConflict);
        }
        if target.city() != p.city() {
            let n = held
                .iter()
                .filter(|(_, e)| e.city() != p.city() && week(e) == week(target))
                .count();
            if n >= 3 {
                return Some(Code::OtherCityLimit);
            }
        }
        None
    }

    fn run(&mut self, request: &Request) -> Reply {
        match self.step(request) {
            Ok(r) | Err(r) => r,
        }
    }

    /// The read-only requests, which change nothing (and may be read without a seq).
    fn read_step(&self, request: &Request) -> Result<Reply, Reply> {
        match *request {
            Request::ListReservationSlotAvailable {
                admin_id,
                event_type,
            } => {
                let (a, t) = (admin_id, event_type);
                if a.role() != Role::Admin {
                    return Err(deny());
                }
                let mut rows: Vec<(City, (i64, u8), SlotAvailability)> = self
                    .slots
                    .iter()
                    .filter(|((st, _), _)| *st == t)
                    .map(|((_, e), (cap, h))| {
                        (
                            e.city(),
                            when(e),
                            SlotAvailability {
                                event_id: *e,
                                event_type: t,
                                available: cap - h.len() as u32,
                            },
                        )
                    })
                    .collect();
                rows.sort_by_key(|(c, w, _)| (*c, *w));
                Ok(Reply::slots(rows.into_iter().map(|(_, _, r)| r).collect()))
            }
            Request::GetEventSchedule { participant_id } => {
                let p = participant_id;
                participant(&p)?;
                let mut rows = self.held(&p);
                rows.sort_by_key(|(t, e)| (when(e), e.city(), *t));
                Ok(Reply::schedule(
                    rows.into_iter()
                        .map(|(event_type, event_id)| Booking {
                            event_id,
                            event_type,
                        })
                        .collect(),
                ))
            }
            _ => Err(Reply::code(Code::NotAuthorized)),
        }
    }

    fn step(&mut self, request: &Request) -> Result<Reply, Reply> {
        // Arguments are typed: step 0 happened where the request was built.
        match *request {
            Request::AddReservationSlot {
                admin_id,
                event_type,
                event_id,
                capacity,
            } => {
                let (a, t, e) = (admin_id, event_type, event_id);
                let cap = capacity.get();
                if a.role() != Role::Admin || a.city() != e.city() {
                    return Err(deny());
                }
                match self.slots.get_mut(&(t, e)) {
                    Some((c, h)) => {
                        if (cap as usize) < h.len() {
                            return Err(Reply::code(Code::CapacityBelowBooked));
                        }
                        *c = cap;
                        Ok(Reply::code(Code::Updated))
                    }
                    None => {
                        self.slots.insert((t, e), (cap, BTreeSet::new()));
                        Ok(Reply::code(Code::Created))
                    }
                }
            }
            Request::RemoveReservationSlot {
                admin_id,
                event_type,
                event_id,
            } => {
                let (a, t, e) = (admin_id, event_type, event_id);
                if a.role() != Role::Admin || a.city() != e.city() {
                    return Err(deny());
                }
                let (_, holders) = self
                    .slots
                    .remove(&(t, e))
                    .ok_or(Reply::code(Code::NoSuchSlot))?;
                let (mut moved, mut dropped) = (0, 0);
                for p in holders {
                    let mut candidates: Vec<Key> = self
                        .slots
                        .iter()
                        .filter(|((st, se), (cap, h))| {
                            *st == t
                                && se.city() == e.city()
                                && when(se) > when(&e)
                                && h.len() < *cap as usize
                                && !h.contains(&p)
                                && self.conflict(&p, se, None).is_none()
                        })
                        .map(|(k, _)| *k)
                        .collect();
                    candidates.sort_by_key(|(_, se)| when(se));
                    match candidates.first() {
                        Some(k) => {
                            if let Some((_, h)) = self.slots.get_mut(k) {
                                h.insert(p);
                            }
                            moved += 1;
                        }
                        None => dropped += 1,
                    }
                }
                Ok(Reply::removed(moved, dropped))
            }
            Request::ReserveTicket {
                participant_id,
                event_type,
                event_id,
            } => {
                let (p, t, e) = (participant_id, event_type, event_id);
                participant(&p)?;
                let (cap, h) = self
                    .slots
                    .get(&(t, e))
                    .ok_or(Reply::code(Code::NoSuchSlot))?;
                if h.contains(&p) {
                    return Err(Reply::code(Code::AlreadyReserved));
                }
                if h.len() >= *cap as usize {
                    return Err(Reply::code(Code::SlotFull));
                }
                if let Some(code) = self.conflict(&p, &e, None) {
                    return Err(Reply::code(code));
                }
                if let Some((_, h)) = self.slots.get_mut(&(t, e)) {
                    h.insert(p);
                }
                Ok(Reply::code(Code::Reserved))
            }
            Request::ListReservationSlotAvailable { .. } | Request::GetEventSchedule { .. } => {
                self.read_step(request)
            }
            Request::CancelTicket {
                participant_id,
                event_type,
                event_id,
            } => {
                let (p, t, e) = (participant_id, event_type, event_id);
                participant(&p)?;
                match self.slots.get_mut(&(t, e)) {
                    Some((_, h)) if h.contains(&p) => {
                        h.remove(&p);
                        Ok(Reply::code(Code::Cancelled))
                    }
                    _ => Err(Reply::code(Code::NotReserved)),
                }
            }
            Request::ExchangeTicket {
                participant_id,
                event_type,
                event_id,
                new_event_type,
                new_event_id,
            } => {
                let (p, t, e) = (participant_id, event_type, event_id);
                let (nt, ne) = (new_event_type, new_event_id);
                participant(&p)?;
                if !self.slots.get(&(t, e)).is_some_and(|(_, h)| h.contains(&p)) {
                    return Err(Reply::code(Code::NotReserved));
                }
                let (cap, h) = self
                    .slots
                    .get(&(nt, ne))
                    .ok_or(Reply::code(Code::NoSuchSlot))?;
                if h.contains(&p) {
                    return Err(Reply::code(Code::AlreadyReserved));
                }
                if h.len() >= *cap as usize {
                    return Err(Reply::code(Code::SlotFull));
                }
                if let Some(code) = self.conflict(&p, &ne, Some((t, e))) {
                    return Err(Reply::code(code));
                }
                if let Some((_, h)) = self.slots.get_mut(&(t, e)) {
                    h.remove(&p);
                }
                if let Some((_, h)) = self.slots.get_mut(&(nt, ne)) {
                    h.insert(p);
                }
                Ok(Reply::code(Code::Exchanged))
            }
        }
    }
}

impl Replica for Model {
    fn call(&mut self, call: &Ordered<'_>) -> Result<Outcome, ReplicaError> {
        let seq = call.seq;
        if seq != self.seq + 1 {
            return Err(ReplicaError::Sequence {
                expected: self.seq + 1,
                got: seq,
            });
        }
        self.seq = seq;
        // docs/domain.md, "Repeated calls", step by step.
        let now = call.time_ms;
        self.calls
            .retain(|c| now.saturating_sub(c.time_ms) <= call.memory.max_age_ms);
        let Some(id) = call.message_id else {
            return Ok(Outcome::fresh(self.run(call.request)));
        };
        if let Some(first) = self.calls.iter().find(|c| c.message_id == *id) {
            return Ok(if first.request == *call.request {
                Outcome {
                    reply: first.reply.clone(),
                    repeat_of: Some(first.seq),
                }
            } else {
                Outcome::fresh(Reply::code(Code::MessageIdReused))
            });
        }
        let reply = self.run(call.request);
        self.calls.push(CallRecord {
            message_id: id.clone(),
            seq,
            time_ms: now,
            request: call.request.clone(),
            reply: reply.clone(),
        });
        while self.calls.len() as u64 > call.memory.max_entries {
            self.calls.remove(0);
        }
        Ok(Outcome::fresh(reply))
    }

    fn applied_seq(&self) -> u64 {
        self.seq
    }

    fn read(&self, request: &Request) -> Result<Option<Reply>, ReplicaError> {
        Ok(request
            .is_read_only()
            .then(|| match self.read_step(request) {
                Ok(r) | Err(r) => r,
            }))
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        let slots = self
            .slots
            .iter()
            .map(|((t, e), (cap, h))| SlotRecord {
                event_type: *t,
                event_id: *e,
                capacity: *cap,
                holders: h.iter().copied().collect(),
            })
            .collect();
        Ok(Snapshot::with_calls(slots, self.calls.clone())?)
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        self.slots = snapshot
            .slots()
            .iter()
            .map(|s| {
                (
                    (s.event_type, s.event_id),
                    (s.capacity, s.holders.iter().copied().collect()),
                )
            })
            .collect();
        self.calls = snapshot.calls().to_vec();
        self.seq = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{table, Implementation};

    #[test]
    fn calendar() {
        let e = |s: &str| EventId::parse(s).unwrap();
        assert_eq!(days(&e("MTLM101226")), 20_797, "2026-12-10");
        // Mon 29 Dec 2025 .. Sun 4 Jan 2026 is one week; Mon 5 Jan 2026 starts the next.
        assert_eq!(week(&e("MTLM291225")), week(&e("MTLM040126")));
        assert_eq!(week(&e("MTLM291225")) + 1, week(&e("MTLM050126")));
        assert_eq!(week(&e("MTLM281225")) + 1, week(&e("MTLM291225")));
        assert!(when(&e("MTLE101226")) < when(&e("TORM111226")));
        assert!(when(&e("TORM101226")) < when(&e("MTLA101226")));
    }

    /// Every scenario table agrees with this model: a check on the tables, not the replicas.
    #[test]
    fn scenario_tables_agree_with_the_model() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let scripts = table::load_dir(&dir).unwrap_or_else(|e| panic!("{}", e.join("\n")));
        let mut failures = Vec::new();
        for s in &scripts {
            let model = Implementation::custom("model", Box::new(Model::default()));
            failures.extend(table::run(s, vec![model]));
        }
        let shown: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert!(failures.is_empty(), "{}", shown.join("\n"));
    }
}
