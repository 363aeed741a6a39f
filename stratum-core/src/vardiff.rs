//! Variable difficulty: NOMP's retargeting, as a state machine with time passed in.

use std::collections::VecDeque;
use std::time::Duration;

use hashing::Difficulty;

/// A port's `varDiff` options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VardiffOptions {
    /// The wanted seconds between shares (`targetTime`).
    pub target_time: f64,
    /// Seconds between retargets (`retargetTime`).
    pub retarget_time: f64,
    /// How far from `target_time` the average may be before a retarget (`variancePercent`).
    pub variance_percent: f64,
    /// The lowest difficulty (`minDiff`).
    pub min_diff: f64,
    /// The highest difficulty (`maxDiff`); the network difficulty caps it too.
    pub max_diff: f64,
    /// Only halve or double (`x2mode`).
    pub x2_mode: bool,
}

/// One miner's vardiff state.
#[derive(Debug, Clone)]
pub struct Vardiff {
    options: VardiffOptions,
    buffer: VecDeque<f64>,
    capacity: usize,
    last_share: Option<Duration>,
    last_retarget: Duration,
}

impl Vardiff {
    /// A fresh state; the clock starts at the first share.
    pub fn new(options: VardiffOptions) -> Self {
        let capacity = ((options.retarget_time / options.target_time) * 4.0).max(1.0) as usize;
        Vardiff {
            options,
            buffer: VecDeque::with_capacity(capacity),
            capacity,
            last_share: None,
            last_retarget: Duration::ZERO,
        }
    }

    /// Records a share at `now` (any monotonic clock) from a miner at `current` difficulty.
    /// Returns the new difficulty when a retarget is due and the average share time is
    /// outside `target_time ± variance`; `network` (if known) caps the result.
    pub fn on_share(
        &mut self,
        now: Duration,
        current: Difficulty,
        network: Option<Difficulty>,
    ) -> Option<Difficulty> {
        let options = &self.options;
        let Some(last) = self.last_share else {
            // First share: start the clock half a retarget period back, as NOMP does.
            self.last_share = Some(now);
            self.last_retarget =
                now.saturating_sub(Duration::from_secs_f64(options.retarget_time / 2.0));
            return None;
        };
        if self.buffer.len() == self.capacity {
            self.buffer.pop_front();
        }
        self.buffer
            .push_back(now.saturating_sub(last).as_secs_f64());
        self.last_share = Some(now);
        if now.saturating_sub(self.last_retarget).as_secs_f64() < options.retarget_time {
            return None;
        }
        self.last_retarget = now;
        let average = self.buffer.iter().sum::<f64>() / self.buffer.len() as f64;
        let variance = options.target_time * options.variance_percent / 100.0;
        let current = current.get();
        let max = network.map_or(options.max_diff, |n| options.max_diff.min(n.get()));
        let mut factor = options.target_time / average.max(f64::MIN_POSITIVE);
        if average > options.target_time + variance && current > options.min_diff {
            if options.x2_mode {
                factor = 0.5;
            }
            factor = factor.max(options.min_diff / current);
        } else if average < options.target_time - variance && current < max {
            if options.x2_mode {
                factor = 2.0;
            }
            factor = factor.min(max / current);
        } else {
            return None;
        }
        self.buffer.clear();
        // NOMP rounds the new difficulty to 8 decimals; a difficulty below that (regtest,
        // tiny test miners) would round to zero, so it is kept as computed.
        let exact = current * factor;
        let rounded = (exact * 1e8).round() / 1e8;
        Difficulty::new(if rounded > 0.0 { rounded } else { exact }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> VardiffOptions {
        VardiffOptions {
            target_time: 15.0,
            retarget_time: 90.0,
            variance_percent: 30.0,
            min_diff: 8.0,
            max_diff: 512.0,
            x2_mode: false,
        }
    }

    /// xorshift64*: reproducible pseudo-random numbers for the simulation.
    struct Rng(u64);
    impl Rng {
        fn unit(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn converges_to_the_target_time_for_a_miner_of_fixed_hashrate() {
        // 2^32 hashes per unit of sha256 difficulty; 25 GH/s wants difficulty ≈ 87 for 15 s.
        let hashrate = 25e9;
        let mut vardiff = Vardiff::new(options());
        let mut difficulty = Difficulty::new(8.0).unwrap();
        let mut now = Duration::ZERO;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut late_intervals = Vec::new();
        for share in 0..4000 {
            // Share times are exponential with mean difficulty × 2^32 ÷ hashrate.
            let mean = difficulty.get() * 4_294_967_296.0 / hashrate;
            let interval = -mean * (1.0 - rng.unit()).ln();
            now += Duration::from_secs_f64(interval);
            if share >= 2000 {
                late_intervals.push(interval);
            }
            if let Some(next) = vardiff.on_share(now, difficulty, None) {
                difficulty = next;
            }
        }
        let average = late_intervals.iter().sum::<f64>() / late_intervals.len() as f64;
        assert!(
            (average - 15.0).abs() <= 15.0 * 0.3,
            "average share time {average} s"
        );
        let ideal = 15.0 * hashrate / 4_294_967_296.0;
        assert!(
            (difficulty.get() / ideal - 1.0).abs() < 0.5,
            "difficulty {difficulty} vs {ideal}"
        );
    }

    #[test]
    fn stays_within_min_max_and_the_network_difficulty() {
        let mut fast = Vardiff::new(options());
        let mut difficulty = Difficulty::new(100.0).unwrap();
        let network = Difficulty::new(300.0).unwrap();
        for second in 0..2000u64 {
            if let Some(next) =
                fast.on_share(Duration::from_secs(second), difficulty, Some(network))
            {
                difficulty = next;
            }
        }
        assert_eq!(
            difficulty.get(),
            300.0,
            "a share per second pushes up to the network cap"
        );

        let mut slow = Vardiff::new(options());
        let mut difficulty = Difficulty::new(100.0).unwrap();
        for minute in 0..200u64 {
            if let Some(next) = slow.on_share(Duration::from_secs(60 * minute), difficulty, None) {
                difficulty = next;
            }
        }
        assert_eq!(
            difficulty.get(),
            8.0,
            "a share a minute pulls down to minDiff"
        );
    }

    #[test]
    fn x2_mode_only_doubles_or_halves() {
        let mut vardiff = Vardiff::new(VardiffOptions {
            x2_mode: true,
            ..options()
        });
        let start = Difficulty::new(16.0).unwrap();
        let changed =
            (0..200u64).find_map(|s| vardiff.on_share(Duration::from_secs(s), start, None));
        assert_eq!(changed.map(Difficulty::get), Some(32.0));
    }

    #[test]
    fn difficulties_below_eight_decimals_still_retarget() {
        let mut vardiff = Vardiff::new(VardiffOptions {
            min_diff: 1e-12,
            ..options()
        });
        let tiny = Difficulty::new(4e-9).unwrap();
        let mut next = None;
        for second in (0..=120).step_by(60) {
            next = next.or(vardiff.on_share(Duration::from_secs(second), tiny, None));
        }
        let next = next.expect("slow shares lower the difficulty").get();
        assert!(next > 0.0 && next < 4e-9, "{next}");
    }

    #[test]
    fn no_retarget_inside_the_variance() {
        let mut vardiff = Vardiff::new(options());
        let difficulty = Difficulty::new(64.0).unwrap();
        let changes = (0..100u64)
            .filter_map(|s| vardiff.on_share(Duration::from_secs(15 * s), difficulty, None))
            .count();
        assert_eq!(changes, 0);
    }
}
