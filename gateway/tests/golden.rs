//! Golden envelopes: every operation, business outcomes and faults, in SOAP 1.1 and 1.2.
//!
//! `tests/golden/soap1x/NN-name.request.xml` is sent, in file order, to a gateway over a fresh
//! in-memory backend; the response must equal `NN-name.response.xml` byte for byte, come with
//! the listed HTTP status and the version's Content-Type, and validate against the envelope
//! schema of its version together with `wsdl/reservation.xsd`. The sequence is a small story
//! (slots created, reserved, listed, exchanged, cancelled, one removed with a holder moved and
//! one dropped), so `revision` numbers are part of what is checked; the faults in the middle
//! must not consume one.
//!
//! After a deliberate change of the wire format, regenerate the responses with
//! `TESSERA_BLESS=1 cargo test -p tessera-gateway --test golden` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::*;
use tessera_gateway::SoapVersion;

/// Each golden step and its HTTP status in SOAP 1.1 and SOAP 1.2.
const STEPS: &[(&str, u16, u16)] = &[
    ("01-addReservationSlot-created", 200, 200),
    ("02-addReservationSlot-later-slot", 200, 200),
    ("03-addReservationSlot-not-authorized", 200, 200),
    ("04-reserveTicket-reserved", 200, 200),
    ("05-reserveTicket-second-holder", 200, 200),
    ("06-reserveTicket-slot-full", 200, 200),
    ("07-getEventSchedule-ok", 200, 200),
    ("08-listReservationSlotAvailable-ok", 200, 200),
    ("09-exchangeTicket-exchanged", 200, 200),
    ("10-cancelTicket-cancelled", 200, 200),
    ("11-reserveTicket-refill", 200, 200),
    ("12-removeReservationSlot-removed", 200, 200),
    ("13-getEventSchedule-empty", 200, 200),
    ("14-fault-invalid-argument", 500, 400),
    ("15-fault-unknown-operation", 500, 400),
    ("16-fault-must-understand", 500, 500),
    ("17-fault-version-mismatch", 500, 500),
    ("18-fault-malformed", 500, 400),
    ("19-getEventSchedule-after-faults", 200, 200),
];

/// Calls that reach the backend: every step but the faults.
const CALLS: u64 = 14;

async fn run(version: SoapVersion, dir: &str) {
    let bless = std::env::var_os("TESSERA_BLESS").is_some();
    let (app, backend) = app();
    let dir = manifest_dir().join("tests/golden").join(dir);
    let names: Vec<String> = {
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".request.xml").map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    };
    let listed: Vec<&str> = STEPS.iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        listed,
        "golden files and STEPS disagree in {}",
        dir.display()
    );

    for &(name, status11, status12) in STEPS {
        let request = fs::read(dir.join(format!("{name}.request.xml"))).unwrap();
        let reply = post(&app, content_type(version), &[], request).await;
        let expected_status = match version {
            SoapVersion::Soap11 => status11,
            SoapVersion::Soap12 => status12,
        };
        assert_eq!(
            reply.status.as_u16(),
            expected_status,
            "{name}: {}",
            reply.text()
        );
        assert_eq!(reply.content_type(), content_type(version), "{name}");
        validate(version, &reply.body);

        let path = dir.join(format!("{name}.response.xml"));
        if bless {
            fs::write(&path, &reply.body).unwrap();
            continue;
        }
        let golden = fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (TESSERA_BLESS=1 writes it)", path.display()));
        assert!(
            reply.body == golden,
            "{name}: response differs from {}\n got: {}\nwant: {}",
            path.display(),
            reply.text(),
            String::from_utf8_lossy(&golden)
        );
    }
    assert_eq!(
        backend.calls(),
        CALLS,
        "faulted requests must not reach the backend"
    );
}

#[tokio::test]
async fn soap11_golden_envelopes() {
    run(SoapVersion::Soap11, "soap11").await;
}

#[tokio::test]
async fn soap12_golden_envelopes() {
    run(SoapVersion::Soap12, "soap12").await;
}

/// The golden requests that should be valid calls are valid against the schema too, so they
/// double as examples a schema-validating client would produce.
#[test]
fn golden_requests_validate() {
    for (version, dir) in [
        (SoapVersion::Soap11, "soap11"),
        (SoapVersion::Soap12, "soap12"),
    ] {
        for &(name, status, _) in STEPS {
            if status != 200 {
                continue;
            }
            let path = manifest_dir()
                .join("tests/golden")
                .join(dir)
                .join(format!("{name}.request.xml"));
            validate(version, &fs::read(path).unwrap());
        }
    }
}
