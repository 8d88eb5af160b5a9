//! A deterministic, contention-heavy mix of requests, and the check that a cluster's answers
//! are exactly what one in-process replica gives when it applies the same requests in the
//! order the sequencer chose.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tessera_node::FrontEndClient;
use tessera_testkit::Rng;
use tessera_types::{Capacity, EventId, EventType, Replica, Reply, Request, UserId};

#[derive(Debug, Clone)]
pub struct Answered {
    pub seq: u64,
    pub request: Request,
    pub reply: Reply,
}

/// `n` requests over a small ID space, so that their outcomes depend on their order.
pub fn workload(n: usize, seed: u64) -> Vec<Request> {
    Requests::new(seed).take(n).collect()
}

/// An endless, seeded stream of the same contention-heavy mix as [`workload`].
pub struct Requests {
    rng: Rng,
}

impl Requests {
    pub fn new(seed: u64) -> Self {
        Requests {
            rng: Rng::new(seed),
        }
    }
}

impl Iterator for Requests {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        let cities = ["MTL", "TOR", "VAN"];
        let slots = ["M", "A", "E"];
        let event_id = |text: String| EventId::parse(&text).expect("a well-formed event ID");
        let user_id = |text: String| UserId::parse(&text).expect("a well-formed user ID");
        let r = self.rng.next_u64();
        let city = cities[(r % 3) as usize];
        let ty = EventType::ALL[((r >> 4) % 3) as usize];
        let event = event_id(format!(
            "{city}{}{:02}1226",
            slots[((r >> 8) % 3) as usize],
            7 + (r >> 12) % 6
        ));
        let participant = user_id(format!(
            "{}P{:04}",
            cities[((r >> 20) % 3) as usize],
            (r >> 24) % 12
        ));
        let admin = user_id(format!("{city}A0001"));
        Some(match (r >> 32) % 10 {
            0 | 1 => Request::AddReservationSlot {
                admin_id: admin,
                event_type: ty,
                event_id: event,
                capacity: Capacity::new(1 + ((r >> 40) % 3) as i32).expect("1 to 3"),
            },
            2..=5 => Request::ReserveTicket {
                participant_id: participant,
                event_type: ty,
                event_id: event,
            },
            6 => Request::CancelTicket {
                participant_id: participant,
                event_type: ty,
                event_id: event,
            },
            7 => Request::ExchangeTicket {
                participant_id: participant,
                event_type: ty,
                event_id: event,
                new_event_type: ty,
                new_event_id: event_id(format!("{city}E{:02}1226", 7 + (r >> 44) % 6)),
            },
            8 => Request::GetEventSchedule {
                participant_id: participant,
            },
            _ => {
                if (r >> 50).is_multiple_of(4) {
                    Request::RemoveReservationSlot {
                        admin_id: admin,
                        event_type: ty,
                        event_id: event,
                    }
                } else {
                    Request::ListReservationSlotAvailable {
                        admin_id: admin,
                        event_type: ty,
                    }
                }
            }
        })
    }
}

/// Submits every request through `fe` from `concurrency` tasks; panics on any error.
pub async fn run_workload(
    fe: &FrontEndClient,
    requests: Vec<Request>,
    concurrency: usize,
) -> Vec<Answered> {
    let mut all: Vec<Answered> = run_workload_timed(fe.clone(), requests, concurrency)
        .await
        .into_iter()
        .map(|t| t.answered)
        .collect();
    all.sort_by_key(|a| a.seq);
    all
}

/// An answered call, with how long it took and when it ended (`done - took`: when it began).
pub struct Timed {
    pub answered: Answered,
    pub took: std::time::Duration,
    pub done: std::time::Instant,
}

/// [`run_workload`], timing each call (in completion order per task).
pub async fn run_workload_timed(
    fe: FrontEndClient,
    requests: Vec<Request>,
    concurrency: usize,
) -> Vec<Timed> {
    let queue = Arc::new(Mutex::new(requests.into_iter().collect::<VecDeque<_>>()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let fe = fe.clone();
        let queue = Arc::clone(&queue);
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let Some(request) = queue.lock().unwrap().pop_front() else {
                    return done;
                };
                let began = std::time::Instant::now();
                match fe.submit(&request).await {
                    Ok(a) => {
                        // `done - took` is exactly when the call began (histories rely on it).
                        let ended = std::time::Instant::now();
                        done.push(Timed {
                            answered: Answered {
                                seq: a.seq,
                                request,
                                reply: a.reply,
                            },
                            took: ended - began,
                            done: ended,
                        });
                    }
                    Err(e) => panic!("request {request:?} failed: {e}"),
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("submitter task"));
    }
    all
}

/// Replays the answers' requests in sequence order through one in-process replica and
/// checks that every reply the cluster gave is the one that replica gives. The answers must
/// be every request the cluster ordered: sequence numbers exactly 1..=n.
pub fn check_against_single_replica(answers: &[Answered]) {
    let mut sorted: Vec<&Answered> = answers.iter().collect();
    sorted.sort_by_key(|a| a.seq);
    let mut replica = replica_memory::MemoryReplica::new();
    for (a, want) in sorted.into_iter().zip(1u64..) {
        assert_eq!(
            a.seq, want,
            "answers must cover 1..=n without gaps or repeats"
        );
        let expected = replica.apply(a.seq, &a.request).unwrap();
        assert_eq!(a.reply, expected, "seq {} request {:?}", a.seq, a.request);
    }
}
