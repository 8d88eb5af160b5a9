//! The slowest reply latency over the last `capacity` replies, in O(1) amortized per sample.

use std::collections::VecDeque;
use std::time::Duration;

/// Sliding-window maximum: a deque of (sample index, latency) with strictly decreasing
/// latencies, so the front is always the maximum of the samples still in the window.
#[derive(Debug)]
pub(super) struct SlidingMax {
    capacity: u64,
    /// Samples pushed so far; the next sample's index.
    count: u64,
    deque: VecDeque<(u64, Duration)>,
}

impl SlidingMax {
    pub(super) fn new(capacity: usize) -> Self {
        SlidingMax {
            capacity: (capacity as u64).max(1),
            count: 0,
            deque: VecDeque::new(),
        }
    }

    pub(super) fn push(&mut self, sample: Duration) {
        while self.deque.back().is_some_and(|&(_, d)| d <= sample) {
            self.deque.pop_back();
        }
        self.deque.push_back((self.count, sample));
        self.count += 1;
        // Valid indices are [count - capacity, count - 1].
        while self
            .deque
            .front()
            .is_some_and(|&(i, _)| i.saturating_add(self.capacity) < self.count)
        {
            self.deque.pop_front();
        }
    }

    pub(super) fn max(&self) -> Option<Duration> {
        self.deque.front().map(|&(_, d)| d)
    }

    #[cfg(test)]
    pub(super) fn retained(&self) -> usize {
        self.deque.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_naive_window() {
        let ms = Duration::from_millis;
        let mut m = SlidingMax::new(5);
        assert_eq!(m.max(), None);
        let samples = [
            3u64, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3,
            2, 7,
        ];
        for (i, &s) in samples.iter().enumerate() {
            m.push(ms(s));
            let lo = i.saturating_sub(4);
            let naive = samples[lo..=i].iter().copied().max().map(ms);
            assert_eq!(m.max(), naive, "after sample {i}");
            assert!(m.retained() <= 5);
        }
    }

    #[test]
    fn decreasing_input_stays_bounded() {
        let mut m = SlidingMax::new(100);
        for i in (0..10_000u64).rev() {
            m.push(Duration::from_micros(i));
        }
        assert!(m.retained() <= 100);
        assert_eq!(m.max(), Some(Duration::from_micros(99)));
    }
}
