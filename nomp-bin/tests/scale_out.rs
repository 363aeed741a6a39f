//! Several front-ends on one Redis, against the real binary on a regtest pair: distinct
//! extranonce1 values, one fenced payer that a killed or stalled payer hands over to without
//! paying anything twice, and a Redis Sentinel failover while miners mine.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]
#![allow(clippy::print_stdout, reason = "the figures are the test's report")]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{Nomp, PATIENCE, Told, get, paid_exactly_once, run_nomp, until, until_seen, write};
use hashing::Algorithm;
use payments::{BlockStatus, PayoutStore, RedisOptions, RedisStore, ShareStore};
use stratum_core::StratumClient;
use testkit::{
    Fault, RedisSentinelGroup, RedisServer, RegtestPair, Release, RpcProxy, TestMiner, free_port,
};
use tokio::runtime::Runtime;

/// A front-end's config directory for the pool paying `address` on `pair`, its shares in
/// `redis` (a config.json/pool `redis` object), its wallet reached on `wallet_port` with
/// `timeout` seconds per call; with a portal on `web`. Returns the directory and its
/// stratum port.
fn front_end(
    pair: &RegtestPair,
    redis: &str,
    address: &str,
    wallet_port: u16,
    timeout: u64,
    web: u16,
) -> (tempfile::TempDir, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let node = pair.pool_node();
    write(
        dir.path(),
        "config.json",
        &format!(
            r#"{{ "logColors": false, "cliPort": {}, "redis": {redis},
                "website": {{ "enabled": true, "host": "127.0.0.1", "port": {web},
                    "stats": {{ "updateInterval": 1, "hashrateWindow": 60 }} }} }}"#,
            free_port()
        ),
    );
    write(
        dir.path(),
        "coins/regtest.json",
        r#"{ "name": "Regtest", "symbol": "BSV", "algorithm": "sha256", "peerMagic": "dab5bffa" }"#,
    );
    write(
        dir.path(),
        "pool_configs/regtest.json",
        &format!(
            r#"{{
                "enabled": true, "coin": "regtest.json", "address": "{address}",
                "ports": {{ "{port}": {{ "diff": 0.000000001 }} }},
                "daemons": [ {{ "host": "127.0.0.1", "port": {rpc}, "user": "{user}", "password": "{password}" }} ],
                "blockRefreshInterval": 200,
                "p2p": {{ "enabled": true, "host": "127.0.0.1", "port": {p2p} }},
                "redis": {redis},
                "paymentProcessing": {{ "enabled": true, "paymentInterval": 1, "leaseTime": 10, "minimumPayment": 0,
                    "daemon": {{ "host": "127.0.0.1", "port": {wallet_port}, "user": "{user}", "password": "{password}", "timeout": {timeout} }} }}
            }}"#,
            rpc = node.rpc_port(),
            user = node.rpc_user(),
            password = node.rpc_password(),
            p2p = node.p2p_port(),
        ),
    );
    (dir, port)
}

fn miner(port: u16, worker: &str) -> TestMiner {
    TestMiner::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        worker,
        Algorithm::Sha256d,
    )
}

/// The data directory's stable id: the payer's name in its runs' ids.
fn owner(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("data/instance-id"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The instance id a front-end claimed, from its log.
fn instance_id(nomp: &Nomp) -> u8 {
    let line = nomp.wait_for_log("front-end instance id claimed");
    let (_, rest) = line.split_once("instance_id=").unwrap();
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// `count` connections to `port`, subscribed and held open, with the extranonce1 each was
/// given.
struct Held {
    _clients: Vec<StratumClient>,
    extranonce1s: Vec<Vec<u8>>,
}

fn hold_connections(runtime: &Runtime, port: u16, count: usize) -> Held {
    runtime.block_on(async {
        let mut held = Held {
            _clients: Vec::new(),
            extranonce1s: Vec::new(),
        };
        for _ in 0..count {
            let (client, _notifications) =
                StratumClient::connect(("127.0.0.1", port), Duration::from_secs(30))
                    .await
                    .unwrap();
            let subscription = client.subscribe("scale-out test").await.unwrap();
            held.extranonce1s.push(subscription.extranonce1);
            held._clients.push(client);
        }
        held
    })
}

/// Mines with a miner per `(port, worker)` until each worker has found a new block, then
/// stops them and matures the blocks; what each connection was told.
fn find_blocks_and_mature(
    runtime: &Runtime,
    pair: &RegtestPair,
    store: &RedisStore,
    miners: &[(u16, &str)],
) -> Vec<Told> {
    let found_by = |worker: &str| {
        let mut blocks = runtime
            .block_on(store.blocks(BlockStatus::Pending))
            .unwrap();
        for status in [
            BlockStatus::Confirmed,
            BlockStatus::Orphaned,
            BlockStatus::Kicked,
        ] {
            blocks.extend(runtime.block_on(store.blocks(status)).unwrap());
        }
        blocks.iter().filter(|b| b.worker == worker).count()
    };
    let before: Vec<usize> = miners.iter().map(|(_, worker)| found_by(worker)).collect();
    let running: Vec<TestMiner> = miners
        .iter()
        .map(|(port, worker)| miner(*port, worker))
        .collect();
    until_seen("each miner finds a block", || {
        let now: Vec<usize> = miners.iter().map(|(_, worker)| found_by(worker)).collect();
        let done = now.iter().zip(&before).all(|(now, before)| now > before);
        (
            done,
            format!("blocks by worker: {now:?}, before {before:?}"),
        )
    });
    let told = miners
        .iter()
        .zip(running)
        .map(|((_, worker), miner)| Told::of(worker, miner))
        .collect();
    pair.mine_on_other(101);
    told
}

/// Waits until no block is pending and no run planned.
fn until_settled(runtime: &Runtime, store: &RedisStore, payers: &[&Nomp]) {
    until_seen("every matured block paid", || {
        let pending = runtime
            .block_on(store.blocks(BlockStatus::Pending))
            .unwrap();
        let planned = runtime.block_on(store.planned()).unwrap();
        let logs: Vec<String> = payers.iter().map(|nomp| nomp.log()).collect();
        (
            pending.is_empty() && planned.is_empty(),
            format!(
                "{} pending, {} planned\n{}",
                pending.len(),
                planned.len(),
                logs.join("\n----\n")
            ),
        )
    });
}

/// The owners of the paying runs done so far, by run id.
fn payers_of_runs(runtime: &Runtime, store: &RedisStore) -> Vec<(String, String)> {
    runtime
        .block_on(store.payment_history(10_000))
        .unwrap()
        .into_iter()
        .map(|entry| {
            let id = entry.settlement.id;
            // `<coin>-<unix ms>-<owner>`.
            let owner = id.splitn(3, '-').nth(2).unwrap_or_default().to_owned();
            (id, owner)
        })
        .collect()
}

#[test]
fn two_front_ends_on_one_redis_give_out_distinct_work_and_one_fenced_payer_pays_once() {
    let pair = RegtestPair::start();
    let redis = RedisServer::start();
    let redis_json = format!(r#"{{ "host": "127.0.0.1", "port": {} }}"#, redis.port());
    // One runtime for the test: the store's connection lives on it.
    let runtime = Runtime::new().unwrap();
    let store = runtime.block_on(async { RedisStore::new(&redis.url(), "Regtest").unwrap() });
    // A's wallet calls pass a proxy that can hold one mid-run; its calls may wait long.
    let proxy = RpcProxy::start(pair.pool_node().rpc_port());
    let address = pair.pool_node().new_address();
    let (a_web, b_web) = (free_port(), free_port());
    let (a_dir, a_port) = front_end(&pair, &redis_json, &address, proxy.port(), 600, a_web);
    let wallet = pair.pool_node().rpc_port();
    let (b_dir, b_port) = front_end(&pair, &redis_json, &address, wallet, 10, b_web);

    let a = Nomp::start(a_dir.path());
    a.wait_for_log("this processor holds the payment lease");
    let mut b = Nomp::start(b_dir.path());
    let (a_id, b_id) = (instance_id(&a), instance_id(&b));
    assert_ne!(a_id, b_id);
    let (a_owner, b_owner) = (owner(a_dir.path()), owner(b_dir.path()));

    // A third front-end configured with A's id is refused at start, naming the fix.
    let (c_dir, _) = front_end(&pair, &redis_json, &address, wallet, 10, free_port());
    let config = std::fs::read_to_string(c_dir.path().join("config.json")).unwrap();
    let config = config.replacen('{', &format!(r#"{{ "instanceId": {a_id},"#), 1);
    write(c_dir.path(), "config.json", &config);
    let refused = run_nomp(c_dir.path(), &[]);
    let said = String::from_utf8_lossy(&refused.stderr).into_owned()
        + &String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains(&format!("instanceId {a_id} is held by another front-end"))
            && said.contains("give each front-end on one Redis its own instanceId"),
        "{said}"
    );

    // Live connections on both never share an extranonce1; each front-end's id tops its
    // own. A's portal counts B's connections too and lists both front-ends, live and ready.
    let on_a = hold_connections(&runtime, a_port, 20);
    let on_b = hold_connections(&runtime, b_port, 20);
    let all: Vec<&Vec<u8>> = on_a.extranonce1s.iter().chain(&on_b.extranonce1s).collect();
    let distinct: BTreeSet<&Vec<u8>> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 40, "an extranonce1 given out twice");
    assert!(on_a.extranonce1s.iter().all(|e| e[0] >> 3 == a_id));
    assert!(on_b.extranonce1s.iter().all(|e| e[0] >> 3 == b_id));
    until_seen("A's portal adds B's connections", || {
        let (_, body) = get(a_web, "/api/stats");
        let stats: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let fronts = stats["frontEnds"].as_array().cloned().unwrap_or_default();
        let live_ready = fronts
            .iter()
            .filter(|f| f["live"] == true && f["ready"] == true)
            .count();
        let connections = stats["pools"]["regtest"]["connections"].as_u64();
        (live_ready == 2 && connections == Some(40), body)
    });
    drop((on_a, on_b));
    // The front-end metrics contrib/'s alerts use: A pays, B does not, two live.
    until_seen("the front-end metrics", || {
        let metrics = |web| get(web, "/metrics").1;
        let (on_a, on_b) = (metrics(a_web), metrics(b_web));
        let served = common::FRONT_END_METRICS
            .iter()
            .all(|name| on_a.contains(name));
        let payer = on_a.contains(r#"nomp_payment_lease_held{pool="regtest"} 1"#)
            && on_b.contains(r#"nomp_payment_lease_held{pool="regtest"} 0"#);
        let live = on_a.contains(r#"nomp_front_ends{state="live"} 2"#);
        (served && payer && live, format!("{on_a}\n----\n{on_b}"))
    });

    // Miners on both find blocks; one payer (A) pays them all, once.
    let (wa, wb) = (
        pair.other_node().new_address(),
        pair.other_node().new_address(),
    );
    let before = runtime.block_on(store.counts()).unwrap().valid_shares;
    let told = find_blocks_and_mature(&runtime, &pair, &store, &[(a_port, &wa), (b_port, &wb)]);
    until_settled(&runtime, &store, &[&a, &b]);
    // Every share a miner was told is accepted is in the store once (the writers' shares
    // counter; at most the unanswered ones beyond).
    let stored = runtime.block_on(store.counts()).unwrap().valid_shares - before;
    let accepted: u64 = told.iter().map(|t| t.accepted).sum();
    let most: u64 = told
        .iter()
        .map(|t| t.accepted + t.unanswered() + t.not_recorded())
        .sum();
    assert!(
        stored >= accepted,
        "{accepted} acknowledged, {stored} stored"
    );
    assert!(stored <= most, "{stored} stored, at most {most} may be");
    let runs = payers_of_runs(&runtime, &store);
    assert!(!runs.is_empty());
    assert!(
        runs.iter().all(|(_, owner)| *owner == a_owner),
        "one payer: {runs:?} (A is {a_owner})"
    );
    let (paid_runs, transactions, coins) = paid_exactly_once(&pair, &store);
    let paid: BTreeSet<String> = runtime
        .block_on(store.payment_history(10_000))
        .unwrap()
        .iter()
        .flat_map(|e| e.settlement.payments.keys().cloned())
        .collect();
    assert!(
        paid.contains(&wa) && paid.contains(&wb),
        "both front-ends' miners paid: {paid:?}"
    );
    println!(
        "two front-ends: {accepted} shares acknowledged, {stored} stored; {paid_runs} runs, {transactions} transactions, {coins} sat, all paid by A"
    );

    // A stalls (SIGSTOP) mid-run, holding a built payout: B takes the lease over once it
    // lapses and pays; A, resumed, is fenced and writes nothing.
    proxy.set("signrawtransactionwithwallet", Fault::HoldRequest);
    find_blocks_and_mature(&runtime, &pair, &store, &[(a_port, &wa), (b_port, &wb)]);
    assert!(proxy.wait_for_held("signrawtransactionwithwallet", PATIENCE));
    a.send("STOP");
    b.wait_for_log("this processor holds the payment lease");
    until_settled(&runtime, &store, &[&b]);
    proxy.clear("signrawtransactionwithwallet");
    proxy.release("signrawtransactionwithwallet", Release::Pass);
    a.send("CONT");
    let fenced = a.wait_for_log("fenced: this processor held fence");
    assert!(fenced.contains("ERROR"), "{fenced}");
    let runs = payers_of_runs(&runtime, &store);
    assert!(
        runs.iter().any(|(_, owner)| *owner == b_owner),
        "B paid after A stalled: {runs:?}"
    );
    let (paid_runs, transactions, coins) = paid_exactly_once(&pair, &store);
    println!(
        "stalled payer: fenced; {paid_runs} runs, {transactions} transactions, {coins} sat, none twice"
    );

    // B, now the payer, is killed: A pays the next run (within an interval plus the lease).
    let takeovers = a.count_log("this processor holds the payment lease");
    b.signal("KILL");
    find_blocks_and_mature(&runtime, &pair, &store, &[(a_port, &wa)]);
    until("A takes the lease back", || {
        a.count_log("this processor holds the payment lease") > takeovers
    });
    until_settled(&runtime, &store, &[&a]);
    let runs = payers_of_runs(&runtime, &store);
    let last = runs.first().unwrap();
    assert_eq!(last.1, a_owner, "the newest run is A's: {runs:?}");
    let (paid_runs, transactions, coins) = paid_exactly_once(&pair, &store);
    println!(
        "killed payer: A took over; {paid_runs} runs, {transactions} transactions, {coins} sat, none twice"
    );
}

#[test]
fn a_redis_sentinel_failover_while_miners_mine_loses_and_doubles_no_share() {
    let pair = RegtestPair::start();
    let mut group = RedisSentinelGroup::start();
    let sentinels: Vec<String> = group
        .sentinel_ports()
        .iter()
        .map(|port| format!(r#"{{ "host": "127.0.0.1", "port": {port} }}"#))
        .collect();
    let redis_json = format!(
        r#"{{ "sentinels": [{}], "masterName": "{}" }}"#,
        sentinels.join(", "),
        group.master_name()
    );
    let address = pair.pool_node().new_address();
    let wallet = pair.pool_node().rpc_port();
    let (dir, port) = front_end(&pair, &redis_json, &address, wallet, 10, free_port());
    let mut nomp = Nomp::start(dir.path());
    let worker = pair.other_node().new_address();
    let running = miner(port, &worker);
    let runtime = Runtime::new().unwrap();
    let counts_on = |port: u16| {
        runtime.block_on(async {
            let options = RedisOptions::url(&RedisSentinelGroup::url(port));
            let store = RedisStore::with_options(&options, "Regtest").unwrap();
            store.counts().await.map(|c| c.valid_shares)
        })
    };
    let old = group.master_port().unwrap();
    until("shares reach the master", || {
        counts_on(old).is_ok_and(|n| n >= 50)
    });
    let killed = group.kill_master();
    assert_eq!(killed, old);
    let new = group.wait_for_failover(old);
    let at_failover = running.accepted();
    until_seen("shares reach the new master", || {
        let stored = counts_on(new).unwrap_or(0);
        (
            stored > at_failover + 50,
            format!("{stored} stored\n{}", nomp.log()),
        )
    });
    assert!(
        nomp.log().contains(&format!("127.0.0.1:{new}")),
        "nomp never connected to the new master:\n{}",
        nomp.log()
    );
    let told = Told::of(&worker, running);
    // A clean stop writes what the share log still holds.
    assert!(nomp.terminate().success());
    let stored = counts_on(new).unwrap();
    let most = told.accepted + told.unanswered() + told.not_recorded();
    assert!(
        stored >= told.accepted,
        "{} acknowledged, {stored} on the new master: shares lost in the failover",
        told.accepted
    );
    assert!(
        stored <= most,
        "{stored} stored, at most {most} may be: shares doubled"
    );
    println!(
        "sentinel failover {old} -> {new}: {} shares acknowledged, {stored} on the new master, 0 lost, 0 doubled",
        told.accepted
    );
}
