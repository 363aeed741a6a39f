//! One suite, both backends: the embedded store and Redis (testkit's private server) must
//! keep the same data for the same batches. Plus: what the Redis backend writes is NOMP's
//! key layout, value for value.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::collections::BTreeMap;

use coin_daemon::Amount;
use payments::{
    Batch, BlockEntry, BlockStatus, Decimal, EmbeddedStore, JournalStatus, PayoutStore, Record,
    RedisStore, Round, RoundStatement, Settlement, ShareCounts, ShareStore, StatsHistory,
    StoreError, SwitchState, share_decimal,
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
        network_difficulty: height as f64 / 8.0,
    }
}

/// The decimal a share difficulty stands for.
fn d(difficulty: f64) -> Decimal {
    share_decimal(difficulty).unwrap()
}

fn batch(writer: &str, seq: u64, records: Vec<Record>) -> Batch {
    Batch::new(writer, seq, records)
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
        BTreeMap::from([("alice.rig1".into(), d(16.0)), ("bob".into(), d(4.5))])
    );

    // The same batch again (a replay after a lost answer) changes nothing.
    assert!(!store.apply(&first).await.unwrap());
    assert_eq!(
        store.round_shares(Round::Current).await.unwrap()["alice.rig1"],
        d(16.0)
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
    // The network difficulty each block met is kept with it, for a PPLNS factor window.
    assert_eq!(
        store
            .block_difficulty(&format!("{:064x}", 120))
            .await
            .unwrap(),
        Some(d(15.0))
    );
    assert_eq!(store.block_difficulty("unknown").await.unwrap(), None);
    assert_eq!(
        store.round_shares(Round::Height(120)).await.unwrap(),
        BTreeMap::from([("alice.rig1".into(), d(16.0)), ("bob".into(), d(4.5))])
    );
    assert_eq!(
        store.round_shares(Round::Current).await.unwrap(),
        BTreeMap::from([("carol".into(), d(2.0))])
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

    // PPLNS windows: valid shares newest first up to the window, the oldest in part.
    assert_eq!(
        store.last_shares(T0 + 60_000, d(11.0)).await.unwrap(),
        BTreeMap::from([
            ("alice.rig1".into(), d(8.0)),
            ("bob".into(), d(1.0)),
            ("carol".into(), d(2.0))
        ])
    );
    assert_eq!(
        store.last_shares(T0 + 2_000, d(100.0)).await.unwrap(),
        BTreeMap::from([("alice.rig1".into(), d(16.0)), ("bob".into(), d(4.5))])
    );

    // Pruning forgets samples of earlier seconds only.
    store.prune_hashrate(T0 + 2_000).await.unwrap();
    assert_eq!(store.hashrate_since(0).await.unwrap(), samples);
}

/// Exact decimal sums, and a second block at a height joining the first one's round.
async fn round_suite(store: &dyn ShareStore) {
    let tiny = |worker: &str| share(worker, 0.00001, true, 0);
    let shares = vec![
        tiny("a"),
        tiny("a"),
        tiny("a"),
        share("b", 0.00003, true, 0),
    ];
    store.apply(&batch("r", 1, shares)).await.unwrap();
    let current = store.round_shares(Round::Current).await.unwrap();
    assert_eq!(
        current["a"],
        d(0.00003),
        "three 1e-5 shares are exactly 3e-5"
    );
    assert_eq!(current["a"], current["b"]);

    store
        .apply(&batch("r", 2, vec![found(300, "a")]))
        .await
        .unwrap();
    let mut second = found(300, "c");
    if let Record::BlockFound { hash, .. } = &mut second {
        *hash = format!("{:064x}", 0x300_0000u64);
    }
    store
        .apply(&batch(
            "r",
            3,
            vec![share("c", 2.0, true, 0), tiny("a"), second],
        ))
        .await
        .unwrap();
    assert_eq!(
        store.round_shares(Round::Height(300)).await.unwrap(),
        BTreeMap::from([
            ("a".into(), d(0.00004)),
            ("b".into(), d(0.00003)),
            ("c".into(), d(2.0)),
        ]),
        "the second block's round joined the first one's"
    );
    assert!(store.round_shares(Round::Current).await.unwrap().is_empty());
    let pending = store.blocks(BlockStatus::Pending).await.unwrap();
    assert_eq!(pending.iter().filter(|b| b.height == 300).count(), 2);
}

/// The share log PPLNS reads: one entry per share, even for equal shares of one worker in
/// one millisecond, in a fixed order however many shares share a second.
async fn share_log_suite(store: &dyn ShareStore) {
    // Two equal shares of one worker in one millisecond are two shares.
    let twins = vec![share("twin", 1.0, true, 5), share("twin", 1.0, true, 5)];
    store.apply(&batch("log", 1, twins)).await.unwrap();
    let logged = store.hashrate_since(T0).await.unwrap();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!(
        store.last_shares(T0 + 5, d(100.0)).await.unwrap(),
        BTreeMap::from([("twin".into(), d(2.0))])
    );
    // 2500 shares in one second, newest last: the window takes the newest, whatever the
    // order a page of the log comes in.
    let second = T0 + 10_000;
    let shares: Vec<Record> = (0..2500u64)
        .map(|i| {
            let worker = if i >= 2490 { "newest" } else { "older" };
            share(worker, 1.0, true, 10_000 + i * 999 / 2500)
        })
        .collect();
    store.apply(&batch("log", 2, shares)).await.unwrap();
    let window = store.last_shares(second + 999, d(10.0)).await.unwrap();
    assert_eq!(
        window,
        BTreeMap::from([("newest".into(), d(10.0))]),
        "{window:?}"
    );
    let wider = store.last_shares(second + 999, d(12.0)).await.unwrap();
    assert_eq!(
        wider,
        BTreeMap::from([("newest".into(), d(10.0)), ("older".into(), d(2.0))])
    );
}

#[tokio::test]
async fn both_stores_log_every_share_once_in_a_fixed_order() {
    let dir = tempfile::tempdir().unwrap();
    share_log_suite(&EmbeddedStore::open(&dir.path().join("l.sqlite"), "bitcoin").unwrap()).await;
    let redis = RedisServer::start();
    share_log_suite(&RedisStore::new(&redis.url(), "bitcoin").unwrap()).await;
}

#[tokio::test]
async fn both_stores_sum_exactly_and_merge_same_height_rounds() {
    let dir = tempfile::tempdir().unwrap();
    round_suite(&EmbeddedStore::open(&dir.path().join("r.sqlite"), "bitcoin").unwrap()).await;
    let redis = RedisServer::start();
    round_suite(&RedisStore::new(&redis.url(), "bitcoin").unwrap()).await;
}

fn sats(n: i64) -> Amount {
    Amount::from_sat(n)
}

async fn payout_suite<S: ShareStore + PayoutStore>(store: &S) {
    // Three rounds: 200 matures, 201 is orphaned, 202 is unknown to the wallet.
    let rounds = batch(
        "p",
        1,
        vec![
            share("a.rig", 3.0, true, 0),
            share("b", 1.0, true, 0),
            found(200, "a.rig"),
            share("c", 2.0, true, 0),
            found(201, "c"),
            share("a.rig", 5.0, true, 0),
            found(202, "a.rig"),
            share("b", 7.0, true, 0),
        ],
    );
    store.apply(&rounds).await.unwrap();
    let pending = store.blocks(BlockStatus::Pending).await.unwrap();
    assert_eq!(pending.len(), 3);

    let settlement = Settlement {
        id: "run-1".into(),
        confirmed: vec![pending[0].clone()],
        orphaned: vec![pending[1].clone()],
        kicked: vec![pending[2].clone()],
        paid_rounds: Some(vec![200]),
        merged_rounds: Some(vec![201]),
        // Kept in the journal as stored: the planned entry below reads back equal.
        rounds: vec![RoundStatement {
            height: 200,
            hash: pending[0].hash.clone(),
            reward: sats(4_001),
            shares: BTreeMap::from([("a.rig".into(), d(3.0)), ("b".into(), d(1.0))]),
            window: None,
            credits: BTreeMap::from([("a".into(), sats(3_000)), ("b".into(), sats(1_000))]),
            kept: sats(1),
        }],
        payments: BTreeMap::from([("a".into(), sats(3_000))]),
        balances: BTreeMap::from([("a".into(), sats(0)), ("b".into(), sats(1_000))]),
        payout_totals: BTreeMap::from([("a".into(), sats(3_000))]),
        total_paid: sats(3_000),
        transaction: None,
    };
    let fence = store.acquire_lease("payer", 60_000).await.unwrap().unwrap();
    store.plan(&settlement, 10, fence).await.unwrap();
    assert!(
        store.plan(&settlement, 11, fence).await.is_err(),
        "ids are unique"
    );
    let planned = store.planned().await.unwrap();
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].settlement, settlement);
    // Planned is not applied.
    assert!(store.balances().await.unwrap().is_empty());
    assert_eq!(store.blocks(BlockStatus::Pending).await.unwrap().len(), 3);

    assert!(store.payment_history(10).await.unwrap().is_empty());
    assert!(
        store
            .complete("run-1", Some("txid-1"), fence)
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete("run-1", Some("txid-1"), fence)
            .await
            .unwrap(),
        "applied once"
    );
    assert!(store.planned().await.unwrap().is_empty());
    let entry = store.journal_entry("run-1").await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.txid.as_deref()),
        (JournalStatus::Done, Some("txid-1"))
    );
    assert_eq!(
        store.balances().await.unwrap(),
        BTreeMap::from([("b".into(), sats(1_000))])
    );
    assert_eq!(
        store.payout_totals().await.unwrap(),
        BTreeMap::from([("a".into(), sats(3_000))])
    );
    assert_eq!(store.total_paid().await.unwrap(), sats(3_000));
    let heights = |blocks: Vec<BlockEntry>| blocks.iter().map(|b| b.height).collect::<Vec<_>>();
    assert_eq!(
        heights(store.blocks(BlockStatus::Confirmed).await.unwrap()),
        [200]
    );
    assert_eq!(
        heights(store.blocks(BlockStatus::Orphaned).await.unwrap()),
        [201]
    );
    assert_eq!(
        heights(store.blocks(BlockStatus::Kicked).await.unwrap()),
        [202]
    );
    assert!(store.blocks(BlockStatus::Pending).await.unwrap().is_empty());
    // The paid round is gone, the orphan's shares joined the current round, the kicked
    // round is kept.
    assert!(
        store
            .round_shares(Round::Height(200))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .round_shares(Round::Height(201))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.round_shares(Round::Current).await.unwrap(),
        BTreeMap::from([("b".into(), d(7.0)), ("c".into(), d(2.0))])
    );
    assert_eq!(
        store.round_shares(Round::Height(202)).await.unwrap(),
        BTreeMap::from([("a.rig".into(), d(5.0))])
    );

    // An abandoned plan changes nothing.
    let second = Settlement {
        id: "run-2".into(),
        balances: BTreeMap::from([("b".into(), sats(0))]),
        ..settlement.clone()
    };
    store.plan(&second, 20, fence).await.unwrap();
    assert!(store.abandon("run-2", fence).await.unwrap());
    assert!(!store.complete("run-2", None, fence).await.unwrap());
    assert_eq!(store.balances().await.unwrap()["b"], sats(1_000));

    // The history lists paying runs only, newest first.
    let quiet = Settlement {
        id: "run-3".into(),
        payments: BTreeMap::new(),
        ..settlement.clone()
    };
    let later = Settlement {
        id: "run-4".into(),
        ..settlement.clone()
    };
    for (run, at) in [(&quiet, 30), (&later, 40)] {
        store.plan(run, at, fence).await.unwrap();
        assert!(store.complete(&run.id, Some("txid"), fence).await.unwrap());
    }
    let ids = |entries: Vec<payments::JournalEntry>| {
        entries
            .into_iter()
            .map(|e| e.settlement.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.payment_history(10).await.unwrap()),
        ["run-4", "run-1"]
    );
    assert_eq!(ids(store.payment_history(1).await.unwrap()), ["run-4"]);

    // One lease holder at a time; it expires; every new holding has a higher fence.
    store.release_lease("payer").await.unwrap();
    let one = store.acquire_lease("one", 60_000).await.unwrap().unwrap();
    assert!(one > fence, "a new holder, a new fence");
    assert_eq!(store.acquire_lease("two", 60_000).await.unwrap(), None);
    assert_eq!(
        store.acquire_lease("one", 60_000).await.unwrap(),
        Some(one),
        "renewed: the same fence"
    );
    store.release_lease("one").await.unwrap();
    let two = store.acquire_lease("two", 1).await.unwrap().unwrap();
    assert!(two > one);
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let again = store.acquire_lease("one", 60_000).await.unwrap().unwrap();
    assert!(again > two, "expired: taken over with a new fence");

    // A stale holder's writes are refused and change nothing: "two" still thinks it holds
    // fence `two`, but "one" took the lease over.
    let stale = Settlement {
        id: "run-5".into(),
        balances: BTreeMap::from([("b".into(), sats(0))]),
        ..settlement.clone()
    };
    let refused = store.plan(&stale, 50, two).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Fenced { held, current } if held == two.0 && current == again.0),
        "{refused}"
    );
    assert!(store.journal_entry("run-5").await.unwrap().is_none());
    store.plan(&stale, 50, again).await.unwrap();
    let refused = store.complete("run-5", None, two).await.unwrap_err();
    assert!(matches!(refused, StoreError::Fenced { .. }), "{refused}");
    let refused = store.abandon("run-5", two).await.unwrap_err();
    assert!(matches!(refused, StoreError::Fenced { .. }), "{refused}");
    assert_eq!(store.planned().await.unwrap().len(), 1, "still planned");
    assert_eq!(store.balances().await.unwrap()["b"], sats(1_000));
    assert!(store.complete("run-5", None, again).await.unwrap());
    assert!(!store.balances().await.unwrap().contains_key("b"));
}

async fn history_suite(store: &dyn StatsHistory) {
    for time in [100, 160, 220] {
        let snapshot = format!(r#"{{"time":{time}}}"#);
        store.push_stats(time, &snapshot, 150).await.unwrap();
    }
    assert_eq!(
        store.stats_since(0).await.unwrap(),
        [r#"{"time":160}"#, r#"{"time":220}"#],
        "the snapshot before the retention is forgotten"
    );
    assert_eq!(store.stats_since(200).await.unwrap(), [r#"{"time":220}"#]);
}

#[tokio::test]
async fn both_stores_keep_the_stats_history_for_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    history_suite(&EmbeddedStore::open(&dir.path().join("h.sqlite"), "bitcoin").unwrap()).await;
    let redis = RedisServer::start();
    history_suite(&RedisStore::new(&redis.url(), "bitcoin").unwrap()).await;
}

async fn switch_state_suite(store: &dyn SwitchState) {
    assert!(store.switched_coins().await.unwrap().is_empty());
    store.set_switched_coin("scrypt", "litecoin").await.unwrap();
    store.set_switched_coin("x11", "dash").await.unwrap();
    store.set_switched_coin("scrypt", "dogecoin").await.unwrap();
    let saved = store.switched_coins().await.unwrap();
    assert_eq!(
        saved.into_iter().collect::<Vec<_>>(),
        [
            ("scrypt".to_owned(), "dogecoin".to_owned()),
            ("x11".to_owned(), "dash".to_owned())
        ],
        "one coin per algorithm, the last one saved"
    );
}

#[tokio::test]
async fn both_stores_remember_the_coin_of_each_switch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    switch_state_suite(&EmbeddedStore::open(&path, "").unwrap()).await;
    let reopened = EmbeddedStore::open(&path, "").unwrap();
    assert_eq!(
        reopened.switched_coins().await.unwrap().len(),
        2,
        "kept on disk"
    );
    let redis = RedisServer::start();
    switch_state_suite(&RedisStore::new(&redis.url(), "").unwrap()).await;
    // NOMP's key and layout: a hash `proxyState` of algorithm to coin.
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let raw: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg("proxyState")
        .query(&mut connection)
        .unwrap();
    assert_eq!(raw["scrypt"], "dogecoin");
}

#[tokio::test]
async fn embedded_store_passes_the_payout_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("p.sqlite"), "bitcoin").unwrap();
    payout_suite(&store).await;
}

#[tokio::test]
async fn redis_store_passes_the_payout_suite() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url(), "bitcoin").unwrap();
    payout_suite(&store).await;
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
    // Score: unix seconds; member: NOMP's ±difficulty:worker:ms, the share's number after
    // the milliseconds (NOMP reads the first two fields); equal scores sort by member.
    hashrate.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        hashrate,
        vec![
            (format!("-2:bob:{}#3", T0 + 2), (T0 / 1000) as f64),
            (format!("0.25:alice:{}#2", T0 + 1), (T0 / 1000) as f64),
            (format!("0.5:alice:{T0}#1"), (T0 / 1000) as f64),
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
        d(12.5)
    );
    assert_eq!(
        store.blocks(BlockStatus::Confirmed).await.unwrap()[0].height,
        99
    );
}
