//! HTTP: the axum application around the IO-free [`crate::soap`] module.
//!
//! | route | what |
//! |---|---|
//! | `POST /ws/reservation` | SOAP 1.1 (`text/xml`) or 1.2 (`application/soap+xml`) calls |
//! | `GET /ws/reservation?wsdl` | the WSDL, schema inlined, addressed to [`Config::public_url`] |
//! | `GET /health` | liveness of the gateway process |
//! | `GET /status` | the backend's status as JSON |
//!
//! Protection, in the order a request meets it: a cap on open connections and a deadline for
//! each request header ([`serve`]), a concurrency cap on calls that answers 503 at once when
//! full (shedding costs nothing, queueing would only add latency until clients time out), a
//! body size cap, one deadline for receiving the body and getting the backend's answer, and
//! the parser's own limits.

mod backend;
mod endpoint;
mod info;
mod listen;
#[cfg(feature = "local-backend")]
mod local;
mod request_id;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

pub use backend::{Answer, Backend, BackendError};
pub use listen::{serve, serve_with_shutdown, HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
#[cfg(feature = "local-backend")]
pub use local::LocalBackend;

use crate::soap::Limits;

/// Path of the SOAP endpoint (both ports).
pub const ENDPOINT_PATH: &str = "/ws/reservation";

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The endpoint URL clients should call, written into the served WSDL. Differs from the
    /// listening address behind a proxy or NAT.
    pub public_url: String,
    /// Parser limits, including the body size cap.
    pub limits: Limits,
    /// Deadline for one call, from accepting it to having the backend's answer.
    pub request_timeout: Duration,
    /// Calls processed at once; more are answered 503 straight away.
    pub max_in_flight: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: crate::wsdl::DEFAULT_PUBLIC_URL.to_owned(),
            limits: Limits::default(),
            request_timeout: Duration::from_secs(10),
            max_in_flight: 256,
        }
    }
}

/// What every handler shares.
pub(crate) struct Gateway<B> {
    pub backend: B,
    pub config: Config,
    /// The rendered WSDL, built once.
    pub wsdl: axum::body::Bytes,
    pub in_flight: Arc<Semaphore>,
}

/// The gateway's HTTP application over `backend`.
pub fn router<B: Backend>(backend: B, config: Config) -> Router {
    let gateway = Arc::new(Gateway {
        backend,
        wsdl: crate::wsdl::render(&config.public_url).into(),
        in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
        config,
    });
    Router::new()
        .route(
            ENDPOINT_PATH,
            get(info::wsdl::<B>)
                .post(endpoint::call::<B>)
                .fallback(info::method_not_allowed),
        )
        .route("/health", get(info::health))
        .route("/status", get(info::status::<B>))
        .with_state(gateway)
        // Outermost last: ids are set before anything else runs and copied to every
        // response, panics included.
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(
            request_id::Sequential::default(),
        ))
}
