//! Measuring one phase: closed-loop submitters, latency percentiles, CPU per request by
//! process, the replicas' backlog.

use super::*;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Measured {
    pub(crate) concurrency: usize,
    pub(crate) seconds: f64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) requests_per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) mean_ms: f64,
    /// Share of answered requests that succeeded (`RESERVED`, `CANCELLED`, ...): how much of
    /// the load really changed state or returned data.
    pub(crate) success_share: f64,
    /// Replicated only: sequence numbers assigned but not yet executed by the slowest replica
    /// when the window ended (work the answers did not wait for), and how long the cluster
    /// then took to catch up before the next phase (`None`: not measured / did not).
    pub(crate) backlog_at_end: Option<u64>,
    pub(crate) catch_up_secs: Option<f64>,
    /// Replicated only: the rate at which the slowest replica executed requests during the
    /// window (answered rate minus the growth of its backlog): what the cluster sustains
    /// with all four replicas keeping up. Below `requests_per_sec` means the answers were
    /// given by the faster replicas while a slower one fell behind.
    pub(crate) slowest_replica_per_sec: Option<f64>,
    /// CPU (in cores) that processes other than this benchmark's used during the window:
    /// other work on the machine (builds, tests) competing for the same two cores.
    pub(crate) other_load_cores: Option<f64>,
    /// CPU time per answered request by process (cluster roles; `bench` is this process:
    /// submitters and front end, or submitters, client and baseline server), in µs.
    pub(crate) cpu_us_per_request: Vec<(String, f64)>,
}

pub(crate) fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

/// Runs `n` submitters against `target` for warm-up + window; measures the window.
pub(crate) async fn measure(
    target: &Target,
    workload: &Arc<Workload>,
    n: usize,
    settings: &Settings,
    cluster: Option<&Cluster>,
) -> Measured {
    let pids = cluster.map(Cluster::pids).unwrap_or_default();
    let start = Instant::now();
    let window_start = start + Duration::from_secs_f64(settings.warmup);
    let end = window_start + Duration::from_secs_f64(settings.secs);
    let mut cpu_before = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let target = target.clone();
        let workload = Arc::clone(workload);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x5eed_0000 ^ ((n as u64) << 20) ^ i as u64);
            let mut latencies_us: Vec<u64> = Vec::new();
            let (mut errors, mut successes) = (0u64, 0u64);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let (request, effect) = workload.next(&mut rng);
                let result = target.submit(&request).await;
                let t1 = Instant::now();
                let in_window = t1 >= window_start && t1 <= end;
                match result {
                    Ok(reply) => {
                        if in_window {
                            latencies_us.push(t1.duration_since(t0).as_micros() as u64);
                            successes += u64::from(reply.success());
                        }
                        workload.apply(effect, &reply);
                    }
                    Err(e) => {
                        if in_window {
                            errors += 1;
                        }
                        if errors <= 3 {
                            eprintln!("  submit failed: {e}");
                        }
                    }
                }
            }
            (latencies_us, errors, successes)
        }));
    }
    // CPU accounting over the window only.
    tokio::time::sleep_until(window_start.into()).await;
    for (name, pid) in &pids {
        cpu_before.push((name.clone(), pid.to_string(), cpu_time(&pid.to_string())));
    }
    cpu_before.push(("bench".into(), "self".into(), cpu_time("self")));
    let busy_before = machine_busy();
    let backlog_at_start = match cluster {
        Some(c) => backlog(c.cfg()).await,
        None => None,
    };
    tokio::time::sleep_until(end.into()).await;
    let cpu_after: Vec<Option<Duration>> = cpu_before.iter().map(|(_, p, _)| cpu_time(p)).collect();
    let busy_after = machine_busy();
    let backlog_at_end = match cluster {
        Some(c) => backlog(c.cfg()).await,
        None => None,
    };

    let mut all = Vec::new();
    let (mut errors, mut successes) = (0, 0);
    for t in tasks {
        if let Ok((l, e, s)) = t.await {
            all.extend(l);
            errors += e;
            successes += s;
        }
    }
    all.sort_unstable();
    let requests = all.len() as u64;
    let ours: Duration = cpu_before
        .iter()
        .zip(&cpu_after)
        .filter_map(|((_, _, b), a)| Some(a.as_ref()?.saturating_sub((*b)?)))
        .sum();
    let other_load_cores = busy_before
        .zip(busy_after)
        .map(|(b, a)| a.saturating_sub(b).saturating_sub(ours).as_secs_f64() / settings.secs);
    let mut cpu: Vec<(String, f64)> = Vec::new();
    for ((name, _, before), after) in cpu_before.into_iter().zip(cpu_after) {
        if let (Some(b), Some(a)) = (before, after) {
            let us = a.saturating_sub(b).as_secs_f64() * 1e6 / requests.max(1) as f64;
            match cpu.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => *v += us,
                None => cpu.push((name, us)),
            }
        }
    }
    Measured {
        concurrency: n,
        seconds: settings.secs,
        requests,
        errors,
        requests_per_sec: requests as f64 / settings.secs,
        p50_ms: percentile(&all, 0.50),
        p90_ms: percentile(&all, 0.90),
        p99_ms: percentile(&all, 0.99),
        p999_ms: percentile(&all, 0.999),
        max_ms: all.last().map_or(f64::NAN, |&m| m as f64 / 1000.0),
        mean_ms: if all.is_empty() {
            f64::NAN
        } else {
            all.iter().sum::<u64>() as f64 / all.len() as f64 / 1000.0
        },
        success_share: successes as f64 / requests.max(1) as f64,
        backlog_at_end,
        catch_up_secs: None,
        slowest_replica_per_sec: backlog_at_start
            .zip(backlog_at_end)
            .map(|(b0, b1)| (requests as f64 - (b1 as f64 - b0 as f64)) / settings.secs),
        other_load_cores,
        cpu_us_per_request: cpu,
    }
}

/// Creates every slot through `target`, 16 at a time.
pub(crate) async fn setup(target: &Target, workload: &Workload) -> anyhow::Result<()> {
    let requests = workload.setup_requests()?;
    for chunk in requests.chunks(16) {
        let mut tasks = Vec::new();
        for r in chunk {
            let target = target.clone();
            let r = r.clone();
            tasks.push(tokio::spawn(async move { target.submit(&r).await }));
        }
        for t in tasks {
            let reply = t.await?.map_err(|e| anyhow!("setup request failed: {e}"))?;
            if !matches!(reply.code, Code::Created | Code::Updated) {
                bail!("setup: addReservationSlot answered {:?}", reply.code);
            }
        }
    }
    Ok(())
}

/// Assigned seqs not yet executed by the slowest replica manager's replica (`None` when the
/// sequencer or a replica manager did not answer the status query).
pub(crate) async fn backlog(cfg: &Config) -> Option<u64> {
    let s = tessera_node::status::query(cfg, Duration::from_millis(1500))
        .await
        .ok()?;
    let high = s.next_seq?.saturating_sub(1);
    let slowest = s
        .replicas
        .iter()
        .map(|r| r.last_seq)
        .collect::<Option<Vec<u64>>>()?
        .into_iter()
        .min()?;
    Some(high.saturating_sub(slowest))
}

/// Waits (at most `within`) until every replica has executed every assigned seq, so that
/// one phase's leftover work does not slow the next. Returns how long that took.
pub(crate) async fn catch_up(cfg: &Config, within: Duration) -> Option<f64> {
    let start = Instant::now();
    while start.elapsed() < within {
        if backlog(cfg).await == Some(0) {
            return Some(start.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Waits until `target` answers a request, for at most `within`.
pub(crate) async fn wait_ready(target: &Target, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let probe = Request::GetEventSchedule {
        participant_id: UserId::parse("MTLP0001")?,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no answer within {within:?}");
        }
        match tokio::time::timeout(left.min(Duration::from_secs(3)), target.submit(&probe)).await {
            Ok(Ok(_)) => return Ok(()),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
