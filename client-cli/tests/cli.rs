//! The real `tessera` binary against a real gateway (the gateway crate's router over its
//! in-memory `LocalBackend`) on a loopback port: every operation over both SOAP bindings,
//! `--json`, `--raw`, the exit statuses and their messages, help, and the shell.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{gateway, run, run_with_input, tessera, Run};

const SOAP11: &[&str] = &[];
const SOAP12: &[&str] = &["--soap12"];

fn with(binding: &[&str], args: &[&str]) -> Vec<String> {
    binding
        .iter()
        .chain(args)
        .map(|s| (*s).to_owned())
        .collect()
}

fn call(url: &str, binding: &[&str], args: &[&str]) -> Run {
    let argv = with(binding, args);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    run(url, &argv)
}

fn assert_exit(r: &Run, code: i32, what: &str) {
    assert_eq!(r.code, code, "{what}: {r:#?}");
}

/// Every subcommand, in an order where each result is known, over one binding.
fn every_operation(binding: &[&str]) {
    let gw = gateway();
    let url = gw.url.as_str();
    let add = |event: &str, capacity: &str| {
        call(
            url,
            binding,
            &[
                "add-slot",
                "--admin",
                "MTLA0001",
                "--type",
                "Concerts",
                "--event",
                event,
                "--capacity",
                capacity,
            ],
        )
    };

    let r = add("MTLE101226", "2");
    assert_exit(&r, 0, "add-slot");
    assert!(
        r.stdout
            .starts_with("CREATED: Reservation slot created (revision 1)"),
        "{r:#?}"
    );
    assert_exit(&add("MTLE111226", "2"), 0, "second add-slot");
    let r = add("MTLE101226", "3");
    assert_exit(&r, 0, "add-slot of an existing slot");
    assert!(r.stdout.starts_with("UPDATED:"), "{r:#?}");

    let reserve = [
        "reserve",
        "--participant",
        "MTLP0001",
        "--type",
        "Concerts",
        "--event",
        "MTLE101226",
    ];
    let r = call(url, binding, &reserve);
    assert_exit(&r, 0, "reserve");
    assert!(
        r.stdout.starts_with("RESERVED: Reservation confirmed"),
        "{r:#?}"
    );

    let r = call(url, binding, &reserve);
    assert_exit(&r, 1, "double booking");
    assert!(
        r.stdout
            .starts_with("ALREADY_RESERVED: The participant already holds this reservation"),
        "{r:#?}"
    );

    let r = call(url, binding, &["schedule", "--participant", "MTLP0001"]);
    assert_exit(&r, 0, "schedule");
    assert!(
        r.stdout.starts_with("OK: 1 reservation for MTLP0001"),
        "{r:#?}"
    );
    assert!(r.stdout.contains("EVENT ID"), "a table: {r:#?}");
    assert!(
        r.stdout
            .contains("MTLE101226  Concerts    Thu 10 Dec 2026 evening"),
        "{r:#?}"
    );

    let r = call(
        url,
        binding,
        &["list-slots", "--admin", "TORA0002", "--type", "Concerts"],
    );
    assert_exit(&r, 0, "list-slots");
    assert!(
        r.stdout.starts_with("OK: 2 slots of type Concerts"),
        "{r:#?}"
    );
    assert!(r.stdout.contains("AVAILABLE"), "{r:#?}");
    let rows: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("MTLE")).collect();
    assert_eq!(rows.len(), 2, "{r:#?}");
    assert!(
        rows[0].starts_with("MTLE101226") && rows[0].ends_with(" 2"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with("MTLE111226") && rows[1].ends_with(" 2"),
        "{rows:?}"
    );

    let r = call(
        url,
        binding,
        &[
            "exchange",
            "--participant",
            "MTLP0001",
            "--type",
            "Concerts",
            "--event",
            "MTLE101226",
            "--new-type",
            "Concerts",
            "--new-event",
            "MTLE111226",
        ],
    );
    assert_exit(&r, 0, "exchange");
    assert!(r.stdout.starts_with("EXCHANGED:"), "{r:#?}");

    let cancel = [
        "cancel",
        "--participant",
        "MTLP0001",
        "--type",
        "Concerts",
        "--event",
        "MTLE111226",
    ];
    let r = call(url, binding, &cancel);
    assert_exit(&r, 0, "cancel");
    assert!(r.stdout.starts_with("CANCELLED:"), "{r:#?}");
    let r = call(url, binding, &cancel);
    assert_exit(&r, 1, "cancel again");
    assert!(r.stdout.starts_with("NOT_RESERVED:"), "{r:#?}");

    // A holder to move: MTLP0002 holds the 10th, which is removed; the 11th takes them.
    let mut reserve2 = reserve;
    reserve2[2] = "MTLP0002";
    assert_exit(&call(url, binding, &reserve2), 0, "reserve for the removal");
    let r = call(
        url,
        binding,
        &[
            "remove-slot",
            "--admin",
            "MTLA0001",
            "--type",
            "Concerts",
            "--event",
            "MTLE101226",
        ],
    );
    assert_exit(&r, 0, "remove-slot");
    assert!(
        r.stdout.starts_with("REMOVED: Reservation slot removed"),
        "{r:#?}"
    );
    assert!(
        r.stdout
            .contains("holders moved to a later slot: 1, reservations dropped: 0"),
        "{r:#?}"
    );

    let r = call(url, binding, &["schedule", "--participant", "MTLP0003"]);
    assert_exit(&r, 0, "empty schedule");
    assert!(
        r.stdout.starts_with("OK: 0 reservations for MTLP0003"),
        "{r:#?}"
    );

    // Not authorized is a refusal, with a hint from the IDs.
    let r = call(
        url,
        binding,
        &["list-slots", "--admin", "MTLP0001", "--type", "Theatre"],
    );
    assert_exit(&r, 1, "participant as admin");
    assert!(r.stdout.starts_with("NOT_AUTHORIZED:"), "{r:#?}");
    assert!(
        r.stdout.contains("hint: MTLP0001 is a participant ID"),
        "{r:#?}"
    );
}

#[test]
fn every_operation_over_soap11() {
    every_operation(SOAP11);
}

#[test]
fn every_operation_over_soap12() {
    every_operation(SOAP12);
}

#[test]
fn json_output_has_the_result_object() {
    let gw = gateway();
    let url = gw.url.as_str();
    for binding in [SOAP11, SOAP12] {
        let r = call(
            url,
            binding,
            &[
                "--json",
                "add-slot",
                "--admin",
                "VANA0001",
                "--type",
                "ArtGallery",
                "--event",
                "VANM290228",
                "--capacity",
                "1",
            ],
        );
        assert_exit(&r, 0, "add-slot --json");
        let v = r.json();
        for key in [
            "operation",
            "success",
            "code",
            "message",
            "revision",
            "moved",
            "dropped",
            "slots",
            "reservations",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v:#}");
        }
        assert_eq!(v["operation"], "addReservationSlot");
        assert!(v["revision"].as_u64().unwrap() >= 1);
    }

    let r = run(
        url,
        &[
            "list-slots",
            "--admin",
            "MTLA0001",
            "--type",
            "ArtGallery",
            "--json",
        ],
    );
    let v = r.json();
    assert_eq!(v["success"], true);
    assert_eq!(v["code"], "OK");
    assert_eq!(
        v["slots"],
        serde_json::json!([{ "eventID": "VANM290228", "eventType": "ArtGallery", "available": 1 }])
    );
    assert_eq!(v["moved"], serde_json::Value::Null);

    let args = [
        "--json",
        "reserve",
        "--participant",
        "TORP0042",
        "--type",
        "ArtGallery",
        "--event",
        "VANM290228",
    ];
    assert_exit(&run(url, &args), 0, "reserve --json");
    let r = run(url, &args);
    assert_exit(&r, 1, "refusal --json");
    let v = r.json();
    assert_eq!(
        (v["success"].clone(), v["code"].clone()),
        (false.into(), "ALREADY_RESERVED".into())
    );

    let v = run(url, &["--json", "schedule", "--participant", "TORP0042"]).json();
    assert_eq!(
        v["reservations"],
        serde_json::json!([{ "eventID": "VANM290228", "eventType": "ArtGallery" }])
    );

    let r = run(
        url,
        &[
            "--json",
            "remove-slot",
            "--admin",
            "VANA0001",
            "--type",
            "ArtGallery",
            "--event",
            "VANM290228",
        ],
    );
    let v = r.json();
    assert_eq!(
        (v["moved"].clone(), v["dropped"].clone()),
        (0.into(), 1.into()),
        "{v:#}"
    );

    // Errors are JSON on stdout too.
    let r = run(url, &["--json", "schedule", "--participant", "MTLX0001"]);
    assert_exit(&r, 2, "bad ID --json");
    assert_eq!(r.json()["error"]["kind"], "invalid_input");
    assert_eq!(r.json()["error"]["field"], "participantID");
}

#[test]
fn a_bad_id_is_refused_before_any_network_use() {
    let gw = gateway();
    let r = run(
        &gw.url,
        &[
            "reserve",
            "--participant",
            "MTLP0001",
            "--type",
            "Concerts",
            "--event",
            "MTLX101226",
        ],
    );
    assert_exit(&r, 2, "bad event ID");
    assert!(
        r.stderr.contains(
            "--event MTLX101226: unknown time slot (expected M, A or E); an event ID is city + \
             M/A/E + DDMMYY, e.g. MTLE101226"
        ),
        "{r:#?}"
    );
    assert!(r.stdout.is_empty(), "{r:#?}");
    for (args, says) in [
        (
            vec![
                "add-slot",
                "--admin",
                "MTLA0001",
                "--type",
                "Concerts",
                "--event",
                "MTLE101226",
                "--capacity",
                "0",
            ],
            "--capacity 0: capacity must be between 1 and 100000",
        ),
        (
            vec![
                "add-slot",
                "--admin",
                "MTLA0001",
                "--type",
                "Concerts",
                "--event",
                "MTLE101226",
                "--capacity",
                "-5",
            ],
            "--capacity -5: capacity must be between 1 and 100000",
        ),
        (
            vec!["list-slots", "--admin", "MTLA0001", "--type", "concerts"],
            "--type concerts: unknown event type (expected ArtGallery, Concerts or Theatre); \
             event types are case-sensitive: did you mean Concerts?",
        ),
        (
            vec!["schedule", "--participant", "MTLP12"],
            "--participant MTLP12: expected 8 characters, got 6",
        ),
        (
            vec![
                "cancel",
                "--participant",
                "MTLP0001",
                "--type",
                "Theatre",
                "--event",
                "VANE290227",
            ],
            "--event VANE290227: no such date in the calendar",
        ),
        (
            vec![
                "exchange",
                "--participant",
                "MTLP0001",
                "--type",
                "Theatre",
                "--event",
                "MTLE101226",
                "--new-type",
                "Opera",
                "--new-event",
                "MTLE111226",
            ],
            "--new-type Opera: unknown event type",
        ),
    ] {
        let r = run(&gw.url, &args);
        assert_exit(&r, 2, says);
        assert!(r.stderr.contains(says), "{says}: {r:#?}");
    }
    assert_eq!(gw.backend.calls(), 0, "nothing reached the service");

    // No network at all: the same answer with nothing listening.
    let r = run(
        &common::closed_port_url(),
        &["schedule", "--participant", "mtlp0001"],
    );
    assert_exit(&r, 2, "bad ID, no gateway");
    assert!(r.stderr.contains("did you mean MTLP0001?"), "{r:#?}");
    assert!(!r.stderr.contains("cannot reach"), "{r:#?}");
}

#[test]
fn an_unreachable_gateway_is_named_with_what_to_do() {
    let url = common::closed_port_url();
    let r = run(&url, &["schedule", "--participant", "MTLP0001"]);
    assert_exit(&r, 2, "unreachable");
    assert!(
        r.stderr
            .contains(&format!("cannot reach the Tessera gateway at {url}")),
        "{r:#?}"
    );
    assert!(r.stderr.contains("tesserad up"), "{r:#?}");
    assert!(r.stdout.is_empty());

    let r = run(&url, &["--json", "schedule", "--participant", "MTLP0001"]);
    assert_exit(&r, 2, "unreachable --json");
    assert_eq!(r.json()["error"]["kind"], "unreachable");

    // The URL also comes from the environment.
    let r: Run = tessera()
        .env("TESSERA_URL", &url)
        .args(["schedule", "--participant", "MTLP0001"])
        .output()
        .unwrap()
        .into();
    assert_exit(&r, 2, "TESSERA_URL");
    assert!(r.stderr.contains(&url), "{r:#?}");

    let r = run(
        "ftp://127.0.0.1:1/ws",
        &["schedule", "--participant", "MTLP0001"],
    );
    assert_exit(&r, 2, "ftp");
    assert!(r.stderr.contains("unsupported scheme ftp"), "{r:#?}");
}

#[test]
fn soap_faults_exit_2_with_their_reason() {
    // The cluster behind the gateway is down: a Server (1.1) / Receiver (1.2) fault.
    let url = common::gateway_without_cluster();
    let r = run(&url, &["schedule", "--participant", "MTLP0001"]);
    assert_exit(&r, 2, "Server fault");
    assert!(r.stderr.contains("SOAP fault (Server, HTTP 500)"), "{r:#?}");
    assert!(r.stderr.contains("did not take effect"), "{r:#?}");
    let r = run(
        &url,
        &[
            "--soap12",
            "--json",
            "schedule",
            "--participant",
            "MTLP0001",
        ],
    );
    assert_exit(&r, 2, "Receiver fault --json");
    let v = r.json();
    assert_eq!(v["fault"]["code"], "Receiver", "{v:#}");
    assert_eq!(v["fault"]["subcode"], "Unavailable", "{v:#}");
    assert_eq!(v["fault"]["field"], serde_json::Value::Null);

    // An invalidArgument fault, as the gateway writes it (its golden envelopes).
    for (path, status, content_type, code) in [
        (
            "soap11/14-fault-invalid-argument.response.xml",
            "500 Internal Server Error",
            "text/xml; charset=utf-8",
            "Client",
        ),
        (
            "soap12/14-fault-invalid-argument.response.xml",
            "400 Bad Request",
            "application/soap+xml; charset=utf-8",
            "Sender",
        ),
    ] {
        let url = common::canned(status, content_type, common::golden(path));
        let r = run(
            &url,
            &[
                "reserve",
                "--participant",
                "MTLP0001",
                "--type",
                "Concerts",
                "--event",
                "MTLE101226",
            ],
        );
        assert_exit(&r, 2, path);
        assert!(r.stderr.contains("no such date in the calendar"), "{r:#?}");
        assert!(r.stderr.contains("field: eventID"), "{r:#?}");
        let r = run(
            &url,
            &[
                "--json",
                "reserve",
                "--participant",
                "MTLP0001",
                "--type",
                "Concerts",
                "--event",
                "MTLE101226",
            ],
        );
        let v = r.json();
        assert_eq!(v["fault"]["code"], code);
        assert_eq!(v["fault"]["field"], "eventID");
        assert!(v["fault"]["reason"]
            .as_str()
            .unwrap()
            .contains("Invalid argument eventID"));
    }

    // Something that is not a SOAP endpoint.
    let url = common::canned("404 Not Found", "text/plain", "no such page\n".into());
    let r = run(&url, &["schedule", "--participant", "MTLP0001"]);
    assert_exit(&r, 2, "not SOAP");
    assert!(r.stderr.contains("unexpected answer"), "{r:#?}");
    assert!(r.stderr.contains("404"), "{r:#?}");
}

#[test]
fn raw_prints_both_envelopes() {
    let gw = gateway();
    let r = run(&gw.url, &["--raw", "schedule", "--participant", "MTLP0001"]);
    assert_exit(&r, 0, "--raw");
    let out = &r.stdout;
    assert!(out.contains(&format!("> POST {}", gw.url)), "{out}");
    assert!(
        out.contains("> Content-Type: text/xml; charset=utf-8"),
        "{out}"
    );
    assert!(
        out.contains("> SOAPAction: \"urn:tessera:reservation:v1#getEventSchedule\""),
        "{out}"
    );
    assert!(
        out.contains("<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\""),
        "{out}"
    );
    assert!(
        out.contains("<t:participantID>MTLP0001</t:participantID>"),
        "{out}"
    );
    assert!(out.contains("< HTTP 200 OK"), "{out}");
    assert!(
        out.contains("<getEventScheduleResponse xmlns=\"urn:tessera:reservation:v1\">"),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("OK: 0 reservations for MTLP0001 (revision 1)"),
        "{out}"
    );

    let r = run(
        &gw.url,
        &[
            "--raw",
            "--soap12",
            "--json",
            "schedule",
            "--participant",
            "MTLP0001",
        ],
    );
    assert_exit(&r, 0, "--raw --soap12 --json");
    assert!(
        r.stderr.contains(
            "> Content-Type: application/soap+xml; charset=utf-8; \
             action=\"urn:tessera:reservation:v1#getEventSchedule\""
        ),
        "{r:#?}"
    );
    assert!(
        r.stderr
            .contains("<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\""),
        "{r:#?}"
    );
    assert_eq!(r.json()["code"], "OK", "stdout stays JSON");

    let r = run(
        &common::closed_port_url(),
        &["--raw", "schedule", "--participant", "MTLP0001"],
    );
    assert_exit(&r, 2, "--raw unreachable");
    assert!(r.stdout.contains("< (no response:"), "{r:#?}");
}

const SUBCOMMANDS: [&str; 11] = [
    "add-slot",
    "remove-slot",
    "list-slots",
    "reserve",
    "schedule",
    "cancel",
    "exchange",
    "status",
    "chaos",
    "demo",
    "shell",
];

#[test]
fn help_is_complete() {
    let r: Run = tessera().arg("--help").output().unwrap().into();
    assert_exit(&r, 0, "--help");
    for sub in SUBCOMMANDS {
        assert!(
            r.stdout.contains(&format!("  {sub} ")),
            "{sub} missing: {}",
            r.stdout
        );
    }
    for text in [
        "--url",
        "--soap12",
        "--json",
        "--raw",
        "--timeout",
        "TESSERA_URL",
        "Exit status",
        "Examples:",
    ] {
        assert!(r.stdout.contains(text), "{text} missing: {}", r.stdout);
    }
    for sub in SUBCOMMANDS {
        let r: Run = tessera().args([sub, "--help"]).output().unwrap().into();
        assert_exit(&r, 0, sub);
        assert!(r.stdout.contains("Examples:"), "{sub}: {}", r.stdout);
        assert!(
            r.stdout.contains(&format!("tessera {sub}")),
            "{sub}: {}",
            r.stdout
        );
    }
    let r: Run = tessera()
        .args(["help", "exchange"])
        .output()
        .unwrap()
        .into();
    for flag in [
        "--participant",
        "--type",
        "--event",
        "--new-type",
        "--new-event",
    ] {
        assert!(r.stdout.contains(flag), "{flag}: {}", r.stdout);
    }
    // A usage error is exit status 2, like every other error.
    let r: Run = tessera()
        .args(["reserve", "--participant", "MTLP0001"])
        .output()
        .unwrap()
        .into();
    assert_exit(&r, 2, "missing flags");
    assert!(r.stderr.contains("--type"), "{r:#?}");
}

#[test]
fn the_shell_runs_the_same_commands() {
    let gw = gateway();
    let script = "\
help
add-slot --admin MTLA0001 --type Theatre --event MTLA010127 --capacity 5
reserve --participant MTLP0007 --type Theatre --event MTLA010127
# a comment

reserve --participant MTLP0007 --type Theatre --event MTLA010127
schedule --participant MTLP0007 --json
reserve --participant MTLP0007 --type Theatre --event MTLA320127
bogus
shell
help reserve
exit
schedule --participant MTLP0007
";
    let r = run_with_input(&["--url", &gw.url, "shell"], script);
    assert!(
        r.stdout.contains("Commands:"),
        "help lists the commands: {r:#?}"
    );
    assert!(r.stdout.contains("`exit`"), "shell help: {r:#?}");
    assert!(r.stdout.contains("CREATED:"), "{r:#?}");
    assert!(r.stdout.contains("RESERVED:"), "{r:#?}");
    assert!(r.stdout.contains("ALREADY_RESERVED:"), "{r:#?}");
    assert!(
        r.stdout.contains("\"eventID\": \"MTLA010127\""),
        "--json on a line: {r:#?}"
    );
    assert!(
        r.stderr.contains("--event MTLA320127: no such date"),
        "{r:#?}"
    );
    assert!(
        r.stderr.contains("unrecognized subcommand 'bogus'"),
        "{r:#?}"
    );
    assert!(r.stderr.contains("already in the shell"), "{r:#?}");
    assert!(
        r.stdout.contains("Reserve one ticket"),
        "help reserve: {r:#?}"
    );
    assert_eq!(
        r.stdout.matches("OK: ").count(),
        0,
        "--json schedule prints JSON only"
    );
    assert_eq!(gw.backend.calls(), 4, "exit ends the shell: {r:#?}");
    assert_exit(&r, 0, "the last command (help) succeeded");

    // The shell's options are defaults for every line; end of input leaves too, with the
    // last command's status.
    let r = run_with_input(
        &["--url", &gw.url, "--soap12", "--raw", "shell"],
        "reserve --participant MTLP0007 --type Theatre --event MTLA010127\n",
    );
    assert!(r.stdout.contains("application/soap+xml"), "{r:#?}");
    assert_exit(&r, 1, "last command refused");
}

/// The first answer is lost on the way back (the call took effect): the CLI retries with the
/// same wsa:MessageID, and gets the first answer, revision included; nothing is booked twice.
#[test]
fn a_lost_answer_is_retried_with_the_same_message_id_and_takes_effect_once() {
    let gw = gateway();
    let add = run(
        &gw.url,
        &[
            "add-slot",
            "--admin",
            "MTLA0001",
            "--type",
            "Concerts",
            "--event",
            "MTLE101226",
            "--capacity",
            "3",
        ],
    );
    assert_exit(&add, 0, "add-slot");
    let (url, seen) = common::lossy_proxy(gw.addr, 1);
    let reserve = [
        "reserve",
        "--participant",
        "MTLP0001",
        "--type",
        "Concerts",
        "--event",
        "MTLE101226",
    ];
    let r = run(&url, &reserve);
    assert_exit(&r, 0, "reserve through the lossy proxy");
    assert!(
        r.stdout
            .starts_with("RESERVED: Reservation confirmed (revision 2)"),
        "{r:#?}"
    );
    assert!(
        r.stderr.contains("retry 1 of 3") && r.stderr.contains("same wsa:MessageID"),
        "{r:#?}"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one attempt lost, one answered");
    let id = |request: &str| {
        let start = request.find("<wsa:MessageID").unwrap();
        let start = start + request[start..].find('>').unwrap() + 1;
        request[start..start + request[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(id(&seen[0]), id(&seen[1]));
    assert!(id(&seen[0]).starts_with("urn:uuid:"), "{}", seen[0]);
    // Both attempts were ordered (seqs 2 and 3); the reservation was made once.
    assert_eq!(gw.backend.calls(), 3);
    let list = run(
        &gw.url,
        &["list-slots", "--admin", "MTLA0001", "--type", "Concerts"],
    );
    assert!(list.stdout.contains("MTLE101226"), "{list:#?}");
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("MTLE101226") && l.trim_end().ends_with(" 2")),
        "one of three seats taken: {list:#?}"
    );
    // A new call gets a new id: the same reservation again is refused, not repeated.
    let again = run(&gw.url, &reserve);
    assert_exit(&again, 1, "a second reserve is a new call");
    assert!(again.stdout.starts_with("ALREADY_RESERVED"), "{again:#?}");
}

/// Without an answer at all, the CLI gives up after --retries more attempts and says so.
#[test]
fn retries_are_bounded() {
    let url = common::closed_port_url();
    let r = run(
        &url,
        &["--retries", "2", "schedule", "--participant", "MTLP0001"],
    );
    assert_exit(&r, 2, "unreachable");
    assert_eq!(r.stderr.matches("tessera: retry").count(), 2, "{r:#?}");
    let none = run(
        &url,
        &["--retries", "0", "schedule", "--participant", "MTLP0001"],
    );
    assert!(!none.stderr.contains("tessera: retry"), "{none:#?}");

    // The cluster behind the gateway gives no answer: a Server (1.1) / Receiver (1.2) fault,
    // retried with the same id, then reported.
    let url = common::gateway_without_cluster();
    for version in [&[][..], &["--soap12"][..]] {
        let mut args = version.to_vec();
        args.extend(["--retries", "1", "schedule", "--participant", "MTLP0001"]);
        let r = run(&url, &args);
        assert_exit(&r, 2, "no cluster");
        assert_eq!(r.stderr.matches("tessera: retry").count(), 1, "{r:#?}");
        assert!(
            r.stderr
                .contains("HTTP 500: The reservation cluster cannot take calls now"),
            "{r:#?}"
        );
    }
    // An answer, a refusal included, is not retried.
    let gw = gateway();
    let r = run(
        &gw.url,
        &["--retries", "3", "schedule", "--participant", "MTLA0001"],
    );
    assert!(r.stdout.contains("NOT_AUTHORIZED"), "{r:#?}");
    assert!(!r.stderr.contains("tessera: retry"), "{r:#?}");
}
