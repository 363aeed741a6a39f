//! Whatever a connection sends, the server answers every line it sends with JSON, and it
//! either keeps serving or closes: it never hangs, panics or writes garbage. The same
//! session is the fuzz target in `stratum-core/fuzz`.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coin_daemon::{DaemonEndpoint, DaemonGroup, GroupOptions};
use hashing::{Algorithm, Difficulty};
use proptest::prelude::*;
use serde_json::{Value, json};
use stratum_core::{
    AddressFormat, AllowAll, CoinbaseOptions, PoolOptions, PortOptions, output_script, start_pool,
};
use testkit::StandInDaemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Starts a pool on a stand-in daemon (mainnet difficulty, so no input finds a block).
fn pool(runtime: &tokio::runtime::Runtime) -> (StandInDaemon, SocketAddr, CancellationToken) {
    let daemon = StandInDaemon::start(StandInDaemon::mainnet_template(3));
    let endpoint = DaemonEndpoint {
        host: "127.0.0.1".into(),
        port: daemon.rpc_port(),
        user: "u".into(),
        password: "p".into(),
    };
    let cancel = CancellationToken::new();
    let addr = runtime.block_on(async {
        let daemons = Arc::new(DaemonGroup::new(vec![endpoint], GroupOptions::default()).unwrap());
        let format = AddressFormat::bitcoin();
        let script = output_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &format).unwrap();
        let port = PortOptions::new("127.0.0.1:0".parse().unwrap(), Difficulty::ONE);
        let options = PoolOptions::new(
            Algorithm::Sha256d,
            CoinbaseOptions::new(script, format),
            vec![port],
        );
        let mut pool = start_pool(options, daemons, Arc::new(AllowAll), cancel.clone())
            .await
            .unwrap();
        pool.jobs.wait_for(Option::is_some).await.unwrap();
        let addr = pool.ports[0];
        // The task owns the pool (dropping it would stop it) and consumes its events so
        // none queue up, until `cancel`.
        tokio::spawn(async move {
            let mut pool = pool;
            while pool.events.recv().await.is_some() {}
        });
        addr
    });
    (daemon, addr, cancel)
}

/// Sends `input`, half-closes, and returns every line the server wrote before closing.
async fn session(addr: SocketAddr, input: &[u8]) -> Vec<Value> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // A flood may be cut off mid-write; the answer is then the closed connection.
    let _ = stream.write_all(input).await;
    let _ = stream.shutdown().await;
    let mut output = Vec::new();
    // A reset after a flood is a close too; whatever arrived before must still be JSON.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut output))
        .await
        .expect("the server neither answered nor closed");
    output
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!(
                    "server wrote a non-JSON line: {e}: {}",
                    String::from_utf8_lossy(line)
                )
            })
        })
        .collect()
}

fn param() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[0-9a-f]{0,10}".prop_map(Value::from),
        Just(json!("1")),
        Just(json!("00000000")),
        Just(json!(["version-rolling"])),
        Just(json!({"version-rolling.mask": "ffffffff"})),
        ".{0,20}".prop_map(Value::from),
    ]
}

fn request_line() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        Just("mining.subscribe"),
        Just("mining.authorize"),
        Just("mining.submit"),
        Just("mining.configure"),
        Just("mining.suggest_difficulty"),
        Just("mining.extranonce.subscribe"),
        Just("mining.get_transactions"),
        Just("mining.unknown"),
    ];
    (method, proptest::collection::vec(param(), 0..7), param()).prop_map(|(m, params, id)| {
        json!({"id": id, "method": m, "params": params})
            .to_string()
            .into_bytes()
    })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        4 => request_line(),
        1 => proptest::collection::vec(any::<u8>(), 0..120),
    ];
    proptest::collection::vec(line, 0..8).prop_map(|lines| lines.join(&b'\n'))
}

#[test]
fn any_input_gets_json_lines_or_a_closed_connection() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_daemon, addr, cancel) = pool(&runtime);
    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(bytes in input())| {
        runtime.block_on(session(addr, &bytes));
    });

    // A well-formed session for contrast: subscribe, authorise and a wrong-sized share
    // each get their answer, in order.
    let answers = runtime.block_on(session(
        addr,
        concat!(
            r#"{"id":1,"method":"mining.subscribe","params":[]}"#,
            "\n",
            r#"{"id":2,"method":"mining.authorize","params":["w","x"]}"#,
            "\n",
            r#"{"id":3,"method":"mining.submit","params":["w","1","00","00000000","00000000"]}"#,
            "\n",
        )
        .as_bytes(),
    ));
    let ids: Vec<&Value> = answers
        .iter()
        .map(|a| &a["id"])
        .filter(|id| !id.is_null())
        .collect();
    assert_eq!(ids, [&json!(1), &json!(2), &json!(3)]);
    assert_eq!(answers.last().unwrap()["error"][0], 20, "{answers:?}");
    let notifies = answers
        .iter()
        .filter(|a| a["method"] == "mining.notify")
        .count();
    assert_eq!(
        notifies, 1,
        "the job is sent once after subscribing: {answers:?}"
    );
    cancel.cancel();
}
