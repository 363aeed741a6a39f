//! What one stats update costs the portal per pool: turning a hashrate window of samples
//! into per-worker stats, and the snapshot into its JSON.
//!
//! `cargo bench -p portal --bench stats`

use coin_daemon::Amount;
use divan::Bencher;
use hashing::Algorithm;
use payments::{HashrateSample, ShareCounts};
use portal::{BlockCounts, PoolReading, pool_stats, portal_stats};

fn main() {
    divan::main();
}

/// A window of `samples` shares from 1000 workers of 200 addresses.
fn reading(samples: usize) -> PoolReading {
    PoolReading {
        name: "bitcoin".into(),
        symbol: "BTC".into(),
        algorithm: Algorithm::Sha256d,
        counts: ShareCounts::default(),
        blocks: BlockCounts::default(),
        samples: (0..samples)
            .map(|i| HashrateSample {
                worker: format!("1BenchAddress{}.rig{}", i % 200, i % 5),
                difficulty: if i % 50 == 0 { -65536.0 } else { 65536.0 },
                time_ms: 1_700_000_000_000 + i as u64,
            })
            .collect(),
        total_paid: Amount::from_sat(123_456_789),
        connections: 1000,
        network: None,
    }
}

#[divan::bench(args = [10_000, 100_000])]
fn stats_of_a_window(bencher: Bencher, samples: usize) {
    bencher
        .with_inputs(|| reading(samples))
        .bench_values(|reading| pool_stats(reading, 300.0));
}

#[divan::bench]
fn snapshot_json_with_1000_workers(bencher: Bencher) {
    let stats = portal_stats(1_700_000_000, vec![pool_stats(reading(100_000), 300.0)]);
    bencher.bench(|| serde_json::to_string(&stats).map(|json| json.len()));
}
