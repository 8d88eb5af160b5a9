//! One node's end of the wire: turns messages into sealed datagrams and authenticated
//! datagrams back into messages, counting everything it drops.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::frame::{
    self, ClusterId, FrameBody, Key, Reject, FRAGMENT_HEADER_LEN, HEADER_LEN, MAC_LEN,
};
use super::message::{Message, NodeId};
use super::reassembly::{FragmentDrop, Reassembler};
use super::WireError;

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub cluster: ClusterId,
    pub key: Key,
    pub me: NodeId,
    /// Largest datagram sent, header and MAC included.
    pub max_datagram: usize,
    /// Largest message after reassembly.
    pub max_message: usize,
    /// How long an incomplete message's fragments are kept without progress.
    pub reassembly_timeout: Duration,
}

/// Counters of what arrived and what was dropped, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WireStats {
    pub datagrams: u64,
    pub messages: u64,
    pub truncated: u64,
    pub bad_magic: u64,
    pub bad_version: u64,
    pub wrong_cluster: u64,
    pub bad_mac: u64,
    /// Authenticated datagrams whose sender field names no node.
    pub unknown_sender: u64,
    pub malformed: u64,
    pub oversize: u64,
    pub fragments_expired: u64,
}

impl WireStats {
    /// Every datagram dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.truncated
            + self.bad_magic
            + self.bad_version
            + self.wrong_cluster
            + self.bad_mac
            + self.unknown_sender
            + self.malformed
            + self.oversize
    }
}

pub struct Link {
    cfg: LinkConfig,
    reassembler: Reassembler,
    stats: WireStats,
}

impl Link {
    pub fn new(cfg: LinkConfig) -> Result<Self, WireError> {
        if cfg.max_datagram <= HEADER_LEN + FRAGMENT_HEADER_LEN + MAC_LEN {
            return Err(WireError::DatagramTooSmall(cfg.max_datagram));
        }
        Ok(Link {
            reassembler: Reassembler::new(cfg.max_message, cfg.reassembly_timeout),
            cfg,
            stats: WireStats::default(),
        })
    }

    pub fn me(&self) -> NodeId {
        self.cfg.me
    }

    /// Largest datagram this link sends, header and MAC included: lets a sender pack as many
    /// entries per message as fit in one datagram.
    pub fn max_datagram(&self) -> usize {
        self.cfg.max_datagram
    }

    pub fn stats(&self) -> &WireStats {
        &self.stats
    }

    /// Largest message (after reassembly) this link encodes or accepts.
    pub fn max_message(&self) -> usize {
        self.cfg.max_message
    }

    /// Seals `msg` into one datagram, or into fragments if it does not fit in one.
    pub fn encode(&self, msg: &Message) -> Result<Vec<Vec<u8>>, WireError> {
        let body = postcard::to_stdvec(msg).map_err(|_| WireError::TooLarge {
            size: usize::MAX,
            max: self.cfg.max_message,
        })?;
        if body.len() > self.cfg.max_message {
            return Err(WireError::TooLarge {
                size: body.len(),
                max: self.cfg.max_message,
            });
        }
        let kind = msg.kind();
        if HEADER_LEN + body.len() + MAC_LEN <= self.cfg.max_datagram {
            let mut d = Vec::with_capacity(HEADER_LEN + body.len() + MAC_LEN);
            frame::write_header(&mut d, self.cfg.cluster, kind, self.cfg.me, false);
            d.extend_from_slice(&body);
            frame::seal(&mut d, &self.cfg.key);
            return Ok(vec![d]);
        }
        let chunk = self.cfg.max_datagram - HEADER_LEN - FRAGMENT_HEADER_LEN - MAC_LEN;
        let id = frame::message_id(&body);
        let count = body.len().div_ceil(chunk);
        let count32 = u32::try_from(count).map_err(|_| WireError::TooLarge {
            size: body.len(),
            max: self.cfg.max_message,
        })?;
        Ok(body
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| {
                let mut d = Vec::with_capacity(self.cfg.max_datagram);
                frame::write_header(&mut d, self.cfg.cluster, kind, self.cfg.me, true);
                frame::fragment_header(&mut d, id, i as u32, count32);
                d.extend_from_slice(part);
                frame::seal(&mut d, &self.cfg.key);
                d
            })
            .collect())
    }

    /// Authenticates and decodes one datagram. `None` when it was dropped (and counted) or
    /// when it is a fragment of a message that is not complete yet.
    pub fn receive(&mut self, now: Instant, datagram: &[u8]) -> Option<(NodeId, Message)> {
        self.stats.datagrams += 1;
        let frame = match frame::open(datagram, self.cfg.cluster, &self.cfg.key) {
            Ok(f) => f,
            Err(r) => {
                self.count(r);
                return None;
            }
        };
        let assembled;
        let body = match frame.body {
            FrameBody::Whole(b) => b,
            FrameBody::Fragment {
                message,
                index,
                count,
                chunk,
            } => match self
                .reassembler
                .push(now, frame.sender, message, index, count, chunk)
            {
                Ok(Some(whole)) => {
                    assembled = whole;
                    &assembled[..]
                }
                Ok(None) => return None,
                Err(FragmentDrop::Oversize) => {
                    self.stats.oversize += 1;
                    return None;
                }
                Err(FragmentDrop::Inconsistent) => {
                    self.stats.malformed += 1;
                    return None;
                }
            },
        };
        match postcard::take_from_bytes::<Message>(body) {
            Ok((msg, [])) if msg.kind() == frame.kind => {
                self.stats.messages += 1;
                Some((frame.sender, msg))
            }
            _ => {
                self.stats.malformed += 1;
                None
            }
        }
    }

    fn count(&mut self, r: Reject) {
        let s = &mut self.stats;
        match r {
            Reject::Truncated => s.truncated += 1,
            Reject::BadMagic => s.bad_magic += 1,
            Reject::BadVersion => s.bad_version += 1,
            Reject::WrongCluster => s.wrong_cluster += 1,
            Reject::BadMac => s.bad_mac += 1,
            Reject::UnknownSender => s.unknown_sender += 1,
            Reject::Malformed => s.malformed += 1,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reassembler.next_expiry()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.stats.fragments_expired += self.reassembler.expire(now) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplicaId;

    /// Replica `n` (1..=4), for tests.
    fn r(n: u8) -> ReplicaId {
        ReplicaId::new(n).expect("a replica number")
    }
    use crate::wire::{ReplyEntry, RequestId};

    fn link(me: NodeId, cluster: &str, secret: &str, max_datagram: usize) -> Link {
        Link::new(LinkConfig {
            cluster: ClusterId::from_name(cluster),
            key: Key::derive(secret),
            me,
            max_datagram,
            max_message: 4 << 20,
            reassembly_timeout: Duration::from_secs(5),
        })
        .unwrap()
    }

    fn big_reply(len: usize) -> Message {
        Message::Reply(vec![ReplyEntry {
            seq: 9,
            id: RequestId {
                front_end: 1,
                number: 2,
            },
            replica: r(3),
            reply: (0..len).map(|i| (i * 7) as u8).collect(),
        }])
    }

    #[test]
    fn round_trip_whole_and_fragmented() {
        let now = Instant::now();
        let a = link(NodeId::ReplicaManager(r(3)), "c", "k", 1200);
        let mut b = link(NodeId::FrontEnd(1), "c", "k", 1200);
        for len in [0, 10, 1100, 1200, 50_000] {
            let msg = big_reply(len);
            let grams = a.encode(&msg).unwrap();
            assert!(grams.iter().all(|g| g.len() <= 1200));
            let mut out = None;
            // Reverse order: reassembly must not depend on arrival order.
            for g in grams.iter().rev() {
                out = out.or(b.receive(now, g));
            }
            assert_eq!(out, Some((NodeId::ReplicaManager(r(3)), msg)));
        }
    }

    #[test]
    fn retransmission_fills_holes() {
        let now = Instant::now();
        let a = link(NodeId::ReplicaManager(r(1)), "c", "k", 600);
        let mut b = link(NodeId::FrontEnd(1), "c", "k", 600);
        let msg = big_reply(20_000);
        let grams = a.encode(&msg).unwrap();
        assert!(grams.len() > 10);
        // First attempt loses the odd fragments, the second the even ones.
        let evens = grams.iter().step_by(2);
        let odds = grams.iter().skip(1).step_by(2);
        assert!(evens.filter_map(|g| b.receive(now, g)).next().is_none());
        let got: Vec<_> = odds.filter_map(|g| b.receive(now, g)).collect();
        assert_eq!(got, vec![(NodeId::ReplicaManager(r(1)), msg)]);
    }

    #[test]
    fn rejects_are_counted_not_decoded() {
        let now = Instant::now();
        let a = link(NodeId::Sequencer, "c", "k", 1400);
        let mut b = link(NodeId::ReplicaManager(r(1)), "c", "k", 1400);
        let good = a
            .encode(&Message::Heartbeat { high: 5, low: 1 })
            .unwrap()
            .remove(0);

        assert!(b.receive(now, &good[..10]).is_none());
        let mut bad_mac = good.clone();
        *bad_mac.last_mut().unwrap() ^= 1;
        assert!(b.receive(now, &bad_mac).is_none());
        let mut flipped = good.clone();
        flipped[HEADER_LEN] ^= 0x40;
        assert!(b.receive(now, &flipped).is_none());
        let mut version = good.clone();
        version[4] = 0;
        assert!(b.receive(now, &version).is_none());
        let other_cluster = link(NodeId::Sequencer, "other", "k", 1400)
            .encode(&Message::Heartbeat { high: 5, low: 1 })
            .unwrap();
        assert!(b.receive(now, &other_cluster[0]).is_none());
        let other_key = link(NodeId::Sequencer, "c", "other", 1400)
            .encode(&Message::Heartbeat { high: 5, low: 1 })
            .unwrap();
        assert!(b.receive(now, &other_key[0]).is_none());
        assert!(b
            .receive(
                now,
                b"GET / HTTP/1.1\r\nHost: tessera.example\r\nAccept: */*\r\n\r\n"
            )
            .is_none());

        let s = b.stats().clone();
        assert_eq!(
            (
                s.truncated,
                s.bad_mac,
                s.bad_version,
                s.wrong_cluster,
                s.bad_magic
            ),
            (1, 3, 1, 1, 1)
        );
        assert_eq!(s.dropped(), 7);
        assert_eq!(
            b.receive(now, &good),
            Some((NodeId::Sequencer, Message::Heartbeat { high: 5, low: 1 }))
        );
    }

    #[test]
    fn oversize_messages_are_refused_both_ways() {
        let a = Link::new(LinkConfig {
            cluster: ClusterId::from_name("c"),
            key: Key::derive("k"),
            me: NodeId::Sequencer,
            max_datagram: 1400,
            max_message: 1000,
            reassembly_timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert!(matches!(
            a.encode(&big_reply(5000)),
            Err(WireError::TooLarge { .. })
        ));
        // A receiver with a smaller limit drops a sender's larger message.
        let big = link(NodeId::Sequencer, "c", "k", 1400)
            .encode(&big_reply(5000))
            .unwrap();
        let mut small = Link::new(LinkConfig {
            me: NodeId::FrontEnd(1),
            ..a.cfg.clone()
        })
        .unwrap();
        let now = Instant::now();
        assert!(big.iter().all(|g| small.receive(now, g).is_none()));
        assert!(small.stats().oversize > 0);
    }

    #[test]
    fn stale_partials_expire() {
        let t0 = Instant::now();
        let a = link(NodeId::Sequencer, "c", "k", 600);
        let mut b = link(NodeId::FrontEnd(1), "c", "k", 600);
        let grams = a.encode(&big_reply(5000)).unwrap();
        assert!(b.receive(t0, &grams[0]).is_none());
        assert!(b.poll_timeout().is_some());
        b.handle_timeout(t0 + Duration::from_secs(6));
        assert_eq!(b.stats().fragments_expired, 1);
        assert!(b.poll_timeout().is_none());
    }
}
