//! `tessera demo`: the course project's failure scenarios, on a running cluster started with
//! `tesserad up --chaos` (which runs the gateway too). Every answer is checked against what the domain
//! rules say it must be, and every check prints PASS or FAIL.
//!
//! Each run picks identifiers nobody has used yet on this cluster (dates and participants
//! derived from the clock, then checked against the slots and schedules that exist), so the
//! demo can be repeated on the same cluster.

mod requests;
mod status_view;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tessera_ops::config::Config;
use tessera_ops::status::{self, ClusterStatus, ReplicaState};
use tessera_types::{Capacity, EventId, EventType, IdError, Request, UserId};

use requests::{cancel, describe, event_id, list, reserve, schedule, seed, user_id, CENTURY};
use status_view::{
    converged, convergence_line, indent, opt, replacements, replica_line, row, short_digest,
};

use crate::cli::{ChaosKind, DemoArgs, Global};
use crate::client::Gateway;
use crate::cluster;
use crate::commands;
use crate::output::{self, Exit};
use crate::soap::{Outcome, SoapResult};

const CONCERTS: EventType = EventType::Concerts;
const THEATRE: EventType = EventType::Theatre;
/// Capacity of the slot the fault phases book and cancel over and over.
const WORKLOAD_CAPACITY: i32 = 1000;
const BYZANTINE: u8 = 2;
const CRASHED: u8 = 3;

/// Why the demo cannot go on at all.
struct Abort(String);

/// The identifiers of one run: candidates derived from the clock, then moved on by the
/// preflight past any that the cluster has already seen.
#[derive(Debug, Clone)]
struct Ids {
    admin: UserId,
    /// Books A, is refused a second time, exchanges A for B.
    p1: UserId,
    /// Takes A's last place.
    p2: UserId,
    /// Is refused A (full); then books and cancels W during the fault phases.
    p3: UserId,
    /// Concerts, capacity 2, day D evening.
    a: EventId,
    /// Concerts, capacity 2, day D + 1 evening.
    b: EventId,
    /// Theatre, capacity 1000, day D afternoon.
    w: EventId,
}

impl Ids {
    fn candidates(seed: u64) -> Result<Ids, IdError> {
        let day = Ids::day(seed);
        Ok(Ids {
            admin: user_id('A', seed)?,
            p1: user_id('P', seed)?,
            p2: user_id('P', seed + 1)?,
            p3: user_id('P', seed + 2)?,
            a: event_id("MTL", 'E', day)?,
            b: event_id("MTL", 'E', day + 1)?,
            w: event_id("MTL", 'A', day)?,
        })
    }

    /// Spreads runs over the century (days since 2000-01-01, even days: D and D + 1).
    fn day(seed: u64) -> i64 {
        i64::try_from(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 18_000).unwrap_or(0) * 2
    }
}

/// What P3 holds of W: the fault phases' workload alternates reserve, schedule, cancel,
/// schedule, so that every answer has one right value.
#[derive(Debug, Default)]
struct Workload {
    step: u64,
    held: bool,
}

struct Demo {
    gateway: Gateway,
    cfg: Config,
    wait: Duration,
    ids: Ids,
    workload: Workload,
    passed: u32,
    failed: Vec<String>,
}
impl Demo {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        if ok {
            self.passed += 1;
            say!("  PASS  {what}");
        } else {
            say!("  FAIL  {what}");
            self.failed.push(what);
        }
    }

    fn section(&self, title: &str) {
        say!("\n== {title}");
    }

    async fn status(&self) -> Result<ClusterStatus, String> {
        status::query(&self.cfg, Duration::from_millis(800))
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends `request` and checks that its result code is `want`; the result, if any.
    async fn expect_code(&mut self, request: &Request, want: &str) -> Option<SoapResult> {
        let line = describe(request);
        match self.gateway.call(request).await {
            Ok(Outcome::Result(r)) => {
                let ok = r.code == want;
                let shown = format!("{line}  →  {} (revision {})", r.code, r.revision);
                let suffix = if ok {
                    String::new()
                } else {
                    format!("; expected {want}")
                };
                self.check(ok, format!("{shown}{suffix}"));
                Some(r)
            }
            Ok(Outcome::Fault(f)) => {
                self.check(
                    false,
                    format!(
                        "{line}  →  SOAP fault {}: {}; expected {want}",
                        f.code, f.reason
                    ),
                );
                None
            }
            Err(e) => {
                self.check(false, format!("{line}  →  {e}; expected {want}"));
                None
            }
        }
    }

    /// Checks a schedule: exactly `want` (event ID, type) rows.
    async fn expect_schedule(&mut self, participant: UserId, want: &[(EventId, EventType)]) {
        let request = schedule(participant);
        let line = describe(&request);
        match self.gateway.call(&request).await {
            Ok(Outcome::Result(r)) if r.code == "OK" => {
                let got: Vec<(String, String)> = r
                    .reservations
                    .iter()
                    .map(|x| (x.event_id.clone(), x.event_type.clone()))
                    .collect();
                let expected: Vec<(String, String)> = want
                    .iter()
                    .map(|(e, t)| (e.to_string(), t.to_string()))
                    .collect();
                let shown = if got.is_empty() {
                    "no reservations".to_owned()
                } else {
                    got.iter()
                        .map(|(e, t)| format!("{e} {t}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let ok = got == expected;
                let suffix = if ok {
                    String::new()
                } else {
                    format!("; expected {expected:?}")
                };
                self.check(ok, format!("{line}  →  {shown}{suffix}"));
            }
            Ok(Outcome::Result(r)) => {
                self.check(false, format!("{line}  →  {}; expected OK", r.code));
            }
            Ok(Outcome::Fault(f)) => {
                self.check(
                    false,
                    format!("{line}  →  SOAP fault {}: {}", f.code, f.reason),
                );
            }
            Err(e) => self.check(false, format!("{line}  →  {e}")),
        }
    }

    /// Checks the free places of some of our slots in a listing.
    async fn expect_available(&mut self, event_type: EventType, want: &[(EventId, i64)]) {
        let request = list(self.ids.admin, event_type);
        let line = describe(&request);
        let Some(r) = self.expect_ok_quiet(&request).await else {
            return;
        };
        let mut shown = Vec::new();
        let mut ok = true;
        for (event, free) in want {
            let got = r
                .slots
                .iter()
                .find(|s| s.event_id == event.as_str() && s.event_type == event_type.as_str())
                .map(|s| s.available);
            ok &= got == Some(*free);
            shown.push(format!("{event}: {} free", opt(got)));
        }
        let suffix = if ok {
            String::new()
        } else {
            format!("; expected {want:?}")
        };
        self.check(ok, format!("{line}  →  {}{suffix}", shown.join(", ")));
    }

    /// An OK result, or a FAIL line saying why not.
    async fn expect_ok_quiet(&mut self, request: &Request) -> Option<SoapResult> {
        let line = describe(request);
        match self.gateway.call(request).await {
            Ok(Outcome::Result(r)) if r.code == "OK" => Some(r),
            Ok(Outcome::Result(r)) => {
                self.check(false, format!("{line}  →  {}; expected OK", r.code));
                None
            }
            Ok(Outcome::Fault(f)) => {
                self.check(
                    false,
                    format!("{line}  →  SOAP fault {}: {}", f.code, f.reason),
                );
                None
            }
            Err(e) => {
                self.check(false, format!("{line}  →  {e}"));
                None
            }
        }
    }

    /// One step of the fault phases' workload, checked.
    async fn workload_step(&mut self) {
        let (p, w) = (self.ids.p3, self.ids.w);
        let step = self.workload.step;
        self.workload.step += 1;
        match step % 4 {
            0 => {
                if self
                    .expect_code(&reserve(p, THEATRE, w), "RESERVED")
                    .await
                    .is_some()
                {
                    self.workload.held = true;
                }
            }
            2 => {
                if self
                    .expect_code(&cancel(p, THEATRE, w), "CANCELLED")
                    .await
                    .is_some()
                {
                    self.workload.held = false;
                }
            }
            _ => {
                let want = if self.workload.held {
                    vec![(w, THEATRE)]
                } else {
                    Vec::new()
                };
                self.expect_schedule(p, &want).await;
            }
        }
    }

    async fn chaos(&mut self, replica: u8, kind: ChaosKind) -> bool {
        let name = cluster::action(kind).as_str();
        match cluster::send_chaos(&self.cfg, replica, kind).await {
            Ok(detail) => {
                self.check(
                    true,
                    format!("tessera chaos {name} --replica {replica}  →  {detail}"),
                );
                true
            }
            Err(e) => {
                self.check(
                    false,
                    format!("tessera chaos {name} --replica {replica}  →  {e}"),
                );
                false
            }
        }
    }

    /// Keeps the workload going, showing each watched replica's status as it changes, until
    /// every one of `replicas` has been replaced (more replacements than in `before`) and is
    /// up again.
    async fn until_replaced(&mut self, replicas: &[u8], before: &ClusterStatus) {
        let deadline = Instant::now() + self.wait;
        let mut shown: Vec<String> = Vec::new();
        // The consecutive-fault counts seen before each replacement, as they rose.
        let mut faults_seen: Vec<Vec<u32>> = vec![Vec::new(); replicas.len()];
        let mut last: Option<ClusterStatus> = None;
        while Instant::now() < deadline {
            self.workload_step().await;
            let Ok(s) = self.status().await else {
                continue;
            };
            for (i, id) in replicas.iter().enumerate() {
                if let Some(r) = row(&s, *id) {
                    let faults = r.consecutive_faults.unwrap_or(0);
                    let seen = &mut faults_seen[i];
                    if faults > 0
                        && replacements(&s, *id) == replacements(before, *id)
                        && seen.last() != Some(&faults)
                    {
                        seen.push(faults);
                    }
                    let line = replica_line(r);
                    if shown.get(i) != Some(&line) {
                        say!("        status: {line}");
                        if shown.len() <= i {
                            shown.resize(i + 1, String::new());
                        }
                        shown[i] = line;
                    }
                }
            }
            let done = replicas.iter().all(|id| {
                replacements(&s, *id) > replacements(before, *id)
                    && row(&s, *id).is_some_and(|r| r.state == ReplicaState::Up)
            });
            last = Some(s);
            if done {
                break;
            }
        }
        for (i, id) in replicas.iter().enumerate() {
            let (was, now) = (
                replacements(before, *id),
                last.as_ref().map_or(0, |s| replacements(s, *id)),
            );
            let old_pid = row(before, *id).and_then(|r| r.pid);
            let new_pid = last.as_ref().and_then(|s| row(s, *id)).and_then(|r| r.pid);
            let faults = if faults_seen[i].is_empty() {
                String::new()
            } else {
                let counts: Vec<String> = faults_seen[i].iter().map(u32::to_string).collect();
                format!("; consecutive faults seen before: {}", counts.join(", "))
            };
            self.check(
                now > was,
                format!(
                    "replica {id} replaced: replacements {was} → {now}, pid {} → {}{faults}",
                    opt(old_pid),
                    opt(new_pid)
                ),
            );
        }
    }

    /// Waits, idle, until every replica is up at the same seq with the same state digest,
    /// showing the digests as they converge.
    async fn until_converged(&mut self, what: &str) {
        let deadline = Instant::now() + self.wait;
        let mut shown = String::new();
        let mut result = None;
        while Instant::now() < deadline {
            if let Ok(s) = self.status().await {
                let line = convergence_line(&s);
                if line != shown {
                    say!("        {line}");
                    shown = line;
                }
                if let Some(c) = converged(&s) {
                    result = Some(c);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        match result {
            Some((seq, digest)) => self.check(
                true,
                format!(
                    "{what}: all replicas at seq {seq} with state digest {}",
                    short_digest(&Some(digest))
                ),
            ),
            None => self.check(
                false,
                format!(
                    "{what}: the replicas did not converge within {:?}",
                    self.wait
                ),
            ),
        }
    }

    /// Everything that must hold before the scenarios: the cluster answers, fault injection
    /// is on, the gateway answers, fresh IDs are found.
    async fn preflight(&mut self, origin: &str) -> Result<(), Abort> {
        self.section("0. Preflight");
        let s = self
            .status()
            .await
            .map_err(|e| Abort(format!("cannot query the cluster: {e}")))?;
        say_raw!("{}", indent(&status::table(&s)));
        if s.nobody_answered() {
            return Err(Abort(format!(
                "no node of the cluster answered ({origin}). Start it with `tesserad up --chaos`."
            )));
        }
        let ids: Vec<u8> = s.replicas.iter().map(|r| r.id).collect();
        if !ids.contains(&BYZANTINE) || !ids.contains(&CRASHED) {
            return Err(Abort(format!(
                "the demo needs replicas {BYZANTINE} and {CRASHED}; this cluster has {ids:?}"
            )));
        }
        // Undo whatever an interrupted earlier run may have left; this also proves that fault
        // injection is enabled.
        for id in &ids {
            cluster::send_chaos(&self.cfg, *id, ChaosKind::Heal)
                .await
                .map_err(|e| {
                    Abort(format!(
                        "replica {id} refused fault injection ({e}). The demo needs a cluster \
                         started with `tesserad up --chaos`."
                    ))
                })?;
        }
        self.check(true, "fault injection is enabled (every replica healed)");
        if converged(&s).is_none() {
            self.until_converged("the cluster is settled").await;
        } else {
            self.check(true, "every replica is up and they agree");
        }
        self.fresh_ids().await
    }

    /// Picks a day with none of our slots and participants with empty schedules.
    async fn fresh_ids(&mut self) -> Result<(), Abort> {
        let mut existing = BTreeSet::new();
        for t in [CONCERTS, THEATRE] {
            match self.gateway.call(&list(self.ids.admin, t)).await {
                Ok(Outcome::Result(r)) if r.success => {
                    existing.extend(r.slots.into_iter().map(|s| s.event_id));
                }
                Ok(Outcome::Result(r)) => {
                    return Err(Abort(format!("list-slots was refused: {}", r.code)))
                }
                Ok(Outcome::Fault(f)) => {
                    return Err(Abort(format!(
                        "the gateway answered list-slots with a SOAP fault ({}): {}",
                        f.code, f.reason
                    )))
                }
                Err(e) => return Err(Abort(e.to_string())),
            }
        }
        self.check(
            true,
            format!(
                "the gateway at {} answers ({} existing Concerts and Theatre slots)",
                self.gateway.url(),
                existing.len()
            ),
        );
        let unknown_id = |e: IdError| Abort(format!("the demo made up a bad identifier: {e}"));
        let mut day = Ids::day(seed());
        for _ in 0..2000 {
            let ids = [
                event_id("MTL", 'E', day).map_err(unknown_id)?,
                event_id("MTL", 'E', day + 1).map_err(unknown_id)?,
                event_id("MTL", 'A', day).map_err(unknown_id)?,
            ];
            if ids.iter().all(|e| !existing.contains(e.as_str())) && day < CENTURY {
                let [a, b, w] = ids;
                (self.ids.a, self.ids.b, self.ids.w) = (a, b, w);
                break;
            }
            day = (day + 2) % (CENTURY - 1);
        }
        let mut found = Vec::new();
        let first = seed();
        for number in first..first + 300 {
            let p = user_id('P', number).map_err(unknown_id)?;
            match self.gateway.call(&schedule(p)).await {
                Ok(Outcome::Result(r)) if r.success && r.reservations.is_empty() => found.push(p),
                Ok(_) => {}
                Err(e) => return Err(Abort(e.to_string())),
            }
            if found.len() == 3 {
                break;
            }
        }
        let [p1, p2, p3]: [UserId; 3] = found
            .try_into()
            .map_err(|_| Abort("no participant IDs without reservations were found".into()))?;
        (self.ids.p1, self.ids.p2, self.ids.p3) = (p1, p2, p3);
        say!(
            "        this run: admin {}, participants {} {} {}, slots Concerts {} and {}, \
             Theatre {}",
            self.ids.admin,
            self.ids.p1,
            self.ids.p2,
            self.ids.p3,
            self.ids.a,
            self.ids.b,
            self.ids.w
        );
        Ok(())
    }

    async fn basics(&mut self) {
        let Ids {
            admin,
            p1,
            p2,
            p3,
            a,
            b,
            w,
        } = self.ids.clone();
        self.section("1. Set up slots");
        for (event_type, event_id, capacity) in [
            (CONCERTS, a, 2),
            (CONCERTS, b, 2),
            (THEATRE, w, WORKLOAD_CAPACITY),
        ] {
            let Ok(capacity) = Capacity::new(capacity) else {
                self.check(false, format!("capacity {capacity} is out of range"));
                continue;
            };
            let request = Request::AddReservationSlot {
                admin_id: admin,
                event_type,
                event_id,
                capacity,
            };
            self.expect_code(&request, "CREATED").await;
        }

        self.section("2. Book, and a double booking refused");
        self.expect_code(&reserve(p1, CONCERTS, a), "RESERVED")
            .await;
        self.expect_code(&reserve(p1, CONCERTS, a), "ALREADY_RESERVED")
            .await;
        self.expect_code(&reserve(p2, CONCERTS, a), "RESERVED")
            .await;
        self.expect_code(&reserve(p3, CONCERTS, a), "SLOT_FULL")
            .await;

        self.section("3. Exchange");
        let exchange = Request::ExchangeTicket {
            participant_id: p1,
            event_type: CONCERTS,
            event_id: a,
            new_event_type: CONCERTS,
            new_event_id: b,
        };
        self.expect_code(&exchange, "EXCHANGED").await;
        self.expect_schedule(p1, &[(b, CONCERTS)]).await;
        self.expect_available(CONCERTS, &[(a, 1), (b, 1)]).await;
    }

    async fn byzantine(&mut self) {
        self.section(&format!(
            "4. Replica {BYZANTINE} turns Byzantine: its answers are wrong, the others outvote it"
        ));
        let Ok(before) = self.status().await else {
            self.check(false, "cluster status before the fault");
            return;
        };
        if self.chaos(BYZANTINE, ChaosKind::Byzantine).await {
            say!("        every answer below is checked; the gateway returns the reply two replicas agree on");
            self.until_replaced(&[BYZANTINE], &before).await;
        }
        self.until_converged("after the replacement").await;
    }

    async fn crash(&mut self) {
        self.section(&format!(
            "5. Replica {CRASHED} crashes: it is restarted and catches up by state transfer"
        ));
        let Ok(before) = self.status().await else {
            self.check(false, "cluster status before the fault");
            return;
        };
        if self.chaos(CRASHED, ChaosKind::Crash).await {
            self.until_replaced(&[CRASHED], &before).await;
        }
        // A few more requests, so the new replica has to catch up on fresh state too.
        for _ in 0..4 {
            self.workload_step().await;
        }
        self.until_converged(&format!("replica {CRASHED} caught up"))
            .await;
    }

    async fn both(&mut self) {
        self.section(&format!(
            "6. Both at once: replica {BYZANTINE} Byzantine and replica {CRASHED} crashed"
        ));
        let Ok(before) = self.status().await else {
            self.check(false, "cluster status before the faults");
            return;
        };
        let byzantine = self.chaos(BYZANTINE, ChaosKind::Byzantine).await;
        let crashed = self.chaos(CRASHED, ChaosKind::Crash).await;
        if byzantine && crashed {
            say!("        two of four replicas faulty: the two correct ones still agree");
            self.until_replaced(&[BYZANTINE, CRASHED], &before).await;
        }
        self.until_converged("after both replacements").await;
    }

    async fn heal(&mut self) {
        self.section("7. Heal, and check the state end to end");
        let ids: Vec<u8> = self.cfg.replica_manager.iter().map(|r| r.id).collect();
        for id in ids {
            self.chaos(id, ChaosKind::Heal).await;
        }
        let Ids {
            p1, p2, a, b, w, ..
        } = self.ids.clone();
        self.expect_schedule(p1, &[(b, CONCERTS)]).await;
        self.expect_schedule(p2, &[(a, CONCERTS)]).await;
        self.expect_available(CONCERTS, &[(a, 1), (b, 1)]).await;
        let free = i64::from(WORKLOAD_CAPACITY) - i64::from(self.workload.held);
        self.expect_available(THEATRE, &[(w, free)]).await;
        self.until_converged("final").await;
        if let Ok(s) = self.status().await {
            say_raw!("{}", indent(&status::table(&s)));
        }
    }
}

pub async fn run(global: &Global, args: &DemoArgs) -> Exit {
    let cfg = match cluster::config(args.config.as_deref(), args.key.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failed;
        }
    };
    // The cluster's own gateway unless --url or TESSERA_URL says otherwise.
    let url = global.url.as_deref().unwrap_or(&cfg.gateway.public_url);
    let gateway = match commands::gateway_at(global, url) {
        Ok(g) => g,
        Err(exit) => return exit,
    };
    let origin = cluster::config_origin(args.config.as_deref());
    say!("Tessera failure demo");
    say!("  gateway  {} ({})", gateway.url(), gateway.version.name());
    say!(
        "  cluster  {} ({origin}), {} replicas",
        cfg.cluster.name,
        cfg.replica_manager.len()
    );
    let ids = match Ids::candidates(seed()) {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("error: the demo made up a bad identifier: {e}");
            return Exit::Failed;
        }
    };
    let mut demo = Demo {
        gateway,
        cfg,
        wait: args.wait,
        ids,
        workload: Workload::default(),
        passed: 0,
        failed: Vec::new(),
    };
    let started = Instant::now();
    if let Err(Abort(why)) = demo.preflight(&origin).await {
        say!("  FAIL  {why}");
        say!("\nThe demo cannot run: {why}");
        return Exit::Failed;
    }
    demo.basics().await;
    demo.byzantine().await;
    demo.crash().await;
    demo.both().await;
    demo.heal().await;

    let failed = demo.failed.len();
    say!(
        "\n{} checks in {:.1}s: {} passed, {failed} failed",
        demo.passed as usize + failed,
        started.elapsed().as_secs_f64(),
        demo.passed
    );
    if failed == 0 {
        say!("Every answer was correct while replicas failed, and every faulty replica was replaced and caught up.");
        Exit::Success
    } else {
        say!("Failed checks:");
        for f in &demo.failed {
            say!("  - {f}");
        }
        output::Exit::Refused
    }
}
