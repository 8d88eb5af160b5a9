//! Seeded, deterministic simulations of a whole cluster running the real protocol state
//! machines (see `sim/mod.rs` for the model). Every failure names its seed and the command
//! that replays it:
//!
//! ```text
//! TESSERA_SIM_SEED=17 cargo test -p tessera-protocol --test simulation lossy_network
//! TESSERA_SIM_SEEDS=2000 cargo test -p tessera-protocol --test simulation   # many seeds
//! TESSERA_SIM_FIRST_SEED=10001 TESSERA_SIM_SEEDS=2000 cargo test ...         # fresh ones
//! ```
//!
//! Each run checks: every request is answered (never `Unavailable`) before a virtual deadline;
//! the answered seqs are exactly 1..=N; every answer equals what one `MemoryReplica` replies
//! applying the requests in seq order; all four replicas applied exactly those requests in that
//! order and end with the reference state digest; `Wrong` never names a replica that answered
//! correctly; no panic, livelock or retention overrun.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use sim::{mix, run_seeds, seeds, simulate, FaultSpec, Scenario, SeqPoint};

/// 20% loss, 5% duplication, reordering; 500 requests from 32 concurrent submitters on 1-3
/// front ends. No node faults: the protocol's retransmissions alone must cope.
#[test]
fn lossy_network() {
    run_seeds("lossy_network", &seeds(20), |seed| {
        Scenario::lossy(1 + (mix(seed) % 3) as usize)
    });
}

/// Issue 16, flow control: one replica takes 3 ms over every request (ten times the others'
/// slowest) and the sequencer retains at most 300 entries. The slow replica falls out of the
/// window again and again and catches up by state transfer each time, never replaced; the
/// others answer everything; at the end it has applied everything, on the reference digest,
/// and the sequencer never retained more than `retain_max`.
#[test]
fn a_slow_replica_catches_up_by_state_transfer() {
    run_seeds(
        "a_slow_replica_catches_up_by_state_transfer",
        &seeds(6),
        |seed| {
            let mut sc = Scenario::lossy(1 + (mix(seed) % 2) as usize);
            sc.requests = 1500;
            // No loss: the sequencer remembers submission ids for a window of `retain_max`
            // assignments only, so with 300 a submission whose copies are lost for long enough
            // may never be ordered (at 5% loss seed 19 left one unanswered past the request
            // timeout); that is the sequencer's window, not this scenario's subject. Duplication
            // and reordering stay.
            sc.net.drop = 0.0;
            sc.retain_max = 300;
            sc.checkpoint_interval = 100;
            sc.faults = vec![FaultSpec::Slow {
                rm: 1 + (mix(seed ^ 3) % 4) as u8,
                service_us: 3_000,
            }];
            sc
        },
    );
}

/// The sequencer crashes twice mid-run, losing the assignments whose fsync had not completed
/// (or keeping a random prefix of the batch being written), and restarts from its log; front
/// ends must retransmit, nothing may be reordered, skipped or executed twice. A replica
/// manager also suffers a loss burst meanwhile.
#[test]
fn sequencer_crash_restart() {
    run_seeds("sequencer_crash_restart", &seeds(6), |seed| {
        let mut sc = Scenario::lossy(2);
        sc.net.drop = 0.10;
        // Slow fsyncs: more assigned-but-not-durable entries for a crash to lose.
        sc.fsync_us = (1_000, 5_000);
        sc.faults = vec![
            FaultSpec::SequencerCrash {
                after: 100 + (mix(seed) % 50) as usize,
                down_ms: 150,
            },
            FaultSpec::LossBurst {
                rm: 1 + (mix(seed ^ 1) % 4) as u8,
                after: 200,
                for_ms: 200,
                drop: 0.8,
            },
            FaultSpec::SequencerCrash {
                after: 320,
                down_ms: 5 + mix(seed ^ 2) % 60,
            },
        ];
        sc
    });
}

/// One replica manager goes silent for 250 ms while another replica returns wrong replies for
/// ~10% of the seqs. The network loses nothing (but duplicates and reorders), so the front ends'
/// reports are exact: `Wrong` for precisely the corrupted seqs, `Missing` only for the silent
/// replica manager and for every seq it could not answer within the linger window.
#[test]
fn silent_and_byzantine() {
    run_seeds("silent_and_byzantine", &seeds(6), |seed| {
        let silent = 1 + (mix(seed) % 4) as u8;
        let byzantine = 1 + (silent + (mix(seed ^ 1) % 3) as u8) % 4;
        assert_ne!(silent, byzantine);
        let mut sc = Scenario::lossy(1 + (mix(seed ^ 2) % 3) as usize);
        sc.net.drop = 0.0;
        // A short linger cap makes "the linger window ended during the silence" certain for
        // most seqs answered while silent.
        sc.timeouts.linger_cap = Duration::from_millis(100);
        // Slower clients (~0.5 s for the run), so the silence sits mid-run: about half the
        // requests are answered during it, and the silent manager catches up afterwards.
        sc.think_us = (0, 60_000);
        sc.faults = vec![
            FaultSpec::Silent {
                rm: silent,
                after: 150,
                for_ms: 250,
            },
            FaultSpec::Byzantine {
                rm: byzantine,
                percent: 10,
            },
        ];
        sc
    });
}

/// One replica answers wrong for exactly three consecutive seqs, with 20% of every link's
/// datagrams lost: whenever the front end saw the run, the managers must all learn of it and
/// replace the replica, however many of the front end's `Faults` datagrams are lost. (A long
/// linger lets the front end re-ask lost replies, so it sees the run in most seeds.) With one
/// copy per report this failed for most seeds.
#[test]
fn a_run_of_three_is_caught_under_loss() {
    run_seeds("a_run_of_three_is_caught_under_loss", &seeds(8), |seed| {
        let mut sc = Scenario::lossy(1);
        sc.timeouts.linger_floor = Duration::from_millis(400);
        sc.faults = vec![FaultSpec::WrongRun {
            rm: 1 + (mix(seed) % 4) as u8,
            first: 100 + mix(seed ^ 3) % 300,
        }];
        sc
    });
}

/// Issue 10: a replica manager killed before, during and after the vote, the `Replaced`
/// announcement and the state transfer of a lying replica, then the owner killed after the
/// replacement and the replica lying again. Every seed checks the bounded-repair property:
/// each lie ends within 2 s of its first wrong answer. Seeds cycle through every crash point,
/// owner or voter as the victim, durable or in-memory storage.
#[test]
fn manager_restarts_during_a_replacement() {
    run_seeds(
        "manager_restarts_during_a_replacement",
        &seeds(40),
        Scenario::restarts,
    );
}

/// Likewise for a hung replica: replaced within the hang threshold plus 2 s.
#[test]
fn manager_restarts_while_a_hung_replica_is_replaced() {
    run_seeds(
        "manager_restarts_while_a_hung_replica_is_replaced",
        &seeds(20),
        Scenario::hang_restarts,
    );
}

/// Three sequencer nodes; the primary crashes at any point of its work (restarting later
/// or never) or is cut off from everyone, the managers or the standbys: a standby takes over
/// in a later view, nothing is announced with two requests, and every answer stays right.
#[test]
fn sequencer_failover() {
    run_seeds("sequencer_failover", &seeds(8), |seed| {
        Scenario::failover(seed, false)
    });
}

/// As above, and whoever is primary next fails too (a double failover; a crashed first
/// primary may return as a standby meanwhile).
#[test]
fn sequencer_double_failover() {
    run_seeds("sequencer_double_failover", &seeds(6), |seed| {
        Scenario::failover(seed, true)
    });
}

/// Both primaries lost in turn, the first for good, the second back later with the longest
/// log and no memory of having been primary. The two survivors then disagree on who was
/// primary last, which decided the order they stand in: they stood at the same moments,
/// each for itself, round after round, and no view was ever won (seed 3942 of
/// `fast_reads_of_the_only_front_end_are_linearizable`). A round that nobody won must not
/// repeat itself.
#[test]
fn two_survivors_that_disagree_on_the_last_primary_still_elect_one() {
    run_seeds(
        "two_survivors_that_disagree_on_the_last_primary_still_elect_one",
        // 8 of the first 600 locked up before the fix, 135 and 188 among them.
        &seeds(200),
        |seed| {
            let mut sc = Scenario::failover(seed, false);
            sc.timeouts.liveness = Duration::from_millis(200);
            sc.faults = vec![
                FaultSpec::PrimaryCrash {
                    after: 65,
                    point: SeqPoint::Durable,
                    restart_ms: None,
                },
                FaultSpec::PrimaryCrash {
                    after: 205,
                    point: SeqPoint::Durable,
                    restart_ms: Some(2_698),
                },
            ];
            sc
        },
    );
}

/// Random mixes of everything above (sizes, loss, fragmentation, crashes, bursts, a silent and
/// a Byzantine replica). Few seeds by default; `TESSERA_SIM_SEEDS` for a soak.
/// Fast reads (`docs/protocol.md`, "Fast reads") concurrent with writes, under loss, with a
/// Byzantine replica, a silent replica manager, a crashed one, or sequencer failovers: every
/// read answered on the fast path must be what the reference replica reads at some seq
/// between the highest seq answered to any client when the read started and the highest seq
/// applied anywhere when it was answered.
#[test]
fn fast_reads_are_linearizable() {
    run_seeds("fast_reads_are_linearizable", &seeds(8), fast_read_scenario);
}

/// The same with one front end, which takes its reads' index from what it knows committed
/// once the primary has given it one.
#[test]
fn fast_reads_of_the_only_front_end_are_linearizable() {
    run_seeds(
        "fast_reads_of_the_only_front_end_are_linearizable",
        &seeds(8),
        |seed| {
            let mut sc = fast_read_scenario(seed);
            sc.front_ends = 1;
            sc
        },
    );
}

fn fast_read_scenario(seed: u64) -> Scenario {
    let mut sc = match seed % 5 {
        0 => {
            let mut sc = Scenario::lossy(1 + (mix(seed) % 3) as usize);
            sc.faults = vec![
                FaultSpec::Byzantine {
                    rm: 1 + (mix(seed ^ 1) % 4) as u8,
                    percent: 30,
                },
                FaultSpec::Silent {
                    rm: 1 + (mix(seed ^ 1) % 4 + 1) as u8 % 4 + 1,
                    after: 100,
                    for_ms: 250,
                },
            ];
            sc
        }
        1 => Scenario::failover(seed, false),
        2 => Scenario::failover(seed, true),
        3 => Scenario::random(seed),
        // Two managers receive the order late (reads reach them on time): they agree on
        // a state behind the others, which no read may be answered from.
        _ => {
            let mut sc = Scenario::lossy(1);
            sc.net.drop = 0.0;
            let a = 1 + (mix(seed) % 4) as u8;
            let late = 20_000 + mix(seed ^ 3) % 40_000;
            sc.late_ordering = Some((vec![a, a % 4 + 1], late));
            // Every other seed, the front ends hear the order late too: a read can then be
            // answered from a state beyond all that its front end knows committed.
            if mix(seed ^ 5).is_multiple_of(2) {
                sc.late_to_front_ends = late / 2;
            }
            sc
        }
    };
    sc.fast_reads = true;
    sc
}

#[test]
fn random_scenarios() {
    run_seeds("random_scenarios", &seeds(8), Scenario::random);
}

/// The same seed replays exactly (identical hash over every delivered datagram with its time
/// and endpoints); a different seed takes a different path.
#[test]
fn deterministic_replay() {
    let seed = seeds(1)[0];
    let scenario = || {
        let mut sc = Scenario::random(seed);
        sc.faults.push(FaultSpec::SequencerCrash {
            after: sc.requests / 2,
            down_ms: 30,
        });
        sc
    };
    let a = simulate(seed, scenario());
    let b = simulate(seed, scenario());
    assert!(a.violations.is_empty(), "seed {seed}: {:?}", a.violations);
    assert_eq!(
        a.trace, b.trace,
        "seed {seed}: two runs of the same seed diverged"
    );
    let other = simulate(seed + 1, scenario());
    assert_ne!(
        a.trace,
        other.trace,
        "seeds {seed} and {} produced the same trace",
        seed + 1
    );
}
