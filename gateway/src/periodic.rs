//! What the gateway does every second from its metrics: a point of the dashboard's chart
//! (calls per second, p50 and p99 latency), and every `summary_every` a log line with the
//! period's calls, faults and latency. The per-call lines are at `debug` (or in the access
//! log), so at the default level a busy gateway logs these summaries and what an operator must
//! act on, nothing per call.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::metrics::{duration_buckets, CallTotals, Metrics};

/// Points kept: five minutes at one a second.
pub const POINTS: usize = 300;

/// One second of calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// End of the second, Unix ms.
    pub at_ms: u64,
    pub calls: u64,
    /// Latency quantiles of the calls of that second, in milliseconds (none without calls).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The chart's recent points.
#[derive(Debug, Default)]
pub struct History {
    points: Mutex<VecDeque<Point>>,
}

impl History {
    pub fn points(&self) -> Vec<Point> {
        self.lock().iter().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Point>> {
        self.points.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, p: Point) {
        let mut points = self.lock();
        points.push_back(p);
        while points.len() > POINTS {
            points.pop_front();
        }
    }
}

/// The `q` quantile (0..1) of the calls between two snapshots, in seconds, interpolated
/// linearly inside its bucket as Prometheus' `histogram_quantile` does. Calls beyond the last
/// bucket count as the last bucket's bound.
pub fn quantile(q: f64, bounds: &[f64], before: &CallTotals, after: &CallTotals) -> Option<f64> {
    let counts: Vec<u64> = after
        .cumulative
        .iter()
        .zip(&before.cumulative)
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let total = after.calls.saturating_sub(before.calls);
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    let mut lower = 0.0;
    for (count, bound) in counts.iter().zip(bounds) {
        if *count as f64 >= rank {
            let inside = count - below;
            let fraction = if inside == 0 {
                1.0
            } else {
                (rank - below as f64) / inside as f64
            };
            return Some(lower + (bound - lower) * fraction.clamp(0.0, 1.0));
        }
        below = *count;
        lower = *bound;
    }
    bounds.last().copied()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Totals at the start of a period, to compare the end with.
struct Mark {
    calls: CallTotals,
    faults: Vec<(String, u64)>,
}

/// Samples `metrics` every second into `history` and logs a summary every `summary_every`
/// (never when zero), for as long as the gateway runs.
pub async fn run(metrics: Arc<Metrics>, history: Arc<History>, summary_every: Duration) {
    let bounds = duration_buckets();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last = metrics.call_totals();
    let mut period = Mark {
        calls: last.clone(),
        faults: metrics.fault_totals(),
    };
    let mut period_start = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let now = metrics.call_totals();
        history.push(Point {
            at_ms: unix_ms(),
            calls: now.calls.saturating_sub(last.calls),
            p50_ms: quantile(0.5, &bounds, &last, &now).map(|s| s * 1e3),
            p99_ms: quantile(0.99, &bounds, &last, &now).map(|s| s * 1e3),
        });
        last = now;
        if !summary_every.is_zero() && period_start.elapsed() >= summary_every {
            let faults = metrics.fault_totals();
            summarize(&bounds, &period, &last, &faults, period_start.elapsed());
            period = Mark {
                calls: last.clone(),
                faults,
            };
            period_start = tokio::time::Instant::now();
            metrics.new_period();
        }
    }
}

/// One summary line: `info`, or `warn` when calls failed for the cluster's sake (unavailable,
/// timed out, shed).
fn summarize(
    bounds: &[f64],
    from: &Mark,
    to: &CallTotals,
    faults: &[(String, u64)],
    took: Duration,
) {
    let calls = to.calls.saturating_sub(from.calls.calls);
    if calls == 0 {
        return;
    }
    let before = |kind: &str| {
        from.faults
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, n)| *n)
    };
    let mut faulted = 0;
    let mut by_kind = String::new();
    let mut receiver = 0;
    for (kind, n) in faults {
        let d = n.saturating_sub(before(kind));
        if d == 0 {
            continue;
        }
        faulted += d;
        if matches!(kind.as_str(), "Unavailable" | "Timeout" | "Overloaded") {
            receiver += d;
        }
        if !by_kind.is_empty() {
            by_kind.push_str(", ");
        }
        by_kind.push_str(&format!("{kind} {d}"));
    }
    let ms = |q| quantile(q, bounds, &from.calls, to).map(|s| s * 1e3);
    let per_second = calls as f64 / took.as_secs_f64().max(1e-3);
    let (p50, p99) = (ms(0.5).unwrap_or(0.0), ms(0.99).unwrap_or(0.0));
    if receiver > 0 {
        tracing::warn!(
            calls,
            per_second = format!("{per_second:.1}"),
            faulted,
            faults = by_kind,
            p50_ms = format!("{p50:.2}"),
            p99_ms = format!("{p99:.2}"),
            "calls in the last {}s: {receiver} not served by the cluster (unavailable, timed out or shed)",
            took.as_secs()
        );
    } else {
        tracing::info!(
            calls,
            per_second = format!("{per_second:.1}"),
            faulted,
            faults = by_kind,
            p50_ms = format!("{p50:.2}"),
            p99_ms = format!("{p99:.2}"),
            "calls in the last {}s",
            took.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_the_bucket_like_prometheus() {
        let totals = |calls, cumulative: [u64; 3]| CallTotals {
            calls,
            cumulative: cumulative.to_vec(),
        };
        let bounds = [1.0, 2.0, 4.0];
        // 10 calls in (0, 1], 10 in (1, 2], none above.
        let before = totals(5, [5, 5, 5]);
        let after = totals(25, [15, 25, 25]);
        assert_eq!(quantile(0.5, &bounds, &before, &after), Some(1.0));
        assert_eq!(quantile(0.75, &bounds, &before, &after), Some(1.5));
        assert_eq!(quantile(0.25, &bounds, &before, &after), Some(0.5));
        assert_eq!(quantile(0.5, &bounds, &after, &after), None, "no calls");
        // Calls beyond the last bound: the last bound.
        let none = totals(0, [0, 0, 0]);
        assert_eq!(
            quantile(0.99, &bounds, &none, &totals(5, [0, 0, 3])),
            Some(4.0)
        );
    }

    #[test]
    fn history_keeps_five_minutes() {
        let h = History::default();
        for i in 0..(POINTS as u64 + 10) {
            h.push(Point {
                at_ms: i,
                calls: i,
                p50_ms: None,
                p99_ms: None,
            });
        }
        let points = h.points();
        assert_eq!(points.len(), POINTS);
        assert_eq!(points.first().map(|p| p.at_ms), Some(10));
    }
}
