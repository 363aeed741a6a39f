//! MPOS compatibility: nomp-rs as the stratum front-end of an MPOS site, as NOMP's
//! `mposMode` was.
//!
//! - [`MposAuthorizer`]: `mining.authorize` checked in MPOS's `pool_worker` table
//!   (`checkPassword`, `autoCreateWorker`), asynchronously, with a timeout.
//! - [`MposShareSink`]: every share into MPOS's `shares` table (rem_host, username,
//!   our_result, upstream_result, reason, solution, difficulty, time) and vardiff changes
//!   into `pool_worker.difficulty`, in batched, parameterised multi-row INSERTs. While the
//!   database is down, batches are spooled to disk and written when it is back, once each.
//! - [`SCHEMA`]: the tables involved (`mpos/sql/mpos.sql`), for tests and for trying MPOS
//!   mode without MPOS.
//!
//! ```no_run
//! # async fn run(pool: stratum_core::RunningPool) -> Result<(), mpos::MposError> {
//! use mpos::{MposAuthorizer, MposOptions, MposShareSink};
//! use pool_events::WriterOptions;
//! use tokio_util::sync::CancellationToken;
//!
//! let options = MposOptions::new("mysql://mpos:secret@127.0.0.1:3306/mpos");
//! let database = options.pool()?;
//! // Give this to start_pool as its authorizer:
//! let authorizer = MposAuthorizer::new(database.clone(), &options);
//! let writer = WriterOptions::new("data/mpos.spool".into());
//! let sink = MposShareSink::spawn(database, pool.events, &options, writer, CancellationToken::new()).await?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod error;
mod options;
mod sink;

pub use auth::MposAuthorizer;
pub use error::MposError;
pub use options::MposOptions;
pub use sink::{MposRecord, MposShareSink};

/// The MPOS tables nomp-rs uses (`accounts`, `pool_worker`, `shares`) and its own
/// `nomp_share_batches`, as MySQL/MariaDB DDL.
pub const SCHEMA: &str = include_str!("../sql/mpos.sql");
