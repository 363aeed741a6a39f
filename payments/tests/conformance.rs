//! One suite, both backends: the embedded store and Redis (testkit's private server) must
//! keep the same data for the same batches. Plus: what the Redis backend writes is NOMP's
//! key layout, value for value.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::collections::BTreeMap;

use payments::{
    Batch, BlockEntry, BlockStatus, EmbeddedStore, Record, RedisStore, Round, ShareCounts,
    ShareStore,
};
use testkit::RedisServer;

const T0: u64 = 1_700_000_000_000;

fn share(worker: &str, difficulty: f64, valid: bool, offset_ms: u64) -> Record {
    Record::Share {
        worker: worker.into(),
        difficulty,
        valid,
        time_ms: T0 + offset_ms,
    }
}

fn found(height: u64, worker: &str) -> Record {
    Record::BlockFound {
        height,
        hash: format!("{height:064x}"),
        coinbase_txid: format!("{:064x}", height + 1000),
        worker: worker.into(),
        time_ms: T0 + 50_000,
    }
}

fn batch(writer: &str, seq: u64, records: Vec<Record>) -> Batch {
    Batch {
        writer: writer.into(),
        seq,
        records,
    }
}

async fn suite(store: &dyn ShareStore) {
    // Round 1: two workers, one invalid share, then a block at height 120.
    let first = batch(
        "w1",
        1,
        vec![
            share("alice.rig1", 8.0, true, 0),
            share("bob", 4.5, true, 1_000),
            share("alice.rig1", 8.0, true, 2_000),
            share("bob", 4.5, false, 3_000),
        ],
    );
    assert!(store.apply(&first).await.unwrap());
    assert_eq!(
        store.round_shares(Round::Current).await.unwrap(),
        BTreeMap::from([("alice.rig1".into(), 16.0), ("bob".into(), 4.5)])
    );

    // The same batch again (a replay after a lost answer) changes nothing.
    assert!(!store.apply(&first).await.unwrap());
    assert_eq!(
        store.round_shares(Round::Current).await.unwrap()["alice.rig1"],
        16.0
    );

    let second = batch(
        "w1",
        2,
        vec![
            found(120, "alice.rig1"),
            share("carol", 2.0, true, 60_000),
            Record::BlockRejected { height: 121 },
        ],
    );
    assert!(store.apply(&second).await.unwrap());
    assert_eq!(
        store.round_shares(Round::Height(120)).await.unwrap(),
        BTreeMap::from([("alice.rig1".into(), 16.0), ("bob".into(), 4.5)])
    );
    assert_eq!(
        store.round_shares(Round::Current).await.unwrap(),
        BTreeMap::from([("carol".into(), 2.0)])
    );
    assert_eq!(
        store.counts().await.unwrap(),
        ShareCounts {
            valid_shares: 4,
            invalid_shares: 1,
            valid_blocks: 1,
            invalid_blocks: 1,
        }
    );
    assert_eq!(
        store.blocks(BlockStatus::Pending).await.unwrap(),
        vec![BlockEntry {
            height: 120,
            hash: format!("{:064x}", 120),
            coinbase_txid: format!("{:064x}", 1120),
            worker: "alice.rig1".into(),
            time_ms: T0 + 50_000,
        }]
    );
    assert!(
        store
            .blocks(BlockStatus::Confirmed)
            .await
            .unwrap()
            .is_empty()
    );

    // An older batch of the same writer is a replay too; another writer's seq 1 is new.
    assert!(!store.apply(&batch("w1", 1, vec![])).await.unwrap());
    assert!(
        store
            .apply(&batch("w2", 1, vec![share("dave", 1.0, true, 70_000)]))
            .await
            .unwrap()
    );

    // Hashrate samples: every share, invalid ones negative, from a time on.
    let samples = store.hashrate_since(T0 + 2_000).await.unwrap();
    let seen: Vec<(&str, f64)> = samples
        .iter()
        .map(|s| (s.worker.as_str(), s.difficulty))
        .collect();
    assert_eq!(
        seen,
        [
            ("alice.rig1", 8.0),
            ("bob", -4.5),
            ("carol", 2.0),
            ("dave", 1.0)
        ]
    );
    assert_eq!(samples[0].time_ms, T0 + 2_000);
}

#[tokio::test]
async fn embedded_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shares.sqlite");
    let store = EmbeddedStore::open(&path, "bitcoin").unwrap();
    suite(&store).await;

    // The data survives reopening, and another coin in the same file is separate.
    drop(store);
    let reopened = EmbeddedStore::open(&path, "bitcoin").unwrap();
    assert_eq!(reopened.counts().await.unwrap().valid_shares, 5);
    let other = EmbeddedStore::open(&path, "litecoin").unwrap();
    assert_eq!(other.counts().await.unwrap(), ShareCounts::default());
}

#[tokio::test]
async fn redis_store_passes_the_conformance_suite() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url(), "bitcoin").unwrap();
    suite(&store).await;
}

#[tokio::test]
async fn redis_store_writes_nomps_keys_and_values() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url(), "bitcoin").unwrap();
    store
        .apply(&batch(
            "w",
            1,
            vec![
                share("alice", 0.5, true, 0),
                share("alice", 0.25, true, 1),
                share("bob", 2.0, false, 2),
            ],
        ))
        .await
        .unwrap();
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let round: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg("bitcoin:shares:roundCurrent")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(round, BTreeMap::from([("alice".into(), "0.75".into())]));
    let stats: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg("bitcoin:stats")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        stats,
        BTreeMap::from([
            ("validShares".into(), "2".into()),
            ("invalidShares".into(), "1".into())
        ])
    );
    let mut hashrate: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("bitcoin:hashrate")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut raw)
        .await
        .unwrap();
    // Score: unix seconds; member: ±difficulty:worker:ms (equal scores sort by member).
    hashrate.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        hashrate,
        vec![
            (format!("-2:bob:{}", T0 + 2), (T0 / 1000) as f64),
            (format!("0.25:alice:{}", T0 + 1), (T0 / 1000) as f64),
            (format!("0.5:alice:{T0}"), (T0 / 1000) as f64),
        ]
    );

    store
        .apply(&batch("w", 2, vec![found(130, "alice")]))
        .await
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg("bitcoin:shares:roundCurrent")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0, "roundCurrent was renamed");
    let finished: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg("bitcoin:shares:round130")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(finished["alice"], "0.75");
    let pending: Vec<String> = redis::cmd("SMEMBERS")
        .arg("bitcoin:blocksPending")
        .query_async(&mut raw)
        .await
        .unwrap();
    // NOMP's payment processor reads the first three fields: hash, coinbase txid, height.
    let fields: Vec<&str> = pending[0].split(':').collect();
    assert_eq!(
        &fields[..3],
        &[
            format!("{:064x}", 130).as_str(),
            format!("{:064x}", 1130).as_str(),
            "130"
        ]
    );

    // A round written by NOMP itself reads back through the store.
    let _: () = redis::cmd("HSET")
        .arg("bitcoin:shares:round99")
        .arg("legacy")
        .arg("12.5")
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg("bitcoin:blocksConfirmed")
        .arg("aa:bb:99")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        store.round_shares(Round::Height(99)).await.unwrap()["legacy"],
        12.5
    );
    assert_eq!(
        store.blocks(BlockStatus::Confirmed).await.unwrap()[0].height,
        99
    );
}
