//! Issue 16's catch-up target: `cargo bench -p tessera-node --bench catch_up`.
//!
//! Fills a real cluster (release-built `tesserad` processes on loopback, the default
//! configuration) with `TESSERA_CATCHUP_RESERVATIONS` reservations (default 1,000,000: 100
//! slots of 10,000 participants each, every participant in its slot's own city), made by
//! `reserveTicket` calls through the front end, many in flight. Then, for each replica of
//! `TESSERA_CATCHUP_REPLICAS` (default `1,2,3,4`) in turn, `kill -9`s the replica process and
//! measures the time until its manager reports the replacement `up` again, and what the state
//! transfer into it says it took and installed (`Notice::Transferred`: the snapshot's bytes,
//! from the start of the transfer to the snapshot installed). Target: back to `up` within 5 s.
//!
//! Every process started is terminated and reaped by a drop guard, also when the benchmark
//! fails; every wait is bounded in time; all traffic stays on loopback.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tessera_node::status;
use tessera_node::FrontEndClient;
use tessera_protocol::wire::{Notice, ReplicaState, RmStatus};
use tessera_testkit::cluster::{self, Launch, LocalCluster};
use tessera_types::{
    Capacity, Code, Digest, Durability, EventId, EventType, Replica, Request, SlotRecord, Snapshot,
    UserId,
};

const CITIES: [&str; 3] = ["MTL", "TOR", "VAN"];
const TIMES: [&str; 3] = ["M", "A", "E"];
/// Holders per slot: every participant number of one city.
const PER_SLOT: u64 = 10_000;
/// Calls in flight while loading.
const IN_FLIGHT: usize = 256;
/// The target for a replacement to be `up` again.
const TARGET: Duration = Duration::from_secs(5);
/// Longest wait for anything (a replica back up, the replicas converging).
const WAIT_MAX: Duration = Duration::from_secs(300);

fn env_u64(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name}={v:?}")),
        Err(_) => Ok(default),
    }
}

/// Slot `j`: its type, its event and its city's index. A participant may hold one event per
/// date and time of day (`docs/domain.md`), so each city's slots are at distinct (date, time)
/// pairs: distinct for distinct `j` < 243 (27 days of three times in each of three cities).
fn slot(j: u64) -> anyhow::Result<(EventType, EventId, usize)> {
    let city = (j % 3) as usize;
    let m = j / 3;
    let ty = EventType::ALL[(m % 3) as usize];
    let event = EventId::parse(&format!(
        "{}{}{:02}1226",
        CITIES[city],
        TIMES[(m % 3) as usize],
        1 + m / 3
    ))?;
    Ok((ty, event, city))
}

/// The `i`-th call of the load: the slots first, then one reservation per call.
fn call(i: u64, slots: u64) -> anyhow::Result<(Request, Code)> {
    if i < slots {
        let (event_type, event_id, city) = slot(i)?;
        return Ok((
            Request::AddReservationSlot {
                admin_id: UserId::parse(&format!("{}A0001", CITIES[city]))?,
                event_type,
                event_id,
                capacity: Capacity::new(PER_SLOT as i32)?,
            },
            Code::Created,
        ));
    }
    let r = i - slots;
    let (event_type, event_id, city) = slot(r / PER_SLOT)?;
    Ok((
        Request::ReserveTicket {
            participant_id: UserId::parse(&format!("{}P{:04}", CITIES[city], r % PER_SLOT))?,
            event_type,
            event_id,
        },
        Code::Reserved,
    ))
}

/// The state the load makes, built directly.
fn state(reservations: u64) -> anyhow::Result<Snapshot> {
    let mut slots = Vec::new();
    for j in 0..reservations.div_ceil(PER_SLOT) {
        let (event_type, event_id, city) = slot(j)?;
        let holders = (0..PER_SLOT.min(reservations - j * PER_SLOT))
            .map(|k| UserId::parse(&format!("{}P{k:04}", CITIES[city])))
            .collect::<Result<Vec<_>, _>>()?;
        slots.push(SlotRecord {
            event_type,
            event_id,
            capacity: PER_SLOT as u32,
            holders,
        });
    }
    Ok(Snapshot::new(slots)?)
}

/// Where a replacement's time goes besides the network: what the replica process does with
/// the snapshot (decode and re-validate it, replace its state with it, make that durable),
/// for each implementation, in this process on a fresh directory.
fn import_phase(reservations: u64) -> anyhow::Result<()> {
    let bytes = state(reservations)?.encode();
    let t = Instant::now();
    let digest = Digest::of_state(&bytes);
    let digest_took = t.elapsed();
    let t = Instant::now();
    let snapshot = Snapshot::decode(&bytes)?;
    let decode_took = t.elapsed();
    println!(
        "snapshot of {reservations} reservations: {} bytes; digest {:.0} ms, decode and \
         re-validate {:.0} ms",
        bytes.len(),
        digest_took.as_secs_f64() * 1e3,
        decode_took.as_secs_f64() * 1e3
    );
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let d = Durability::Deferred;
    let replicas: Vec<(&str, Box<dyn Replica>)> = vec![
        ("memory", Box::new(replica_memory::MemoryReplica::new())),
        (
            "sqlite",
            Box::new(replica_sqlite::SqliteReplica::open(
                &dir.path().join("sqlite"),
                d,
            )?),
        ),
        (
            "eventlog",
            Box::new(replica_eventlog::EventLogReplica::open(
                &dir.path().join("eventlog"),
                d,
            )?),
        ),
        (
            "kv",
            Box::new(replica_kv::KvReplica::open(&dir.path().join("kv"), d)?),
        ),
    ];
    for (name, mut replica) in replicas {
        let t = Instant::now();
        replica.import(1, &snapshot)?;
        let import_took = t.elapsed();
        let t = Instant::now();
        replica.sync()?;
        let sync_took = t.elapsed();
        // What every checkpoint costs each replica at this size: its replies wait behind it.
        let t = Instant::now();
        let exported = replica.export()?.encode();
        let export_took = t.elapsed();
        // The digest the managers compare (a replica may compute it its own way) and the
        // export's both match the snapshot installed.
        let check = replica.digest()? == digest && Digest::of_state(&exported) == digest;
        println!(
            "  {name:<8} import {:>6.1} ms, sync {:>4.1} ms, export {:>6.1} ms{}",
            import_took.as_secs_f64() * 1e3,
            sync_took.as_secs_f64() * 1e3,
            export_took.as_secs_f64() * 1e3,
            if check { "" } else { "  (DIGEST DIFFERS)" }
        );
    }
    Ok(())
}

/// Makes `reservations` reservations through `fe`, `IN_FLIGHT` calls at a time; every call
/// must be answered with the code it expects.
async fn load(fe: &FrontEndClient, reservations: u64) -> anyhow::Result<u64> {
    let slots = reservations.div_ceil(PER_SLOT);
    if slots >= 243 {
        bail!("at most {} reservations", 242 * PER_SLOT);
    }
    // The slots exist before anyone reserves.
    for i in 0..slots {
        let (request, want) = call(i, slots)?;
        let got = fe.submit(&request).await?.reply.code;
        if got != want {
            bail!("{request:?}: {got:?}, not {want:?}");
        }
    }
    let total = slots + reservations;
    let next = Rc::new(AtomicU64::new(slots));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let fe = fe.clone();
        let next = Rc::clone(&next);
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(());
                }
                let (request, want) = call(i, slots)?;
                let got = fe.submit(&request).await?.reply.code;
                if got != want {
                    bail!("{request:?}: {got:?}, not {want:?}");
                }
                if (i - slots + 1).is_multiple_of(100_000) {
                    let n = i - slots + 1;
                    let secs = began.elapsed().as_secs_f64();
                    println!(
                        "  {n:>9} reservations in {secs:>6.1} s ({:.0} calls/s)",
                        n as f64 / secs
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("load task")??;
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "loaded {reservations} reservations in {secs:.1} s ({:.0} calls/s)",
        reservations as f64 / secs
    );
    Ok(total)
}

async fn rm_status(cfg: &tessera_node::Config, id: u8) -> anyhow::Result<Option<RmStatus>> {
    Ok(status::query_rm(cfg, id, Duration::from_millis(200)).await?)
}

/// Polls until every replica reports `seq` applied, on one digest.
async fn converged(cfg: &tessera_node::Config, seq: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let s = status::query(cfg, Duration::from_millis(500)).await?;
        let first = s.replicas[0].digest.clone();
        if first.is_some()
            && s.replicas
                .iter()
                .all(|r| r.last_seq == Some(seq) && r.digest == first)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the replicas did not converge on seq {seq}: {s:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What one replacement measured.
struct CatchUp {
    id: u8,
    implementation: String,
    /// From `kill -9` to its manager reporting the new replica `up`.
    to_up: Duration,
    /// The transfer's own account: from its start to the snapshot installed, and its size.
    transfer: Duration,
    bytes: u64,
    seq: u64,
}

/// `kill -9` of replica `id`'s process, then the time until its manager reports the
/// replacement `up`.
async fn replace(cfg: &tessera_node::Config, id: u8) -> anyhow::Result<CatchUp> {
    let Some(before) = rm_status(cfg, id).await? else {
        bail!("replica manager {id} does not answer");
    };
    let killed = Instant::now();
    cluster::signal(before.pid, "KILL");
    let deadline = killed + WAIT_MAX;
    loop {
        if let Some(s) = rm_status(cfg, id).await? {
            if s.generation > before.generation && s.state == ReplicaState::Up {
                let to_up = killed.elapsed();
                let Some((seq, bytes, millis)) =
                    s.notices.iter().rev().find_map(|n| match n.notice {
                        Notice::Transferred { seq, bytes, millis } => Some((seq, bytes, millis)),
                        _ => None,
                    })
                else {
                    bail!("replica {id} is up without a state transfer: {s:?}");
                };
                return Ok(CatchUp {
                    id,
                    implementation: s.implementation,
                    to_up,
                    transfer: Duration::from_millis(millis),
                    bytes,
                    seq,
                });
            }
        }
        if Instant::now() > deadline {
            bail!("replica {id} was not up again within {WAIT_MAX:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn main() -> anyhow::Result<()> {
    let reservations = env_u64("TESSERA_CATCHUP_RESERVATIONS", 1_000_000)?;
    let victims: Vec<u8> = std::env::var("TESSERA_CATCHUP_REPLICAS")
        .unwrap_or_else(|_| "1,2,3,4".into())
        .split(',')
        .map(|s| s.trim().parse::<u8>().context("TESSERA_CATCHUP_REPLICAS"))
        .collect::<anyhow::Result<_>>()?;
    if victims.iter().any(|&v| !(1..=4).contains(&v)) {
        bail!("TESSERA_CATCHUP_REPLICAS: replicas are 1..=4");
    }
    import_phase(reservations)?;
    if std::env::var("TESSERA_CATCHUP_IMPORT_ONLY").is_ok() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local_set = tokio::task::LocalSet::new();
    local_set.block_on(&runtime, async move {
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        let mut cfg = cluster::loopback(dir.path());
        cfg.cluster.name = format!("catch-up-{}", std::process::id());
        // What `tesserad up` uses on one host: loopback carries 16 KiB datagrams unfragmented.
        cfg.cluster.max_datagram_bytes = Some(16_384);
        let local = LocalCluster::start_with(
            PathBuf::from(env!("CARGO_BIN_EXE_tesserad")),
            cfg,
            dir,
            Launch::default(),
        )?;
        let cfg = local.cfg.clone();
        let fe = FrontEndClient::start(&cluster::as_front_end(&cfg, cluster::TEST_FRONT_END))?;
        println!(
            "catch-up bench: {reservations} reservations, then kill -9 of replicas {victims:?}"
        );
        let seq = load(&fe, reservations).await?;
        converged(&cfg, seq).await?;
        println!("all four replicas at seq {seq}, one digest");
        let mut results = Vec::new();
        for &id in &victims {
            let r = replace(&cfg, id).await?;
            println!(
                "replica {} ({}): up again {:.2} s after kill -9; transfer {:.2} s, {} bytes \
                 ({:.1} MB), snapshot after seq {}",
                r.id,
                r.implementation,
                r.to_up.as_secs_f64(),
                r.transfer.as_secs_f64(),
                r.bytes,
                r.bytes as f64 / 1e6,
                r.seq
            );
            converged(&cfg, seq).await?;
            results.push(r);
        }
        println!();
        println!("| replica | up again after kill -9 | transfer | snapshot bytes | target ≤ 5 s |");
        println!("|---|---|---|---|---|");
        for r in &results {
            println!(
                "| {} ({}) | {:.2} s | {:.2} s | {} | {} |",
                r.id,
                r.implementation,
                r.to_up.as_secs_f64(),
                r.transfer.as_secs_f64(),
                r.bytes,
                if r.to_up <= TARGET {
                    "met"
                } else {
                    "**not met**"
                }
            );
        }
        drop(local);
        anyhow::Ok(())
    })
}
