//! Running one parsed command line: the reservation operations here, the cluster commands in
//! [`crate::cluster`], the demo in [`crate::demo`]. The shell calls [`run`] for every line.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::cli::{Cli, Command, Global};
use crate::client::{Credentials, Gateway};
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
    let credentials = match &global.user {
        None => None,
        Some(user) => Some(Credentials {
            user: user.clone(),
            password: password(global, user)?,
            ws_security: global.ws_security,
        }),
    };
    Gateway::new(
        url,
        version(global),
        global.timeout,
        global.cacert.as_deref(),
        credentials,
    )
    .map(|g| g.with_retries(global.retries))
    .map_err(|e| output::call_error(&e, global.json))
}

/// Passwords already read in this process (the shell runs many commands), by user name.
fn known_passwords() -> &'static Mutex<HashMap<String, String>> {
    static KNOWN: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    KNOWN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The password for `user`: --password-file's first line, else TESSERA_PASSWORD, else a
/// prompt without echo when stdin is a terminal. Never from the command line itself.
fn password(global: &Global, user: &str) -> Result<String, Exit> {
    let fail = |message: String| {
        if global.json {
            say!(
                "{}",
                serde_json::json!({ "error": { "kind": "credentials", "message": message } })
            );
        } else {
            eprintln!("error: {message}");
        }
        Exit::Failed
    };
    if let Some(path) = &global.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            fail(format!(
                "cannot read --password-file {}: {e}",
                path.display()
            ))
        })?;
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(fail(format!(
                "--password-file {}: the first line is empty",
                path.display()
            )));
        }
        return Ok(line.to_owned());
    }
    if let Ok(password) = std::env::var("TESSERA_PASSWORD") {
        return Ok(password);
    }
    let known = known_passwords();
    if let Some(password) = known
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(user)
    {
        return Ok(password.clone());
    }
    if !std::io::stdin().is_terminal() {
        return Err(fail(format!(
            "no password for --user {user}: pass --password-file FILE, set TESSERA_PASSWORD, \
             or run on a terminal to be asked"
        )));
    }
    let password = rpassword::prompt_password(format!("password for {user}: "))
        .map_err(|e| fail(format!("cannot read the password from the terminal: {e}")))?;
    known
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(user.to_owned(), password.clone());
    Ok(password)
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
