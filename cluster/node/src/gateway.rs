//! `tesserad gateway`: the SOAP endpoint of `tessera-gateway` in front of the front-end core.
//! The gateway validates envelopes; every valid call becomes one `FrontEndClient::submit`.
//!
//! Before anything listens, [`prepare`] applies the exposure rules of the configuration
//! (authentication off only on loopback, passwords only over TLS off loopback) and loads the
//! certificate, key and user file, so that every mistake stops `tesserad` with a message
//! naming the key and the file. While running, the user file is reloaded on SIGHUP and when it
//! changes; a file that does not parse leaves the previous one in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use tessera_gateway::auth::{Authenticator, Users};
use tessera_gateway::server::tls::{self, TlsFile};
use tessera_gateway::server::ServeOptions;
use tessera_gateway::{Answer, Backend, BackendError, Limits};
use tessera_types::Call;
use tokio::sync::watch;

use crate::config::{AuthMode, Config};
use crate::front_end::{FrontEndClient, FrontEndError};
use crate::metrics::FrontEndMetrics;
use crate::status;
use crate::watch::Watcher;

/// The cluster as the gateway's backend.
pub struct ClusterBackend {
    front_end: FrontEndClient,
    cfg: Config,
    watcher: Watcher,
}

impl ClusterBackend {
    pub fn new(front_end: FrontEndClient, cfg: Config) -> Self {
        ClusterBackend {
            front_end,
            watcher: Watcher::new(cfg.clone()),
            cfg,
        }
    }
}

impl Backend for ClusterBackend {
    async fn submit(&self, call: Call) -> Result<Answer, BackendError> {
        self.submit_traced(call, String::new()).await
    }

    async fn submit_traced(&self, call: Call, request_id: String) -> Result<Answer, BackendError> {
        self.front_end
            .submit_call(&call, request_id)
            .await
            .map_err(|e| match e {
                FrontEndError::NoAgreement { seq: Some(seq), .. } => BackendError::Late {
                    seq,
                    why: e.to_string(),
                },
                _ if e.may_take_effect() => BackendError::NoAnswer(e.to_string()),
                _ => BackendError::Unavailable(e.to_string()),
            })
    }

    async fn status(&self) -> serde_json::Value {
        match status::query(&self.cfg, Duration::from_millis(500)).await {
            Ok(s) => serde_json::to_value(&s).unwrap_or(serde_json::Value::Null),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    }

    async fn dashboard(&self) -> serde_json::Value {
        match self.watcher.view().await {
            Ok(view) => serde_json::to_value(&view).unwrap_or(serde_json::Value::Null),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    }

    async fn chaos(&self, replica: u8, action: String) -> Result<String, String> {
        let action = crate::chaos::parse_action(&action)?;
        crate::chaos::send(&self.cfg, replica, action, Duration::from_secs(3))
            .await
            .map_err(|e| format!("{e:#}"))
    }
}

/// The gateway's settings from the cluster configuration, with `auth` from [`prepare`]; [`run`]
/// adds metrics, the dashboard's chart and its fault injection.
pub fn gateway_config(cfg: &Config, auth: Option<Arc<Authenticator>>) -> tessera_gateway::Config {
    let g = &cfg.gateway;
    tessera_gateway::Config {
        public_url: g.public_url.clone(),
        limits: Limits {
            max_body_bytes: g.max_body_bytes,
            ..Limits::default()
        },
        body_timeout: Duration::from_millis(g.body_timeout_ms),
        request_timeout: Duration::from_millis(g.request_timeout_ms),
        max_in_flight: g.max_in_flight,
        auth,
        access_log: g.access_log,
        ..tessera_gateway::Config::default()
    }
}

/// Metrics and what is built on them, when `[gateway] metrics` is on.
pub struct Observed {
    pub metrics: Arc<tessera_gateway::metrics::Metrics>,
    pub history: Arc<tessera_gateway::periodic::History>,
    pub front_end: FrontEndMetrics,
}

impl Observed {
    pub fn new() -> anyhow::Result<Observed> {
        let registry = crate::metrics::registry(&[])?;
        let front_end = FrontEndMetrics::new(&registry)?;
        Ok(Observed {
            metrics: Arc::new(tessera_gateway::metrics::Metrics::new(registry)?),
            history: Arc::default(),
            front_end,
        })
    }
}

/// What the gateway needs besides the configuration, loaded and checked.
pub struct Prepared {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub auth: Option<Arc<Authenticator>>,
    /// The user file, when authentication is required.
    pub users_path: Option<PathBuf>,
}

/// Applies the exposure rules and loads TLS and the user file; every error names its key.
/// `origin` names the configuration file in messages.
pub fn prepare(cfg: &Config, origin: &str) -> anyhow::Result<Prepared> {
    cfg.check_gateway_exposure(origin)?;
    let tls = match &cfg.gateway.tls {
        None => None,
        Some(t) => Some(tls::load(&t.cert, &t.key).map_err(|e| {
            let key = match e.file() {
                TlsFile::Cert => "gateway.tls.cert",
                TlsFile::Key => "gateway.tls.key",
            };
            anyhow!("{origin}: `{key}`: {e}")
        })?),
    };
    let (auth, users_path) = match (cfg.gateway_auth_mode(), &cfg.gateway.auth) {
        (AuthMode::Required, Some(section)) => {
            let path = section
                .users
                .clone()
                .ok_or_else(|| anyhow!("{origin}: `gateway.auth.users` is not set"))?;
            let users =
                read_users(&path).map_err(|e| anyhow!("{origin}: `gateway.auth.users`: {e:#}"))?;
            let authenticator = Authenticator::new(users).context("setting up authentication")?;
            (Some(Arc::new(authenticator)), Some(path))
        }
        _ => (None, None),
    };
    Ok(Prepared {
        tls,
        auth,
        users_path,
    })
}

/// Reads and parses a user file.
pub fn read_users(path: &Path) -> anyhow::Result<Users> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the user file {}", path.display()))?;
    Users::parse(&text).with_context(|| format!("{}", path.display()))
}

/// Runs the gateway and its front end until `shutdown` turns true. `chaos`: the dashboard
/// offers fault injection.
pub async fn run(
    cfg: Config,
    origin: &str,
    chaos: bool,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let prepared = prepare(&cfg, origin)?;
    let observed = cfg.gateway.metrics.then(Observed::new).transpose()?;
    let front_end =
        FrontEndClient::start_with(&cfg, observed.as_ref().map(|o| o.front_end.clone()))?;
    let listener = tokio::net::TcpListener::bind(cfg.gateway.listen)
        .await
        .with_context(|| format!("binding the gateway to {}", cfg.gateway.listen))?;
    let mut gateway = gateway_config(&cfg, prepared.auth.clone());
    gateway.dashboard_chaos = chaos;
    if let Some(o) = &observed {
        gateway.metrics = Some(o.metrics.clone());
        gateway.history = Some(o.history.clone());
        tokio::spawn(tessera_gateway::periodic::run(
            o.metrics.clone(),
            o.history.clone(),
            Duration::from_secs(cfg.gateway.summary_secs),
        ));
    }
    if let (Some(o), Some(address)) = (&observed, cfg.gateway.metrics_listen) {
        let scrape = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("binding gateway.metrics_listen {address}"))?;
        let router = tessera_gateway::metrics_router(o.metrics.clone());
        tokio::spawn(async move {
            let options = ServeOptions::default();
            if let Err(e) =
                tessera_gateway::server::serve_with(scrape, router, options, std::future::pending())
                    .await
            {
                tracing::error!(%address, error = %e, "metrics listener stopped");
            }
        });
    }
    let router =
        tessera_gateway::router(ClusterBackend::new(front_end.clone(), cfg.clone()), gateway);
    if let (Some(auth), Some(path)) = (&prepared.auth, &prepared.users_path) {
        tokio::spawn(reload_users(auth.clone(), path.clone()));
    }
    tracing::info!(
        listen = %cfg.gateway.listen,
        public_url = %cfg.gateway.public_url,
        tls = prepared.tls.is_some(),
        auth = if prepared.auth.is_some() { "required" } else { "off" },
        front_end = %front_end.local_addr(),
        metrics = observed.is_some(),
        chaos,
        "gateway up; dashboard at {}",
        crate::supervisor::gateway_url(&cfg, "/dashboard")
    );
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    let options = ServeOptions {
        tls: prepared.tls,
        max_connections_per_address: cfg.gateway.max_connections_per_address,
        metrics: observed.map(|o| o.metrics),
        ..ServeOptions::default()
    };
    tessera_gateway::server::serve_with(listener, router, options, stop)
        .await
        .context("serving SOAP")
}

/// How often the user file's metadata is looked at for a change.
const USERS_POLL: Duration = Duration::from_secs(1);

/// What tells a changed file apart: modification time, size and inode (editors and
/// `tesserad user` replace the file by renaming a new one over it).
fn fingerprint(path: &Path) -> Option<(std::time::SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Reloads the user file on SIGHUP and when it changes, for as long as the process runs. A
/// file that cannot be read or parsed leaves the previous one in force, and says why.
async fn reload_users(auth: Arc<Authenticator>, path: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the user file reloads on change only");
            None
        }
    };
    let mut seen = fingerprint(&path);
    let mut tick = tokio::time::interval(USERS_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let why = tokio::select! {
            _ = tick.tick() => {
                let now = fingerprint(&path);
                if now == seen {
                    continue;
                }
                seen = now;
                "changed"
            }
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => "SIGHUP",
        };
        match read_users(&path) {
            Ok(users) => {
                let count = users.len();
                auth.replace_users(users);
                tracing::info!(file = %path.display(), users = count, trigger = why, "user file reloaded");
            }
            Err(e) => tracing::warn!(
                file = %path.display(),
                trigger = why,
                error = %format!("{e:#}"),
                "user file not reloaded: keeping the previous one in force"
            ),
        }
    }
}
