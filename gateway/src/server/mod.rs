//! HTTP: the axum application around the IO-free [`crate::soap`] module.
//!
//! | route | what |
//! |---|---|
//! | `POST /ws/reservation` | SOAP 1.1 (`text/xml`) or 1.2 (`application/soap+xml`) calls |
//! | `GET /ws/reservation?wsdl` | the WSDL, schema inlined, addressed to [`Config::public_url`] |
//! | `GET /health` | liveness of the gateway process |
//! | `GET /status` | the backend's status as JSON (`operator` grant when authentication is on) |
//! | `GET /metrics` | Prometheus metrics (`operator` grant when authentication is on) |
//! | `GET /dashboard` | the live dashboard and its JSON (`operator` grant when authentication is on) |
//!
//! Protection, in the order a request meets it: caps on open connections, in all and per
//! client address, and a deadline for the TLS handshake and each request header
//! ([`serve_with`]); a body size cap and a deadline of its own for receiving the body, before
//! the call takes a slot (so slow senders never starve others of slots); a concurrency cap on
//! calls that answers 503 at once when full (shedding costs nothing, queueing would only add
//! latency until clients time out); the parser's own limits; authentication and
//! authorization ([`crate::auth`]); and one deadline for getting the backend's answer.

mod backend;
mod endpoint;
pub(crate) mod info;
mod listen;
mod request_id;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

pub use backend::{Answer, Backend, BackendError};
pub use listen::{
    serve, serve_with, serve_with_shutdown, ClientAddr, ServeOptions, HEADER_READ_TIMEOUT,
    MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDRESS,
};

use crate::auth::Authenticator;
use crate::metrics::Metrics;
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
    /// Deadline for receiving a call's body, from the end of its header. Runs before the call
    /// takes one of the `max_in_flight` slots.
    pub body_timeout: Duration,
    /// Deadline for one call, from having its body to having the backend's answer.
    pub request_timeout: Duration,
    /// Calls processed at once; more are answered 503 straight away.
    pub max_in_flight: usize,
    /// `Some`: every call must authenticate and may act only as the IDs it was granted.
    /// `None`: authentication off (anyone may act as any ID; `wsse:Security` is ignored).
    pub auth: Option<Arc<Authenticator>>,
    /// Metrics of every call, response and connection, served at `GET /metrics`. `None`:
    /// nothing is collected and `/metrics` is 404.
    pub metrics: Option<Arc<Metrics>>,
    /// Each call's line goes to the access log (`info`, target `access`) instead of `debug`.
    pub access_log: bool,
    /// The dashboard's chart: recent calls per second and latency (kept by
    /// [`crate::periodic::run`]). `None`: the chart stays empty.
    pub history: Option<Arc<crate::periodic::History>>,
    /// The dashboard offers fault injection (`tesserad up --chaos`).
    pub dashboard_chaos: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: crate::wsdl::DEFAULT_PUBLIC_URL.to_owned(),
            limits: Limits::default(),
            body_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_in_flight: 256,
            auth: None,
            metrics: None,
            access_log: false,
            history: None,
            dashboard_chaos: false,
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
    let router = Router::new()
        .route(
            ENDPOINT_PATH,
            get(info::wsdl::<B>)
                .post(endpoint::call::<B>)
                .fallback(info::method_not_allowed),
        )
        .route("/health", get(info::health))
        .route("/status", get(info::status::<B>))
        .route("/metrics", get(info::metrics::<B>))
        .merge(crate::dashboard::routes::<B>());
    let metrics = gateway.config.metrics.clone();
    let router = router
        .with_state(gateway)
        // Outermost last: ids are set before anything else runs and copied to every
        // response, panics included.
        .layer(CatchPanicLayer::new());
    let router = match metrics {
        // Every response is counted by status, panics' 500s included.
        Some(m) => router.layer(tower::util::MapResponseLayer::new(
            move |response: axum::response::Response| {
                m.response(response.status().as_u16());
                response
            },
        )),
        None => router,
    };
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(
            request_id::Sequential::default(),
        ))
}

/// A router serving only `GET /metrics`, without authentication: for a listener on a private
/// interface that Prometheus scrapes (`gateway.metrics_listen`).
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { info::render_metrics(&metrics) }
        }),
    )
}
