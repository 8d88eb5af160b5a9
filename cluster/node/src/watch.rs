//! The cluster as the gateway's dashboard shows it: every node's status, asked over the wire
//! (as `tesserad status` does) when the page asks and at most every half second, and a
//! timeline merged from the notices every replica manager keeps (`Notice`: a replica reported
//! wrong, a vote, a replacement, a state transfer done, fault injection) and from what the
//! watcher sees change between two looks (the sequencer or a manager restarted, a manager
//! stopped answering). Nothing is asked while nobody watches; the managers' notices then still
//! hold the recent past, so a page opened after a replacement shows it.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use tessera_protocol::wire::{
    ChaosAction, DiskSpace, Notice, ReplaceCause, RmStatus, SequencerStatus, VoteReason,
};
use tessera_protocol::ReplicaId;
use tokio::sync::Mutex;

use crate::config::Config;
use crate::status;

/// How long a look at the cluster is reused for.
const FRESH: Duration = Duration::from_millis(500);
/// How long the nodes are given to answer one look.
const WAIT: Duration = Duration::from_millis(400);
/// Timeline entries kept.
const TIMELINE: usize = 200;

/// One replica as the dashboard shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReplicaView {
    pub id: u8,
    pub implementation: String,
    /// up, lying, voted-out, recovering, down (its manager did not answer).
    pub state: String,
    pub pid: Option<u32>,
    /// The last seq its replica answered.
    pub applied: Option<u64>,
    /// Seqs behind the sequencer's last (or, without the sequencer, behind what its manager
    /// knows exists).
    pub lag: Option<u64>,
    pub checkpoint: Option<CheckpointJson>,
    pub consecutive_faults: Option<u32>,
    pub replacements: Option<u32>,
    pub transfers: Option<u32>,
    pub last_transfer: Option<TransferJson>,
    /// Free space where its manager and replica write.
    pub disk: Option<DiskSpace>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct CheckpointJson {
    pub seq: u64,
    pub agrees: Option<bool>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct TransferJson {
    pub seq: u64,
    pub bytes: u64,
    pub millis: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SequencerView {
    pub next_seq: u64,
    pub retained: u64,
    /// Free space where its log is written.
    pub disk: Option<DiskSpace>,
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    /// Unique within the watcher's life.
    pub id: String,
    /// When it happened, Unix ms (on the gateway's clock).
    pub at_ms: u64,
    /// wrong, vote, replaced, transfer, chaos, sequencer, manager.
    pub kind: &'static str,
    /// The replica it is about, if any.
    pub replica: Option<u8>,
    pub text: String,
}

/// What `/dashboard/state` gets as `cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub now_ms: u64,
    /// `None`: the sequencer did not answer.
    pub sequencer: Option<SequencerView>,
    pub replicas: Vec<ReplicaView>,
    pub timeline: Vec<Event>,
}

#[derive(Default)]
struct Memory {
    looked: Option<Instant>,
    view: Option<View>,
    timeline: VecDeque<Event>,
    seen: HashSet<(u8, u64, u64)>,
    sequencer: Option<u64>,
    /// Each manager's instance when it last answered, and whether it answered last time.
    managers: [Option<u64>; 4],
    answered: [bool; 4],
    /// Each replica's last transfer, from its manager's notices.
    transfers: [Option<TransferJson>; 4],
    next_id: u64,
}

/// Watches one cluster for the dashboard.
pub struct Watcher {
    cfg: Config,
    memory: Mutex<Memory>,
}

impl Watcher {
    pub fn new(cfg: Config) -> Self {
        Watcher {
            cfg,
            memory: Mutex::new(Memory::default()),
        }
    }

    /// The cluster now (or as seen less than half a second ago).
    pub async fn view(&self) -> Result<View, tessera_ops::endpoint::EndpointError> {
        let mut m = self.memory.lock().await;
        if let (Some(at), Some(view)) = (m.looked, &m.view) {
            if at.elapsed() < FRESH {
                return Ok(view.clone());
            }
        }
        let (sequencer, rms) = status::query_nodes(&self.cfg, WAIT).await?;
        let now_ms = crate::clock::unix_ms();
        m.look(&self.cfg, now_ms, sequencer.as_ref(), &rms);
        let view = View {
            now_ms,
            sequencer: sequencer.as_ref().map(|s| SequencerView {
                next_seq: s.next_seq,
                retained: s.retained,
                disk: s.disk,
            }),
            replicas: self
                .cfg
                .replica_manager
                .iter()
                .zip(&rms)
                .zip(&m.transfers)
                .map(|((section, rm), last)| {
                    replica(section, rm.as_ref(), sequencer.as_ref(), *last)
                })
                .collect(),
            timeline: m.timeline.iter().cloned().collect(),
        };
        m.looked = Some(Instant::now());
        m.view = Some(view.clone());
        Ok(view)
    }
}

fn replica(
    section: &crate::config::ReplicaManagerSection,
    rm: Option<&RmStatus>,
    sequencer: Option<&SequencerStatus>,
    last_transfer: Option<TransferJson>,
) -> ReplicaView {
    let Some(s) = rm else {
        return ReplicaView {
            id: section.id,
            implementation: section.implementation.as_str().to_owned(),
            state: "down".into(),
            pid: None,
            applied: None,
            lag: None,
            checkpoint: None,
            consecutive_faults: None,
            replacements: None,
            transfers: None,
            last_transfer,
            disk: None,
        };
    };
    let last = sequencer.map_or(s.high, |q| q.next_seq.saturating_sub(1).max(s.high));
    ReplicaView {
        id: s.id.get(),
        implementation: s.implementation.clone(),
        state: s.state.as_str().to_owned(),
        pid: Some(s.pid).filter(|p| *p != 0),
        applied: Some(s.last_seq),
        lag: Some(last.saturating_sub(s.last_seq)),
        checkpoint: s.checkpoint.map(|c| CheckpointJson {
            seq: c.seq,
            agrees: c.agrees,
        }),
        consecutive_faults: Some(s.consecutive_faults),
        replacements: Some(s.generation),
        transfers: Some(s.transfers),
        last_transfer,
        disk: s.disk,
    }
}

impl Memory {
    fn push(&mut self, at_ms: u64, kind: &'static str, replica: Option<u8>, text: String) {
        self.next_id += 1;
        let event = Event {
            id: format!("e{}", self.next_id),
            at_ms,
            kind,
            replica,
            text,
        };
        // In time order: notices of several managers arrive in one look.
        let at = self
            .timeline
            .iter()
            .rposition(|e| e.at_ms <= at_ms)
            .map_or(0, |i| i + 1);
        self.timeline.insert(at, event);
        while self.timeline.len() > TIMELINE {
            self.timeline.pop_front();
        }
    }

    fn look(
        &mut self,
        cfg: &Config,
        now_ms: u64,
        sequencer: Option<&SequencerStatus>,
        rms: &[Option<RmStatus>],
    ) {
        if let Some(s) = sequencer {
            if self.sequencer.is_some_and(|known| known != s.instance) {
                self.push(
                    s.instance.min(now_ms),
                    "sequencer",
                    None,
                    format!(
                        "sequencer restarted: read its log and resumed at seq {}",
                        s.started_at
                    ),
                );
            }
            self.sequencer = Some(s.instance);
        }
        let implementation = |id: ReplicaId| {
            cfg.replica_manager(id.get())
                .map_or("?", |r| r.implementation.as_str())
        };
        for (i, rm) in rms.iter().enumerate() {
            let n = u8::try_from(i + 1).unwrap_or(0);
            let Some(s) = rm else {
                if self.answered[i] {
                    self.push(
                        now_ms,
                        "manager",
                        Some(n),
                        format!("replica manager {n} stopped answering"),
                    );
                }
                self.answered[i] = false;
                continue;
            };
            if self.managers[i].is_some_and(|known| known != s.instance) {
                self.push(
                    s.instance.min(now_ms),
                    "manager",
                    Some(n),
                    format!(
                        "replica manager {n} restarted (its replica at generation {})",
                        s.generation
                    ),
                );
            }
            self.managers[i] = Some(s.instance);
            self.answered[i] = true;
            for entry in &s.notices {
                if !self.seen.insert((n, s.instance, entry.number)) {
                    continue;
                }
                let at = now_ms.saturating_sub(entry.ms_ago);
                let name = format!("replica {} ({})", s.id, implementation(s.id));
                let (kind, replica, text) = match entry.notice {
                    Notice::Wrong { seq } => (
                        "wrong",
                        s.id,
                        format!("{name} answered wrong at seq {seq}: the others agreed on another reply"),
                    ),
                    Notice::Voted {
                        replica,
                        generation,
                        reason,
                    } => (
                        "vote",
                        replica,
                        format!(
                            "manager {} voted to replace replica {replica} (generation {generation}): {}",
                            s.id,
                            reason_text(reason)
                        ),
                    ),
                    Notice::Replaced { incarnation, cause } => (
                        "replaced",
                        s.id,
                        format!(
                            "{name} replaced by generation {}: {}; state transfer started",
                            incarnation.generation,
                            cause_text(cause)
                        ),
                    ),
                    Notice::Transferred { seq, bytes, millis } => {
                        if let Some(slot) = self.transfers.get_mut(i) {
                            *slot = Some(TransferJson { seq, bytes, millis });
                        }
                        (
                            "transfer",
                            s.id,
                            format!(
                                "{name} caught up by state transfer: a {} snapshot at seq {seq} in {millis} ms",
                                status::human_bytes(bytes)
                            ),
                        )
                    }
                    Notice::Chaos { action } => (
                        "chaos",
                        s.id,
                        format!("fault injected into {name}: {}", chaos_text(action)),
                    ),
                };
                self.push(at, kind, Some(replica.get()), text);
            }
        }
        // Bounded: notices older than what managers still report can go.
        if self.seen.len() > 4 * TIMELINE {
            let oldest: Vec<_> = self.seen.iter().copied().collect();
            let keep: HashSet<_> = rms
                .iter()
                .flatten()
                .flat_map(|s| {
                    let id = s.id.get();
                    s.notices.iter().map(move |e| (id, s.instance, e.number))
                })
                .collect();
            for k in oldest {
                if !keep.contains(&k) {
                    self.seen.remove(&k);
                }
            }
        }
    }
}

fn reason_text(r: VoteReason) -> &'static str {
    match r {
        VoteReason::Wrong => "3 wrong answers in a row",
        VoteReason::Digest => "its state digest differs from the majority's",
        VoteReason::Hung => "it stopped answering",
    }
}

fn cause_text(c: ReplaceCause) -> String {
    match c {
        ReplaceCause::Voted(r) => format!("voted out ({})", reason_text(r)),
        ReplaceCause::Exited => "its process exited".into(),
        ReplaceCause::Failed => "it failed a request".into(),
    }
}

fn chaos_text(a: ChaosAction) -> &'static str {
    match a {
        ChaosAction::Byzantine => "byzantine (wrong replies from now on)",
        ChaosAction::Crash => "crash (kill -9)",
        ChaosAction::Hang => "hang (SIGSTOP)",
        ChaosAction::Heal => "heal",
        ChaosAction::CorruptState => "corrupt state (right replies, damaged state)",
        ChaosAction::Slow { ms: 0 } => "slow (back to full speed)",
        ChaosAction::Slow { .. } => "slow (waits before each request)",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tessera_protocol::wire::{Incarnation, NoticeEntry, ReplicaState};

    fn rm(id: u8, instance: u64, notices: Vec<NoticeEntry>) -> RmStatus {
        RmStatus {
            id: ReplicaId::new(id).unwrap(),
            implementation: "sqlite".into(),
            pid: 1,
            state: ReplicaState::Up,
            last_seq: 10,
            consecutive_faults: 0,
            generation: 1,
            last_wrong_ms_ago: None,
            digest: None,
            executed: 10,
            dropped_datagrams: 0,
            synced: 10,
            high: 12,
            checkpoint: None,
            transfers: 1,
            instance,
            notices,
            disk: None,
        }
    }

    fn entry(number: u64, ms_ago: u64, notice: Notice) -> NoticeEntry {
        NoticeEntry {
            number,
            ms_ago,
            notice,
        }
    }

    #[test]
    fn a_card_shows_the_free_space_its_manager_reported_and_none_when_it_is_silent() {
        let cfg = Config::default();
        let section = &cfg.replica_manager[0];
        let mut status = rm(1, 5_000, Vec::new());
        status.disk = Some(DiskSpace {
            available: 5 << 30,
            size: 50 << 30,
        });
        let card = replica(section, Some(&status), None, None);
        let json = serde_json::to_value(&card).unwrap();
        assert_eq!(json["disk"]["available"], 5u64 << 30);
        assert_eq!(json["disk"]["size"], 50u64 << 30);
        let silent = serde_json::to_value(replica(section, None, None, None)).unwrap();
        assert!(silent["disk"].is_null(), "{silent}");
    }

    #[test]
    fn notices_become_one_timeline_in_time_order_once_each() {
        let cfg = Config::default();
        let mut m = Memory::default();
        let replaced = Notice::Replaced {
            incarnation: Incarnation {
                generation: 1,
                from_seq: 9,
            },
            cause: ReplaceCause::Voted(VoteReason::Wrong),
        };
        let voted = Notice::Voted {
            replica: ReplicaId::new(2).unwrap(),
            generation: 0,
            reason: VoteReason::Wrong,
        };
        let rms = vec![
            Some(rm(1, 5_000, vec![entry(1, 300, voted)])),
            Some(rm(
                2,
                6_000,
                vec![
                    entry(1, 400, Notice::Wrong { seq: 7 }),
                    entry(2, 100, replaced),
                    entry(
                        3,
                        50,
                        Notice::Transferred {
                            seq: 0,
                            bytes: 2048,
                            millis: 40,
                        },
                    ),
                ],
            )),
            None,
            None,
        ];
        m.look(&cfg, 10_000, None, &rms);
        // The same notices again, a second later: nothing new.
        m.look(&cfg, 11_000, None, &rms);
        let kinds: Vec<_> = m.timeline.iter().map(|e| (e.kind, e.at_ms)).collect();
        assert_eq!(
            kinds,
            vec![
                ("wrong", 9_600),
                ("vote", 9_700),
                ("replaced", 9_900),
                ("transfer", 9_950)
            ]
        );
        assert!(m.timeline[3]
            .text
            .contains("2.0 KiB snapshot at seq 0 in 40 ms"));
        assert_eq!(m.transfers[1].map(|t| t.bytes), Some(2048));
        // Manager 2 restarts (new instance) and manager 1 stops answering.
        let rms = vec![None, Some(rm(2, 11_500, Vec::new())), None, None];
        m.look(&cfg, 12_000, None, &rms);
        let last: Vec<_> = m
            .timeline
            .iter()
            .rev()
            .take(2)
            .map(|e| e.text.clone())
            .collect();
        assert!(
            last.iter()
                .any(|t| t == "replica manager 1 stopped answering"),
            "{last:?}"
        );
        assert!(
            last.iter()
                .any(|t| t.starts_with("replica manager 2 restarted")),
            "{last:?}"
        );
    }
}
