//! Reading the cluster's status for the demo: one replica's row, convergence, and the lines
//! that show them.

use tessera_ops::status::{ClusterStatus, ReplicaRow, ReplicaState};

pub fn row(s: &ClusterStatus, id: u8) -> Option<&ReplicaRow> {
    s.replicas.iter().find(|r| r.id == id)
}

pub fn replacements(s: &ClusterStatus, id: u8) -> u32 {
    row(s, id).and_then(|r| r.replacements).unwrap_or(0)
}

pub fn short_digest(d: &Option<String>) -> String {
    d.as_deref()
        .map_or("-".to_owned(), |d| d.chars().take(8).collect())
}

pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}

/// `Some((seq, digest))` when every replica is up at the same seq with the same digest.
pub fn converged(s: &ClusterStatus) -> Option<(u64, String)> {
    let first = s.replicas.first()?;
    let seq = first.last_seq?;
    let digest = first.digest.clone()?;
    s.replicas
        .iter()
        .all(|r| {
            r.state == ReplicaState::Up
                && r.last_seq == Some(seq)
                && r.digest.as_ref() == Some(&digest)
        })
        .then_some((seq, digest))
}

/// One line with every replica's seq and digest: how convergence looks.
pub fn convergence_line(s: &ClusterStatus) -> String {
    let seqs: Vec<String> = s.replicas.iter().map(|r| opt(r.last_seq)).collect();
    let digests: Vec<String> = s.replicas.iter().map(|r| short_digest(&r.digest)).collect();
    let states: Vec<&str> = s.replicas.iter().map(|r| r.state.as_str()).collect();
    format!(
        "last seq {}   digests {}   ({})",
        seqs.join("/"),
        digests.join(" "),
        states.join(", ")
    )
}

pub fn replica_line(r: &ReplicaRow) -> String {
    format!(
        "replica {} ({}): {}, pid {}, last seq {}, consecutive faults {}, replacements {}",
        r.id,
        r.implementation,
        r.state.as_str(),
        opt(r.pid),
        opt(r.last_seq),
        opt(r.consecutive_faults),
        opt(r.replacements)
    )
}

pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("        {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convergence() {
        let r = |id, seq, digest: &str| ReplicaRow {
            id,
            implementation: "memory".into(),
            pid: Some(1),
            state: ReplicaState::Up,
            last_seq: Some(seq),
            consecutive_faults: Some(0),
            replacements: Some(0),
            last_wrong_unix_ms: None,
            digest: Some(digest.into()),
            disk_available_bytes: None,
            disk_size_bytes: None,
            executed: None,
            dropped: None,
        };
        let mut s = ClusterStatus {
            next_seq: Some(11),
            replicas: vec![r(1, 10, "ab"), r(2, 10, "ab")],
            sequencer_dropped: None,
            sequencers: Vec::new(),
        };
        assert_eq!(converged(&s), Some((10, "ab".into())));
        s.replicas[1].digest = Some("cd".into());
        assert_eq!(converged(&s), None);
    }
}
