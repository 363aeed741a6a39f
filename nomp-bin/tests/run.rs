//! The real `nomp` binary with real config files on the regtest pair: two pools at once (one
//! on Redis in NOMP's layout, one on the embedded store) and a SIGTERM under load that keeps
//! every accepted share; blocknotify and reloadpool through the CLI; the portal over the
//! running pools, with its admin center reloading one; a regtest pair split under the chain
//! guard, with its notifications and metrics.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Nomp, PATIENCE, Receiver, config_dir, get, pool_files, run_nomp, until, until_seen, write,
};

use hashing::Algorithm;
use payments::{EmbeddedStore, RedisStore, ShareStore};
use stratum_core::{ServerMessage, StratumClient};
use testkit::{RedisServer, RegtestPair, TestMiner, free_port};

/// A client subscribed to the pool on `port`, with its notifications.
async fn subscribed(
    port: u16,
) -> (
    StratumClient,
    tokio::sync::mpsc::UnboundedReceiver<ServerMessage>,
) {
    let (client, notifications) =
        StratumClient::connect(("127.0.0.1", port), Duration::from_secs(10))
            .await
            .unwrap();
    client.subscribe("test").await.unwrap();
    (client, notifications)
}

/// The first job on another block than `first`'s, if one comes `within`.
async fn job_on_new_block(
    notifications: &mut tokio::sync::mpsc::UnboundedReceiver<ServerMessage>,
    first: &stratum_core::MiningJob,
    within: Duration,
) -> Result<stratum_core::MiningJob, tokio::time::error::Elapsed> {
    tokio::time::timeout(within, async {
        loop {
            if let Some(ServerMessage::Notify(job)) = notifications.recv().await
                && job.previous_hash != first.previous_hash
            {
                return job;
            }
        }
    })
    .await
}

/// Sends what NOMP's `scripts/cli.js <command> <params…>` sends (its JSON and a newline,
/// keeping its side open) and reads the reply as it does: until the listener closes.
fn cli_js(port: u16, command: &str, params: &[&str], options: &str) -> String {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let params = serde_json::to_string(params).unwrap();
    let message = format!(r#"{{"command":"{command}","params":{params},"options":{options}}}"#);
    socket.write_all(format!("{message}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    socket
        .read_to_string(&mut reply)
        .expect("the listener answers and closes while cli.js keeps its side open");
    reply
}

/// The difficulty a new connection to `port` is given.
async fn first_difficulty(port: u16) -> f64 {
    let (_client, mut notifications) = subscribed(port).await;
    loop {
        if let Some(ServerMessage::SetDifficulty(difficulty)) = notifications.recv().await {
            return difficulty;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_on_redis_and_embedded_mine_and_keep_every_accepted_share_through_sigterm() {
    let pair = RegtestPair::start();
    let redis = RedisServer::start();
    let (port_a, port_b) = (free_port(), free_port());
    // Both pools hear of each other's blocks at once (P2P), or the slower one would mine
    // on stale jobs and lose every race.
    let fast = format!(
        r#", "blockRefreshInterval": 200, "p2p": {{ "enabled": true, "host": "127.0.0.1", "port": {} }}"#,
        pair.pool_node().p2p_port()
    );
    let on_redis = format!(
        r#"{fast}, "redis": {{ "host": "127.0.0.1", "port": {} }}"#,
        redis.port()
    );
    let dir = config_dir(
        pair.pool_node(),
        free_port(),
        &[
            ("RegtestA", port_a, on_redis),
            ("RegtestB", port_b, fast.clone()),
        ],
    );
    let mut nomp = Nomp::start(dir.path());

    let worker = pair.other_node().new_address();
    let miners = [port_a, port_b].map(|port| {
        TestMiner::start(
            format!("127.0.0.1:{port}").parse().unwrap(),
            &worker,
            Algorithm::Sha256d,
        )
    });
    // Mine until each pool has found a block of its own (they race on one chain).
    let on_redis = RedisStore::new(&redis.url(), "RegtestA").unwrap();
    let embedded = EmbeddedStore::open(&dir.path().join("data/nomp.sqlite"), "RegtestB").unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let a = on_redis.counts().await.map_or(0, |c| c.valid_blocks);
        let b = embedded.counts().await.map_or(0, |c| c.valid_blocks);
        if a >= 1 && b >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "blocks found: {a} on Redis, {b} embedded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // SIGTERM while they mine: every share answered as accepted is stored.
    let status = nomp.terminate();
    assert!(status.success(), "{status:?}");
    let accepted: Vec<u64> = miners.iter().map(TestMiner::accepted).collect();
    drop(miners);
    let log = std::fs::read_to_string(dir.path().join("nomp.log")).unwrap();
    assert!(log.contains("share store: Redis"), "{log}");
    assert!(log.contains("share store: embedded"), "{log}");

    for (store, accepted) in [
        (&on_redis as &dyn ShareStore, accepted[0]),
        (&embedded, accepted[1]),
    ] {
        let counts = store.counts().await.unwrap();
        assert!(
            counts.valid_shares >= accepted,
            "{counts:?} < {accepted} accepted"
        );
        assert!(counts.valid_blocks >= 1, "{counts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocknotify_brings_a_new_job_long_before_the_poll_and_reloadpool_applies_edits() {
    let pair = RegtestPair::start();
    let (port, cli) = (free_port(), free_port());
    let slow = r#", "blockRefreshInterval": 30000"#.to_owned();
    let dir = config_dir(pair.pool_node(), cli, &[("RegtestB", port, slow)]);
    let nomp = Nomp::start(dir.path());

    let (_client, mut notifications) = subscribed(port).await;
    let first = loop {
        if let Some(ServerMessage::Notify(job)) = notifications.recv().await {
            break job;
        }
    };
    let hash = pair.mine_on_other(1).remove(0);
    let notified = Instant::now();
    // What a daemon's `blocknotify=node scripts/cli.js blocknotify <coin> %s` sends.
    let reply = cli_js(cli, "blocknotify", &["RegtestB", &hash], "{}");
    assert!(reply.contains("notified"), "{reply}");
    // The poll is 30 s away: a job well before it came from blocknotify, loaded machine or not.
    let next = job_on_new_block(&mut notifications, &first, Duration::from_secs(20))
        .await
        .expect("a new job long before the 30 s poll");
    assert!(next.clean);
    let waited = notified.elapsed();
    assert!(waited < Duration::from_secs(15), "{waited:?}");

    // reloadpool restarts the pool with its edited file; a broken edit changes nothing.
    let file = dir.path().join("pool_configs/regtestb.json");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("0.000000001", "0.000000002")).unwrap();
    let reply = cli_js(cli, "reloadpool", &["RegtestB"], "{}");
    assert_eq!(reply, "regtestb reloaded");
    assert_eq!(first_difficulty(port).await, 0.000000002);
    std::fs::write(&file, text.replace("\"daemons\"", "\"deamons\"")).unwrap();
    let output = run_nomp(dir.path(), &["reloadpool", "regtestb"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did you mean `daemons`?"), "{stderr}");
    assert_eq!(first_difficulty(port).await, 0.000000002, "still serving");

    // An unknown pool, and no listener at all, are clear errors.
    let output = run_nomp(dir.path(), &["blocknotify", "nosuchpool", &hash]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no pool \"nosuchpool\""));
    drop(nomp);
    let output = run_nomp(dir.path(), &["blocknotify", "regtestb", &hash]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot reach the nomp CLI listener"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zmq_block_notify_brings_a_new_job_long_before_the_poll() {
    let pair = RegtestPair::start();
    let node = pair.pool_node();
    let (port, cli) = (free_port(), free_port());
    let slow = r#", "blockRefreshInterval": 60000"#.to_owned();
    let dir = config_dir(node, cli, &[("RegtestZ", port, slow)]);
    let file = dir.path().join("pool_configs/regtestz.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let password = format!(r#""password": "{}" }}"#, node.rpc_password());
    assert!(text.contains(&password));
    let zmq = format!(
        r#""password": "{}", "zmqBlockNotify": "{}" }}"#,
        node.rpc_password(),
        node.zmq_hashblock()
    );
    std::fs::write(&file, text.replace(&password, &zmq)).unwrap();
    let nomp = Nomp::start(dir.path());
    nomp.wait_for_log("ZMQ block notify connected");

    let (_client, mut notifications) = subscribed(port).await;
    let first = loop {
        if let Some(ServerMessage::Notify(job)) = notifications.recv().await {
            break job;
        }
    };
    pair.mine_on_other(1);
    // The poll is a minute away: a new job well before it came from the ZMQ message.
    let next = job_on_new_block(&mut notifications, &first, Duration::from_secs(30))
        .await
        .expect("a new job long before the 60 s poll");
    assert!(next.clean);
}

#[test]
fn a_pool_waiting_for_its_daemon_holds_up_no_other_and_sigterm_exits_cleanly() {
    let pair = RegtestPair::start();
    let dir = tempfile::tempdir().unwrap();
    let (port, dead_daemon, live_port) = (free_port(), free_port(), free_port());
    // A second pool, on a daemon that answers, after the first in file order.
    pool_files(dir.path(), pair.pool_node(), "Live", live_port, "");
    write(
        dir.path(),
        "config.json",
        &format!(r#"{{ "cliPort": {} }}"#, free_port()),
    );
    write(
        dir.path(),
        "coins/c.json",
        r#"{ "name": "C", "symbol": "C", "algorithm": "sha256" }"#,
    );
    write(
        dir.path(),
        "pool_configs/c.json",
        &format!(
            r#"{{ "enabled": true, "coin": "c.json", "address": "mzBc4XEFSdzCDcTxAgf6EZXgsZWpztRhef",
                "ports": {{ "{port}": {{ "diff": 1 }} }},
                "daemons": [ {{ "host": "127.0.0.1", "port": {dead_daemon}, "user": "u", "password": "p" }} ] }}"#
        ),
    );
    let mut nomp = Nomp::spawn(dir.path());
    // One pool waits for its daemon: nomp is never ready, but the other pool serves.
    nomp.wait_for_line("the live pool started", |line| {
        line.contains("pool started") && line.contains(&format!(":{live_port}"))
    });
    let log = nomp.log();
    assert!(log.contains("waiting for the daemon"), "{log}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let status = nomp.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_address_the_daemon_refuses_stops_start_up_naming_file_and_field() {
    let pair = RegtestPair::start();
    let dir = config_dir(
        pair.pool_node(),
        free_port(),
        &[("RegtestC", free_port(), String::new())],
    );
    let file = dir.path().join("pool_configs/regtestc.json");
    // A valid regtest address with an `x` in front is no address at all.
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = text.replacen("\"address\": \"", "\"address\": \"x", 1);
    assert_ne!(broken, text);
    std::fs::write(&file, broken).unwrap();
    // Another pool waits for a daemon that never answers: the failure ends its wait too.
    write(
        dir.path(),
        "coins/waiting.json",
        r#"{ "name": "Waiting", "symbol": "W", "algorithm": "sha256" }"#,
    );
    write(
        dir.path(),
        "pool_configs/waiting.json",
        &format!(
            r#"{{ "enabled": true, "coin": "waiting.json", "address": "{}",
                "ports": {{ "{}": {{ "diff": 1 }} }},
                "daemons": [ {{ "host": "127.0.0.1", "port": {}, "user": "u", "password": "p" }} ] }}"#,
            pair.pool_node().new_address(),
            free_port(),
            free_port()
        ),
    );
    let started = Instant::now();
    let output = run_nomp(dir.path(), &[]);
    assert!(!output.status.success());
    // The other pool's dead daemon must not keep the refusal waiting (it would for ever).
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "start-up hung"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pool_configs/regtestc.json: address"),
        "{stderr}"
    );
    assert!(stderr.contains("not a valid address"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_shows_the_running_pools_and_its_admin_reloads_one() {
    let pair = RegtestPair::start();
    let (port, cli, web) = (free_port(), free_port(), free_port());
    let dir = config_dir(pair.pool_node(), cli, &[("RegtestW", port, String::new())]);
    let hash = common::hash_password("a long admin passphrase");
    write(
        dir.path(),
        "config.json",
        &format!(
            r#"{{ "logColors": false, "cliPort": {cli},
                "website": {{ "enabled": true, "host": "127.0.0.1", "port": {web}, "stratumHost": "mine.example.test",
                    "stats": {{ "updateInterval": 1, "hashrateWindow": 60 }},
                    "adminCenter": {{ "enabled": true, "adminPasswordHash": "{}" }} }} }}"#,
            hash
        ),
    );
    let _nomp = Nomp::start(dir.path());
    let miner = TestMiner::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        &format!("{}.rig", pair.other_node().new_address()),
        Algorithm::Sha256d,
    );
    assert!(miner.wait_for_accepted(3, PATIENCE));

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{web}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats: serde_json::Value = http
            .get(format!("{base}/api/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pool = &stats["pools"]["regtestw"];
        if pool["workerCount"] == 1 && pool["poolStats"]["validShares"].as_u64() > Some(0) {
            assert_eq!(pool["connections"], 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the portal never showed the miner: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = common::text(http.get(format!("{base}/getting_started"))).await;
    assert!(
        page.contains(&format!("stratum+tcp://mine.example.test:{port}")),
        "{page}"
    );
    assert!(!page.contains(pair.pool_node().rpc_password()));

    let login = http
        .post(format!("{base}/admin/login"))
        .form(&[("password", "a long admin passphrase")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let reloaded = common::text(
        http.post(format!("{base}/admin/reload"))
            .header("cookie", &cookie)
            .form(&[("pool", "regtestw")]),
    )
    .await;
    assert!(reloaded.contains("regtestw reloaded"), "{reloaded}");
    // The reloaded pool is the one the portal shows.
    drop(miner);
    let miner = TestMiner::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        &format!("{}.rig", pair.other_node().new_address()),
        Algorithm::Sha256d,
    );
    assert!(miner.wait_for_accepted(1, PATIENCE));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let metrics = common::text(http.get(format!("{base}/metrics"))).await;
        if metrics.contains("nomp_connections{pool=\"regtestw\"} 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection to the reloaded pool: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The addresses a transaction's outputs pay, from the node's decoded transaction.
fn paid_addresses(node: &testkit::RegtestNode, txid: &str) -> Vec<String> {
    let tx = node.cli(&["getrawtransaction", txid, "1"]);
    tx["vout"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|out| {
            out["scriptPubKey"]["addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// Waits until the store of `coin` in `dir` holds a found block after `after` blocks.
async fn blocks_found(dir: &Path, coin: &str, after: usize) -> Vec<payments::BlockEntry> {
    let store = EmbeddedStore::open(&dir.join("data/nomp.sqlite"), coin).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let blocks = store.blocks(payments::BlockStatus::Pending).await.unwrap();
        if blocks.len() > after {
            return blocks;
        }
        assert!(Instant::now() < deadline, "no block found for {coin}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coinswitch_moves_a_switching_miner_between_two_chains_without_a_reconnect() {
    let (pair_a, pair_b) = (RegtestPair::start(), RegtestPair::start());
    let (port_a, port_b, switch_port, cli) = (free_port(), free_port(), free_port(), free_port());
    let dir = config_dir(pair_a.pool_node(), cli, &[]);
    let pool_a = pool_files(dir.path(), pair_a.pool_node(), "CoinA", port_a, "");
    let pool_b = pool_files(dir.path(), pair_b.pool_node(), "CoinB", port_b, "");
    write(
        dir.path(),
        "config.json",
        &format!(
            r#"{{ "logColors": false, "cliPort": {cli},
                "switching": {{ "sw1": {{ "enabled": true, "algorithm": "sha256",
                    "ports": {{ "{switch_port}": {{ "diff": 0.000000001 }} }} }} }} }}"#
        ),
    );
    // The miner logs in with its key's hash; each coin credits that key's address there.
    let key_address = pair_a.other_node().new_address();
    let payload = bs58::decode(&key_address)
        .with_check(None)
        .into_vec()
        .unwrap();
    let login = format!("{}.rig", hex::encode(&payload[1..]));
    let credited = format!("{key_address}.rig");

    let nomp = Nomp::start(dir.path());
    let miner = TestMiner::start(
        format!("127.0.0.1:{switch_port}").parse().unwrap(),
        &login,
        Algorithm::Sha256d,
    );
    let on_a = blocks_found(dir.path(), "CoinA", 0).await;
    let output = run_nomp(dir.path(), &["coinswitch", "coinb", "sw1"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let before = miner.accepted();
    let on_b = blocks_found(dir.path(), "CoinB", 0).await;
    assert!(miner.accepted() > before, "the same connection mines on");

    // Each chain's block pays that chain's pool address; the finder is the key's address.
    for (blocks, node, pool_address) in [
        (&on_a, pair_a.pool_node(), &pool_a),
        (&on_b, pair_b.pool_node(), &pool_b),
    ] {
        let block = &blocks[0];
        assert_eq!(block.worker, credited);
        assert!(
            paid_addresses(node, &block.coinbase_txid).contains(pool_address),
            "the coinbase of {} pays {pool_address}",
            block.hash
        );
    }
    for coin in ["CoinA", "CoinB"] {
        let store = EmbeddedStore::open(&dir.path().join("data/nomp.sqlite"), coin).unwrap();
        let samples = store.hashrate_since(0).await.unwrap();
        assert!(
            !samples.is_empty() && samples.iter().all(|s| s.worker == credited),
            "{coin}"
        );
    }

    let output = run_nomp(dir.path(), &["coinswitch", "nosuchcoin", "sw1"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no pool \"nosuchcoin\""));
    let output = run_nomp(dir.path(), &["coinswitch", "coina", "nosuchswitch"]);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("no switch \"nosuchswitch\" (switches: sw1)")
    );

    // NOMP's cli.js with its -algorithm= option: every switch of that algorithm moves back.
    let reply = cli_js(cli, "coinswitch", &["CoinA"], r#"{"algorithm":"sha256"}"#);
    assert_eq!(reply, "switch sw1 moved to coina");
    let before = blocks_found(dir.path(), "CoinA", 0).await.len();
    blocks_found(dir.path(), "CoinA", before).await;
    // And the order earlier versions took, switch first, still works.
    let reply = cli_js(cli, "coinswitch", &["sw1", "CoinB"], "{}");
    assert_eq!(reply, "switch sw1 moved to coinb");

    // A restart resumes the switch on the coin it was moved to (NOMP's `proxyState`),
    // not on the first pool of its algorithm.
    drop(miner);
    let mut nomp = nomp;
    assert!(nomp.terminate().success());
    let nomp = nomp.restart();
    let started = nomp.wait_for_log("switch started");
    assert!(started.contains("coinb"), "{started}");
    let before = blocks_found(dir.path(), "CoinB", 0).await.len();
    let _miner = TestMiner::start(
        format!("127.0.0.1:{switch_port}").parse().unwrap(),
        &login,
        Algorithm::Sha256d,
    );
    blocks_found(dir.path(), "CoinB", before).await;
}

/// Serves `{"AAA": {"usd": a}, "BBB": {"usd": b}}` from `prices` to every request.
async fn price_server(prices: std::sync::Arc<std::sync::Mutex<(f64, f64)>>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (a, b) = *prices.lock().unwrap();
            tokio::spawn(async move {
                let mut request = [0u8; 2048];
                let _ = socket.read(&mut request).await;
                let body = format!(r#"{{"AAA": {{"usd": {a}}}, "BBB": {{"usd": "{b}"}}}}"#);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

/// The HASH160 inside a base58check address.
fn key_hash(address: &str) -> Vec<u8> {
    bs58::decode(address).with_check(None).into_vec().unwrap()[1..].to_vec()
}

/// The coins (`'A'`/`'B'`) whose pool script the jobs notified within `wait` pay.
async fn coins_notified(
    notifications: &mut tokio::sync::mpsc::UnboundedReceiver<ServerMessage>,
    hashes: &[(char, Vec<u8>)],
    wait: Duration,
    stop_at: Option<char>,
) -> Vec<char> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(notification)) = tokio::time::timeout_at(deadline, notifications.recv()).await
    {
        let ServerMessage::Notify(job) = notification else {
            continue;
        };
        for (coin, hash) in hashes {
            if job.coinb2.windows(hash.len()).any(|w| w == hash.as_slice()) {
                seen.push(*coin);
            }
        }
        if stop_at.is_some() && seen.last().copied() == stop_at {
            break;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profit_switching_follows_prices_past_the_margin_and_ignores_noise() {
    let (pair_a, pair_b) = (RegtestPair::start(), RegtestPair::start());
    let (port_a, port_b, switch_port, cli) = (free_port(), free_port(), free_port(), free_port());
    let prices = std::sync::Arc::new(std::sync::Mutex::new((100.0, 50.0)));
    let price_port = price_server(prices.clone()).await;
    let dir = config_dir(pair_a.pool_node(), cli, &[]);
    let pool_a = pool_files(dir.path(), pair_a.pool_node(), "CoinA", port_a, "");
    let pool_b = pool_files(dir.path(), pair_b.pool_node(), "CoinB", port_b, "");
    for (coin, symbol) in [("CoinA", "AAA"), ("CoinB", "BBB")] {
        write(
            dir.path(),
            &format!("coins/{}.json", coin.to_lowercase()),
            &format!(r#"{{ "name": "{coin}", "symbol": "{symbol}", "algorithm": "sha256" }}"#),
        );
    }
    let url = format!("http://127.0.0.1:{price_port}/prices");
    write(
        dir.path(),
        "config.json",
        &format!(
            r#"{{ "logColors": false, "cliPort": {cli},
                "switching": {{ "sw1": {{ "enabled": true, "algorithm": "sha256",
                    "ports": {{ "{switch_port}": {{ "diff": 0.000000001 }} }} }} }},
                "profitSwitch": {{ "enabled": true, "updateInterval": 1, "margin": 10,
                    "usePoloniex": true,
                    "priceSources": {{
                        "AAA": {{ "url": "{url}", "path": "AAA.usd" }},
                        "BBB": {{ "url": "{url}", "path": "BBB.usd" }} }} }} }}"#
        ),
    );
    let hashes = [('A', key_hash(&pool_a)), ('B', key_hash(&pool_b))];
    let _nomp = Nomp::start(dir.path());
    let (_client, mut notifications) = subscribed(switch_port).await;
    let window = Duration::from_secs(4);

    let seen = coins_notified(&mut notifications, &hashes, window, None).await;
    assert_eq!(seen.first(), Some(&'A'), "starts on A, its first pool");
    assert!(!seen.contains(&'B'), "A pays more: {seen:?}");

    // B 5 % above A, inside the 10 % margin: noise.
    prices.lock().unwrap().1 = 105.0;
    let seen = coins_notified(&mut notifications, &hashes, window, None).await;
    assert!(!seen.contains(&'B'), "moved on noise: {seen:?}");

    // B doubles: the switch moves, and its miners get B's work.
    prices.lock().unwrap().1 = 200.0;
    let seen = coins_notified(&mut notifications, &hashes, window, Some('B')).await;
    assert_eq!(seen.last(), Some(&'B'), "did not move to B: {seen:?}");

    // A back within the margin of B: stays on B.
    prices.lock().unwrap().0 = 210.0;
    let seen = coins_notified(&mut notifications, &hashes, window, None).await;
    assert!(!seen.contains(&'A'), "moved back on noise: {seen:?}");
    let log = std::fs::read_to_string(dir.path().join("nomp.log")).unwrap();
    assert!(
        log.contains("usePoloniex"),
        "the ignored NOMP field is named in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_in_upstream_mode_mines_through_another_nomp_and_credits_its_miners() {
    let pair = RegtestPair::start();
    let (port_upper, port_lower) = (free_port(), free_port());
    // Instance B: a pool on the regtest pair.
    let upper = config_dir(pair.pool_node(), free_port(), &[]);
    let upper_address = pool_files(upper.path(), pair.pool_node(), "Upper", port_upper, "");
    // Instance A: no daemon; its work comes from B, where it mines as `upstream_user`.
    let upstream_user = format!("{}.lower", pair.other_node().new_address());
    let (cli, web) = (free_port(), free_port());
    let lower = config_dir(pair.pool_node(), cli, &[]);
    write(
        lower.path(),
        "config.json",
        &format!(
            r#"{{ "logColors": false, "cliPort": {cli},
                "website": {{ "enabled": true, "host": "127.0.0.1", "port": {web} }} }}"#
        ),
    );
    write(
        lower.path(),
        "coins/lower.json",
        r#"{ "name": "Lower", "symbol": "BSV", "algorithm": "sha256" }"#,
    );
    write(
        lower.path(),
        "pool_configs/lower.json",
        &format!(
            r#"{{
                "enabled": true,
                "coin": "lower.json",
                "address": "{}",
                "ports": {{ "{port_lower}": {{ "diff": 0.000000001 }} }},
                "upstream": {{ "servers": [
                    {{ "host": "127.0.0.1", "port": {port_upper}, "user": "{upstream_user}" }}
                ] }}
            }}"#,
            pair.other_node().new_address()
        ),
    );
    let _upper = Nomp::start(upper.path());
    let _lower = Nomp::start(lower.path());

    let worker = format!("{}.rig", pair.other_node().new_address());
    let miner = TestMiner::start(
        format!("127.0.0.1:{port_lower}").parse().unwrap(),
        &worker,
        Algorithm::Sha256d,
    );
    // A's store has the block, credited to A's miner; B's daemon has it on its chain,
    // its coinbase paying B's pool address.
    let found = blocks_found(lower.path(), "Lower", 0).await;
    let block = &found[0];
    assert_eq!(block.worker, worker);
    let on_chain = pair.pool_node().cli(&["getblock", &block.hash]);
    assert_eq!(on_chain["height"], block.height);
    assert_eq!(on_chain["tx"][0], block.coinbase_txid.as_str());
    assert_eq!(
        paid_addresses(pair.pool_node(), &block.coinbase_txid),
        vec![upper_address]
    );
    let store = EmbeddedStore::open(&lower.path().join("data/nomp.sqlite"), "Lower").unwrap();
    let samples = store.hashrate_since(0).await.unwrap();
    assert!(
        !samples.is_empty() && samples.iter().all(|s| s.worker == worker),
        "A credits its own miner"
    );
    assert!(store.counts().await.unwrap().valid_shares > 0);
    // B credits A's upstream worker with the same block.
    let upper_blocks = blocks_found(upper.path(), "Upper", 0).await;
    assert!(
        upper_blocks
            .iter()
            .any(|b| b.hash == block.hash && b.worker == upstream_user),
        "{upper_blocks:?}"
    );
    assert!(miner.accepted() > 0);
    let log = std::fs::read_to_string(lower.path().join("nomp.log")).unwrap();
    assert!(log.contains("connected to the upstream pool"), "{log}");
    let metrics =
        common::text(reqwest::Client::new().get(format!("http://127.0.0.1:{web}/metrics"))).await;
    assert!(
        metrics.contains("nomp_upstream_connected{pool=\"lower\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nomp_upstream_shares_total{pool=\"lower\",result=\"accepted\"}"),
        "{metrics}"
    );
    // blocknotify means nothing to a pool without templates, and says so.
    let output = run_nomp(lower.path(), &["blocknotify", "lower", &block.hash]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("mines through an upstream pool"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_split_is_seen_told_and_refuses_work_until_the_daemons_agree_again() {
    let mut pair = RegtestPair::start();
    let (hooks, received) = Receiver::start();
    let (port, web) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let hook = |path: &str| format!("http://127.0.0.1:{hooks}{path}");
    write(
        dir.path(),
        "config.json",
        &format!(
            r#"{{ "logColors": false, "logFormat": "json", "cliPort": {cli},
                 "website": {{ "enabled": true, "host": "127.0.0.1", "port": {web}, "stats": {{ "updateInterval": 1 }} }},
                 "notifications": {{ "minInterval": 0, "targets": [
                     {{ "type": "webhook", "url": "{webhook}" }},
                     {{ "type": "ntfy", "url": "{ntfy}", "token": "ntfy-secret" }},
                     {{ "type": "telegram", "botToken": "1:tg-secret", "chatId": "77", "apiUrl": "{telegram}" }},
                     {{ "type": "discord", "url": "{discord}" }} ] }} }}"#,
            cli = free_port(),
            webhook = hook("/hook"),
            ntfy = hook("/topic"),
            telegram = hook(""),
            discord = hook("/discord"),
        ),
    );
    let daemon = |node: &testkit::RegtestNode| {
        format!(
            r#"{{ "host": "127.0.0.1", "port": {}, "user": "{}", "password": "{}" }}"#,
            node.rpc_port(),
            node.rpc_user(),
            node.rpc_password()
        )
    };
    write(
        dir.path(),
        "coins/split.json",
        r#"{ "name": "Split", "symbol": "BSV", "algorithm": "sha256" }"#,
    );
    write(
        dir.path(),
        "pool_configs/split.json",
        &format!(
            r#"{{ "enabled": true, "coin": "split.json", "address": "{address}",
                 "ports": {{ "{port}": {{ "diff": 0.000000001 }} }},
                 "daemons": [ {first}, {second} ], "blockRefreshInterval": 200,
                 "chainGuard": {{ "interval": 1 }}, "refuseWorkOnChainFault": true,
                 // NOMP's defaults: the withdrawn job's shares alone would pass them in a second.
                 "banning": {{ "enabled": true, "time": 600, "invalidPercent": 50,
                              "checkThreshold": 500, "purgeInterval": 300 }} }}"#,
            address = pair.pool_node().new_address(),
            first = daemon(pair.pool_node()),
            second = daemon(pair.other_node()),
        ),
    );
    let nomp = Nomp::start(dir.path());
    until("ready", || get(web, "/ready").0 == 200);
    let miner = TestMiner::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        &pair.other_node().new_address(),
        Algorithm::Sha256d,
    );
    assert!(miner.wait_for_accepted(5, PATIENCE));
    // Every metric the dashboard and the alert rules use is served by a running pool (those
    // of several front-ends sharing Redis, by the scale-out test).
    let wanted: std::collections::BTreeSet<String> = common::contrib_metric_names()
        .into_iter()
        .filter(|name| !common::FRONT_END_METRICS.contains(&name.as_str()))
        .collect();
    until_seen("every metric contrib/ names in /metrics", || {
        let metrics = get(web, "/metrics").1;
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|name| {
                !metrics.lines().any(|line| {
                    line.strip_prefix(name.as_str())
                        .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                })
            })
            .collect();
        (
            missing.is_empty(),
            format!("missing {missing:?}\n{metrics}"),
        )
    });

    let (_client, mut notifications) = subscribed(port).await;
    let first = loop {
        if let Some(ServerMessage::Notify(job)) = notifications.recv().await {
            break job;
        }
    };
    pair.split();
    pair.mine_alone_on_other(3);
    let behind = format!("least work: 127.0.0.1:{}", pair.pool_node().rpc_port());
    until_seen("/ready names the split and the minority daemon", || {
        let (status, body) = get(web, "/ready");
        (
            status == 503 && body.contains("tips disagree") && body.contains(&behind),
            body,
        )
    });
    until_seen("the fault and the withdrawn work in /metrics", || {
        let metrics = get(web, "/metrics").1;
        (
            metrics.contains(r#"nomp_chain_fault{pool="split",kind="tips_disagree"} 1"#)
                && metrics.contains(r#"nomp_work_available{pool="split"} 0"#),
            metrics,
        )
    });
    nomp.wait_for_log("refusing work while the chain guard sees a fault");
    // Work for the withdrawn job is refused, not credited.
    let rejected = miner.rejected();
    assert!(miner.wait_for_rejected(rejected + 1, PATIENCE));
    assert!(
        miner
            .rejections()
            .keys()
            .any(|m| m.contains("job not found")),
        "{:?}",
        miner.rejections()
    );
    until_seen("the fault told to every target", || {
        (
            received.got("/hook", r#""event":"chain_fault""#)
                && received.got("/topic", "title: nomp split: chain_fault")
                && received.got("/bot1:tg-secret/sendMessage", "tips disagree")
                && received.got("/discord", "tips disagree"),
            received.bodies("/hook").join("\n"),
        )
    });

    pair.rejoin();
    until("ready again", || get(web, "/ready").0 == 200);
    let fresh = job_on_new_block(&mut notifications, &first, PATIENCE)
        .await
        .expect("work again, on the chain both daemons hold");
    assert!(fresh.clean);
    until("the all-clear told", || {
        received.got("/hook", r#""event":"chain_clear""#)
    });
    // The shares for the withdrawn job were the pool's doing: nobody was banned for them.
    let accepted = miner.accepted();
    assert!(miner.wait_for_accepted(accepted + 5, PATIENCE));
    assert!(!nomp.log().contains("banning an IP"), "{}", nomp.log());

    // A daemon that stops answering, and comes back, is told both ways.
    let other = format!("127.0.0.1:{}", pair.other_node().rpc_port());
    pair.node_mut(1).stop();
    let told = |kind: &str| {
        received
            .bodies("/hook")
            .iter()
            .any(|b| b.contains(&format!(r#""event":"{kind}""#)) && b.contains(&other))
    };
    until("the daemon down told", || told("daemon_down"));
    pair.node_mut(1).start_again();
    until("the daemon back told", || told("daemon_back"));

    // JSON logs: one object per line; a miner's line names the pool and its address.
    {
        use std::io::Write;
        let mut garbage = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        garbage.write_all(b"not json\n").unwrap();
    }
    let line = nomp.wait_for_line("the malformed-JSON warning", |line| {
        line.contains("malformed JSON")
    });
    let logged: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(logged["pool"], "split", "{line}");
    assert!(
        logged["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{line}"
    );
    let log = nomp.log();
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    // No secret of a notification target reached the log.
    assert!(!log.contains("tg-secret") && !log.contains("ntfy-secret"));
}
