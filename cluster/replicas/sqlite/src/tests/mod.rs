//! Behavioural tests through the public `Replica` interface, one module per area of
//! `docs/domain.md`. The helpers keep each test to the requests and replies that matter.

mod call_model;
mod calls;
mod durability;
mod exchange;
mod removal;
mod reservations;
mod sequencing;
mod slots;
mod validation;
mod weeks;

use tessera_types::{Code, Replica, Reply, ReplyBody, Request, Snapshot};

use crate::SqliteReplica;

pub(super) const ART: &str = "ArtGallery";
pub(super) const CON: &str = "Concerts";
pub(super) const THE: &str = "Theatre";

pub(super) fn add_req(admin: &str, ty: &str, id: &str, capacity: i32) -> Request {
    Request::AddReservationSlot {
        admin_id: admin.parse().unwrap(),
        event_type: ty.parse().unwrap(),
        event_id: id.parse().unwrap(),
        capacity: tessera_types::Capacity::new(capacity).unwrap(),
    }
}

pub(super) fn remove_req(admin: &str, ty: &str, id: &str) -> Request {
    Request::RemoveReservationSlot {
        admin_id: admin.parse().unwrap(),
        event_type: ty.parse().unwrap(),
        event_id: id.parse().unwrap(),
    }
}

pub(super) fn list_req(admin: &str, ty: &str) -> Request {
    Request::ListReservationSlotAvailable {
        admin_id: admin.parse().unwrap(),
        event_type: ty.parse().unwrap(),
    }
}

pub(super) fn reserve_req(participant: &str, ty: &str, id: &str) -> Request {
    Request::ReserveTicket {
        participant_id: participant.parse().unwrap(),
        event_type: ty.parse().unwrap(),
        event_id: id.parse().unwrap(),
    }
}

pub(super) fn schedule_req(participant: &str) -> Request {
    Request::GetEventSchedule {
        participant_id: participant.parse().unwrap(),
    }
}

pub(super) fn cancel_req(participant: &str, ty: &str, id: &str) -> Request {
    Request::CancelTicket {
        participant_id: participant.parse().unwrap(),
        event_type: ty.parse().unwrap(),
        event_id: id.parse().unwrap(),
    }
}

pub(super) fn exchange_req(p: &str, ty: &str, id: &str, new_ty: &str, new_id: &str) -> Request {
    Request::ExchangeTicket {
        participant_id: p.parse().unwrap(),
        event_type: ty.parse().unwrap(),
        event_id: id.parse().unwrap(),
        new_event_type: new_ty.parse().unwrap(),
        new_event_id: new_id.parse().unwrap(),
    }
}

/// An in-memory replica plus shorthand for requests, each applied with the next sequence
/// number.
pub(super) struct Fixture {
    pub(super) replica: SqliteReplica,
}

impl Fixture {
    pub(super) fn new() -> Self {
        Fixture {
            replica: SqliteReplica::in_memory().unwrap(),
        }
    }

    pub(super) fn run(&mut self, request: Request) -> Reply {
        let seq = self.replica.applied_seq() + 1;
        let reply = self.replica.apply(seq, &request).unwrap();
        assert_eq!(self.replica.applied_seq(), seq);
        // Only the codes the spec gives data to carry a body.
        match (&reply.body, reply.code) {
            (ReplyBody::Empty, code) => assert!(code != Code::Removed && code != Code::Ok),
            (ReplyBody::Removed { .. }, code) => assert_eq!(code, Code::Removed),
            (ReplyBody::Slots(_) | ReplyBody::Schedule(_), code) => assert_eq!(code, Code::Ok),
        }
        reply
    }

    pub(super) fn code(&mut self, request: Request) -> Code {
        self.run(request).code
    }

    /// Creates a slot through its city's admin.
    pub(super) fn slot(&mut self, ty: &str, id: &str, capacity: i32) {
        let admin = format!("{}A0001", &id[..3]);
        assert_eq!(self.code(add_req(&admin, ty, id, capacity)), Code::Created);
    }

    pub(super) fn reserve(&mut self, participant: &str, ty: &str, id: &str) -> Code {
        self.code(reserve_req(participant, ty, id))
    }

    pub(super) fn cancel(&mut self, participant: &str, ty: &str, id: &str) -> Code {
        self.code(cancel_req(participant, ty, id))
    }

    pub(super) fn exchange(&mut self, p: &str, ty: &str, id: &str, nt: &str, nid: &str) -> Code {
        self.code(exchange_req(p, ty, id, nt, nid))
    }

    /// Removes a slot through its city's admin; returns (moved, dropped).
    pub(super) fn remove(&mut self, ty: &str, id: &str) -> (u32, u32) {
        let admin = format!("{}A0001", &id[..3]);
        match self.run(remove_req(&admin, ty, id)).body {
            ReplyBody::Removed { moved, dropped } => (moved, dropped),
            other => panic!("expected REMOVED, got {other:?}"),
        }
    }

    /// The schedule as (event ID, event type) text pairs.
    pub(super) fn schedule(&mut self, participant: &str) -> Vec<(String, String)> {
        match self.run(schedule_req(participant)).body {
            ReplyBody::Schedule(rows) => rows
                .into_iter()
                .map(|b| (b.event_id.to_string(), b.event_type.to_string()))
                .collect(),
            other => panic!("expected a schedule, got {other:?}"),
        }
    }

    /// The availability list as (event ID, available) pairs.
    pub(super) fn list(&mut self, ty: &str) -> Vec<(String, u32)> {
        match self.run(list_req("MTLA0001", ty)).body {
            ReplyBody::Slots(rows) => rows
                .into_iter()
                .map(|s| {
                    assert_eq!(s.event_type.as_str(), ty);
                    (s.event_id.to_string(), s.available)
                })
                .collect(),
            other => panic!("expected a slot list, got {other:?}"),
        }
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        self.replica.export().unwrap()
    }

    /// Holders of one slot, `None` if the slot does not exist.
    pub(super) fn holders(&self, ty: &str, id: &str) -> Option<Vec<String>> {
        self.snapshot()
            .slots()
            .iter()
            .find(|s| s.event_type.as_str() == ty && s.event_id.as_str() == id)
            .map(|s| s.holders.iter().map(|h| h.to_string()).collect())
    }
}

/// Shorthand for expected schedule rows.
pub(super) fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(id, ty)| (id.to_string(), ty.to_string()))
        .collect()
}
