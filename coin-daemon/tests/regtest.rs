//! coin-daemon against a real Bitcoin SV regtest pair (testkit).

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coin_daemon::{
    Amount, DaemonEndpoint, DaemonError, DaemonGroup, GroupOptions, P2pOptions, SubmitOutcome,
    TemplateOptions, TemplateSource, TemplateUpdate, Trigger, TxCategory, WakeSource,
    spawn_block_notify, spawn_zmq_block_notify,
};
use testkit::{RegtestNode, RegtestPair};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Regtest network magic (pchMessageStart), wire order.
const REGTEST_MAGIC: [u8; 4] = [0xda, 0xb5, 0xbf, 0xfa];

fn group_of(endpoints: Vec<DaemonEndpoint>) -> Arc<DaemonGroup> {
    let options = GroupOptions {
        call_timeout: Duration::from_secs(10),
        min_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(1),
    };
    Arc::new(DaemonGroup::new(endpoints, options).unwrap())
}

/// Waits for the next published template that satisfies `wanted`.
async fn next_update(
    updates: &mut watch::Receiver<Option<TemplateUpdate>>,
    within: Duration,
    wanted: impl Fn(&TemplateUpdate) -> bool,
) -> TemplateUpdate {
    tokio::time::timeout(within, async {
        loop {
            if let Some(update) = updates.borrow_and_update().clone()
                && wanted(&update)
            {
                return update;
            }
            updates.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no matching template within {within:?}"))
}

/// A running template source on `node` and the first template it published.
struct Source {
    source: TemplateSource,
    updates: watch::Receiver<Option<TemplateUpdate>>,
    cancel: CancellationToken,
    first: TemplateUpdate,
}

async fn start_source(node: &RegtestNode, refresh: Duration, rebroadcast: Duration) -> Source {
    let options = TemplateOptions {
        refresh_interval: refresh,
        rebroadcast_after: rebroadcast,
    };
    let cancel = CancellationToken::new();
    let source = TemplateSource::spawn(group_of(vec![node.endpoint()]), options, cancel.clone());
    let mut updates = source.updates.clone();
    let first = next_update(&mut updates, Duration::from_secs(10), |_| true).await;
    Source {
        source,
        updates,
        cancel,
        first,
    }
}

/// Mines a block on the other node and returns the template for it with how long it took.
async fn template_after_block(
    pair: &RegtestPair,
    source: &mut Source,
) -> (TemplateUpdate, Duration) {
    let height = source.first.template.height + 1;
    let started = Instant::now();
    pair.mine_on_other(1);
    let update = next_update(&mut source.updates, Duration::from_secs(10), |u| {
        u.template.height == height
    })
    .await;
    (update, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_template_is_fetched_and_decoded() {
    let pair = RegtestPair::start();
    let daemons = group_of(vec![pair.pool_node().endpoint()]);
    let template = daemons.get_block_template().await.unwrap();
    assert_eq!(template.height, 102);
    assert_eq!(
        template.previous_block_hash.to_string(),
        daemons.get_best_block_hash().await.unwrap()
    );
    assert_eq!(template.bits.to_string(), "207fffff");
    assert_eq!(
        template.target,
        "7fffff0000000000000000000000000000000000000000000000000000000000"
    );
    assert_eq!(
        template.coinbase_value, 5_000_000_000,
        "50 coins: regtest halves at 150"
    );
    assert!(template.cur_time >= template.min_time.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_publishes_a_new_block_within_one_interval() {
    let pair = RegtestPair::start();
    let interval = Duration::from_millis(300);
    let mut source = start_source(pair.pool_node(), interval, Duration::from_secs(60)).await;
    assert_eq!(
        (source.first.trigger, source.first.new_block),
        (Trigger::Initial, true)
    );
    assert_eq!(source.first.template.height, 102);

    let (next, waited) = template_after_block(&pair, &mut source).await;
    assert_eq!(next.trigger, Trigger::Poll);
    assert!(next.new_block);
    assert_eq!(
        next.template.previous_block_hash.to_string(),
        pair.pool_node().cli(&["getbestblockhash"])
    );
    // Mining and syncing the pair takes part of the wait; one interval plus slack bounds it.
    assert!(
        waited <= interval + Duration::from_secs(1),
        "took {waited:?}"
    );
    source.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2p_block_announcement_wakes_the_source_long_before_the_poll() {
    let pair = RegtestPair::start();
    let pool = pair.pool_node();
    // A poll this slow cannot be what finds the block in this test.
    let mut source = start_source(pool, Duration::from_secs(120), Duration::from_secs(600)).await;
    let p2p = P2pOptions {
        host: "127.0.0.1".into(),
        port: pool.p2p_port(),
        magic: REGTEST_MAGIC,
        relay_transactions: false,
    };
    spawn_block_notify(p2p, source.source.waker.clone(), source.cancel.clone());

    // Wait until the daemon lists us as a peer, so the announcement has somewhere to go.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pool.cli(&["getpeerinfo"]).to_string().contains("nomp-rs") {
        assert!(Instant::now() < deadline, "the P2P peer never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (update, waited) = template_after_block(&pair, &mut source).await;
    assert_eq!(update.trigger, Trigger::Wake(WakeSource::P2p));
    assert!(waited < Duration::from_secs(5), "took {waited:?}");
    source.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zmq_hashblock_wakes_the_source_long_before_the_poll() {
    let pair = RegtestPair::start();
    let pool = pair.pool_node();
    let mut source = start_source(pool, Duration::from_secs(120), Duration::from_secs(600)).await;
    spawn_zmq_block_notify(
        pool.zmq_hashblock(),
        source.source.waker.clone(),
        source.cancel.clone(),
    );
    // The subscription must be in place before a block, or its message goes nowhere: mine
    // until a block's template comes from a ZMQ wake-up (a poll this slow finds none).
    let first = source.first.template.height;
    let mut woken = None;
    for height in first + 1..=first + 20 {
        let started = Instant::now();
        pair.mine_on_other(1);
        let update = next_update(&mut source.updates, Duration::from_secs(5), |u| {
            u.template.height == height
        })
        .await;
        if update.trigger == Trigger::Wake(WakeSource::Zmq) {
            woken = Some(started.elapsed());
            break;
        }
    }
    let waited = woken.expect("no block's template came from a ZMQ wake-up");
    assert!(waited < Duration::from_secs(5), "took {waited:?}");
    source.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitblock_gives_back_the_daemons_reason() {
    let pair = RegtestPair::start();
    let daemons = group_of(vec![
        pair.pool_node().endpoint(),
        pair.other_node().endpoint(),
    ]);

    let malformed = daemons.submit_block("00").await;
    assert_eq!(malformed.len(), 2);
    for outcome in malformed {
        match outcome.unwrap() {
            SubmitOutcome::Rejected { reason } => assert!(reason.contains("decode"), "{reason}"),
            SubmitOutcome::Accepted => panic!("a malformed block was accepted"),
        }
    }

    // A block the chain already has: stale for a pool, and the daemon says so.
    let best = daemons.get_best_block_hash().await.unwrap();
    let raw = pair.pool_node().cli(&["getblock", &best, "0"]);
    let outcomes = daemons.submit_block(raw.as_str().unwrap()).await;
    for outcome in outcomes {
        assert_eq!(
            outcome.unwrap(),
            SubmitOutcome::Rejected {
                reason: "duplicate".into()
            }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_over_to_the_next_daemon_and_return_when_it_is_back() {
    let mut pair = RegtestPair::start();
    let daemons = group_of(vec![
        pair.pool_node().endpoint(),
        pair.other_node().endpoint(),
    ]);
    let first = daemons
        .call_traced::<u64>("getblockcount", &[(); 0])
        .await
        .unwrap();
    assert_eq!((first.daemon, first.value), (0, 101));

    pair.node_mut(0).kill();
    for _ in 0..3 {
        let answer = daemons
            .call_traced::<u64>("getblockcount", &[(); 0])
            .await
            .unwrap();
        assert_eq!(answer.daemon, 1, "served by the surviving daemon");
    }
    assert!(!daemons.health()[0].up);
    assert!(daemons.health()[1].up);

    pair.node_mut(0).start_again();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = daemons
            .call_traced::<u64>("getblockcount", &[(); 0])
            .await
            .unwrap();
        if answer.daemon == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted daemon was never used again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(daemons.health().iter().all(|h| h.up));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_down_at_start_up_does_not_stop_the_group() {
    let pair = RegtestPair::start();
    let nothing_listens = DaemonEndpoint {
        port: testkit::free_port(),
        ..pair.pool_node().endpoint()
    };
    let daemons = group_of(vec![nothing_listens, pair.pool_node().endpoint()]);
    let answer = daemons
        .call_traced::<u64>("getblockcount", &[(); 0])
        .await
        .unwrap();
    assert_eq!(answer.daemon, 1);
    let health = daemons.health();
    assert!(!health[0].up && health[0].failures >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_rpc_password_is_reported_as_such() {
    let pair = RegtestPair::start();
    let wrong = DaemonEndpoint {
        password: "not-the-password".into(),
        ..pair.pool_node().endpoint()
    };
    let error = group_of(vec![wrong])
        .get_best_block_hash()
        .await
        .unwrap_err();
    assert!(
        matches!(error, DaemonError::Http { status: 401, .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("RPC user name or password"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendmany_pays_two_addresses_and_gettransaction_shows_it() {
    let pair = RegtestPair::start();
    let wallet = group_of(vec![pair.pool_node().endpoint()]);
    let (a, b) = (
        pair.other_node().new_address(),
        pair.other_node().new_address(),
    );
    let balance_before = wallet.get_balance().await.unwrap();
    assert!(!wallet.list_unspent().await.unwrap().is_empty());

    let mut amounts = BTreeMap::new();
    amounts.insert(a.clone(), Amount::from_sat(150_000_000));
    amounts.insert(b.clone(), Amount::from_sat(25_000_001));
    let txid = wallet
        .send_many(&amounts, "nomp payment batch 7")
        .await
        .unwrap();

    let tx = wallet.get_transaction(&txid).await.unwrap();
    assert_eq!(tx.txid, txid);
    assert_eq!(tx.comment.as_deref(), Some("nomp payment batch 7"));
    for (address, amount) in &amounts {
        let detail = tx
            .details
            .iter()
            .find(|d| d.address.as_ref() == Some(address) && d.category == TxCategory::Send)
            .unwrap_or_else(|| panic!("no send to {address} in {:?}", tx.details));
        assert_eq!(detail.amount, Amount::from_sat(-amount.to_sat()));
    }
    let listed = wallet.list_transactions(10, 0).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|t| t.txid == txid && t.comment.as_deref() == Some("nomp payment batch 7"))
    );
    let spent = balance_before.to_sat() - wallet.get_balance().await.unwrap().to_sat();
    assert!(spent >= 175_000_001, "balance fell by {spent}");

    // The other node's wallet sees the incoming payment once it is mined. The block is
    // mined where the transaction is (transaction relay between the nodes is delayed).
    pair.pool_node()
        .cli(&["generatetoaddress", "1", &pair.pool_node().new_address()]);
    pair.wait_for_sync();
    let receiver = group_of(vec![pair.other_node().endpoint()]);
    let received = receiver.get_transaction(&txid).await.unwrap();
    assert!(
        received
            .details
            .iter()
            .any(|d| d.category == TxCategory::Receive
                && d.address.as_deref() == Some(a.as_str())
                && d.amount == Amount::from_sat(150_000_000))
    );
    assert!(received.confirmations >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validateaddress_tells_valid_from_invalid() {
    let pair = RegtestPair::start();
    let daemons = group_of(vec![pair.pool_node().endpoint()]);
    let mine = pair.pool_node().new_address();
    let valid = daemons.validate_address(&mine).await.unwrap();
    assert!(valid.is_valid);
    assert_eq!(valid.address.as_deref(), Some(mine.as_str()));
    assert_eq!(valid.is_mine, Some(true));
    let invalid = daemons
        .validate_address("1NotAnAddressAtAll")
        .await
        .unwrap();
    assert!(!invalid.is_valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coinbase_category_moves_from_immature_to_generate() {
    let pair = RegtestPair::start();
    let pool = pair.pool_node();
    let daemons = group_of(vec![pool.endpoint()]);
    let hash = pool.cli(&["generatetoaddress", "1", &pool.new_address()])[0]
        .as_str()
        .unwrap()
        .to_owned();
    let block = daemons.get_block(&hash).await.unwrap();
    assert_eq!(block.height, 102);
    assert_eq!(block.confirmations, 1);
    let coinbase = &block.tx[0];
    let immature = daemons.get_transaction(coinbase).await.unwrap();
    assert_eq!(immature.details[0].category, TxCategory::Immature);
    pair.mine_on_other(100);
    // The wallet catches up with the chain a moment after the tip moves.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mature = loop {
        let tx = daemons.get_transaction(coinbase).await.unwrap();
        if tx.details[0].category == TxCategory::Generate || Instant::now() > deadline {
            break tx;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mature.details[0].category, TxCategory::Generate);
    assert_eq!(mature.details[0].amount, Amount::from_sat(5_000_000_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_block_is_republished_after_the_rebroadcast_timeout() {
    let pair = RegtestPair::start();
    let mut source = start_source(
        pair.pool_node(),
        Duration::from_millis(200),
        Duration::from_secs(1),
    )
    .await;
    let first = source.first.clone();
    // Polls in between find the same block and publish nothing.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        source.updates.borrow().as_ref().unwrap().fetched_at,
        first.fetched_at
    );

    let refreshed = next_update(&mut source.updates, Duration::from_secs(5), |u| {
        u.fetched_at != first.fetched_at
    })
    .await;
    assert_eq!(refreshed.trigger, Trigger::Rebroadcast);
    assert!(!refreshed.new_block);
    assert_eq!(
        refreshed.template.previous_block_hash,
        first.template.previous_block_hash
    );
    let gap = refreshed.fetched_at - first.fetched_at;
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_millis(1600),
        "{gap:?}"
    );
    source.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocknotify_wake_fetches_at_once() {
    let pair = RegtestPair::start();
    let mut source = start_source(
        pair.pool_node(),
        Duration::from_secs(120),
        Duration::from_secs(600),
    )
    .await;
    let height = source.first.template.height + 1;
    pair.mine_on_other(1);
    let woken = Instant::now();
    assert!(source.source.waker.wake(WakeSource::BlockNotify));
    let update = next_update(&mut source.updates, Duration::from_secs(5), |u| {
        u.template.height == height
    })
    .await;
    assert_eq!(update.trigger, Trigger::Wake(WakeSource::BlockNotify));
    assert!(
        woken.elapsed() < Duration::from_secs(2),
        "took {:?}",
        woken.elapsed()
    );

    source.cancel.cancel();
    source.source.task.await.unwrap();
    assert!(
        !source.source.waker.wake(WakeSource::Manual),
        "a stopped source refuses wake-ups"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_is_built_signed_and_broadcast_once_whatever_the_repeats() {
    let pair = RegtestPair::start();
    let wallet = group_of(vec![pair.pool_node().endpoint()]);
    assert!(wallet.missing_payment_calls().await.unwrap().is_empty());
    let address = pair.other_node().new_address();
    let amounts = BTreeMap::from([(address.clone(), Amount::from_sat(123_456_789))]);
    let built = wallet.build_payment(&amounts).await.unwrap();
    assert_eq!(built.txid.len(), 64);
    assert!(!built.inputs.is_empty() && built.fee > Amount::ZERO);
    // Built, not sent: the wallet does not know it and its inputs are unspent.
    assert_eq!(
        wallet
            .get_transaction(&built.txid)
            .await
            .unwrap_err()
            .rpc_code(),
        Some(-5)
    );
    for input in &built.inputs {
        assert!(wallet.is_unspent(input).await.unwrap());
    }
    // Broadcast twice (an answer lost, then the retry): one transaction.
    for _ in 0..2 {
        assert_eq!(
            wallet.broadcast(&built.hex).await.unwrap(),
            coin_daemon::BroadcastOutcome::Accepted
        );
    }
    assert_eq!(
        wallet
            .get_transaction(&built.txid)
            .await
            .unwrap()
            .confirmations,
        0
    );
    assert!(
        !wallet.is_unspent(&built.inputs[0]).await.unwrap(),
        "spent in the mempool"
    );
    // A second payout built now spends other coins; garbage is refused for good.
    let refused = wallet.broadcast("00").await;
    assert!(
        matches!(refused, Err(DaemonError::Rpc { code: -22, .. })),
        "{refused:?}"
    );
    pair.pool_node()
        .cli(&["generatetoaddress", "1", &pair.pool_node().new_address()]);
    pair.wait_for_sync();
    assert_eq!(
        wallet.broadcast(&built.hex).await.unwrap(),
        coin_daemon::BroadcastOutcome::Accepted,
        "already in the chain"
    );
    let received = pair
        .other_node()
        .cli(&["getreceivedbyaddress", &address, "1"]);
    assert_eq!(received.to_string(), "1.23456789");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_block_counts_only_synced_daemons_and_says_which_cannot_tell() {
    let pair = RegtestPair::start();
    let unreachable = DaemonEndpoint {
        host: "127.0.0.1".into(),
        port: testkit::free_port(),
        user: "u".into(),
        password: "p".into(),
    };
    let daemons = group_of(vec![unreachable, pair.pool_node().endpoint()]);
    let tip = pair.pool_node().block_count();
    let hash = pair.mine_on_other(1).remove(0).parse().unwrap();
    let seen = daemons.find_block(&hash, tip + 1).await;
    assert!(
        matches!(seen[0], coin_daemon::BlockPresence::Unknown(_)),
        "{seen:?}"
    );
    assert_eq!(seen[1], coin_daemon::BlockPresence::MainChain);
    let made_up = format!("{:064x}", 7).parse().unwrap();
    let seen = daemons.find_block(&made_up, tip + 2).await;
    assert_eq!(seen[1], coin_daemon::BlockPresence::Absent);
    // A daemon whose chain does not reach the block's parent cannot tell.
    let seen = daemons.find_block(&made_up, tip + 50).await;
    match &seen[1] {
        coin_daemon::BlockPresence::Unknown(why) => assert!(why.contains("behind"), "{why}"),
        other => panic!("a daemon behind the block said {other:?}"),
    }
}
