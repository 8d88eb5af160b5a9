//! What the gateway sends validated requests to. In production that is the cluster's front
//! end, which orders the request, waits for two matching replica replies and returns the
//! reply with its sequence number.

use std::future::Future;
use std::sync::Arc;

pub use tessera_types::Answer;
use tessera_types::Request;

/// Why the backend could not answer. Never shown to clients verbatim (it may name hosts);
/// the gateway logs it and sends a Server / Receiver fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request was not ordered; it did not take effect.
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// The backend sheds load; the request did not take effect.
    #[error("cluster overloaded")]
    Overloaded,
}

/// Executes requests in the cluster's total order.
pub trait Backend: Send + Sync + 'static {
    /// Orders and executes one validated request.
    fn submit(&self, request: Request)
        -> impl Future<Output = Result<Answer, BackendError>> + Send;

    /// The cluster's state for `GET /status`, as JSON.
    fn status(&self) -> impl Future<Output = serde_json::Value> + Send;
}

impl<B: Backend> Backend for Arc<B> {
    fn submit(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Answer, BackendError>> + Send {
        (**self).submit(request)
    }

    fn status(&self) -> impl Future<Output = serde_json::Value> + Send {
        (**self).status()
    }
}
