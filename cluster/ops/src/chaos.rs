//! Fault injection from the outside: an authenticated `Chaos` message to one replica
//! manager, which honours it only if it was started with `--chaos`.

use std::time::{Duration, Instant};

use tessera_protocol::wire::Message;
use tessera_protocol::{Destination, ReplicaId};

pub use tessera_protocol::wire::ChaosAction;

use crate::config::Config;
use crate::endpoint::{Endpoint, EndpointError};

/// Why a chaos request did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("no replica {replica} in this cluster (expected 1..={replicas})")]
    NoSuchReplica { replica: u8, replicas: usize },
    /// The manager answered no, typically because it was not started with `--chaos`.
    #[error("refused: {detail}")]
    Refused { detail: String },
    /// Nothing came back, after retries: the manager is down, unreachable, or (most often)
    /// the cluster is not running.
    #[error("replica manager {replica} did not answer within {wait:?}")]
    NoAnswer { replica: u8, wait: Duration },
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

impl From<tessera_protocol::wire::WireError> for ChaosError {
    fn from(e: tessera_protocol::wire::WireError) -> Self {
        ChaosError::Endpoint(EndpointError::Wire(e))
    }
}

/// Asks replica manager `replica` to apply `action` to its replica; returns its answer.
/// Retries for up to `wait` (datagrams may be lost); the nonce makes a retry idempotent.
pub async fn send(
    cfg: &Config,
    replica: u8,
    action: ChaosAction,
    wait: Duration,
) -> Result<String, ChaosError> {
    let no_such = || ChaosError::NoSuchReplica {
        replica,
        replicas: cfg.replica_manager.len(),
    };
    if cfg.replica_manager(replica).is_none() {
        return Err(no_such());
    }
    let to = ReplicaId::new(replica).ok_or_else(no_such)?;
    let mut endpoint = Endpoint::open(cfg, 0xc4a05)?;
    let nonce = crate::clock::unix_ms() ^ (u64::from(std::process::id()) << 40);
    let request = Message::Chaos { nonce, action };
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        endpoint
            .send(Destination::ReplicaManager(to), &request)
            .await?;
        let round = (Instant::now() + Duration::from_millis(200)).min(deadline);
        while let Some((_, message)) = endpoint.receive(round).await {
            if let Message::ChaosReply {
                nonce: n,
                accepted,
                detail,
            } = message
            {
                if n == nonce {
                    return if accepted {
                        Ok(detail)
                    } else {
                        Err(ChaosError::Refused { detail })
                    };
                }
            }
        }
    }
    Err(ChaosError::NoAnswer { replica, wait })
}

pub fn parse_action(s: &str) -> Result<ChaosAction, String> {
    match s {
        "byzantine" => Ok(ChaosAction::Byzantine),
        "crash" => Ok(ChaosAction::Crash),
        "hang" => Ok(ChaosAction::Hang),
        "heal" => Ok(ChaosAction::Heal),
        "corrupt-state" => Ok(ChaosAction::CorruptState),
        "slow" => Ok(ChaosAction::Slow {
            ms: DEFAULT_SLOW_MS,
        }),
        _ => Err(format!(
            "unknown action {s:?} (expected byzantine, crash, hang, heal, corrupt-state or slow)"
        )),
    }
}

/// How long `slow` makes a replica wait before each request when no other time is given: far
/// slower than the cluster runs under load (well under 0.1 ms a request), yet answering well
/// within the hang threshold.
pub const DEFAULT_SLOW_MS: u32 = 5;
