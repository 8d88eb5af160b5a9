//! Keys for tests and simulations: every node's secret derived from its id, so every test
//! builds the same roster without files. Never for a real cluster: anyone can compute them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use super::identity::{identity_of, Roster, SecretKey};
use super::{ClusterId, LinkConfig, NodeId};
use crate::ReplicaId;

/// Sequencer nodes the test roster knows: 1..=this.
pub const SEQUENCERS: u8 = 5;

/// Front end ids the test roster knows.
pub const FRONT_ENDS: [u32; 7] = [1, 2, 5, 6, 7, 9, 99];

/// The publicly computable test key of `node` (every tool shares the operator's).
pub fn secret(node: NodeId) -> SecretKey {
    let id = format!("{:?}", identity_of(node));
    SecretKey::from_bytes(blake3::derive_key(
        "tessera insecure test key v1",
        id.as_bytes(),
    ))
}

/// Sequencer nodes 1..=[`SEQUENCERS`], the four managers, the front ends of [`FRONT_ENDS`]
/// and the operator.
pub fn roster() -> Roster {
    static ROSTER: std::sync::OnceLock<Roster> = std::sync::OnceLock::new();
    ROSTER.get_or_init(build_roster).clone()
}

fn build_roster() -> Roster {
    let mut r = Roster::new();
    let nodes = (1..=SEQUENCERS)
        .map(NodeId::Sequencer)
        .chain([NodeId::OPERATOR])
        .chain(ReplicaId::ALL.map(NodeId::ReplicaManager))
        .chain(FRONT_ENDS.map(NodeId::FrontEnd));
    for n in nodes {
        // The test roster is far below the size limit.
        let _ = r.insert(n, secret(n).public());
    }
    r
}

/// A link configuration for `me` on cluster `cluster` with the test roster, epoch 1.
pub fn link_config(me: NodeId, cluster: &str, max_datagram: usize) -> LinkConfig {
    LinkConfig {
        cluster: ClusterId::from_name(cluster),
        me,
        secret: secret(me),
        roster: roster(),
        epoch: 1,
        max_datagram,
        max_message: 4 << 20,
        reassembly_timeout: Duration::from_secs(5),
    }
}

/// A configuration for `me` whose key is not `me`'s: the roster it carries lists the wrong
/// key for `me`, so the link starts, but no node with the real roster accepts what it sends.
pub fn impostor_config(me: NodeId, cluster: &str, max_datagram: usize) -> LinkConfig {
    let secret = SecretKey::from_bytes(blake3::derive_key(
        "tessera impostor test key v1",
        format!("{me:?}").as_bytes(),
    ));
    let mut roster = roster();
    let _ = roster.insert(me, secret.public());
    LinkConfig {
        secret,
        roster,
        ..link_config(me, cluster, max_datagram)
    }
}

/// Decodes whatever a node of the test roster sends, to whichever receivers: it holds every
/// test identity's link and opens each datagram as the first receiver it is meant for.
pub struct Sniffer {
    links: Vec<super::Link>,
    cluster: ClusterId,
}

impl Sniffer {
    pub fn new(cluster: &str, max_datagram: usize, max_message: usize) -> Self {
        let links = roster()
            .identities()
            .filter_map(|(n, _)| {
                let mut link = super::Link::new(LinkConfig {
                    max_message,
                    ..link_config(n, cluster, max_datagram)
                })
                .ok()?;
                link.check_replay = false;
                Some(link)
            })
            .collect();
        Sniffer {
            links,
            cluster: ClusterId::from_name(cluster),
        }
    }

    pub fn receive(
        &mut self,
        now: std::time::Instant,
        datagram: &[u8],
    ) -> Option<(NodeId, super::Message)> {
        let audience = super::unseal(datagram, self.cluster).ok()?.header.audience;
        let first = audience.trailing_zeros() as usize;
        self.links.get_mut(first)?.receive(now, datagram)
    }
}

thread_local! {
    static COUNTERS: RefCell<HashMap<(u64, NodeId), Arc<AtomicU64>>> = RefCell::new(HashMap::new());
}

/// `link`, made to share its datagram counter with every other link of the same identity and
/// cluster that this thread made: tests build a sender's link where convenient, and these
/// must not look like replays of each other (they are one sender, epoch 1).
pub fn shared(mut link: super::Link) -> super::Link {
    let key = (link.cluster().0, link.me());
    link.counter = COUNTERS.with(|c| c.borrow_mut().entry(key).or_default().clone());
    link
}
