//! The replica side: `tesserad replica --impl NAME --dir DIR`.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;

use tessera_protocol::replica_manager::{execute, FromReplica, ToReplica};
use tessera_types::{Durability, Faulty, Replica, ReplicaError};

use super::frame;
use crate::config::Implementation;

fn open(implementation: Implementation, dir: &Path) -> Result<Box<dyn Replica>, ReplicaError> {
    // Group commit is driven by the manager (ToReplica::Sync), so the replicas defer.
    let d = Durability::Deferred;
    Ok(match implementation {
        Implementation::Memory => Box::new(replica_memory::MemoryReplica::new()),
        Implementation::Sqlite => Box::new(replica_sqlite::SqliteReplica::open(dir, d)?),
        Implementation::Eventlog => Box::new(replica_eventlog::EventLogReplica::open(dir, d)?),
        Implementation::Kv => Box::new(replica_kv::KvReplica::open(dir, d)?),
    })
}

fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0; frame::body_len(header)?];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

fn write_frame(w: &mut impl Write, resp: &FromReplica) -> io::Result<()> {
    w.write_all(&frame::encode(resp)?)
}

/// Responses written before they are flushed even though more requests are buffered: a
/// replica slower than its input would otherwise hold its replies back until the 1 MiB
/// buffer fills (late replies are reported `Missing` by the front ends).
const FLUSH_EVERY: usize = 32;

/// Serves frames until stdin closes. Responses are flushed whenever no further request is
/// already buffered (or `FLUSH_EVERY` are waiting), so a burst of requests costs one write
/// to the pipe, not one each.
pub fn run(implementation: Implementation, dir: &Path) -> anyhow::Result<()> {
    let replica = open(implementation, dir)?;
    let mut replica = Faulty::new(replica);
    let mut input = BufReader::with_capacity(1 << 20, io::stdin().lock());
    let mut output = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    write_frame(
        &mut output,
        &FromReplica::Ready {
            applied: replica.applied_seq(),
        },
    )?;
    output.flush()?;
    let mut unflushed = 0;
    // Fault injection (`ChaosAction::Slow`): how long to wait before each `Apply`.
    let mut delay = Duration::ZERO;
    while let Some(body) = read_frame(&mut input)? {
        let response = match frame::decode::<ToReplica>(&body) {
            Ok(ToReplica::SetDelay { ms }) => {
                delay = Duration::from_millis(u64::from(ms));
                FromReplica::FaultSet
            }
            Ok(req) => {
                if !delay.is_zero() && matches!(req, ToReplica::Apply { .. }) {
                    std::thread::sleep(delay);
                }
                execute(&mut replica, req)
            }
            Err(e) => FromReplica::Failed(format!("undecodable frame: {e}")),
        };
        write_frame(&mut output, &response)?;
        unflushed += 1;
        // A slowed replica answers each request as it finishes, like a replica that is slow
        // by nature, rather than in bursts of `FLUSH_EVERY` long waits apart.
        if input.buffer().is_empty() || unflushed >= FLUSH_EVERY || !delay.is_zero() {
            output.flush()?;
            unflushed = 0;
        }
    }
    output.flush()?;
    Ok(())
}
