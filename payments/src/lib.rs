//! Share accounting for nomp-rs pools.
//!
//! - [`ShareStore`]: rounds, share counters, found blocks and hashrate samples of one coin,
//!   with two backends that pass one conformance suite: [`EmbeddedStore`] (one SQLite
//!   file, no server, the default) and [`RedisStore`] (NOMP's exact Redis key layout, so an
//!   existing NOMP Redis and NOMP-era tools keep working).
//! - [`ShareWriter`]: takes a pool's events and writes them in batches. While the store is
//!   down or slow it keeps batches in a local share log (checksummed, synced), in memory
//!   while the disk fails too (bounded, loudly), and writes them in order, exactly once,
//!   when the store is back, and at the next start. With durable acknowledgements every
//!   share is in the log before the miner hears `true`. No share is dropped.
//! - [`StatsHistory`]: the portal's stats snapshots (NOMP's `statHistory`), and
//!   [`SwitchState`]: the coin each switch is on (NOMP's `proxyState`), in either backend.
//! - [`PaymentProcessor`]: NOMP's payment run (PROP by default, PPLNS and SOLO as
//!   [`Scheme`]s): pending blocks checked with the wallet, matured rounds split exactly in
//!   satoshis from exact decimal share sums ([`prop_split`]), orphaned and unknown rounds
//!   merged back (once per height), `minimumPayment` with balances carried over, one
//!   payout transaction per run. The money itself is the pure [`settle`]: from the
//!   [`SettleFacts`] the run reads (splits, balances, invalid addresses, totals) to what it
//!   pays and keeps, conserving every satoshi; an overflow is an error, never a lost credit.
//!   The wallet is reached through the small [`Wallet`] trait (a daemon group implements it).
//! - Exactly-once payouts ([`PayoutStore`]): each run's payout transaction is built and
//!   signed first and journalled with the whole [`Settlement`], then broadcast; balances
//!   and rounds move in the store transaction that marks it done. A timeout, a crash or a
//!   restart broadcasts that same transaction again (same txid); a run is given up only
//!   when its transaction provably cannot confirm. A lease in the store lets one processor
//!   per coin pay at a time, and its fencing token ([`Fence`]), checked by the store in
//!   the same transaction as every journal and balance write, refuses the writes of a
//!   payer that stalled past its lease while another took over.
//! - Several front-ends on one Redis ([`FrontEndRegistry`], on [`RedisStore`]): each claims an
//!   instance id (0–31, the top bits of its extranonce1 values) and publishes its
//!   connections, payer role and readiness for the others' portals.
//! - Redis high availability ([`RedisOptions`]): one server, or the master a Redis Sentinel
//!   group names (asked again after any failure, so a failover is followed), with every write
//!   confirmed by `WAIT` for a number of replicas before it counts as stored.
//! - [`PaymentReport`]s: what each run did (blocks confirmed or orphaned, payouts sent,
//!   runs failed), counted in [`PaymentCounters`] and passed to a hook for notifications.
//!
//! ```no_run
//! # async fn run(pool: stratum_core::RunningPool) -> Result<(), payments::StoreError> {
//! use std::sync::Arc;
//! use payments::{EmbeddedStore, ShareWriter, WriterOptions};
//! use tokio_util::sync::CancellationToken;
//!
//! let store = Arc::new(EmbeddedStore::open("data/shares.sqlite".as_ref(), "bitcoin")?);
//! let options = WriterOptions::new("data/bitcoin.spool".into());
//! let cancel = CancellationToken::new();
//! let writer = ShareWriter::spawn(store, pool.events, options, cancel.clone())?;
//! // … until shutdown:
//! cancel.cancel();
//! writer.join().await?;
//! # Ok(())
//! # }
//! ```

mod batch;
mod embedded;
mod error;
mod frontends;
mod history;
mod journal;
mod processor;
mod redis_link;
mod redis_store;
mod report;
mod scheme;
mod settle;
mod store;
mod wallet;
mod writer;

pub use batch::{Batch, Record};
pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use frontends::{FrontEnd, FrontEndPool, FrontEndRegistry, INSTANCE_IDS};
pub use history::{StatsHistory, SwitchState};
pub use journal::{Fence, JournalEntry, JournalStatus, PayoutStore, RoundStatement, Settlement};
pub use pool_events::{DurableWriter, WriterOptions, WriterStatus};
pub use processor::{PaymentError, PaymentOptions, PaymentProcessor, PaymentStore, RunOutcome};
pub use redis_link::{RedisEndpoint, RedisOptions};
pub use redis_store::RedisStore;
pub use report::{PaymentCounters, PaymentCounts, PaymentReport};
pub use rust_decimal::Decimal;
pub use scheme::{PplnsWindow, Scheme, address_of, pplns_split, prop_split, solo_split};
pub use settle::{SettleFacts, SettleOverflow, Settled, owed, settle};
pub use store::{
    BlockEntry, BlockStatus, HashrateSample, Round, ShareCounts, ShareStore, share_decimal,
};
pub use wallet::Wallet;
pub use writer::ShareWriter;
