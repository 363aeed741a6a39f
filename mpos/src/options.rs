use std::time::Duration;

use mysql_async::{Opts, Pool};

use crate::error::MposError;

/// A pool's `mposMode` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MposOptions {
    /// The MPOS database: `mysql://user:password@host:port/database`.
    pub url: String,
    /// A known worker must give the password stored in `pool_worker` (`checkPassword`).
    pub check_password: bool,
    /// An unknown worker whose account (the name before the first `.`) exists in
    /// `accounts` is created in `pool_worker` (`autoCreateWorker`).
    pub auto_create_worker: bool,
    /// Workers are checked in `pool_worker` at all (the pool's `validateWorkerUsername`):
    /// with it off and `auto_create_worker` off, every worker is let in, as NOMP does.
    pub validate_worker_username: bool,
    /// Share difficulties are multiplied by this before they are written
    /// (`difficultyMultiplier`; 1 when absent).
    pub difficulty_multiplier: f64,
    /// Rejected block candidates keep their block hash in `solution`
    /// (`emitInvalidBlockHashes`).
    pub emit_invalid_block_hashes: bool,
    /// How long an authorisation may wait for the database before the worker is refused.
    pub auth_timeout: Duration,
}

impl MposOptions {
    /// NOMP's defaults for `url`: workers checked in the database, passwords not checked,
    /// no auto-created workers, no multiplier, invalid block hashes not written, a 5 s
    /// authorisation timeout.
    pub fn new(url: impl Into<String>) -> Self {
        MposOptions {
            url: url.into(),
            check_password: false,
            auto_create_worker: false,
            validate_worker_username: true,
            difficulty_multiplier: 1.0,
            emit_invalid_block_hashes: false,
            auth_timeout: Duration::from_secs(5),
        }
    }

    /// A connection pool for the database. Connects lazily: the database may be down
    /// at start-up; calls fail fast while it is and work again once it is back.
    pub fn pool(&self) -> Result<Pool, MposError> {
        let opts = Opts::from_url(&self.url).map_err(|e| MposError::Url {
            url: self.url.clone(),
            reason: e.to_string(),
        })?;
        Ok(Pool::new(opts))
    }
}
