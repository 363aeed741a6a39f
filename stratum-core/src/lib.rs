//! The stratum v1 mining protocol, as node-stratum-pool speaks it, for pools that embed it.
//!
//! **The pure core** (no IO, no runtime; fuzzed and property-tested in-process):
//!
//! - The protocol ([`protocol`]): [`MinerRequest`] and [`ServerMessage`] with their
//!   results ([`Subscription`], [`Configured`]) and the job a `mining.notify` carries
//!   ([`MiningJob`]), read and written at the boundary only, by the server, the client and
//!   upstream mode alike.
//! - A miner's [`Session`]: a sans-IO state machine (`handle(id, request, now, pool) ->
//!   outputs`: subscription, authorised workers, difficulty with the job it applies from,
//!   vardiff, ban tally, version mask).
//! - Share checks ([`validate_share`], or [`prepare_share`] and [`finish_share`] around a
//!   hash done elsewhere): a function of the job, the submission and the miner,
//!   naming the reason of every refusal ([`Reject`]) with node-stratum-pool's codes; the
//!   caller says whether a share is new ([`Job::record_share`]).
//! - Jobs ([`Job`], [`build_coinbase`], [`merkle_branch`]): block templates turned into
//!   `mining.notify` work, with the coinbase paying the pool address, reward recipients,
//!   payees and the witness commitment; [`Vardiff`] and [`BanList`] with time passed in;
//!   [`IdAllocator`] for extranonce1 values and job ids.
//!
//! **The server** around it:
//!
//! - [`start_pool`]: a listener per port (plain TCP or TLS, optionally behind a PROXY
//!   protocol header), one task per miner (framing and a select loop carrying out its
//!   session's outputs), the current job on a `watch` channel, memory-hard hashes on the
//!   blocking pool (the shares waiting together hashed in one pass), block candidates
//!   submitted to every daemon (accepted if any synced daemon has them on its main
//!   chain), and every share and block as a [`PoolEvent`] on an
//!   [`EventReceiver`], never dropped: memory held for a failing consumer is bounded by the
//!   [`EventGate`] (shares refused with an error at the bound), and with `durable_ack` a
//!   share is answered only once its [`DurableAck`] is confirmed. The chain guard watches the
//!   daemons (`chain_guard`) and, with `refuse_work_on_chain_fault`, withdraws the job while
//!   they disagree. [`PoolHandle`] reads its live counters, latency histograms
//!   ([`PoolTimings`]), block verdicts and chain verdict for dashboards and alerts. The
//!   event types and the [`DurableWriter`] that keeps them come from the `pool-events`
//!   crate, which the stores build on without building this server; they are re-exported
//!   here.
//! - Switching ports ([`start_switch`]): miners log in with their key hash and get the work
//!   of whichever pool the switch is on; [`RunningSwitch::switch_to`] moves them all without
//!   a reconnect, crediting each coin's shares to that coin's address of the key.
//! - Upstream mode ([`start_upstream_pool`]): a pool whose work comes from larger stratum
//!   pools instead of a daemon; it splits the upstream's extranonce2 among its miners,
//!   credits them locally and forwards the shares that meet the upstream's difficulty,
//!   failing over across several upstreams. The daemon group and the upstream link are the
//!   two work sources behind one seam.
//! - A client ([`StratumClient`]) for test miners, examples and upstream mode.
//!
//! A solo pool in a few lines (see `examples/solo_pool.rs` for the whole program):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use coin_daemon::{DaemonEndpoint, DaemonGroup, GroupOptions};
//! use hashing::{Algorithm, Difficulty};
//! use stratum_core::{
//!     AddressAuthorizer, AddressFormat, CoinbaseOptions, PoolEvent, PoolOptions, PortOptions,
//!     output_script, start_pool,
//! };
//! use tokio_util::sync::CancellationToken;
//!
//! let daemon = DaemonEndpoint {
//!     host: "127.0.0.1".into(),
//!     port: 8332,
//!     user: "rpcuser".into(),
//!     password: "rpcpassword".into(),
//! };
//! let daemons = Arc::new(DaemonGroup::new(vec![daemon], GroupOptions::default())?);
//! let format = AddressFormat::bitcoin();
//! let pays = output_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &format)?;
//! let options = PoolOptions::new(
//!     Algorithm::Sha256d,
//!     CoinbaseOptions::new(pays, format.clone()),
//!     vec![PortOptions::new("0.0.0.0:3333".parse()?, Difficulty::new(8.0)?)],
//! );
//! let authorizer = Arc::new(AddressAuthorizer::new(format));
//! let mut pool = start_pool(options, daemons, authorizer, CancellationToken::new()).await?;
//! while let Some(event) = pool.events.recv().await {
//!     if let PoolEvent::Block(block) = event {
//!         println!("block {} accepted: {}", block.height, block.accepted);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod address;
mod auth;
mod ban;
mod batch;
mod client;
mod coinbase;
mod connection;
mod error;
mod extranonce;
mod framing;
mod header;
mod ids;
mod job;
mod merkle;
mod options;
mod pool;
pub mod protocol;
mod proxy;
mod registry;
mod seen;
mod serialize;
mod session;
mod shared;
mod switch;
mod tls;
mod upstream;
mod validate;
mod vardiff;

pub use address::{AddressFormat, address_from_hash160, output_script};
pub use auth::{AddressAuthorizer, AllowAll, DaemonAddressAuthorizer};
pub use ban::{BanList, BanOptions, ShareTally};
pub use client::{ClientError, StratumClient};
pub use coinbase::{
    CoinbaseOptions, CoinbaseParts, EXTRANONCE1_SIZE, EXTRANONCE2_SIZE, RewardRecipient,
    build_coinbase,
};
pub use error::StratumError;
pub use extranonce::{Extranonce, MAX_EXTRANONCE_SIZE};
pub use header::{header_bytes, serialize_block};
pub use ids::{Extranonce1Lease, Extranonce1Space, IdAllocator};
pub use job::{Job, JobId, ShareKey};
pub use merkle::{merkle_branch, merkle_root};
pub use options::{PoolError, PoolOptions, PortOptions};
pub use pool::{PoolHandle, RunningPool, start_pool, start_upstream_pool};
pub use protocol::{
    Configured, MinerRequest, MiningJob, ServerMessage, SubmitRequest, Subscription,
};
pub use proxy::{ProxyError, ProxyParse, parse_proxy_header};
pub use session::{Output, PoolView, Session, SessionOptions, WorkerCredit};
pub use switch::{RunningSwitch, SwitchOptions, SwitchTarget, key_hash_credit, start_switch};
pub use tls::tls_config_from_pem;
pub use tokio_rustls::rustls;
pub use upstream::{MIN_MINER_EXTRANONCE2_SIZE, UpstreamError, UpstreamOptions, UpstreamServer};
pub use validate::{
    BlockCandidate, MinerState, PreparedShare, Submission, ValidShare, finish_share, prepare_share,
    validate_share,
};
pub use vardiff::{Vardiff, VardiffOptions};
// The event side of the server's API, from the crate the stores share with it.
pub use pool_events::{
    Authorizer, Batch, BatchTarget, BlockEvent, CounterSnapshot, Delivery, DifficultyEvent,
    DurableAck, DurableWriter, EventGate, EventReceiver, EventSender, Latency, LatencySnapshot,
    PoolEvent, PoolTimings, Reject, ShareEvent, SpoolError, TargetError, WriterError,
    WriterOptions, WriterStatus, event_channel,
};
