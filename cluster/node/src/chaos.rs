//! Fault injection from the outside: an authenticated `Chaos` message to one replica
//! manager, which honours it only if it was started with `--chaos`.

use std::time::{Duration, Instant};

use anyhow::bail;
use tessera_protocol::wire::{ChaosAction, Link, Message, NodeId};
use tessera_protocol::{Destination, ReplicaId, Transmit};

use crate::config::Config;
use crate::link_config;
use crate::transport::Transport;

/// Asks replica manager `replica` to apply `action` to its replica; returns its answer.
/// Retries for up to `wait` (datagrams may be lost); the nonce makes a retry idempotent.
pub async fn send(
    cfg: &Config,
    replica: u8,
    action: ChaosAction,
    wait: Duration,
) -> anyhow::Result<String> {
    if cfg.replica_manager(replica).is_none() {
        bail!(
            "no replica {replica} in this cluster (expected 1..={})",
            cfg.replica_manager.len()
        );
    }
    let Some(to) = ReplicaId::new(replica) else {
        bail!("no replica {replica} in this cluster (expected 1..=4)");
    };
    // Any local address: the nodes may be on other hosts.
    let transport = Transport::bind(cfg, ([0, 0, 0, 0], 0).into(), false, 0xc4a05)?;
    let mut link = Link::new(link_config(
        cfg,
        NodeId::Tool(std::process::id() & 0x00ff_ffff),
    ))?;
    let nonce = crate::clock::unix_ms() ^ (u64::from(std::process::id()) << 40);
    let datagrams = link.encode(&Message::Chaos { nonce, action })?;
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        for d in &datagrams {
            transport
                .send(&Transmit {
                    to: Destination::ReplicaManager(to),
                    datagram: d.clone(),
                })
                .await;
        }
        let round = (Instant::now() + Duration::from_millis(200)).min(deadline);
        while let Ok(Ok((n, _))) =
            tokio::time::timeout_at(round.into(), transport.recv(&mut buf)).await
        {
            if let Some((
                _,
                Message::ChaosReply {
                    nonce: n,
                    accepted,
                    detail,
                },
            )) = link.receive(Instant::now(), &buf[..n])
            {
                if n == nonce {
                    return if accepted {
                        Ok(detail)
                    } else {
                        bail!("refused: {detail}")
                    };
                }
            }
        }
    }
    bail!("replica manager {replica} did not answer within {wait:?}")
}

pub fn parse_action(s: &str) -> Result<ChaosAction, String> {
    match s {
        "byzantine" => Ok(ChaosAction::Byzantine),
        "crash" => Ok(ChaosAction::Crash),
        "hang" => Ok(ChaosAction::Hang),
        "heal" => Ok(ChaosAction::Heal),
        "corrupt-state" => Ok(ChaosAction::CorruptState),
        _ => Err(format!(
            "unknown action {s:?} (expected byzantine, crash, hang, heal or corrupt-state)"
        )),
    }
}
