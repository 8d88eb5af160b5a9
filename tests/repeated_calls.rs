//! Repeated calls (`docs/domain.md`), differentially: seeded random call sequences with message
//! ids from a small pool (so that ids repeat, with the same request and with another), times
//! that advance in steps around `max_age_ms`, and a small `max_entries`, fed to all four
//! implementations and the test model. After every call the encoded outcomes must be
//! byte-identical and the digests equal; every so often each implementation's export is
//! imported into a fresh instance of the next one, which must go on agreeing.
//!
//! Seeds: 40 by default, `TESSERA_REPEAT_SEEDS` overrides.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tessera_testkit::Rng;
use tessera_tests::model::Model;
use tessera_tests::{open, Implementation, Storage, NAMES};
use tessera_types::{
    CallMemory, Capacity, Code, EventId, EventType, MessageId, Ordered, Replica, Request, UserId,
};

const STEPS: usize = 300;
const IDS: usize = 6;

fn request(rng: &mut Rng) -> Request {
    let participants = ["MTLP0001", "MTLP0002", "TORP0001"];
    let events = ["MTLE101226", "MTLM111226", "TORE101226"];
    let p: UserId = participants[rng.below(3) as usize].parse().unwrap();
    let e: EventId = events[rng.below(3) as usize].parse().unwrap();
    let t = EventType::Concerts;
    let admin_of =
        |e: &EventId| -> UserId { format!("{}A0001", &e.as_str()[..3]).parse().unwrap() };
    match rng.below(7) {
        0 => Request::AddReservationSlot {
            admin_id: admin_of(&e),
            event_type: t,
            event_id: e,
            capacity: Capacity::new(1 + rng.below(2) as i32).unwrap(),
        },
        1 => Request::RemoveReservationSlot {
            admin_id: admin_of(&e),
            event_type: t,
            event_id: e,
        },
        2 => Request::ListReservationSlotAvailable {
            admin_id: admin_of(&e),
            event_type: t,
        },
        3 => Request::GetEventSchedule { participant_id: p },
        4 => Request::CancelTicket {
            participant_id: p,
            event_type: t,
            event_id: e,
        },
        5 => Request::ExchangeTicket {
            participant_id: p,
            event_type: t,
            event_id: e,
            new_event_type: t,
            new_event_id: events[rng.below(3) as usize].parse().unwrap(),
        },
        _ => Request::ReserveTicket {
            participant_id: p,
            event_type: t,
            event_id: e,
        },
    }
}

fn members() -> Vec<Implementation> {
    let mut all: Vec<Implementation> = NAMES
        .iter()
        .map(|n| open(n, Storage::Fast).unwrap())
        .collect();
    all.push(Implementation::custom("model", Box::new(Model::default())));
    all
}

fn fresh(name: &str) -> Implementation {
    if name == "model" {
        Implementation::custom("model", Box::new(Model::default()))
    } else {
        open(name, Storage::Fast).unwrap()
    }
}

fn run(seed: u64) -> [u32; 4] {
    let mut rng = Rng::new(seed);
    let memory = CallMemory {
        max_age_ms: 50,
        max_entries: 1 + rng.below(4),
    };
    let ids: Vec<MessageId> = (0..IDS)
        .map(|i| MessageId::parse(&format!("urn:uuid:{seed}-{i}")).unwrap())
        .collect();
    let mut first_request: Vec<Option<Request>> = vec![None; IDS];
    let mut all = members();
    let mut now = 1_000u64;
    // repeats, reuses, fresh calls with an id, plain calls
    let mut seen = [0u32; 4];
    for step in 0..STEPS {
        let seq = step as u64 + 1;
        now += rng.below(30);
        let with_id = rng.below(4) != 0;
        let slot = rng.below(IDS as u64) as usize;
        // Mostly a retry of the id's first request; sometimes another request under it.
        let req = match (&first_request[slot], with_id && rng.below(5) != 0) {
            (Some(first), true) => first.clone(),
            _ => request(&mut rng),
        };
        let message_id = with_id.then(|| &ids[slot]);
        if with_id && first_request[slot].is_none() {
            first_request[slot] = Some(req.clone());
        }
        let call = Ordered {
            seq,
            time_ms: now,
            message_id,
            request: &req,
            memory,
        };
        let outcomes: Vec<(String, Vec<u8>)> = all
            .iter_mut()
            .map(|m| (m.name.clone(), m.replica.call(&call).unwrap().encode()))
            .collect();
        for (name, bytes) in &outcomes[1..] {
            assert_eq!(
                bytes, &outcomes[0].1,
                "seed {seed} step {step}: {name} differs from {} on {req:?} (id {message_id:?})",
                outcomes[0].0
            );
        }
        let outcome = tessera_types::Outcome::decode(&outcomes[0].1).unwrap();
        let kind = match (message_id, outcome.repeat_of, outcome.reply.code) {
            (None, _, _) => 3,
            (Some(_), Some(_), _) => 0,
            (Some(_), None, Code::MessageIdReused) => 1,
            (Some(_), None, _) => 2,
        };
        seen[kind] += 1;
        let digests: Vec<_> = all.iter().map(|m| m.replica.digest().unwrap()).collect();
        assert!(
            digests.windows(2).all(|w| w[0] == w[1]),
            "seed {seed} step {step}: digests differ: {digests:?}"
        );
        if step % 60 == 59 {
            // State transfer: each hands its state to a fresh instance of the next.
            let n = all.len();
            let snapshots: Vec<_> = all.iter().map(|m| m.replica.export().unwrap()).collect();
            for (i, snapshot) in snapshots.iter().enumerate() {
                let next = (i + 1) % n;
                let mut successor = fresh(&all[next].name);
                successor.replica.import(seq, snapshot).unwrap();
                all[next] = successor;
            }
        }
    }
    seen
}

#[test]
fn every_implementation_remembers_calls_alike() {
    let seeds: u64 = std::env::var("TESSERA_REPEAT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut total = [0u32; 4];
    for seed in 0..seeds {
        let seen = run(seed);
        for (t, s) in total.iter_mut().zip(seen) {
            *t += s;
        }
    }
    // The workload exercises every case, many times.
    assert!(total.iter().all(|&n| n > 100), "{total:?}");
    println!("repeats, reuses, first calls with an id, plain calls: {total:?}");
}
