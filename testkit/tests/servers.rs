//! Each testkit server starts, answers a real client, and leaves no process after drop.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on a bad fixture"
)]

use std::path::Path;

use testkit::{MariaDb, RedisServer, RegtestPair};

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn redis_ping(url: &str) -> redis::RedisResult<String> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_connection()?;
    redis::cmd("PING").query(&mut connection)
}

#[test]
fn redis_server_answers_ping_and_is_gone_after_drop() {
    let redis = RedisServer::start();
    assert_eq!(redis_ping(&redis.url()).unwrap(), "PONG");
    let pid = redis.pid().unwrap();
    assert!(process_exists(pid));
    drop(redis);
    assert!(
        !process_exists(pid),
        "redis-server {pid} outlived its handle"
    );
}

#[test]
fn redis_server_can_be_stopped_and_started_on_the_same_port() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    redis.stop();
    assert!(redis_ping(&redis.url()).is_err());
    redis.start_again();
    assert_eq!(redis.port(), port);
    assert_eq!(redis_ping(&redis.url()).unwrap(), "PONG");
}

#[test]
fn two_redis_servers_get_different_ports() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port(), b.port());
}

async fn select_one(url: &str) -> Result<Option<i64>, mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    let pool = mysql_async::Pool::new(url);
    let mut conn = pool.get_conn().await?;
    let one = conn.query_first("SELECT 1").await?;
    drop(conn);
    pool.disconnect().await?;
    Ok(one)
}

#[tokio::test]
async fn mariadb_answers_select_1_in_its_database_and_is_gone_after_drop() {
    let db = MariaDb::start();
    assert_eq!(select_one(&db.url()).await.unwrap(), Some(1));
    db.execute("CREATE TABLE probe (id INT PRIMARY KEY)");
    db.execute("INSERT INTO probe VALUES (7)");
    let pid = db.pid().unwrap();
    drop(db);
    assert!(!process_exists(pid), "mariadbd {pid} outlived its handle");
}

#[tokio::test]
async fn mariadb_keeps_its_data_across_a_restart() {
    use mysql_async::prelude::Queryable;
    let mut db = MariaDb::start();
    db.execute("CREATE TABLE kept (id INT PRIMARY KEY)");
    db.execute("INSERT INTO kept VALUES (42)");
    db.stop();
    assert!(select_one(&db.url()).await.is_err());
    db.start_again();
    let pool = mysql_async::Pool::new(db.url().as_str());
    let mut conn = pool.get_conn().await.unwrap();
    let kept: Option<i64> = conn.query_first("SELECT id FROM kept").await.unwrap();
    assert_eq!(kept, Some(42));
    drop(conn);
    pool.disconnect().await.unwrap();
}

#[test]
fn regtest_pair_serves_block_templates_and_is_gone_after_drop() {
    let pair = RegtestPair::start();
    let pool = pair.pool_node();
    assert_eq!(pool.block_count(), 101);
    assert!(
        pool.cli(&["getbalance"]).as_f64().unwrap() >= 50.0,
        "pool wallet is funded"
    );

    let template = pool.cli(&["getblocktemplate"]);
    assert_eq!(template["height"], 102);
    assert_eq!(
        template["previousblockhash"],
        pool.cli(&["getbestblockhash"])
    );
    assert_eq!(template["bits"], "207fffff");
    assert!(template["coinbasevalue"].as_u64().unwrap() > 0);

    let mined = pair.mine_on_other(2);
    assert_eq!(mined.len(), 2);
    assert_eq!(pool.block_count(), 103);
    assert_eq!(pool.cli(&["getbestblockhash"]), mined[1].as_str());

    let pids = [pool.pid().unwrap(), pair.other_node().pid().unwrap()];
    drop(pair);
    for pid in pids {
        assert!(!process_exists(pid), "bitcoind {pid} outlived its handle");
    }
}

#[test]
fn regtest_node_restarts_with_its_chain_and_rejoins_its_peer() {
    let mut pair = RegtestPair::start();
    pair.node_mut(0).stop();
    assert!(pair.pool_node().try_cli(&["getblockcount"]).is_err());
    pair.mine_on_other(1);
    pair.node_mut(0).start_again();
    // The other node reconnects and relays the block mined while node 0 was down.
    pair.wait_for_sync();
    assert_eq!(pair.pool_node().block_count(), 102);
}

#[tokio::test]
async fn stand_in_daemon_serves_its_template_and_counts_blocks() {
    use coin_daemon::{DaemonEndpoint, DaemonGroup, GroupOptions, SubmitOutcome};

    let daemon = testkit::StandInDaemon::start(testkit::StandInDaemon::mainnet_template(10));
    let endpoint = DaemonEndpoint {
        host: "127.0.0.1".into(),
        port: daemon.rpc_port(),
        user: "any".into(),
        password: "any".into(),
    };
    let group = DaemonGroup::new(vec![endpoint], GroupOptions::default()).unwrap();
    let template = group.get_block_template().await.unwrap();
    assert_eq!(
        (
            template.bits.to_string().as_str(),
            template.height,
            template.transactions.len()
        ),
        ("17034219", 820_000, 10)
    );
    let outcomes = group.submit_block("00").await;
    assert!(
        matches!(outcomes[..], [Ok(SubmitOutcome::Accepted)]),
        "{outcomes:?}"
    );
    assert_eq!(daemon.submitted_blocks(), 1);
    assert_eq!(daemon.next_block(), 820_001);
    let next = group.get_block_template().await.unwrap();
    assert_eq!(next.height, 820_001);
    assert_ne!(next.previous_block_hash, template.previous_block_hash);
    let unknown = group.get_best_block_hash().await.unwrap_err();
    assert_eq!(unknown.rpc_code(), Some(-32601), "{unknown}");
}

fn through(proxy: &testkit::RpcProxy, node: &testkit::RegtestNode) -> coin_daemon::DaemonGroup {
    let mut endpoint = node.endpoint();
    endpoint.port = proxy.port();
    let options = coin_daemon::GroupOptions {
        call_timeout: std::time::Duration::from_secs(2),
        ..coin_daemon::GroupOptions::default()
    };
    coin_daemon::DaemonGroup::new(vec![endpoint], options).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rpc_proxy_passes_calls_through_and_delays_drops_fails_or_holds_chosen_ones() {
    use std::time::{Duration, Instant};
    use testkit::{Fault, Release, RpcProxy};

    let pair = RegtestPair::start();
    let proxy = RpcProxy::start(pair.pool_node().rpc_port());
    let daemons = through(&proxy, pair.pool_node());
    let tip: u64 = daemons.call("getblockcount", &[(); 0]).await.unwrap();
    assert_eq!(tip, 101);
    // A larger answer passes whole.
    let best = daemons.get_best_block_hash().await.unwrap();
    let block = daemons.get_block(&best).await.unwrap();
    let raw: String = daemons
        .call("getrawtransaction", &[&block.tx[0]])
        .await
        .unwrap();
    let decoded: serde_json::Value = daemons.call("decoderawtransaction", &[&raw]).await.unwrap();
    assert_eq!(decoded["txid"], block.tx[0]);
    assert_eq!(proxy.calls("decoderawtransaction"), 1);

    proxy.set_times("getblockcount", Fault::Delay(Duration::from_secs(3)), 1);
    let started = Instant::now();
    let late = daemons.call::<u64>("getblockcount", &[(); 0]).await;
    assert!(
        matches!(late, Err(coin_daemon::DaemonError::Timeout { .. })),
        "{late:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(
        daemons
            .call::<u64>("getblockcount", &[(); 0])
            .await
            .unwrap(),
        101,
        "once"
    );

    proxy.set_times("getblockcount", Fault::DropAnswer, 1);
    assert!(
        daemons
            .call::<u64>("getblockcount", &[(); 0])
            .await
            .is_err()
    );
    proxy.set_times(
        "getblockcount",
        Fault::Fail {
            code: -26,
            message: "mempool full".into(),
        },
        1,
    );
    let failed = daemons
        .call::<u64>("getblockcount", &[(); 0])
        .await
        .unwrap_err();
    assert_eq!(failed.rpc_code(), Some(-26), "{failed}");

    proxy.set("getbestblockhash", Fault::HoldRequest);
    let held = tokio::spawn(async move { daemons.get_best_block_hash().await });
    assert!(tokio::task::block_in_place(
        || proxy.wait_for_held("getbestblockhash", Duration::from_secs(30))
    ));
    proxy.clear("getbestblockhash");
    assert_eq!(proxy.release("getbestblockhash", Release::Pass), 1);
    assert_eq!(held.await.unwrap().unwrap(), best);
}

#[test]
fn free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
    let ephemeral: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ports: Vec<u16> = (0..50).map(|_| testkit::free_port()).collect();
    let distinct: std::collections::HashSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len());
    for port in ports {
        assert!(port < ephemeral, "{port} is in the ephemeral range");
        std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
    }
}
