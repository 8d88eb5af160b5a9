//! `tesserad status`: asks the sequencer and every replica manager over the wire (the query
//! is MAC-authenticated like all traffic) and reports what answered.

use std::time::{Duration, Instant};

use serde::Serialize;
use tessera_protocol::wire::{Link, Message, NodeId, RmStatus, SequencerStatus};
use tessera_protocol::{Destination, ReplicaId, Transmit};

use crate::config::Config;
use crate::link_config;
use crate::transport::Transport;

/// One replica's row. Keys are fixed: scripts depend on them (`docs/protocol.md`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReplicaRow {
    pub id: u8,
    pub implementation: String,
    pub pid: Option<u32>,
    pub state: String,
    pub last_seq: Option<u64>,
    pub consecutive_faults: Option<u32>,
    /// The replica's generation: how many times it was replaced since the cluster was created.
    pub replacements: Option<u32>,
    /// When its manager last heard of a wrong answer from the current generation (Unix ms).
    pub last_wrong_unix_ms: Option<u64>,
    pub digest: Option<String>,
    /// Not part of the JSON contract: for tests and the table only.
    #[serde(skip)]
    pub executed: Option<u64>,
    #[serde(skip)]
    pub dropped: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClusterStatus {
    /// `None` when the sequencer did not answer.
    pub next_seq: Option<u64>,
    pub replicas: Vec<ReplicaRow>,
    #[serde(skip)]
    pub sequencer_dropped: Option<u64>,
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn row(rm: &RmStatus, now_unix_ms: u64) -> ReplicaRow {
    ReplicaRow {
        id: rm.id.get(),
        implementation: rm.implementation.clone(),
        pid: Some(rm.pid),
        state: rm.state.as_str().to_owned(),
        last_seq: Some(rm.last_seq),
        consecutive_faults: Some(rm.consecutive_faults),
        replacements: Some(rm.generation),
        last_wrong_unix_ms: rm
            .last_wrong_ms_ago
            .map(|ago| now_unix_ms.saturating_sub(ago)),
        digest: rm.digest.as_ref().map(hex),
        executed: Some(rm.executed),
        dropped: Some(rm.dropped_datagrams),
    }
}

/// Queries every node, retrying for up to `wait` in total.
pub async fn query(cfg: &Config, wait: Duration) -> anyhow::Result<ClusterStatus> {
    let (sequencer, rms) = ask(cfg, None, wait).await?;
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
                state: "down".into(),
                last_seq: None,
                consecutive_faults: None,
                replacements: None,
                last_wrong_unix_ms: None,
                digest: None,
                executed: None,
                dropped: None,
            },
        })
        .collect();
    Ok(ClusterStatus {
        next_seq: sequencer.as_ref().map(|s| s.next_seq),
        replicas,
        sequencer_dropped: sequencer.map(|s| s.dropped_datagrams),
    })
}

/// Every node's own status as it answered (`None`: it did not within `wait`): the sequencer's,
/// and each replica manager's in id order.
pub async fn query_nodes(
    cfg: &Config,
    wait: Duration,
) -> anyhow::Result<(Option<SequencerStatus>, Vec<Option<RmStatus>>)> {
    ask(cfg, None, wait).await
}

/// Queries replica manager `id` alone; `None` if it did not answer within `wait`.
pub async fn query_rm(cfg: &Config, id: u8, wait: Duration) -> anyhow::Result<Option<RmStatus>> {
    let (_, mut rms) = ask(cfg, Some(id), wait).await?;
    Ok(rms
        .get_mut(usize::from(id).wrapping_sub(1))
        .and_then(Option::take))
}

/// Sends `StatusQuery` to the sequencer and every replica manager (or to replica manager
/// `only`), resending every 200 ms to those that have not answered, until all answered or
/// `wait` has passed.
async fn ask(
    cfg: &Config,
    only: Option<u8>,
    wait: Duration,
) -> anyhow::Result<(Option<SequencerStatus>, Vec<Option<RmStatus>>)> {
    // Any local address: the nodes may be on other hosts.
    let transport = Transport::bind(cfg, ([0, 0, 0, 0], 0).into(), false, 0x5747)?;
    let me = NodeId::Tool(std::process::id() & 0x00ff_ffff);
    let mut link = Link::new(link_config(cfg, me))?;
    let nonce = crate::clock::unix_ms();
    let query = link.encode(&Message::StatusQuery { nonce })?;
    let mut sequencer: Option<SequencerStatus> = None;
    let mut rms: Vec<Option<RmStatus>> = vec![None; cfg.replica_manager.len()];
    let wanted = |i: usize| only.is_none_or(|id| usize::from(id) == i + 1);
    let missing = |sequencer: &Option<SequencerStatus>, rms: &[Option<RmStatus>]| {
        let mut targets = Vec::new();
        if only.is_none() && sequencer.is_none() {
            targets.push(Destination::Sequencer);
        }
        for (r, got) in ReplicaId::ALL.into_iter().zip(rms) {
            if got.is_none() && wanted(r.index()) {
                targets.push(Destination::ReplicaManager(r));
            }
        }
        targets
    };
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65_536];
    let mut targets = missing(&sequencer, &rms);
    while Instant::now() < deadline && !targets.is_empty() {
        for to in &targets {
            for d in &query {
                transport
                    .send(&Transmit {
                        to: *to,
                        datagram: d.clone(),
                    })
                    .await;
            }
        }
        let round = (Instant::now() + Duration::from_millis(200)).min(deadline);
        while !targets.is_empty() {
            let Ok(Ok((n, _))) =
                tokio::time::timeout_at(round.into(), transport.recv(&mut buf)).await
            else {
                break;
            };
            match link.receive(Instant::now(), &buf[..n]) {
                Some((_, Message::SequencerStatus { nonce: n, status })) if n == nonce => {
                    sequencer = Some(status)
                }
                Some((NodeId::ReplicaManager(i), Message::RmStatus { nonce: n, status }))
                    if n == nonce =>
                {
                    if let Some(slot) = rms.get_mut(i.index()) {
                        *slot = Some(status);
                    }
                }
                _ => {}
            }
            targets = missing(&sequencer, &rms);
        }
    }
    Ok((sequencer, rms))
}

/// The human-readable table.
pub fn table(s: &ClusterStatus) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = format!(
        "next seq: {}\n{:<3} {:<9} {:<8} {:<11} {:>9} {:>7} {:>13}  {}\n",
        opt(s.next_seq.map(|n| n.to_string())),
        "id",
        "impl",
        "pid",
        "state",
        "last seq",
        "faults",
        "replacements",
        "digest"
    );
    for r in &s.replicas {
        out.push_str(&format!(
            "{:<3} {:<9} {:<8} {:<11} {:>9} {:>7} {:>13}  {}\n",
            r.id,
            r.implementation,
            opt(r.pid.map(|p| p.to_string())),
            r.state,
            opt(r.last_seq.map(|n| n.to_string())),
            opt(r.consecutive_faults.map(|n| n.to_string())),
            opt(r.replacements.map(|n| n.to_string())),
            opt(r.digest.as_ref().map(|d| d[..16].to_string())),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_protocol::wire::ReplicaState;

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
        };
        let r = row(&rm, 1_000_000);
        assert_eq!(r.state, "voted-out");
        assert_eq!(r.replacements, Some(3));
        assert_eq!(r.last_wrong_unix_ms, Some(999_750));
        let json = serde_json::to_value(&r).expect("serializes");
        assert_eq!(json["state"], "voted-out");
        assert_eq!(json["last_wrong_unix_ms"], 999_750);
        assert!(table(&ClusterStatus {
            next_seq: Some(41),
            replicas: vec![r],
            sequencer_dropped: None,
        })
        .contains("voted-out"));
    }
}
