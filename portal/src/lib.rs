//! The nomp-rs web portal: a server-rendered site, NOMP's JSON API, live stats, charts,
//! an admin center and Prometheus metrics.
//!
//! - Stats ([`PortalStats`]) are gathered every `update_interval` from each pool's share
//!   store and live [`stratum_core::PoolHandle`]: hashrate over `hashrate_window` with the
//!   algorithm's multiplier, as NOMP computes it; snapshots are kept for
//!   `historical_retention` in a [`payments::StatsHistory`] store and pushed to
//!   `/api/live_stats` clients as server-sent events.
//! - The API keeps NOMP's shapes (`/api/stats`, `/api/pool_stats`, `/api/live_stats`) and
//!   adds `/api/blocks`, `/api/payments`, `/api/worker_stats?ADDRESS` and `/api/coins`,
//!   described in `/api/openapi.json`.
//! - Pages (home, getting started, stats with SVG charts, miner, blocks, payments, API)
//!   work without script; a small script only refreshes numbers live.
//! - The admin center is off unless an argon2 password hash is configured; logins are
//!   rate-limited per IP. `/metrics` serves Prometheus text (fixed label sets; latency
//!   histograms, block and payment counters, chain faults); `/health` says the process
//!   serves and `/ready` whether every pool has work, can keep its shares and sees no chain
//!   fault (503 with the reasons when not).
//! - No response carries a secret: pools are shown from their [`PoolSummary`], which holds
//!   no credentials.
//!
//! ```no_run
//! # async fn run(pools: Vec<portal::PortalPool>) -> Result<(), portal::PortalError> {
//! use std::sync::Arc;
//! use portal::{PortalOptions, StaticPools, start_portal};
//! use tokio_util::sync::CancellationToken;
//!
//! let options = PortalOptions::new(([0, 0, 0, 0], 8080).into(), "pool.example.com");
//! let cancel = CancellationToken::new();
//! let portal = start_portal(options, Arc::new(StaticPools(pools)), None, cancel).await?;
//! // … until shutdown:
//! portal.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod admin;
mod api;
mod chart;
mod collector;
mod error;
mod health;
mod metrics;
mod options;
mod pages;
mod server;
mod source;
mod stats;
mod views;

pub use admin::{check_password_hash, hash_password};
pub use error::PortalError;
pub use health::{PoolReadiness, all_ready, readiness};
pub use options::{AdminOptions, FrontEnds, PortalOptions};
pub use server::{RunningPortal, start_portal};
pub use source::{
    ActionError, Named, PoolDirectory, PoolSummary, PortSummary, PortalPool, StaticPools,
};
pub use stats::{
    AlgoStats, BlockCounts, FrontEndStatus, GlobalStats, HistoryPoint, NetworkStats, PoolCounters,
    PoolPoint, PoolReading, PoolStats, PortalStats, WorkerStats, hashrate, pool_stats,
    portal_stats, readable_hashrate,
};
