//! The results: the table printed at the end and `target/bench-front-end.json`.

use super::*;

#[derive(Serialize)]
pub(crate) struct Row {
    pub(crate) concurrency: usize,
    pub(crate) replicated: Measured,
    pub(crate) unreplicated: Measured,
    /// replicated / unreplicated requests per second.
    pub(crate) throughput_ratio: f64,
    /// replicated / unreplicated p99 latency.
    pub(crate) p99_ratio: f64,
}

#[derive(Serialize)]
pub(crate) struct Targets {
    pub(crate) concurrency: usize,
    pub(crate) throughput_ratio: f64,
    pub(crate) throughput_ratio_min: f64,
    pub(crate) throughput_ok: bool,
    pub(crate) replicated_p99_ms: f64,
    pub(crate) p99_max_ms: f64,
    pub(crate) p99_ok: bool,
    /// What the whole replicated path may cost per request, in CPU µs, for
    /// `throughput_ratio ≥ throughput_ratio_min` on CPU-bound cores: the unreplicated CPU per
    /// request ÷ `throughput_ratio_min`.
    pub(crate) replicated_budget_us_per_request: f64,
    /// Of the replicated CPU per request: the four replica processes alone (executing the
    /// requests and committing them), in µs.
    pub(crate) replicas_us_per_request: f64,
}

/// The SOAP phase at 64 clients, next to the front-end-core phase at 64 of the same run.
#[derive(Serialize)]
pub(crate) struct SoapPhase {
    pub(crate) concurrency: usize,
    pub(crate) gateway: &'static str,
    pub(crate) soap: Measured,
    /// Of `soap.errors`: answers that were SOAP faults (the rest: transport errors, timeouts,
    /// non-200 without a fault, 200 without a result).
    pub(crate) faults: u64,
    pub(crate) connections_opened: u64,
    pub(crate) front_end_core_requests_per_sec: f64,
    pub(crate) front_end_core_p50_ms: f64,
    pub(crate) front_end_core_p99_ms: f64,
    pub(crate) front_end_core_errors: u64,
    pub(crate) front_end_core_backlog_at_end: Option<u64>,
    pub(crate) front_end_core_slowest_per_sec: Option<f64>,
    /// CPU of every process per front-end-core request, in µs.
    pub(crate) front_end_core_cpu_us_per_request: f64,
    /// SOAP calls/s ÷ front-end-core calls/s at 64 (the target's figure).
    pub(crate) ratio: f64,
    /// Informational: the same ratio of the rates the slowest replica executed at (what each
    /// phase sustains with all four replicas keeping up; answered rates can exceed it while a
    /// slow replica builds a backlog).
    pub(crate) sustained_ratio: Option<f64>,
    pub(crate) ratio_min: f64,
    pub(crate) ok: bool,
    /// `GET /health` by the same clients on the same gateway: HTTP alone, no XML, no cluster.
    pub(crate) http_floor: Measured,
    /// CPU per call of `http_floor`, all processes, in µs.
    pub(crate) http_floor_us_per_call: f64,
    /// The same load through a gateway with TLS and authentication (HTTP Basic, a service
    /// account), same clients over TLS.
    pub(crate) tls_auth: Measured,
    pub(crate) tls_auth_faults: u64,
    /// CPU per call of `tls_auth`, all processes, in µs.
    pub(crate) tls_auth_us_per_call: f64,
    /// (plain, TLS+auth) calls/s of the two rounds, measured plain, secure, secure, plain.
    pub(crate) tls_auth_pairs: [(f64, f64); 2],
    /// TLS+auth calls/s ÷ plain SOAP calls/s over both rounds (issue 11's figure).
    pub(crate) tls_auth_ratio: f64,
    pub(crate) tls_auth_ratio_min: f64,
    pub(crate) tls_auth_ok: bool,
    /// What the whole SOAP layer may cost per call, in CPU µs, for `ratio ≥ ratio_min` on
    /// CPU-bound cores: the front-end core's CPU per request × (1 / ratio_min − 1).
    pub(crate) soap_layer_budget_us_per_call: f64,
    /// The same load through a gateway with `[gateway] metrics = false`.
    pub(crate) metrics_off: Measured,
    /// Calls/s through the gateway with metrics just before and just after `metrics_off`.
    pub(crate) metrics_on_pair: (f64, f64),
    /// Mean of `metrics_on_pair` ÷ `metrics_off` calls/s (issue 14's figure).
    pub(crate) metrics_ratio: f64,
    pub(crate) metrics_ratio_min: f64,
    pub(crate) metrics_ok: bool,
}

#[derive(Serialize)]
pub(crate) struct Report {
    pub(crate) benchmark: &'static str,
    pub(crate) window_secs: f64,
    pub(crate) warmup_secs: f64,
    pub(crate) max_datagram_bytes: usize,
    pub(crate) cores: usize,
    pub(crate) slots: usize,
    pub(crate) participants: usize,
    pub(crate) mix: &'static str,
    pub(crate) rows: Vec<Row>,
    pub(crate) targets: Option<Targets>,
    pub(crate) soap: Option<SoapPhase>,
    pub(crate) standby: Option<StandbyCost>,
    pub(crate) replicated_front_end_stats: serde_json::Value,
}

pub(crate) fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>4}  {:<13} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8} {:>10}",
        "N",
        "system",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "success",
        "behind",
        "slowest/s"
    );
    for r in rows {
        for (name, m) in [
            ("replicated", &r.replicated),
            ("unreplicated", &r.unreplicated),
        ] {
            let _ = writeln!(
                s,
                "{:>4}  {:<13} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7} {:>7.0}% {:>8} {:>10}",
                r.concurrency,
                name,
                m.requests_per_sec,
                m.p50_ms,
                m.p90_ms,
                m.p99_ms,
                m.max_ms,
                m.errors,
                m.success_share * 100.0,
                m.backlog_at_end.map_or("-".into(), |b| b.to_string()),
                m.slowest_replica_per_sec
                    .map_or("-".into(), |x| format!("{x:.0}"))
            );
        }
        let _ = writeln!(
            s,
            "{:>4}  {:<13} {:>9.2}x {:>9} {:>9} {:>8.2}x",
            r.concurrency, "ratio r/u", r.throughput_ratio, "", "", r.p99_ratio
        );
    }
    let _ = writeln!(
        s,
        "(behind: seqs the slowest replica had yet to execute when the window closed; slowest/s: \
         the rate it executed at, i.e. what the cluster sustains with all four replicas keeping up)"
    );
    s
}

/// CPU of every measured process per answered request, in µs.
pub(crate) fn total_cpu_us(m: &Measured) -> f64 {
    m.cpu_us_per_request.iter().map(|(_, us)| us).sum()
}

pub(crate) fn cpu_lines(rows: &[Row], soap: Option<&SoapPhase>) -> String {
    let mut s = String::new();
    let mut phases: Vec<(&str, &Measured)> = Vec::new();
    for r in rows {
        phases.push(("replicated", &r.replicated));
        phases.push(("unreplicated", &r.unreplicated));
    }
    if let Some(p) = soap {
        phases.push(("SOAP", &p.soap));
        phases.push(("SOAP TLS+auth", &p.tls_auth));
        phases.push(("HTTP floor", &p.http_floor));
    }
    for (name, m) in phases {
        let parts: Vec<String> = m
            .cpu_us_per_request
            .iter()
            .map(|(p, us)| format!("{p} {us:.1}"))
            .collect();
        let total = total_cpu_us(m);
        let _ = writeln!(
            s,
            "  N={:<3} {:<13} total {:>6.1} µs/req: {} (other load on the machine: {} cores)",
            m.concurrency,
            name,
            total,
            parts.join(", "),
            m.other_load_cores.map_or("?".into(), |c| format!("{c:.2}"))
        );
    }
    s
}

pub(crate) fn soap_table(p: &SoapPhase) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nSOAP vs front-end core at {} concurrent clients (same run, same cluster):",
        p.concurrency
    );
    let _ = writeln!(
        s,
        "  {:<34} {:>10} {:>9} {:>9} {:>7} {:>7} {:>8} {:>10}",
        "path", "calls/s", "p50 ms", "p99 ms", "errors", "faults", "behind", "slowest/s"
    );
    let opt = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.0}"));
    let _ = writeln!(
        s,
        "  {:<34} {:>10.0} {:>9.3} {:>9.3} {:>7} {:>7} {:>8} {:>10}",
        "front-end core (FrontEndClient)",
        p.front_end_core_requests_per_sec,
        p.front_end_core_p50_ms,
        p.front_end_core_p99_ms,
        p.front_end_core_errors,
        "-",
        opt(p.front_end_core_backlog_at_end.map(|b| b as f64)),
        opt(p.front_end_core_slowest_per_sec)
    );
    let _ = writeln!(
        s,
        "  {:<34} {:>10.0} {:>9.3} {:>9.3} {:>7} {:>7} {:>8} {:>10}",
        "SOAP 1.1 keep-alive via gateway",
        p.soap.requests_per_sec,
        p.soap.p50_ms,
        p.soap.p99_ms,
        p.soap.errors,
        p.faults,
        opt(p.soap.backlog_at_end.map(|b| b as f64)),
        opt(p.soap.slowest_replica_per_sec)
    );
    let _ = writeln!(
        s,
        "  {:<34} {:>10.0} {:>9.3} {:>9.3} {:>7} {:>7} {:>8} {:>10}",
        "SOAP 1.1 TLS + Basic auth via gateway",
        p.tls_auth.requests_per_sec,
        p.tls_auth.p50_ms,
        p.tls_auth.p99_ms,
        p.tls_auth.errors,
        p.tls_auth_faults,
        opt(p.tls_auth.backlog_at_end.map(|b| b as f64)),
        opt(p.tls_auth.slowest_replica_per_sec)
    );
    let _ = writeln!(
        s,
        "  ratio SOAP TLS+auth / SOAP plain: {:.2} (≥ {:.2}: {}; rounds plain → TLS+auth: {:.0} → {:.0}, \
         then {:.0} → {:.0} calls/s); CPU per call {:.1} against {:.1} µs",
        p.tls_auth_ratio,
        p.tls_auth_ratio_min,
        if p.tls_auth_ok { "PASS" } else { "FAIL" },
        p.tls_auth_pairs[0].0,
        p.tls_auth_pairs[0].1,
        p.tls_auth_pairs[1].0,
        p.tls_auth_pairs[1].1,
        p.tls_auth_us_per_call,
        total_cpu_us(&p.soap)
    );
    let _ = writeln!(
        s,
        "  ratio SOAP metrics on / off: {:.3} (≥ {:.2}: {}; on {:.0} → off {:.0} → on {:.0} calls/s)",
        p.metrics_ratio,
        p.metrics_ratio_min,
        if p.metrics_ok { "PASS" } else { "FAIL" },
        p.metrics_on_pair.0,
        p.metrics_off.requests_per_sec,
        p.metrics_on_pair.1
    );
    let _ = writeln!(
        s,
        "  ratio SOAP / front-end core: {:.2} (≥ {:.2}: {}); sustained (slowest/s) ratio: {}",
        p.ratio,
        p.ratio_min,
        if p.ok { "PASS" } else { "FAIL" },
        p.sustained_ratio.map_or("-".into(), |r| format!("{r:.2}"))
    );
    let _ = writeln!(
        s,
        "  SOAP-layer budget at {:.2}: {:.1} µs CPU per call (the core's {:.1} µs/req × {:.2}); \
         HTTP alone (GET /health, same clients and gateway) used {:.1}: {}",
        p.ratio_min,
        p.soap_layer_budget_us_per_call,
        p.front_end_core_cpu_us_per_request,
        1.0 / p.ratio_min - 1.0,
        p.http_floor_us_per_call,
        if p.http_floor_us_per_call > p.soap_layer_budget_us_per_call {
            "over budget before any XML or cluster work"
        } else {
            "within budget"
        }
    );
    s
}

pub(crate) fn target_dir() -> PathBuf {
    // target/<profile>/deps/front_end-<hash> → target
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| Path::new("target").to_path_buf())
}
