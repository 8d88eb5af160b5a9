//! `tesserad gateway`: the SOAP endpoint of `tessera-gateway` in front of the front-end core.
//! The gateway validates envelopes; every valid call becomes one `FrontEndClient::submit`.

use std::time::Duration;

use anyhow::Context;
use tessera_gateway::{Answer, Backend, BackendError, Limits};
use tessera_types::Request;
use tokio::sync::watch;

use crate::config::Config;
use crate::front_end::{FrontEndClient, FrontEndError};
use crate::status;

/// The cluster as the gateway's backend.
pub struct ClusterBackend {
    front_end: FrontEndClient,
    cfg: Config,
}

impl ClusterBackend {
    pub fn new(front_end: FrontEndClient, cfg: Config) -> Self {
        ClusterBackend { front_end, cfg }
    }
}

impl Backend for ClusterBackend {
    async fn submit(&self, request: Request) -> Result<Answer, BackendError> {
        match self.front_end.submit(&request).await {
            Ok(a) => Ok(Answer {
                reply: a.reply,
                seq: a.seq,
            }),
            Err(e @ FrontEndError::Unavailable(_)) => Err(BackendError::Unavailable(e.to_string())),
            Err(e) => Err(BackendError::Unavailable(e.to_string())),
        }
    }

    async fn status(&self) -> serde_json::Value {
        match status::query(&self.cfg, Duration::from_millis(500)).await {
            Ok(s) => serde_json::to_value(&s).unwrap_or(serde_json::Value::Null),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    }
}

/// The gateway's settings from the cluster configuration.
pub fn gateway_config(cfg: &Config) -> tessera_gateway::Config {
    let g = &cfg.gateway;
    tessera_gateway::Config {
        public_url: g.public_url.clone(),
        limits: Limits {
            max_body_bytes: g.max_body_bytes,
            ..Limits::default()
        },
        request_timeout: Duration::from_millis(g.request_timeout_ms),
        max_in_flight: g.max_in_flight,
    }
}

/// Runs the gateway and its front end until `shutdown` turns true.
pub async fn run(cfg: Config, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let front_end = FrontEndClient::start(&cfg)?;
    let listener = tokio::net::TcpListener::bind(cfg.gateway.listen)
        .await
        .with_context(|| format!("binding the gateway to {}", cfg.gateway.listen))?;
    let router = tessera_gateway::router(
        ClusterBackend::new(front_end.clone(), cfg.clone()),
        gateway_config(&cfg),
    );
    tracing::info!(listen = %cfg.gateway.listen, public_url = %cfg.gateway.public_url, front_end = %front_end.local_addr(), "gateway up");
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    tessera_gateway::server::serve_with_shutdown(listener, router, stop)
        .await
        .context("serving SOAP")
}
