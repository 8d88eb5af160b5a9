//! Cost of the SOAP layer per call: envelope parse (the namespace-checking pass, payload
//! deserialization and argument validation) plus response write, without HTTP or a backend.
//! Also the measurement behind the choice of payload deserializer: quick-xml's serde support
//! against yaserde, on the same operation elements. Figures are recorded in `docs/gateway.md`.
//!
//! `cargo bench -p tessera-gateway --bench soap`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde::Deserialize;
use tessera_gateway::soap::{parse_call, write_fault, write_response, Operation};
use tessera_gateway::{Limits, SoapVersion};
use tessera_types::{EventId, EventType, Reply, SlotAvailability};
use yaserde::YaDeserialize;

const S12: &str = "http://www.w3.org/2003/05/soap-envelope";

fn golden(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/golden/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// zeep's form: its own envelope prefix, the operation in a declared `ns0` prefix.
fn zeep_add_slot() -> Vec<u8> {
    format!(
        "<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope xmlns:soap-env=\"{S12}\">\
         <soap-env:Body><ns0:addReservationSlot xmlns:ns0=\"urn:tessera:reservation:v1\">\
         <ns0:adminID>MTLA0001</ns0:adminID><ns0:eventType>Concerts</ns0:eventType>\
         <ns0:eventID>MTLE101226</ns0:eventID><ns0:capacity>250</ns0:capacity>\
         </ns0:addReservationSlot></soap-env:Body></soap-env:Envelope>"
    )
    .into_bytes()
}

fn calls(c: &mut Criterion) {
    let limits = Limits::default();
    let reserve11 = golden("soap11/04-reserveTicket-reserved.request.xml");
    let exchange12 = golden("soap12/09-exchangeTicket-exchanged.request.xml");
    let add12 = zeep_add_slot();
    let invalid11 = golden("soap11/14-fault-invalid-argument.request.xml");
    for (body, version) in [
        (&reserve11, SoapVersion::Soap11),
        (&exchange12, SoapVersion::Soap12),
        (&add12, SoapVersion::Soap12),
    ] {
        assert!(parse_call(body, version, &limits).is_ok());
    }

    let reserved = Reply::code(tessera_types::Code::Reserved);
    let twenty_slots = Reply::slots(
        (1..=20)
            .map(|day| SlotAvailability {
                event_id: EventId::parse(&format!("MTLE{day:02}0126")).unwrap(),
                event_type: EventType::Concerts,
                available: 100 + day,
            })
            .collect(),
    );

    let mut g = c.benchmark_group("call");
    g.bench_function("parse reserveTicket (SOAP 1.1)", |b| {
        b.iter(|| parse_call(black_box(&reserve11), SoapVersion::Soap11, &limits))
    });
    g.bench_function("parse exchangeTicket (SOAP 1.2)", |b| {
        b.iter(|| parse_call(black_box(&exchange12), SoapVersion::Soap12, &limits))
    });
    g.bench_function("parse addReservationSlot (SOAP 1.2, zeep)", |b| {
        b.iter(|| parse_call(black_box(&add12), SoapVersion::Soap12, &limits))
    });
    g.bench_function("write RESERVED (SOAP 1.1)", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            write_response(
                SoapVersion::Soap11,
                Operation::ReserveTicket,
                black_box(&reserved),
                42,
                &mut out,
            );
            out
        })
    });
    g.bench_function("write 20 slots (SOAP 1.2)", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            write_response(
                SoapVersion::Soap12,
                Operation::ListReservationSlotAvailable,
                black_box(&twenty_slots),
                42,
                &mut out,
            );
            out
        })
    });
    // The headline figure: one whole call through the SOAP layer.
    g.bench_function("parse + write reserveTicket (SOAP 1.1)", |b| {
        b.iter(|| {
            let call = parse_call(black_box(&reserve11), SoapVersion::Soap11, &limits).unwrap();
            let mut out = Vec::new();
            write_response(
                call.version,
                Operation::of(&call.request),
                &reserved,
                42,
                &mut out,
            );
            out
        })
    });
    g.bench_function("parse + write exchangeTicket (SOAP 1.2)", |b| {
        b.iter(|| {
            let call = parse_call(black_box(&exchange12), SoapVersion::Soap12, &limits).unwrap();
            let mut out = Vec::new();
            let reply = Reply::code(tessera_types::Code::Exchanged);
            write_response(
                call.version,
                Operation::of(&call.request),
                &reply,
                42,
                &mut out,
            );
            out
        })
    });
    g.bench_function("parse + fault for an invalid argument (SOAP 1.1)", |b| {
        b.iter(|| {
            let rejected =
                parse_call(black_box(&invalid11), SoapVersion::Soap11, &limits).unwrap_err();
            let mut out = Vec::new();
            write_fault(rejected.version, &rejected.fault, &mut out);
            out
        })
    });
    g.finish();
}

// ---- Payload deserializers compared ---------------------------------------------------------
//
// The same structs derive both libraries' traits. Each library gets the operation element as a
// standalone document (namespace declarations on it), which is the most either can be given:
// yaserde reads through xml-rs and cannot continue from quick-xml's reader as the gateway's
// serde path does.

#[derive(Debug, Default, PartialEq, Deserialize, YaDeserialize)]
#[yaserde(
    rename = "reserveTicket",
    prefix = "t",
    namespaces = { "t" = "urn:tessera:reservation:v1" }
)]
struct ReserveTicket {
    #[serde(rename = "participantID")]
    #[yaserde(rename = "participantID", prefix = "t")]
    participant_id: String,
    #[serde(rename = "eventType")]
    #[yaserde(rename = "eventType", prefix = "t")]
    event_type: String,
    #[serde(rename = "eventID")]
    #[yaserde(rename = "eventID", prefix = "t")]
    event_id: String,
}

#[derive(Debug, Default, PartialEq, Deserialize, YaDeserialize)]
#[yaserde(
    rename = "exchangeTicket",
    prefix = "t",
    namespaces = { "t" = "urn:tessera:reservation:v1" }
)]
struct ExchangeTicket {
    #[serde(rename = "participantID")]
    #[yaserde(rename = "participantID", prefix = "t")]
    participant_id: String,
    #[serde(rename = "eventType")]
    #[yaserde(rename = "eventType", prefix = "t")]
    event_type: String,
    #[serde(rename = "eventID")]
    #[yaserde(rename = "eventID", prefix = "t")]
    event_id: String,
    #[serde(rename = "newEventType")]
    #[yaserde(rename = "newEventType", prefix = "t")]
    new_event_type: String,
    #[serde(rename = "newEventID")]
    #[yaserde(rename = "newEventID", prefix = "t")]
    new_event_id: String,
}

const RESERVE_PREFIXED: &str = "<t:reserveTicket xmlns:t=\"urn:tessera:reservation:v1\">\
    <t:participantID>MTLP0001</t:participantID><t:eventType>Concerts</t:eventType>\
    <t:eventID>MTLE101226</t:eventID></t:reserveTicket>";

const EXCHANGE_PREFIXED: &str = "<t:exchangeTicket xmlns:t=\"urn:tessera:reservation:v1\">\
    <t:participantID>MTLP0001</t:participantID><t:eventType>Concerts</t:eventType>\
    <t:eventID>MTLE101226</t:eventID><t:newEventType>Theatre</t:newEventType>\
    <t:newEventID>MTLA111226</t:newEventID></t:exchangeTicket>";

/// Forms real clients send (see tests/clients.rs), each of which a correct deserializer must
/// read as the same call.
fn reserve_forms() -> Vec<(&'static str, String)> {
    vec![
        ("prefix t", RESERVE_PREFIXED.to_owned()),
        (
            "prefix ns0 (zeep)",
            RESERVE_PREFIXED
                .replace("t:", "ns0:")
                .replace("xmlns:t=", "xmlns:ns0="),
        ),
        (
            "default namespace (.NET, curl)",
            RESERVE_PREFIXED
                .replace("t:", "")
                .replace("xmlns:t=", "xmlns="),
        ),
        (
            "comments and whitespace (curl)",
            RESERVE_PREFIXED
                .replace("><t:eventType>", ">\n  <!-- what --> <t:eventType>")
                .replace("</t:reserveTicket>", "\n</t:reserveTicket>"),
        ),
        (
            "CDATA and character reference",
            RESERVE_PREFIXED
                .replace(">Concerts<", "><![CDATA[Concerts]]><")
                .replace("MTLE101226", "MTL&#69;101226"),
        ),
    ]
}

fn report_correctness() {
    let want = ReserveTicket {
        participant_id: "MTLP0001".into(),
        event_type: "Concerts".into(),
        event_id: "MTLE101226".into(),
    };
    println!("payload deserializers on the forms clients send (ok = the expected call):");
    for (name, xml) in reserve_forms() {
        let serde = quick_xml::de::from_str::<ReserveTicket>(&xml);
        let yaserde = yaserde::de::from_str::<ReserveTicket>(&xml);
        let verdict = |ok: bool| if ok { "ok" } else { "WRONG" };
        println!(
            "  {name:<32} quick-xml serde: {:<6} yaserde: {}{}",
            verdict(serde.as_ref().is_ok_and(|r| *r == want)),
            verdict(yaserde.as_ref().is_ok_and(|r| *r == want)),
            match &yaserde {
                Ok(r) if *r != want => format!(" (got {r:?})"),
                Err(e) => format!(" ({e})"),
                _ => String::new(),
            }
        );
    }
}

fn payloads(c: &mut Criterion) {
    report_correctness();
    let mut g = c.benchmark_group("payload");
    g.bench_function("quick-xml serde reserveTicket", |b| {
        b.iter(|| quick_xml::de::from_str::<ReserveTicket>(black_box(RESERVE_PREFIXED)).unwrap())
    });
    g.bench_function("yaserde reserveTicket", |b| {
        b.iter(|| yaserde::de::from_str::<ReserveTicket>(black_box(RESERVE_PREFIXED)).unwrap())
    });
    g.bench_function("quick-xml serde exchangeTicket", |b| {
        b.iter(|| quick_xml::de::from_str::<ExchangeTicket>(black_box(EXCHANGE_PREFIXED)).unwrap())
    });
    g.bench_function("yaserde exchangeTicket", |b| {
        b.iter(|| yaserde::de::from_str::<ExchangeTicket>(black_box(EXCHANGE_PREFIXED)).unwrap())
    });
    g.finish();
}

/// What the gateway's metrics add to one call (issue 14 allows at most 5% of a call's cost):
/// the in-flight gauge, the call counter and duration histogram, the response counter, as the
/// endpoint records them. A whole SOAP call through the cluster costs ~110 µs of CPU.
fn metrics(c: &mut Criterion) {
    use tessera_gateway::metrics::Metrics;
    let Ok(m) = Metrics::new(prometheus::Registry::new()) else {
        panic!("the gateway's metrics register");
    };
    let mut g = c.benchmark_group("metrics");
    g.bench_function("per call", |b| {
        b.iter(|| {
            let in_flight = m.call_in_flight();
            m.call(
                black_box(Some(Operation::ReserveTicket)),
                black_box(Some(tessera_types::Code::Reserved)),
                black_box(0.0031),
            );
            drop(in_flight);
            m.response(black_box(200));
        })
    });
    g.finish();
}

fn config() -> Criterion {
    // Short runs: the machine has two cores and other builds share it.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = calls, payloads, metrics
}
criterion_main!(benches);
