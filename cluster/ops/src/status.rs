//! The status query (`tesserad status`, `tessera status`): asks the sequencer and every
//! replica manager over the wire (the query is MAC-authenticated like all traffic) and reports
//! what answered.

use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};
use tessera_protocol::wire::{Message, NodeId, RmStatus, SequencerStatus};
use tessera_protocol::{Destination, ReplicaId};

pub use tessera_protocol::wire::ReplicaState;

use crate::config::Config;
use crate::endpoint::{Endpoint, EndpointError};

/// One replica's row. Keys are fixed: scripts depend on them (`docs/recovery.md`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReplicaRow {
    pub id: u8,
    pub implementation: String,
    pub pid: Option<u32>,
    /// [`ReplicaState::Down`] also when the manager itself did not answer.
    #[serde(serialize_with = "state_name")]
    pub state: ReplicaState,
    pub last_seq: Option<u64>,
    pub consecutive_faults: Option<u32>,
    /// The replica's generation: how many times it was replaced since the cluster was created.
    pub replacements: Option<u32>,
    /// When its manager last heard of a wrong answer from the current generation (Unix ms).
    pub last_wrong_unix_ms: Option<u64>,
    pub digest: Option<String>,
    /// Free space on the file system of the manager's directory (its record and its
    /// replica's storage), and that file system's size.
    pub disk_available_bytes: Option<u64>,
    pub disk_size_bytes: Option<u64>,
    /// Not part of the JSON contract: for tests and the table only.
    #[serde(skip)]
    pub executed: Option<u64>,
    #[serde(skip)]
    pub dropped: Option<u64>,
}

/// The JSON names are the wire state's own (`up`, `lying`, `voted-out`, `recovering`,
/// `down`), not serde's variant names: the JSON is a contract, the wire enum's derive is not.
fn state_name<S: Serializer>(state: &ReplicaState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_str())
}

/// One sequencer node as it answered.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SequencerRow {
    pub id: u8,
    /// `primary`, `standby` (follows a primary it knows), `electing` (knows none), or
    /// `down` (did not answer).
    pub state: &'static str,
    pub view: Option<u64>,
    pub next_seq: Option<u64>,
    /// Free space on the file system of the node's log directory, and its size.
    pub disk_available_bytes: Option<u64>,
    pub disk_size_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The primary sequencer's (or, with none, the furthest answering node's); `None` when no
    /// sequencer node answered.
    pub next_seq: Option<u64>,
    pub replicas: Vec<ReplicaRow>,
    /// Every sequencer node, in priority order.
    pub sequencers: Vec<SequencerRow>,
    #[serde(skip)]
    pub sequencer_dropped: Option<u64>,
}

impl ClusterStatus {
    /// True when no node answered at all: most likely the cluster is not running.
    pub fn nobody_answered(&self) -> bool {
        self.next_seq.is_none() && self.replicas.iter().all(|r| r.pid.is_none())
    }
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn row(rm: &RmStatus, now_unix_ms: u64) -> ReplicaRow {
    ReplicaRow {
        id: rm.id.get(),
        implementation: rm.implementation.clone(),
        pid: Some(rm.pid),
        state: rm.state,
        last_seq: Some(rm.last_seq),
        consecutive_faults: Some(rm.consecutive_faults),
        replacements: Some(rm.generation),
        last_wrong_unix_ms: rm
            .last_wrong_ms_ago
            .map(|ago| now_unix_ms.saturating_sub(ago)),
        digest: rm.digest.as_ref().map(hex),
        disk_available_bytes: rm.disk.map(|d| d.available),
        disk_size_bytes: rm.disk.map(|d| d.size),
        executed: Some(rm.executed),
        dropped: Some(rm.dropped_datagrams),
    }
}

/// Queries every node, retrying for up to `wait` in total. Nodes that do not answer are rows
/// without values (and `next_seq: None`), not an error.
pub async fn query(cfg: &Config, wait: Duration) -> Result<ClusterStatus, EndpointError> {
    let (nodes, rms) = ask(cfg, None, wait).await?;
    let sequencers = nodes
        .iter()
        .map(|(id, got)| SequencerRow {
            id: *id,
            state: match got {
                None => "down",
                Some(s) if s.primary == Some(*id) => "primary",
                Some(s) if s.primary.is_some() => "standby",
                Some(_) => "electing",
            },
            view: got.as_ref().map(|s| s.view),
            next_seq: got.as_ref().map(|s| s.next_seq),
            disk_available_bytes: got.as_ref().and_then(|s| s.disk).map(|d| d.available),
            disk_size_bytes: got.as_ref().and_then(|s| s.disk).map(|d| d.size),
        })
        .collect();
    let sequencer = leading(nodes);
    let replicas = cfg
        .replica_manager
        .iter()
        .zip(&rms)
        .map(|(section, got)| match got {
            Some(s) => row(s, crate::clock::unix_ms()),
            None => ReplicaRow {
                id: section.id,
                implementation: section.implementation.as_str().to_owned(),
                pid: None,
                state: ReplicaState::Down,
                last_seq: None,
                consecutive_faults: None,
                replacements: None,
                last_wrong_unix_ms: None,
                digest: None,
                disk_available_bytes: None,
                disk_size_bytes: None,
                executed: None,
                dropped: None,
            },
        })
        .collect();
    Ok(ClusterStatus {
        next_seq: sequencer.as_ref().map(|s| s.next_seq),
        replicas,
        sequencers,
        sequencer_dropped: sequencer.map(|s| s.dropped_datagrams),
    })
}

/// Every node's own status as it answered (`None`: it did not within `wait`): the leading
/// sequencer node's, and each replica manager's in id order.
pub async fn query_nodes(
    cfg: &Config,
    wait: Duration,
) -> Result<(Option<SequencerStatus>, Vec<Option<RmStatus>>), EndpointError> {
    let (nodes, rms) = ask(cfg, None, wait).await?;
    Ok((leading(nodes), rms))
}

/// The primary's status, or with none (an election under way), the one furthest ahead.
fn leading(nodes: Vec<(u8, Option<SequencerStatus>)>) -> Option<SequencerStatus> {
    let answered = nodes.into_iter().filter_map(|(id, s)| Some((id, s?)));
    answered
        .max_by_key(|(id, s)| (s.primary == Some(*id), s.view, s.next_seq))
        .map(|(_, s)| s)
}

/// Queries replica manager `id` alone; `None` if it did not answer within `wait`.
pub async fn query_rm(
    cfg: &Config,
    id: u8,
    wait: Duration,
) -> Result<Option<RmStatus>, EndpointError> {
    let (_, mut rms) = ask(cfg, Some(id), wait).await?;
    Ok(rms
        .get_mut(usize::from(id).wrapping_sub(1))
        .and_then(Option::take))
}

/// Every sequencer node's answer, by id in priority order.
type SequencerAnswers = Vec<(u8, Option<SequencerStatus>)>;

/// Sends `StatusQuery` to every sequencer node and replica manager (or to replica manager
/// `only`), resending every 200 ms to those that have not answered, until all answered or
/// `wait` has passed.
async fn ask(
    cfg: &Config,
    only: Option<u8>,
    wait: Duration,
) -> Result<(SequencerAnswers, Vec<Option<RmStatus>>), EndpointError> {
    let mut endpoint = Endpoint::open(cfg, 0x5747)?;
    let nonce = crate::clock::unix_ms();
    let query = Message::StatusQuery { nonce };
    let mut sequencers: SequencerAnswers = cfg
        .sequencer_nodes()
        .into_iter()
        .map(|(id, _)| (id, None))
        .collect();
    let mut rms: Vec<Option<RmStatus>> = vec![None; cfg.replica_manager.len()];
    let wanted = |i: usize| only.is_none_or(|id| usize::from(id) == i + 1);
    let missing = |sequencers: &SequencerAnswers, rms: &[Option<RmStatus>]| {
        let mut targets = Vec::new();
        if only.is_none() {
            targets.extend(
                sequencers
                    .iter()
                    .filter(|(_, got)| got.is_none())
                    .map(|(id, _)| Destination::Sequencer(*id)),
            );
        }
        for (r, got) in ReplicaId::ALL.into_iter().zip(rms) {
            if got.is_none() && wanted(r.index()) {
                targets.push(Destination::ReplicaManager(r));
            }
        }
        targets
    };
    let deadline = Instant::now() + wait;
    let mut targets = missing(&sequencers, &rms);
    while Instant::now() < deadline && !targets.is_empty() {
        for to in &targets {
            endpoint.send(*to, &query).await?;
        }
        let round = (Instant::now() + Duration::from_millis(200)).min(deadline);
        while !targets.is_empty() {
            let Some(got) = endpoint.receive(round).await else {
                break;
            };
            match got {
                (NodeId::Sequencer(id), Message::SequencerStatus { nonce: n, status })
                    if n == nonce =>
                {
                    if let Some((_, slot)) = sequencers.iter_mut().find(|(i, _)| *i == id) {
                        *slot = Some(status);
                    }
                }
                (NodeId::ReplicaManager(i), Message::RmStatus { nonce: n, status })
                    if n == nonce =>
                {
                    if let Some(slot) = rms.get_mut(i.index()) {
                        *slot = Some(status);
                    }
                }
                _ => {}
            }
            targets = missing(&sequencers, &rms);
        }
    }
    Ok((sequencers, rms))
}

/// The human-readable table.
pub fn table(s: &ClusterStatus) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = format!("next seq: {}\n", opt(s.next_seq.map(|n| n.to_string())));
    if s.sequencers.len() > 1 {
        let nodes: Vec<String> = s
            .sequencers
            .iter()
            .map(|n| {
                let mut node = match n.view {
                    Some(v) => format!("{} {} (view {v})", n.id, n.state),
                    None => format!("{} {}", n.id, n.state),
                };
                if let Some(free) = free(n.disk_available_bytes, n.disk_size_bytes) {
                    node.push_str(&format!(" {free} free"));
                }
                node
            })
            .collect();
        out.push_str(&format!("sequencers: {}\n", nodes.join(", ")));
    } else if let Some(free) = s
        .sequencers
        .first()
        .and_then(|n| free(n.disk_available_bytes, n.disk_size_bytes))
    {
        out.push_str(&format!("sequencer disk: {free} free\n"));
    }
    out.push_str(&format!(
        "{:<3} {:<9} {:<8} {:<11} {:>9} {:>7} {:>13}  {:<16}  {}\n",
        "id", "impl", "pid", "state", "last seq", "faults", "replacements", "digest", "disk free"
    ));
    for r in &s.replicas {
        out.push_str(&format!(
            "{:<3} {:<9} {:<8} {:<11} {:>9} {:>7} {:>13}  {:<16}  {}\n",
            r.id,
            r.implementation,
            opt(r.pid.map(|p| p.to_string())),
            r.state.as_str(),
            opt(r.last_seq.map(|n| n.to_string())),
            opt(r.consecutive_faults.map(|n| n.to_string())),
            opt(r.replacements.map(|n| n.to_string())),
            opt(r.digest.as_ref().map(|d| d.chars().take(16).collect())),
            opt(free(r.disk_available_bytes, r.disk_size_bytes)),
        ));
    }
    out
}

/// "3.2 GiB (41%)": free space as an operator reads it, the share first to catch the eye
/// of someone looking for a disk about to fill.
fn free(available: Option<u64>, size: Option<u64>) -> Option<String> {
    let (available, size) = (available?, size?);
    let percent = if size == 0 {
        0
    } else {
        u128::from(available) * 100 / u128::from(size)
    };
    Some(format!("{} ({percent}%)", human_bytes(available)))
}

/// "1.5 KiB", "3.2 GiB": a size as a person reads it.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_protocol::wire::DiskSpace;

    #[test]
    fn a_row_names_the_state_and_when_the_last_wrong_answer_was_heard_of() {
        let rm = RmStatus {
            id: ReplicaId::ALL[2],
            implementation: "eventlog".into(),
            pid: 77,
            state: ReplicaState::VotedOut,
            last_seq: 40,
            consecutive_faults: 4,
            generation: 3,
            last_wrong_ms_ago: Some(250),
            digest: None,
            executed: 12,
            dropped_datagrams: 0,
            synced: 40,
            high: 40,
            checkpoint: None,
            transfers: 0,
            instance: 1,
            notices: Vec::new(),
            disk: Some(DiskSpace {
                available: 3 << 30,
                size: 8 << 30,
            }),
        };
        let r = row(&rm, 1_000_000);
        assert_eq!(r.state, ReplicaState::VotedOut);
        assert_eq!(r.replacements, Some(3));
        assert_eq!(r.last_wrong_unix_ms, Some(999_750));
        let json = serde_json::to_value(&r).expect("serializes");
        assert_eq!(json["state"], "voted-out");
        assert_eq!(json["last_wrong_unix_ms"], 999_750);
        assert_eq!(json["disk_available_bytes"], 3u64 << 30);
        assert_eq!(json["disk_size_bytes"], 8u64 << 30);
        let shown = table(&ClusterStatus {
            next_seq: Some(41),
            replicas: vec![r],
            sequencer_dropped: None,
            sequencers: vec![SequencerRow {
                id: 1,
                state: "primary",
                view: Some(0),
                next_seq: Some(41),
                disk_available_bytes: Some(512 << 20),
                disk_size_bytes: Some(1 << 30),
            }],
        });
        assert!(shown.contains("voted-out"), "{shown}");
        assert!(shown.contains("3.0 GiB (37%)"), "{shown}");
        assert!(
            shown.contains("sequencer disk: 512.0 MiB (50%) free"),
            "{shown}"
        );

        // With several sequencer nodes, each one's space on its line; one that did not
        // answer has none.
        let node = |id, state, disk: Option<u64>| SequencerRow {
            id,
            state,
            view: disk.map(|_| 3),
            next_seq: disk.map(|_| 41),
            disk_available_bytes: disk,
            disk_size_bytes: disk.map(|_| 4 << 30),
        };
        let shown = table(&ClusterStatus {
            next_seq: Some(41),
            replicas: Vec::new(),
            sequencer_dropped: None,
            sequencers: vec![node(1, "primary", Some(1 << 30)), node(2, "down", None)],
        });
        assert!(
            shown.contains("sequencers: 1 primary (view 3) 1.0 GiB (25%) free, 2 down\n"),
            "{shown}"
        );
    }

    #[test]
    fn free_space_reads_as_an_operator_would_say_it() {
        assert_eq!(free(None, Some(1)), None, "unread: shown as -, not as full");
        assert_eq!(free(Some(0), Some(0)).as_deref(), Some("0 B (0%)"));
        assert_eq!(
            free(Some(1023), Some(4096)).as_deref(),
            Some("1023 B (24%)")
        );
        assert_eq!(
            free(Some(1536), Some(1536)).as_deref(),
            Some("1.5 KiB (100%)")
        );
        assert_eq!(
            free(Some(u64::MAX), Some(u64::MAX)).as_deref(),
            Some("16777216.0 TiB (100%)")
        );
    }

    #[test]
    fn every_state_is_written_as_the_documented_lowercase_name() {
        // Exhaustive, so that a new wire state does not compile until it is named here and,
        // with it, in docs/recovery.md's table of states.
        let documented = |state| match state {
            ReplicaState::Up => "up",
            ReplicaState::Lying => "lying",
            ReplicaState::VotedOut => "voted-out",
            ReplicaState::Recovering => "recovering",
            ReplicaState::Down => "down",
        };
        for state in [
            ReplicaState::Up,
            ReplicaState::Lying,
            ReplicaState::VotedOut,
            ReplicaState::Recovering,
            ReplicaState::Down,
        ] {
            let row = ReplicaRow {
                id: 1,
                implementation: "memory".into(),
                pid: None,
                state,
                last_seq: None,
                consecutive_faults: None,
                replacements: None,
                last_wrong_unix_ms: None,
                digest: None,
                disk_available_bytes: None,
                disk_size_bytes: None,
                executed: None,
                dropped: None,
            };
            let json = serde_json::to_value(&row).expect("serializes");
            assert_eq!(json["state"], documented(state));
        }
    }
}
