//! What a nomp-rs pool reports and how it is kept: the seam between the stratum server and
//! the stores behind it.
//!
//! Shares flow one way: the server ([`stratum_core`](../stratum_core/index.html)) sends
//! events, a [`DurableWriter`] turns them into numbered batches, and a store (payments'
//! share store, MPOS's database) takes the batches through [`BatchTarget`]. Stores depend
//! on this crate, not on the server, so they build without TLS, PROXY parsing or the
//! upstream client.
//!
//! - Events: [`ShareEvent`] (with its [`Reject`] reason), [`BlockEvent`] and
//!   [`DifficultyEvent`] as [`PoolEvent`]s, sent through an [`EventSender`] that never
//!   waits and never drops: memory held for a lagging consumer is bounded by the
//!   [`EventGate`] (shares are refused with an error at the bound), and a share waiting to be
//!   acknowledged is told when its event cannot be kept ([`DurableAck`]).
//! - [`DurableWriter`]: events into numbered batches for a [`BatchTarget`], through a synced
//!   share log (`<pool>.spool`) while the target fails and a bounded memory queue while the
//!   disk fails too; in order, exactly once, never stopping on an error. [`WriterStatus`]
//!   says what it holds and why.
//! - [`PoolCounters`]: live counts and latency histograms ([`Latency`]) of a running pool
//!   for dashboards.
//! - [`Authorizer`]: how a pool asks whether a worker may mine (MPOS implements it against
//!   its database).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::SystemTime;
//! use hashing::Difficulty;
//! use pool_events::{PoolEvent, ShareEvent, event_channel};
//!
//! let (sender, mut receiver) = event_channel(16, 1_000);
//! sender.send(PoolEvent::Share(ShareEvent {
//!     worker: "miner.rig".into(),
//!     ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
//!     port: 3333,
//!     height: 100,
//!     difficulty: Difficulty::new(8.0).unwrap(),
//!     share_difficulty: Difficulty::new(9.5).ok(),
//!     block_hash: None,
//!     block_accepted: false,
//!     reject: None,
//!     time: SystemTime::now(),
//! }));
//! let Some(PoolEvent::Share(share)) = receiver.recv().await else { panic!() };
//! assert!(share.is_valid());
//! # }
//! ```

mod auth;
mod counters;
mod events;
mod latency;
mod reject;
mod spool;
mod writer;

pub use auth::Authorizer;
pub use counters::{ConnectionGuard, CounterSnapshot, PoolCounters, PoolTimings};
pub use events::{
    AckResult, BlockEvent, Delivery, DifficultyEvent, DurableAck, EventGate, EventReceiver,
    EventSender, NotRecorded, PoolEvent, ShareEvent, event_channel,
};
pub use latency::{BUCKETS, Latency, LatencyByKey, LatencySnapshot};
pub use reject::Reject;
pub use spool::SpoolError;
pub use writer::{
    Batch, BatchTarget, DurableWriter, TargetError, WriterError, WriterOptions, WriterStatus,
};
