//! An in-process backend for the gateway's tests, benchmarks and examples: one in-memory
//! replica behind a mutex, numbering requests itself. It has none of the cluster's fault
//! tolerance, which is why it lives in this dev-only crate and production never builds it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use replica_memory::MemoryReplica;
use tessera_types::{Call, CallMemory, Ordered, Replica};

use tessera_gateway::{Answer, Backend, BackendError};

#[derive(Debug, Default)]
pub struct LocalBackend {
    replica: Mutex<MemoryReplica>,
    calls: AtomicU64,
}

impl LocalBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many requests reached this backend, whatever became of them. Tests use it to
    /// prove that rejected requests never get this far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Backend for LocalBackend {
    async fn submit(&self, call: Call) -> Result<Answer, BackendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut replica = self
            .replica
            .lock()
            .map_err(|_| BackendError::Unavailable("local replica lock poisoned".into()))?;
        let seq = replica.applied_seq() + 1;
        // Time stands still here: remembered calls are forgotten by count only.
        let ordered = Ordered {
            seq,
            time_ms: 0,
            message_id: call.message_id.as_ref(),
            request: &call.request,
            memory: CallMemory::default(),
        };
        let outcome = replica
            .call(&ordered)
            .map_err(|e| BackendError::Unavailable(e.to_string()))?;
        Ok(Answer {
            reply: outcome.reply,
            seq: outcome.repeat_of.unwrap_or(seq),
        })
    }

    async fn status(&self) -> serde_json::Value {
        let applied = self.replica.lock().map(|r| r.applied_seq()).ok();
        serde_json::json!({
            "backend": "local",
            "applied_seq": applied,
            "calls": self.calls(),
        })
    }
}
