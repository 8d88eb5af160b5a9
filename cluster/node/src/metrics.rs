//! Prometheus metrics of the cluster roles (`docs/observability.md` lists them all).
//!
//! The protocol cores count; the shells export. A sequencer or replica manager owns its
//! [`Registry`] inside its event loop: a scrape of its `metrics_address` asks the loop, which
//! copies the core's counters into the registry and renders it there and then, so nothing is
//! copied between scrapes and an unscraped role pays only for the few histograms it observes
//! as things happen (fsync durations, batch sizes, state transfers). The front end, which runs
//! in the gateway's process, adds its metrics to the gateway's registry.

use std::net::SocketAddr;
use std::time::Duration;

use prometheus::core::{Atomic, GenericCounter};
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use tessera_protocol::front_end::FrontEndStats;
use tessera_protocol::replica_manager::ReplicaManager;
use tessera_protocol::sequencer::Sequencer;
use tessera_protocol::wire::{DiskSpace, ReplicaState, WireStats};
use tessera_protocol::ReplicaId;
use tokio::sync::{mpsc, oneshot};

/// The media type of the text format.
pub use tessera_gateway::metrics::CONTENT_TYPE;

/// Sets a counter to the core's running total (counters only move up; the core's totals
/// only grow while the process lives).
pub fn set_counter<P: Atomic<T = u64>>(c: &GenericCounter<P>, total: u64) {
    let now = c.get();
    if total > now {
        c.inc_by(total - now);
    }
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A registry with the `process_start_time_seconds` every role exports (a restart shows as a
/// change of it).
pub fn registry(labels: &[(&str, String)]) -> Result<Registry, prometheus::Error> {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let registry = Registry::new_custom(None, Some(labels))?;
    let start = prometheus::Gauge::new(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds",
    )?;
    start.set(crate::clock::unix_ms() as f64 / 1000.0);
    registry.register(Box::new(start))?;
    Ok(registry)
}

/// Renders a registry in the text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut out) {
        tracing::error!(error = %e, "rendering metrics failed");
    }
    out
}

/// What an event loop receives from its metrics listener: render now, answer here.
pub type ScrapeRequest = oneshot::Sender<String>;

/// Serves `GET /metrics` on `address` for an event loop: each scrape is sent to the loop
/// through the returned receiver, which answers with the rendered text. A listener that
/// cannot bind is logged and the role runs without one: metrics must never keep a role from
/// serving.
pub async fn serve_for_loop(address: Option<SocketAddr>) -> mpsc::Receiver<ScrapeRequest> {
    let (tx, rx) = mpsc::channel::<ScrapeRequest>(4);
    let Some(address) = address else {
        return rx;
    };
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => {
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let tx = tx.clone();
                    async move { scrape(&tx).await }
                }),
            );
            tracing::info!(%address, "metrics on http://{address}/metrics");
            tokio::spawn(async move {
                let served = tessera_gateway::server::serve_with(
                    listener,
                    router,
                    tessera_gateway::server::ServeOptions::default(),
                    std::future::pending(),
                )
                .await;
                if let Err(e) = served {
                    tracing::error!(%address, error = %e, "metrics listener stopped");
                }
            });
        }
        Err(e) => tracing::error!(
            %address,
            error = %e,
            "cannot listen for metrics scrapes; running without metrics"
        ),
    }
    rx
}

/// How long a scrape waits for a busy event loop.
const SCRAPE_WAIT: Duration = Duration::from_secs(5);

async fn scrape(tx: &mpsc::Sender<ScrapeRequest>) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let (answer, rendered) = oneshot::channel();
    let text = match tx.send_timeout(answer, SCRAPE_WAIT).await {
        Ok(()) => tokio::time::timeout(SCRAPE_WAIT, rendered)
            .await
            .ok()
            .and_then(Result::ok),
        Err(_) => None,
    };
    match text {
        Some(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the role did not answer the scrape in time\n",
        )
            .into_response(),
    }
}

/// Datagrams dropped by reason, as one labelled counter.
struct Drops(IntCounterVec);

impl Drops {
    fn new(registry: &Registry, name: &str, who: &str) -> Result<Drops, prometheus::Error> {
        let v = IntCounterVec::new(
            Opts::new(
                name,
                format!(
                    "Datagrams the {who} dropped before decoding, by reason: bad_mac (no valid \
                     tag from the sender's key), unknown_sender (a node with no public key in \
                     the configuration), not_for_me (no tag for this node), old_epoch (from a \
                     sender's earlier start), replayed (seen before), malformed, truncated, \
                     bad_magic, bad_version, wrong_cluster, oversize (a reassembled message over \
                     the limit)"
                ),
            ),
            &["reason"],
        )?;
        registry.register(Box::new(v.clone()))?;
        Ok(Drops(v))
    }

    fn set(&self, s: &WireStats) {
        for (reason, n) in [
            ("bad_mac", s.bad_mac),
            ("unknown_sender", s.unknown_sender),
            ("not_for_me", s.not_for_me),
            ("old_epoch", s.old_epoch),
            ("replayed", s.replayed),
            ("malformed", s.malformed),
            ("truncated", s.truncated),
            ("bad_magic", s.bad_magic),
            ("bad_version", s.bad_version),
            ("wrong_cluster", s.wrong_cluster),
            ("oversize", s.oversize),
        ] {
            set_counter(&self.0.with_label_values(&[reason]), n);
        }
    }
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
    let g = IntGauge::new(name, help)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(registry: &Registry, name: &str, help: &str) -> Result<IntCounter, prometheus::Error> {
    let c = IntCounter::new(name, help)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: Vec<f64>,
) -> Result<Histogram, prometheus::Error> {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

/// Free space where a role writes: a full disk stops the role (`docs/recovery.md`, "A full
/// disk"), and these let an operator see it coming. The reading is the one the core reports
/// in its status (`crate::disk::DiskWatch`, refreshed by the shell before each scrape).
///
/// Label-less vectors rather than plain gauges: a family without a child is left out of the
/// output, so a directory that could not be read yet exports nothing instead of a 0 that
/// would read as a full disk.
pub struct DiskGauges {
    available: IntGaugeVec,
    size: IntGaugeVec,
}

impl DiskGauges {
    pub fn new(registry: &Registry) -> Result<DiskGauges, prometheus::Error> {
        let vec = |name: &str, help: &str| -> Result<IntGaugeVec, prometheus::Error> {
            let v = IntGaugeVec::new(Opts::new(name, help), &[])?;
            registry.register(Box::new(v.clone()))?;
            Ok(v)
        };
        Ok(DiskGauges {
            available: vec("tessera_data_dir_available_bytes", "Bytes an unprivileged process can still write on the file system holding this role's data directory (statvfs f_bavail * f_frsize)")?,
            size: vec("tessera_data_dir_size_bytes", "Size of the file system holding this role's data directory (statvfs f_blocks * f_frsize)")?,
        })
    }

    /// `None` (no reading yet) leaves the gauges as they are.
    pub fn set(&self, disk: Option<DiskSpace>) {
        let Some(space) = disk else {
            return;
        };
        self.available
            .with_label_values::<&str>(&[])
            .set(gauge(space.available));
        self.size
            .with_label_values::<&str>(&[])
            .set(gauge(space.size));
    }
}

/// The sequencer's metrics.
pub struct SequencerMetrics {
    registry: Registry,
    next_seq: IntGauge,
    retained: IntGauge,
    lowest_retained: IntGauge,
    view: IntGauge,
    primary: IntGauge,
    committed: IntGauge,
    batch: Histogram,
    fsync: Histogram,
    nacks_served: IntCounter,
    nacked_entries: IntCounter,
    retransmitted: IntCounter,
    multicast: IntCounter,
    refused: IntCounter,
    drops: Drops,
    disk: DiskGauges,
}

impl SequencerMetrics {
    pub fn new() -> Result<SequencerMetrics, prometheus::Error> {
        let r = registry(&[])?;
        Ok(SequencerMetrics {
            next_seq: int_gauge(&r, "tessera_sequencer_next_seq", "The sequence number the next request will be given")?,
            retained: int_gauge(&r, "tessera_sequencer_retained_entries", "Sequenced entries kept in memory for retransmission to replica managers")?,
            lowest_retained: int_gauge(&r, "tessera_sequencer_lowest_retained_seq", "The lowest sequence number still kept for retransmission; a replica behind it catches up by state transfer")?,
            view: int_gauge(&r, "tessera_sequencer_view", "The view this sequencer node is in (a new view begins with each failover)")?,
            primary: int_gauge(&r, "tessera_sequencer_primary", "1 while this sequencer node is the primary (orders and announces), 0 as a standby")?,
            committed: int_gauge(&r, "tessera_sequencer_committed_seq", "Highest sequence number a majority of the sequencer nodes hold durably")?,
            batch: histogram(&r, "tessera_sequencer_batch_entries", "Entries made durable by one log append and fsync (group commit)", prometheus::exponential_buckets(1.0, 2.0, 13)?)?,
            fsync: histogram(&r, "tessera_sequencer_fsync_duration_seconds", "Time to append one batch to the sequencer log and fsync it", prometheus::exponential_buckets(0.0001, 2.0, 16)?)?,
            nacks_served: counter(&r, "tessera_sequencer_nacks_served_total", "NACKs from replica managers answered with retransmissions")?,
            nacked_entries: counter(&r, "tessera_sequencer_nacked_entries_total", "Entries resent in answer to NACKs")?,
            retransmitted: counter(&r, "tessera_sequencer_retransmitted_entries_total", "Entries resent unasked to a replica manager whose acknowledgements stalled")?,
            multicast: counter(&r, "tessera_sequencer_multicast_entries_total", "Entries multicast to the replica managers for the first time (requests sequenced and made durable)")?,
            refused: counter(&r, "tessera_sequencer_refused_total", "Submissions refused: not a request, too large for one message, or too many waiting for the log")?,
            drops: Drops::new(&r, "tessera_sequencer_datagrams_dropped_total", "sequencer")?,
            disk: DiskGauges::new(&r)?,
            registry: r,
        })
    }

    /// One log batch: its size and how long its append and fsync took.
    pub fn persisted(&self, entries: usize, took: Duration) {
        self.batch.observe(entries as f64);
        self.fsync.observe(took.as_secs_f64());
    }

    /// Copies the core's state in and renders the registry.
    pub fn render(&self, s: &Sequencer) -> String {
        let status = s.status();
        self.next_seq.set(gauge(status.next_seq));
        self.retained.set(gauge(status.retained));
        self.lowest_retained.set(gauge(status.lowest_retained));
        self.view.set(gauge(status.view));
        self.primary.set(i64::from(s.is_primary()));
        self.committed.set(gauge(status.committed));
        let c = s.counters();
        set_counter(&self.nacks_served, c.nacks_served);
        set_counter(&self.nacked_entries, c.nacked_entries);
        set_counter(&self.retransmitted, c.retransmitted_entries);
        set_counter(&self.multicast, c.multicast_entries);
        set_counter(&self.refused, s.refused());
        self.drops.set(s.stats());
        self.disk.set(status.disk);
        render(&self.registry)
    }
}

/// A replica manager's metrics, labelled with its replica and implementation.
pub struct RmMetrics {
    registry: Registry,
    applied: IntGauge,
    synced: IntGauge,
    high: IntGauge,
    lag: IntGauge,
    state: IntGaugeVec,
    faults: IntGauge,
    replacements: IntCounter,
    transfers: IntCounter,
    transfer_seconds: Histogram,
    transfer_bytes: Histogram,
    disagreements: IntCounter,
    votes_sent: IntCounter,
    votes_received: IntCounter,
    held: IntGauge,
    executed: IntCounter,
    nacks: IntCounter,
    reasked: IntCounter,
    ignored: IntCounter,
    drops: Drops,
    disk: DiskGauges,
}

const STATES: [ReplicaState; 5] = [
    ReplicaState::Up,
    ReplicaState::Lying,
    ReplicaState::VotedOut,
    ReplicaState::Recovering,
    ReplicaState::Down,
];

impl RmMetrics {
    pub fn new(id: ReplicaId, implementation: &str) -> Result<RmMetrics, prometheus::Error> {
        let r = registry(&[
            ("replica", id.to_string()),
            ("implementation", implementation.to_owned()),
        ])?;
        let state = IntGaugeVec::new(
            Opts::new(
                "tessera_replica_state",
                "1 for the replica's current state as its manager sees it (up, lying: its latest \
                 answers were wrong 3 times in a row, voted-out: a manager voted to replace it, \
                 recovering: a state transfer runs, down: no replica process), 0 for the others",
            ),
            &["state"],
        )?;
        r.register(Box::new(state.clone()))?;
        Ok(RmMetrics {
            applied: int_gauge(&r, "tessera_rm_applied_seq", "The last sequence number the replica answered (applied)")?,
            synced: int_gauge(&r, "tessera_rm_synced_seq", "Everything up to this sequence number is applied durably by the replica (what acknowledgements claim)")?,
            high: int_gauge(&r, "tessera_rm_known_seq", "The highest sequence number this manager knows exists (announced by the sequencer, or received)")?,
            lag: int_gauge(&r, "tessera_rm_lag_seqs", "Sequence numbers known to exist that the replica has not answered yet (known minus applied)")?,
            state,
            faults: int_gauge(&r, "tessera_replica_consecutive_faults", "The replica's consecutive wrong answers up to its latest verdict (3 in a row draw a vote)")?,
            replacements: counter(&r, "tessera_replica_replacements_total", "Times the replica was replaced since the cluster was created (its generation; kept across manager restarts)")?,
            transfers: counter(&r, "tessera_rm_state_transfers_total", "State transfers into the replica completed since the manager started")?,
            transfer_seconds: histogram(&r, "tessera_rm_state_transfer_duration_seconds", "Time from the start of a state transfer to the snapshot installed", prometheus::exponential_buckets(0.005, 2.0, 14)?)?,
            transfer_bytes: histogram(&r, "tessera_rm_state_transfer_size_bytes", "Size of the snapshot a state transfer installed", prometheus::exponential_buckets(256.0, 4.0, 12)?)?,
            disagreements: counter(&r, "tessera_rm_checkpoint_disagreements_total", "Checkpoints at which a replica's state digest differed from the one two others agreed on, once per checkpoint and replica")?,
            votes_sent: counter(&r, "tessera_rm_votes_sent_total", "Votes this manager cast to replace a replica (any replica)")?,
            votes_received: counter(&r, "tessera_rm_votes_received_total", "Votes received from other managers, resends included")?,
            held: int_gauge(&r, "tessera_rm_holdback_entries", "Entries received but not yet delivered to the replica (waiting for a gap or for room)")?,
            executed: counter(&r, "tessera_rm_executed_total", "Requests executed by the current replica process")?,
            nacks: counter(&r, "tessera_rm_nacks_sent_total", "NACKs sent to the sequencer for missing sequence numbers")?,
            reasked: counter(&r, "tessera_rm_reasked_replies_total", "Replies resent from the cache because a front end asked again")?,
            ignored: counter(&r, "tessera_rm_ignored_messages_total", "Authenticated messages that make no sense for a replica manager (wrong kind or sender)")?,
            drops: Drops::new(&r, "tessera_rm_datagrams_dropped_total", "replica manager")?,
            disk: DiskGauges::new(&r)?,
            registry: r,
        })
    }

    /// A state transfer finished.
    pub fn transferred(&self, bytes: u64, took: Duration) {
        self.transfer_seconds.observe(took.as_secs_f64());
        self.transfer_bytes.observe(bytes as f64);
    }

    /// Copies the core's state in and renders the registry.
    pub fn render(&self, rm: &ReplicaManager) -> String {
        let s = rm.status();
        self.applied.set(gauge(s.last_seq));
        self.synced.set(gauge(s.synced));
        self.high.set(gauge(s.high));
        self.lag.set(gauge(s.high.saturating_sub(s.last_seq)));
        for state in STATES {
            self.state
                .with_label_values(&[state.as_str()])
                .set(i64::from(state == s.state));
        }
        self.faults.set(i64::from(s.consecutive_faults));
        set_counter(&self.replacements, u64::from(s.generation));
        let c = rm.counters();
        set_counter(&self.transfers, c.transfers);
        let g = rm.guard_counters();
        set_counter(&self.disagreements, g.checkpoint_disagreements);
        set_counter(&self.votes_sent, g.votes_sent);
        set_counter(&self.votes_received, g.votes_received);
        self.held.set(gauge(rm.held() as u64));
        set_counter(&self.executed, s.executed);
        set_counter(&self.nacks, c.nacks_sent);
        set_counter(&self.reasked, c.reasked);
        set_counter(&self.ignored, c.ignored);
        self.drops.set(rm.stats());
        self.disk.set(s.disk);
        render(&self.registry)
    }
}

/// The front end's metrics, in the gateway's registry. Updated by the front-end task: the
/// counters from the core's totals once per loop pass (a burst of datagrams), the histograms
/// per answer.
#[derive(Clone)]
pub struct FrontEndMetrics {
    submitted: IntCounter,
    answered: IntCounter,
    unavailable: IntCounter,
    submit_retransmits: IntCounter,
    reasks: IntCounter,
    /// Per replica (by index): wrong, missing.
    verdicts: Vec<(IntCounter, IntCounter)>,
    agreement: Histogram,
    replies: Histogram,
    drops: IntCounter,
    /// Fast reads: started, answered on the fast path, ordered instead.
    fast: (IntCounter, IntCounter, IntCounter),
    /// Reads ordered at once, with too many calls in flight for the fast path.
    reads_ordered_under_load: IntCounter,
    /// Fast reads that took the front end's own index, not the primary's.
    own_index: IntCounter,
    /// Fast reads whose read index was asked for again.
    index_again: IntCounter,
}

impl FrontEndMetrics {
    pub fn new(registry: &Registry) -> Result<FrontEndMetrics, prometheus::Error> {
        let verdicts = IntCounterVec::new(
            Opts::new(
                "tessera_front_end_verdicts_total",
                "Fault reports this front end sent about a replica: wrong (its reply differed \
                 from the one two agreed on) or missing (no reply within the linger window)",
            ),
            &["replica", "verdict"],
        )?;
        registry.register(Box::new(verdicts.clone()))?;
        let agreement = histogram(
            registry,
            "tessera_front_end_agreement_seconds",
            "Time from submitting a request to having two byte-identical replies",
            tessera_gateway::metrics::duration_buckets(),
        )?;
        Ok(FrontEndMetrics {
            submitted: counter(registry, "tessera_front_end_requests_total", "Requests submitted to the cluster")?,
            answered: counter(registry, "tessera_front_end_answered_total", "Requests answered with a reply two replicas agreed on")?,
            unavailable: counter(registry, "tessera_front_end_unavailable_total", "Requests that no two replicas agreed on within the request timeout (a write among them may still take effect)")?,
            submit_retransmits: counter(registry, "tessera_front_end_submit_retransmits_total", "Submissions sent again because their sequence number was not known yet")?,
            reasks: counter(registry, "tessera_front_end_reasks_total", "Replies asked for again from a replica manager, per sequence number and manager")?,
            verdicts: ReplicaId::ALL
                .iter()
                .map(|r| {
                    let label = r.to_string();
                    (
                        verdicts.with_label_values(&[&label, "wrong"]),
                        verdicts.with_label_values(&[&label, "missing"]),
                    )
                })
                .collect(),
            agreement,
            replies: histogram(registry, "tessera_front_end_replies_awaited", "Replies that had arrived when two agreed: 2 when the first two agree, more when a replica differed or was slower", vec![2.0, 3.0, 4.0])?,
            drops: counter(registry, "tessera_front_end_datagrams_dropped_total", "Datagrams the front end dropped as undecodable or unauthenticated")?,
            fast: (
                counter(registry, "tessera_front_end_fast_reads_total", "Read-only calls started on the fast read path (docs/protocol.md, \"Fast reads\")")?,
                counter(registry, "tessera_front_end_fast_reads_answered_total", "Fast reads answered without ordering: two replicas alike at or beyond the read index")?,
                counter(registry, "tessera_front_end_fast_reads_ordered_total", "Fast reads that fell back to ordering (no read index or no two replies alike in time)")?,
            ),
            reads_ordered_under_load: counter(registry, "tessera_front_end_reads_ordered_under_load_total", "Read-only calls ordered at once because [front_end] fast_reads_max_in_flight calls were in flight (docs/performance.md, \"Fast reads under load\")")?,
            own_index: counter(registry, "tessera_front_end_fast_reads_own_index_total", "Fast reads that took the front end's own read index, without asking the primary: the cluster's only front end (docs/protocol.md, \"Fast reads\")")?,
            index_again: counter(registry, "tessera_front_end_fast_reads_index_asked_again_total", "Fast reads whose read index had not come within a re-ask interval and was asked for again (a lost question or answer, or a new primary)")?,
        })
    }

    /// One answer: how long agreement took and how many replies it waited for.
    pub fn answered(&self, took: Duration, replies: u8) {
        self.agreement.observe(took.as_secs_f64());
        self.replies.observe(f64::from(replies));
    }

    /// Copies the core's totals in.
    pub fn update(&self, s: &FrontEndStats, dropped: u64) {
        set_counter(&self.submitted, s.submitted);
        set_counter(&self.answered, s.answered);
        set_counter(&self.unavailable, s.unavailable);
        set_counter(&self.submit_retransmits, s.submit_retransmits);
        set_counter(&self.reasks, s.reasks);
        for ((wrong, missing), (w, m)) in self
            .verdicts
            .iter()
            .zip(s.wrong_by_replica.iter().zip(&s.missing_by_replica))
        {
            set_counter(wrong, *w);
            set_counter(missing, *m);
        }
        set_counter(&self.drops, dropped);
        set_counter(&self.fast.0, s.fast_reads);
        set_counter(&self.fast.1, s.fast_answered);
        set_counter(&self.fast.2, s.fast_fallbacks);
        set_counter(&self.reads_ordered_under_load, s.reads_ordered_under_load);
        set_counter(&self.own_index, s.fast_own_index);
        set_counter(&self.index_again, s.fast_index_asked_again);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, name: &str) -> Option<i64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn disk_gauges_export_the_reading_and_nothing_before_there_is_one() {
        let r = Registry::new();
        let disk = DiskGauges::new(&r).expect("registered");
        disk.set(None);
        assert!(!render(&r).contains("tessera_data_dir"), "{}", render(&r));

        disk.set(Some(DiskSpace {
            available: 3 << 30,
            size: 8 << 30,
        }));
        let text = render(&r);
        assert_eq!(
            value(&text, "tessera_data_dir_available_bytes"),
            Some(3 << 30)
        );
        assert_eq!(value(&text, "tessera_data_dir_size_bytes"), Some(8 << 30));

        // A directory that could no longer be read: the last values stay.
        disk.set(None);
        assert_eq!(render(&r), text);
    }
}
