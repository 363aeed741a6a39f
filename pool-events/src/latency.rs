//! Latency histograms with fixed buckets: cheap to observe from any task, read at scrape.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: from a share's hash (tens of microseconds) to a
/// daemon call at its timeout (tens of seconds).
pub const BUCKETS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 1.0, 10.0,
];

/// A histogram of durations over [`BUCKETS`]; lock-free to observe.
#[derive(Debug, Default)]
pub struct Latency {
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A reading of a [`Latency`], in the shape Prometheus histograms take.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencySnapshot {
    /// `(upper bound in seconds, observations at or below it)`, cumulative, for every bound
    /// of [`BUCKETS`].
    pub buckets: Vec<(f64, u64)>,
    /// Every observation, `+Inf` included.
    pub count: u64,
    /// The sum of every observation, in seconds.
    pub sum: f64,
}

impl Latency {
    /// Counts one duration.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut running = 0;
        let buckets = BUCKETS
            .iter()
            .zip(&self.counts)
            .map(|(&bound, count)| {
                running += count.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect();
        let count = running + self.counts[BUCKETS.len()].load(Ordering::Relaxed);
        LatencySnapshot {
            buckets,
            count,
            sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// Latency histograms keyed by a name the code chooses (a daemon's RPC method), so the set of
/// keys is bounded by the code, never by input.
#[derive(Debug, Default)]
pub struct LatencyByKey {
    keys: Mutex<BTreeMap<String, Arc<Latency>>>,
}

impl LatencyByKey {
    /// Counts one duration under `key`.
    pub fn observe(&self, key: &str, elapsed: Duration) {
        let latency = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            match keys.get(key) {
                Some(latency) => Arc::clone(latency),
                None => Arc::clone(keys.entry(key.to_owned()).or_default()),
            }
        };
        latency.observe(elapsed);
    }

    /// Every key's counts, in key order.
    pub fn snapshot(&self) -> Vec<(String, LatencySnapshot)> {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(key, latency)| (key.clone(), latency.snapshot()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_and_the_sum() {
        let latency = Latency::default();
        latency.observe(Duration::from_micros(5));
        latency.observe(Duration::from_micros(10));
        latency.observe(Duration::from_millis(3));
        latency.observe(Duration::from_secs(60));
        let snapshot = latency.snapshot();
        assert_eq!(snapshot.count, 4);
        // 10 µs is at the first bound, so it counts in that bucket.
        assert_eq!(snapshot.buckets[0], (0.000_01, 2));
        let at = |bound: f64| snapshot.buckets.iter().find(|b| b.0 == bound).unwrap().1;
        assert_eq!(at(0.002_5), 2);
        assert_eq!(at(0.005), 3);
        // A minute is above every bound: only in the count.
        assert_eq!(at(10.0), 3);
        assert!((snapshot.sum - 60.003_015).abs() < 1e-9, "{}", snapshot.sum);
    }

    #[test]
    fn keys_are_kept_apart() {
        let by_method = LatencyByKey::default();
        by_method.observe("getblocktemplate", Duration::from_millis(2));
        by_method.observe("submitblock", Duration::from_millis(20));
        by_method.observe("getblocktemplate", Duration::from_millis(4));
        let snapshot = by_method.snapshot();
        let keys: Vec<_> = snapshot
            .iter()
            .map(|(k, s)| (k.as_str(), s.count))
            .collect();
        assert_eq!(keys, [("getblocktemplate", 2), ("submitblock", 1)]);
    }
}
