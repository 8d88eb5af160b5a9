//! Differential property test: random request sequences over a small ID space, fed to all
//! four implementations. After every step the four encoded replies must be byte-identical and
//! the four state digests equal. At the end, each implementation's export is imported into a
//! fresh instance of every implementation (itself included), which must report the same
//! digest and then keep agreeing with the originals on a few more requests.
//!
//! The ID space is chosen so that every rule gets exercised: admins of two cities plus a
//! participant used as admin, participants of three cities plus an admin used as participant,
//! events with the same when in different cities, consecutive days across a week boundary
//! (Sun 13 / Mon 14 Dec 2026), four other-city whens in one week for MTL participants,
//! capacities 1..=4. Malformed arguments are not generated: requests are typed, and the edge
//! refuses what does not parse (`Request::from_arguments`) before anything is ordered.
//!
//! Cases: 2000 by default, `PROPTEST_CASES` overrides. A failure prints the (shrunk) request
//! sequence in the scenario-table syntax with each implementation's reply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::str::FromStr;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError};
use tessera_tests::{
    implementations_with, open, render_reply, render_request, Cluster, Implementation, Outcome,
    Storage, NAMES,
};
use tessera_types::{Capacity, EventId, EventType, Reply, Request, UserId};

const ADMINS: &[&str] = &["MTLA0001", "TORA0001", "MTLP0001"];
const PARTICIPANTS: &[&str] = &["MTLP0001", "MTLP0002", "TORP0001", "VANP0001", "TORA0001"];
/// Events are in the two cities that have an admin here. For MTL participants the four TOR
/// whens of the week of 7 Dec are other-city, enough to reach the limit; VAN participants have
/// only other-city events.
const EVENTS: &[&str] = &[
    "TORE101226", // Thu 10 Dec 2026, evening
    "TORM111226", // Fri 11 Dec, morning
    "TORA121226", // Sat 12 Dec, afternoon
    "TORE131226", // Sun 13 Dec, evening
    "MTLE131226", // same when as TORE131226, other city
    "TORM141226", // Mon 14 Dec, morning: the next week
    "MTLM141226", // same when as TORM141226, other city
];
const TYPES: &[EventType] = &[
    EventType::Concerts,
    EventType::Theatre,
    EventType::ArtGallery,
];

fn parsed<T: FromStr>(pool: &[&str]) -> Vec<T>
where
    T::Err: Debug,
{
    pool.iter().map(|s| s.parse().unwrap()).collect()
}

fn pick<T: Clone + Debug + 'static>(pool: Vec<T>, weights: &[u32]) -> BoxedStrategy<T> {
    let choices: Vec<(u32, BoxedStrategy<T>)> = pool
        .into_iter()
        .zip(weights)
        .map(|(v, w)| (*w, Just(v).boxed()))
        .collect();
    proptest::strategy::Union::new_weighted(choices).boxed()
}

fn admin() -> BoxedStrategy<UserId> {
    pick(parsed(ADMINS), &[6, 8, 1])
}
fn participant() -> BoxedStrategy<UserId> {
    pick(parsed(PARTICIPANTS), &[8, 3, 3, 6, 1])
}
fn event() -> BoxedStrategy<EventId> {
    pick(parsed(EVENTS), &[4, 4, 4, 4, 3, 3, 3])
}
fn event_type() -> BoxedStrategy<EventType> {
    pick(TYPES.to_vec(), &[10, 3, 2])
}
fn capacity() -> impl Strategy<Value = Capacity> {
    (1..=4i32).prop_map(|c| Capacity::new(c).unwrap())
}

/// The admin of `event`'s city.
fn admin_of(event: &EventId) -> UserId {
    format!("{}A0001", event.city()).parse().unwrap()
}

/// Any `addReservationSlot`, often refused.
fn add() -> impl Strategy<Value = Request> {
    (admin(), event_type(), event(), capacity()).prop_map(|(a, t, e, c)| {
        Request::AddReservationSlot {
            admin_id: a,
            event_type: t,
            event_id: e,
            capacity: c,
        }
    })
}

/// An `addReservationSlot` by the event's own admin: creates a slot (or updates it), so that
/// reservations have something to hit.
fn valid_add() -> impl Strategy<Value = Request> {
    (event(), event_type(), capacity()).prop_map(|(e, t, c)| Request::AddReservationSlot {
        admin_id: admin_of(&e),
        event_type: t,
        event_id: e,
        capacity: c,
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        2 => add(),
        1 => valid_add(),
        1 => (admin(), event_type(), event()).prop_map(|(a, t, e)| {
            Request::RemoveReservationSlot { admin_id: a, event_type: t, event_id: e }
        }),
        1 => valid_add().prop_map(|add| match add {
            Request::AddReservationSlot { admin_id, event_type, event_id, .. } => {
                Request::RemoveReservationSlot { admin_id, event_type, event_id }
            }
            other => other,
        }),
        1 => (admin(), event_type()).prop_map(|(a, t)| {
            Request::ListReservationSlotAvailable { admin_id: a, event_type: t }
        }),
        8 => (participant(), event_type(), event()).prop_map(|(p, t, e)| {
            Request::ReserveTicket { participant_id: p, event_type: t, event_id: e }
        }),
        1 => participant().prop_map(|p| Request::GetEventSchedule { participant_id: p }),
        2 => (participant(), event_type(), event()).prop_map(|(p, t, e)| {
            Request::CancelTicket { participant_id: p, event_type: t, event_id: e }
        }),
        4 => (participant(), event_type(), event(), event_type(), event()).prop_map(
            |(p, t, e, nt, ne)| Request::ExchangeTicket {
                participant_id: p,
                event_type: t,
                event_id: e,
                new_event_type: nt,
                new_event_id: ne,
            }
        ),
    ]
}

/// A few requests that belong together, so that the deeper rules get reached: a reservation
/// then an exchange or cancellation of it, or one participant reserving several events of one
/// type (towards the other-city limit).
fn chunk() -> impl Strategy<Value = Vec<Request>> {
    let reserve = |p: UserId, t: EventType, e: EventId| Request::ReserveTicket {
        participant_id: p,
        event_type: t,
        event_id: e,
    };
    prop_oneof![
        10 => request().prop_map(|r| vec![r]),
        3 => (participant(), event_type(), event(), event_type(), event()).prop_map(
            move |(p, t, e, nt, ne)| vec![
                reserve(p, t, e),
                Request::ExchangeTicket {
                    participant_id: p,
                    event_type: t,
                    event_id: e,
                    new_event_type: nt,
                    new_event_id: ne,
                },
            ]
        ),
        1 => (participant(), event_type(), event()).prop_map(move |(p, t, e)| vec![
            reserve(p, t, e),
            Request::CancelTicket { participant_id: p, event_type: t, event_id: e },
        ]),
        3 => (
            participant(),
            event_type(),
            proptest::sample::subsequence(parsed::<EventId>(EVENTS), 3..=5).prop_shuffle(),
            proptest::option::of((any::<proptest::sample::Index>(), event_type(), event())),
        )
            .prop_map(move |(p, t, es, exchange)| {
                let mut out: Vec<Request> = es.iter().map(|e| reserve(p, t, *e)).collect();
                if let Some((i, nt, ne)) = exchange {
                    out.push(Request::ExchangeTicket {
                        participant_id: p,
                        event_type: t,
                        event_id: *i.get(&es),
                        new_event_type: nt,
                        new_event_id: ne,
                    });
                }
                out
            }),
    ]
}

/// The first requests: either a few valid slot creations, or a Concerts slot for every event
/// (dense enough for the other-city limit and exchanges to come up often).
fn setup() -> impl Strategy<Value = Vec<Request>> {
    prop_oneof![
        proptest::collection::vec(valid_add(), 1..=10),
        proptest::collection::vec(capacity(), EVENTS.len()).prop_map(|caps| {
            parsed::<EventId>(EVENTS)
                .into_iter()
                .zip(caps)
                .map(|(e, c)| Request::AddReservationSlot {
                    admin_id: admin_of(&e),
                    event_type: EventType::Concerts,
                    event_id: e,
                    capacity: c,
                })
                .collect()
        }),
    ]
}

/// A sequence of up to 40 requests: a setup, then anything.
fn sequence() -> impl Strategy<Value = Vec<Request>> {
    (setup(), proptest::collection::vec(chunk(), 2..=24)).prop_map(|(mut requests, chunks)| {
        requests.extend(chunks.into_iter().flatten());
        requests.truncate(40);
        requests
    })
}

/// The whole case, in table syntax, with each step's reply, for the failure message.
fn transcript(log: &[(String, String)]) -> String {
    log.iter()
        .map(|(req, reply)| format!("    {req} -> {reply}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Ok(reply)` if every member replied the same bytes, else who said what.
fn agree(outcomes: &[Outcome]) -> Result<Reply, String> {
    let first = outcomes.first().map(|o| &o.reply);
    let same = outcomes.iter().all(|o| match (&o.reply, first) {
        (Ok(b), Some(Ok(f))) => b == f,
        _ => false,
    });
    let shown = || {
        outcomes
            .iter()
            .map(|o| match o.decoded() {
                Ok(r) => format!("      {:>16}: {}", o.name, render_reply(&r)),
                Err(e) => format!("      {:>16}: {e}", o.name),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    if same {
        outcomes[0]
            .decoded()
            .map_err(|e| format!("{e}\n{}", shown()))
    } else {
        Err(format!("replies differ:\n{}", shown()))
    }
}

fn feed(
    cluster: &mut Cluster,
    requests: &[Request],
    log: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for request in requests {
        let text = render_request(request);
        // The fast read path: each member reads a read-only request without ordering it,
        // and must answer what ordering it next then answers.
        let reads: Vec<(String, Result<Option<Reply>, String>)> = if request.is_read_only() {
            cluster
                .members()
                .iter()
                .map(|m| {
                    (
                        m.name.clone(),
                        m.replica.read(request).map_err(|e| e.to_string()),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let outcomes = cluster.apply(request);
        let reply = match agree(&outcomes) {
            Ok(reply) => reply,
            Err(e) => {
                log.push((text, "<disagreement>".into()));
                return Err(e);
            }
        };
        for (name, read) in reads {
            if read.as_ref() != Ok(&Some(reply.clone())) {
                log.push((text, render_reply(&reply)));
                return Err(format!(
                    "{name}: read() answered {read:?} where ordering answered {reply:?}"
                ));
            }
        }
        log.push((text, render_reply(&reply)));
        cluster
            .agreed_digest()
            .map_err(|e| format!("digests differ after the last step: {e}"))?;
    }
    Ok(())
}

fn check(requests: &[Request], tail: &[Request]) -> Result<(), String> {
    let mut log = Vec::new();
    let result = run_case(requests, tail, &mut log);
    result.map_err(|e| {
        format!(
            "{e}\n  after these requests (table syntax; replies agreed unless marked):\n{}",
            transcript(&log)
        )
    })
}

fn run_case(
    requests: &[Request],
    tail: &[Request],
    log: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let mut cluster = Cluster::new(implementations_with(Storage::Fast));
    feed(&mut cluster, requests, log)?;

    // State transfer: every export into a fresh instance of every implementation.
    let seq = cluster.seq();
    let digest = cluster.agreed_digest()?;
    let mut members: Vec<Implementation> = cluster.into_members();
    let mut imported = Vec::new();
    for source in &members {
        let snapshot = source
            .replica
            .export()
            .map_err(|e| format!("{}: export failed: {e}", source.name))?;
        if snapshot.digest() != digest {
            return Err(format!(
                "{}: export().digest() differs from its digest()",
                source.name
            ));
        }
        for target in NAMES {
            let mut fresh = open(target, Storage::Fast)?;
            fresh.name = format!("{target}<-{}", source.name);
            fresh
                .replica
                .import(seq, &snapshot)
                .map_err(|e| format!("{}: import failed: {e}", fresh.name))?;
            if fresh.replica.applied_seq() != seq {
                return Err(format!(
                    "{}: applied_seq {} after importing at {seq}",
                    fresh.name,
                    fresh.replica.applied_seq()
                ));
            }
            imported.push(fresh);
        }
    }
    members.extend(imported);
    let mut cluster = Cluster::new(members);
    if cluster.seq() != seq {
        return Err("sequence numbers diverged".into());
    }
    cluster
        .agreed_digest()
        .map_err(|e| format!("digests differ right after import: {e}"))?;
    log.push(("# (state transfer to fresh instances)".into(), "ok".into()));
    feed(&mut cluster, tail, log)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        // Next to this file (tests/differential.proptest-regressions), inside this crate.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    })]

    #[test]
    fn implementations_agree(
        requests in sequence(),
        tail in proptest::collection::vec(request(), 1..=6),
    ) {
        check(&requests, &tail).map_err(TestCaseError::fail)?;
    }
}

/// A fixed sequence through the harness, so that a broken harness cannot pass vacuously.
#[test]
fn harness_sees_real_work() {
    let add = |e: &str| Request::AddReservationSlot {
        admin_id: "MTLA0001".parse().unwrap(),
        event_type: "Concerts".parse().unwrap(),
        event_id: e.parse().unwrap(),
        capacity: tessera_types::Capacity::new(1).unwrap(),
    };
    let reserve = |p: &str, e: &str| Request::ReserveTicket {
        participant_id: p.parse().unwrap(),
        event_type: "Concerts".parse().unwrap(),
        event_id: e.parse().unwrap(),
    };
    let requests = vec![
        add("MTLE131226"),
        reserve("MTLP0002", "MTLE131226"),
        add("MTLM141226"),
    ];
    let tail = vec![Request::RemoveReservationSlot {
        admin_id: "MTLA0001".parse().unwrap(),
        event_type: "Concerts".parse().unwrap(),
        event_id: "MTLE131226".parse().unwrap(),
    }];
    let mut log = Vec::new();
    run_case(&requests, &tail, &mut log).unwrap();
    let replies: Vec<&str> = log.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        replies,
        [
            "CREATED",
            "RESERVED",
            "CREATED",
            "ok",
            "REMOVED moved=1 dropped=0"
        ]
    );
}

/// How often each (operation, code) comes up in generated sequences, to check that the
/// generator reaches every rule: `cargo test -p tessera-tests --test differential --
/// --ignored --nocapture`.
#[test]
#[ignore = "diagnostic: prints statistics, asserts nothing"]
fn generator_statistics() {
    use proptest::strategy::ValueTree;
    use std::collections::BTreeMap;
    use tessera_tests::table::Op;

    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut counts: BTreeMap<(Op, String), usize> = BTreeMap::new();
    let n = cases();
    for _ in 0..n {
        let requests = sequence().new_tree(&mut runner).unwrap().current();
        let mut m = open("memory", Storage::Fast).unwrap();
        for (i, r) in requests.iter().enumerate() {
            let reply = m.replica.apply(i as u64 + 1, r).unwrap();
            let mut key = reply.code.as_str().to_string();
            if let tessera_types::ReplyBody::Removed { moved, dropped } = reply.body {
                key = format!("{key} moved>0:{} dropped>0:{}", moved > 0, dropped > 0);
            }
            *counts.entry((Op::of(r), key)).or_default() += 1;
        }
    }
    for ((op, code), count) in counts {
        eprintln!("{op:>9} {code:<40} {count:>7}");
    }
}
