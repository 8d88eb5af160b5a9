//! `tessera`: the command-line client of Tessera. See `tessera --help`.
//!
//! | module | what |
//! |---|---|
//! | [`cli`] | the clap definition, shared by the command line and the shell |
//! | [`validate`] | input checks with the shared identifier parsers, before any network use |
//! | [`soap`] | request envelopes and response parsing (quick-xml, namespace-aware) |
//! | [`http`], [`client`] | one SOAP call over HTTP or HTTPS, with HTTP Basic or a UsernameToken |
//! | [`output`] | text, tables and `--json`; exit statuses |
//! | [`commands`] | running one command line |
//! | [`cluster`] | `status` and `chaos` over the cluster's own protocol |
//! | [`demo`] | the failure scenarios, step by step |
//! | [`shell`] | the interactive prompt |

/// `println!` that ignores a closed stdout (`tessera list-slots … | head`) instead of
/// panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod cli;
mod client;
mod cluster;
mod commands;
mod demo;
mod http;
mod output;
mod shell;
mod soap;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::output::Exit;

fn main() -> ExitCode {
    // Usage errors exit with status 2 and --help / --version with 0, as clap does.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit_code(Exit::Failed);
        }
    };
    let exit = match cli.command {
        Command::Shell => shell::run(&cli.global, &runtime),
        _ => runtime.block_on(commands::run(cli)),
    };
    exit_code(exit)
}

fn exit_code(exit: Exit) -> ExitCode {
    ExitCode::from(exit as u8)
}
