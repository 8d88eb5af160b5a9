//! Fast reads (`docs/protocol.md`, "Fast reads"): a read-only call without a message id asks
//! the primary sequencer for its commit point (`ReadIndex`, one for every read started since
//! the last one was sent), then asks managers to read it at a state that includes that point,
//! and answers with the first reply two replicas sent byte for byte. It asks the two whose
//! replicas have answered fast reads fastest, and the other two only if those have not given
//! two alike within a re-ask interval (at once if they answered differently): a read costs
//! two replicas' work, not four. With few reads in flight it asks those two at once, with the
//! question for the index: a reply then counts when the index comes, if it was read at or
//! beyond it, which spares a round trip whenever the replicas are up to date. Anything
//! else (no index, no two alike) within the patience falls back to ordering the read under
//! the same number, within the same deadline. With `fast_read_limit` calls already in flight
//! a read is ordered at once: the cores are then the limit, not the hops, and an ordered read
//! rides in the writes' batches where a fast one needs datagrams of its own.
//!
//! Why two alike is enough: a write answered before the read started was committed before
//! it was answered, so its seq is at most the index; at least one of two replicas is correct,
//! and a correct one answers only from a state at or beyond the index, which includes it.
//!
//! A front end that is the cluster's only one ([`OwnIndex`]) has answered every call anyone
//! was ever answered, so after the primary's first index it takes the index from what it
//! knows committed, without the round trip.

use std::collections::{BTreeMap, HashMap};
use std::mem;
use std::time::{Duration, Instant};

use super::{later, FrontEnd, FrontEndEvent, Timer, PER_REPLICA};
use crate::wire::{batch, Message, ReadEntry, ReadReplyEntry, RequestId};
use crate::{Destination, ReplicaId, Transmit};

/// A fast read that has no answer after this many re-ask intervals is ordered instead.
const PATIENCE_REASKS: u32 = 2;

/// How many managers a fast read asks at first.
const FIRST_ASKED: usize = 2;

/// With at most this many fast reads in flight, a read goes to the managers with the question
/// for the index, not after it.
const ASK_EARLY_UP_TO: usize = 2;

/// Every this many choices of the managers to ask first, all four are, so that the
/// record of replicas not asked first lately is renewed.
const EXPLORE_EVERY: u64 = 64;

/// Which managers a `Read` goes to (`mask[r - 1]`: replica r's).
type Asked = [bool; PER_REPLICA];

enum ReadStage {
    /// Waiting for a read index: an answer to any question it was asked with
    /// (`FastReads::by_nonce`) will do. `again_at`: when it is asked for again, if none came.
    Index { again_at: Option<Instant> },
    /// Asked of the managers at `at_least`; `escalate_at`: when the managers not asked yet
    /// are, unless two alike came (`None` once all four were asked).
    Collecting {
        at_least: u64,
        escalate_at: Option<Instant>,
    },
}

impl ReadStage {
    /// The timer this stage has armed, if any.
    fn armed(&self) -> Option<(Instant, Timer)> {
        match *self {
            ReadStage::Index { again_at } => again_at.map(|at| (at, Timer::ReadIndexAgain)),
            ReadStage::Collecting { escalate_at, .. } => {
                escalate_at.map(|at| (at, Timer::ReadEscalate))
            }
        }
    }
}

struct FastRead {
    submitted: Instant,
    /// `tessera_types::Call` bytes: sent to the managers, and ordered if need be.
    call: Vec<u8>,
    trace: String,
    fallback_at: Instant,
    /// `replies[r - 1]`: replica r's first reply that counts, (seq, bytes); before the index
    /// came, its reply to the read asked with the question, judged when the index comes.
    replies: [Option<(u64, Vec<u8>)>; PER_REPLICA],
    /// `asked[r - 1]`: when replica r's manager was asked.
    asked: [Option<Instant>; PER_REPLICA],
    /// `early[r - 1]`: replica r's manager was asked with the question for the index
    /// (`at_least` 0) and not since with the index: its reply may be from below the index
    /// without lying, and then it is asked again, with the index.
    early: [bool; PER_REPLICA],
    stage: ReadStage,
}

impl FastRead {
    /// Some manager was asked already (with the question for the index).
    fn asked_yet(&self) -> bool {
        self.asked.iter().any(Option::is_some)
    }

    /// Every manager asked so far has a reply that counts.
    fn all_asked_answered(&self) -> bool {
        self.asked
            .iter()
            .zip(&self.replies)
            .all(|(asked, vote)| asked.is_none() || vote.is_some())
    }

    /// The managers in `to` are asked now: with the question for the index when `early`,
    /// else with the index.
    fn mark_asked(&mut self, to: Asked, now: Instant, early: bool) {
        for ((asked, was_early), ask) in self.asked.iter_mut().zip(&mut self.early).zip(to) {
            if ask {
                *asked = Some(now);
                *was_early = early;
            }
        }
    }
}

#[derive(Default)]
pub(super) struct FastReads {
    reads: HashMap<u64, FastRead>,
    /// Reads that need a read index, for the next `ReadIndex`.
    need_index: Vec<u64>,
    /// The reads each outstanding `ReadIndex` nonce serves.
    by_nonce: HashMap<u64, Vec<u64>>,
    /// Nonces count up from the incarnation, so that an answer to an earlier start's question
    /// is never taken for one to this start's: that start would have had to ask more than a
    /// million questions per millisecond it ran (`RequestId::incarnation`).
    first_nonce: u64,
    next_nonce: u64,
    /// Reads to send, and to which managers.
    to_send: Vec<(ReadEntry, Asked)>,
    /// Per replica, the smoothed time from asking to its fast reply (`None`: not measured
    /// yet, so tried first); a replica that missed or answered wrong counts as slow.
    speed: [Option<Duration>; PER_REPLICA],
    /// Choices made of the managers to ask first.
    choices: u64,
    pub(super) own: OwnIndex,
}

/// The read index of a front end that is the cluster's only one
/// (`FrontEndConfig::only_front_end`). Every call anyone was answered, it answered: this
/// incarnation, or an earlier one, which ended before this one asked the primary for its first
/// index. So the highest seq it knows committed (the primary's indexes, `Ordered`, its ordered
/// answers) is at least every write's and every ordered read's seq that was answered before a
/// read begins, as the primary's index would be, and costs no round trip. A fast read,
/// though, takes effect at a seq that the correct one of its two replicas read at, which may be
/// beyond what the front end knows committed; the index is then the primary's again, until it
/// has answered a question asked after that read was answered (`docs/protocol.md`, "Fast
/// reads").
#[derive(Default)]
pub(super) struct OwnIndex {
    enabled: bool,
    /// The highest seq known committed.
    committed: u64,
    /// The highest nonce the primary answered since this front end started (0: none).
    answered: u64,
    /// The primary's index is needed for a question asked after this nonce.
    barrier: u64,
}

impl OwnIndex {
    /// The index for a read starting now, if the front end's own will do.
    fn index(&self) -> Option<u64> {
        (self.enabled && self.answered > self.barrier).then_some(self.committed)
    }

    pub(super) fn committed(&mut self, seq: u64) {
        self.committed = self.committed.max(seq);
    }
}

impl FastReads {
    pub(super) fn new(incarnation: u64, only_front_end: bool) -> Self {
        FastReads {
            first_nonce: incarnation,
            next_nonce: incarnation,
            own: OwnIndex {
                enabled: only_front_end,
                ..OwnIndex::default()
            },
            ..FastReads::default()
        }
    }

    /// The managers to ask first: the two replicas with the fastest record, or all four every
    /// `EXPLORE_EVERY`th time. Even on an idle cluster two, not four: waking four managers
    /// and four replicas for every read costs the two cores more than the first two of four
    /// would gain (`docs/performance.md`, "Asking two replicas, not four").
    fn first_asked(&mut self) -> Asked {
        self.choices += 1;
        if self.choices.is_multiple_of(EXPLORE_EVERY) {
            return [true; PER_REPLICA];
        }
        let mut order: Vec<usize> = (0..PER_REPLICA).collect();
        order.sort_by_key(|&i| (self.speed[i].unwrap_or_default(), i));
        let mut mask = [false; PER_REPLICA];
        for &i in order.iter().take(FIRST_ASKED) {
            mask[i] = true;
        }
        mask
    }

    /// Some read of `numbers` has not been asked of any manager yet.
    fn any_unasked(&self, numbers: &[u64]) -> bool {
        numbers
            .iter()
            .any(|n| self.reads.get(n).is_some_and(|r| !r.asked_yet()))
    }

    /// Read `number` is still waiting for its read index.
    fn waits_for_index(&self, number: u64) -> bool {
        self.reads
            .get(&number)
            .is_some_and(|r| matches!(r.stage, ReadStage::Index { .. }))
    }

    fn observe(&mut self, slot: usize, took: Duration) {
        if let Some(speed) = self.speed.get_mut(slot) {
            // An exponential average over about eight replies.
            *speed = Some(speed.map_or(took, |old| (old * 7 + took) / 8));
        }
    }

    /// `slot` missed a read or answered it wrong: not asked first until the others do worse.
    fn demote(&mut self, slot: usize, to: Duration) {
        if let Some(speed) = self.speed.get_mut(slot) {
            *speed = Some(speed.unwrap_or_default().max(to));
        }
    }
}

impl FrontEnd {
    /// Starts a read-only call without a message id (`tessera_types::Call::encode()` bytes;
    /// the caller vouches that it is one: a manager answers nothing else) on the fast path,
    /// or orders it when `fast_read_limit` calls are already in flight.
    /// Its outcome is an event like any submitted request's, under the returned id.
    pub fn submit_read(&mut self, now: Instant, call: Vec<u8>, trace: String) -> RequestId {
        if self.collecting >= self.fast_read_limit {
            self.stats.reads_ordered_under_load += 1;
            return self.submit_traced(now, call, trace);
        }
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
                replies: Default::default(),
                asked: [None; PER_REPLICA],
                early: [false; PER_REPLICA],
                stage: ReadStage::Index { again_at: None },
            },
        );
        self.fast.need_index.push(number);
        self.id(number)
    }

    /// The primary's commit point for the reads of `nonce`.
    pub(super) fn on_read_index(&mut self, now: Instant, nonce: u64, committed: u64) {
        // Any answer to a question asked since this front end started covers every call
        // answered before it was asked.
        if nonce > self.fast.first_nonce && nonce <= self.fast.next_nonce {
            let own = &mut self.fast.own;
            own.answered = own.answered.max(nonce);
            own.committed(committed);
        }
        let Some(mut numbers) = self.fast.by_nonce.remove(&nonce) else {
            return;
        };
        // A read asked with this nonce and again since still takes this answer: the question
        // was asked after the read started, which is all an index needs.
        numbers.retain(|n| self.fast.waits_for_index(*n));
        self.index_known(now, numbers, committed);
    }

    /// The index `committed` of `numbers`, reads waiting for one: each is answered by the
    /// replies in already, or asked of the managers at the index.
    fn index_known(&mut self, now: Instant, numbers: Vec<u64>, committed: u64) {
        let incarnation = self.incarnation;
        // Chosen once, for the reads not asked with the question.
        let first = if self.fast.any_unasked(&numbers) {
            self.fast.first_asked()
        } else {
            [false; PER_REPLICA]
        };
        for number in numbers {
            let Some(read) = self.fast.reads.get_mut(&number) else {
                continue;
            };
            // One re-ask interval, but at least half of one before the fallback: an index that
            // came late (asked for again) still leaves the managers asked then time to answer.
            let reask = self.timeouts.reask;
            let patience_left = read.fallback_at.saturating_duration_since(now);
            let escalate_in = reask.min(patience_left.saturating_sub(reask / 2));
            let escalate_at = later(now, escalate_in.max(Duration::from_millis(1)));
            // Replies to the read asked with the question count only if read at or beyond
            // the index; the managers whose did not are asked again, with it. Those that have
            // not replied yet are not: asking them twice would double the replicas' work on
            // an idle cluster, where the index usually comes first. Their replies are judged
            // as they come (`on_read_reply`), and the silent ones are asked again, with the
            // index, after one re-ask interval.
            let mut stale = [false; PER_REPLICA];
            for (vote, stale) in read.replies.iter_mut().zip(&mut stale) {
                if vote.as_ref().is_some_and(|(seq, _)| *seq < committed) {
                    *vote = None;
                    *stale = true;
                }
            }
            if let Some(alike) = two_alike(&read.replies) {
                self.read_answered(number, alike);
                continue;
            }
            if read.replies.iter().all(Option::is_some) {
                self.read_fallback(now, number);
                continue;
            }
            if let Some((at, timer)) = read.stage.armed() {
                self.timers.remove(&(at, number, timer));
            }
            let early = read.asked_yet();
            let to: Asked = if early { stale } else { first };
            read.mark_asked(to, now, false);
            let all_asked = read.asked.iter().all(Option::is_some);
            let awaiting_early = read
                .early
                .iter()
                .zip(&read.replies)
                .any(|(early, vote)| *early && vote.is_none());
            let escalates = !all_asked || awaiting_early;
            read.stage = ReadStage::Collecting {
                at_least: committed,
                escalate_at: escalates.then_some(escalate_at),
            };
            if escalates {
                self.timers
                    .insert((escalate_at, number, Timer::ReadEscalate));
            }
            // Every manager asked has answered, none alike (a lie among them): ask the rest now.
            let all_asked_in = read.all_asked_answered();
            if to.contains(&true) {
                let entry = read_entry(incarnation, number, committed, &read.call);
                self.fast.to_send.push((entry, to));
            }
            if escalates && all_asked_in {
                self.read_escalate(now, number);
            }
        }
    }

    pub(super) fn on_read_escalate(&mut self, now: Instant, number: u64, at: Instant) {
        let due = self.fast.reads.get(&number).is_some_and(
            |r| matches!(r.stage, ReadStage::Collecting { escalate_at: Some(e), .. } if e == at),
        );
        if due {
            self.read_escalate(now, number);
        }
    }

    /// Asks the managers not asked yet, and again those asked that have not replied (their
    /// `Read` or its reply may have been lost), with the index; the silent ones count as slow.
    fn read_escalate(&mut self, now: Instant, number: u64) {
        let reask = self.timeouts.reask;
        let Some(read) = self.fast.reads.get_mut(&number) else {
            return;
        };
        let ReadStage::Collecting {
            at_least,
            escalate_at,
        } = &mut read.stage
        else {
            return;
        };
        let at_least = *at_least;
        if let Some(at) = escalate_at.take() {
            self.timers.remove(&(at, number, Timer::ReadEscalate));
        }
        let mut rest = [false; PER_REPLICA];
        let mut silent = Vec::new();
        for (slot, (asked, vote)) in read.asked.iter().zip(&read.replies).enumerate() {
            if vote.is_none() {
                rest[slot] = true;
                if asked.is_some() {
                    silent.push(slot);
                }
            }
        }
        read.mark_asked(rest, now, false);
        let entry = read_entry(self.incarnation, number, at_least, &read.call);
        for slot in silent {
            self.fast.demote(slot, reask);
        }
        if rest.contains(&true) {
            self.fast.to_send.push((entry, rest));
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
        let Some(asked_at) = read.asked.get(slot).copied().flatten() else {
            // Not asked (yet): nothing to judge it by.
            return;
        };
        let took = now.saturating_duration_since(asked_at);
        let (at_least, escalate_at) = match read.stage {
            // Asked with the question: kept until the index comes.
            ReadStage::Index { .. } => {
                if let Some(vote @ None) = read.replies.get_mut(slot) {
                    *vote = Some((entry.seq, entry.reply));
                }
                return;
            }
            ReadStage::Collecting {
                at_least,
                escalate_at,
            } => (at_least, escalate_at),
        };
        if entry.seq < at_least {
            // A reply to the read asked with the question may be from before the index: ask
            // again, with it. Any other reply below the index is a lie.
            if read.early.get(slot) == Some(&true) {
                let mut to = [false; PER_REPLICA];
                to[slot] = true;
                read.mark_asked(to, now, false);
                let entry = read_entry(self.incarnation, number, at_least, &read.call);
                self.fast.to_send.push((entry, to));
            }
            return;
        }
        let Some(vote @ None) = read.replies.get_mut(slot) else {
            return;
        };
        *vote = Some((entry.seq, entry.reply));
        let alike = two_alike(&read.replies);
        let all_in = read.replies.iter().all(Option::is_some);
        // Every manager asked so far answered, none alike: ask the others at once.
        let ask_rest = escalate_at.is_some() && read.all_asked_answered();
        self.fast.observe(slot, took);
        if let Some(alike) = alike {
            self.read_answered(number, alike);
        } else if all_in {
            // All four in and no two alike: only ordering can tell.
            self.read_fallback(now, number);
        } else if ask_rest {
            self.read_escalate(now, number);
        }
    }

    /// Forgets fast read `number` and its timers; returns it.
    fn take_read(&mut self, number: u64) -> Option<FastRead> {
        let read = self.fast.reads.remove(&number)?;
        self.timers
            .remove(&(read.fallback_at, number, Timer::ReadFallback));
        if let Some((at, timer)) = read.stage.armed() {
            self.timers.remove(&(at, number, timer));
        }
        Some(read)
    }

    fn read_answered(&mut self, number: u64, alike: Alike) {
        let Alike {
            seq,
            highest,
            reply,
            arrived,
        } = alike;
        let Some(read) = self.take_read(number) else {
            return;
        };
        // It took effect at the correct replica's seq, at most `highest`: a later read must not
        // be asked below it, and the front end may not know it committed.
        if highest > self.fast.own.committed {
            self.fast.own.barrier = self.fast.next_nonce;
        }
        // Those that answered otherwise are not asked first next time.
        for (slot, vote) in read.replies.iter().enumerate() {
            if vote.as_ref().is_some_and(|(_, r)| *r != reply) {
                self.fast
                    .demote(slot, self.timeouts.reask.saturating_mul(4));
            }
        }
        self.unordered.remove(&number);
        self.collecting = self.collecting.saturating_sub(1);
        self.stats.answered += 1;
        self.stats.fast_answered += 1;
        self.events.push_back(FrontEndEvent::Answered {
            id: self.id(number),
            seq,
            reply,
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

    /// The read index of read `number` has not come one re-ask interval after it was asked
    /// for: the question or its answer was lost, or the primary changed. Asked again at the
    /// next flush, with the reads started since, rather than the read falling back to being
    /// ordered at the end of its patience, so that a lossy network keeps its fast reads.
    pub(super) fn on_read_index_again(&mut self, number: u64, at: Instant) {
        let Some(read) = self.fast.reads.get_mut(&number) else {
            return;
        };
        let ReadStage::Index { again_at, .. } = &mut read.stage else {
            return;
        };
        if *again_at != Some(at) {
            return;
        }
        *again_at = None;
        self.stats.fast_index_asked_again += 1;
        self.fast.need_index.push(number);
    }

    /// Orders the read instead, under its number and within its original deadline.
    fn read_fallback(&mut self, now: Instant, number: u64) {
        let Some(read) = self.take_read(number) else {
            return;
        };
        self.stats.fast_fallbacks += 1;
        self.order(now, number, read.submitted, read.call, read.trace);
    }

    /// Sends the `ReadIndex` for the reads started since the last one (with few reads in
    /// flight, their `Read` to the managers asked first too, at once), and the reads whose
    /// index came.
    pub(super) fn flush_reads(&mut self) {
        // The managers' round trip (four hops, a replica's work) is the longer one: their
        // `Read`s go out before the `ReadIndex` (two hops), so that the longer path starts
        // first.
        let index = self.read_index();
        self.send_reads();
        self.out.extend(index);
    }

    /// The `ReadIndex` for the reads started since the last one; with few reads in flight,
    /// their `Read`s to the managers asked first are queued too. None when the front end's own
    /// index will do: their `Read`s are then queued at once, with it.
    fn read_index(&mut self) -> Vec<Transmit> {
        let mut out = Vec::new();
        if self.fast.need_index.is_empty() {
            return out;
        }
        let mut numbers = mem::take(&mut self.fast.need_index);
        // One asked for again may have had its index meanwhile, or fallen back.
        numbers.retain(|n| self.fast.waits_for_index(*n));
        if numbers.is_empty() {
            return out;
        }
        if let (Some(index), Some(now)) = (self.fast.own.index(), self.now) {
            self.stats.fast_own_index += numbers.len() as u64;
            self.index_known(now, numbers, index);
            return out;
        }
        self.fast.next_nonce = self.fast.next_nonce.saturating_add(1);
        let nonce = self.fast.next_nonce;
        let early = self.now.filter(|_| {
            self.fast.reads.len() <= ASK_EARLY_UP_TO && self.fast.any_unasked(&numbers)
        });
        let to = if early.is_some() {
            self.fast.first_asked()
        } else {
            [false; PER_REPLICA]
        };
        let again = self
            .now
            .map(|now| later(now, self.timeouts.reask.max(Duration::from_millis(1))));
        for number in &numbers {
            let Some(read) = self.fast.reads.get_mut(number) else {
                continue;
            };
            // Asked again only if the answer could still come before the read falls back.
            let again_at = again.filter(|at| *at < read.fallback_at);
            if let Some(at) = again_at {
                self.timers.insert((at, *number, Timer::ReadIndexAgain));
            }
            read.stage = ReadStage::Index { again_at };
            if let Some(now) = early.filter(|_| !read.asked_yet()) {
                read.mark_asked(to, now, true);
                let entry = read_entry(self.incarnation, *number, 0, &read.call);
                self.fast.to_send.push((entry, to));
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
            out.extend(
                datagrams
                    .into_iter()
                    .map(|datagram| Transmit { to: dest, datagram }),
            );
        }
        out
    }

    /// The `Read`s queued, one datagram per batch and set of managers asked.
    fn send_reads(&mut self) {
        if self.fast.to_send.is_empty() {
            return;
        }
        let mut by_managers: BTreeMap<Asked, Vec<ReadEntry>> = BTreeMap::new();
        for (entry, to) in mem::take(&mut self.fast.to_send) {
            by_managers.entry(to).or_default().push(entry);
        }
        let budget = self.body_budget(Destination::AllReplicaManagers);
        for (to, entries) in by_managers {
            for batch in batch::pack(entries, budget, &Message::Read(Vec::new())) {
                // One datagram with a tag for each manager, sent to those asked.
                let Ok(datagrams) = self
                    .link
                    .encode(&Message::Read(batch), Destination::AllReplicaManagers)
                else {
                    continue;
                };
                for replica in ReplicaId::ALL.into_iter().filter(|r| to[r.index()]) {
                    self.out.extend(datagrams.iter().map(|datagram| Transmit {
                        to: Destination::ReplicaManager(replica),
                        datagram: datagram.clone(),
                    }));
                }
            }
        }
    }

    /// Fast reads not yet answered or ordered.
    pub fn fast_reads_in_flight(&self) -> usize {
        self.fast.reads.len()
    }
}

fn read_entry(front_end: u64, number: u64, at_least: u64, call: &[u8]) -> ReadEntry {
    ReadEntry {
        id: RequestId { front_end, number },
        at_least,
        request: call.to_vec(),
    }
}

/// The first reply two replicas sent alike.
struct Alike {
    /// The lower of their seqs (both states hold the answer, and at least one is a correct
    /// replica's, so neither is below the index): the answer's revision.
    seq: u64,
    /// The higher: the read took effect at most there.
    highest: u64,
    reply: Vec<u8>,
    /// How many replies are in.
    arrived: usize,
}

fn two_alike(replies: &[Option<(u64, Vec<u8>)>; PER_REPLICA]) -> Option<Alike> {
    let votes: Vec<&(u64, Vec<u8>)> = replies.iter().flatten().collect();
    for (i, (seq, reply)) in votes.iter().enumerate() {
        if let Some((other, _)) = votes[i + 1..].iter().find(|(_, r)| r == reply) {
            return Some(Alike {
                seq: (*seq).min(*other),
                highest: (*seq).max(*other),
                reply: reply.clone(),
                arrived: votes.len(),
            });
        }
    }
    None
}
