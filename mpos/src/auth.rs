//! Worker authorisation through MPOS's `pool_worker` table.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use pool_events::Authorizer;

use crate::options::MposOptions;

/// MySQL's error code for a duplicate key.
pub(crate) const DUPLICATE_KEY: u16 = 1062;

/// Authorises workers as NOMP's MPOS mode does: names are looked up in lower case; a
/// worker listed in `pool_worker` is accepted (with `check_password`, only with its stored
/// password); an unknown one is created (in lower case) when `auto_create_worker` is on
/// and its account exists, and refused otherwise. With `validate_worker_username` and
/// `auto_create_worker` both off, every worker is accepted without a query.
///
/// Each miner's check awaits its own query, so a slow database delays only the miners
/// authorising at that moment; after `auth_timeout` (or any database error) the worker is
/// refused and may try again.
#[derive(Debug, Clone)]
pub struct MposAuthorizer {
    pool: Pool,
    check_password: bool,
    auto_create_worker: bool,
    validate: bool,
    timeout: Duration,
}

impl MposAuthorizer {
    /// Checks workers against the database of `pool` with `options`.
    pub fn new(pool: Pool, options: &MposOptions) -> Self {
        MposAuthorizer {
            pool,
            check_password: options.check_password,
            auto_create_worker: options.auto_create_worker,
            validate: options.validate_worker_username,
            timeout: options.auth_timeout,
        }
    }

    async fn check(&self, worker: &str, password: &str) -> Result<bool, mysql_async::Error> {
        let worker = worker.to_lowercase();
        let worker = worker.as_str();
        let mut conn = self.pool.get_conn().await?;
        let stored: Option<Option<String>> = conn
            .exec_first(
                "SELECT password FROM pool_worker WHERE username = ?",
                (worker,),
            )
            .await?;
        match stored {
            Some(stored) => Ok(!self.check_password || stored.as_deref() == Some(password)),
            None if self.auto_create_worker => {
                let account = worker.split('.').next().unwrap_or(worker);
                let id: Option<u64> = conn
                    .exec_first("SELECT id FROM accounts WHERE username = ?", (account,))
                    .await?;
                let Some(id) = id else {
                    return Ok(false);
                };
                let created = conn
                    .exec_drop(
                        "INSERT INTO pool_worker (account_id, username, password) VALUES (?, ?, ?)",
                        (id, worker, password),
                    )
                    .await;
                match created {
                    Ok(()) => {
                        tracing::info!(worker, account, "created an MPOS worker");
                        Ok(true)
                    }
                    // Another connection created it a moment ago.
                    Err(mysql_async::Error::Server(e)) if e.code == DUPLICATE_KEY => Ok(true),
                    Err(e) => Err(e),
                }
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl Authorizer for MposAuthorizer {
    async fn authorize(&self, worker: &str, password: &str, ip: IpAddr) -> bool {
        if !self.validate && !self.auto_create_worker {
            return true;
        }
        match tokio::time::timeout(self.timeout, self.check(worker, password)).await {
            Ok(Ok(authorised)) => authorised,
            Ok(Err(error)) => {
                tracing::warn!(worker, %ip, %error, "MPOS database error; worker refused");
                false
            }
            Err(_) => {
                tracing::warn!(worker, %ip, timeout = ?self.timeout, "MPOS database too slow; worker refused");
                false
            }
        }
    }
}
