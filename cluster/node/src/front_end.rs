//! The front-end core as a library: [`FrontEndClient::submit`] takes a request and returns the
//! reply two replicas agreed on. A tokio task owns the protocol state machine
//! (`tessera_protocol::front_end::FrontEnd`) and the socket; callers talk to it over a
//! channel, so any number of tasks may submit concurrently.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tessera_protocol::front_end::{FrontEnd, FrontEndConfig, FrontEndEvent, FrontEndStats};
use tessera_protocol::wire::{Link, NodeId, RequestId};
use tessera_types::{Answer, Call, Outcome, Request};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::metrics::FrontEndMetrics;
use crate::node_link_config;
use crate::transport::{Transport, DRAIN_MAX};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontEndError {
    /// No two replicas agreed within the deadline. The request may still take effect: `seq`
    /// is where the sequencer ordered it, when this front end learnt that; `None` proves
    /// nothing (its `Ordered` may have been lost).
    #[error(
        "the cluster is unavailable: no two replicas agreed within {ms} ms; {}",
        match seq {
            Some(seq) => format!("ordered at seq {seq}, it takes effect once replicas answer"),
            None => "it may still take effect".to_owned(),
        }
    )]
    NoAgreement { ms: u64, seq: Option<u64> },
    #[error("the request is larger than any message the cluster accepts; it was not sent")]
    TooLarge,
    #[error("the front end has stopped; the request was not sent")]
    Stopped,
    #[error("the front end stopped with the request in flight; it may still take effect")]
    StoppedInFlight,
    #[error("the agreed reply does not decode: {0}")]
    BadReply(String),
    #[error("cannot start the front end: {0}")]
    Start(String),
}

impl FrontEndError {
    /// Whether the request may have taken effect, or may still: the caller must not be told
    /// it did not (a retry with the same message id is safe, and gets its answer).
    pub fn may_take_effect(&self) -> bool {
        match self {
            FrontEndError::NoAgreement { .. }
            | FrontEndError::StoppedInFlight
            | FrontEndError::BadReply(_) => true,
            FrontEndError::TooLarge | FrontEndError::Stopped | FrontEndError::Start(_) => false,
        }
    }
}

type Responder = oneshot::Sender<Result<Answer, FrontEndError>>;

struct Submit {
    request: Vec<u8>,
    /// A read-only call without a message id, for the fast read path.
    fast_read: bool,
    /// The caller's request id, for the managers' logs (empty: none).
    trace: String,
    respond: Responder,
}

/// Counters of one front end, for tests, logs and `/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientStats {
    #[serde(flatten)]
    pub protocol: FrontEndStats,
    /// Datagrams dropped as undecodable or unauthenticated.
    pub wire_dropped: u64,
}

impl std::ops::Deref for ClientStats {
    type Target = FrontEndStats;
    fn deref(&self) -> &FrontEndStats {
        &self.protocol
    }
}

/// Cheap to clone; every clone submits through the same front end.
#[derive(Clone)]
pub struct FrontEndClient {
    tx: mpsc::Sender<Submit>,
    local_addr: SocketAddr,
    /// `[front_end] fast_reads`.
    fast_reads: bool,
    stats: Arc<Mutex<ClientStats>>,
}

/// Submissions waiting for the front-end task; beyond this callers wait (backpressure).
const QUEUE: usize = 4096;

impl FrontEndClient {
    /// Binds the configured front-end address and starts the front-end task.
    pub fn start(cfg: &Config) -> Result<FrontEndClient, FrontEndError> {
        Self::start_with(cfg, None)
    }

    /// [`start`](Self::start), keeping `metrics` up to date.
    pub fn start_with(
        cfg: &Config,
        metrics: Option<FrontEndMetrics>,
    ) -> Result<FrontEndClient, FrontEndError> {
        let start = |e: &dyn std::fmt::Display| FrontEndError::Start(e.to_string());
        // The keys first, as the sequencer does.
        let me = NodeId::FrontEnd(cfg.front_end.id);
        let link = node_link_config(cfg, me, None)
            .map_err(|e| start(&e))
            .and_then(|lc| Link::new(lc).map_err(|e| start(&e)))?;
        let transport = Transport::bind(
            cfg,
            cfg.front_end.address,
            false,
            0x0f0f_0000 ^ u64::from(cfg.front_end.id),
        )
        .map_err(|e| start(&format!("binding {}: {e}", cfg.front_end.address)))?;
        let local_addr = transport.local_addr().map_err(|e| start(&e))?;
        // Unique per start and per front-end id, so request ids never repeat across restarts.
        let incarnation = RequestId::incarnation(crate::clock::unix_ms(), cfg.front_end.id);
        let fe = FrontEnd::new(
            link,
            FrontEndConfig {
                timeouts: cfg.protocol_timeouts(),
                incarnation,
                reply_to: local_addr,
                sequencers: cfg
                    .sequencer_nodes()
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect(),
                fast_read_limit: usize::try_from(cfg.front_end.fast_reads_max_in_flight)
                    .unwrap_or(usize::MAX),
                only_front_end: cfg.front_end.others.is_empty(),
            },
        );
        let (tx, rx) = mpsc::channel(QUEUE);
        let timeout_ms = cfg.timeouts.request_timeout_ms;
        let stats = Arc::new(Mutex::new(ClientStats::default()));
        tokio::spawn(drive(
            fe,
            transport,
            rx,
            timeout_ms,
            Arc::clone(&stats),
            metrics,
        ));
        Ok(FrontEndClient {
            tx,
            local_addr,
            fast_reads: cfg.front_end.fast_reads,
            stats,
        })
    }

    /// A snapshot of the front end's counters.
    pub fn stats(&self) -> ClientStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Orders `request` through the cluster and returns the reply two replicas agreed on.
    pub async fn submit(&self, request: &Request) -> Result<Answer, FrontEndError> {
        self.submit_traced(request, String::new()).await
    }

    /// [`submit`](Self::submit), naming the caller's request id (the gateway's), which the
    /// replica managers log next to the seq.
    pub async fn submit_traced(
        &self,
        request: &Request,
        request_id: String,
    ) -> Result<Answer, FrontEndError> {
        let fast = request.is_read_only();
        self.send(Call::encode_parts(request, None), fast, request_id)
            .await
    }

    /// Orders `call` (executed at most once if it has a message id: a repeat is answered with
    /// the first call's reply and revision), naming the caller's request id as
    /// [`submit_traced`](Self::submit_traced) does.
    pub async fn submit_call(
        &self,
        call: &Call,
        request_id: String,
    ) -> Result<Answer, FrontEndError> {
        // A call with a message id may be a repeat, answered from the replicas' memory of
        // answered calls: only ordering finds it there.
        let fast = call.message_id.is_none() && call.request.is_read_only();
        self.send(call.encode(), fast, request_id).await
    }

    async fn send(
        &self,
        call: Vec<u8>,
        fast_read: bool,
        request_id: String,
    ) -> Result<Answer, FrontEndError> {
        let (respond, rx) = oneshot::channel();
        self.tx
            .send(Submit {
                request: call,
                fast_read: fast_read && self.fast_reads,
                trace: request_id,
                respond,
            })
            .await
            .map_err(|_| FrontEndError::Stopped)?;
        rx.await.map_err(|_| FrontEndError::StoppedInFlight)?
    }
}

fn start(
    fe: &mut FrontEnd,
    now: Instant,
    call: Vec<u8>,
    fast_read: bool,
    trace: String,
) -> RequestId {
    if fast_read {
        fe.submit_read(now, call, trace)
    } else {
        fe.submit_traced(now, call, trace)
    }
}

async fn drive(
    mut fe: FrontEnd,
    transport: Transport,
    mut rx: mpsc::Receiver<Submit>,
    timeout_ms: u64,
    stats: Arc<Mutex<ClientStats>>,
    metrics: Option<FrontEndMetrics>,
) {
    // Each caller's answer channel, and when its request was submitted (agreement time).
    let mut waiting: HashMap<RequestId, (Responder, Instant)> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut open = true;
    loop {
        // Transmit first: packing may itself conclude a request (one too large to send).
        while let Some(t) = fe.poll_transmit() {
            transport.send(&t).await;
        }
        let mut now = None;
        while let Some(ev) = fe.poll_event() {
            let (id, result, replies) = match ev {
                FrontEndEvent::Answered {
                    id,
                    seq,
                    reply,
                    replies,
                } => (
                    id,
                    // A repeated call took effect where its first did: that is its revision.
                    Outcome::decode(&reply)
                        .map(|o| Answer {
                            reply: o.reply,
                            seq: o.repeat_of.unwrap_or(seq),
                        })
                        .map_err(|e| FrontEndError::BadReply(e.to_string())),
                    Some(replies),
                ),
                FrontEndEvent::Unavailable { id, seq, sent } => {
                    let error = if sent {
                        FrontEndError::NoAgreement {
                            ms: timeout_ms,
                            seq,
                        }
                    } else {
                        FrontEndError::TooLarge
                    };
                    (id, Err(error), None)
                }
            };
            if let Some((respond, submitted)) = waiting.remove(&id) {
                if let (Some(m), Some(replies)) = (&metrics, replies) {
                    let now = *now.get_or_insert_with(Instant::now);
                    m.answered(now.saturating_duration_since(submitted), replies);
                }
                // The caller may have given up (dropped its future); that is fine.
                let _ = respond.send(result);
            }
        }
        if let Ok(mut s) = stats.lock() {
            s.protocol = fe.stats().clone();
            s.wire_dropped = fe.wire_stats().dropped();
        }
        if let Some(m) = &metrics {
            m.update(fe.stats(), fe.wire_stats().dropped());
        }
        if !open && waiting.is_empty() {
            return;
        }
        let deadline = fe.poll_timeout();
        tokio::select! {
            cmd = rx.recv(), if open => match cmd {
                Some(first) => {
                    let now = Instant::now();
                    let id = start(&mut fe, now, first.request, first.fast_read, first.trace);
                    waiting.insert(id, (first.respond, now));
                    // Take whatever else is queued, so one Submit datagram carries the burst.
                    while let Ok(more) = rx.try_recv() {
                        let id = start(&mut fe, now, more.request, more.fast_read, more.trace);
                        waiting.insert(id, (more.respond, now));
                    }
                }
                None => open = false,
            },
            r = transport.recv(&mut buf) => match r {
                Ok((n, from)) => {
                    let now = Instant::now();
                    fe.handle_datagram(now, from, &buf[..n]);
                    // Each request brings up to four replies: take the whole burst before
                    // answering callers and sending, rather than one pass per datagram.
                    for _ in 1..DRAIN_MAX {
                        match transport.try_recv(&mut buf) {
                            Ok(Some((n, from))) => fe.handle_datagram(now, from, &buf[..n]),
                            _ => break,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "front end receive failed"),
            },
            _ = crate::sleep_until(deadline) => fe.handle_timeout(Instant::now()),
        }
    }
}
