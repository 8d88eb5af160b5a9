//! A checker for histories of calls answered by a cluster (start and end instants, the seq it
//! answered with, the reply), against the test model ([`crate::model::Model`]): writes are
//! ordered, so their seqs are distinct, respect real time and replay through the model in seq
//! order to the same replies; a read-only call may have been answered on the fast read path
//! (`docs/protocol.md`, "Fast reads") at the seq of any state it read, so its reply must be the
//! model's at some state after a prefix of the writes (in seq order) that includes every write
//! answered before the read began and none begun after the read was answered, and no shorter
//! prefix than a read answered before it began was given (reads are monotonic too).

use std::time::Instant;

use tessera_types::{Call, Replica, Reply, Request};

use crate::model::Model;

/// One answered call.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    pub request: &'a Request,
    pub seq: u64,
    pub reply: &'a Reply,
    pub start: Instant,
    pub end: Instant,
}

/// At most this many violations of each kind are described.
const SHOWN: usize = 3;

/// Checks `calls` (every call of the run, all answered). `noops`: how many seqs may have been
/// taken by no call (each view's primary orders a no-op). Returns how many reads were checked,
/// or the violations found.
pub fn check(calls: &[Answered<'_>], noops: u64) -> Result<usize, Vec<String>> {
    let mut v = Vec::new();
    let mut writes: Vec<&Answered<'_>> =
        calls.iter().filter(|c| !c.request.is_read_only()).collect();
    writes.sort_by_key(|w| w.seq);
    let reads: Vec<&Answered<'_>> = calls.iter().filter(|c| c.request.is_read_only()).collect();

    if let Some(w) = writes.windows(2).find(|w| w[0].seq == w[1].seq) {
        v.push(format!("seq {} answered for two writes", w[0].seq));
        return Err(v);
    }
    // Seqs no write was answered at: the no-ops, and reads that were ordered.
    let top = writes.last().map_or(0, |w| w.seq);
    let gaps = top - writes.len() as u64;
    if gaps > noops + reads.len() as u64 {
        v.push(format!(
            "{gaps} seqs up to {top} answered no write, but at most {noops} no-ops and {} reads can have taken them",
            reads.len()
        ));
        return Err(v);
    }
    // Real time: a write that began after another ended has the higher seq.
    let mut by_end: Vec<(Instant, u64)> = writes.iter().map(|w| (w.end, w.seq)).collect();
    by_end.sort();
    let mut ended_max = Vec::with_capacity(by_end.len());
    let mut m = 0;
    for (_, s) in &by_end {
        m = m.max(*s);
        ended_max.push(m);
    }
    // The highest seq of a write that ended before `t`.
    let seen_before = |t: Instant| match by_end.partition_point(|(end, _)| *end < t) {
        0 => 0,
        n => ended_max[n - 1],
    };
    let late: Vec<String> = writes
        .iter()
        .filter(|w| seen_before(w.start) > w.seq)
        .map(|w| {
            format!(
                "write at seq {} began after the write at seq {} had ended",
                w.seq,
                seen_before(w.start)
            )
        })
        .collect();
    v.extend(late.iter().take(SHOWN).cloned());

    // The lowest seq of a write that began after `t`.
    let mut by_start: Vec<(Instant, u64)> = writes.iter().map(|w| (w.start, w.seq)).collect();
    by_start.sort();
    let mut later_min = vec![u64::MAX; by_start.len() + 1];
    for (i, (_, s)) in by_start.iter().enumerate().rev() {
        later_min[i] = later_min[i + 1].min(*s);
    }
    let first_begun_after = |t: Instant| {
        let i = by_start.partition_point(|(start, _)| *start <= t);
        Some(later_min[i]).filter(|&s| s != u64::MAX)
    };

    // Each read's window of admissible states, as counts of writes applied in seq order.
    let mut windows: Vec<(usize, usize, &Answered<'_>)> = Vec::new();
    for read in &reads {
        let must_see = seen_before(read.start);
        if read.seq < must_see {
            v.push(format!(
                "a read began after the write at seq {must_see} was answered, but was answered at revision {}: {:?}",
                read.seq, read.request
            ));
        }
        let lo = writes.partition_point(|w| w.seq <= must_see);
        let hi = match first_begun_after(read.end) {
            Some(first_later) => writes.partition_point(|w| w.seq < first_later),
            None => writes.len(),
        };
        windows.push((lo, hi.max(lo), read));
    }
    windows.sort_by_key(|&(lo, _, _)| lo);
    // Reads by when they ended: those before a read began are a prefix of this order, and each
    // must be placed (at the state it is read at) before that read may be.
    let mut ends: Vec<Instant> = reads.iter().map(|r| r.end).collect();
    ends.sort();
    let ended_before = |t: Instant| ends.partition_point(|end| *end < t);
    let mut placed = vec![false; ends.len()];
    let mut placed_prefix = 0;

    let mut model = Model::default();
    let noop = Call::noop().request;
    let mut applied = 0;
    let mut wrong = Vec::new();
    let mut next_read = windows.iter().peekable();
    let mut open: Vec<(usize, usize, &Answered<'_>)> = Vec::new();
    for k in 0..=writes.len() {
        // The state after the first k writes.
        if let Some(w) = k.checked_sub(1).and_then(|i| writes.get(i)) {
            // Seqs no write was answered at held ordered reads or no-ops: nothing changes.
            while applied + 1 < w.seq {
                applied += 1;
                if let Err(e) = model.apply(applied, &noop) {
                    v.push(format!("the model refused a no-op at {applied}: {e}"));
                    return Err(v);
                }
            }
            applied = w.seq;
            match model.apply(w.seq, w.request) {
                Ok(want) if want == *w.reply => {}
                want => wrong.push(format!(
                    "seq {}: {:?} answered {:?}, the model says {want:?}",
                    w.seq, w.request, w.reply
                )),
            }
        }
        while let Some(&&(lo, hi, read)) = next_read.peek() {
            if lo > k {
                break;
            }
            open.push((lo, hi, read));
            next_read.next();
        }
        // Each read is placed at the first state that gives its answer, once the reads that
        // ended before it began are placed: as early as it can be, which leaves the reads after
        // it the most room, so a read with no place here has none in any order. Placing one
        // may let another be placed at the same state; a read out of states is reported (and
        // counts as placed, so that one wrong read does not condemn every read after it).
        let mut stale = Vec::new();
        for _ in 0..=2 * open.len() {
            let mut place = |read: &Answered<'_>| {
                let at = ends.partition_point(|end| *end < read.end);
                if let Some(i) = (at..ends.len()).find(|&i| !placed[i]) {
                    placed[i] = true;
                }
            };
            let before = open.len();
            open.retain(|&(_, _, read)| {
                let fits = ended_before(read.start) <= placed_prefix
                    && model.read(read.request).ok().flatten().as_ref() == Some(read.reply);
                if fits {
                    place(read);
                }
                !fits
            });
            if open.len() == before {
                open.retain(|&(lo, hi, read)| {
                    if hi > k {
                        return true;
                    }
                    stale.push(format!(
                        "read {:?} answered {:?} at revision {}, which no admissible state gives (after {lo} to {hi} writes in seq order, and none before a read answered before it began was answered from)",
                        read.request, read.reply, read.seq
                    ));
                    place(read);
                    false
                });
            }
            while placed.get(placed_prefix) == Some(&true) {
                placed_prefix += 1;
            }
            if open.len() == before {
                break;
            }
        }
        wrong.extend(stale);
    }
    if !wrong.is_empty() {
        v.extend(wrong.iter().take(SHOWN * 2).cloned());
        v.push(format!(
            "{} of {} answers disagree with the model",
            wrong.len(),
            calls.len()
        ));
    }
    if v.is_empty() {
        Ok(reads.len())
    } else {
        Err(v)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tessera_types::{Capacity, EventId, EventType, UserId};

    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    /// A write W answered at seq 1 over [0, 100] ms, and two reads of what it changes: the
    /// first answered (at 20 ms) with W's effect, the second begun after that (at 30 ms).
    /// W was pending all along, so either read may see it or not, but not the first
    /// alone.
    fn check_two_reads(second_sees_the_write: bool) -> Result<usize, Vec<String>> {
        let admin = UserId::parse("MTLA0001").unwrap();
        let write = Request::AddReservationSlot {
            admin_id: admin,
            event_type: EventType::Concerts,
            event_id: EventId::parse("MTLM010126").unwrap(),
            capacity: Capacity::parse("3").unwrap(),
        };
        let read = Request::ListReservationSlotAvailable {
            admin_id: admin,
            event_type: EventType::Concerts,
        };
        let mut model = Model::default();
        let before = model.read(&read).unwrap().unwrap();
        let added = model.apply(1, &write).unwrap();
        let after = model.read(&read).unwrap().unwrap();
        assert_ne!(before, after);
        let base = Instant::now();
        let second = if second_sees_the_write {
            &after
        } else {
            &before
        };
        let calls = [
            Answered {
                request: &write,
                seq: 1,
                reply: &added,
                start: at(base, 0),
                end: at(base, 100),
            },
            Answered {
                request: &read,
                seq: 1,
                reply: &after,
                start: at(base, 10),
                end: at(base, 20),
            },
            Answered {
                request: &read,
                seq: 0,
                reply: second,
                start: at(base, 30),
                end: at(base, 40),
            },
        ];
        check(&calls, 0)
    }

    #[test]
    fn a_read_after_a_read_that_saw_a_write_sees_it_too() {
        assert_eq!(check_two_reads(true), Ok(2));
        let found = check_two_reads(false).unwrap_err();
        assert!(
            found
                .iter()
                .any(|f| f.contains("a read answered before it began")),
            "{found:?}"
        );
    }
}
