//! Fault injection against the real `nomp` binary on a regtest pair: a full data disk,
//! kill -9 at random moments, a slow, lossy or failing wallet, SIGKILL at each step of a
//! payment run, a same-height block and an orphan. Each test counts what miners were told
//! against what the store holds, and what the journal says was paid against what the
//! wallet sent, and prints the figures.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]
#![allow(clippy::print_stdout, reason = "the figures are the test's report")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    Nomp, PATIENCE, Receiver, Told, account, config_dir, get, paid_exactly_once, run_nomp, until,
    until_seen, write,
};
use hashing::Algorithm;
use payments::{EmbeddedStore, PayoutStore, ShareStore};
use testkit::{Fault, RegtestPair, Release, RpcProxy, SmallDisk, TestMiner, free_port};

/// Pool settings for mining on the pair: fast templates, blocks heard over P2P.
fn fast(pair: &RegtestPair) -> String {
    format!(
        r#", "blockRefreshInterval": 200, "p2p": {{ "enabled": true, "host": "127.0.0.1", "port": {} }}"#,
        pair.pool_node().p2p_port()
    )
}

fn miner(port: u16, worker: &str) -> TestMiner {
    TestMiner::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        worker,
        Algorithm::Sha256d,
    )
}

/// Valid shares the store holds per worker, one hashrate sample each.
fn stored_per_worker(store: &EmbeddedStore) -> BTreeMap<String, u64> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let samples = runtime.block_on(store.hashrate_since(0)).unwrap();
    let mut counts = BTreeMap::new();
    for sample in samples.iter().filter(|s| s.difficulty > 0.0) {
        *counts.entry(sample.worker.clone()).or_default() += 1;
    }
    counts
}

/// A number from the clock, for random moments (printed, so a failure can be replayed).
fn seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// xorshift: the next pseudo-random number.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn store_in(data: &Path, coin: &str) -> EmbeddedStore {
    EmbeddedStore::open(&data.join("nomp.sqlite"), coin).unwrap()
}

#[test]
fn a_full_data_disk_for_a_minute_loses_no_acknowledged_share_and_recovers_by_itself() {
    let pair = RegtestPair::start();
    let mut disk = SmallDisk::mount(64 * 1024 * 1024);
    let (held_port, durable_port, web) = (free_port(), free_port(), free_port());
    let fast = fast(&pair);
    let dir = config_dir(
        pair.pool_node(),
        free_port(),
        &[
            // Acknowledged when taken: held in memory while nothing can be written, refused
            // at the bound.
            (
                "Held",
                held_port,
                format!(r#"{fast}, "durableAck": false, "shareMemoryLimit": 2000"#),
            ),
            // Acknowledged once durable (the default): refused when nothing durable is left.
            ("Durable", durable_port, fast.clone()),
        ],
    );
    let (hooks, told) = Receiver::start();
    write(
        dir.path(),
        "config.json",
        &format!(
            r#"{{ "logColors": false, "cliPort": {}, "website": {{ "enabled": true, "host": "127.0.0.1", "port": {web},
                 "stats": {{ "updateInterval": 1 }} }}, {} }}"#,
            free_port(),
            Receiver::webhook_config(hooks)
        ),
    );
    let data = disk.path();
    let mut nomp = Nomp::start_with(dir.path(), &["--data-dir", data.to_str().unwrap()]);
    let address = pair.other_node().new_address();
    let workers = [format!("{address}.held"), format!("{address}.durable")];
    let miners = [held_port, durable_port].map(|port| {
        let worker = if port == held_port {
            &workers[0]
        } else {
            &workers[1]
        };
        miner(port, worker)
    });
    for miner in &miners {
        assert!(miner.wait_for_accepted(20, PATIENCE));
    }
    assert_eq!(get(web, "/ready").0, 200);
    let check = || run_nomp(dir.path(), &["check"]);
    let ready = check();
    assert_eq!(ready.status.code(), Some(0), "{ready:?}");

    disk.fill();
    let full = Instant::now();
    // Loud: an ERROR, a not-ready state naming the cause, the metric.
    nomp.wait_for_log("shares are held in memory only");
    until("/ready says why it is not ready", || {
        let (status, body) = get(web, "/ready");
        status == 503 && body.contains("No space left on device")
    });
    let not_ready = check();
    let said = String::from_utf8_lossy(&not_ready.stdout);
    assert_eq!(
        not_ready.status.code(),
        Some(1),
        "nomp check: {not_ready:?}"
    );
    assert!(said.contains("No space left on device"), "{said}");
    until_seen("the failing metric", || {
        let metrics = get(web, "/metrics").1;
        (
            metrics.contains(r#"nomp_share_writer_failing{pool="held"} 1"#),
            metrics,
        )
    });
    // And the miners are told why, rather than acknowledged for what cannot be kept.
    until_seen("both miners are refused, naming the cause", || {
        let rejections: Vec<_> = miners.iter().map(TestMiner::rejections).collect();
        let told = rejections.iter().all(|seen| {
            seen.keys().any(|message| {
                message.starts_with("share not recorded")
                    && message.contains("No space left on device")
            })
        });
        (told, format!("{rejections:?}"))
    });
    // The disk stays full for a minute, as an operator might take to notice.
    std::thread::sleep(Duration::from_secs(60).saturating_sub(full.elapsed()));
    let accepted_while_full: Vec<u64> = miners.iter().map(TestMiner::accepted).collect();
    disk.free();

    // Back by itself: no reload, no restart.
    until("ready again", || get(web, "/ready").0 == 200);
    until_seen("the failure and the recovery told", || {
        let bodies = told.bodies("/hook");
        let said = |kind: &str| {
            bodies.iter().any(|b| {
                b.contains(&format!(r#""event":"{kind}""#)) && b.contains(r#""pool":"held""#)
            })
        };
        (
            said("share_writer_failing") && said("share_writer_recovered"),
            bodies.join("\n"),
        )
    });
    assert_eq!(check().status.code(), Some(0));
    let before: Vec<u64> = miners.iter().map(TestMiner::accepted).collect();
    for (miner, before) in miners.iter().zip(&before) {
        assert!(miner.wait_for_accepted(before + 20, PATIENCE));
    }
    let told: Vec<Told> = workers
        .iter()
        .zip(miners)
        .map(|(worker, miner)| Told::of(worker, miner))
        .collect();
    let status = nomp.terminate();
    assert!(status.success(), "{status:?}\n{}", nomp.log());
    assert!(nomp.log().contains("share writer recovered"));
    // Shown if an assertion below fails: what the share writers said.
    for line in nomp
        .log()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        println!("{line}");
    }

    for (connection, coin) in told.iter().zip(["Held", "Durable"]) {
        // The stores key by coin name; pools are named after their (lower-case) coin file.
        let stored = stored_per_worker(&store_in(&data, coin));
        let (acknowledged, kept, sent) = account(std::slice::from_ref(connection), &stored);
        println!(
            "disk full 60 s, pool {coin}: {sent} shares sent, {acknowledged} acknowledged, {kept} stored, \
             {} refused as not recorded, 0 acknowledged shares lost",
            connection.not_recorded()
        );
        assert!(connection.not_recorded() > 0);
    }
    assert!(accepted_while_full[0] > 0);
}

#[test]
fn kill_9_at_random_moments_with_durable_acks_loses_and_doubles_nothing() {
    let pair = RegtestPair::start();
    let port = free_port();
    let dir = config_dir(
        pair.pool_node(),
        free_port(),
        &[("Regtest", port, fast(&pair))],
    );
    let mut nomp = Nomp::start(dir.path());
    let address = pair.other_node().new_address();
    let mut random = seed() | 1;
    println!("kill -9 moments from seed {random}");
    let mut told = Vec::new();
    for cycle in 0..10 {
        let workers = [
            format!("{address}.c{cycle}a"),
            format!("{address}.c{cycle}b"),
        ];
        let miners: Vec<TestMiner> = workers.iter().map(|w| miner(port, w)).collect();
        for miner in &miners {
            assert!(miner.wait_for_accepted(3, PATIENCE));
        }
        std::thread::sleep(Duration::from_millis(next(&mut random) % 500));
        nomp.signal("KILL");
        until("the miners see the pool gone", || {
            miners.iter().all(|m| !m.is_running())
        });
        told.extend(
            workers
                .iter()
                .zip(miners)
                .map(|(worker, miner)| Told::of(worker, miner)),
        );
        nomp = nomp.restart();
    }
    // The last start replayed what the last kill left in the share log; a clean stop
    // writes everything.
    assert!(nomp.terminate().success());
    let stored = stored_per_worker(&store_in(&dir.path().join("data"), "Regtest"));
    let (acknowledged, kept, sent) = account(&told, &stored);
    println!(
        "kill -9 x10 with durableAck: {sent} shares sent, {acknowledged} acknowledged, {kept} stored \
         (each connection: acknowledged <= stored <= acknowledged + unanswered), 0 lost, 0 doubled"
    );
}

/// A pool paying out every second from the pool node's wallet, reached through `proxy`
/// (calls time out after 2 s), telling every notification to `hooks`; returns its config
/// directory and stratum port.
fn paying_pool(pair: &RegtestPair, proxy: &RpcProxy, hooks: u16) -> (tempfile::TempDir, u16) {
    let port = free_port();
    let node = pair.pool_node();
    let payments = format!(
        r#"{}, "paymentProcessing": {{ "enabled": true, "paymentInterval": 1, "minimumPayment": 0,
             "daemon": {{ "host": "127.0.0.1", "port": {}, "user": "{}", "password": "{}", "timeout": 2 }} }}"#,
        fast(pair),
        proxy.port(),
        node.rpc_user(),
        node.rpc_password()
    );
    let dir = config_dir(node, free_port(), &[("Regtest", port, payments)]);
    write(
        dir.path(),
        "config.json",
        &format!(
            r#"{{ "logColors": false, "cliPort": {}, {} }}"#,
            free_port(),
            Receiver::webhook_config(hooks)
        ),
    );
    (dir, port)
}

/// Has the pool find some blocks for `workers`, stops mining, and matures them.
fn find_and_mature_blocks(
    pair: &RegtestPair,
    store: &EmbeddedStore,
    port: u16,
    workers: &[String],
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let found = |store: &EmbeddedStore| runtime.block_on(store.counts()).unwrap().valid_blocks;
    let before = found(store);
    let miners: Vec<TestMiner> = workers.iter().map(|w| miner(port, w)).collect();
    until("the pool finds blocks", || found(store) >= before + 2);
    drop(miners);
    pair.mine_on_other(101);
}

/// Waits until the payment processor has settled every pending block and no run is left
/// planned.
fn until_settled(store: &EmbeddedStore, nomp: &Nomp) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    until_seen("every matured block paid", || {
        let pending = runtime
            .block_on(store.blocks(payments::BlockStatus::Pending))
            .unwrap();
        let planned = runtime.block_on(store.planned()).unwrap();
        (
            pending.is_empty() && planned.is_empty(),
            format!(
                "{} pending, {} planned\n{}",
                pending.len(),
                planned.len(),
                nomp.log()
            ),
        )
    });
}

#[test]
fn a_slow_lossy_or_failing_wallet_pays_every_run_exactly_once() {
    let pair = RegtestPair::start();
    let proxy = RpcProxy::start(pair.pool_node().rpc_port());
    let (hooks, told) = Receiver::start();
    let (dir, port) = paying_pool(&pair, &proxy, hooks);
    let nomp = Nomp::start(dir.path());
    let store = store_in(&dir.path().join("data"), "Regtest");
    let workers: Vec<String> = (0..2).map(|_| pair.other_node().new_address()).collect();
    let faults = [
        // Answered after the 2 s timeout: the late broadcast still goes through.
        ("answered late", Fault::Delay(Duration::from_secs(4))),
        ("answer lost", Fault::DropAnswer),
        ("never arrived", Fault::DropRequest),
        (
            "refused for now",
            Fault::Fail {
                code: -26,
                message: "mempool full".into(),
            },
        ),
        // Never reached the daemon, yet refused for good: this transaction is given up and
        // the run is built again.
        (
            "refused for good",
            Fault::Fail {
                code: -26,
                message: "bad-txns-in-belowout".into(),
            },
        ),
    ];
    for (what, fault) in faults {
        let broadcasts = proxy.calls("sendrawtransaction");
        proxy.set_times("sendrawtransaction", fault, 1);
        find_and_mature_blocks(&pair, &store, port, &workers);
        until_settled(&store, &nomp);
        assert!(
            proxy.calls("sendrawtransaction") > broadcasts,
            "{what}: broadcast"
        );
        let (runs, transactions, sats) = paid_exactly_once(&pair, &store);
        println!(
            "wallet fault '{what}': {runs} runs paid by {transactions} transactions, {sats} sat, each once"
        );
    }
    let log = nomp.log();
    assert!(
        log.contains("finishing a payment run that was interrupted"),
        "{log}"
    );
    assert!(
        log.contains("giving up a payment run whose transaction can never confirm"),
        "{log}"
    );
    // The operator was told of the blocks, each payout (by its journalled txid) and the
    // failed runs.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let paid = runtime.block_on(store.payment_history(10_000)).unwrap();
    until_seen("blocks, payouts and failures told", || {
        let bodies = told.bodies("/hook");
        let every_payout = paid
            .iter()
            .filter_map(|run| run.txid.as_deref())
            .all(|txid| {
                bodies
                    .iter()
                    .any(|b| b.contains("payment_sent") && b.contains(txid))
            });
        let kinds = ["block_found", "block_confirmed", "payment_failed"];
        let every_kind = kinds.iter().all(|kind| {
            bodies
                .iter()
                .any(|b| b.contains(&format!(r#""event":"{kind}""#)))
        });
        (every_payout && every_kind, bodies.join("\n"))
    });
}

#[test]
fn sigkill_at_each_step_of_a_payment_run_pays_exactly_once() {
    let pair = RegtestPair::start();
    let proxy = RpcProxy::start(pair.pool_node().rpc_port());
    let (hooks, _told) = Receiver::start();
    let (dir, port) = paying_pool(&pair, &proxy, hooks);
    let mut nomp = Nomp::start(dir.path());
    let store = store_in(&dir.path().join("data"), "Regtest");
    let workers: Vec<String> = (0..2).map(|_| pair.other_node().new_address()).collect();
    let steps = [
        (
            "while funding",
            "fundrawtransaction",
            Fault::HoldRequest,
            Release::Drop,
        ),
        (
            "signed, not journalled",
            "signrawtransaction",
            Fault::HoldAnswer,
            Release::Drop,
        ),
        (
            "journalled, not broadcast",
            "sendrawtransaction",
            Fault::HoldRequest,
            Release::Drop,
        ),
        (
            "broadcast arriving after the kill",
            "sendrawtransaction",
            Fault::HoldRequest,
            Release::Pass,
        ),
        (
            "broadcast taken, not recorded",
            "sendrawtransaction",
            Fault::HoldAnswer,
            Release::Drop,
        ),
    ];
    for (step, method, fault, release) in steps {
        proxy.set(method, fault);
        find_and_mature_blocks(&pair, &store, port, &workers);
        assert!(
            proxy.wait_for_held(method, common::PATIENCE),
            "{step}: the run never reached {method}"
        );
        nomp.signal("KILL");
        proxy.clear(method);
        proxy.release(method, release);
        nomp = nomp.restart();
        until_settled(&store, &nomp);
        let (runs, transactions, sats) = paid_exactly_once(&pair, &store);
        println!(
            "SIGKILL {step}: {runs} runs paid by {transactions} transactions, {sats} sat, each once"
        );
    }
}

#[test]
fn a_second_block_at_an_orphaned_blocks_height_keeps_both_rounds_and_every_share_is_paid() {
    let pair = RegtestPair::start();
    let proxy = RpcProxy::start(pair.pool_node().rpc_port());
    let (hooks, told) = Receiver::start();
    let (dir, port) = paying_pool(&pair, &proxy, hooks);
    let nomp = Nomp::start(dir.path());
    let store = store_in(&dir.path().join("data"), "Regtest");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pending = || {
        runtime
            .block_on(store.blocks(payments::BlockStatus::Pending))
            .unwrap()
    };
    let (first, second) = (
        pair.other_node().new_address(),
        pair.other_node().new_address(),
    );

    // The first worker's round ends in a block at the tip.
    let mut mining = miner(port, &first);
    until("a block of the first worker", || !pending().is_empty());
    mining.stop();
    pair.wait_for_sync();
    let tip = pair.pool_node().cli(&["getbestblockhash"]);
    let orphan = until_found(&pending, |b| b.hash == tip.as_str().unwrap());
    let round = |height| {
        runtime
            .block_on(store.round_shares(payments::Round::Height(height)))
            .unwrap()
    };
    let first_round = round(orphan.height);
    assert!(first_round.contains_key(&first), "{first_round:?}");

    // Orphaned for real: both nodes drop it, and the pool builds on its parent again.
    for node in [pair.pool_node(), pair.other_node()] {
        node.cli(&["invalidateblock", &orphan.hash]);
    }
    nomp.wait_for_log("our block left the daemon's main chain");

    // The second worker finds another block at that height: submitted (the height was
    // given back) and recorded beside the first.
    let mut mining = miner(port, &second);
    let replacement = until_found(&pending, |b| {
        b.height == orphan.height && b.hash != orphan.hash
    });
    mining.stop();
    // Blocks answered before the stop may still be on their way to the store: wait for a
    // record at every height of the chain since the orphan (only this pool mined them).
    let tip = pair.pool_node().block_count();
    until("every block found is recorded", || {
        let recorded = pending();
        (orphan.height..=tip).all(|height| recorded.iter().any(|b| b.height == height))
    });
    // The first worker's shares are all still there, joined by those it sent into the
    // open round after its block (that round ended with the replacement).
    let merged = round(orphan.height);
    assert!(
        merged.get(&first) >= first_round.get(&first),
        "the first round's shares are still there: {first_round:?} then {merged:?}"
    );
    assert!(merged.contains_key(&second), "{merged:?}");

    // Every round as it stands before payment: the test's own PROP over them.
    let rounds: BTreeMap<u64, BTreeMap<String, payments::Decimal>> = pending()
        .iter()
        .map(|b| (b.height, round(b.height)))
        .collect();
    pair.mine_on_other(100);
    until_settled(&store, &nomp);
    let status = |status| {
        runtime
            .block_on(store.blocks(status))
            .unwrap()
            .into_iter()
            .map(|b| b.hash)
            .collect::<Vec<_>>()
    };
    assert!(status(payments::BlockStatus::Orphaned).contains(&orphan.hash));
    let confirmed = status(payments::BlockStatus::Confirmed);
    assert!(confirmed.contains(&replacement.hash));
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for block in runtime
        .block_on(store.blocks(payments::BlockStatus::Confirmed))
        .unwrap()
    {
        let tx = pair
            .pool_node()
            .cli(&["gettransaction", &block.coinbase_txid]);
        let reward = coin_daemon::Amount::from_coin_str(&tx["amount"].to_string())
            .unwrap()
            .to_sat();
        let shares = &rounds[&block.height];
        let total: payments::Decimal = shares.values().copied().sum();
        for (worker, difficulty) in shares {
            let part = (payments::Decimal::from(reward) * *difficulty / total).floor();
            *expected.entry(worker.clone()).or_default() +=
                part.to_string().parse::<i64>().unwrap();
        }
    }
    paid_exactly_once(&pair, &store);
    for (address, sats) in &expected {
        let received = pair
            .other_node()
            .cli(&["getreceivedbyaddress", address, "1"]);
        let received = coin_daemon::Amount::from_coin_str(&received.to_string()).unwrap();
        assert_eq!(received.to_sat(), *sats, "{address}");
    }
    println!(
        "same-height block after an orphan: rounds of {} blocks paid, {:?} sat per worker as computed by the test",
        confirmed.len(),
        expected
    );
    until_seen("the orphan told, with its hash", || {
        let bodies = told.bodies("/hook");
        (
            bodies
                .iter()
                .any(|b| b.contains(r#""event":"block_orphaned""#) && b.contains(&orphan.hash)),
            bodies.join("\n"),
        )
    });
}

/// Waits until a pending block `wanted` accepts is recorded, and returns it.
fn until_found(
    pending: &impl Fn() -> Vec<payments::BlockEntry>,
    wanted: impl Fn(&payments::BlockEntry) -> bool,
) -> payments::BlockEntry {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(block) = pending().into_iter().find(|b| wanted(b)) {
            return block;
        }
        assert!(Instant::now() < deadline, "never found: {:?}", pending());
        std::thread::sleep(Duration::from_millis(100));
    }
}
