//! Rounds ending in real regtest blocks, for payment tests against a real wallet.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

use std::sync::Arc;
use std::time::Duration;

use coin_daemon::{Amount, DaemonEndpoint, DaemonGroup, GroupOptions};
use payments::{Batch, BlockEntry, PaymentOptions, Record, Scheme, ShareStore};
use testkit::{RegtestNode, RegtestPair};

pub(crate) fn wallet(node: &RegtestNode) -> Arc<DaemonGroup> {
    Arc::new(DaemonGroup::new(vec![node.endpoint()], GroupOptions::default()).unwrap())
}

pub(crate) fn wallet_at(port: u16, user: &str, password: &str) -> Arc<DaemonGroup> {
    let endpoint = DaemonEndpoint {
        host: "127.0.0.1".into(),
        port,
        user: user.into(),
        password: password.into(),
    };
    Arc::new(DaemonGroup::new(vec![endpoint], GroupOptions::default()).unwrap())
}

pub(crate) fn options(pool_address: &str, minimum_sats: i64, owner: &str) -> PaymentOptions {
    PaymentOptions {
        coin: "bitcoin".into(),
        pool_address: pool_address.into(),
        scheme: Scheme::Prop,
        minimum_payment: Amount::from_sat(minimum_sats),
        interval: Duration::from_secs(3600),
        lease_ttl: Duration::from_secs(2),
        owner: owner.into(),
    }
}

/// Mines one block on the pool node paying `pool_address` and returns it as the store
/// records a found block.
pub(crate) fn find_block(pair: &RegtestPair, pool_address: &str, finder: &str) -> BlockEntry {
    pair.wait_for_sync();
    let hashes = pair
        .pool_node()
        .cli(&["generatetoaddress", "1", pool_address]);
    let hash = hashes[0].as_str().unwrap().to_owned();
    let block = pair.pool_node().cli(&["getblock", &hash]);
    pair.wait_for_sync();
    BlockEntry {
        height: block["height"].as_u64().unwrap(),
        hash,
        coinbase_txid: block["tx"][0].as_str().unwrap().to_owned(),
        worker: finder.into(),
        time_ms: 1,
    }
}

/// Records `shares` (worker, difficulty) and then `block` as one writer batch.
pub(crate) async fn record_round(
    store: &dyn ShareStore,
    seq: u64,
    shares: &[(&str, f64)],
    block: &BlockEntry,
) {
    let mut records: Vec<Record> = shares
        .iter()
        .map(|(worker, difficulty)| Record::Share {
            worker: (*worker).into(),
            difficulty: *difficulty,
            valid: true,
            time_ms: 1,
        })
        .collect();
    records.push(Record::BlockFound {
        height: block.height,
        hash: block.hash.clone(),
        coinbase_txid: block.coinbase_txid.clone(),
        worker: block.worker.clone(),
        time_ms: block.time_ms,
        network_difficulty: 0.0,
    });
    let batch = Batch::new("test", seq, records);
    assert!(store.apply(&batch).await.unwrap());
}

/// The coinbase reward the pool node's wallet sees for `block`, in satoshis (read from
/// the daemon, not through the processor).
pub(crate) fn reward_of(pair: &RegtestPair, block: &BlockEntry) -> u128 {
    let tx = pair
        .pool_node()
        .cli(&["gettransaction", &block.coinbase_txid]);
    sats_of(&tx["amount"])
}

/// Satoshis from a daemon's JSON amount, by its decimal text.
pub(crate) fn sats_of(value: &serde_json::Value) -> u128 {
    let text = value.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let fraction = format!("{fraction:0<8}");
    whole.parse::<u128>().unwrap() * 100_000_000 + fraction[..8].parse::<u128>().unwrap()
}

/// What `address` (a wallet address of the other node) has received, in satoshis, with
/// at least one confirmation.
pub(crate) fn received(pair: &RegtestPair, address: &str) -> u128 {
    sats_of(
        &pair
            .other_node()
            .cli(&["getreceivedbyaddress", address, "1"]),
    )
}
