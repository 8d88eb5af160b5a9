//! The command line: one clap definition shared by `tessera ARGS` and every line of
//! `tessera shell`.
//!
//! Identifier flags are plain strings here on purpose: they are checked by [`crate::validate`]
//! with the shared parsers of `tessera_types`, which gives one message format (and JSON
//! output under `--json`) for every kind of bad input.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The gateway's endpoint when nothing else is said.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/ws/reservation";

const ABOUT: &str =
    "Tessera client: reserve tickets on a fault-tolerant, replicated cluster over SOAP";

const LONG_ABOUT: &str = "\
Tessera client: reserve tickets on a fault-tolerant, replicated cluster over SOAP.

Each reservation operation is one subcommand with named flags. The CLI checks every identifier
before sending anything, speaks SOAP 1.1 (or 1.2 with --soap12) to the gateway, and prints the
result: a table for list-slots and schedule, the result code and message otherwise.

Identifiers:
  user ID     city + A (admin) or P (participant) + 4 digits      MTLA1234, TORP0042
  event ID    city + M/A/E (morning/afternoon/evening) + DDMMYY   MTLE101226
  event type  ArtGallery, Concerts or Theatre (case-sensitive)
  city        MTL, TOR or VAN
  capacity    1 to 100000

Exit status: 0 success; 1 the service refused (e.g. ALREADY_RESERVED, SLOT_FULL);
2 invalid input, a SOAP fault, or the gateway could not be reached.";

const EXAMPLES: &str = "\
Examples:
  tessera add-slot --admin MTLA1234 --type Concerts --event MTLE101226 --capacity 2
  tessera reserve --participant MTLP1234 --type Concerts --event MTLE101226
  tessera schedule --participant MTLP1234
  tessera list-slots --admin MTLA1234 --type Concerts --json
  tessera --soap12 --raw cancel --participant MTLP1234 --type Concerts --event MTLE101226
  tessera status
  tessera chaos byzantine --replica 2
  tessera demo
  tessera shell

The gateway URL comes from --url, else $TESSERA_URL, else http://127.0.0.1:8080/ws/reservation
(the gateway that `tesserad up` starts). Start a local cluster with `tesserad up`; add --chaos
for `tessera chaos` and `tessera demo`.

A gateway with authentication on (HTTPS, users):
  TESSERA_PASSWORD=... tessera --url https://gw.example:8443/ws/reservation \\
      --cacert ca.pem --user alice schedule --participant MTLP1234
  tessera --user alice --password-file pw.txt --ws-security reserve ...";

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = "Run `tessera help <command>` or `tessera <command> --help` for details and examples.",
    after_long_help = EXAMPLES,
    // The shell puts its own defaults before each line; a flag given on the line wins.
    args_override_self = true,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts, before or after its name.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The gateway's SOAP endpoint [default: http://127.0.0.1:8080/ws/reservation; for
    /// `demo`, the gateway.public_url of its --config].
    #[arg(
        long,
        global = true,
        env = "TESSERA_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub url: Option<String>,
    /// Use the SOAP 1.2 binding (application/soap+xml) instead of SOAP 1.1 (text/xml).
    #[arg(long, global = true)]
    pub soap12: bool,
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Also print the SOAP request and response envelopes (on stderr when --json is given).
    #[arg(long, global = true)]
    pub raw: bool,
    /// Give up on the gateway after this many seconds.
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        default_value = "10",
        value_parser = parse_seconds,
    )]
    pub timeout: Duration,
    /// Repeat a call that got no answer (timeout, connection refused or broken, HTTP 503, a
    /// fault saying the cluster did not answer in time or could not take it) up to this many
    /// times, with the same wsa:MessageID: the cluster executes it at most once.
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = 3,
        env = "TESSERA_RETRIES",
        value_parser = clap::value_parser!(u32).range(0..=20)
    )]
    pub retries: u32,
    /// Authenticate as this user (the gateway's [gateway.auth]). The password comes from
    /// --password-file, else $TESSERA_PASSWORD, else a prompt without echo on a terminal.
    #[arg(long, global = true, env = "TESSERA_USER", value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password for --user from the first line of FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Send the credentials as a WS-Security UsernameToken (PasswordText, Nonce, Created) in
    /// the SOAP header instead of HTTP Basic.
    #[arg(long, global = true)]
    pub ws_security: bool,
    /// Trust only this CA certificate (PEM) for an https:// gateway, e.g. the ca.pem of
    /// `tesserad dev-cert` [default: the system's trusted CAs].
    #[arg(
        long,
        global = true,
        env = "TESSERA_CACERT",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub cacert: Option<PathBuf>,
}

impl Global {
    /// The gateway URL given by --url or TESSERA_URL, else the default local endpoint.
    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(DEFAULT_URL)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a reservation slot, or change its capacity (admin of the event's city).
    #[command(
        alias = "addReservationSlot",
        long_about = "Create the reservation slot (event type, event ID) with a capacity, or set the \
                      capacity of an existing one (SOAP operation addReservationSlot).\n\n\
                      The admin must be of the event's city. Result codes: CREATED, UPDATED; \
                      refused: NOT_AUTHORIZED, CAPACITY_BELOW_BOOKED (capacity below the tickets \
                      already reserved).",
        after_long_help = "Examples:\n  \
            tessera add-slot --admin MTLA1234 --type Concerts --event MTLE101226 --capacity 2\n  \
            tessera add-slot --admin TORA0001 --type Theatre --event TORM150127 --capacity 300 --json"
    )]
    AddSlot(AddSlot),
    /// Remove a reservation slot; its holders move to a later slot where possible.
    #[command(
        alias = "removeReservationSlot",
        long_about = "Remove the reservation slot (event type, event ID) (SOAP operation \
                      removeReservationSlot). Each holder is moved to the earliest later slot of \
                      the same type and city that can take them, or their reservation is dropped; \
                      the result says how many were moved and dropped.\n\n\
                      Result codes: REMOVED; refused: NOT_AUTHORIZED, NO_SUCH_SLOT.",
        after_long_help = "Examples:\n  \
            tessera remove-slot --admin MTLA1234 --type Concerts --event MTLE101226"
    )]
    RemoveSlot(RemoveSlot),
    /// List the slots of an event type in all cities, with free places.
    #[command(
        alias = "listReservationSlotAvailable",
        long_about = "List every slot of one event type, in all cities, with the number of free \
                      places, sorted by city and then by date and time slot (SOAP operation \
                      listReservationSlotAvailable). Any admin may list.\n\n\
                      Result codes: OK; refused: NOT_AUTHORIZED.",
        after_long_help = "Examples:\n  \
            tessera list-slots --admin MTLA1234 --type Concerts\n  \
            tessera list-slots --admin VANA0007 --type ArtGallery --json"
    )]
    ListSlots(ListSlots),
    /// Reserve a ticket for a participant.
    #[command(
        alias = "reserveTicket",
        long_about = "Reserve one ticket of the slot (event type, event ID) for a participant \
                      (SOAP operation reserveTicket).\n\n\
                      Result codes: RESERVED; refused: NOT_AUTHORIZED, NO_SUCH_SLOT, \
                      ALREADY_RESERVED, SLOT_FULL, TIME_CONFLICT (already booked at that date and \
                      time slot), OTHER_CITY_LIMIT (already 3 other-city bookings that week).",
        after_long_help = "Examples:\n  \
            tessera reserve --participant MTLP1234 --type Concerts --event MTLE101226\n  \
            tessera --soap12 reserve --participant TORP0042 --type Theatre --event MTLA111226"
    )]
    Reserve(Ticket),
    /// Show a participant's reservations.
    #[command(
        alias = "getEventSchedule",
        long_about = "Show every reservation a participant holds, sorted by date and time slot, \
                      then city, then event type (SOAP operation getEventSchedule).\n\n\
                      Result codes: OK; refused: NOT_AUTHORIZED.",
        after_long_help = "Examples:\n  \
            tessera schedule --participant MTLP1234\n  \
            tessera schedule --participant MTLP1234 --json"
    )]
    Schedule(Schedule),
    /// Cancel a participant's reservation.
    #[command(
        alias = "cancelTicket",
        long_about = "Cancel the participant's reservation of the slot (event type, event ID) \
                      (SOAP operation cancelTicket).\n\n\
                      Result codes: CANCELLED; refused: NOT_AUTHORIZED, NOT_RESERVED.",
        after_long_help = "Examples:\n  \
            tessera cancel --participant MTLP1234 --type Concerts --event MTLE101226"
    )]
    Cancel(Ticket),
    /// Exchange a reservation for another one, atomically.
    #[command(
        alias = "exchangeTicket",
        long_about = "Give up the reservation (--type, --event) and take (--new-type, --new-event) \
                      instead, atomically: either both happen or neither (SOAP operation \
                      exchangeTicket).\n\n\
                      Result codes: EXCHANGED; refused: NOT_AUTHORIZED, NOT_RESERVED (no old \
                      reservation), NO_SUCH_SLOT, ALREADY_RESERVED, SLOT_FULL, TIME_CONFLICT, \
                      OTHER_CITY_LIMIT.",
        after_long_help = "Examples:\n  \
            tessera exchange --participant MTLP1234 --type Concerts --event MTLE101226 \
            --new-type Concerts --new-event MTLE111226"
    )]
    Exchange(Exchange),
    /// Show the cluster: each replica's implementation, pid, state, last seq, faults, replacements.
    #[command(
        long_about = "Ask the sequencer and every replica manager of the cluster for their state \
                      (over the cluster's authenticated UDP protocol, not through the gateway) \
                      and print it as a table.\n\n\
                      With --json, prints the same object as `tesserad status --json`: keys \
                      next_seq and replicas[id, implementation, pid, state (up, lying, \
                      voted-out, recovering, down), last_seq, consecutive_faults, replacements \
                      (the replica's generation), last_wrong_unix_ms (when its manager last \
                      heard of a wrong answer from it), digest]; null for a node that did not \
                      answer.\n\nExit status 2 if no node answered.",
        after_long_help = "Examples:\n  \
            tessera status\n  \
            tessera status --json\n  \
            tessera status --config cluster.toml"
    )]
    Status(StatusArgs),
    /// Inject a fault into one replica of a cluster started with `tesserad up --chaos`.
    #[command(
        long_about = "Ask a replica manager to inject a fault into its replica. The cluster must \
                      have been started with --chaos; otherwise the manager refuses.\n\n  \
                      byzantine  the replica answers wrongly (the cluster outvotes and replaces it)\n  \
                      crash      the replica process is killed (it is replaced and catches up)\n  \
                      hang       the replica process is stopped (SIGSTOP; detected and replaced)\n  \
                      heal       undo byzantine and hang",
        after_long_help = "Examples:\n  \
            tessera chaos byzantine --replica 2\n  \
            tessera chaos crash --replica 3\n  \
            tessera chaos heal --replica 2"
    )]
    Chaos(ChaosArgs),
    /// Walk through the failure scenarios on a running cluster, checking every answer.
    #[command(
        long_about = "Run the course project's failure scenarios against a running cluster \
                      started with `tesserad up --chaos` (which also runs the gateway), printing \
                      each step and PASS or FAIL for every check:\n\n  \
                      1. set up slots, book, a double booking refused (ALREADY_RESERVED), a full \
                      slot refused, an exchange\n  \
                      2. replica 2 Byzantine: answers stay correct; it is outvoted and replaced\n  \
                      3. replica 3 crashed: answers stay correct; it is replaced and catches up \
                      (digests converge)\n  \
                      4. both at once\n  \
                      5. heal, and a final check that all four replicas agree\n\n\
                      The cluster is the one of --config (default: the embedded \
                      deploy/local.toml), and the gateway its gateway.public_url unless --url or \
                      TESSERA_URL names another. Every run uses fresh IDs, so it can be repeated \
                      on the same cluster. The output is text (--json does not apply). Exit \
                      status: 0 if every check passed, 1 if any failed, 2 if the demo could not \
                      run (gateway or cluster unreachable, fault injection disabled).",
        after_long_help = "Examples:\n  \
            tesserad up --chaos &    # in another terminal\n  \
            tessera demo\n  \
            tessera demo --config deploy/local.toml --url http://127.0.0.1:8080/ws/reservation"
    )]
    Demo(DemoArgs),
    /// Interactive prompt with history and tab completion for the same commands.
    #[command(
        long_about = "An interactive prompt that runs the same commands without the leading \
                      `tessera`, with line editing, history (~/.tessera_history, or the file \
                      named by $TESSERA_HISTORY; empty disables it) and tab completion of \
                      command names, flags and event types. Options given before `shell` (--url, \
                      --soap12, --json, --raw, --timeout) apply to every line unless the line \
                      sets them. `help` lists the commands, `help <command>` explains one, \
                      `exit` or Ctrl-D leaves.",
        after_long_help = "Examples:\n  \
            tessera shell\n  \
            tessera --soap12 shell\n  \
            tessera> reserve --participant MTLP1234 --type Concerts --event MTLE101226\n  \
            tessera> schedule --participant MTLP1234\n  \
            tessera> exit"
    )]
    Shell,
}

#[derive(Debug, Clone, Args)]
pub struct AddSlot {
    /// Admin ID of the event's city, e.g. MTLA1234.
    #[arg(long, value_name = "ADMIN_ID")]
    pub admin: String,
    /// Event type: ArtGallery, Concerts or Theatre.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    pub event_type: String,
    /// Event ID: city + M/A/E + DDMMYY, e.g. MTLE101226.
    #[arg(long, value_name = "EVENT_ID")]
    pub event: String,
    /// Number of places, 1 to 100000.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub capacity: String,
}

#[derive(Debug, Clone, Args)]
pub struct RemoveSlot {
    /// Admin ID of the event's city, e.g. MTLA1234.
    #[arg(long, value_name = "ADMIN_ID")]
    pub admin: String,
    /// Event type: ArtGallery, Concerts or Theatre.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    pub event_type: String,
    /// Event ID: city + M/A/E + DDMMYY, e.g. MTLE101226.
    #[arg(long, value_name = "EVENT_ID")]
    pub event: String,
}

#[derive(Debug, Clone, Args)]
pub struct ListSlots {
    /// Admin ID (any city), e.g. MTLA1234.
    #[arg(long, value_name = "ADMIN_ID")]
    pub admin: String,
    /// Event type: ArtGallery, Concerts or Theatre.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    pub event_type: String,
}

/// A participant and one slot: `reserve` and `cancel`.
#[derive(Debug, Clone, Args)]
pub struct Ticket {
    /// Participant ID, e.g. MTLP1234.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: String,
    /// Event type: ArtGallery, Concerts or Theatre.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    pub event_type: String,
    /// Event ID: city + M/A/E + DDMMYY, e.g. MTLE101226.
    #[arg(long, value_name = "EVENT_ID")]
    pub event: String,
}

#[derive(Debug, Clone, Args)]
pub struct Schedule {
    /// Participant ID, e.g. MTLP1234.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: String,
}

#[derive(Debug, Clone, Args)]
pub struct Exchange {
    /// Participant ID, e.g. MTLP1234.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: String,
    /// Event type of the reservation to give up.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    pub event_type: String,
    /// Event ID of the reservation to give up.
    #[arg(long, value_name = "EVENT_ID")]
    pub event: String,
    /// Event type of the slot to take instead.
    #[arg(long = "new-type", value_name = "EVENT_TYPE")]
    pub new_event_type: String,
    /// Event ID of the slot to take instead.
    #[arg(long = "new-event", value_name = "EVENT_ID")]
    pub new_event: String,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Cluster configuration (TOML). Default: the embedded deploy/local.toml.
    #[arg(long, value_name = "FILE", env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    /// The operator's secret key file. Default: `operator.key` in the cluster's key
    /// directory, where `tesserad up` makes it.
    #[arg(long, value_name = "FILE", env = "TESSERA_KEY")]
    pub key: Option<PathBuf>,
    /// How long to wait for the nodes to answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1500)]
    pub wait_ms: u64,
}

/// What `tessera chaos` does to a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChaosKind {
    /// Answer wrongly.
    Byzantine,
    /// Kill the replica process.
    Crash,
    /// Stop the replica process (SIGSTOP).
    Hang,
    /// Undo byzantine and hang.
    Heal,
    /// Keep replies right but damage the state (caught by checkpoint digests).
    CorruptState,
}

#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// The fault to inject.
    #[arg(value_enum)]
    pub action: ChaosKind,
    /// Replica 1..=4.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
    pub replica: u8,
    /// Cluster configuration (TOML). Default: the embedded deploy/local.toml.
    #[arg(long, value_name = "FILE", env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    /// The operator's secret key file. Default: `operator.key` in the cluster's key
    /// directory, where `tesserad up` makes it.
    #[arg(long, value_name = "FILE", env = "TESSERA_KEY")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Cluster configuration (TOML). Default: the embedded deploy/local.toml.
    #[arg(long, value_name = "FILE", env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    /// The operator's secret key file. Default: `operator.key` in the cluster's key
    /// directory, where `tesserad up` makes it.
    #[arg(long, value_name = "FILE", env = "TESSERA_KEY")]
    pub key: Option<PathBuf>,
    /// How long to wait for a replacement or for the replicas to converge, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub wait: Duration,
}

/// A positive number of seconds, fractions allowed: `10`, `2.5`.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let expected = "expected a positive number of seconds, e.g. 10 or 2.5";
    let secs: f64 = s.trim().parse().map_err(|_| expected.to_owned())?;
    if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(expected.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("NaN").is_err());
    }

    #[test]
    fn globals_after_the_subcommand_and_overridden() {
        let cli = Cli::try_parse_from([
            "tessera",
            "--url",
            "http://a/ws",
            "schedule",
            "--participant",
            "MTLP0001",
            "--url",
            "http://b/ws",
            "--soap12",
        ])
        .unwrap();
        assert_eq!(cli.global.url(), "http://b/ws");
        assert!(cli.global.soap12);
    }
}
