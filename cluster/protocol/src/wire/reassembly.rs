//! Reassembly of fragmented messages, within fixed memory and time bounds.
//!
//! A fragment's claimed count is never trusted for an allocation: nothing is reserved until a
//! full-size fragment tells the chunk length, and then exactly `(count - 1) * chunk` bytes,
//! which must fit the configured maximum message size. Every fragment but the last has that
//! length (the sender cuts at a fixed size), and it is at least [`MIN_FRAGMENT`], so the
//! bookkeeping per fragment is one bit per `MIN_FRAGMENT` bytes of message.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::frame::message_id;
use super::message::NodeId;

/// Smallest chunk a fragment other than the last may carry.
pub const MIN_FRAGMENT: usize = 64;

struct Partial {
    count: u32,
    /// Length of every chunk but the last, once a non-last fragment told it.
    chunk: Option<usize>,
    /// `(count - 1) * chunk` bytes once `chunk` is known.
    data: Vec<u8>,
    have: Vec<bool>,
    have_n: u32,
    last: Option<Vec<u8>>,
    /// Bytes allocated for this partial, counted against the budget.
    reserved: usize,
    touched: Instant,
}

/// Why a fragment was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentDrop {
    /// The message would exceed the configured maximum size.
    Oversize,
    /// Disagrees with earlier fragments of the same message, or its hash does not match.
    Inconsistent,
}

/// Collects fragments per (sender, message id). Partials that stop making progress expire;
/// when the byte budget is exceeded the least recently touched partial is evicted, so a
/// flood of fragments can neither exhaust memory nor block newer messages for long.
pub struct Reassembler {
    max_message: usize,
    budget: usize,
    timeout: Duration,
    partial: BTreeMap<(NodeId, u64), Partial>,
    buffered: usize,
    /// Recently completed messages: late duplicates of their fragments are ignored instead
    /// of starting a partial that would never complete.
    done: VecDeque<(NodeId, u64)>,
}

const DONE_MEMORY: usize = 4096;

/// Most incomplete messages kept at once, whatever they hold. The byte budget alone does not
/// bound them: a message's last fragment may be empty, so a sender whose tags verify could
/// open a partial per datagram at no cost against the budget, each kept until it expires
/// (memory growing with its rate times the timeout), each a step of every expiry and eviction
/// scan, and an eviction for bytes then went through all of them one by one, a stall of
/// seconds per fragment that pushed it over the budget (the real-process test
/// `forged_fragment_counts_are_dropped_counted_and_cost_no_memory` found it). Honest senders
/// have a few fragmented messages (a snapshot, a long reply or batch) in flight each, far
/// fewer than this; beyond it the least recently touched go first, as for the budget.
pub const MAX_PARTIALS: usize = 256;

impl Reassembler {
    pub fn new(max_message: usize, timeout: Duration) -> Self {
        Reassembler {
            max_message,
            budget: max_message.saturating_mul(4),
            timeout,
            partial: BTreeMap::new(),
            buffered: 0,
            done: VecDeque::new(),
        }
    }

    /// Adds one fragment; returns the whole message when this fragment completes it.
    pub fn push(
        &mut self,
        now: Instant,
        sender: NodeId,
        message: u64,
        index: u32,
        count: u32,
        chunk: &[u8],
    ) -> Result<Option<Vec<u8>>, FragmentDrop> {
        let key = (sender, message);
        if self.done.contains(&key) {
            return Ok(None);
        }
        if count == 0 || index >= count {
            return Err(FragmentDrop::Inconsistent);
        }
        let is_last = index + 1 == count;
        if !is_last {
            if chunk.len() < MIN_FRAGMENT {
                return Err(FragmentDrop::Inconsistent);
            }
            if (count as usize - 1).saturating_mul(chunk.len()) > self.max_message {
                return Err(FragmentDrop::Oversize);
            }
        } else if chunk.len() > self.max_message {
            return Err(FragmentDrop::Oversize);
        }
        let max_message = self.max_message;
        let entry = self.partial.entry(key).or_insert_with(|| Partial {
            count,
            chunk: None,
            data: Vec::new(),
            have: Vec::new(),
            have_n: 0,
            last: None,
            reserved: 0,
            touched: now,
        });
        if entry.count != count {
            return Err(FragmentDrop::Inconsistent);
        }
        entry.touched = now;
        let before = entry.reserved;
        let outcome = Self::place(entry, max_message, index, chunk);
        let grown = entry.reserved - before;
        self.buffered += grown;
        match outcome {
            Err(e) => {
                self.remove(&key);
                return Err(e);
            }
            Ok(false) => {}
            Ok(true) => {
                let Some(done) = self.remove(&key) else {
                    return Ok(None);
                };
                let mut whole = done.data;
                whole.extend(done.last.unwrap_or_default());
                if message_id(&whole) != message {
                    return Err(FragmentDrop::Inconsistent);
                }
                if self.done.len() == DONE_MEMORY {
                    self.done.pop_front();
                }
                self.done.push_back(key);
                return Ok(Some(whole));
            }
        }
        while self.buffered > self.budget || self.partial.len() > MAX_PARTIALS {
            let Some(oldest) = self
                .partial
                .iter()
                .min_by_key(|(_, p)| p.touched)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.remove(&oldest);
        }
        Ok(None)
    }

    /// Stores one fragment in its partial; `Ok(true)` when the message is complete.
    fn place(
        p: &mut Partial,
        max_message: usize,
        index: u32,
        chunk: &[u8],
    ) -> Result<bool, FragmentDrop> {
        let full_chunks = p.count as usize - 1;
        if index + 1 == p.count {
            if p.last.is_some() {
                return Ok(false);
            }
            if p.chunk.is_some_and(|c| chunk.len() > c)
                || p.data.len().saturating_add(chunk.len()) > max_message
            {
                return Err(FragmentDrop::Oversize);
            }
            p.last = Some(chunk.to_vec());
            p.reserved += chunk.len();
        } else {
            match p.chunk {
                None => {
                    let size = full_chunks * chunk.len();
                    let last = p.last.as_ref().map_or(0, Vec::len);
                    if last > chunk.len() || size.saturating_add(last) > max_message {
                        return Err(FragmentDrop::Oversize);
                    }
                    p.chunk = Some(chunk.len());
                    p.data = vec![0; size];
                    p.have = vec![false; full_chunks];
                    p.reserved += size + full_chunks;
                }
                Some(c) if c != chunk.len() => return Err(FragmentDrop::Inconsistent),
                Some(_) => {}
            }
            let i = index as usize;
            if p.have[i] {
                return Ok(false);
            }
            let at = i * chunk.len();
            p.data[at..at + chunk.len()].copy_from_slice(chunk);
            p.have[i] = true;
            p.have_n += 1;
        }
        Ok(p.last.is_some() && p.have_n as usize == full_chunks)
    }

    fn remove(&mut self, key: &(NodeId, u64)) -> Option<Partial> {
        let p = self.partial.remove(key)?;
        self.buffered -= p.reserved;
        Some(p)
    }

    /// Drops partials untouched for the timeout; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let stale: Vec<_> = self
            .partial
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.touched) >= self.timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in &stale {
            self.remove(k);
        }
        stale.len()
    }

    /// When the oldest partial will expire.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.partial
            .values()
            .map(|p| p.touched + self.timeout)
            .min()
    }

    /// Bytes held for incomplete messages: never more than four maximum-size messages.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Incomplete messages held: never more than `MAX_PARTIALS` (256).
    pub fn partials(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: NodeId = NodeId::Sequencer(1);

    #[test]
    fn a_huge_claimed_count_allocates_nothing() {
        let now = Instant::now();
        let mut r = Reassembler::new(1 << 20, Duration::from_secs(5));
        // The last fragment of a message claiming 4 billion fragments: no length to size it.
        assert_eq!(
            r.push(now, S, 1, u32::MAX - 1, u32::MAX, &[0; 10]),
            Ok(None)
        );
        assert!(r.buffered_bytes() <= 10);
        // A full fragment of it: the claimed size exceeds the maximum, refused up front.
        assert_eq!(
            r.push(now, S, 1, 0, u32::MAX, &[0; 100]),
            Err(FragmentDrop::Oversize)
        );
        // Tiny chunks cannot multiply the bookkeeping either.
        assert_eq!(
            r.push(now, S, 2, 0, 1 << 20, &[0; 1]),
            Err(FragmentDrop::Inconsistent)
        );
        assert_eq!(r.buffered_bytes(), 10);
    }

    #[test]
    fn empty_last_fragments_cannot_pile_up() {
        let now = Instant::now();
        let max = 1 << 20;
        let mut r = Reassembler::new(max, Duration::from_secs(60));
        // A flood of empty last fragments, each of a message of its own that claims 4 billion
        // fragments: they hold no bytes, but are capped.
        for m in 0..10 * MAX_PARTIALS as u64 {
            let at = now + Duration::from_millis(m + 1);
            assert_eq!(
                r.push(at, S, 1 << 40 | m, u32::MAX - 1, u32::MAX, &[]),
                Ok(None)
            );
            assert!(r.partials() <= MAX_PARTIALS);
        }
        // Then enough bytes to go over the budget: the eviction it causes frees bytes at
        // once, whatever the flood left.
        let later = now + Duration::from_secs(10);
        let big = max / 100 + 1;
        for m in 0..5 {
            let _ = r.push(later, S, 1 << 50 | m, 0, 100, &vec![1; big]);
            assert!(r.partials() <= MAX_PARTIALS);
            assert!(r.buffered_bytes() <= 4 * max + 100 * 4 + 100);
        }
        // A fresh message still goes through.
        let fresh: Vec<u8> = (0..150).map(|i| (i * 3) as u8).collect();
        let fid = message_id(&fresh);
        let last = later + Duration::from_secs(1);
        assert_eq!(r.push(last, S, fid, 0, 2, &fresh[..100]), Ok(None));
        assert_eq!(r.push(last, S, fid, 1, 2, &fresh[100..]), Ok(Some(fresh)));
    }

    #[test]
    fn fragments_that_disagree_are_dropped() {
        let now = Instant::now();
        let mut r = Reassembler::new(10_000, Duration::from_secs(5));
        assert_eq!(r.push(now, S, 7, 0, 3, &[1; 100]), Ok(None));
        assert_eq!(
            r.push(now, S, 7, 1, 3, &[1; 99]),
            Err(FragmentDrop::Inconsistent)
        );
        assert_eq!(r.buffered_bytes(), 0);
    }

    proptest! {
        /// Whatever fragments an authenticated but hostile sender makes up, the reassembler
        /// never holds more than its budget, and no partial more than the maximum message.
        #[test]
        fn forged_fragments_stay_within_the_budget(
            frags in proptest::collection::vec(
                (0u64..6, any::<u32>(), 1u32..u32::MAX, 0usize..3000),
                1..200,
            ),
        ) {
            let max = 20_000;
            let now = Instant::now();
            let mut r = Reassembler::new(max, Duration::from_secs(5));
            for (msg, index, count, len) in frags {
                let index = index % count;
                let _ = r.push(now, S, msg, index, count, &vec![7; len]);
                prop_assert!(r.buffered_bytes() <= 4 * max + 3000);
                prop_assert!(r.partials() <= MAX_PARTIALS);
                for p in r.partial.values() {
                    prop_assert!(p.reserved <= max + max / MIN_FRAGMENT + 1);
                }
            }
        }
    }
}
