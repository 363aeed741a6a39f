//! How the Redis store reaches its server: one address, or whichever server a Redis
//! Sentinel group names master now; and how its writes are made to survive a failover.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisConnectionInfo, Script, ServerErrorKind};

use crate::error::StoreError;

/// Where a [`crate::RedisStore`]'s server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisEndpoint {
    /// One server: `redis://[:password@]host:port/db`.
    Url(String),
    /// The master of a Redis Sentinel group, asked of the sentinels at every (re)connection,
    /// so the store follows a failover by itself.
    Sentinel {
        /// The sentinels: `redis://[:password@]host:port` each (the password is the
        /// sentinels' own, if they have one).
        sentinels: Vec<String>,
        /// The group's name in the sentinels' configuration (`sentinel monitor <name> …`).
        master_name: String,
        /// The database number on the master.
        db: i64,
        /// The master's password (`requirepass`), if any.
        password: Option<String>,
    },
}

/// How a [`crate::RedisStore`] reaches Redis and when a write counts as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// The server.
    pub endpoint: RedisEndpoint,
    /// Replicas each write must have reached (Redis `WAIT`) before the store reports it
    /// stored. A write the master took but no replica confirmed in time is reported as
    /// failed, so the share writer keeps its batch and applies it again (a no-op where it
    /// arrived): a failover to a replica that missed it then loses nothing. 0: the master's
    /// answer is enough.
    pub replicas: u32,
    /// How long a write waits for its replicas.
    pub replica_timeout: Duration,
}

impl RedisOptions {
    /// One server at `url`, writes done once the master has them.
    pub fn url(url: &str) -> RedisOptions {
        RedisOptions {
            endpoint: RedisEndpoint::Url(url.to_owned()),
            replicas: 0,
            replica_timeout: Duration::from_secs(1),
        }
    }
}

/// Calls fail fast while Redis is down so the share writer can spool instead of waiting.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200))
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
}

/// How long asking the sentinels and connecting to the master they name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

enum Target {
    Direct(ConnectionManager),
    Sentinel {
        client: Box<tokio::sync::Mutex<SentinelClient>>,
        /// The connection to the master last named; dropped after any failure, so the
        /// next call asks the sentinels again.
        current: Mutex<Option<ConnectionManager>>,
    },
}

/// The store's connection, with its write rule.
pub(crate) struct Link {
    target: Target,
    replicas: u32,
    replica_timeout: Duration,
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

impl Link {
    /// A link per `options`; connects lazily (Redis may be down at start-up). Fails only
    /// for a malformed address.
    pub(crate) fn new(options: &RedisOptions) -> Result<Link, StoreError> {
        let target = match &options.endpoint {
            RedisEndpoint::Url(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| unavailable(format!("redis URL {url}: {e}")))?;
                Target::Direct(
                    ConnectionManager::new_lazy_with_config(client, manager_config())
                        .map_err(unavailable)?,
                )
            }
            RedisEndpoint::Sentinel {
                sentinels,
                master_name,
                db,
                password,
            } => {
                let mut master = RedisConnectionInfo::default().set_db(*db);
                if let Some(password) = password {
                    master = master.set_password(password);
                }
                let client = SentinelClient::build(
                    sentinels.iter().map(String::as_str).collect(),
                    master_name.clone(),
                    Some(SentinelNodeConnectionInfo::default().set_redis_connection_info(master)),
                    SentinelServerType::Master,
                )
                .map_err(|e| unavailable(format!("redis sentinels {sentinels:?}: {e}")))?;
                Target::Sentinel {
                    client: Box::new(tokio::sync::Mutex::new(client)),
                    current: Mutex::new(None),
                }
            }
        };
        Ok(Link {
            target,
            replicas: options.replicas,
            replica_timeout: options.replica_timeout,
        })
    }

    /// A connection to the master.
    pub(crate) async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let (client, current) = match &self.target {
            Target::Direct(manager) => return Ok(manager.clone()),
            Target::Sentinel { client, current } => (client, current),
        };
        if let Some(manager) = lock(current).clone() {
            return Ok(manager);
        }
        // One caller asks the sentinels; the others wait for its answer.
        let mut sentinels = client.lock().await;
        if let Some(manager) = lock(current).clone() {
            return Ok(manager);
        }
        let resolve = async {
            let master = sentinels.async_get_client().await?;
            let address = master.get_connection_info().addr().to_string();
            let manager = ConnectionManager::new_with_config(master, manager_config()).await?;
            Ok::<_, redis::RedisError>((address, manager))
        };
        let (address, manager) = tokio::time::timeout(RESOLVE_TIMEOUT, resolve)
            .await
            .map_err(|_| unavailable("the sentinels or the master they name did not answer"))?
            .map_err(|e| unavailable(format!("no master from the sentinels: {e}")))?;
        tracing::info!(
            master = address,
            "redis: connected to the master the sentinels name"
        );
        *lock(current) = Some(manager.clone());
        Ok(manager)
    }

    /// `error` as the store reports it; behind sentinels, the next call asks them for the
    /// master again (it may have failed over: a refused connection, or `READONLY` from a
    /// demoted master).
    pub(crate) fn failed(&self, error: redis::RedisError) -> StoreError {
        if let Target::Sentinel { current, .. } = &self.target
            && lock(current).take().is_some()
        {
            tracing::warn!(%error, "redis: the master failed; asking the sentinels again");
        }
        unavailable(error)
    }

    /// Runs a read (or a write that needs no replica) on the master.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        cmd.query_async(&mut connection)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Runs `eval` (an [`evalsha`] of `script` with its arguments), followed on the same
    /// connection by `WAIT` for the configured replicas; loads the script when the server
    /// does not know it yet. An error unless the replicas confirmed.
    pub(crate) async fn write<T: FromRedisValue>(
        &self,
        script: &Script,
        eval: &Cmd,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        for attempt in 0..2 {
            let answer = if self.replicas == 0 {
                eval.query_async::<T>(&mut connection).await
            } else {
                let mut pipe = redis::pipe();
                pipe.add_command(eval.clone())
                    .cmd("WAIT")
                    .arg(self.replicas)
                    .arg(self.replica_timeout.as_millis() as u64);
                match pipe.query_async::<(T, u32)>(&mut connection).await {
                    Ok((_, acked)) if acked < self.replicas => {
                        return Err(unavailable(format!(
                            "the write reached {acked} of {} replicas in {} ms: not counted as stored, to be written again",
                            self.replicas,
                            self.replica_timeout.as_millis()
                        )));
                    }
                    answer => answer.map(|(value, _)| value),
                }
            };
            match answer {
                Ok(value) => return Ok(value),
                Err(error)
                    if attempt == 0
                        && error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) =>
                {
                    script
                        .load_async(&mut connection)
                        .await
                        .map_err(|e| self.failed(e))?;
                }
                Err(error) => return Err(self.failed(error)),
            }
        }
        Err(unavailable(
            "the server forgot a script as soon as it was loaded",
        ))
    }
}

/// `EVALSHA <script's hash> 0`: add the script's arguments, then [`Link::write`] it.
pub(crate) fn evalsha(script: &Script) -> Cmd {
    let mut eval = redis::cmd("EVALSHA");
    eval.arg(script.get_hash()).arg(0);
    eval
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
