//! A gateway over the in-process backend, for trying clients by hand (curl, zeep, SoapUI)
//! without a cluster. Not how production runs: one in-memory replica, no fault tolerance.
//!
//! `cargo run -p tessera-gateway --example local_gateway -- 127.0.0.1:8080`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tessera_gateway::{router, serve, Config};
use tessera_testkit::LocalBackend;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let config = Config {
        public_url: format!("http://{}/ws/reservation", listener.local_addr()?),
        ..Config::default()
    };
    tracing::info!(url = %config.public_url, "serving");
    serve(listener, router(LocalBackend::new(), config)).await
}
