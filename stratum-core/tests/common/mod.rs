//! A pool on a regtest pair, for the end-to-end tests.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

use std::sync::Arc;
use std::time::Duration;

use coin_daemon::{DaemonGroup, GroupOptions, TemplateOptions};
use hashing::{Algorithm, Difficulty};
use stratum_core::{
    AddressAuthorizer, AddressFormat, BanOptions, CoinbaseOptions, PoolEvent, PoolOptions,
    PortOptions, RewardRecipient, RunningPool, output_script, start_pool,
};
use testkit::RegtestPair;
use tokio_util::sync::CancellationToken;

/// A share difficulty every few hashes meet (regtest's network target is easier still).
pub(crate) const EASY: f64 = 1.0 / (1u64 << 30) as f64;

/// Pool options for the pair: sha256d, one port at `difficulty`, the pool node's address
/// as pool address and a 2 % fee to `fee_address`.
pub(crate) fn options(pool_address: &str, fee_address: &str, difficulty: f64) -> PoolOptions {
    let format = AddressFormat::testnet();
    let coinbase = CoinbaseOptions {
        recipients: vec![RewardRecipient {
            script: output_script(fee_address, &format).unwrap(),
            percent: 2.0,
        }],
        signature: b"/nomp-rs test/".to_vec(),
        ..CoinbaseOptions::new(output_script(pool_address, &format).unwrap(), format)
    };
    let port = PortOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        Difficulty::new(difficulty).unwrap(),
    );
    PoolOptions {
        template: TemplateOptions {
            refresh_interval: Duration::from_millis(200),
            rebroadcast_after: Duration::from_secs(30),
        },
        connection_timeout: Duration::from_secs(60),
        ids: std::sync::Arc::new(stratum_core::IdAllocator::new(1)),
        ..PoolOptions::new(Algorithm::Sha256d, coinbase, vec![port])
    }
}

pub(crate) struct TestPool {
    pub(crate) pair: RegtestPair,
    pub(crate) pool: RunningPool,
    pub(crate) pool_address: String,
    pub(crate) fee_address: String,
    pub(crate) cancel: CancellationToken,
}

/// Starts a regtest pair and a pool on it, with `adjust` applied to the options; returns
/// once the pool has its first job.
pub(crate) async fn start(adjust: impl FnOnce(&mut PoolOptions)) -> TestPool {
    let pair = RegtestPair::start();
    let pool_address = pair.pool_node().new_address();
    let fee_address = pair.other_node().new_address();
    let mut options = options(&pool_address, &fee_address, EASY);
    adjust(&mut options);
    let daemons = Arc::new(
        DaemonGroup::new(vec![pair.pool_node().endpoint()], GroupOptions::default()).unwrap(),
    );
    let cancel = CancellationToken::new();
    let authorizer = Arc::new(AddressAuthorizer::new(AddressFormat::testnet()));
    let mut pool = start_pool(options, daemons, authorizer, cancel.clone())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), pool.jobs.wait_for(Option::is_some))
        .await
        .unwrap()
        .unwrap();
    TestPool {
        pair,
        pool,
        pool_address,
        fee_address,
        cancel,
    }
}

/// Bans after 5 shares of which half or more are invalid, for 2 s.
pub(crate) fn quick_bans() -> BanOptions {
    BanOptions {
        duration: Duration::from_secs(2),
        invalid_percent: 50.0,
        check_threshold: 5,
        purge_interval: Duration::from_secs(1),
    }
}

/// The next event matching `wanted`, within `timeout`.
pub(crate) async fn next_event(
    pool: &mut RunningPool,
    timeout: Duration,
    wanted: impl Fn(&PoolEvent) -> bool,
) -> PoolEvent {
    tokio::time::timeout(timeout, async {
        loop {
            let event = pool.events.recv().await.expect("pool stopped");
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .expect("no matching pool event in time")
}
