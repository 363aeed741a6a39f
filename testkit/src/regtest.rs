use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::binaries::node_binary;
use crate::process::{ServerProcess, free_port, with_port_retries};

const RPC_USER: &str = "nomp";
const RPC_PASSWORD: &str = "regtest-password";
/// Waits are for the server's own readiness signal; this only ends one that never comes,
/// and is generous so that a loaded machine makes tests slower, not failing.
const START_TIMEOUT: Duration = Duration::from_secs(300);
const SYNC_TIMEOUT: Duration = Duration::from_secs(300);
/// Blocks mined at start: 100 to mature the first coinbase, plus that coinbase.
const INITIAL_BLOCKS: u32 = 101;

/// Two Bitcoin SV regtest nodes connected to each other (`getblocktemplate` refuses to
/// work without a peer).
///
/// Node 0 is the *pool node*: the pool talks to it and its wallet holds the coinbase of the
/// first block, mature after the 101 blocks mined at start. Node 1 is the *other node*,
/// used to mine competing blocks and to mature the pool's blocks.
#[derive(Debug)]
pub struct RegtestPair {
    nodes: [RegtestNode; 2],
}

/// One regtest node of a [`RegtestPair`].
#[derive(Debug)]
pub struct RegtestNode {
    name: &'static str,
    rpc_port: u16,
    p2p_port: u16,
    /// Where the node publishes ZMQ `hashblock` messages.
    zmq_port: u16,
    /// The P2P port of the other node of the pair, dialled again after a restart.
    peer_p2p_port: Option<u16>,
    dir: TempDir,
    process: Option<ServerProcess>,
}

impl RegtestPair {
    /// Starts both nodes, connects them, and mines 101 blocks on the other node paying the
    /// pool node's wallet; returns once both nodes are at height 101.
    pub fn start() -> RegtestPair {
        let mut pool = RegtestNode::start("regtest node 0");
        let mut other = RegtestNode::start("regtest node 1");
        pool.peer_p2p_port = Some(other.p2p_port);
        other.peer_p2p_port = Some(pool.p2p_port);
        pool.dial_peer();
        other.dial_peer();
        let pair = RegtestPair {
            nodes: [pool, other],
        };
        pair.wait_until("connected", || {
            pair.nodes
                .iter()
                .all(|n| n.cli(&["getconnectioncount"]).as_u64() >= Some(1))
        });
        let address = pair.pool_node().new_address();
        pair.other_node()
            .cli(&["generatetoaddress", &INITIAL_BLOCKS.to_string(), &address]);
        pair.wait_for_sync();
        pair
    }

    /// Node 0, the one a pool talks to; its wallet can spend.
    pub fn pool_node(&self) -> &RegtestNode {
        &self.nodes[0]
    }

    /// Node 1, for mining blocks the pool did not find.
    pub fn other_node(&self) -> &RegtestNode {
        &self.nodes[1]
    }

    /// Node `index` (0 or 1), mutable, to stop and start it.
    pub fn node_mut(&mut self, index: usize) -> &mut RegtestNode {
        &mut self.nodes[index]
    }

    /// Mines `count` blocks on the other node (to its own wallet) on top of the pair's
    /// common tip, and waits until the pool node has them. Returns their hashes.
    ///
    /// It first waits for the nodes to agree on the tip: mining on a tip that lacks a block
    /// the pool node just found would orphan that block.
    pub fn mine_on_other(&self, count: u32) -> Vec<String> {
        self.wait_for_sync();
        let address = self.other_node().new_address();
        let hashes = self
            .other_node()
            .cli(&["generatetoaddress", &count.to_string(), &address]);
        self.wait_for_sync();
        hashes
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Splits the pair: the other node stops all P2P traffic, so each node goes on alone
    /// (a network split). Returns once neither has a peer.
    pub fn split(&self) {
        self.other_node().cli(&["setnetworkactive", "false"]);
        self.wait_until("split", || {
            self.nodes
                .iter()
                .all(|n| n.cli(&["getconnectioncount"]).as_u64() == Some(0))
        });
    }

    /// Mines `count` blocks on the other node alone (to its own wallet), without waiting
    /// for the pool node: on a split pair, a chain the pool node does not see.
    pub fn mine_alone_on_other(&self, count: u32) {
        let address = self.other_node().new_address();
        self.other_node()
            .cli(&["generatetoaddress", &count.to_string(), &address]);
    }

    /// Joins a split pair again and waits until both nodes are on the same tip.
    pub fn rejoin(&self) {
        self.other_node().cli(&["setnetworkactive", "true"]);
        let other = format!("127.0.0.1:{}", self.other_node().p2p_port);
        self.pool_node().cli(&["addnode", &other, "onetry"]);
        self.wait_for_sync();
    }

    /// Waits until both running nodes report the same best block.
    pub fn wait_for_sync(&self) {
        self.wait_until("in sync", || {
            let tips: Vec<Value> = self
                .nodes
                .iter()
                .filter(|n| n.is_running())
                .map(|n| n.cli(&["getbestblockhash"]))
                .collect();
            tips.windows(2).all(|w| w[0] == w[1])
        });
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + SYNC_TIMEOUT;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "testkit: regtest pair not {what} after {SYNC_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl RegtestNode {
    fn start(name: &'static str) -> RegtestNode {
        with_port_retries(name, || {
            let dir =
                TempDir::with_prefix("nomp-regtest-").expect("testkit: cannot create a temp dir");
            let mut node = RegtestNode {
                name,
                rpc_port: free_port(),
                p2p_port: free_port(),
                zmq_port: free_port(),
                peer_p2p_port: None,
                dir,
                process: None,
            };
            node.launch()?;
            Ok(node)
        })
    }

    fn launch(&mut self) -> Result<(), String> {
        let mut command = Command::new(node_binary("bitcoind"));
        command
            .arg("-regtest")
            .arg(format!("-datadir={}", self.dir.path().display()))
            .args([
                "-server=1",
                "-listen=1",
                "-bind=127.0.0.1",
                "-rpcbind=127.0.0.1",
            ])
            .args([
                "-rpcallowip=127.0.0.1",
                "-dnsseed=0",
                "-discover=0",
                "-upnp=0",
            ])
            .arg(format!("-port={}", self.p2p_port))
            .arg(format!("-rpcport={}", self.rpc_port))
            .arg(format!("-zmqpubhashblock={}", self.zmq_hashblock()))
            .arg(format!("-rpcuser={RPC_USER}"))
            .arg(format!("-rpcpassword={RPC_PASSWORD}"))
            .args(["-txindex=1", "-printtoconsole=1"])
            // Required by this node version for mining and large regtest blocks.
            .args([
                "-minminingtxfee=0.00000500",
                "-excessiveblocksize=10000000000",
            ])
            .arg("-maxstackmemoryusageconsensus=0")
            // A pool on regtest submits a block for nearly every share: room for bursts.
            .args(["-rpcworkqueue=256", "-rpcthreads=8"]);
        let log = self.dir.path().join("bitcoind.log");
        let mut process = ServerProcess::spawn(self.name, command, &log);
        let ready = process.wait_for("ready for RPC", START_TIMEOUT, || {
            self.try_cli(&["getblockcount"]).ok()
        });
        match ready {
            Some(_) => {
                self.process = Some(process);
                Ok(())
            }
            None => Err(process.log_tail()),
        }
    }

    /// Adds the pair's other node as a persistent peer. After a restart this node must dial
    /// itself: the peer only retries its added nodes about once a minute.
    fn dial_peer(&self) {
        if let Some(port) = self.peer_p2p_port {
            self.cli(&["addnode", &format!("127.0.0.1:{port}"), "add"]);
        }
    }

    /// The node's ZMQ `hashblock` publisher (`tcp://127.0.0.1:<port>`).
    pub fn zmq_hashblock(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.zmq_port)
    }

    /// The JSON-RPC port (127.0.0.1).
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The P2P port (127.0.0.1), for block-notify peers.
    pub fn p2p_port(&self) -> u16 {
        self.p2p_port
    }

    /// `http://127.0.0.1:<rpc port>/`.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.rpc_port)
    }

    /// The RPC user name.
    pub fn rpc_user(&self) -> &'static str {
        RPC_USER
    }

    /// The RPC password.
    pub fn rpc_password(&self) -> &'static str {
        RPC_PASSWORD
    }

    /// The node's RPC endpoint, as a daemon group takes it.
    pub fn endpoint(&self) -> coin_daemon::DaemonEndpoint {
        coin_daemon::DaemonEndpoint {
            host: "127.0.0.1".into(),
            port: self.rpc_port,
            user: RPC_USER.into(),
            password: RPC_PASSWORD.into(),
        }
    }

    /// A daemon group of this node alone.
    pub fn daemon_group(&self) -> std::sync::Arc<coin_daemon::DaemonGroup> {
        std::sync::Arc::new(
            coin_daemon::DaemonGroup::new(
                vec![self.endpoint()],
                coin_daemon::GroupOptions::default(),
            )
            .expect("one endpoint makes a group"),
        )
    }

    /// Settings for a sha256d pool on this node paying `pool_address`, one port on a free
    /// local port at `difficulty`, polling templates every 200 ms.
    pub fn pool_options(&self, pool_address: &str, difficulty: f64) -> stratum_core::PoolOptions {
        let format = stratum_core::AddressFormat::testnet();
        let script = stratum_core::output_script(pool_address, &format)
            .expect("a regtest address from this node");
        let port = stratum_core::PortOptions::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            hashing::Difficulty::new(difficulty).expect("a positive difficulty"),
        );
        let mut options = stratum_core::PoolOptions::new(
            hashing::Algorithm::Sha256d,
            stratum_core::CoinbaseOptions::new(script, format),
            vec![port],
        );
        options.template = coin_daemon::TemplateOptions {
            refresh_interval: std::time::Duration::from_millis(200),
            rebroadcast_after: std::time::Duration::from_secs(30),
        };
        options
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Whether the node process is running.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// A fresh address of this node's wallet.
    pub fn new_address(&self) -> String {
        match self.cli(&["getnewaddress"]) {
            Value::String(address) => address,
            other => panic!("testkit: getnewaddress returned {other}"),
        }
    }

    /// The node's block count.
    pub fn block_count(&self) -> u64 {
        self.cli(&["getblockcount"])
            .as_u64()
            .expect("testkit: getblockcount is a number")
    }

    /// Runs `bitcoin-cli` against this node; panics with the node's message on an error.
    pub fn cli(&self, args: &[&str]) -> Value {
        self.try_cli(args).unwrap_or_else(|error| {
            panic!(
                "testkit: bitcoin-cli {args:?} on {} failed: {error}",
                self.name
            )
        })
    }

    /// Runs `bitcoin-cli` against this node. The reply is parsed as JSON when it is JSON and
    /// returned as a string otherwise; an error carries the node's message. A reply lost to
    /// a full RPC work queue is retried for up to five seconds.
    pub fn try_cli(&self, args: &[&str]) -> Result<Value, String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.cli_once(args) {
                Err(error)
                    if error.contains("couldn't parse reply") && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    fn cli_once(&self, args: &[&str]) -> Result<Value, String> {
        let output = Command::new(node_binary("bitcoin-cli"))
            .args(["-regtest", "-rpcconnect=127.0.0.1"])
            .arg(format!("-rpcport={}", self.rpc_port))
            .arg(format!("-rpcuser={RPC_USER}"))
            .arg(format!("-rpcpassword={RPC_PASSWORD}"))
            .args(args)
            .output()
            .map_err(|e| format!("cannot run bitcoin-cli: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
        }
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Shuts the node down cleanly (RPC `stop`), keeping its data for [`RegtestNode::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = self.try_cli(&["stop"]);
            process.wait_or_kill(Duration::from_secs(30));
        }
    }

    /// Kills the node at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.process = None;
    }

    /// Starts the node again on the same ports and data; its peer reconnects by itself.
    pub fn start_again(&mut self) {
        assert!(
            self.process.is_none(),
            "testkit: {} is already running",
            self.name
        );
        if let Err(log) = self.launch() {
            panic!("testkit: {} did not start again:\n{log}", self.name);
        }
        self.dial_peer();
    }
}
