//! Byzantine fault mode (`tessera_types::Faulty`) around each of the four implementations:
//! - its replies differ from the correct ones at every step, identically for the same seed;
//! - with `corrupt_state: true` its digest drifts from the correct replicas' digest, with
//!   `corrupt_state: false` it stays equal;
//! - healing (`set_mode(None)`) makes its replies correct again (and, once the state is
//!   re-installed from a correct replica, its digest too).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tessera_tests::table::parse_request_line;
use tessera_tests::{open, render_reply, render_request, KeepAlive, Storage, NAMES};
use tessera_types::{Digest, FaultConfig, Faulty, Replica, Request};

/// A request sequence that produces most codes and non-empty list, schedule and removal
/// bodies (so that body corruption is exercised as well as code corruption).
const REQUESTS: &[&str] = &[
    "add MTLA0001 Concerts MTLE101226 2",
    "add MTLA0001 Concerts MTLE111226 2",
    "add TORA0001 Theatre TORM121226 1",
    "reserve MTLP0001 Concerts MTLE101226",
    "reserve TORP0001 Concerts MTLE101226",
    "reserve MTLP0002 Concerts MTLE101226",
    "list TORA0001 Concerts",
    "schedule MTLP0001",
    "reserve MTLP0001 Concerts MTLE101226",
    "reserve MTLP0001 Theatre TORM121226",
    "exchange MTLP0001 Theatre TORM121226 Concerts MTLE111226",
    "remove MTLA0001 Concerts MTLE101226",
    "schedule TORP0001",
    "cancel MTLP0001 Concerts MTLE111226",
    "cancel MTLP0001 Concerts MTLE111226",
    "add TORA0001 Concerts MTLE111226 3",
    "list MTLP0001 Concerts",
    "add MTLA0001 Concerts MTLE111226 1",
    "list MTLA0001 Concerts",
    "schedule MTLP0002",
];

fn requests() -> Vec<Request> {
    REQUESTS
        .iter()
        .map(|line| parse_request_line(line).unwrap())
        .collect()
}

/// A fresh instance of `name`, and what keeps its files alive (dropped after it).
fn fresh(name: &str) -> (Box<dyn Replica>, KeepAlive) {
    open(name, Storage::OnDisk).unwrap().into_parts()
}

fn faulty(name: &str, mode: Option<FaultConfig>) -> (Faulty<Box<dyn Replica>>, KeepAlive) {
    let (replica, keep) = fresh(name);
    let mut f = Faulty::new(replica);
    f.set_mode(mode);
    (f, keep)
}

fn byzantine(seed: u64, corrupt_state: bool) -> Option<FaultConfig> {
    Some(FaultConfig {
        seed,
        corrupt_state,
        corrupt_replies: true,
    })
}

fn digest(r: &dyn Replica) -> Digest {
    r.digest().unwrap()
}

/// Replies (encoded) of a run of `REQUESTS`, and the digest after each.
fn run(replica: &mut dyn Replica) -> Vec<(Vec<u8>, Digest)> {
    requests()
        .iter()
        .enumerate()
        .map(|(i, req)| {
            let reply = replica.apply(i as u64 + 1, req).unwrap();
            (reply.encode(), digest(replica))
        })
        .collect()
}

#[test]
fn byzantine_replies_are_wrong_at_every_step_and_deterministic() {
    for name in NAMES {
        let (mut correct, _keep0) = fresh(name);
        let (mut a, _keep1) = faulty(name, byzantine(42, false));
        let (mut b, _keep2) = faulty(name, byzantine(42, false));
        let (mut c, _keep3) = faulty(name, byzantine(7, false));
        let good = run(&mut correct);
        let (ra, rb, rc) = (run(&mut a), run(&mut b), run(&mut c));
        for (i, req) in requests().iter().enumerate() {
            let shown = render_request(req);
            assert_ne!(
                ra[i].0, good[i].0,
                "{name}, step {i} `{shown}`: reply not corrupted"
            );
            assert_ne!(
                rc[i].0, good[i].0,
                "{name}, step {i} `{shown}`: reply not corrupted"
            );
            assert_eq!(
                ra[i].0, rb[i].0,
                "{name}, step {i} `{shown}`: same seed, other reply"
            );
            // Without state corruption the state stays correct.
            assert_eq!(
                ra[i].1, good[i].1,
                "{name}, step {i} `{shown}`: digest drifted"
            );
            assert_eq!(
                rc[i].1, good[i].1,
                "{name}, step {i} `{shown}`: digest drifted"
            );
        }
        assert_ne!(
            ra.iter().map(|r| &r.0).collect::<Vec<_>>(),
            rc.iter().map(|r| &r.0).collect::<Vec<_>>(),
            "{name}: another seed should corrupt differently somewhere"
        );
    }
}

#[test]
fn corrupt_state_makes_the_digest_diverge_deterministically() {
    for name in NAMES {
        let (mut correct, _keep0) = fresh(name);
        let (mut a, _keep1) = faulty(name, byzantine(42, true));
        let (mut b, _keep2) = faulty(name, byzantine(42, true));
        let good = run(&mut correct);
        let (ra, rb) = (run(&mut a), run(&mut b));
        for (i, req) in requests().iter().enumerate() {
            let shown = render_request(req);
            assert_ne!(
                ra[i].1, good[i].1,
                "{name}, step {i} `{shown}`: digest not drifted"
            );
            assert_eq!(
                ra[i], rb[i],
                "{name}, step {i} `{shown}`: same seed, other result"
            );
        }
        // The drift is in the inner replica's actual state, not only in what it reports.
        assert_ne!(
            a.inner().export().unwrap(),
            correct.export().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn healing_makes_replies_correct_again() {
    let requests = requests();
    let (first, rest) = requests.split_at(10);
    for name in NAMES {
        for corrupt_state in [false, true] {
            let (mut correct, _keep0) = fresh(name);
            let (mut f, _keep1) = faulty(name, byzantine(99, corrupt_state));
            let mut seq = 0;
            for req in first {
                seq += 1;
                let good = correct.apply(seq, req).unwrap();
                let bad = f.apply(seq, req).unwrap();
                if !corrupt_state {
                    assert_ne!(bad, good, "{name}: `{}`", render_request(req));
                }
            }
            f.set_mode(None);
            assert_eq!(f.mode(), None);
            if corrupt_state {
                // Healing does not repair the state...
                assert_ne!(
                    digest(&f),
                    digest(&correct),
                    "{name}: state repaired by itself"
                );
                // ... a state transfer from a correct replica does.
                f.import(seq, &correct.export().unwrap()).unwrap();
            }
            assert_eq!(digest(&f), digest(&correct), "{name}");
            for req in rest {
                seq += 1;
                let good = correct.apply(seq, req).unwrap();
                let healed = f.apply(seq, req).unwrap();
                assert_eq!(
                    healed.encode(),
                    good.encode(),
                    "{name} (corrupt_state: {corrupt_state}): `{}` -> {} but correct is {}",
                    render_request(req),
                    render_reply(&healed),
                    render_reply(&good)
                );
                assert_eq!(digest(&f), digest(&correct), "{name}");
            }
        }
    }
}
