//! The whole road: three workers mine through a stratum-core pool on the regtest pair,
//! the share writer records rounds in the embedded store, and after the blocks mature the
//! payment processor pays each worker its PROP share to the satoshi.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashing::Algorithm;
use payments::{
    BlockStatus, EmbeddedStore, PaymentProcessor, Round, RunOutcome, ShareStore, ShareWriter,
    WriterOptions, address_of,
};
use stratum_core::{AddressAuthorizer, AddressFormat, RewardRecipient, output_script, start_pool};
use testkit::{RegtestPair, TestMiner};
use tokio_util::sync::CancellationToken;

/// Every miner shares this difficulty, so a round's shares are whole multiples of it.
const EASY: f64 = 1.0 / (1u64 << 30) as f64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_are_paid_their_prop_shares_to_the_satoshi() {
    let pair = RegtestPair::start();
    let pool_address = pair.pool_node().new_address();
    let fee_address = pair.other_node().new_address();
    let workers: Vec<String> = (0..3)
        .map(|i| format!("{}.rig{i}", pair.other_node().new_address()))
        .collect();

    let format = AddressFormat::testnet();
    let mut options = pair.pool_node().pool_options(&pool_address, EASY);
    options.coinbase.recipients = vec![RewardRecipient {
        script: output_script(&fee_address, &format).unwrap(),
        percent: 2.0,
    }];
    let daemons = pair.pool_node().daemon_group();
    let cancel = CancellationToken::new();
    let mut pool = start_pool(
        options,
        daemons,
        Arc::new(AddressAuthorizer::new(format)),
        cancel.clone(),
    )
    .await
    .unwrap();
    pool.jobs.wait_for(Option::is_some).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("s.sqlite"), "bitcoin").unwrap());
    let events = pool.take_events();
    let writer_stop = CancellationToken::new();
    let writer = ShareWriter::spawn(
        store.clone(),
        events,
        WriterOptions::new(dir.path().join("bitcoin.spool")),
        writer_stop.clone(),
    )
    .unwrap();

    // Mine until the store has at least six found blocks.
    let miners: Vec<TestMiner> = workers
        .iter()
        .map(|w| TestMiner::start(pool.ports[0], w, Algorithm::Sha256d))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while store.counts().await.unwrap().valid_blocks < 6 {
        assert!(
            Instant::now() < deadline,
            "the pool found too few blocks: {:?}; accepted per miner {:?}",
            store.counts().await.unwrap(),
            miners.iter().map(TestMiner::accepted).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(miners);
    pool.shutdown().await;
    writer_stop.cancel();
    writer.join().await.unwrap();

    // Every round as the store has it, before payment removes the paid ones.
    let pending = store.blocks(BlockStatus::Pending).await.unwrap();
    let mut rounds = BTreeMap::new();
    for block in &pending {
        let shares = store
            .round_shares(Round::Height(block.height))
            .await
            .unwrap();
        rounds.insert(block.hash.clone(), shares);
    }

    pair.mine_on_other(100);
    let processor = PaymentProcessor::new(
        store.clone(),
        common::wallet(pair.pool_node()),
        common::options(&pool_address, 0, "e2e"),
    );
    let outcome = processor.run_once().await.unwrap();
    assert!(
        matches!(outcome, RunOutcome::Settled { txid: Some(_), .. }),
        "{outcome:?}"
    );
    pair.pool_node()
        .cli(&["generatetoaddress", "1", &pair.pool_node().new_address()]);
    pair.wait_for_sync();

    // The test's own arithmetic: each matured round's reward split by share counts.
    let confirmed = store.blocks(BlockStatus::Confirmed).await.unwrap();
    assert!(confirmed.len() >= 3, "{} blocks matured", confirmed.len());
    let mut expected: BTreeMap<String, u128> = BTreeMap::new();
    let fee_script = hex::encode(output_script(&fee_address, &AddressFormat::testnet()).unwrap());
    for block in &confirmed {
        let reward = common::reward_of(&pair, block);
        let shares = &rounds[&block.hash];
        let easy = payments::share_decimal(EASY).unwrap();
        let counts: BTreeMap<&str, u128> = shares.iter().fold(BTreeMap::new(), |mut m, (w, d)| {
            let count: u128 = (*d / easy).round().to_string().parse().unwrap();
            *m.entry(address_of(w)).or_default() += count;
            m
        });
        let total: u128 = counts.values().sum();
        for (address, count) in counts {
            *expected.entry(address.to_owned()).or_default() += reward * count / total;
        }
        // The fee recipient's 2 % of the whole coinbase value is paid in the coinbase itself.
        let coinbase = pair
            .pool_node()
            .cli(&["getrawtransaction", &block.coinbase_txid, "1"]);
        let outputs: Vec<(u128, &str)> = coinbase["vout"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    common::sats_of(&o["value"]),
                    o["scriptPubKey"]["hex"].as_str().unwrap(),
                )
            })
            .collect();
        let value: u128 = outputs.iter().map(|(v, _)| v).sum();
        assert!(outputs.contains(&(value * 2 / 100, fee_script.as_str())));
        assert_eq!(
            reward,
            value - value * 2 / 100,
            "the pool output is the rest"
        );
    }
    assert!(expected.len() >= 2, "several workers shared the rounds");
    for (address, amount) in &expected {
        assert_eq!(common::received(&pair, address), *amount, "{address}");
    }
    cancel.cancel();
}
