//! A tool's own place on the cluster's network: a socket on any local address (the nodes may
//! be on other hosts) and a link with a `Tool` identity, so that its datagrams carry the
//! cluster's MAC like every node's and the nodes answer it.

use std::time::Instant;

use tessera_protocol::wire::{Link, Message, NodeId, WireError};
use tessera_protocol::{Destination, Transmit};

use crate::config::Config;
use crate::link_config;
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
        // The pid keeps two tools on one host apart; the wire identity has 24 bits for it.
        let me = NodeId::Tool(std::process::id() & 0x00ff_ffff);
        let link = Link::new(link_config(cfg, me))?;
        Ok(Endpoint {
            transport,
            link,
            buf: vec![0; 65_536],
        })
    }

    /// `message` as the datagrams that carry it.
    pub fn encode(&self, message: &Message) -> Result<Vec<Vec<u8>>, WireError> {
        self.link.encode(message)
    }

    /// Sends `datagrams` to `to`; a failed send is a lost datagram, which the caller's
    /// retries already cover.
    pub async fn send(&self, to: Destination, datagrams: &[Vec<u8>]) {
        for d in datagrams {
            self.transport
                .send(&Transmit {
                    to,
                    datagram: d.clone(),
                })
                .await;
        }
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
