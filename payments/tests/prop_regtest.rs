//! PROP payouts against a real regtest wallet, on both stores: matured rounds paid to the
//! satoshi, an orphaned round merged back, a small balance kept and paid later.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use coin_daemon::Amount;
use payments::{
    BlockStatus, EmbeddedStore, PaymentProcessor, PaymentStore, RedisStore, Round, RunOutcome,
};
use testkit::{RedisServer, RegtestPair};

/// The test's own PROP arithmetic: floor(reward × part ÷ whole).
fn part(reward: u128, part: u128, whole: u128) -> u128 {
    reward * part / whole
}

async fn prop_pays_matured_rounds_merges_orphans_and_keeps_small_balances(
    store: Arc<dyn PaymentStore>,
) {
    let pair = RegtestPair::start();
    let pool_address = pair.pool_node().new_address();
    let [a, b, c, d] = std::array::from_fn(|_| pair.other_node().new_address());
    let wallet = common::wallet(pair.pool_node());

    // Round 1: a 3, b 1. Round 2: c 1, a 999. Round 3 (to be orphaned): d 5.
    let block1 = common::find_block(&pair, &pool_address, &format!("{a}.rig1"));
    common::record_round(
        store.as_ref(),
        1,
        &[(&format!("{a}.rig1"), 3.0), (&b, 1.0)],
        &block1,
    )
    .await;
    let block2 = common::find_block(&pair, &pool_address, &c);
    common::record_round(store.as_ref(), 2, &[(&c, 1.0), (&a, 999.0)], &block2).await;
    let block3 = common::find_block(&pair, &pool_address, &d);
    common::record_round(store.as_ref(), 3, &[(&d, 5.0)], &block3).await;

    // Orphan block 3 for real, then mature blocks 1 and 2.
    pair.pool_node().cli(&["invalidateblock", &block3.hash]);
    pair.other_node().cli(&["invalidateblock", &block3.hash]);
    pair.mine_on_other(100);

    let minimum = 10_000_000; // 0.1 coin
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let told = reports.clone();
    let processor = PaymentProcessor::new(
        store.clone(),
        wallet.clone(),
        common::options(&pool_address, minimum, "run-a"),
    )
    .on_report(move |report| told.lock().unwrap().push(report.clone()));
    let outcome = processor.run_once().await.unwrap();
    let RunOutcome::Settled { txid, .. } = outcome else {
        panic!("expected a settled run, got {outcome:?}")
    };
    assert!(txid.is_some());
    // What the run did is reported and counted: two blocks paid, one orphaned, one payout.
    let reports = reports.lock().unwrap().clone();
    assert!(reports.contains(&payments::PaymentReport::BlockOrphaned {
        height: block3.height,
        hash: block3.hash.clone()
    }));
    assert!(reports.iter().any(|r| matches!(r,
        payments::PaymentReport::Sent { txid: sent, addresses, .. } if Some(sent) == txid.as_ref() && *addresses >= 2)));
    let counts = processor.counters().snapshot();
    assert_eq!(
        (
            counts.blocks_confirmed,
            counts.blocks_orphaned,
            counts.payments_sent
        ),
        (2, 1, 1)
    );
    // Confirm the payment so the other node counts it.
    pair.pool_node()
        .cli(&["generatetoaddress", "1", &pair.pool_node().new_address()]);
    pair.wait_for_sync();

    let (r1, r2) = (
        common::reward_of(&pair, &block1),
        common::reward_of(&pair, &block2),
    );
    let expect_a = part(r1, 3, 4) + part(r2, 999, 1000);
    let expect_b = part(r1, 1, 4);
    let keep_c = part(r2, 1, 1000);
    assert!(keep_c < minimum as u128, "c stays below the minimum");
    assert_eq!(common::received(&pair, &a), expect_a);
    assert_eq!(common::received(&pair, &b), expect_b);
    assert_eq!(common::received(&pair, &c), 0);
    assert_eq!(
        store.balances().await.unwrap(),
        BTreeMap::from([(c.clone(), Amount::from_sat(keep_c as i64))])
    );
    assert_eq!(
        store.total_paid().await.unwrap(),
        Amount::from_sat((expect_a + expect_b) as i64)
    );
    let heights = |status| {
        let store = store.clone();
        async move {
            store
                .blocks(status)
                .await
                .unwrap()
                .iter()
                .map(|b| b.height)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        heights(BlockStatus::Confirmed).await,
        [block1.height, block2.height]
    );
    assert_eq!(heights(BlockStatus::Orphaned).await, [block3.height]);
    assert_eq!(
        store.round_shares(Round::Current).await.unwrap(),
        BTreeMap::from([(d.clone(), payments::Decimal::from(5))]),
        "the orphaned round's shares are back in the current round"
    );

    // A second run with nothing new pays nobody again.
    assert_eq!(processor.run_once().await.unwrap(), RunOutcome::NothingToDo);

    // c's next round lifts it over the minimum: balance and credit are paid together. The
    // round also holds d's 5 merged back from the orphan, so c's share of it is 1 in 6.
    let block4 = common::find_block(&pair, &pool_address, &c);
    common::record_round(store.as_ref(), 4, &[(&c, 1.0)], &block4).await;
    pair.mine_on_other(100);
    assert!(matches!(
        processor.run_once().await.unwrap(),
        RunOutcome::Settled { .. }
    ));
    pair.pool_node()
        .cli(&["generatetoaddress", "1", &pair.pool_node().new_address()]);
    pair.wait_for_sync();
    let r4 = common::reward_of(&pair, &block4);
    assert_eq!(common::received(&pair, &c), keep_c + part(r4, 1, 6));
    assert_eq!(common::received(&pair, &d), part(r4, 5, 6));
    assert_eq!(
        common::received(&pair, &a),
        expect_a,
        "a was not paid twice"
    );
    assert!(store.balances().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prop_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("p.sqlite"), "bitcoin").unwrap());
    prop_pays_matured_rounds_merges_orphans_and_keeps_small_balances(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prop_on_redis() {
    let redis = RedisServer::start();
    let store = Arc::new(RedisStore::new(&redis.url(), "bitcoin").unwrap());
    prop_pays_matured_rounds_merges_orphans_and_keeps_small_balances(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pplns_and_solo_split_as_configured() {
    use payments::{Batch, Record, Scheme, ShareStore};

    let pair = RegtestPair::start();
    let pool_address = pair.pool_node().new_address();
    let [a, b, c] = std::array::from_fn(|_| pair.other_node().new_address());
    let dir = tempfile::tempdir().unwrap();
    let share = |worker: &str, difficulty: f64, time_ms: u64| Record::Share {
        worker: worker.into(),
        difficulty,
        valid: true,
        time_ms,
    };

    // PPLNS over the last 3 of difficulty: b's 2, then 1 of a's 2, across two rounds.
    let pplns = Arc::new(EmbeddedStore::open(&dir.path().join("pplns.sqlite"), "bitcoin").unwrap());
    let earlier = common::find_block(&pair, &pool_address, &a);
    let later = common::find_block(&pair, &pool_address, &b);
    let found = |block: &payments::BlockEntry, time_ms| Record::BlockFound {
        height: block.height,
        hash: block.hash.clone(),
        coinbase_txid: block.coinbase_txid.clone(),
        worker: block.worker.clone(),
        time_ms,
        network_difficulty: 6.0,
    };
    let records = vec![
        share(&a, 5.0, 1_000),
        found(&earlier, 1_500),
        share(&a, 2.0, 2_000),
        share(&b, 2.0, 3_000),
        found(&later, 3_500),
    ];
    let batch = Batch::new("t", 1, records);
    pplns.apply(&batch).await.unwrap();

    // SOLO: the finder takes the whole reward whoever else shared the round.
    let solo = Arc::new(EmbeddedStore::open(&dir.path().join("solo.sqlite"), "bitcoin").unwrap());
    let solo_block = common::find_block(&pair, &pool_address, &format!("{c}.rig"));
    common::record_round(solo.as_ref(), 1, &[(&a, 50.0), (&c, 1.0)], &solo_block).await;
    pair.mine_on_other(100);

    let wallet = common::wallet(pair.pool_node());
    let mut pplns_options = common::options(&pool_address, 0, "pplns");
    // Half the blocks' network difficulty (6): a window of 3, as MiningCore's factor.
    pplns_options.scheme = Scheme::Pplns {
        window: payments::PplnsWindow::NetworkFactor(payments::share_decimal(0.5).unwrap()),
    };
    PaymentProcessor::new(pplns.clone(), wallet.clone(), pplns_options)
        .run_once()
        .await
        .unwrap();
    let mut solo_options = common::options(&pool_address, 0, "solo");
    solo_options.scheme = Scheme::Solo;
    PaymentProcessor::new(solo.clone(), wallet, solo_options)
        .run_once()
        .await
        .unwrap();
    pair.pool_node()
        .cli(&["generatetoaddress", "1", &pair.pool_node().new_address()]);
    pair.wait_for_sync();

    // The earlier block's window holds only a's first share; the later one's b 2 and a 1.
    let (r1, r2) = (
        common::reward_of(&pair, &earlier),
        common::reward_of(&pair, &later),
    );
    assert_eq!(common::received(&pair, &a), r1 + part(r2, 1, 3));
    assert_eq!(common::received(&pair, &b), part(r2, 2, 3));
    // The run's statement says the same: per block the window, the shares and credits, and
    // what stayed with the pool (the satoshis the floors left).
    use payments::PayoutStore;
    let history = pplns.payment_history(10).await.unwrap();
    let rounds = &history[0].settlement.rounds;
    let later_round = rounds.iter().find(|r| r.hash == later.hash).unwrap();
    assert_eq!(later_round.window, Some(payments::Decimal::from(3)));
    assert_eq!(
        later_round.shares,
        std::collections::BTreeMap::from([
            (a.clone(), payments::Decimal::from(1)),
            (b.clone(), payments::Decimal::from(2)),
        ])
    );
    let credited: i64 = later_round.credits.values().map(|c| c.to_sat()).sum();
    assert_eq!(later_round.reward.to_sat() as u128, r2);
    assert_eq!(later_round.credits[&b].to_sat() as u128, part(r2, 2, 3));
    assert_eq!(
        credited + later_round.kept.to_sat(),
        later_round.reward.to_sat()
    );
    assert_eq!(
        common::received(&pair, &c),
        common::reward_of(&pair, &solo_block)
    );
}
