//! A tool's own place on the cluster's network: a socket on any local address (the nodes may
//! be on other hosts) and a link with a `Tool` identity signed with the operator's key, so
//! that the nodes accept its datagrams and answer it.

use std::time::Instant;

use tessera_protocol::wire::{Link, Message, NodeId, WireError};

use crate::IdentityError;
use tessera_protocol::{Destination, Transmit};

use crate::config::Config;
use crate::transport::Transport;

/// Why a tool could not get onto the cluster's network. Neither depends on whether the cluster
/// is running: nodes that do not answer are an outcome, not an error.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The local socket could not be opened or set up for the configured network.
    #[error(transparent)]
    Socket(#[from] std::io::Error),
    /// The configured datagram or message size cannot carry the request.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The operator key is missing, unreadable, or not the one the configuration lists.
    #[error("operator key: {0}")]
    Identity(#[from] IdentityError),
}

pub struct Endpoint {
    transport: Transport,
    link: Link,
    buf: Vec<u8>,
}

impl Endpoint {
    /// `salt` separates the loss-injection streams of different tools (`[faults]`).
    pub fn open(cfg: &Config, salt: u64) -> Result<Endpoint, EndpointError> {
        let transport = Transport::bind(cfg, ([0, 0, 0, 0], 0).into(), false, salt)?;
        let me = NodeId::Tool(tool_number());
        let key = cfg
            .operator
            .key
            .clone()
            .unwrap_or_else(|| crate::keys::key_path(cfg, NodeId::OPERATOR));
        let link = Link::new(crate::node_link_config(cfg, me, Some(&key))?)?;
        Ok(Endpoint {
            transport,
            link,
            buf: vec![0; 65_536],
        })
    }

    /// Sends `message` to `to`, sealed afresh (each copy has its own counter: a resent
    /// datagram would be dropped as a replay); a failed send is a lost datagram, which the
    /// caller's retries already cover.
    pub async fn send(&self, to: Destination, message: &Message) -> Result<(), WireError> {
        for datagram in self.link.encode(message, to)? {
            self.transport.send(&Transmit { to, datagram }).await;
        }
        Ok(())
    }

    /// The next whole message from the cluster before `until`, or `None` once it has passed.
    /// Datagrams that are no valid message of this cluster are skipped. A receive error also
    /// ends the wait: to a caller that resends on a timer it is one more silent round.
    pub async fn receive(&mut self, until: Instant) -> Option<(NodeId, Message)> {
        loop {
            let Ok(Ok((n, _))) =
                tokio::time::timeout_at(until.into(), self.transport.recv(&mut self.buf)).await
            else {
                return None;
            };
            if let Some(got) = self.link.receive(Instant::now(), &self.buf[..n]) {
                return Some(got);
            }
        }
    }
}

/// A wire identity of its own for each endpoint of this process: the low 16 bits of the pid
/// keep tools on one host apart, a per-process counter in the low 8 bits keeps apart the
/// endpoints one process has open at once (the dashboard's watcher next to a `/status`
/// call, a test's watchers next to its queries). Receivers keep one replay window per
/// sender, and each endpoint starts a new epoch: two endpoints under one identity would
/// make each other's datagrams look like an older epoch's, and be dropped.
fn tool_number() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // 1..=255: never 0, the operator's own number in the roster.
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 255 + 1;
    ((std::process::id() & 0xffff) << 8) | n
}
