//! What the gateway sends validated requests to. In production that is the cluster's front
//! end, which orders the request, waits for two matching replica replies and returns the
//! reply with its sequence number.

use std::future::Future;
use std::sync::Arc;

pub use tessera_types::Answer;
use tessera_types::Call;

/// Why the backend could not answer. Never shown to clients verbatim (it may name hosts);
/// the gateway logs it and sends a Server / Receiver fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request was not ordered; it did not take effect.
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// No answer, and the request may have been ordered: it may still take effect.
    #[error("no answer from the cluster: {0}")]
    NoAnswer(String),
    /// No answer in time, but the request was ordered as `seq`: it will take effect.
    #[error("no answer from the cluster for seq {seq}: {why}")]
    Late { seq: u64, why: String },
    /// The backend sheds load; the request did not take effect.
    #[error("cluster overloaded")]
    Overloaded,
}

/// Executes requests in the cluster's total order.
pub trait Backend: Send + Sync + 'static {
    /// Orders and executes one validated call (its request, and its message id if the caller
    /// sent one, which makes it execute at most once).
    fn submit(&self, call: Call) -> impl Future<Output = Result<Answer, BackendError>> + Send;

    /// [`submit`](Self::submit), naming the call's request id (its `X-Request-Id`, or the one
    /// the gateway gave it), which a cluster backend carries to the replica managers' logs.
    fn submit_traced(
        &self,
        call: Call,
        request_id: String,
    ) -> impl Future<Output = Result<Answer, BackendError>> + Send {
        let _ = request_id;
        self.submit(call)
    }

    /// The cluster's state for `GET /status`, as JSON.
    fn status(&self) -> impl Future<Output = serde_json::Value> + Send;

    /// The cluster as the dashboard shows it (`replicas`, `sequencer`, `timeline`; see
    /// `docs/observability.md`), as JSON. `null`: the backend has no cluster to show.
    fn dashboard(&self) -> impl Future<Output = serde_json::Value> + Send {
        async { serde_json::Value::Null }
    }

    /// Fault injection from the dashboard: `action` (`byzantine`, `crash`, `hang`, `heal`,
    /// `corrupt-state`) on replica `replica`. `Ok`: what the replica's manager answered.
    fn chaos(
        &self,
        replica: u8,
        action: String,
    ) -> impl Future<Output = Result<String, String>> + Send {
        let _ = (replica, action);
        async { Err("this backend has no replicas to inject faults into".to_owned()) }
    }
}

impl<B: Backend> Backend for Arc<B> {
    fn submit(&self, call: Call) -> impl Future<Output = Result<Answer, BackendError>> + Send {
        (**self).submit(call)
    }

    fn submit_traced(
        &self,
        call: Call,
        request_id: String,
    ) -> impl Future<Output = Result<Answer, BackendError>> + Send {
        (**self).submit_traced(call, request_id)
    }

    fn status(&self) -> impl Future<Output = serde_json::Value> + Send {
        (**self).status()
    }

    fn dashboard(&self) -> impl Future<Output = serde_json::Value> + Send {
        (**self).dashboard()
    }

    fn chaos(
        &self,
        replica: u8,
        action: String,
    ) -> impl Future<Output = Result<String, String>> + Send {
        (**self).chaos(replica, action)
    }
}
