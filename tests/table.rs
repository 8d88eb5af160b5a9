//! Conformance scenario tables: parser and runner.
//!
//! A scenario file is a sequence of steps, one per line:
//!
//! ```text
//! # comment (also after a step)
//! add MTLA0001 Concerts MTLE101226 2 -> CREATED
//! reserve MTLP0001 Concerts MTLE101226 -> RESERVED
//! remove MTLA0001 Concerts MTLE101226 -> REMOVED moved=1 dropped=0
//! schedule MTLP0001 -> OK MTLE111226/Concerts TORA111226/Theatre
//! list MTLA0001 Concerts -> OK MTLE101226/Concerts/1 TORE111226/Concerts/3
//! slot Concerts MTLE101226 -> cap=2 holders=MTLP0001,TORP0002
//! slot Concerts MTLE101226 -> absent
//! ```
//!
//! Requests are written `add ADMIN TYPE EVENT CAPACITY`, `remove ADMIN TYPE EVENT`,
//! `list ADMIN TYPE`, `reserve PARTICIPANT TYPE EVENT`, `schedule PARTICIPANT`,
//! `cancel PARTICIPANT TYPE EVENT` and `exchange PARTICIPANT TYPE EVENT NEWTYPE NEWEVENT`.
//! Arguments are taken verbatim and parsed by `Request::from_arguments`, the one parser the
//! gateway and the CLI use: a step whose arguments do not parse must expect
//! `INVALID_ARGUMENT` (step 0 of `docs/domain.md`, decided at the edge: such a request never
//! reaches a replica), and one that expects `INVALID_ARGUMENT` must not parse; `"..."` quotes
//! an argument that is empty or contains spaces. After `->` comes the
//! expected reply: the code, then `moved=N dropped=N` for `REMOVED`, or the rows of an `OK`
//! (list rows `EVENT/TYPE/AVAILABLE`, schedule rows `EVENT/TYPE`, in reply order). The reply
//! is compared exactly, code and body. `slot` lines are not requests: they check the slot in
//! every replica's exported snapshot (capacity and sorted holders, or that it does not exist).
//! A line ending in `\` continues on the next line.
//!
//! The runner feeds every request that parses to all implementations with consecutive
//! sequence numbers, checks each reply, and after every step checks that all state digests
//! are equal.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use tessera_types::{
    ArgumentError, Booking, Code, Digest, EventId, EventType, ReplicaError, Reply, Request,
    SlotAvailability, UserId, OPERATIONS,
};

use crate::{describe_digests, render_reply, render_reply_exact, Cluster, Implementation};

/// The seven operations, by their table keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Add,
    Remove,
    List,
    Reserve,
    Schedule,
    Cancel,
    Exchange,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::Add,
        Op::Remove,
        Op::List,
        Op::Reserve,
        Op::Schedule,
        Op::Cancel,
        Op::Exchange,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::List => "list",
            Op::Reserve => "reserve",
            Op::Schedule => "schedule",
            Op::Cancel => "cancel",
            Op::Exchange => "exchange",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.keyword() == s)
    }

    /// The operation's WSDL name and its arguments' element names, in table order.
    fn wsdl(self) -> (&'static str, &'static [&'static str]) {
        // `Op::ALL` lists the operations in the order of `OPERATIONS`.
        OPERATIONS[self as usize]
    }

    pub fn of(request: &Request) -> Op {
        match request {
            Request::AddReservationSlot { .. } => Op::Add,
            Request::RemoveReservationSlot { .. } => Op::Remove,
            Request::ListReservationSlotAvailable { .. } => Op::List,
            Request::ReserveTicket { .. } => Op::Reserve,
            Request::GetEventSchedule { .. } => Op::Schedule,
            Request::CancelTicket { .. } => Op::Cancel,
            Request::ExchangeTicket { .. } => Op::Exchange,
        }
    }

    /// Every code `docs/domain.md` lets this operation return.
    pub fn codes(self) -> &'static [Code] {
        use Code::*;
        match self {
            Op::Add => &[
                InvalidArgument,
                NotAuthorized,
                CapacityBelowBooked,
                Updated,
                Created,
            ],
            Op::Remove => &[InvalidArgument, NotAuthorized, NoSuchSlot, Removed],
            Op::List | Op::Schedule => &[InvalidArgument, NotAuthorized, Ok],
            Op::Reserve => &[
                InvalidArgument,
                NotAuthorized,
                NoSuchSlot,
                AlreadyReserved,
                SlotFull,
                TimeConflict,
                OtherCityLimit,
                Reserved,
            ],
            Op::Cancel => &[InvalidArgument, NotAuthorized, NotReserved, Cancelled],
            Op::Exchange => &[
                InvalidArgument,
                NotAuthorized,
                NotReserved,
                NoSuchSlot,
                AlreadyReserved,
                SlotFull,
                TimeConflict,
                OtherCityLimit,
                Exchanged,
            ],
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// What a `slot` line expects of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotExpectation {
    Absent,
    Present { capacity: u32, holders: Vec<UserId> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    Request {
        request: Request,
        expected: Reply,
    },
    /// Arguments that do not parse, where the table expects `INVALID_ARGUMENT`: refused at
    /// the edge, never sent.
    Rejected {
        op: Op,
        error: ArgumentError,
    },
    Slot {
        event_type: EventType,
        event_id: EventId,
        expected: SlotExpectation,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line number of the step's first line.
    pub line: usize,
    /// The step as written, comments and continuations removed.
    pub text: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Used in locations, normally the file's path.
    pub name: String,
    pub steps: Vec<Step>,
}

impl Script {
    /// Number of request steps.
    pub fn requests(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Request { .. } | StepKind::Rejected { .. }))
            .count()
    }
}

/// Splits a line into tokens: whitespace separated, `"..."` quoted (no escapes), `#` outside
/// quotes starts a comment.
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => return Ok(tokens),
            Some('"') => {
                chars.next();
                let mut tok = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote".into()),
                        Some('"') => break,
                        Some(c) => tok.push(c),
                    }
                }
                if chars
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && *c != '#')
                {
                    return Err("a quoted argument must be followed by a space".into());
                }
                tokens.push(tok);
            }
            Some(_) => {
                let mut tok = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '#' {
                        break;
                    }
                    if c == '"' {
                        return Err("quote inside an argument".into());
                    }
                    tok.push(c);
                    chars.next();
                }
                tokens.push(tok);
            }
        }
    }
}

fn event_type(s: &str) -> Result<EventType, String> {
    EventType::parse(s).map_err(|e| format!("{s:?} in an expectation: {e}"))
}

fn event_id(s: &str) -> Result<EventId, String> {
    EventId::parse(s).map_err(|e| format!("{s:?} in an expectation: {e}"))
}

fn count(s: &str, key: &str) -> Result<u32, String> {
    s.strip_prefix(key)
        .and_then(|v| v.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("expected {key}=N, got {s:?}"))
}

/// The table's arguments of `op` through `Request::from_arguments`: `Err` for a wrong count,
/// `Ok(Err(..))` for arguments the parser refuses.
fn parse_request(op: Op, args: &[String]) -> Result<Result<Request, ArgumentError>, String> {
    let (name, fields) = op.wsdl();
    if args.len() != fields.len() {
        return Err(format!(
            "{op} takes {} arguments, got {}",
            fields.len(),
            args.len()
        ));
    }
    Ok(Request::from_arguments(name, |field| {
        fields
            .iter()
            .position(|f| *f == field)
            .map(|i| args[i].as_str())
    }))
}

fn parse_reply(op: Op, tokens: &[String]) -> Result<Reply, String> {
    let (first, rest) = tokens
        .split_first()
        .ok_or("missing the expected reply after ->")?;
    let code = Code::parse(first).ok_or_else(|| format!("unknown code {first:?}"))?;
    if !op.codes().contains(&code) {
        return Err(format!("{op} never returns {code} (docs/domain.md)"));
    }
    match code {
        Code::Removed => match rest {
            [m, d] => Ok(Reply::removed(count(m, "moved")?, count(d, "dropped")?)),
            _ => Err("REMOVED takes moved=N dropped=N".into()),
        },
        Code::Ok if op == Op::List => {
            let mut rows = Vec::new();
            for row in rest {
                let parts: Vec<&str> = row.split('/').collect();
                let [e, t, n] = parts[..] else {
                    return Err(format!("list row {row:?} is not EVENT/TYPE/AVAILABLE"));
                };
                rows.push(SlotAvailability {
                    event_id: event_id(e)?,
                    event_type: event_type(t)?,
                    available: n
                        .parse()
                        .map_err(|_| format!("available {n:?} is not a count"))?,
                });
            }
            Ok(Reply::slots(rows))
        }
        Code::Ok => {
            let mut rows = Vec::new();
            for row in rest {
                let parts: Vec<&str> = row.split('/').collect();
                let [e, t] = parts[..] else {
                    return Err(format!("schedule row {row:?} is not EVENT/TYPE"));
                };
                rows.push(Booking {
                    event_id: event_id(e)?,
                    event_type: event_type(t)?,
                });
            }
            Ok(Reply::schedule(rows))
        }
        _ if rest.is_empty() => Ok(Reply::code(code)),
        _ => Err(format!("{code} carries no data, got {:?}", rest.join(" "))),
    }
}

fn parse_slot(args: &[String], expected: &[String]) -> Result<StepKind, String> {
    let [t, e] = args else {
        return Err("slot takes TYPE EVENT".into());
    };
    let expected = match expected {
        [a] if a == "absent" => SlotExpectation::Absent,
        [c, h] => {
            let holders = h
                .strip_prefix("holders=")
                .ok_or_else(|| format!("expected holders=A,B,..., got {h:?}"))?;
            let mut holders = holders
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| UserId::parse(s).map_err(|e| format!("holder {s:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            holders.sort_unstable();
            SlotExpectation::Present {
                capacity: count(c, "cap")?,
                holders,
            }
        }
        _ => return Err("slot expects `absent` or `cap=N holders=A,B,...`".into()),
    };
    Ok(StepKind::Slot {
        event_type: event_type(t)?,
        event_id: event_id(e)?,
        expected,
    })
}

fn parse_step(tokens: &[String]) -> Result<StepKind, String> {
    let arrow = tokens
        .iter()
        .position(|t| t == "->")
        .ok_or("missing `->` and the expected result")?;
    let (head, expected) = (&tokens[..arrow], &tokens[arrow + 1..]);
    let (keyword, args) = head.split_first().ok_or("missing the operation")?;
    if keyword == "slot" {
        return parse_slot(args, expected);
    }
    let op = Op::parse(keyword).ok_or_else(|| format!("unknown operation {keyword:?}"))?;
    let expected = parse_reply(op, expected)?;
    match (parse_request(op, args)?, expected.code) {
        (Ok(_), Code::InvalidArgument) => {
            Err("the arguments are well-formed: INVALID_ARGUMENT is impossible (step 0)".into())
        }
        (Ok(request), _) => Ok(StepKind::Request { request, expected }),
        (Err(error), Code::InvalidArgument) => Ok(StepKind::Rejected { op, error }),
        (Err(error), code) => Err(format!(
            "the arguments do not parse ({error}), so the answer is INVALID_ARGUMENT, not {code}"
        )),
    }
}

/// Parses one request written in the table syntax without an expectation, e.g.
/// `reserve MTLP0001 Concerts MTLE101226`.
pub fn parse_request_line(line: &str) -> Result<Request, String> {
    let tokens = tokenize(line)?;
    let (keyword, args) = tokens.split_first().ok_or("empty request")?;
    let op = Op::parse(keyword).ok_or_else(|| format!("unknown operation {keyword:?}"))?;
    parse_request(op, args)?.map_err(|e| e.to_string())
}

/// Parses a scenario. Errors are `name:line: message`, all of them.
pub fn parse(name: &str, text: &str) -> Result<Script, Vec<String>> {
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, first)) = lines.next() {
        let mut joined = first.to_string();
        while let Some(stripped) = joined.trim_end().strip_suffix('\\') {
            joined = stripped.to_string();
            match lines.next() {
                Some((_, next)) => {
                    joined.push(' ');
                    joined.push_str(next);
                }
                None => {
                    errors.push(format!("{name}:{}: `\\` on the last line", i + 1));
                    break;
                }
            }
        }
        let tokens = match tokenize(&joined) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{name}:{}: {e}", i + 1));
                continue;
            }
        };
        if tokens.is_empty() {
            continue;
        }
        match parse_step(&tokens) {
            Ok(kind) => steps.push(Step {
                line: i + 1,
                text: tokens
                    .iter()
                    .map(|t| crate::arg(t))
                    .collect::<Vec<_>>()
                    .join(" "),
                kind,
            }),
            Err(e) => errors.push(format!("{name}:{}: {e}", i + 1)),
        }
    }
    if errors.is_empty() {
        Ok(Script {
            name: name.to_string(),
            steps,
        })
    } else {
        Err(errors)
    }
}

/// Reads and parses every `*.txt` in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Script>, Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    let mut scripts = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let name = path
            .strip_prefix(dir.parent().unwrap_or(dir))
            .unwrap_or(&path)
            .display()
            .to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse(&name, &text) {
                Ok(s) => scripts.push(s),
                Err(e) => errors.extend(e),
            },
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(scripts)
    } else {
        Err(errors)
    }
}

/// (operation, code) pairs of [`Op::codes`] that no step of `scripts` expects.
pub fn uncovered(scripts: &[Script]) -> Vec<(Op, Code)> {
    let covered: BTreeSet<(Op, Code)> = scripts
        .iter()
        .flat_map(|s| &s.steps)
        .filter_map(|s| match &s.kind {
            StepKind::Request { request, expected } => Some((Op::of(request), expected.code)),
            StepKind::Rejected { op, .. } => Some((*op, Code::InvalidArgument)),
            StepKind::Slot { .. } => None,
        })
        .collect();
    Op::ALL
        .iter()
        .flat_map(|op| op.codes().iter().map(move |c| (*op, *c)))
        .filter(|pair| !covered.contains(pair))
        .collect()
}

/// One disagreement between the table and an implementation, or among implementations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `file:line`.
    pub location: String,
    /// `None` when the failure is about the implementations together (digests).
    pub implementation: Option<String>,
    pub step: String,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self.implementation.as_deref().unwrap_or("all");
        write!(
            f,
            "{}: [{who}] {}\n    {}",
            self.location,
            self.step,
            self.message.replace('\n', "\n    ")
        )
    }
}

/// Groups implementations by digest: `{memory,sqlite} {eventlog} {kv}`.
fn partition(cluster: &Cluster) -> Option<String> {
    let digests = cluster.digests();
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, d) in &digests {
        let key = match d {
            Ok(d) => d.to_hex(),
            Err(e) => format!("error {name}: {e}"),
        };
        groups.entry(key).or_default().push(name);
    }
    if groups.len() <= 1 && digests.iter().all(|(_, d)| d.is_ok()) {
        return None;
    }
    let mut parts: Vec<String> = groups
        .values()
        .map(|names| format!("{{{}}}", names.join(",")))
        .collect();
    parts.sort();
    Some(format!(
        "{} ({})",
        parts.join(" vs "),
        describe_digests(&digests)
    ))
}

/// Runs `script` against `members` (fresh replicas) and returns every failure: each reply
/// that differs from the table, each `slot` check that fails, each step after which the
/// digests stop agreeing (reported again only when the grouping changes), and the first step
/// at which a member's `digest()` differs from the digest of its own `export()`.
pub fn run(script: &Script, members: Vec<Implementation>) -> Vec<Failure> {
    let mut cluster = Cluster::new(members);
    let mut failures: Vec<Failure> = Vec::new();
    // First line at which each implementation went wrong, to flag follow-on failures.
    let mut first_wrong: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_partition: Option<String> = None;
    let mut digest_mismatch_reported: BTreeSet<String> = BTreeSet::new();
    for step in &script.steps {
        let location = format!("{}:{}", script.name, step.line);
        let mut fail = |implementation: Option<&str>, message: String| {
            let mut message = message;
            if let Some(line) = implementation.and_then(|n| first_wrong.get(n)) {
                message.push_str(&format!("\n(after its earlier failure at line {line})"));
            }
            if let Some(n) = implementation {
                first_wrong.entry(n.to_string()).or_insert(step.line);
            }
            failures.push(Failure {
                location: location.clone(),
                implementation: implementation.map(str::to_string),
                step: step.text.clone(),
                message,
            });
        };
        match &step.kind {
            StepKind::Request { request, expected } => {
                let want = expected.encode();
                for outcome in cluster.apply(request) {
                    match &outcome.reply {
                        Ok(bytes) if *bytes == want => {}
                        Ok(_) => {
                            let got = outcome.decoded();
                            let (e, g) = match &got {
                                Ok(got) if render_reply(got) == render_reply(expected) => {
                                    (render_reply_exact(expected), render_reply_exact(got))
                                }
                                Ok(got) => (render_reply(expected), render_reply(got)),
                                Err(err) => (render_reply(expected), err.clone()),
                            };
                            fail(Some(&outcome.name), format!("expected: {e}\n     got: {g}"));
                        }
                        Err(err) => fail(
                            Some(&outcome.name),
                            format!(
                                "expected: {}\n     got: replica error: {err}",
                                render_reply(expected)
                            ),
                        ),
                    }
                }
            }
            // Refused where requests are built: no replica ever sees it, so there is nothing
            // to run (and the digests checked below must not move).
            StepKind::Rejected { .. } => {}
            StepKind::Slot {
                event_type,
                event_id,
                expected,
            } => {
                for m in cluster.members() {
                    let got = match m.replica.export() {
                        Ok(snap) => match snap
                            .slots()
                            .iter()
                            .find(|s| s.event_type == *event_type && s.event_id == *event_id)
                        {
                            None => SlotExpectation::Absent,
                            Some(s) => SlotExpectation::Present {
                                capacity: s.capacity,
                                holders: s.holders.clone(),
                            },
                        },
                        Err(e) => {
                            fail(Some(&m.name), format!("export failed: {e}"));
                            continue;
                        }
                    };
                    if got != *expected {
                        fail(
                            Some(&m.name),
                            format!(
                                "expected: {}\n     got: {}",
                                show_slot(expected),
                                show_slot(&got)
                            ),
                        );
                    }
                }
            }
        }
        for m in cluster.members() {
            if digest_mismatch_reported.contains(&m.name) {
                continue;
            }
            let (quick, full) = (m.replica.digest(), m.replica.export().map(|s| s.digest()));
            if let (Ok(quick), Ok(full)) = (&quick, &full) {
                if quick == full {
                    continue;
                }
            }
            digest_mismatch_reported.insert(m.name.clone());
            let show = |d: &Result<Digest, ReplicaError>| match d {
                Ok(d) => d.to_hex()[..16].to_string(),
                Err(e) => format!("<error: {e}>"),
            };
            fail(
                Some(&m.name),
                format!(
                    "digest() = {} but export().digest() = {} (reported once)",
                    show(&quick),
                    show(&full)
                ),
            );
        }
        let now = partition(&cluster);
        if now.is_some() && now != last_partition {
            if let Some(p) = &now {
                fail(None, format!("digests differ after this step: {p}"));
            }
        }
        last_partition = now;
    }
    failures
}

fn show_slot(s: &SlotExpectation) -> String {
    match s {
        SlotExpectation::Absent => "absent".into(),
        SlotExpectation::Present { capacity, holders } => format!(
            "cap={capacity} holders={}",
            holders
                .iter()
                .map(UserId::as_str)
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::Snapshot;

    /// Answers every request with a fixed reply and never changes state.
    struct Fake {
        seq: u64,
        reply: Reply,
    }

    impl tessera_types::Replica for Fake {
        fn call(
            &mut self,
            call: &tessera_types::Ordered<'_>,
        ) -> Result<tessera_types::Outcome, ReplicaError> {
            let seq = call.seq;
            if seq != self.seq + 1 {
                return Err(ReplicaError::Sequence {
                    expected: self.seq + 1,
                    got: seq,
                });
            }
            self.seq = seq;
            Ok(tessera_types::Outcome::fresh(self.reply.clone()))
        }
        fn applied_seq(&self) -> u64 {
            self.seq
        }
        /// Its state differs by the code it answers, so fakes disagreeing on replies also
        /// disagree on digests.
        fn export(&self) -> Result<Snapshot, ReplicaError> {
            if self.reply.code == Code::Created {
                Ok(Snapshot::default())
            } else {
                Ok(Snapshot::new(vec![tessera_types::SlotRecord {
                    event_type: EventType::Concerts,
                    event_id: EventId::parse("MTLE101226").unwrap(),
                    capacity: 1,
                    holders: vec![],
                }])?)
            }
        }
        fn import(&mut self, seq: u64, _: &Snapshot) -> Result<(), ReplicaError> {
            self.seq = seq;
            Ok(())
        }
    }

    fn fake(name: &str, reply: Reply) -> Implementation {
        Implementation::custom(name, Box::new(Fake { seq: 0, reply }))
    }

    #[test]
    fn tokenizer() {
        assert_eq!(
            tokenize(r#"add "" "Art Gallery" X -1 -> CREATED # why"#).unwrap(),
            ["add", "", "Art Gallery", "X", "-1", "->", "CREATED"]
        );
        assert_eq!(
            tokenize("  # only a comment").unwrap(),
            Vec::<String>::new()
        );
        assert!(tokenize(r#"add "x"#).is_err());
        assert!(tokenize(r#"add a"b"#).is_err());
    }

    #[test]
    fn parses_every_form() {
        let text = "\
# a comment
add MTLA0001 Concerts MTLE101226 2 -> CREATED
remove MTLA0001 Concerts MTLE101226 -> REMOVED moved=1 dropped=0
list MTLA0001 Concerts -> OK MTLE101226/Concerts/1 \\
     TORE111226/Concerts/3
list MTLA0001 Concerts -> OK
schedule MTLP0001 -> OK MTLE101226/Theatre
schedule MTLP0001 -> OK
cancel MTLP0001 Concerts \"\" -> INVALID_ARGUMENT
exchange MTLP0001 Concerts MTLE101226 Theatre MTLE101226 -> EXCHANGED
slot Concerts MTLE101226 -> cap=2 holders=TORP0001,MTLP0001
slot Concerts MTLE101226 -> cap=2 holders=
slot Concerts MTLE101226 -> absent
";
        let s = parse("t.txt", text).unwrap();
        assert_eq!(s.steps.len(), 11);
        assert_eq!(s.requests(), 8);
        assert_eq!(s.steps[2].line, 4);
        let StepKind::Request { expected, .. } = &s.steps[2].kind else {
            panic!()
        };
        assert_eq!(
            render_reply(expected),
            "OK MTLE101226/Concerts/1 TORE111226/Concerts/3"
        );
        let StepKind::Request { expected, .. } = &s.steps[3].kind else {
            panic!()
        };
        assert_eq!(*expected, Reply::slots(vec![]));
        let StepKind::Request { expected, .. } = &s.steps[5].kind else {
            panic!()
        };
        assert_eq!(*expected, Reply::schedule(vec![]));
        let StepKind::Slot { expected, .. } = &s.steps[8].kind else {
            panic!()
        };
        assert_eq!(
            show_slot(expected),
            "cap=2 holders=MTLP0001,TORP0001",
            "holders are sorted"
        );
    }

    #[test]
    fn reports_every_parse_error_with_its_line() {
        let text = "\
add MTLA0001 Concerts MTLE101226 -> CREATED
reserve MTLP0001 Concerts MTLE101226 -> CREATED
list MTLA0001 Concerts -> OK MTLE101226/Concerts
remove MTLA0001 Concerts MTLE101226 -> REMOVED moved=1
frobnicate x -> OK
schedule MTLP0001 OK
cancel MTLP0001 Concerts MTLE101226 -> CANCELLED extra
add MTLA0001 Concerts MTLE101226 99999999999 -> CREATED
";
        let errors = parse("bad.txt", text).unwrap_err();
        let lines: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').nth(1).unwrap())
            .collect();
        assert_eq!(
            lines,
            ["1", "2", "3", "4", "5", "6", "7", "8"],
            "{errors:#?}"
        );
    }

    #[test]
    fn runner_reports_location_implementation_expected_and_got() {
        let script = parse(
            "t.txt",
            "# header\nadd MTLA0001 Concerts MTLE101226 2 -> CREATED\n\
             add MTLA0001 Concerts MTLE101226 2 -> CREATED\n",
        )
        .unwrap();
        let ok = run(
            &script,
            vec![
                fake("a", Reply::code(Code::Created)),
                fake("b", Reply::code(Code::Created)),
            ],
        );
        assert!(ok.is_empty(), "{ok:?}");
        let failures = run(
            &script,
            vec![
                fake("a", Reply::code(Code::Created)),
                fake("b", Reply::code(Code::Updated)),
            ],
        );
        let shown: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert_eq!(failures.len(), 3, "{shown:#?}");
        assert_eq!(failures[0].location, "t.txt:2");
        assert_eq!(failures[0].implementation.as_deref(), Some("b"));
        assert!(shown[0].contains("expected: CREATED\n         got: UPDATED"));
        assert_eq!(failures[1].implementation, None, "digests differ");
        assert!(shown[1].contains("{a} vs {b}"), "{}", shown[1]);
        // Line 3: b wrong again, flagged as a follow-on; the grouping is unchanged, so the
        // digest difference is not repeated.
        assert_eq!(failures[2].location, "t.txt:3");
        assert!(shown[2].contains("after its earlier failure at line 2"));
    }

    #[test]
    fn runner_tells_empty_bodies_apart() {
        let script = parse("t.txt", "list MTLA0001 Concerts -> OK\n").unwrap();
        let failures = run(&script, vec![fake("a", Reply::schedule(vec![]))]);
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0]
                .message
                .contains("expected: OK [Slots body]\n     got: OK [Schedule body]"),
            "{}",
            failures[0]
        );
    }

    #[test]
    fn coverage_lists_missing_codes() {
        let s = parse("t.txt", "schedule MTLP0001 -> OK\n").unwrap();
        let missing = uncovered(&[s]);
        assert!(!missing.contains(&(Op::Schedule, Code::Ok)));
        assert!(missing.contains(&(Op::Schedule, Code::NotAuthorized)));
        assert_eq!(
            missing.len(),
            Op::ALL.iter().map(|o| o.codes().len()).sum::<usize>() - 1
        );
    }
}
