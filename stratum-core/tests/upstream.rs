//! Upstream mode end to end: a pool takes its work from other pools on a regtest pair,
//! its miner's blocks reach the chain through them, and it fails over when one stops.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashing::Algorithm;
use stratum_core::{
    AddressAuthorizer, AddressFormat, BlockEvent, PoolEvent, RunningPool, UpstreamOptions,
    UpstreamServer, output_script, start_pool, start_upstream_pool,
};
use testkit::{RegtestNode, TestMiner, free_port};
use tokio_util::sync::CancellationToken;

fn server(port: u16, user: &str) -> UpstreamServer {
    UpstreamServer {
        host: "127.0.0.1".into(),
        port,
        user: user.into(),
        password: "x".into(),
    }
}

/// The next block the pool reports as accepted.
async fn accepted_block(pool: &mut RunningPool) -> BlockEvent {
    let event = common::next_event(
        pool,
        Duration::from_secs(60),
        |e| matches!(e, PoolEvent::Block(block) if block.accepted),
    )
    .await;
    let PoolEvent::Block(block) = event else {
        unreachable!("matched a block")
    };
    block
}

/// Waits until `node` has block `hash` on its chain, and returns its coinbase's first
/// output script.
async fn on_chain(node: &RegtestNode, hash: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(block) = node.try_cli(&["getblock", hash]) {
            let txid = block["tx"][0].as_str().unwrap().to_owned();
            let coinbase = node.cli(&["getrawtransaction", &txid, "1"]);
            return coinbase["vout"][0]["scriptPubKey"]["hex"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "block {hash} never reached the chain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the upstream to credit a valid share to `user`.
async fn credits(pool: &mut RunningPool, user: &str) {
    common::next_event(
        pool,
        Duration::from_secs(20),
        |e| matches!(e, PoolEvent::Share(share) if share.worker == user && share.is_valid()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_found_through_upstream_pools_reach_the_chain_and_survive_a_failover() {
    // Two upstream pools on the same regtest pair, each paying its own address.
    let mut first = common::start(|_| {}).await;
    let pair = &first.pair;
    let second_address = pair.pool_node().new_address();
    let second_cancel = CancellationToken::new();
    let mut second = start_pool(
        common::options(&second_address, &first.fee_address, common::EASY),
        pair.pool_node().daemon_group(),
        Arc::new(AddressAuthorizer::new(AddressFormat::testnet())),
        second_cancel.clone(),
    )
    .await
    .unwrap();

    // The local pool: nothing listens on the first upstream port, so it starts on the
    // second entry; it has no daemon at all.
    let upstream_user = format!("{}.proxy", pair.other_node().new_address());
    let mut upstream = UpstreamOptions::new(vec![
        server(free_port(), &upstream_user),
        server(first.pool.ports[0].port(), &upstream_user),
        server(second.ports[0].port(), &upstream_user),
    ]);
    upstream.timeout = Duration::from_secs(2);
    upstream.retry_delay = Duration::from_millis(200);
    let local_address = pair.other_node().new_address();
    let local_cancel = CancellationToken::new();
    let mut local = start_upstream_pool(
        common::options(&local_address, &first.fee_address, common::EASY),
        upstream,
        None,
        Arc::new(AddressAuthorizer::new(AddressFormat::testnet())),
        local_cancel.clone(),
    )
    .await
    .unwrap();
    assert!(local.handle().is_upstream());
    assert!(local.handle().daemons().is_none());

    let height_before = pair.pool_node().block_count();
    let worker = format!("{}.rig", pair.other_node().new_address());
    let miner = TestMiner::start(local.ports[0], &worker, Algorithm::Sha256d);
    let format = AddressFormat::testnet();
    let first_script = hex::encode(output_script(&first.pool_address, &format).unwrap());
    let second_script = hex::encode(output_script(&second_address, &format).unwrap());

    // The local miner's blocks go through the first upstream: on chain, paying it.
    for _ in 0..2 {
        let block = accepted_block(&mut local).await;
        assert_eq!(block.worker, worker);
        assert!(block.height > height_before, "{block:?}");
        assert_eq!(on_chain(pair.pool_node(), &block.hash).await, first_script);
    }
    credits(&mut first.pool, &upstream_user).await;

    // The first upstream stops: the local pool moves to the next, and the same miner
    // connection goes on finding blocks, now paying the second upstream.
    first.cancel.cancel();
    let block = loop {
        let block = accepted_block(&mut local).await;
        if on_chain(pair.pool_node(), &block.hash).await == second_script {
            break block;
        }
    };
    assert_eq!(block.worker, worker);
    credits(&mut second, &upstream_user).await;
    let counters = local.handle().counters();
    assert!(counters.upstream_accepted >= 3, "{counters:?}");
    assert!(miner.accepted() >= 3);
    assert_eq!(counters.connections, 1, "the miner never reconnected");

    drop(miner);
    local_cancel.cancel();
    second_cancel.cancel();
}
