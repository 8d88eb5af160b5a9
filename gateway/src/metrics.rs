//! The gateway's Prometheus metrics: what every call, response and connection came to.
//!
//! One [`Metrics`] per gateway, registered in a [`prometheus::Registry`] that the embedding
//! process may add its own collectors to (`tesserad` adds the front end's); `GET /metrics`
//! renders that registry in the text format. Names follow Prometheus conventions: the
//! `tessera_gateway_` prefix, base units, `_total` for counters, `_seconds` for durations.
//!
//! The hot path costs a few atomic increments per call: label values are resolved once per
//! (operation, code) and per status and kept, so no call hashes a label set. Request ids and
//! sequence numbers are never labels (one series per call would be unbounded); they are in the
//! logs (`docs/observability.md`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use tessera_types::Code;

use crate::soap::{AuthFault, Operation};

/// Call duration buckets, in seconds: 100 µs × 1.6ⁿ up to ~5 s, fine enough for the
/// dashboard's p50 and p99 to be read from them (each bucket is 1.6× the one below).
pub fn duration_buckets() -> Vec<f64> {
    let mut b = Vec::with_capacity(24);
    let mut v = 0.0001;
    for _ in 0..24 {
        b.push((v * 1e7_f64).round() / 1e7);
        v *= 1.6;
    }
    b
}

/// Operations as label values: the seven of the WSDL, and `unknown` for a call whose
/// operation could not be read.
const OPERATIONS: usize = Operation::ALL.len() + 1;
/// Result codes as label values: the sixteen of the WSDL, and `fault`.
const CODES: usize = Code::ALL.len() + 1;
/// HTTP statuses kept resolved (100..=599).
const STATUSES: usize = 500;

fn operation_label(op: Option<Operation>) -> (usize, &'static str) {
    match op {
        Some(op) => (op as usize, op.name()),
        None => (Operation::ALL.len(), "unknown"),
    }
}

/// The gateway's metrics. Cheap to share (`Arc`); every method is `&self`.
pub struct Metrics {
    registry: Registry,
    calls: IntCounterVec,
    call_counters: Box<[[OnceLock<IntCounter>; CODES]; OPERATIONS]>,
    durations: HistogramVec,
    duration_histograms: [OnceLock<Histogram>; OPERATIONS],
    faults: IntCounterVec,
    responses: IntCounterVec,
    response_counters: Box<[OnceLock<IntCounter>]>,
    auth_failures: IntCounterVec,
    in_flight: IntGauge,
    connections_open: IntGauge,
    connections: IntCounter,
    connections_refused: IntCounter,
    /// An unavailable backend was already logged as a warning in this summary period.
    unavailable_warned: AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Registering into a fresh registry fails only on a duplicate name, which would be a bug in
/// this module; tests register every metric once.
#[derive(Debug, thiserror::Error)]
#[error("registering gateway metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    /// The gateway's metrics, registered in `registry`.
    pub fn new(registry: Registry) -> Result<Self, MetricsError> {
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let calls = counter_vec(
            "tessera_gateway_calls_total",
            "SOAP calls by operation (unknown when it could not be read) and outcome: the \
             result code of an answered call, or fault",
            &["operation", "code"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "tessera_gateway_call_duration_seconds",
                "Time from receiving a SOAP call's header to having its answer or fault, by \
                 operation",
            )
            .buckets(duration_buckets()),
            &["operation"],
        )?;
        let faults = counter_vec(
            "tessera_gateway_soap_faults_total",
            "SOAP faults sent, by kind (the SOAP 1.2 subcode, or the fault class when there is \
             none)",
            &["kind"],
        )?;
        let responses = counter_vec(
            "tessera_gateway_http_responses_total",
            "HTTP responses on every route, by status code",
            &["status"],
        )?;
        let auth_failures = counter_vec(
            "tessera_gateway_auth_failures_total",
            "Requests refused by authentication, by reason (missing, wrong_credentials, stale, \
             replayed, password_digest, throttled, unusable) or authorization (forbidden)",
            &["reason"],
        )?;
        let in_flight = IntGauge::new(
            "tessera_gateway_calls_in_flight",
            "SOAP calls holding one of the gateway's in-flight slots",
        )?;
        let connections_open = IntGauge::new(
            "tessera_gateway_connections_open",
            "Client connections open now",
        )?;
        let connections = IntCounter::new(
            "tessera_gateway_connections_total",
            "Client connections accepted",
        )?;
        let connections_refused = IntCounter::new(
            "tessera_gateway_connections_refused_total",
            "Client connections closed at once because their address already had the most \
             connections allowed",
        )?;
        let collectors: [Box<dyn Collector>; 9] = [
            Box::new(calls.clone()),
            Box::new(durations.clone()),
            Box::new(faults.clone()),
            Box::new(responses.clone()),
            Box::new(auth_failures.clone()),
            Box::new(in_flight.clone()),
            Box::new(connections_open.clone()),
            Box::new(connections.clone()),
            Box::new(connections_refused.clone()),
        ];
        for c in collectors {
            registry.register(c)?;
        }
        Ok(Metrics {
            registry,
            calls,
            call_counters: Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| OnceLock::new())
            })),
            durations,
            duration_histograms: std::array::from_fn(|_| OnceLock::new()),
            faults,
            responses,
            response_counters: (0..STATUSES).map(|_| OnceLock::new()).collect(),
            auth_failures,
            in_flight,
            connections_open,
            connections,
            connections_refused,
            unavailable_warned: AtomicBool::new(false),
        })
    }

    /// True for the first unavailable backend of a summary period (it is logged as a warning;
    /// the rest are counted in the summary).
    pub fn first_unavailable_of_period(&self) -> bool {
        !self.unavailable_warned.swap(true, Ordering::Relaxed)
    }

    /// A new summary period begins.
    pub fn new_period(&self) {
        self.unavailable_warned.store(false, Ordering::Relaxed);
    }

    /// Faults sent so far, by kind.
    pub fn fault_totals(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for family in self.faults.collect() {
            for metric in family.get_metric() {
                let kind = metric
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "kind")
                    .map(|l| l.value().to_owned())
                    .unwrap_or_default();
                out.push((kind, metric.get_counter().get_value() as u64));
            }
        }
        out.sort();
        out
    }

    /// The registry everything is rendered from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// One SOAP call finished: answered with `code`, or faulted (`None`), after `seconds`.
    pub fn call(&self, op: Option<Operation>, code: Option<Code>, seconds: f64) {
        let (o, op_name) = operation_label(op);
        let (c, code_name) = match code {
            Some(code) => (code as usize, code.as_str()),
            None => (Code::ALL.len(), "fault"),
        };
        if let Some(counter) = self.call_counters.get(o).and_then(|row| row.get(c)) {
            counter
                .get_or_init(|| self.calls.with_label_values(&[op_name, code_name]))
                .inc();
        }
        if let Some(h) = self.duration_histograms.get(o) {
            h.get_or_init(|| self.durations.with_label_values(&[op_name]))
                .observe(seconds);
        }
    }

    /// A SOAP fault of this kind was sent.
    pub fn fault(&self, kind: &str) {
        self.faults.with_label_values(&[kind]).inc();
    }

    /// An HTTP response with this status went out.
    pub fn response(&self, status: u16) {
        let slot = usize::from(status).checked_sub(100);
        match slot.and_then(|i| self.response_counters.get(i)) {
            Some(counter) => counter
                .get_or_init(|| self.responses.with_label_values(&[&status.to_string()]))
                .inc(),
            None => self.responses.with_label_values(&["other"]).inc(),
        }
    }

    /// A request refused by authentication.
    pub fn auth_failure(&self, fault: AuthFault) {
        let reason = match fault {
            AuthFault::Missing => "missing",
            AuthFault::WrongCredentials => "wrong_credentials",
            AuthFault::Stale => "stale",
            AuthFault::Replayed => "replayed",
            AuthFault::PasswordDigest => "password_digest",
            AuthFault::Throttled => "throttled",
            AuthFault::Unusable(_) => "unusable",
        };
        self.auth_failures.with_label_values(&[reason]).inc();
    }

    /// An authenticated caller acting as an ID (or reading an operator route) it may not.
    pub fn forbidden(&self) {
        self.auth_failures.with_label_values(&["forbidden"]).inc();
    }

    /// A call took an in-flight slot; it holds it until the guard is dropped.
    pub fn call_in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// A connection was accepted; it counts as open until the guard is dropped.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections.inc();
        self.connections_open.inc();
        OpenConnection(self.connections_open.clone())
    }

    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// Calls answered or faulted so far, all operations, and their durations as cumulative
    /// bucket counts over [`duration_buckets`] (the dashboard's chart samples these).
    pub fn call_totals(&self) -> CallTotals {
        let mut totals = CallTotals {
            calls: 0,
            cumulative: vec![0; duration_buckets().len()],
        };
        for family in self.durations.collect() {
            for metric in family.get_metric() {
                let h = metric.get_histogram();
                totals.calls += h.get_sample_count();
                for (sum, b) in totals.cumulative.iter_mut().zip(h.get_bucket()) {
                    *sum += b.cumulative_count();
                }
            }
        }
        totals
    }

    /// Everything in the registry, in the Prometheus text format.
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut out = String::new();
        prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

/// [`Metrics::call_totals`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTotals {
    pub calls: u64,
    /// Calls that took at most each of [`duration_buckets`], cumulative.
    pub cumulative: Vec<u64>,
}

/// A call in flight, for the in-flight gauge.
#[derive(Debug)]
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// An open connection, for the open-connections gauge.
#[derive(Debug)]
pub struct OpenConnection(IntGauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The media type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn calls_are_counted_by_operation_and_code_and_timed() {
        let m = Metrics::new(Registry::new()).unwrap();
        m.call(Some(Operation::ReserveTicket), Some(Code::Reserved), 0.002);
        m.call(Some(Operation::ReserveTicket), Some(Code::Reserved), 0.004);
        m.call(None, None, 0.0001);
        m.fault("MalformedRequest");
        m.response(200);
        m.response(200);
        m.response(500);
        let text = m.render().unwrap();
        assert!(text.contains(
            "tessera_gateway_calls_total{code=\"RESERVED\",operation=\"reserveTicket\"} 2"
        ));
        assert!(
            text.contains("tessera_gateway_calls_total{code=\"fault\",operation=\"unknown\"} 1")
        );
        assert!(text.contains("tessera_gateway_http_responses_total{status=\"200\"} 2"));
        assert!(text.contains("tessera_gateway_soap_faults_total{kind=\"MalformedRequest\"} 1"));
        assert!(text.contains("# HELP tessera_gateway_call_duration_seconds "));
        assert!(text.contains("# TYPE tessera_gateway_call_duration_seconds histogram"));
        let totals = m.call_totals();
        assert_eq!(totals.calls, 3);
        // 0.1 ms is in the first bucket; 2 and 4 ms further up; all three by the last.
        assert_eq!(totals.cumulative.first(), Some(&1));
        assert_eq!(totals.cumulative.last(), Some(&3));
        let _open = m.connection_opened();
        assert!(m
            .render()
            .unwrap()
            .contains("tessera_gateway_connections_open 1"));
        drop(_open);
        assert!(m
            .render()
            .unwrap()
            .contains("tessera_gateway_connections_open 0"));
    }

    #[test]
    fn buckets_grow_by_1_6_from_100_microseconds() {
        let b = duration_buckets();
        assert_eq!(b.first(), Some(&0.0001));
        assert!(b.windows(2).all(|w| (w[1] / w[0] - 1.6).abs() < 0.01));
        assert!(b.last().is_some_and(|l| *l > 4.0 && *l < 6.0));
    }
}
