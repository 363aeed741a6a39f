//! The stats the API serves, in NOMP's shapes, computed from store readings.

use std::collections::BTreeMap;

use coin_daemon::Amount;
use hashing::Algorithm;
use payments::{FrontEnd, HashrateSample, ShareCounts, address_of};
use serde::{Deserialize, Serialize};

/// Everything `/api/stats` serves: one snapshot, taken every update interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortalStats {
    /// When it was taken, unix seconds.
    pub time: u64,
    /// All pools together.
    pub global: GlobalStats,
    /// Per algorithm, by its NOMP name.
    pub algos: BTreeMap<String, AlgoStats>,
    /// Per pool, by name.
    pub pools: BTreeMap<String, PoolStats>,
    /// The front-ends sharing the store, when there are several (nomp-rs): each one's
    /// health and connections as it last published them.
    #[serde(default, rename = "frontEnds", skip_serializing_if = "Vec::is_empty")]
    pub front_ends: Vec<FrontEndStatus>,
}

/// A front-end as the stats list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontEndStatus {
    /// What it published.
    #[serde(flatten)]
    pub front_end: FrontEnd,
    /// Whether it was heard from recently enough to count; a gone one is listed, not
    /// counted.
    pub live: bool,
}

/// All pools together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalStats {
    /// Workers with shares in the hashrate window.
    pub workers: u64,
    /// Hashes per second. Pools of different algorithms add up as NOMP adds them.
    pub hashrate: f64,
}

/// One algorithm's pools together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlgoStats {
    /// Workers with shares in the hashrate window.
    pub workers: u64,
    /// Hashes per second.
    pub hashrate: f64,
    /// The hashrate for people ("1.25 GH/s").
    pub hashrate_string: String,
}

/// One pool's stats (NOMP's shape plus network and connection facts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    /// The pool's name.
    pub name: String,
    /// The coin's symbol.
    pub symbol: String,
    /// The algorithm's NOMP name.
    pub algorithm: String,
    /// Lasting counters from the store.
    pub pool_stats: PoolCounters,
    /// Found blocks by status.
    pub blocks: BlockCounts,
    /// Workers with shares in the hashrate window, by worker name.
    pub workers: BTreeMap<String, WorkerStats>,
    /// Hashes per second over the hashrate window.
    pub hashrate: f64,
    /// Number of workers in `workers`.
    pub worker_count: u64,
    /// The hashrate for people.
    pub hashrate_string: String,
    /// Miner connections open now.
    pub connections: u64,
    /// The network as the daemon sees it, if it answered.
    pub network: Option<NetworkStats>,
}

/// NOMP's `poolStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolCounters {
    /// Valid shares ever.
    pub valid_shares: u64,
    /// Blocks found and accepted ever.
    pub valid_blocks: u64,
    /// Invalid shares ever.
    pub invalid_shares: u64,
    /// Coins paid to miners ever, as an exact decimal string ("12.50000000").
    pub total_paid: String,
}

/// Found blocks by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCounts {
    /// Waiting for confirmations.
    pub pending: u64,
    /// Matured.
    pub confirmed: u64,
    /// Orphaned.
    pub orphaned: u64,
}

/// One worker's stats over the hashrate window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStats {
    /// Summed difficulty of its valid shares.
    pub shares: f64,
    /// Summed difficulty of its invalid shares (NOMP's spelling).
    #[serde(rename = "invalidshares")]
    pub invalid_shares: f64,
    /// Hashes per second.
    pub hashrate: f64,
    /// The hashrate for people.
    pub hashrate_string: String,
}

/// The network a pool mines on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStats {
    /// The block height being mined.
    pub height: u64,
    /// Network difficulty on the daemon's scale.
    pub difficulty: f64,
    /// The daemon's estimate of the network's hashes per second.
    pub hashrate: f64,
}

/// What one pool's stats are computed from.
#[derive(Debug, Clone)]
pub struct PoolReading {
    /// The pool's name.
    pub name: String,
    /// The coin's symbol.
    pub symbol: String,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The store's counters.
    pub counts: ShareCounts,
    /// Found blocks by status.
    pub blocks: BlockCounts,
    /// The hashrate samples of the window.
    pub samples: Vec<HashrateSample>,
    /// Paid ever.
    pub total_paid: Amount,
    /// Connections open now.
    pub connections: u64,
    /// The network, if the daemon answered.
    pub network: Option<NetworkStats>,
}

/// Hashes per second from summed share difficulty over `window_s` seconds, as NOMP computes
/// it: `2^32 ÷ multiplier × Σdifficulty ÷ window`.
pub fn hashrate(algorithm: Algorithm, difficulty_sum: f64, window_s: f64) -> f64 {
    if window_s <= 0.0 {
        return 0.0;
    }
    4_294_967_296.0 / algorithm.multiplier() * difficulty_sum / window_s
}

/// A hashrate for people: "950.00 H/s", "1.25 GH/s".
pub fn readable_hashrate(hashes_per_second: f64) -> String {
    const UNITS: [&str; 7] = ["H/s", "KH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
    let mut value = hashes_per_second.max(0.0);
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// One pool's stats from its reading, hashrate over `window_s` seconds.
pub fn pool_stats(reading: PoolReading, window_s: f64) -> PoolStats {
    let mut workers: BTreeMap<String, WorkerStats> = BTreeMap::new();
    let mut valid_sum = 0.0;
    for sample in &reading.samples {
        let worker = workers.entry(sample.worker.clone()).or_default();
        if sample.difficulty >= 0.0 {
            worker.shares += sample.difficulty;
            valid_sum += sample.difficulty;
        } else {
            worker.invalid_shares -= sample.difficulty;
        }
    }
    for worker in workers.values_mut() {
        worker.hashrate = hashrate(reading.algorithm, worker.shares, window_s);
        worker.hashrate_string = readable_hashrate(worker.hashrate);
    }
    let pool_hashrate = hashrate(reading.algorithm, valid_sum, window_s);
    PoolStats {
        name: reading.name,
        symbol: reading.symbol,
        algorithm: reading.algorithm.name().to_owned(),
        pool_stats: PoolCounters {
            valid_shares: reading.counts.valid_shares,
            valid_blocks: reading.counts.valid_blocks,
            invalid_shares: reading.counts.invalid_shares,
            total_paid: reading.total_paid.to_coin_string(),
        },
        blocks: reading.blocks,
        worker_count: workers.len() as u64,
        workers,
        hashrate: pool_hashrate,
        hashrate_string: readable_hashrate(pool_hashrate),
        connections: reading.connections,
        network: reading.network,
    }
}

/// The whole snapshot: the pools plus their per-algorithm and global sums.
pub fn portal_stats(time: u64, pools: Vec<PoolStats>) -> PortalStats {
    let mut stats = PortalStats {
        time,
        ..PortalStats::default()
    };
    for pool in pools {
        let algo = stats.algos.entry(pool.algorithm.clone()).or_default();
        algo.workers += pool.worker_count;
        algo.hashrate += pool.hashrate;
        stats.global.workers += pool.worker_count;
        stats.global.hashrate += pool.hashrate;
        stats.pools.insert(pool.name.clone(), pool);
    }
    for algo in stats.algos.values_mut() {
        algo.hashrate_string = readable_hashrate(algo.hashrate);
    }
    stats
}

/// One point of NOMP's pool history (`/api/pool_stats`): per pool its hashrate, worker
/// count and blocks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// When, unix seconds.
    pub time: u64,
    /// Per pool.
    pub pools: BTreeMap<String, PoolPoint>,
}

/// One pool at one point of the history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolPoint {
    /// Hashes per second.
    pub hashrate: f64,
    /// Workers.
    pub worker_count: u64,
    /// Blocks by status.
    pub blocks: BlockCounts,
}

impl PortalStats {
    /// This snapshot as a point of the pool history.
    pub fn history_point(&self) -> HistoryPoint {
        HistoryPoint {
            time: self.time,
            pools: self
                .pools
                .iter()
                .map(|(name, pool)| {
                    let point = PoolPoint {
                        hashrate: pool.hashrate,
                        worker_count: pool.worker_count,
                        blocks: pool.blocks,
                    };
                    (name.clone(), point)
                })
                .collect(),
        }
    }

    /// The summed hashrate of `address`'s workers in pool `pool`.
    pub fn miner_hashrate(&self, pool: &str, address: &str) -> f64 {
        self.pools.get(pool).map_or(0.0, |pool| {
            pool.workers
                .iter()
                .filter(|(worker, _)| address_of(worker) == address)
                .map(|(_, stats)| stats.hashrate)
                .sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(worker: &str, difficulty: f64) -> HashrateSample {
        HashrateSample {
            worker: worker.into(),
            difficulty,
            time_ms: 0,
        }
    }

    #[test]
    fn hashrate_follows_nomps_formula() {
        // 300 s of sha256 shares adding up to difficulty 600: 2^32 × 600 / 300.
        assert_eq!(hashrate(Algorithm::Sha256d, 600.0, 300.0), 8_589_934_592.0);
        // scrypt's multiplier 2^16 divides it.
        assert_eq!(hashrate(Algorithm::Scrypt, 600.0, 300.0), 131_072.0);
        assert_eq!(hashrate(Algorithm::Sha256d, 600.0, 0.0), 0.0);
    }

    #[test]
    fn hashrates_read_in_units() {
        assert_eq!(readable_hashrate(950.0), "950.00 H/s");
        assert_eq!(readable_hashrate(8_589_934_592.0), "8.59 GH/s");
        assert_eq!(readable_hashrate(1e30), "1000000000000.00 EH/s");
    }

    #[test]
    fn pool_stats_split_valid_and_invalid_work_per_worker() {
        let reading = PoolReading {
            name: "bitcoin".into(),
            symbol: "BTC".into(),
            algorithm: Algorithm::Sha256d,
            counts: ShareCounts {
                valid_shares: 10,
                invalid_shares: 2,
                valid_blocks: 1,
                invalid_blocks: 0,
            },
            blocks: BlockCounts {
                pending: 1,
                confirmed: 0,
                orphaned: 0,
            },
            samples: vec![
                sample("a.rig1", 8.0),
                sample("a.rig2", 4.0),
                sample("b", 2.0),
                sample("b", -2.0),
            ],
            total_paid: Amount::from_sat(1_250_000_000),
            connections: 3,
            network: None,
        };
        let pool = pool_stats(reading, 100.0);
        assert_eq!(pool.worker_count, 3);
        assert_eq!(pool.workers["b"].shares, 2.0);
        assert_eq!(pool.workers["b"].invalid_shares, 2.0);
        assert_eq!(pool.hashrate, hashrate(Algorithm::Sha256d, 14.0, 100.0));
        assert_eq!(pool.pool_stats.total_paid, "12.50000000");

        let stats = portal_stats(7, vec![pool]);
        assert_eq!(stats.global.workers, 3);
        assert_eq!(stats.algos["sha256"].workers, 3);
        assert_eq!(
            stats.miner_hashrate("bitcoin", "a"),
            hashrate(Algorithm::Sha256d, 12.0, 100.0)
        );
        assert_eq!(stats.history_point().pools["bitcoin"].worker_count, 3);
    }
}
