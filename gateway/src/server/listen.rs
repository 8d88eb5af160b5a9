//! The accept loop. axum's own `serve` has no header-read deadline and no connection caps, so
//! a client trickling header bytes (slowloris) or opening sockets by the thousand would hold
//! them forever; this is that loop with both, on hyper's HTTP/1.1 connection driver, with
//! TLS (rustls) when configured. Each request carries the client's address ([`ClientAddr`])
//! for authentication throttling and logs.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tracing::{debug, warn};

/// A client must send a request's whole header within this time, also between keep-alive
/// requests (and finish the TLS handshake within it); the request body then runs under
/// [`super::Config::body_timeout`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections open at once; further ones wait in the kernel's backlog until one closes.
pub const MAX_CONNECTIONS: usize = 4096;

/// Connections open at once from one client address; further ones are closed at once, so
/// one client cannot take every connection slot.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 256;

/// The address of the client that sent a request (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// How the listener serves connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// HTTPS only when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Connections accepted, open and refused are counted here when set.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            tls: None,
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_address: MAX_CONNECTIONS_PER_ADDRESS,
            metrics: None,
        }
    }
}

/// Serves `router` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    serve_with(
        listener,
        router,
        ServeOptions::default(),
        std::future::pending(),
    )
    .await
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the calls in flight to be answered.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ServeOptions::default(), shutdown).await
}

/// Open connections per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One counted connection; uncounted when dropped.
struct AddressSlot {
    counts: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// [`serve_with_shutdown`] with explicit [`ServeOptions`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(options.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = per_address.take(peer.ip(), options.max_connections_per_address) else {
            debug!(%peer, "connection refused: too many open from this address");
            if let Some(m) = &options.metrics {
                m.connection_refused();
            }
            continue;
        };
        let open = options.metrics.as_ref().map(|m| m.connection_opened());
        // Responses are small and written at once; don't let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(ClientAddr(peer));
                request
            });
        let builder = {
            let mut b = http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(options.header_read_timeout)
                .keep_alive(true);
            b
        };
        match &acceptor {
            None => {
                let connection = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop((permit, slot, open));
                });
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                let limit = options.header_read_timeout;
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    // The handshake is part of what a client must finish in time.
                    let stream = match tokio::time::timeout(limit, handshake).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "TLS handshake not finished in time");
                            return;
                        }
                    };
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                    if let Err(e) = watcher.watch(connection).await {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop((permit, slot, open));
                });
            }
        }
    }
    graceful.shutdown().await;
    Ok(())
}
