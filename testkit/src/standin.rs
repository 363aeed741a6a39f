use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A stand-in coin daemon for what no regtest node can serve: a template at mainnet
/// difficulty, for load benchmarks where no share may become a block.
///
/// Answers JSON-RPC over HTTP (single calls and batches, any credentials):
/// `getblocktemplate` with the template it was given (moved on by
/// [`StandInDaemon::next_block`]), `submitblock` with `null` (counting the calls), and every
/// other method with error -32601, as bitcoind does for an unknown method. Runs on its own
/// thread and runtime until dropped.
#[derive(Debug)]
pub struct StandInDaemon {
    addr: SocketAddr,
    state: Arc<StandInState>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct StandInState {
    template: Mutex<Value>,
    submitted: AtomicU64,
}

impl StandInDaemon {
    /// Starts serving `template` (a `getblocktemplate` result) on a free loopback port.
    pub fn start(template: Value) -> StandInDaemon {
        let state = Arc::new(StandInState {
            template: Mutex::new(template),
            submitted: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("testkit: cannot bind the stand-in daemon's port");
        let addr = listener.local_addr().expect("bound socket has an address");
        listener
            .set_nonblocking(true)
            .expect("testkit: cannot make the stand-in daemon's socket non-blocking");
        let (stop, stopped) = oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/", post(answer))
            .with_state(state.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("testkit: cannot build the stand-in daemon's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .expect("testkit: cannot register the stand-in daemon's socket");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        StandInDaemon {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The RPC port on 127.0.0.1.
    pub fn rpc_port(&self) -> u16 {
        self.addr.port()
    }

    /// Moves the template on to the next height, on a new parent (as if the network found
    /// a block); returns the new height.
    pub fn next_block(&self) -> u64 {
        let mut template = self
            .state
            .template
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let height = template["height"].as_u64().unwrap_or(0) + 1;
        template["height"] = json!(height);
        template["previousblockhash"] = json!(format!("{height:064x}"));
        height
    }

    /// How many `submitblock` calls it has answered.
    pub fn submitted_blocks(&self) -> u64 {
        self.state.submitted.load(Ordering::Relaxed)
    }

    /// A `getblocktemplate` result shaped like Bitcoin mainnet's at height 820 000: its
    /// bits (difficulty ≈ 67 T, so no test share is ever a block) and `transactions`
    /// transactions with distinct txids.
    pub fn mainnet_template(transactions: usize) -> Value {
        let txs: Vec<Value> = (0..transactions)
            .map(|i| {
                json!({
                    "data": "00",
                    "txid": format!("{:064x}", i + 1),
                    "hash": format!("{:064x}", i + 1),
                    "fee": 1000,
                })
            })
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        json!({
            "version": 0x2000_0000,
            "previousblockhash": "00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054",
            "transactions": txs,
            "coinbasevalue": 625_000_000u64,
            "bits": "17034219",
            "target": "0000000000000000000342190000000000000000000000000000000000000000",
            "height": 820_000,
            "curtime": now,
            "mintime": now - 3600,
            "coinbaseaux": { "flags": "" },
        })
    }
}

impl Drop for StandInDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn answer(State(state): State<Arc<StandInState>>, Json(body): Json<Value>) -> Json<Value> {
    Json(match body {
        Value::Array(calls) => Value::Array(calls.iter().map(|c| reply(&state, c)).collect()),
        call => reply(&state, &call),
    })
}

fn reply(state: &StandInState, call: &Value) -> Value {
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    match call.get("method").and_then(Value::as_str) {
        Some("getblocktemplate") => {
            let template = state.template.lock().unwrap_or_else(|p| p.into_inner());
            json!({"id": id, "result": *template, "error": null})
        }
        Some("submitblock") => {
            state.submitted.fetch_add(1, Ordering::Relaxed);
            json!({"id": id, "result": null, "error": null})
        }
        _ => json!({
            "id": id,
            "result": null,
            "error": {"code": -32601, "message": "Method not found"},
        }),
    }
}
