//! Request ids: kept from `X-Request-Id` when the client sends one, otherwise numbered, and
//! echoed on the response, so a client report can be matched to the gateway's log line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Numbers requests `gw-1`, `gw-2`, … per router.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sequential(Arc<AtomicU64>);

impl MakeRequestId for Sequential {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        HeaderValue::from_str(&format!("gw-{n}"))
            .ok()
            .map(RequestId::new)
    }
}

/// The request id to log. A client-chosen id is logged only if it is short and plain, so a
/// log line cannot be forged or flooded through it.
pub(crate) fn for_log(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .unwrap_or("(unloggable)")
}
