//! The replica manager node: the tokio shell around
//! `tessera_protocol::replica_manager::ReplicaManager`, owning the UDP sockets and the
//! replica child process.
//!
//! Delivery is pipelined: every request the hold-back queue releases is written to the child
//! at once, and replies come back in order. Durability is group commit: whenever the replica
//! has applied more than it has synced, no sync is outstanding and `timeouts.sync_ms` has
//! passed since the last one, one `Sync` covers everything applied so far, and only then does
//! the manager's ack claim it applied.
//! At each checkpoint seq an `Export` follows that seq's `Apply` in the same pipe, so the
//! snapshot is exactly the state after it.
//!
//! Replacement (`docs/recovery.md`): when a majority of managers votes against our replica,
//! or its process exits, the process is killed, its data directory wiped, a fresh one of the
//! same implementation started, and the protocol machine runs a state transfer; the snapshot
//! it finds is imported and delivery resumes after it.
//!
//! The replica's incarnation and whether a state transfer is under way are persisted
//! (`record`) whenever they change, and the new incarnation before the old replica's storage
//! is wiped: a manager killed at any point restarts agreeing with its peers, and never
//! trusts a half-replaced replica.

mod record;
mod replica;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tessera_protocol::replica_manager::guard::GuardEvent;
use tessera_protocol::replica_manager::{ReplicaInfo, ReplicaManager, RmConfig, RmEvent};
use tessera_protocol::wire::{ChaosAction, Link, NodeId, ReplicaState};
use tokio::sync::watch;

use crate::config::Config;
use crate::link_config;
use crate::replica_host::{HostRequest, HostResponse, ReplicaSpec};
use crate::transport::{Transport, DRAIN_MAX};
use record::Record;
use replica::{Pending, Replica};

/// Requests written to the replica and not yet answered, at most. Beyond it, released
/// entries wait in the protocol's hold-back queue (bounded, and re-fetched by NACK beyond its
/// bound) rather than in the pipe: writes to the child then never fill the pipe and stall
/// this loop behind a slow replica, so the manager keeps receiving, acking and answering
/// probes and status queries. 256 small requests also fit the 64 KiB pipe buffer.
const MAX_IN_FLIGHT: usize = 256;

/// Most replica answers handled per wakeup before the replies go out: they all leave in one
/// `Reply` datagram per front end instead of one datagram per answer.
const ANSWERS_PER_WAKEUP: usize = MAX_IN_FLIGHT;

/// Digests for status are computed only when the replica is idle, and at most this often:
/// on the persistent replicas a digest walks the whole state.
const DIGEST_EVERY: Duration = Duration::from_millis(200);

/// Runs replica manager `id` until `shutdown` turns true.
pub async fn run(
    cfg: Config,
    id: u8,
    chaos: bool,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(me) = cfg.replica_manager(id).cloned() else {
        bail!("no [[replica_manager]] with id {id} in the configuration");
    };
    let spec = ReplicaSpec {
        exe: std::env::current_exe().context("locating the tesserad binary")?,
        implementation: me.implementation,
        dir: cfg.rm_dir(id).join("replica"),
    };
    let record_path = record::path(&cfg.rm_dir(id));
    let mut persisted = record::load(&record_path)?;
    // A replica whose state transfer was cut short is not trusted: wiped and transferred again.
    let (mut replica, applied) = Replica::start(&spec, persisted.recovering).await?;

    let transport = Transport::bind(&cfg, me.address, true, u64::from(id))
        .with_context(|| format!("binding replica manager {id} to {}", me.address))?;
    let link = Link::new(link_config(&cfg, NodeId::ReplicaManager(id)))?;
    let rcfg = RmConfig {
        id,
        timeouts: cfg.protocol_timeouts(),
        checkpoint_interval: cfg.recovery.checkpoint_interval,
        hang_threshold: Duration::from_millis(cfg.recovery.hang_threshold_ms),
        retry: Duration::from_millis(cfg.recovery.retry_ms),
        chaos,
        ..RmConfig::default()
    };
    let mut rm = ReplicaManager::new(link, rcfg, applied, persisted.incarnation(), Instant::now());
    let mut info = ReplicaInfo {
        implementation: me.implementation.as_str().to_owned(),
        pid: replica.pid(),
        state: ReplicaState::Up,
        digest: None,
        executed: 0,
    };
    if persisted.recovering {
        tracing::warn!(
            replica = id,
            generation = persisted.generation,
            "a state transfer was cut short by a restart: the replica starts empty and transfers again"
        );
        info.state = ReplicaState::Recovering;
        rm.begin_recovery(Instant::now(), false);
    }
    rm.set_replica_info(info.clone());
    tracing::info!(replica = id, generation = persisted.generation, implementation = me.implementation.as_str(), pid = replica.pid(), address = %me.address, applied, chaos, "replica manager up");

    let mut last_applied = applied;
    let mut synced = applied;
    let mut digest_seq = u64::MAX;
    let mut next_digest = Instant::now();
    let sync_every = Duration::from_millis(cfg.timeouts.sync_ms);
    let mut next_sync = Instant::now();
    let mut buf = vec![0u8; 65_536];
    loop {
        // Hand the replica everything the protocol released, then whatever bookkeeping is due.
        let mut wrote = false;
        while replica.outstanding() < MAX_IN_FLIGHT {
            let Some(entry) = rm.poll_deliver() else {
                break;
            };
            let seq = entry.seq;
            replica
                .send(
                    HostRequest::Apply {
                        seq,
                        request: entry.request,
                    },
                    Pending::Apply(seq),
                )
                .await?;
            if rm.checkpoint_due(seq) {
                replica
                    .send(HostRequest::Export, Pending::Checkpoint(seq))
                    .await?;
            }
            wrote = true;
        }
        let now = Instant::now();
        if sync_wanted(&replica, &rm, last_applied, synced) && now >= next_sync {
            replica.send(HostRequest::Sync, Pending::Sync).await?;
            next_sync = now + sync_every;
            wrote = true;
        }
        if replica.idle() && !rm.is_recovering() && digest_seq != last_applied && now >= next_digest
        {
            replica.send(HostRequest::Digest, Pending::Digest).await?;
            next_digest = now + DIGEST_EVERY;
            wrote = true;
        }
        if wrote {
            replica.flush().await?;
        }
        persist(&record_path, &mut persisted, &rm)?;
        while let Some(t) = rm.poll_transmit() {
            transport.send(&t).await;
        }
        while let Some(ev) = rm.poll_event() {
            match ev {
                RmEvent::Fault(report) => tracing::debug!(?report, "fault reported"),
                RmEvent::Guard(GuardEvent::Voted {
                    replica: r,
                    generation,
                    reason,
                }) => tracing::warn!(
                    replica = r,
                    generation,
                    ?reason,
                    "voted to replace replica {r} (generation {generation})"
                ),
                RmEvent::Guard(GuardEvent::Learnt {
                    replica: r,
                    incarnation,
                }) => tracing::info!(
                    replica = r,
                    generation = incarnation.generation,
                    from_seq = incarnation.from_seq,
                    "replica {r} is at generation {}",
                    incarnation.generation
                ),
                RmEvent::BehindRetention { low } => {
                    if !rm.is_recovering() {
                        tracing::warn!(
                            replica = id,
                            generation = rm.generation(),
                            low,
                            delivered = rm.delivered(),
                            "replica {id} is behind the sequencer's retention window: state transfer"
                        );
                        rm.begin_recovery(Instant::now(), false);
                        persist(&record_path, &mut persisted, &rm)?;
                    }
                }
                RmEvent::Replace(reason) => {
                    tracing::warn!(
                        replica = id,
                        generation = rm.generation(),
                        ?reason,
                        "a majority of replica managers voted to replace replica {id} (generation {})",
                        rm.generation()
                    );
                    replica = replace(
                        &spec,
                        &mut replica,
                        &mut rm,
                        &mut info,
                        &record_path,
                        &mut persisted,
                    )
                    .await?;
                    (last_applied, synced, digest_seq) = (0, 0, u64::MAX);
                }
                RmEvent::Install(install) => {
                    tracing::info!(
                        replica = id,
                        generation = rm.generation(),
                        seq = install.seq,
                        bytes = install.snapshot.as_ref().map_or(0, Vec::len),
                        "installing a vouched-for snapshot into replica {id}"
                    );
                    let request = match install.snapshot {
                        Some(snapshot) => HostRequest::Import {
                            seq: install.seq,
                            snapshot,
                        },
                        None => HostRequest::import_empty(),
                    };
                    replica.send(request, Pending::Import).await?;
                    replica.flush().await?;
                }
                RmEvent::Chaos(action) => chaos_action(action, &mut replica, id).await?,
            }
        }
        // The digest timer only while a digest can be asked for: with the replica busy it is
        // due but cannot be served, and waiting on a deadline in the past made this loop spin
        // on a whole core for as long as a slow replica stayed busy. The replica's next
        // answer wakes the loop anyway.
        let digest_due = (replica.idle() && !rm.is_recovering() && digest_seq != last_applied)
            .then_some(next_digest);
        let sync_due = sync_wanted(&replica, &rm, last_applied, synced).then_some(next_sync);
        let deadline = [rm.poll_timeout(), digest_due, sync_due]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            r = transport.recv(&mut buf) => match r {
                Ok((n, from)) => {
                    let now = Instant::now();
                    rm.handle_datagram(now, from, &buf[..n]);
                    // The rest of the burst too, before delivering and sending.
                    for _ in 1..DRAIN_MAX {
                        match transport.try_recv(&mut buf) {
                            Ok(Some((n, from))) => rm.handle_datagram(now, from, &buf[..n]),
                            _ => break,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "receive failed"),
            },
            first = replica.next() => {
                // This answer and whatever else the replica has answered meanwhile: their
                // replies then share one `Reply` datagram per front end.
                let mut answer = Some(first);
                let mut handled = 0;
                while let Some(resp) = answer.take() {
                    let Some((expected, resp)) = resp else {
                        tracing::error!(replica = id, generation = rm.generation(), pid = replica.pid(), status = ?replica.exit_status(), "replica {id} exited: replacing it");
                        replica =
                            replace(&spec, &mut replica, &mut rm, &mut info, &record_path, &mut persisted)
                                .await?;
                        (last_applied, synced, digest_seq) = (0, 0, u64::MAX);
                        break;
                    };
                    let now = Instant::now();
                    match (expected, resp) {
                        (Pending::Apply(want), HostResponse::Applied { seq, reply }) if seq == want => {
                            last_applied = seq;
                            info.executed += 1;
                            // Status promises the digest *at last_seq*: withdraw a stale one.
                            if info.digest.take().is_some() {
                                rm.set_replica_info(info.clone());
                            }
                            rm.handle_reply(now, seq, reply);
                        }
                        (Pending::Sync, HostResponse::Synced { applied }) => {
                            synced = applied;
                            rm.handle_durable(applied);
                        }
                        (Pending::Checkpoint(want), HostResponse::Exported { applied, snapshot }) if applied == want => {
                            let digest = rm.handle_checkpoint(now, applied, snapshot);
                            tracing::debug!(replica = id, generation = rm.generation(), seq = applied, digest = %hex(&digest), "checkpoint");
                        }
                        (Pending::Digest, HostResponse::Digest { applied, digest }) => {
                            digest_seq = applied;
                            info.digest = (applied == last_applied).then_some(digest);
                            rm.set_replica_info(info.clone());
                        }
                        (Pending::Import, HostResponse::Imported { applied }) => {
                            tracing::info!(replica = id, generation = rm.generation(), seq = applied, "snapshot installed into replica {id}; replaying what follows it");
                            (last_applied, synced, digest_seq) = (applied, applied, u64::MAX);
                            info.state = ReplicaState::Up;
                            rm.set_replica_info(info.clone());
                            rm.finish_recovery(now, applied);
                        }
                        (Pending::Chaos, HostResponse::ByzantineSet) => {}
                        (_, HostResponse::Failed(why)) => {
                            tracing::error!(replica = id, generation = rm.generation(), %why, "replica {id} failed: replacing it");
                            replica =
                                replace(&spec, &mut replica, &mut rm, &mut info, &record_path, &mut persisted)
                                    .await?;
                            (last_applied, synced, digest_seq) = (0, 0, u64::MAX);
                        }
                        (expected, other) => bail!("replica answered {other:?} where {expected:?} was due"),
                    }
                    handled += 1;
                    if handled < ANSWERS_PER_WAKEUP {
                        answer = replica.try_next();
                    }
                }
            },
            _ = crate::sleep_until(deadline) => rm.handle_timeout(Instant::now()),
            _ = shutdown.changed() => break,
        }
    }
    replica.kill().await;
    Ok(())
}

/// Whether the replica has applied work that no sync covers yet, and could be asked to sync.
/// (When is `timeouts.sync_ms`'s business: syncing at every chance made the persistent
/// replicas commit every few requests under moderate load.)
fn sync_wanted(replica: &Replica, rm: &ReplicaManager, last_applied: u64, synced: u64) -> bool {
    last_applied > synced
        && !replica.has_pending(|p| matches!(p, Pending::Sync))
        && !rm.is_recovering()
}

/// Persists the replica's incarnation and recovery state if they changed since the last
/// call: before anything this iteration sends, so peers never hear of an incarnation that a
/// crash could take back.
fn persist(
    path: &std::path::Path,
    persisted: &mut Record,
    rm: &ReplicaManager,
) -> anyhow::Result<()> {
    let now = Record::new(rm.incarnation(), rm.is_recovering());
    if now != *persisted {
        record::store(path, &now)?;
        *persisted = now;
    }
    Ok(())
}

/// Kills the replica, starts a fresh one of the same implementation on an empty directory,
/// and starts the state transfer that brings it up to date. The new incarnation is persisted,
/// marked recovering, before the old storage is wiped.
async fn replace(
    spec: &ReplicaSpec,
    old: &mut Replica,
    rm: &mut ReplicaManager,
    info: &mut ReplicaInfo,
    record_path: &std::path::Path,
    persisted: &mut Record,
) -> anyhow::Result<Replica> {
    old.kill().await;
    rm.begin_recovery(Instant::now(), true);
    persist(record_path, persisted, rm)?;
    let (fresh, _) = Replica::start(spec, true).await?;
    info.pid = fresh.pid();
    info.executed = 0;
    info.digest = None;
    info.state = ReplicaState::Recovering;
    rm.set_replica_info(info.clone());
    let (id, incarnation) = (rm.id(), rm.incarnation());
    tracing::warn!(
        replica = id,
        generation = incarnation.generation,
        from_seq = incarnation.from_seq,
        pid = fresh.pid(),
        "replica {id} replaced by generation {}; state transfer started",
        incarnation.generation
    );
    Ok(fresh)
}

async fn chaos_action(action: ChaosAction, replica: &mut Replica, id: u8) -> anyhow::Result<()> {
    tracing::warn!(
        replica = id,
        action = action.as_str(),
        "fault injection into replica {id}: {}",
        action.as_str()
    );
    match action {
        ChaosAction::Byzantine | ChaosAction::CorruptState => {
            let seed = 0x7e55_e7a0 ^ u64::from(id);
            // Byzantine: wrong replies. CorruptState: right-looking replies over a damaged
            // state, which only the checkpoint digests reveal.
            let mode = match action {
                ChaosAction::Byzantine => (seed, false, true),
                _ => (seed, true, false),
            };
            replica
                .send(HostRequest::SetByzantine(Some(mode)), Pending::Chaos)
                .await?;
            replica.flush().await?;
        }
        ChaosAction::Crash => replica.signal(nix::sys::signal::Signal::SIGKILL),
        ChaosAction::Hang => replica.signal(nix::sys::signal::Signal::SIGSTOP),
        ChaosAction::Heal => {
            replica.signal(nix::sys::signal::Signal::SIGCONT);
            replica
                .send(HostRequest::SetByzantine(None), Pending::Chaos)
                .await?;
            replica.flush().await?;
        }
    }
    Ok(())
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
