//! Every call gives up after its timeout against a daemon that accepts and never answers.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use coin_daemon::{Amount, DaemonEndpoint, DaemonError, DaemonGroup, GroupOptions, RpcClient};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_millis(300);
/// Generous bound on top of the timeout for scheduling on a loaded machine.
const SLACK: Duration = Duration::from_millis(700);

/// A listener that accepts connections and keeps them open without a word.
fn silent_daemon() -> DaemonEndpoint {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    DaemonEndpoint {
        host: "127.0.0.1".into(),
        port,
        user: "u".into(),
        password: "p".into(),
    }
}

fn assert_timed_out<T: std::fmt::Debug>(
    call: &str,
    started: Instant,
    result: Result<T, DaemonError>,
) {
    let elapsed = started.elapsed();
    assert!(
        matches!(
            result,
            Err(DaemonError::Timeout {
                timeout: TIMEOUT,
                ..
            })
        ),
        "{call}: expected a timeout, got {result:?}"
    );
    assert!(
        elapsed >= TIMEOUT && elapsed < TIMEOUT + SLACK,
        "{call} took {elapsed:?}"
    );
}

#[tokio::test]
async fn every_typed_call_honours_its_timeout() {
    let options = GroupOptions {
        call_timeout: TIMEOUT,
        ..GroupOptions::default()
    };
    let group = DaemonGroup::new(vec![silent_daemon()], options).unwrap();

    let started = Instant::now();
    assert_timed_out(
        "getblocktemplate",
        started,
        group.get_block_template().await,
    );
    let started = Instant::now();
    assert_timed_out(
        "getbestblockhash",
        started,
        group.get_best_block_hash().await,
    );
    let started = Instant::now();
    assert_timed_out("getblock", started, group.get_block("00").await);
    let started = Instant::now();
    assert_timed_out("getnetworkinfo", started, group.get_network_info().await);
    let started = Instant::now();
    assert_timed_out(
        "validateaddress",
        started,
        group.validate_address("x").await,
    );
    let started = Instant::now();
    assert_timed_out("gettransaction", started, group.get_transaction("00").await);
    let started = Instant::now();
    let amounts = BTreeMap::from([("x".to_owned(), Amount::from_sat(1))]);
    assert_timed_out("sendmany", started, group.send_many(&amounts, "c").await);
    let started = Instant::now();
    let mut submitted = group.submit_block("00").await;
    assert_timed_out("submitblock", started, submitted.remove(0));
    let started = Instant::now();
    assert_timed_out(
        "batch",
        started,
        group.batch(&[("getblockcount", json!([]))]).await,
    );
}

#[tokio::test]
async fn a_single_client_call_honours_its_timeout() {
    let client = RpcClient::new(silent_daemon(), TIMEOUT);
    let started = Instant::now();
    let result = client.call::<u64>("getblockcount", &[(); 0]).await;
    assert_timed_out("getblockcount", started, result);
}

#[tokio::test]
async fn a_closed_port_is_unreachable_not_a_timeout() {
    let port = testkit::free_port();
    let endpoint = DaemonEndpoint {
        host: "127.0.0.1".into(),
        port,
        user: "u".into(),
        password: "p".into(),
    };
    let error = RpcClient::new(endpoint, TIMEOUT)
        .call::<u64>("getblockcount", &[(); 0])
        .await
        .unwrap_err();
    assert!(
        matches!(error, DaemonError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
}
