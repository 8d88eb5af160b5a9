//! Fast reads (`docs/protocol.md`, "Fast reads"): a read-only call without a message id asks
//! the primary sequencer for its commit point (`ReadIndex`, one for every read started since
//! the last one was sent), then asks all four managers to read it at a state that includes
//! that point, and answers with the first reply two replicas sent byte for byte. Anything
//! else (no index, no two alike) within the patience falls back to ordering the read under
//! the same number, within the same deadline.
//!
//! Why two alike is enough: a write answered before the read started was committed before
//! it was answered, so its seq is at most the index; at least one of two replicas is correct,
//! and a correct one answers only from a state at or beyond the index, which includes it.

use std::collections::HashMap;
use std::mem;
use std::time::{Duration, Instant};

use super::{later, FrontEnd, FrontEndEvent, Timer, PER_REPLICA};
use crate::wire::{batch, Message, ReadEntry, ReadReplyEntry, RequestId};
use crate::{Destination, ReplicaId, Transmit};

/// A fast read that has no answer after this many re-ask intervals is ordered instead.
const PATIENCE_REASKS: u32 = 2;

enum ReadStage {
    /// Waiting for the read index asked for with this nonce (0: not asked yet).
    Index { nonce: u64 },
    /// Asked of the managers at `at_least`; each replica's first (seq, reply) counts.
    Collecting {
        at_least: u64,
        replies: [Option<(u64, Vec<u8>)>; PER_REPLICA],
    },
}

struct FastRead {
    submitted: Instant,
    /// `tessera_types::Call` bytes: sent to the managers, and ordered if need be.
    call: Vec<u8>,
    trace: String,
    fallback_at: Instant,
    stage: ReadStage,
}

#[derive(Default)]
pub(super) struct FastReads {
    reads: HashMap<u64, FastRead>,
    /// Reads that need a read index, for the next `ReadIndex`.
    need_index: Vec<u64>,
    /// The reads each outstanding `ReadIndex` nonce serves.
    by_nonce: HashMap<u64, Vec<u64>>,
    next_nonce: u64,
    /// Reads to send to the managers.
    to_send: Vec<ReadEntry>,
}

impl FrontEnd {
    /// Starts a read-only call without a message id (`tessera_types::Call::encode()` bytes;
    /// the caller vouches that it is one: a manager answers nothing else) on the fast path.
    /// Its outcome is an event like any submitted request's, under the returned id.
    pub fn submit_read(&mut self, now: Instant, call: Vec<u8>, trace: String) -> RequestId {
        self.now = Some(now);
        let number = self.next_number;
        self.next_number = number.saturating_add(1);
        self.collecting += 1;
        self.stats.submitted += 1;
        self.stats.fast_reads += 1;
        // Held in the floor until answered or ordered: ordering it later must not fall below
        // a floor the sequencer has already been told.
        self.unordered.insert(number);
        let patience = self.timeouts.reask.saturating_mul(PATIENCE_REASKS);
        let fallback_at = later(now, patience.max(Duration::from_millis(1)));
        self.timers
            .insert((fallback_at, number, Timer::ReadFallback));
        self.fast.reads.insert(
            number,
            FastRead {
                submitted: now,
                call,
                trace,
                fallback_at,
                stage: ReadStage::Index { nonce: 0 },
            },
        );
        self.fast.need_index.push(number);
        self.id(number)
    }

    /// The primary's commit point for the reads of `nonce`.
    pub(super) fn on_read_index(&mut self, _now: Instant, nonce: u64, committed: u64) {
        let Some(numbers) = self.fast.by_nonce.remove(&nonce) else {
            return;
        };
        let incarnation = self.incarnation;
        for number in numbers {
            let Some(read) = self.fast.reads.get_mut(&number) else {
                continue;
            };
            if !matches!(read.stage, ReadStage::Index { nonce: n } if n == nonce) {
                continue;
            }
            read.stage = ReadStage::Collecting {
                at_least: committed,
                replies: Default::default(),
            };
            self.fast.to_send.push(ReadEntry {
                id: RequestId {
                    front_end: incarnation,
                    number,
                },
                at_least: committed,
                request: read.call.clone(),
            });
        }
    }

    pub(super) fn on_read_reply(&mut self, now: Instant, sender: ReplicaId, entry: ReadReplyEntry) {
        // The MAC authenticates the sender: a manager speaks only for its own replica.
        if entry.replica != sender || entry.id.front_end != self.incarnation {
            return;
        }
        let number = entry.id.number;
        let slot = sender.index();
        let Some(read) = self.fast.reads.get_mut(&number) else {
            return;
        };
        let ReadStage::Collecting { at_least, replies } = &mut read.stage else {
            return;
        };
        // A correct replica never answers below the index; one that claims to has lied.
        if entry.seq < *at_least {
            return;
        }
        let Some(vote) = replies.get_mut(slot) else {
            return;
        };
        if vote.is_some() {
            return;
        }
        let matched = replies
            .iter()
            .flatten()
            .find(|(_, r)| *r == entry.reply)
            .map(|(seq, _)| *seq);
        let Some(other_seq) = matched else {
            if let Some(vote) = replies.get_mut(slot) {
                *vote = Some((entry.seq, entry.reply));
            }
            // All four in and no two alike: only ordering can tell.
            if replies.iter().all(Option::is_some) {
                self.read_fallback(now, number);
            }
            return;
        };
        let arrived = replies.iter().flatten().count() + 1;
        // The revision: the lower of the two states the answer was read at (both hold it, and
        // at least one is a correct replica's, so it is not below the index).
        let seq = entry.seq.min(other_seq);
        let fallback_at = read.fallback_at;
        self.fast.reads.remove(&number);
        self.timers
            .remove(&(fallback_at, number, Timer::ReadFallback));
        self.unordered.remove(&number);
        self.collecting = self.collecting.saturating_sub(1);
        self.stats.answered += 1;
        self.stats.fast_answered += 1;
        self.events.push_back(FrontEndEvent::Answered {
            id: self.id(number),
            seq,
            reply: entry.reply,
            replies: u8::try_from(arrived).unwrap_or(u8::MAX),
        });
    }

    pub(super) fn on_read_fallback(&mut self, now: Instant, number: u64, at: Instant) {
        let due = self
            .fast
            .reads
            .get(&number)
            .is_some_and(|r| r.fallback_at == at);
        if due {
            self.read_fallback(now, number);
        }
    }

    /// Orders the read instead, under its number and within its original deadline.
    fn read_fallback(&mut self, now: Instant, number: u64) {
        let Some(read) = self.fast.reads.remove(&number) else {
            return;
        };
        self.timers
            .remove(&(read.fallback_at, number, Timer::ReadFallback));
        self.stats.fast_fallbacks += 1;
        self.order(now, number, read.submitted, read.call, read.trace);
    }

    /// Sends the `ReadIndex` for the reads started since the last one, and the reads whose
    /// index came.
    pub(super) fn flush_reads(&mut self) {
        if !self.fast.need_index.is_empty() {
            self.fast.next_nonce += 1;
            let nonce = self.fast.next_nonce;
            let numbers = mem::take(&mut self.fast.need_index);
            for number in &numbers {
                if let Some(read) = self.fast.reads.get_mut(number) {
                    read.stage = ReadStage::Index { nonce };
                }
            }
            // Nonces whose reads all fell back are forgotten: their answer is of no use.
            let reads = &self.fast.reads;
            self.fast
                .by_nonce
                .retain(|_, ns| ns.iter().any(|n| reads.contains_key(n)));
            self.fast.by_nonce.insert(nonce, numbers);
            let dest = Destination::Sequencer(self.primary);
            if let Ok(datagrams) = self.link.encode(&Message::ReadIndex { nonce }, dest) {
                self.out.extend(
                    datagrams
                        .into_iter()
                        .map(|datagram| Transmit { to: dest, datagram }),
                );
            }
        }
        if self.fast.to_send.is_empty() {
            return;
        }
        let entries = mem::take(&mut self.fast.to_send);
        let budget = self.body_budget(Destination::AllReplicaManagers);
        for batch in batch::pack(entries, budget, &Message::Read(Vec::new())) {
            // One datagram with a tag for each manager, sent to each.
            let Ok(datagrams) = self
                .link
                .encode(&Message::Read(batch), Destination::AllReplicaManagers)
            else {
                continue;
            };
            for replica in ReplicaId::ALL {
                self.out.extend(datagrams.iter().map(|datagram| Transmit {
                    to: Destination::ReplicaManager(replica),
                    datagram: datagram.clone(),
                }));
            }
        }
    }

    /// Fast reads not yet answered or ordered.
    pub fn fast_reads_in_flight(&self) -> usize {
        self.fast.reads.len()
    }
}
