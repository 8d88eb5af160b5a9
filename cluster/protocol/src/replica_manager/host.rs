//! What a replica manager asks of its replica, and what the replica answers: one answer per
//! request, in order, after a first `Ready`. `tessera-node` carries these over the pipe to a
//! replica child process; the simulation runs [`execute`] in process. Either way the replica
//! side is [`execute`], so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use tessera_types::{Call, CallMemory, FaultConfig, Faulty, Ordered, Outcome, Replica, Snapshot};

/// Manager → replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToReplica {
    /// Apply the call ordered at `seq` at sequencer time `time_ms` (`tessera_types::Call`
    /// bytes), remembering answered calls within `memory`.
    Apply {
        seq: u64,
        time_ms: u64,
        memory: CallMemory,
        request: Vec<u8>,
    },
    /// Make everything applied so far durable.
    Sync,
    /// Report the digest of the current state.
    Digest,
    /// Export the canonical snapshot (a checkpoint: it follows the `Apply` of its seq).
    Export,
    /// Replace the whole state with this snapshot, taken after `seq`.
    Import { seq: u64, snapshot: Vec<u8> },
    /// Byzantine mode on or off (fault injection).
    SetFault(Option<FaultMode>),
    /// Wait `ms` before applying each request from now on (fault injection: a replica that
    /// cannot keep up). Only a replica process, which has a clock, waits; [`execute`] just
    /// acknowledges it, so the simulation models slowness in its own service times.
    SetDelay { ms: u32 },
    /// Answer a read-only call (`tessera_types::Call` bytes, without a message id) against the current state,
    /// consuming no seq and changing nothing (a fast read, `docs/protocol.md`).
    Read { request: Vec<u8> },
}

impl ToReplica {
    /// The canonical empty state, installed when state transfer starts from seq 0.
    pub fn import_empty() -> ToReplica {
        ToReplica::Import {
            seq: 0,
            snapshot: Snapshot::default().encode(),
        }
    }
}

/// A Byzantine mode (`tessera_types::FaultConfig` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultMode {
    pub seed: u64,
    /// Damage the state (only checkpoint digests can tell).
    pub corrupt_state: bool,
    /// Wrong but well-formed replies.
    pub corrupt_replies: bool,
}

/// Replica → manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromReplica {
    /// First answer of a started replica: it is open and has applied everything up to
    /// `applied`.
    Ready {
        applied: u64,
    },
    Applied {
        seq: u64,
        reply: Vec<u8>,
    },
    Synced {
        applied: u64,
    },
    Digest {
        applied: u64,
        digest: [u8; 32],
    },
    Exported {
        applied: u64,
        snapshot: Vec<u8>,
    },
    Imported {
        applied: u64,
    },
    FaultSet,
    /// The answer to `Read` at the state after `applied`: `Outcome` bytes, as an `Applied`
    /// reply would be; `None` when the replica does not serve it (the read is ordered).
    Read {
        applied: u64,
        reply: Option<Vec<u8>>,
    },
    /// The request could not be carried out; the replica is to be replaced.
    Failed(String),
}

/// Carries out one request on `replica`. Never panics: whatever goes wrong is `Failed`, which
/// makes the manager replace the replica.
pub fn execute<R: Replica>(replica: &mut Faulty<R>, request: ToReplica) -> FromReplica {
    let result = (|| -> Result<FromReplica, String> {
        Ok(match request {
            ToReplica::Apply {
                seq,
                time_ms,
                memory,
                request,
            } => {
                // The sequencer orders only calls that decode (`SequencerConfig::accepts`):
                // bytes that do not are a broken pipe, and the replica is replaced.
                let call = Call::decode(&request)
                    .map_err(|e| format!("the call at seq {seq} does not decode: {e}"))?;
                let ordered = Ordered {
                    seq,
                    time_ms,
                    message_id: call.message_id.as_ref(),
                    request: &call.request,
                    memory,
                };
                let outcome = replica.call(&ordered).map_err(|e| e.to_string())?;
                FromReplica::Applied {
                    seq,
                    reply: outcome.encode(),
                }
            }
            ToReplica::Sync => {
                replica.sync().map_err(|e| e.to_string())?;
                FromReplica::Synced {
                    applied: replica.applied_seq(),
                }
            }
            ToReplica::Digest => FromReplica::Digest {
                applied: replica.applied_seq(),
                digest: replica.digest().map_err(|e| e.to_string())?.0,
            },
            ToReplica::Export => FromReplica::Exported {
                applied: replica.applied_seq(),
                snapshot: replica.export().map_err(|e| e.to_string())?.encode(),
            },
            ToReplica::Import { seq, snapshot } => {
                let snapshot = Snapshot::decode(&snapshot).map_err(|e| e.to_string())?;
                replica.import(seq, &snapshot).map_err(|e| e.to_string())?;
                FromReplica::Imported {
                    applied: replica.applied_seq(),
                }
            }
            ToReplica::SetFault(mode) => {
                replica.set_mode(mode.map(|m| FaultConfig {
                    seed: m.seed,
                    corrupt_state: m.corrupt_state,
                    corrupt_replies: m.corrupt_replies,
                }));
                FromReplica::FaultSet
            }
            ToReplica::SetDelay { .. } => FromReplica::FaultSet,
            ToReplica::Read { request } => {
                // Only a read-only call without a message id is read this way (a call with
                // one may be a repeat, answered from the replica's memory); anything else, or
                // bytes that do not decode (the front end's, not the replica's fault), gets
                // no answer and is ordered instead.
                let reply = match Call::decode(&request) {
                    Ok(call) if call.message_id.is_none() && call.request.is_read_only() => replica
                        .read(&call.request)
                        .map_err(|e| e.to_string())?
                        .map(|reply| Outcome::fresh(reply).encode()),
                    _ => None,
                };
                FromReplica::Read {
                    applied: replica.applied_seq(),
                    reply,
                }
            }
        })
    })();
    result.unwrap_or_else(FromReplica::Failed)
}
