//! Real servers for nomp-rs tests, private to each test.
//!
//! Each server runs as a child process on free loopback ports with its data in a temporary
//! directory, and is stopped (and its directory removed) when the handle is dropped, so
//! `cargo test` needs no running services and tests can run in parallel.
//!
//! - [`RedisServer`]: `redis-server` with persistence off.
//! - [`MariaDb`]: `mariadbd` on a fresh data directory, with a database created.
//! - [`RegtestPair`]: two connected Bitcoin SV regtest nodes, 101 blocks mined so the first
//!   node's wallet can spend.
//! - [`TestMiner`]: a CPU miner on the stratum-core client, for end-to-end pool tests.
//! - [`StandInDaemon`]: a JSON-RPC stand-in serving a mainnet-difficulty template, only
//!   for load benchmarks that no regtest node can serve (every regtest share is a block).
//! - [`SmallDisk`]: a tiny tmpfs to fill up or make read-only (a real full disk; needs root).
//! - [`RpcProxy`]: a JSON-RPC proxy in front of a real daemon that delays, drops, fails or
//!   holds chosen calls, for fault tests of what talks to the daemon (the wallet above all).
//!
//! A missing binary is a panic that names it and the setup command (`scripts/test.sh` or
//! `scripts/install-deps.sh`), never a skipped test. Children are also asked to die with the
//! thread that started them, so a test killed mid-way leaves nothing behind.
//!
//! ```no_run
//! let redis = testkit::RedisServer::start();
//! println!("connect to {}", redis.url());
//! // redis-server stops when `redis` is dropped.
//! ```

mod binaries;
mod disk;
mod mariadb;
mod miner;
mod process;
mod redis;
mod regtest;
mod rpc_proxy;
mod session;
mod standin;

pub use binaries::{NODE_BIN_DIR_ENV, node_bin_dir};
pub use disk::SmallDisk;
pub use mariadb::MariaDb;
pub use miner::TestMiner;
pub use process::free_port;
pub use redis::{RedisSentinelGroup, RedisServer};
pub use regtest::{RegtestNode, RegtestPair};
pub use rpc_proxy::{Fault, Release, RpcProxy};
pub use session::SessionHarness;
pub use standin::StandInDaemon;
