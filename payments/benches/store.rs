//! Shares per second a store takes from the share writer: one batch of 1000 shares per
//! iteration, in one transaction (embedded) or one script call (Redis).
//!
//! `cargo bench -p payments --bench store` (starts a private redis-server, and a Sentinel
//! group for the write confirmed by a replica, through testkit).

use std::sync::atomic::{AtomicU64, Ordering};

use divan::Bencher;
use payments::{Batch, EmbeddedStore, Record, RedisEndpoint, RedisOptions, RedisStore, ShareStore};

fn main() {
    divan::main();
}

const SHARES: usize = 1000;

fn batch(seq: u64) -> Batch {
    Batch::new(
        "bench",
        seq,
        (0..SHARES)
            .map(|i| Record::Share {
                worker: format!("1BenchWorkerAddress{}.rig", i % 50),
                difficulty: 65536.0,
                valid: i % 50 != 0,
                time_ms: 1_700_000_000_000 + i as u64,
            })
            .collect(),
    )
}

fn run(bencher: Bencher, store: &dyn ShareStore) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let seq = AtomicU64::new(0);
    bencher
        .counter(divan::counter::ItemsCount::new(SHARES))
        .with_inputs(|| batch(seq.fetch_add(1, Ordering::Relaxed) + 1))
        .bench_local_refs(|batch| {
            assert!(runtime.block_on(store.apply(batch)).expect("store answers"));
        });
}

#[divan::bench(sample_count = 30)]
fn embedded_1000_share_batch(bencher: Bencher) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(&dir.path().join("bench.sqlite"), "bench").expect("opens");
    run(bencher, &store);
}

#[divan::bench(sample_count = 30)]
fn redis_1000_share_batch(bencher: Bencher) {
    let redis = testkit::RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = runtime
        .block_on(async { RedisStore::new(&redis.url(), "bench") })
        .expect("url");
    run(bencher, &store);
}

/// The same batch on a master whose write waits (`WAIT 1`) for one of its two replicas.
#[divan::bench(sample_count = 30)]
fn redis_1000_share_batch_confirmed_by_a_replica(bencher: Bencher) {
    let group = testkit::RedisSentinelGroup::start();
    let master = group.master_port().expect("a master");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options = RedisOptions {
        endpoint: RedisEndpoint::Url(testkit::RedisSentinelGroup::url(master)),
        replicas: 1,
        replica_timeout: std::time::Duration::from_secs(1),
    };
    let store = runtime
        .block_on(async { RedisStore::with_options(&options, "bench") })
        .expect("url");
    run(bencher, &store);
}
