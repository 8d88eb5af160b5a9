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
    })
}
