//! Replay protection: per sender, the newest epoch seen and a sliding window of the counters
//! seen in it, as in IPsec (RFC 4303 §3.4.3) and WireGuard. A datagram is checked only after
//! its MAC, so nobody but its sender can move a window.

use std::collections::HashMap;

use super::message::NodeId;

/// Counters this far below the highest one seen are refused even if never seen: one reordered
/// by more than this many datagrams of the same sender is lost like a dropped one.
pub const WINDOW: u64 = 4096;
const WORDS: usize = (WINDOW / 64) as usize;

/// Most tool senders remembered at once. Tools are short-lived and all speak with the operator
/// key under their own numbers; evicting the oldest raises a floor below which a forgotten
/// tool's epochs stay refused, so forgetting never reopens a replay.
pub const MAX_TOOLS: usize = 64;

/// Why a datagram failed the replay check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// From an epoch of its sender older than one already seen.
    OldEpoch,
    /// A counter already seen, or too far below the newest to tell.
    Replayed,
}

#[derive(Debug, Clone)]
struct Window {
    epoch: u64,
    top: u64,
    /// Bit `i` of the ring: counter `c` with `c % WINDOW == i`, for `top - WINDOW < c <= top`.
    seen: [u64; WORDS],
    touched: u64,
}

impl Window {
    fn new(epoch: u64, counter: u64, touched: u64) -> Self {
        let mut w = Window {
            epoch,
            top: counter,
            seen: [0; WORDS],
            touched,
        };
        w.set(counter);
        w
    }

    fn bit(counter: u64) -> (usize, u64) {
        let i = counter % WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn set(&mut self, counter: u64) {
        let (w, b) = Self::bit(counter);
        self.seen[w] |= b;
    }

    fn is_set(&self, counter: u64) -> bool {
        let (w, b) = Self::bit(counter);
        self.seen[w] & b != 0
    }

    fn accept(&mut self, counter: u64) -> Result<(), Stale> {
        if counter > self.top {
            // Clear the slots the window slides over: they now stand for new counters.
            if counter - self.top >= WINDOW {
                self.seen = [0; WORDS];
            } else {
                for c in self.top + 1..=counter {
                    let (w, b) = Self::bit(c);
                    self.seen[w] &= !b;
                }
            }
            self.top = counter;
            self.set(counter);
            return Ok(());
        }
        if self.top - counter >= WINDOW || self.is_set(counter) {
            return Err(Stale::Replayed);
        }
        self.set(counter);
        Ok(())
    }
}

/// The replay state of every sender one node hears from. Its size is bounded by the roster
/// plus [`MAX_TOOLS`].
#[derive(Debug, Default)]
pub struct ReplayGuard {
    senders: HashMap<NodeId, Window>,
    /// Epochs of evicted tools at or below this are refused.
    tool_floor: u64,
    clock: u64,
}

impl ReplayGuard {
    pub fn new() -> Self {
        ReplayGuard::default()
    }

    /// Checks `(epoch, counter)` of an authenticated datagram from `sender` and records it.
    pub fn check(&mut self, sender: NodeId, epoch: u64, counter: u64) -> Result<(), Stale> {
        self.clock += 1;
        let clock = self.clock;
        let is_tool = matches!(sender, NodeId::Tool(_));
        match self.senders.get_mut(&sender) {
            Some(w) if epoch < w.epoch => Err(Stale::OldEpoch),
            Some(w) if epoch > w.epoch => {
                *w = Window::new(epoch, counter, clock);
                Ok(())
            }
            Some(w) => {
                w.touched = clock;
                w.accept(counter)
            }
            None => {
                if is_tool {
                    if epoch <= self.tool_floor {
                        return Err(Stale::OldEpoch);
                    }
                    self.make_room_for_a_tool();
                }
                self.senders
                    .insert(sender, Window::new(epoch, counter, clock));
                Ok(())
            }
        }
    }

    fn make_room_for_a_tool(&mut self) {
        let tools = self
            .senders
            .keys()
            .filter(|n| matches!(n, NodeId::Tool(_)))
            .count();
        if tools < MAX_TOOLS {
            return;
        }
        let oldest = self
            .senders
            .iter()
            .filter(|(n, _)| matches!(n, NodeId::Tool(_)))
            .min_by_key(|(_, w)| w.touched)
            .map(|(n, w)| (*n, w.epoch));
        if let Some((node, epoch)) = oldest {
            self.senders.remove(&node);
            self.tool_floor = self.tool_floor.max(epoch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: NodeId = NodeId::Sequencer(1);

    #[test]
    fn replays_and_old_epochs_are_refused() {
        let mut g = ReplayGuard::new();
        assert_eq!(g.check(S, 10, 0), Ok(()));
        assert_eq!(g.check(S, 10, 2), Ok(()));
        assert_eq!(g.check(S, 10, 1), Ok(()));
        assert_eq!(g.check(S, 10, 1), Err(Stale::Replayed));
        assert_eq!(g.check(S, 10, 2), Err(Stale::Replayed));
        // A restart: new epoch, counters from 0 again.
        assert_eq!(g.check(S, 11, 0), Ok(()));
        assert_eq!(g.check(S, 10, 3), Err(Stale::OldEpoch));
        assert_eq!(g.check(S, 11, 0), Err(Stale::Replayed));
        // Another sender's state is its own.
        assert_eq!(g.check(NodeId::FrontEnd(1), 1, 0), Ok(()));
    }

    #[test]
    fn the_window_slides_and_forgets_nothing_inside_it() {
        let mut g = ReplayGuard::new();
        assert_eq!(g.check(S, 1, 5), Ok(()));
        assert_eq!(g.check(S, 1, 5 + WINDOW), Ok(()));
        // Now below the window: refused although never seen.
        assert_eq!(g.check(S, 1, 5), Err(Stale::Replayed));
        assert_eq!(g.check(S, 1, 6), Ok(()));
        assert_eq!(g.check(S, 1, 6), Err(Stale::Replayed));
        assert_eq!(g.check(S, 1, 10 * WINDOW), Ok(()));
        assert_eq!(g.check(S, 1, 10 * WINDOW - 1), Ok(()));
    }

    #[test]
    fn forgotten_tools_stay_refused() {
        let mut g = ReplayGuard::new();
        for n in 0..MAX_TOOLS as u32 + 10 {
            assert_eq!(g.check(NodeId::Tool(n + 1), 100 + u64::from(n), 0), Ok(()));
        }
        assert!(g.senders.len() <= MAX_TOOLS);
        // Tool 1 was evicted: its epoch is below the floor now.
        assert_eq!(g.check(NodeId::Tool(1), 100, 0), Err(Stale::OldEpoch));
        assert_eq!(g.check(NodeId::Tool(1), 100, 1), Err(Stale::OldEpoch));
    }

    proptest! {
        /// Whatever order counters arrive in, each is accepted at most once, and every one
        /// within the window of the highest is accepted the first time.
        #[test]
        fn each_counter_is_accepted_at_most_once(
            counters in proptest::collection::vec(0u64..3 * WINDOW, 1..400),
        ) {
            let mut g = ReplayGuard::new();
            let mut accepted = std::collections::HashSet::new();
            let mut top = 0;
            for c in counters {
                let fresh = !accepted.contains(&c) && c + WINDOW > top;
                let got = g.check(S, 1, c).is_ok();
                prop_assert_eq!(got, fresh, "counter {} with top {}", c, top);
                if got {
                    accepted.insert(c);
                    top = top.max(c);
                }
            }
        }
    }
}
