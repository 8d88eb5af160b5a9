//! Reassembly of fragmented messages, within fixed memory and time bounds.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::frame::message_id;
use super::message::NodeId;

struct Partial {
    chunks: Vec<Option<Vec<u8>>>,
    have: u32,
    bytes: usize,
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
        // Each fragment but the last is full, so `count` bounds the size from below.
        if (count as usize)
            .saturating_sub(1)
            .saturating_mul(chunk.len().max(1))
            > self.max_message
        {
            return Err(FragmentDrop::Oversize);
        }
        let entry = self.partial.entry(key).or_insert_with(|| Partial {
            chunks: vec![None; count as usize],
            have: 0,
            bytes: 0,
            touched: now,
        });
        if entry.chunks.len() != count as usize {
            return Err(FragmentDrop::Inconsistent);
        }
        entry.touched = now;
        let slot = &mut entry.chunks[index as usize];
        if slot.is_some() {
            return Ok(None);
        }
        *slot = Some(chunk.to_vec());
        entry.have += 1;
        entry.bytes += chunk.len();
        self.buffered += chunk.len();
        if entry.bytes > self.max_message {
            self.remove(&key);
            return Err(FragmentDrop::Oversize);
        }
        if entry.have as usize == entry.chunks.len() {
            let Some(done) = self.remove(&key) else {
                return Ok(None);
            };
            let whole: Vec<u8> = done.chunks.into_iter().flatten().flatten().collect();
            if message_id(&whole) != message {
                return Err(FragmentDrop::Inconsistent);
            }
            if self.done.len() == DONE_MEMORY {
                self.done.pop_front();
            }
            self.done.push_back(key);
            return Ok(Some(whole));
        }
        while self.buffered > self.budget {
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

    fn remove(&mut self, key: &(NodeId, u64)) -> Option<Partial> {
        let p = self.partial.remove(key)?;
        self.buffered -= p.bytes;
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

    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }
}
