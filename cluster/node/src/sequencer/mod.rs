//! The sequencer node: the tokio shell around `tessera_protocol::sequencer::Sequencer`.
//! It owns the socket and the durable log; the fsync of each batch runs on a blocking thread
//! while the next batch accumulates (group commit).

pub mod log;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tessera_protocol::sequencer::{Recovered, Sequencer, SequencerConfig};
use tessera_protocol::wire::{Link, NodeId, Sequenced};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::metrics::SequencerMetrics;
use crate::node_link_config;
use crate::transport::{Transport, DRAIN_MAX};
use log::SequencerLog;

enum LogJob {
    Append(Vec<Sequenced>),
    Truncate(u64),
}

/// What the log thread reports: everything up to `upto` is durable; the batch of `entries`
/// took `took` to append and fsync.
struct Persisted {
    upto: u64,
    entries: usize,
    took: Duration,
}

/// Runs the sequencer until `shutdown` turns true, serving `/metrics` on `metrics_address`.
pub async fn run(
    cfg: Config,
    metrics_address: Option<SocketAddr>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let dir = cfg.sequencer_dir();
    let (log, recovered) = SequencerLog::open(&dir)
        .with_context(|| format!("opening the sequencer log in {}", dir.display()))?;
    let transport = Transport::bind(&cfg, cfg.sequencer.address, false, 0)
        .with_context(|| format!("binding the sequencer to {}", cfg.sequencer.address))?;
    let link = Link::new(node_link_config(&cfg, NodeId::Sequencer, None)?)?;
    let scfg = SequencerConfig {
        timeouts: cfg.protocol_timeouts(),
        retain_max: cfg.sequencer.retain_max,
        retain_min: cfg.sequencer.retain_min,
        instance: crate::clock::unix_ms(),
        accepts: |bytes| tessera_types::Call::decode(bytes).is_ok(),
    };
    let resumed = recovered.last().map(|e| e.seq);
    let recovered = Recovered {
        entries: recovered,
        forgotten: log.forgotten(),
    };
    let mut seq = Sequencer::new(link, scfg, recovered, 1, Instant::now());
    tracing::info!(address = %cfg.sequencer.address, next_seq = seq.next_seq(), ?resumed, "sequencer up");

    let (job_tx, job_rx) = std::sync::mpsc::channel::<LogJob>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<std::io::Result<Persisted>>();
    let metrics = SequencerMetrics::new()?;
    let mut scrapes = crate::metrics::serve_for_loop(metrics_address).await;
    let writer = std::thread::Builder::new()
        .name("sequencer-log".into())
        .spawn(move || log_writer(log, job_rx, done_tx))?;

    let mut buf = vec![0u8; 65_536];
    let result = loop {
        while let Some(batch) = seq.poll_persist() {
            if job_tx.send(LogJob::Append(batch)).is_err() {
                break;
            }
        }
        if let Some(upto) = seq.poll_truncate() {
            let _ = job_tx.send(LogJob::Truncate(upto));
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
                    metrics.persisted(p.entries, p.took);
                    seq.handle_persisted(Instant::now(), p.upto);
                }
                // Without a working log nothing more may be ordered: stop, and let the
                // supervisor restart us on whatever the disk still holds.
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("sequencer log write failed")),
                None => break Err(anyhow::anyhow!("sequencer log writer stopped")),
            },
            _ = crate::sleep_until(deadline) => seq.handle_timeout(Instant::now()),
            Some(scrape) = scrapes.recv() => {
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
    jobs: std::sync::mpsc::Receiver<LogJob>,
    done: mpsc::UnboundedSender<std::io::Result<Persisted>>,
) {
    while let Ok(job) = jobs.recv() {
        match job {
            LogJob::Append(batch) => {
                let Some(upto) = batch.last().map(|e| e.seq) else {
                    continue;
                };
                let began = Instant::now();
                let r = log.append(&batch).map(|()| Persisted {
                    upto,
                    entries: batch.len(),
                    took: began.elapsed(),
                });
                let failed = r.is_err();
                if done.send(r).is_err() || failed {
                    return;
                }
            }
            LogJob::Truncate(upto) => {
                if let Err(e) = log.truncate(upto) {
                    tracing::warn!(error = %e, upto, "log truncation failed");
                }
            }
        }
    }
}
