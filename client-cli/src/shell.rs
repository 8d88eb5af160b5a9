//! `tessera shell`: a prompt with history and tab completion. Each line is parsed with the
//! same clap definition as the command line (`Cli::try_parse_from`) and run by the same code,
//! with the options given before `shell` as defaults.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Context, Editor, Helper};
use tokio::runtime::Runtime;

use crate::cli::{Cli, Command, Global};
use crate::commands;
use crate::output::Exit;

const PROMPT: &str = "tessera> ";
const LEAVE: [&str; 2] = ["exit", "quit"];
const EVENT_TYPES: [&str; 3] = ["ArtGallery", "Concerts", "Theatre"];

/// Splits a line into words: whitespace separates, '…' and "…" quote, \ escapes outside
/// single quotes.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The shell's options as arguments put before every line.
fn defaults(global: &Global) -> Vec<String> {
    let mut argv = vec![
        "tessera".to_owned(),
        "--timeout".to_owned(),
        global.timeout.as_secs_f64().to_string(),
    ];
    if let Some(url) = &global.url {
        argv.extend(["--url".to_owned(), url.clone()]);
    }
    // Credentials options, never the password itself (read once, remembered in memory).
    if let Some(user) = &global.user {
        argv.extend(["--user".to_owned(), user.clone()]);
    }
    for (value, flag) in [
        (&global.password_file, "--password-file"),
        (&global.cacert, "--cacert"),
    ] {
        if let Some(path) = value {
            argv.extend([flag.to_owned(), path.display().to_string()]);
        }
    }
    for (on, flag) in [
        (global.soap12, "--soap12"),
        (global.json, "--json"),
        (global.raw, "--raw"),
        (global.ws_security, "--ws-security"),
    ] {
        if on {
            argv.push(flag.to_owned());
        }
    }
    argv
}

/// Completion of command names, flags, event types and chaos actions, from the clap
/// definition itself so it never drifts from what the parser accepts.
struct ShellHelper {
    commands: Vec<String>,
    global_flags: Vec<String>,
}

impl ShellHelper {
    fn new() -> Self {
        let cli = Cli::command();
        let mut commands: Vec<String> = cli
            .get_subcommands()
            .filter(|c| c.get_name() != "shell")
            .map(|c| c.get_name().to_owned())
            .collect();
        commands.extend(["help", "exit", "quit"].map(str::to_owned));
        let global_flags = cli
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .chain(["--help".to_owned()])
            .collect();
        ShellHelper {
            commands,
            global_flags,
        }
    }

    fn flags_of(&self, command: &str) -> Vec<String> {
        let cli = Cli::command();
        let mut flags: Vec<String> = cli
            .find_subcommand(command)
            .map(|c| {
                c.get_arguments()
                    .filter_map(|a| a.get_long())
                    .map(|l| format!("--{l}"))
                    .collect()
            })
            .unwrap_or_default();
        flags.extend(self.global_flags.iter().cloned());
        flags
    }

    fn candidates(&self, before: &[String], partial: &str) -> Vec<String> {
        let Some(first) = before.first() else {
            return self.commands.clone();
        };
        let previous = before.last().map(String::as_str).unwrap_or("");
        if previous == "--type" || previous == "--new-type" {
            return EVENT_TYPES.map(str::to_owned).to_vec();
        }
        if first == "help" && before.len() == 1 {
            return self.commands.clone();
        }
        if first == "chaos" && before.len() == 1 && !partial.starts_with('-') {
            return ["byzantine", "crash", "hang", "heal"]
                .map(str::to_owned)
                .to_vec();
        }
        if partial.starts_with('-') || partial.is_empty() {
            return self
                .flags_of(first)
                .into_iter()
                // A flag already given need not be offered again.
                .filter(|f| !before.contains(f))
                .collect();
        }
        Vec::new()
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = line.get(..pos).unwrap_or(line);
        let start = head.rfind(char::is_whitespace).map_or(0, |i| {
            i + head[i..].chars().next().map_or(1, char::len_utf8)
        });
        let partial = &head[start..];
        let before: Vec<String> = head[..start]
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let pairs = self
            .candidates(&before, partial)
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{c} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// `$TESSERA_HISTORY` (empty: none), else `~/.tessera_history`.
fn history_file() -> Option<PathBuf> {
    match std::env::var_os("TESSERA_HISTORY") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".tessera_history")),
    }
}

const SHELL_HELP: &str = "\
In the shell, type commands without the leading `tessera`, e.g.
  reserve --participant MTLP1234 --type Concerts --event MTLE101226
Tab completes commands, flags and event types; Up/Down and Ctrl-R search the history.
`help <command>` explains a command; `exit`, `quit` or Ctrl-D leaves.";

/// Runs the prompt until `exit` or end of input; the status is that of the last command.
pub fn run(global: &Global, runtime: &Runtime) -> Exit {
    let config = rustyline::Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor = match Editor::<ShellHelper, DefaultHistory>::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return Exit::Failed;
        }
    };
    editor.set_helper(Some(ShellHelper::new()));
    let history = history_file();
    if let Some(path) = &history {
        // A missing history file is normal the first time.
        let _ = editor.load_history(path);
    }
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        say!(
            "Tessera shell: gateway {}. `help` lists the commands, `exit` leaves.",
            global.url()
        );
    }
    let mut last = Exit::Success;
    loop {
        let line = match editor.readline(PROMPT) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: cannot read the next line: {e}");
                last = Exit::Failed;
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let _ = editor.add_history_entry(line);
        if LEAVE.contains(&line) {
            break;
        }
        last = run_line(global, runtime, line);
    }
    if let Some(path) = &history {
        if let Err(e) = editor.save_history(path) {
            if interactive {
                eprintln!(
                    "warning: cannot save the history to {}: {e}",
                    path.display()
                );
            }
        }
    }
    last
}

/// Runs one line of the shell.
fn run_line(global: &Global, runtime: &Runtime, line: &str) -> Exit {
    let words = match split(line) {
        Ok(words) => words,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failed;
        }
    };
    let bare_help = words.len() == 1 && words[0] == "help";
    let mut argv = defaults(global);
    argv.extend(words);
    match Cli::try_parse_from(argv) {
        Ok(cli) if matches!(cli.command, Command::Shell) => {
            eprintln!("error: already in the shell");
            Exit::Failed
        }
        Ok(cli) => runtime.block_on(commands::run(cli)),
        Err(e) => {
            let _ = e.print();
            if bare_help {
                say!("\n{SHELL_HELP}");
            }
            if e.use_stderr() {
                Exit::Failed
            } else {
                Exit::Success
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(
            split("reserve --participant 'MTLP 1' \"a\\\"b\" c\\ d").unwrap(),
            vec!["reserve", "--participant", "MTLP 1", "a\"b", "c d"]
        );
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split("''").unwrap(), vec![""]);
        assert!(split("'open").is_err());
    }

    fn complete(line: &str) -> Vec<String> {
        let helper = ShellHelper::new();
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let (before, partial) = if line.is_empty() || line.ends_with(' ') {
            (words.clone(), "")
        } else {
            let (last, rest) = words.split_last().unwrap();
            (rest.to_vec(), last.as_str())
        };
        helper
            .candidates(&before, partial)
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .collect()
    }

    #[test]
    fn completion() {
        assert_eq!(complete("res"), vec!["reserve"]);
        assert!(complete("reserve --p").contains(&"--participant".to_owned()));
        assert_eq!(complete("reserve --type Con"), vec!["Concerts"]);
        assert_eq!(complete("chaos b"), vec!["byzantine"]);
        let flags = complete("add-slot --admin MTLA1234 ");
        assert!(flags.contains(&"--capacity".to_owned()) && !flags.contains(&"--admin".to_owned()));
        assert!(complete("schedule --").contains(&"--soap12".to_owned()));
        assert!(!complete("").contains(&"shell".to_owned()));
    }
}
