//! Running one parsed command line: the reservation operations here, the cluster commands in
//! [`crate::cluster`], the demo in [`crate::demo`]. The shell calls [`run`] for every line.

use crate::cli::{Cli, Command, Global};
use crate::client::Gateway;
use crate::output::{self, Exit};
use crate::soap::{Outcome, Version};
use crate::{cluster, demo, validate};

/// The SOAP version the options ask for.
pub fn version(global: &Global) -> Version {
    if global.soap12 {
        Version::Soap12
    } else {
        Version::Soap11
    }
}

/// A gateway client for the options, or the exit status after saying why there is none.
pub fn gateway(global: &Global) -> Result<Gateway, Exit> {
    gateway_at(global, global.url())
}

/// A gateway client for `url` with the other options.
pub fn gateway_at(global: &Global, url: &str) -> Result<Gateway, Exit> {
    let url = validate::url(url).map_err(|e| output::input_error(&e, global.json))?;
    Gateway::new(url, version(global), global.timeout)
        .map_err(|e| output::call_error(&e, global.json))
}

/// Runs one command (not `shell`, which owns the terminal: see [`crate::shell`]).
pub async fn run(cli: Cli) -> Exit {
    let global = &cli.global;
    match &cli.command {
        Command::Status(args) => cluster::status(global, args).await,
        Command::Chaos(args) => cluster::chaos(global, args).await,
        Command::Demo(args) => demo::run(global, args).await,
        Command::Shell => {
            eprintln!("error: already in the shell");
            Exit::Failed
        }
        operation => self::operation(global, operation).await,
    }
}

/// One reservation operation: validate, send, print.
async fn operation(global: &Global, command: &Command) -> Exit {
    let request = match validate::request(command) {
        Some(Ok(request)) => request,
        Some(Err(e)) => return output::input_error(&e, global.json),
        None => {
            eprintln!("error: not a reservation operation");
            return Exit::Failed;
        }
    };
    let gateway = match gateway(global) {
        Ok(g) => g,
        Err(exit) => return exit,
    };
    let exchange = gateway.send(&request).await;
    if global.raw {
        output::raw(&exchange, global.json);
    }
    let status = exchange.reply.as_ref().ok().map(|r| r.status);
    match exchange.outcome() {
        Ok(Outcome::Result(r)) => output::result(&r, &request, global.json),
        Ok(Outcome::Fault(f)) => output::fault(&f, status, global.json),
        Err(e) => output::call_error(&e, global.json),
    }
}
