//! End to end: a test miner mines through the pool on a regtest pair and finds blocks; a
//! switch moves miners between pools that share an id allocator.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use hashing::{Algorithm, Difficulty};
use serde_json::Value;
use stratum_core::{
    AddressFormat, IdAllocator, PoolError, PoolEvent, PortOptions, SwitchOptions, SwitchTarget,
    key_hash_credit, output_script, start_switch,
};
use testkit::TestMiner;
use tokio_util::sync::CancellationToken;

/// Satoshis from a JSON amount in coins (test-side arithmetic, independent of the pool).
fn sats(value: &Value) -> u64 {
    (value.as_f64().unwrap() * 1e8).round() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_finds_blocks_that_pay_the_pool_and_its_fee_recipient() {
    let mut pool = common::start(|_| {}).await;
    let start_height = pool.pair.pool_node().block_count();
    let worker = format!("{}.rig1", pool.pair.other_node().new_address());
    let miner = TestMiner::start(pool.pool.ports[0], &worker, Algorithm::Sha256d);

    let mut accepted = Vec::new();
    while accepted.len() < 3 {
        let event = common::next_event(
            &mut pool.pool,
            Duration::from_secs(60),
            |e| matches!(e, PoolEvent::Block(block) if block.accepted),
        )
        .await;
        if let PoolEvent::Block(block) = event {
            assert_eq!(block.worker, worker);
            accepted.push(block);
        }
    }
    assert!(miner.accepted() >= 3);
    assert!(
        pool.pair.pool_node().block_count() >= start_height + 3,
        "the chain grew"
    );

    let format = AddressFormat::testnet();
    let pool_script = hex::encode(output_script(&pool.pool_address, &format).unwrap());
    let fee_script = hex::encode(output_script(&pool.fee_address, &format).unwrap());
    for block in &accepted {
        let info = pool
            .pair
            .pool_node()
            .cli(&["getblock", &block.hash.to_string()]);
        assert_eq!(info["height"], block.height);
        assert_eq!(info["tx"][0], block.coinbase_txid.to_string());
        let coinbase = pool.pair.pool_node().cli(&[
            "getrawtransaction",
            &block.coinbase_txid.to_string(),
            "1",
        ]);
        let outputs: Vec<(u64, String)> = coinbase["vout"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    sats(&o["value"]),
                    o["scriptPubKey"]["hex"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        // Regtest reward below height 150: 50 coins, no fees in these blocks.
        let reward = 5_000_000_000u64;
        let fee = reward * 2 / 100;
        assert_eq!(
            outputs,
            vec![
                (reward - fee, pool_script.clone()),
                (fee, fee_script.clone())
            ]
        );
    }
    drop(miner);
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_share_is_reported_with_worker_and_difficulty() {
    let mut pool = common::start(|_| {}).await;
    let worker = pool.pair.other_node().new_address();
    let miner = TestMiner::start(pool.pool.ports[0], &worker, Algorithm::Sha256d);
    // On regtest the first share is a block; its event comes with the daemon's verdict,
    // so later plain shares may be reported first.
    let event = common::next_event(
        &mut pool.pool,
        Duration::from_secs(30),
        |e| matches!(e, PoolEvent::Share(share) if share.block_hash.is_some()),
    )
    .await;
    let PoolEvent::Share(share) = event else {
        unreachable!()
    };
    assert!(share.is_valid(), "{share:?}");
    assert_eq!(share.worker, worker);
    assert_eq!(share.difficulty.get(), common::EASY);
    assert!(share.share_difficulty.unwrap().get() >= common::EASY);
    assert_eq!(share.ip.to_string(), "127.0.0.1");
    assert_eq!(share.port, pool.pool.ports[0].port());
    assert!(share.height >= 102);
    // The block's own event carries the same verdict.
    let event = common::next_event(&mut pool.pool, Duration::from_secs(30), |e| {
        matches!(e, PoolEvent::Block(_))
    })
    .await;
    let PoolEvent::Block(block) = event else {
        unreachable!()
    };
    assert_eq!(Some(&block.hash), share.block_hash.as_ref());
    assert_eq!(block.accepted, share.block_accepted, "{block:?}");
    drop(miner);
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vardiff_retarget_is_reported_for_the_worker() {
    let mut pool = common::start(|o| {
        o.ports[0].vardiff = Some(stratum_core::VardiffOptions {
            // Shares come far slower than one per 10 µs: vardiff lowers the difficulty
            // (raising it is capped by regtest's network difficulty, below EASY).
            target_time: 0.000_01,
            retarget_time: 1.0,
            variance_percent: 30.0,
            min_diff: common::EASY / 4.0,
            max_diff: 1.0,
            x2_mode: false,
        });
    })
    .await;
    let worker = pool.pair.other_node().new_address();
    let miner = TestMiner::start(pool.pool.ports[0], &worker, Algorithm::Sha256d);
    let event = common::next_event(&mut pool.pool, Duration::from_secs(30), |e| {
        matches!(e, PoolEvent::Difficulty(_))
    })
    .await;
    let PoolEvent::Difficulty(change) = event else {
        unreachable!()
    };
    assert_eq!(change.worker, worker);
    assert!(change.difficulty.get() < common::EASY, "{change:?}");
    drop(miner);
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_an_invalid_address_is_not_authorised() {
    let pool = common::start(|_| {}).await;
    let miner = TestMiner::start(pool.pool.ports[0], "not-an-address.rig", Algorithm::Sha256d);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!miner.authorized());
    assert_eq!(miner.accepted(), 0);
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_decides_which_worker_addresses_are_valid() {
    use std::sync::Arc;
    use stratum_core::{Authorizer, DaemonAddressAuthorizer};

    let pool = common::start(|_| {}).await;
    let daemons = Arc::new(
        coin_daemon::DaemonGroup::new(
            vec![pool.pair.pool_node().endpoint()],
            coin_daemon::GroupOptions::default(),
        )
        .unwrap(),
    );
    let auth = DaemonAddressAuthorizer::new(daemons);
    let ip = "127.0.0.1".parse().unwrap();
    let address = pool.pair.other_node().new_address();
    assert!(auth.authorize(&format!("{address}.rig"), "x", ip).await);
    assert!(auth.authorize(&address, "x", ip).await);
    assert!(!auth.authorize("1NotAnAddressAtAll.rig", "x", ip).await);
    assert!(!auth.authorize(".rig", "x", ip).await);
    pool.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_moves_miners_only_between_pools_sharing_an_id_allocator() {
    let ids = Arc::new(IdAllocator::new(0));
    let first = common::start(|options| options.ids = ids.clone()).await;
    let sharing = common::start(|options| options.ids = ids.clone()).await;
    let apart = common::start(|_| {}).await;
    let target = |name: &str, pool: &common::TestPool| SwitchTarget {
        name: name.to_owned(),
        handle: pool.pool.handle(),
        credit: key_hash_credit(AddressFormat::testnet()),
    };
    let options = SwitchOptions {
        name: "sha256".into(),
        ports: vec![PortOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            Difficulty::new(common::EASY).unwrap(),
        )],
        proxy_protocol: false,
    };
    let switch = start_switch(options, target("first", &first), CancellationToken::new())
        .await
        .unwrap();
    switch.switch_to(target("sharing", &sharing)).unwrap();
    assert_eq!(switch.current(), "sharing");
    let refused = switch.switch_to(target("apart", &apart)).unwrap_err();
    assert!(
        matches!(&refused, PoolError::SeparateIds { pool } if pool == "apart"),
        "{refused}"
    );
    assert_eq!(switch.current(), "sharing", "a refused switch stays put");
    switch.shutdown().await;
}
