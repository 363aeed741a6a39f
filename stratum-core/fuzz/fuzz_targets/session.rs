//! Fuzzes framing and dispatch together: each input is the whole byte stream of one miner
//! connection to a real pool (on a stand-in daemon, so no input finds a block). The server
//! must answer only with JSON lines and must end the session, never hang or panic.
//!
//! `cargo fuzz run session` (in stratum-core/), or without nightly:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run session`.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use coin_daemon::{DaemonEndpoint, DaemonGroup, GroupOptions};
use hashing::{Algorithm, Difficulty};
use libfuzzer_sys::fuzz_target;
use stratum_core::{
    AddressFormat, AllowAll, CoinbaseOptions, PoolOptions, PortOptions, output_script, start_pool,
};
use testkit::StandInDaemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// Lives as long as the fuzzing process: the pool task runs on `runtime`.
struct Harness {
    runtime: Runtime,
    pool: SocketAddr,
    _daemon: StandInDaemon,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let daemon = StandInDaemon::start(StandInDaemon::mainnet_template(3));
        let endpoint = DaemonEndpoint {
            host: "127.0.0.1".into(),
            port: daemon.rpc_port(),
            user: "fuzz".into(),
            password: "fuzz".into(),
        };
        let pool = runtime.block_on(async {
            let daemons = Arc::new(
                DaemonGroup::new(vec![endpoint], GroupOptions::default()).expect("one daemon"),
            );
            let format = AddressFormat::bitcoin();
            let script =
                output_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &format).expect("address");
            let port = PortOptions::new("127.0.0.1:0".parse().expect("addr"), Difficulty::ONE);
            let options = PoolOptions::new(
                Algorithm::Sha256d,
                CoinbaseOptions::new(script, format),
                vec![port],
            );
            let mut pool = start_pool(
                options,
                daemons,
                Arc::new(AllowAll),
                CancellationToken::new(),
            )
            .await
            .expect("pool starts");
            pool.jobs
                .wait_for(Option::is_some)
                .await
                .expect("first job");
            let addr = pool.ports[0];
            tokio::spawn(async move {
                let mut pool = pool;
                while pool.events.recv().await.is_some() {}
            });
            addr
        });
        Harness {
            runtime,
            pool,
            _daemon: daemon,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    harness.runtime.block_on(async {
        let mut stream = TcpStream::connect(harness.pool)
            .await
            .expect("pool accepts");
        let _ = stream.write_all(data).await;
        let _ = stream.shutdown().await;
        let mut output = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut output))
            .await
            .expect("the server neither answered nor closed");
        for line in output.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Err(error) = serde_json::from_slice::<serde_json::Value>(line) {
                panic!("non-JSON line ({error}): {}", String::from_utf8_lossy(line));
            }
        }
    });
});
