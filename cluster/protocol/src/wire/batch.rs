//! Fitting a list of items into messages that each travel in one datagram, sized by the codec
//! itself: a message's encoded size is that of the same message with an empty list, plus the
//! list's length prefix and each item's encoded size, all as postcard computes them. Adding a
//! field to a message or an item therefore cannot break packing.
//!
//! Every sender of a list message uses this: the front end (`Submit`, `Reask`, `Faults`), the
//! sequencer (`Data`, `Ordered`) and the replica manager (`Reply`).

use serde::Serialize;

/// Postcard's encoded size of `value`. Serializing into a size counter fails only for types
/// postcard cannot encode at all (none of the wire's); the fallback keeps callers panic-free
/// and makes such an item go out alone.
pub fn encoded_size<T: Serialize + ?Sized>(value: &T) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(usize::MAX / 4)
}

/// Encoded size of a list message: `empty` is the size of the message with an empty list
/// (whose length prefix takes one byte), and the list holds `count` items of `items_bytes`
/// in all.
pub fn list_size(empty: usize, count: usize, items_bytes: usize) -> usize {
    empty - 1 + encoded_size(&count) + items_bytes
}

/// Items being gathered into one message.
#[derive(Debug)]
pub struct Batch<T> {
    /// Largest encoded message body that still fits one datagram.
    budget: usize,
    /// Encoded size of the message with an empty list (whose length prefix is one byte).
    empty: usize,
    items: Vec<T>,
    /// Sum of the items' encoded sizes.
    used: usize,
}

impl<T: Serialize> Batch<T> {
    /// `empty`: the message this batch becomes, with an empty list; `budget`: the largest body
    /// that fits one datagram.
    pub fn new<M: Serialize>(budget: usize, empty: &M) -> Self {
        Batch {
            budget,
            empty: encoded_size(empty),
            items: Vec::new(),
            used: 0,
        }
    }

    /// Encoded size of the message these items make, `extra` more items of `extra_bytes`
    /// included.
    fn size_with(&self, extra: usize, extra_bytes: usize) -> usize {
        list_size(
            self.empty,
            self.items.len() + extra,
            self.used + extra_bytes,
        )
    }

    /// The encoded size of the message as it stands.
    pub fn size(&self) -> usize {
        self.size_with(0, 0)
    }

    /// Adds `item`. If the message would no longer fit with it, the items gathered so far
    /// are returned first, to be sent, and `item` starts the next message. An item too large
    /// for any message goes alone (the link fragments it).
    pub fn push(&mut self, item: T) -> Option<Vec<T>> {
        let bytes = encoded_size(&item);
        self.push_sized(item, bytes)
    }

    /// [`push`](Self::push) for a caller that already knows `encoded_size(&item)` (the
    /// sequencer keeps it with every retained entry, which it sends many times).
    pub fn push_sized(&mut self, item: T, bytes: usize) -> Option<Vec<T>> {
        debug_assert_eq!(bytes, encoded_size(&item), "push_sized with a wrong size");
        let full = (!self.items.is_empty() && self.size_with(1, bytes) > self.budget)
            .then(|| self.take())
            .flatten();
        self.items.push(item);
        self.used += bytes;
        full
    }

    /// The items gathered so far, if any; the batch starts over empty.
    pub fn take(&mut self) -> Option<Vec<T>> {
        self.used = 0;
        (!self.items.is_empty()).then(|| std::mem::take(&mut self.items))
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Splits `items` into consecutive lists whose messages (`empty` with the list filled in)
/// each fit `budget`.
pub fn pack<T: Serialize, M: Serialize>(
    items: impl IntoIterator<Item = T>,
    budget: usize,
    empty: &M,
) -> Vec<Vec<T>> {
    let mut batch = Batch::new(budget, empty);
    let mut out: Vec<Vec<T>> = items.into_iter().filter_map(|i| batch.push(i)).collect();
    out.extend(batch.take());
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::{
        testing, FaultKind, FaultReport, Link, LinkConfig, Message, NodeId, ReplyEntry, RequestId,
        Roster, Sequenced, Submission, HEADER_LEN, MAC_LEN,
    };
    use crate::ReplicaId;

    fn id(n: u64) -> RequestId {
        RequestId {
            front_end: n.wrapping_mul(0x9e37_79b9),
            number: n,
        }
    }

    fn body<T: Serialize>(msg: &T) -> usize {
        postcard::to_allocvec(msg).map(|v| v.len()).unwrap_or(0)
    }

    /// Checks the batches of one message kind: each fits unless it is a single item, none
    /// could have taken the next item, every item is there once in order, and the size the
    /// batcher computed is the real encoded size.
    fn check<T: Serialize + Clone + PartialEq + std::fmt::Debug>(
        items: Vec<T>,
        budget: usize,
        make: impl Fn(Vec<T>) -> Message,
    ) {
        let batches = pack(items.clone(), budget, &make(Vec::new()));
        let flat: Vec<T> = batches.iter().flatten().cloned().collect();
        assert_eq!(flat, items);
        for (k, b) in batches.iter().enumerate() {
            let size = body(&make(b.clone()));
            assert!(
                b.len() == 1 || size <= budget,
                "batch {k}: {size} > {budget}"
            );
            if let Some(next) = batches.get(k + 1).and_then(|n| n.first()) {
                let mut more = b.clone();
                more.push(next.clone());
                assert!(
                    body(&make(more)) > budget,
                    "batch {k} could have taken one more"
                );
            }
            let mut exact = Batch::new(budget, &make(Vec::new()));
            for i in b.iter().cloned() {
                exact.push(i);
            }
            assert_eq!(exact.size(), size, "computed size of batch {k}");
            // And on the wire: one datagram, within the configured size.
            let max_datagram = budget + HEADER_LEN + MAC_LEN;
            let grams = (b.len() > 1)
                .then(|| {
                    LINKS.with(|links| {
                        let mut links = links.borrow_mut();
                        let link = links
                            .entry(max_datagram)
                            .or_insert_with(|| link(max_datagram));
                        link.as_ref().map(|l| {
                            l.encode(&make(b.clone()), crate::Destination::Sequencer(1))
                                .expect("encodes")
                        })
                    })
                })
                .flatten();
            if let Some(grams) = grams {
                assert_eq!(grams.len(), 1, "batch {k} needed {} datagrams", grams.len());
                assert!(grams[0].len() <= max_datagram);
            }
        }
    }

    thread_local! {
        /// One link per datagram size: making one costs two X25519 operations.
        static LINKS: std::cell::RefCell<std::collections::HashMap<usize, Option<Link>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }

    /// `None` below the smallest datagram a link can fragment into.
    fn link(max_datagram: usize) -> Option<Link> {
        // A roster of one, so every destination costs one tag.
        let me = NodeId::Sequencer(1);
        let mut roster = Roster::new();
        roster
            .insert(me, testing::secret(me).public())
            .expect("a roster of one");
        Link::new(LinkConfig {
            max_datagram,
            max_message: 1 << 20,
            roster,
            ..testing::link_config(me, "batch", max_datagram)
        })
        .ok()
    }

    proptest! {
        #[test]
        fn packed_messages_fit_for_any_mix(
            budget in 64usize..1400,
            lens in proptest::collection::vec(0usize..600, 0..80),
            big in any::<u64>(),
        ) {
            let reply_to = std::net::SocketAddr::from(([10, 1, 2, 3], 7100));
            check(
                lens.iter().enumerate().map(|(i, &l)| Submission {
                    id: id(big ^ i as u64),
                    reply_to,
                    request: vec![7; l],
    trace: String::new(),
                }).collect(),
                budget,
                |entries| Message::Submit { floor: big, entries },
            );
            check(
                lens.iter().enumerate().map(|(i, &l)| Sequenced {
                    seq: big.wrapping_add(i as u64),
                    id: id(i as u64),
                    reply_to,
                    timestamp_ms: big,
                    request: vec![1; l],
    trace: String::new(),
                }).collect(),
                budget,
                Message::Data,
            );
            check(
                lens.iter().enumerate().map(|(i, &l)| ReplyEntry {
                    seq: big.wrapping_add(i as u64),
                    id: id(i as u64),
                    replica: ReplicaId::ALL[i % 4],
                    reply: vec![2; l],
                }).collect(),
                budget,
                Message::Reply,
            );
            check(
                lens.iter().map(|&l| (id(l as u64), big ^ l as u64)).collect(),
                budget,
                Message::Ordered,
            );
            check(
                lens.iter().map(|&l| big >> (l % 64)).collect(),
                budget,
                Message::Reask,
            );
            check(
                lens.iter().map(|&l| FaultReport {
                    seq: big >> (l % 64),
                    replica: ReplicaId::ALL[l % 4],
                    kind: [FaultKind::Wrong, FaultKind::Missing, FaultKind::Correct][l % 3],
                }).collect(),
                budget,
                Message::Faults,
            );
        }
    }
}
