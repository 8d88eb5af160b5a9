//! A sequencer node: the tokio shell around `tessera_protocol::sequencer::Sequencer`.
//! It owns the socket, the durable log and the node's `meta` (view and vote); each log write
//! runs on a blocking thread while the next batch accumulates (group commit).

pub mod log;
pub mod meta;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tessera_protocol::sequencer::{LogOp, Recovered, Sequencer, SequencerConfig};
use tessera_protocol::wire::{Link, NodeId};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::metrics::SequencerMetrics;
use crate::node_link_config;
use crate::transport::{Transport, DRAIN_MAX};
use log::SequencerLog;

enum LogJob {
    Write(LogOp),
    /// Delete segments wholly at or below this seq.
    Forget(u64),
}

/// What the log thread reports: the last write is durable; it appended `entries` (0 for a
/// truncation or a meta write) in `took`.
struct Persisted {
    entries: usize,
    took: Duration,
}

/// Runs sequencer node `id` until `shutdown` turns true, serving `/metrics` on
/// `metrics_address`.
pub async fn run(
    cfg: Config,
    id: u8,
    metrics_address: Option<SocketAddr>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some((address, _)) = cfg.sequencer_node(id) else {
        anyhow::bail!(
            "the configuration has no sequencer {id}: [sequencer] is 1, [[sequencer.others]]              list the others"
        );
    };
    let dir = cfg.sequencer_dir(id);
    let (log, recovered) = SequencerLog::open(&dir)
        .with_context(|| format!("opening the sequencer log in {}", dir.display()))?;
    let meta = meta::read(&dir)?;
    // The keys first: a node whose key does not match the cluster file says so, whatever
    // holds its port.
    let link = Link::new(node_link_config(&cfg, NodeId::Sequencer(id), None)?)?;
    let transport = Transport::bind(&cfg, address, false, 0)
        .with_context(|| format!("binding sequencer {id} to {address}"))?;
    let scfg = SequencerConfig {
        timeouts: cfg.protocol_timeouts(),
        retain_max: cfg.sequencer.retain_max,
        retain_min: cfg.sequencer.retain_min,
        instance: crate::clock::unix_ms(),
        accepts: |bytes| tessera_types::Call::decode(bytes).is_ok(),
        me: id,
        nodes: cfg.sequencer_nodes().into_iter().map(|(n, _)| n).collect(),
        noop: tessera_types::Call::noop().encode(),
        noop_reply_to: address,
    };
    let resumed = recovered.last().map(|e| e.seq);
    let view = meta.view;
    let recovered = Recovered {
        entries: recovered,
        forgotten: log.forgotten(),
        meta,
    };
    let mut seq = Sequencer::new(link, scfg, recovered, 1, Instant::now());
    tracing::info!(id, %address, next_seq = seq.next_seq(), ?resumed, view, "sequencer up");

    let (job_tx, job_rx) = std::sync::mpsc::channel::<LogJob>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<std::io::Result<Persisted>>();
    let metrics = SequencerMetrics::new()?;
    // Free space where the log is, for status and metrics.
    let mut disk = crate::disk::DiskWatch::new(dir.clone());
    let mut scrapes = crate::metrics::serve_for_loop(metrics_address).await;
    let writer = std::thread::Builder::new()
        .name("sequencer-log".into())
        .spawn(move || log_writer(log, dir, job_rx, done_tx))?;

    let mut buf = vec![0u8; 65_536];
    let mut role = seq.role();
    let result = loop {
        while let Some(op) = seq.poll_persist() {
            if job_tx.send(LogJob::Write(op)).is_err() {
                break;
            }
        }
        if let Some(upto) = seq.poll_truncate() {
            let _ = job_tx.send(LogJob::Forget(upto));
        }
        if seq.role() != role {
            role = seq.role();
            let (view, primary) = role;
            match primary {
                Some(p) if p == id => {
                    tracing::info!(view, next_seq = seq.next_seq(), "primary now")
                }
                Some(p) => tracing::info!(view, primary = p, "standby"),
                None => tracing::info!(view, "no primary known: electing"),
            }
        }
        while let Some(t) = seq.poll_transmit() {
            transport.send(&t).await;
        }
        let deadline = seq.poll_timeout();
        tokio::select! {
            r = transport.recv(&mut buf) => match r {
                Ok((n, from)) => {
                    let now = Instant::now();
                    seq.set_wall_clock_ms(crate::clock::unix_ms());
                    seq.set_disk(disk.at(now));
                    seq.handle_datagram(now, from, &buf[..n]);
                    // Take the rest of the burst before persisting and sending: one larger
                    // log batch and one pass over the transmits instead of one per datagram.
                    for _ in 1..DRAIN_MAX {
                        match transport.try_recv(&mut buf) {
                            Ok(Some((n, from))) => seq.handle_datagram(now, from, &buf[..n]),
                            _ => break,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "receive failed"),
            },
            done = done_rx.recv() => match done {
                Some(Ok(p)) => {
                    if p.entries > 0 {
                        metrics.persisted(p.entries, p.took);
                    }
                    seq.handle_persisted(Instant::now());
                }
                // Without a working log nothing more may be ordered: stop, and let the
                // supervisor restart us on whatever the disk still holds.
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("sequencer log write failed")),
                None => break Err(anyhow::anyhow!("sequencer log writer stopped")),
            },
            _ = crate::sleep_until(deadline) => seq.handle_timeout(Instant::now()),
            Some(scrape) = scrapes.recv() => {
                seq.set_disk(disk.at(Instant::now()));
                let _ = scrape.send(metrics.render(&seq));
            }
            _ = shutdown.changed() => break Ok(()),
        }
    };
    drop(job_tx);
    let _ = writer.join();
    result
}

fn log_writer(
    mut log: SequencerLog,
    dir: std::path::PathBuf,
    jobs: std::sync::mpsc::Receiver<LogJob>,
    done: mpsc::UnboundedSender<std::io::Result<Persisted>>,
) {
    while let Ok(job) = jobs.recv() {
        match job {
            LogJob::Write(op) => {
                let began = Instant::now();
                let (entries, r) = match &op {
                    LogOp::Append(batch) => (batch.len(), log.append(batch)),
                    LogOp::TruncateAfter(keep) => (0, log.truncate_after(*keep)),
                    LogOp::Meta(m) => (0, meta::write(&dir, m)),
                };
                let r = r.map(|()| Persisted {
                    entries,
                    took: began.elapsed(),
                });
                let failed = r.is_err();
                if done.send(r).is_err() || failed {
                    return;
                }
            }
            LogJob::Forget(upto) => {
                if let Err(e) = log.truncate(upto) {
                    tracing::warn!(error = %e, upto, "log truncation failed");
                }
            }
        }
    }
}
