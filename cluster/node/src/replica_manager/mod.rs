//! The replica manager node: the tokio shell around
//! `tessera_protocol::replica_manager::ReplicaManager`, which holds all of the manager's logic
//! (delivery, group commit, checkpoints, detection, replacement, state transfer). The shell
//! owns what only a process has: the UDP sockets, the replica child process, the record file,
//! the clock. It feeds in what happens and carries out the machine's commands: persist a
//! record (`record`), start a replica (on emptied storage for a replacement), write to it,
//! signal it.

mod record;
mod replica;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::Signal;
use tessera_protocol::replica_manager::guard::GuardEvent;
use tessera_protocol::replica_manager::{
    Command, ReplicaManager, ReplicaSignal, RmConfig, RmEvent, MAX_IN_FLIGHT,
};
use tessera_protocol::wire::{Link, NodeId};
use tessera_protocol::ReplicaId;
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::RmMetrics;
use crate::node_link_config;
use crate::replica_host::ReplicaSpec;
use crate::transport::{Transport, DRAIN_MAX};
use replica::Replica;

/// Most replica answers handled per wakeup before the replies go out: they all leave in one
/// `Reply` datagram per front end instead of one datagram per answer.
const ANSWERS_PER_WAKEUP: usize = MAX_IN_FLIGHT;

/// Runs replica manager `id` until `shutdown` turns true, serving `/metrics` on
/// `metrics_address`.
pub async fn run(
    cfg: Config,
    id: u8,
    chaos: bool,
    metrics_address: Option<SocketAddr>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (Some(me), Some(rid)) = (cfg.replica_manager(id).cloned(), ReplicaId::new(id)) else {
        bail!("no [[replica_manager]] with id {id} in the configuration");
    };
    let spec = ReplicaSpec {
        exe: std::env::current_exe().context("locating the tesserad binary")?,
        implementation: me.implementation,
        dir: cfg.rm_dir(id).join("replica"),
    };
    let record_path = record::path(&cfg.rm_dir(id));
    let persisted = record::load(&record_path)?;
    // The keys first, as the sequencer does.
    let link = Link::new(node_link_config(&cfg, NodeId::ReplicaManager(rid), None)?)?;
    let transport = Transport::bind(&cfg, me.address, true, u64::from(id))
        .with_context(|| format!("binding replica manager {id} to {}", me.address))?;
    let rcfg = RmConfig {
        id: rid,
        implementation: me.implementation.as_str().to_owned(),
        timeouts: cfg.protocol_timeouts(),
        checkpoint_interval: cfg.recovery.checkpoint_interval,
        hang_threshold: Duration::from_millis(cfg.recovery.hang_threshold_ms),
        retry: Duration::from_millis(cfg.recovery.retry_ms),
        sync_interval: Duration::from_millis(cfg.timeouts.sync_ms),
        chaos,
        instance: crate::clock::unix_ms(),
        call_memory: call_memory(&cfg),
        ..RmConfig::default()
    };
    let metrics = RmMetrics::new(rid, me.implementation.as_str())?;
    // Free space where the record and the replica's storage are, for status and metrics.
    let mut disk = crate::disk::DiskWatch::new(cfg.rm_dir(id));
    let mut scrapes = crate::metrics::serve_for_loop(metrics_address).await;
    let mut rm = ReplicaManager::new(link, rcfg, persisted, Instant::now());
    let mut replica: Option<Replica> = None;
    tracing::info!(replica = id, generation = persisted.generation, implementation = me.implementation.as_str(), address = %me.address, chaos, "replica manager {id} up");

    let mut buf = vec![0u8; 65_536];
    loop {
        // Commands before transmits: a record is on disk before anything that depends on it
        // leaves (and before a replacement wipes the old replica's storage).
        loop {
            let mut wrote = false;
            while let Some(cmd) = rm.poll_command() {
                match cmd {
                    Command::Persist(r) => record::store(&record_path, &r)?,
                    Command::StartReplica { fresh } => {
                        if let Some(mut old) = replica.take() {
                            old.kill().await;
                        }
                        let (started, applied) = Replica::start(&spec, fresh).await?;
                        tracing::info!(
                            replica = id,
                            generation = rm.generation(),
                            pid = started.pid(),
                            applied,
                            fresh,
                            "replica {id} started"
                        );
                        rm.handle_replica_started(Instant::now(), started.pid(), applied);
                        replica = Some(started);
                    }
                    Command::ToReplica(request) => {
                        if let Some(r) = &mut replica {
                            r.send(&request).await;
                            wrote = true;
                        }
                    }
                    Command::Delivered { seq, request_id } => {
                        tracing::debug!(
                            replica = id,
                            seq,
                            request_id,
                            "replica {id} applies seq {seq}"
                        );
                    }
                    Command::Signal(signal) => {
                        if let Some(r) = &replica {
                            r.signal(match signal {
                                ReplicaSignal::Kill => Signal::SIGKILL,
                                ReplicaSignal::Stop => Signal::SIGSTOP,
                                ReplicaSignal::Continue => Signal::SIGCONT,
                            });
                        }
                    }
                }
            }
            if wrote {
                if let Some(r) = &mut replica {
                    r.flush().await;
                }
            }
            let mut sent = false;
            while let Some(t) = rm.poll_transmit() {
                transport.send(&t).await;
                sent = true;
            }
            if !sent {
                break;
            }
        }
        while let Some(ev) = rm.poll_event() {
            if let RmEvent::Installed { bytes, took, .. } = &ev {
                metrics.transferred(*bytes, *took);
            }
            log(id, &rm, ev);
        }
        let deadline = rm.poll_timeout();
        tokio::select! {
            r = transport.recv(&mut buf) => match r {
                Ok((n, from)) => {
                    let now = Instant::now();
                    rm.set_disk(disk.at(now));
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
            first = next_answer(&mut replica) => {
                // This answer and whatever else the replica has answered meanwhile: their
                // replies then share one `Reply` datagram per front end.
                let mut answer = Some(first);
                let mut handled = 0;
                while let Some(got) = answer.take() {
                    let now = Instant::now();
                    let Some(got) = got else {
                        if let Some(r) = &mut replica {
                            tracing::error!(replica = id, generation = rm.generation(), pid = r.pid(), status = ?r.exit_status(), "replica {id} exited");
                        }
                        replica = None;
                        rm.handle_replica_exited(now);
                        break;
                    };
                    // The replicas' end of a call's trail: the gateway's line for the call
                    // names the same seq next to its request id.
                    if let tessera_protocol::replica_manager::FromReplica::Applied { seq, .. } = &got {
                        tracing::debug!(replica = id, seq = *seq, "replica {id} answered seq {seq}");
                    }
                    rm.handle_replica(now, got);
                    handled += 1;
                    if handled < ANSWERS_PER_WAKEUP {
                        answer = replica.as_mut().and_then(Replica::try_next);
                    }
                }
            },
            _ = crate::sleep_until(deadline) => rm.handle_timeout(Instant::now()),
            Some(scrape) = scrapes.recv() => {
                rm.set_disk(disk.at(Instant::now()));
                let _ = scrape.send(metrics.render(&rm));
            }
            _ = shutdown.changed() => break,
        }
    }
    if let Some(mut r) = replica {
        r.kill().await;
    }
    Ok(())
}

/// The replica's next answer (`None`: it died), or never while no replica runs.
async fn next_answer(
    replica: &mut Option<Replica>,
) -> Option<tessera_protocol::replica_manager::FromReplica> {
    match replica {
        Some(r) => r.next().await,
        None => std::future::pending().await,
    }
}

/// Every recovery line names the replica and its generation.
fn log(id: u8, rm: &ReplicaManager, ev: RmEvent) {
    let generation = rm.generation();
    match ev {
        RmEvent::Fault(report) => tracing::debug!(?report, "fault reported"),
        RmEvent::Guard(GuardEvent::Voted {
            replica: r,
            generation,
            reason,
        }) => tracing::warn!(
            replica = r.get(),
            generation,
            ?reason,
            "voted to replace replica {r} (generation {generation})"
        ),
        RmEvent::Guard(GuardEvent::Learnt {
            replica: r,
            incarnation,
        }) => tracing::info!(
            replica = r.get(),
            generation = incarnation.generation,
            from_seq = incarnation.from_seq,
            "replica {r} is at generation {}",
            incarnation.generation
        ),
        RmEvent::BehindRetention { low, delivered } => tracing::warn!(
            replica = id,
            generation,
            low,
            delivered,
            "replica {id} is behind the sequencer's retention window: state transfer"
        ),
        RmEvent::Replacing {
            reason,
            incarnation,
        } => tracing::warn!(
            replica = id,
            generation = incarnation.generation,
            from_seq = incarnation.from_seq,
            ?reason,
            "replica {id} replaced by generation {} ({reason:?}); state transfer started",
            incarnation.generation
        ),
        RmEvent::ResumedTransfer => tracing::warn!(
            replica = id,
            generation,
            "a state transfer into replica {id} was cut short by a restart: it starts empty and transfers again"
        ),
        RmEvent::Installing { seq, bytes } => tracing::info!(
            replica = id,
            generation,
            seq,
            bytes,
            "installing a vouched-for snapshot into replica {id}"
        ),
        RmEvent::Installed { seq, bytes, took } => tracing::info!(
            replica = id,
            generation,
            seq,
            bytes,
            millis = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            "snapshot installed into replica {id}; replaying what follows it"
        ),
        RmEvent::Chaos(action) => tracing::warn!(
            replica = id,
            generation,
            action = action.as_str(),
            "fault injection into replica {id}: {}",
            action.as_str()
        ),
    }
}

/// `[exactly_once]` as the replicas take it.
fn call_memory(cfg: &Config) -> tessera_types::CallMemory {
    tessera_types::CallMemory {
        max_age_ms: cfg.exactly_once.max_age_ms,
        max_entries: cfg.exactly_once.max_entries,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_configured_call_memory_defaults_to_the_replicas_default() {
        assert_eq!(
            super::call_memory(&crate::config::Config::default()),
            tessera_types::CallMemory::default()
        );
    }
}
