//! The primary's side of fast reads (`docs/protocol.md`, "Fast reads"): Raft's ReadIndex.
//! A front end asks for the commit point; the primary answers only once it knows it was
//! still the primary after the question arrived, so that no later view can have answered a
//! write the commit point misses. Nothing here touches the log.
//!
//! Knowing it is still primary takes a round: a `ReadConfirm{view, round}` to every standby,
//! and a `ReadConfirmed` of that round (or a later one) from enough of them that, with
//! itself, they are a majority. A standby confirms only while its own view is the primary's:
//! having confirmed, it had not voted in any later view when the question reached it, so no
//! later primary had been elected (that takes a majority, which would meet this one) and
//! none had committed anything yet. A lease (heard a majority within `liveness`) would not
//! do: a standby may vote for a new primary half a `liveness` after it last answered the old
//! one. With one sequencer node there is no other primary, ever, and the answer is at once.
//!
//! A new primary's commit point may lag the last view's until its own first entry (the
//! no-op) is committed, so it answers nothing before that.

use std::net::SocketAddr;

use super::Sequencer;
use crate::wire::Message;
use crate::Destination;

/// Read-index questions waiting for their round; beyond this the oldest are dropped (their
/// front ends fall back to ordering the reads).
const WAITING_MAX: usize = 4096;

/// One front end's question, waiting for `round` to be confirmed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Waiting {
    round: u64,
    to: SocketAddr,
    nonce: u64,
}

impl Sequencer {
    /// A front end at `from` asks for the read index (only the primary gets here).
    pub(super) fn on_read_index(&mut self, from: SocketAddr, nonce: u64) {
        self.read_round += 1;
        let round = self.read_round;
        if self.read_waiting.len() >= WAITING_MAX {
            self.read_waiting.pop_front();
        }
        self.read_waiting.push_back(Waiting {
            round,
            to: from,
            nonce,
        });
        let view = self.fo.view;
        for peer in self.fo.peer_ids() {
            self.send(
                Destination::Sequencer(peer),
                &Message::ReadConfirm { view, round },
            );
        }
        self.answer_reads();
    }

    /// Standby: the primary of `view` asks whether this node still follows it.
    pub(super) fn on_read_confirm(&mut self, peer: u8, view: u64, round: u64) {
        if view == self.fo.view && !self.fo.is_primary() {
            self.send(
                Destination::Sequencer(peer),
                &Message::ReadConfirmed { view, round },
            );
        }
    }

    /// Primary: `peer` was still in this view at `round`.
    pub(super) fn on_read_confirmed(&mut self, peer: u8, view: u64, round: u64) {
        if view != self.fo.view || !self.fo.is_primary() {
            return;
        }
        self.fo.confirm_read_round(peer, round);
        self.answer_reads();
    }

    /// Answers every waiting question whose round a majority confirmed, with the current
    /// commit point (at least the one when it arrived: it only grows within a view).
    pub(super) fn answer_reads(&mut self) {
        if !self.fo.is_primary() {
            self.read_waiting.clear();
            return;
        }
        if self.committed < self.view_first {
            return;
        }
        let confirmed = self.fo.confirmed_read_round();
        let (view, committed) = (self.fo.view, self.committed);
        while let Some(w) = self.read_waiting.front().copied() {
            if w.round > confirmed {
                break;
            }
            self.read_waiting.pop_front();
            self.send(
                Destination::Addr(w.to),
                &Message::ReadIndexIs {
                    nonce: w.nonce,
                    view,
                    committed,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::failover::State;
    use super::super::views::Meta;
    use super::super::SequencerConfig;

    fn state(nodes: &[u8]) -> State {
        let cfg = SequencerConfig {
            me: 1,
            nodes: nodes.to_vec(),
            ..SequencerConfig::default()
        };
        State::new(&cfg, &Meta::default(), Instant::now())
    }

    #[test]
    fn a_read_round_needs_a_majority_with_the_primary() {
        // Three nodes: the primary and one standby are a majority.
        let mut s = state(&[1, 2, 3]);
        assert_eq!(s.confirmed_read_round(), 0);
        s.confirm_read_round(3, 5);
        assert_eq!(s.confirmed_read_round(), 5);
        s.confirm_read_round(2, 7);
        assert_eq!(s.confirmed_read_round(), 7);
        // An older confirmation changes nothing; one from a stranger is ignored.
        s.confirm_read_round(2, 1);
        s.confirm_read_round(9, 99);
        assert_eq!(s.confirmed_read_round(), 7);

        // Five nodes: two standbys must have confirmed; the lower of the best two counts.
        let mut s = state(&[1, 2, 3, 4, 5]);
        s.confirm_read_round(2, 8);
        assert_eq!(s.confirmed_read_round(), 0);
        s.confirm_read_round(4, 6);
        assert_eq!(s.confirmed_read_round(), 6);
        s.confirm_read_round(5, 9);
        assert_eq!(s.confirmed_read_round(), 8);
    }

    #[test]
    fn a_single_node_confirms_every_round_itself() {
        assert_eq!(state(&[1]).confirmed_read_round(), u64::MAX);
    }
}
