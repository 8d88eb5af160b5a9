//! Issue 15: what a standby sequencer costs. Two fresh clusters side by side, one with a
//! single sequencer node and one with three (a primary replicating every batch to two
//! standbys before announcing it), driven through the front-end core at 64 submitters,
//! measured A B B A (single, three, three, single) so that drifting load on the machine weighs
//! on both alike. Target: with standbys, at most 10% lower throughput.

use super::*;

/// Lowest acceptable throughput with standbys, as a share of without.
pub(crate) const STANDBY_RATIO_MIN: f64 = 0.90;

#[derive(Debug, Serialize)]
pub(crate) struct StandbyCost {
    pub(crate) concurrency: usize,
    /// Requests per second: (single, three) in the first pair, (three, single) in the second.
    pub(crate) pairs: [(f64, f64); 2],
    pub(crate) single_p99_ms: f64,
    pub(crate) standby_p99_ms: f64,
    pub(crate) ratio: f64,
    pub(crate) ratio_min: f64,
    pub(crate) ok: bool,
    /// CPU per answered request by process, in the first window of each cluster.
    pub(crate) single_cpu_us: Vec<(String, f64)>,
    pub(crate) standby_cpu_us: Vec<(String, f64)>,
}

impl StandbyCost {
    pub(crate) fn print(&self) {
        let line = |cpu: &[(String, f64)]| {
            let total: f64 = cpu.iter().map(|(_, us)| us).sum();
            let parts: Vec<String> = cpu
                .iter()
                .filter(|(name, _)| name.starts_with("sequencer"))
                .map(|(name, us)| format!("{name} {us:.1}"))
                .collect();
            format!("{total:.1} µs CPU per request ({})", parts.join(", "))
        };
        println!(
            "\nstandby sequencers at {} submitters: one node {:.0} and {:.0} req/s, three nodes {:.0} and {:.0} req/s (p99 {:.3} against {:.3} ms): ratio {:.3} (≥ {:.2}: {})",
            self.concurrency,
            self.pairs[0].0,
            self.pairs[1].1,
            self.pairs[0].1,
            self.pairs[1].0,
            self.standby_p99_ms,
            self.single_p99_ms,
            self.ratio,
            self.ratio_min,
            if self.ok { "MET" } else { "MISSED" }
        );
        println!("  one node:    {}", line(&self.single_cpu_us));
        println!("  three nodes: {}", line(&self.standby_cpu_us));
    }
}

pub(crate) async fn standby_cost(settings: &Settings, n: usize) -> anyhow::Result<StandbyCost> {
    let single = Cluster::start_with_sequencers(1)?;
    let three = Cluster::start_with_sequencers(3)?;
    let fe_single = FrontEndClient::start(single.cfg())?;
    let fe_three = FrontEndClient::start(three.cfg())?;
    let (a, b) = (
        Target::Replicated(fe_single.clone()),
        Target::Replicated(fe_three.clone()),
    );
    wait_ready(&a, Duration::from_secs(30))
        .await
        .context("the single-sequencer cluster")?;
    wait_ready(&b, Duration::from_secs(30))
        .await
        .context("the three-sequencer cluster")?;
    let (wa, wb) = (Arc::new(Workload::new()?), Arc::new(Workload::new()?));
    setup(&a, &wa).await?;
    setup(&b, &wb).await?;
    catch_up(single.cfg(), CATCH_UP_MAX).await;
    catch_up(three.cfg(), CATCH_UP_MAX).await;

    let a1 = measure(&a, &wa, n, settings, Some(&single)).await;
    catch_up(single.cfg(), CATCH_UP_MAX).await;
    let b1 = measure(&b, &wb, n, settings, Some(&three)).await;
    catch_up(three.cfg(), CATCH_UP_MAX).await;
    let b2 = measure(&b, &wb, n, settings, Some(&three)).await;
    catch_up(three.cfg(), CATCH_UP_MAX).await;
    let a2 = measure(&a, &wa, n, settings, Some(&single)).await;
    let ratio =
        (b1.requests_per_sec + b2.requests_per_sec) / (a1.requests_per_sec + a2.requests_per_sec);
    Ok(StandbyCost {
        concurrency: n,
        pairs: [
            (a1.requests_per_sec, b1.requests_per_sec),
            (b2.requests_per_sec, a2.requests_per_sec),
        ],
        single_p99_ms: a1.p99_ms.max(a2.p99_ms),
        standby_p99_ms: b1.p99_ms.max(b2.p99_ms),
        ratio,
        ratio_min: STANDBY_RATIO_MIN,
        ok: ratio >= STANDBY_RATIO_MIN,
        single_cpu_us: a1.cpu_us_per_request,
        standby_cpu_us: b1.cpu_us_per_request,
    })
}
