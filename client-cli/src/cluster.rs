//! `tessera status` and `tessera chaos`: the cluster's own authenticated UDP protocol, through
//! the library `tesserad` uses too (`tessera_ops::status`, `tessera_ops::chaos`).

use std::path::Path;
use std::time::Duration;

use tessera_ops::chaos::{self, ChaosAction, ChaosError};
use tessera_ops::config::Config;
use tessera_ops::status;

use crate::cli::{ChaosArgs, ChaosKind, Global, StatusArgs};
use crate::output::Exit;

/// How long a chaos command waits for the replica manager's answer.
const CHAOS_WAIT: Duration = Duration::from_secs(3);

pub fn action(kind: ChaosKind) -> ChaosAction {
    match kind {
        ChaosKind::Byzantine => ChaosAction::Byzantine,
        ChaosKind::Crash => ChaosAction::Crash,
        ChaosKind::Hang => ChaosAction::Hang,
        ChaosKind::Heal => ChaosAction::Heal,
        ChaosKind::CorruptState => ChaosAction::CorruptState,
    }
}

/// Loads the cluster configuration, or says why not.
/// The cluster of `path`, its tools signing with the operator key `key` when given.
pub fn config(path: Option<&Path>, key: Option<&Path>) -> Result<Config, String> {
    let mut cfg =
        Config::load(path).map_err(|e| format!("cannot load the cluster configuration: {e}"))?;
    if let Some(k) = key {
        cfg.operator.key = Some(k.to_owned());
    }
    Ok(cfg)
}

/// Where the configuration came from, for messages.
pub fn config_origin(path: Option<&Path>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "the embedded deploy/local.toml".to_owned(),
    }
}

fn fail(global: &Global, kind: &str, message: &str) -> Exit {
    if global.json {
        say!(
            "{}",
            serde_json::json!({ "error": { "kind": kind, "message": message } })
        );
    } else {
        eprintln!("error: {message}");
    }
    Exit::Failed
}

pub async fn status(global: &Global, args: &StatusArgs) -> Exit {
    let cfg = match config(args.config.as_deref(), args.key.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(global, "config", &e),
    };
    let s = match status::query(&cfg, Duration::from_millis(args.wait_ms)).await {
        Ok(s) => s,
        Err(e) => return fail(global, "status", &format!("cannot query the cluster: {e}")),
    };
    if global.json {
        match serde_json::to_string_pretty(&s) {
            Ok(text) => say!("{text}"),
            Err(e) => return fail(global, "status", &e.to_string()),
        }
    } else {
        say_raw!("{}", status::table(&s));
    }
    if s.nobody_answered() {
        eprintln!(
            "error: no node of cluster {:?} answered within {} ms ({}, sequencer {}). Is it \
             running? Start it with `tesserad up`.",
            cfg.cluster.name,
            args.wait_ms,
            config_origin(args.config.as_deref()),
            cfg.sequencer.address
        );
        return Exit::Failed;
    }
    Exit::Success
}

/// Sends one chaos action; `Ok(detail)` when the replica manager accepted it.
pub async fn send_chaos(cfg: &Config, replica: u8, kind: ChaosKind) -> Result<String, String> {
    chaos::send(cfg, replica, action(kind), CHAOS_WAIT)
        .await
        .map_err(|e| match e {
            ChaosError::NoAnswer { .. } => {
                format!("{e}. Is the cluster running? Start it with `tesserad up --chaos`.")
            }
            e => e.to_string(),
        })
}

pub async fn chaos(global: &Global, args: &ChaosArgs) -> Exit {
    let cfg = match config(args.config.as_deref(), args.key.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(global, "config", &e),
    };
    let name = action(args.action).as_str();
    match send_chaos(&cfg, args.replica, args.action).await {
        Ok(detail) => {
            if global.json {
                say!(
                    "{}",
                    serde_json::json!({
                        "replica": args.replica,
                        "action": name,
                        "accepted": true,
                        "detail": detail,
                    })
                );
            } else {
                say!("{detail}");
            }
            Exit::Success
        }
        Err(e) => fail(
            global,
            "chaos",
            &format!("chaos {name} --replica {}: {e}", args.replica),
        ),
    }
}
