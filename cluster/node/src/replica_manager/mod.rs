//! The replica manager node: the tokio shell around
//! `tessera_protocol::replica_manager::ReplicaManager`, owning the UDP sockets and the
//! replica child process.
//!
//! Delivery is pipelined: every request the hold-back queue releases is written to the child
//! at once, and replies come back in order. Durability is group commit: whenever the replica
//! has applied more than it has synced and no sync is outstanding, one `Sync` covers
//! everything applied so far, and only then does the manager's ack claim it applied.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tessera_protocol::replica_manager::{ReplicaInfo, ReplicaManager, RmConfig, RmEvent};
use tessera_protocol::wire::{Link, NodeId, ReplicaState};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::link_config;
use crate::replica_host::{HostRequest, HostResponse, ReplicaProcess, ReplicaSpec};
use crate::transport::Transport;

/// Digests are computed only when the replica is idle, and at most this often: on the
/// persistent replicas a digest walks the whole state.
const DIGEST_EVERY: Duration = Duration::from_millis(200);

/// What the manager is waiting for from its child, in order.
enum Pending {
    Apply(u64),
    Sync,
    Digest,
}

/// Runs replica manager `id` until `shutdown` turns true.
pub async fn run(cfg: Config, id: u8, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let Some(me) = cfg.replica_manager(id).cloned() else {
        bail!("no [[replica_manager]] with id {id} in the configuration");
    };
    let spec = ReplicaSpec {
        exe: std::env::current_exe().context("locating the tesserad binary")?,
        implementation: me.implementation,
        dir: cfg.rm_dir(id).join("replica"),
    };
    std::fs::create_dir_all(&spec.dir)
        .with_context(|| format!("creating {}", spec.dir.display()))?;
    let (mut child, mut reader) =
        ReplicaProcess::spawn(&spec).context("starting the replica process")?;
    let applied = match reader.next().await? {
        Some(HostResponse::Ready { applied }) => applied,
        other => bail!("replica did not start: {other:?}"),
    };
    let (resp_tx, mut resp_rx) = mpsc::unbounded_channel();
    // EOF or a broken frame both end the channel: the main loop treats that as the
    // replica having died.
    tokio::spawn(async move {
        while let Ok(Some(r)) = reader.next().await {
            if resp_tx.send(r).is_err() {
                break;
            }
        }
    });

    let transport = Transport::bind(&cfg, me.address, true, u64::from(id))
        .with_context(|| format!("binding replica manager {id} to {}", me.address))?;
    let link = Link::new(link_config(&cfg, NodeId::ReplicaManager(id)))?;
    let rcfg = RmConfig {
        id,
        timeouts: cfg.protocol_timeouts(),
        ..RmConfig::default()
    };
    let mut rm = ReplicaManager::new(link, rcfg, applied, Instant::now());
    let mut info = ReplicaInfo {
        implementation: me.implementation.as_str().to_owned(),
        pid: child.pid(),
        state: ReplicaState::Up,
        replacements: 0,
        consecutive_faults: 0,
        digest: None,
        executed: 0,
    };
    rm.set_replica_info(info.clone());
    tracing::info!(id, implementation = me.implementation.as_str(), pid = child.pid(), address = %me.address, applied, "replica manager up");

    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut synced = applied;
    let mut last_applied = applied;
    let mut digest_seq = u64::MAX;
    let mut next_digest = Instant::now();
    let mut buf = vec![0u8; 65_536];
    loop {
        let mut wrote = false;
        while let Some(entry) = rm.poll_deliver() {
            child
                .send(&HostRequest::Apply {
                    seq: entry.seq,
                    request: entry.request,
                })
                .await?;
            pending.push_back(Pending::Apply(entry.seq));
            wrote = true;
        }
        let sync_outstanding = pending.iter().any(|p| matches!(p, Pending::Sync));
        if last_applied > synced && !sync_outstanding {
            child.send(&HostRequest::Sync).await?;
            pending.push_back(Pending::Sync);
            wrote = true;
        }
        let now = Instant::now();
        if pending.is_empty() && digest_seq != last_applied && now >= next_digest {
            child.send(&HostRequest::Digest).await?;
            pending.push_back(Pending::Digest);
            next_digest = now + DIGEST_EVERY;
            wrote = true;
        }
        if wrote {
            child.flush().await?;
        }
        while let Some(t) = rm.poll_transmit() {
            transport.send(&t).await;
        }
        while let Some(ev) = rm.poll_event() {
            match ev {
                RmEvent::Fault(report) => tracing::debug!(?report, "fault reported"),
                RmEvent::BehindRetention { low } => {
                    tracing::error!(
                        low,
                        delivered = rm.delivered(),
                        "behind the sequencer's retention window; state transfer needed"
                    )
                }
            }
        }
        let deadline = match (
            rm.poll_timeout(),
            (digest_seq != last_applied).then_some(next_digest),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            r = transport.recv(&mut buf) => match r {
                Ok((n, from)) => rm.handle_datagram(Instant::now(), from, &buf[..n]),
                Err(e) => tracing::warn!(error = %e, "receive failed"),
            },
            resp = resp_rx.recv() => {
                let Some(resp) = resp else {
                    let status = child.try_exited();
                    bail!("replica process {} exited ({status:?})", child.pid());
                };
                let expected = pending.pop_front();
                match (expected, resp) {
                    (Some(Pending::Apply(want)), HostResponse::Applied { seq, reply }) if seq == want => {
                        last_applied = seq;
                        info.executed += 1;
                        // Status promises the digest *at last_seq*: withdraw a stale one.
                        if info.digest.take().is_some() {
                            rm.set_replica_info(info.clone());
                        }
                        rm.handle_reply(Instant::now(), seq, reply);
                    }
                    (Some(Pending::Sync), HostResponse::Synced { applied }) => {
                        synced = applied;
                        rm.handle_durable(applied);
                    }
                    (Some(Pending::Digest), HostResponse::Digest { applied, digest }) => {
                        digest_seq = applied;
                        info.digest = (applied == last_applied).then_some(digest);
                        rm.set_replica_info(info.clone());
                    }
                    (_, HostResponse::Failed(why)) => bail!("replica failed: {why}"),
                    (_, other) => bail!("replica answered out of order: {other:?}"),
                }
            },
            _ = crate::sleep_until(deadline) => rm.handle_timeout(Instant::now()),
            _ = shutdown.changed() => break,
        }
    }
    child.kill().await;
    Ok(())
}
