//! Tessera replica as an append-only event log with the state derived from it.
//!
//! Every request is decided against the current state (`decide`), which yields its reply
//! and the domain events that carry out its effect (`events`). The events, tagged with the
//! request's sequence number and closed by a commit marker, are appended to a checksummed log
//! (`log`) and only then folded into the in-memory state (`projection`). Reopening replays
//! the log; importing a snapshot starts a new log from it.
//!
//! Calls with a message id are executed at most once (`answered`): the calls remembered for
//! that are state too, changed only by events logged under the same commit marker as the
//! request's own.
//!
//! Built from `docs/domain.md` and the shared types alone; it shares no rule code with the
//! other replica implementations.

mod answered;
mod calendar;
mod decide;
mod events;
mod log;
mod projection;
mod replica;

pub use replica::EventLogReplica;

#[cfg(test)]
mod tests;
