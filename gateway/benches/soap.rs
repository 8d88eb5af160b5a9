//! Cost of the SOAP layer per call: envelope parse (the one checking pass, which also collects
//! the arguments' text, and argument validation) plus response write, without HTTP or a
//! backend. Figures are recorded in `docs/gateway.md`.
//!
//! `cargo bench -p tessera-gateway --bench soap`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tessera_gateway::soap::{parse_call, write_fault, write_response, Operation};
use tessera_gateway::{Limits, SoapVersion};
use tessera_types::{EventId, EventType, Reply, SlotAvailability};

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
    targets = calls, metrics
}
criterion_main!(benches);
