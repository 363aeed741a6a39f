//! Several front-ends on one Redis: this process's instance id, claimed in every Redis its
//! pools use at start and held while it runs, and what it publishes there so that every
//! front-end's portal shows them all.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use payments::{FrontEnd, FrontEndPool, FrontEndRegistry, INSTANCE_IDS, RedisStore};
use portal::{FrontEnds, PoolDirectory};
use stratum_core::IdAllocator;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, RedisConfig};
use crate::run::{Pools, StartError};

/// How often a front-end renews its claim and publishes itself.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a claim lasts unrenewed: the id of a front-end that died is free this long
/// after its last heartbeat.
const CLAIM_TTL: Duration = Duration::from_secs(15);
/// How long the portal counts a front-end it no longer hears from.
const LIVE_FOR: Duration = Duration::from_secs(10);

/// This front-end among the others.
pub(crate) struct Fleet {
    instance_id: u8,
    owner: String,
    host: String,
    started_ms: u64,
    registries: Vec<(String, Arc<RedisStore>)>,
    lost: Arc<AtomicBool>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The Redis servers the enabled pools and the portal use, each once.
fn redis_servers(config: &Config) -> Vec<RedisConfig> {
    let mut servers: Vec<RedisConfig> = Vec::new();
    let used = config
        .pools
        .iter()
        .filter(|p| p.config.enabled)
        .filter_map(|p| p.config.redis.as_ref())
        .chain(config.portal.redis.as_ref());
    for redis in used {
        if !servers.contains(redis) {
            servers.push(redis.clone());
        }
    }
    servers
}

impl Fleet {
    /// Claims this front-end's instance id in every Redis of `config`: `instanceId` if set
    /// (refused while another front-end holds it), else the first free one from a start
    /// derived from `owner`, so a restart takes its own id back. Without Redis the id is
    /// `instanceId` or 0, unclaimed: nothing else shares the store. While Redis does not
    /// answer, the id is used unchecked and claimed by the heartbeat once it does.
    pub(crate) async fn join(config: &Config, owner: &str) -> Result<Fleet, StartError> {
        let file = config.dir.join("config.json");
        let mut registries = Vec::new();
        for redis in redis_servers(config) {
            let store = RedisStore::with_options(&redis.options(), "")
                .map_err(|e| StartError::Other(format!("{}: redis: {e}", file.display())))?;
            registries.push((redis.describe(), Arc::new(store)));
        }
        let mut fleet = Fleet {
            instance_id: config.portal.instance_id.unwrap_or(0),
            owner: owner.to_owned(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map_or_else(|_| "unknown".into(), |h| h.trim().to_owned()),
            started_ms: now_ms(),
            registries,
            lost: Arc::default(),
        };
        if fleet.registries.is_empty() {
            return Ok(fleet);
        }
        let candidates: Vec<u8> = match config.portal.instance_id {
            Some(id) => vec![id],
            None => {
                let mut hasher = DefaultHasher::new();
                owner.hash(&mut hasher);
                let start = (hasher.finish() % u64::from(INSTANCE_IDS)) as u8;
                (0..INSTANCE_IDS)
                    .map(|i| (start + i) % INSTANCE_IDS)
                    .collect()
            }
        };
        let mut holders = Vec::new();
        for id in candidates.iter().copied() {
            fleet.instance_id = id;
            match fleet.claim().await {
                Claim::Taken => {
                    tracing::info!(instance_id = id, "front-end instance id claimed");
                    return Ok(fleet);
                }
                Claim::Unchecked(error) => {
                    tracing::warn!(
                        instance_id = id,
                        %error,
                        "Redis does not answer: this front-end uses instance id {id} unchecked and claims it once Redis is back"
                    );
                    return Ok(fleet);
                }
                Claim::HeldBy(holder) => holders.push(format!("{id} by {holder}")),
            }
        }
        let message = match config.portal.instance_id {
            Some(id) => format!(
                "instanceId {id} is held by another front-end ({}): two front-ends with one id would give miners the same extranonce1 values",
                holders.join(", ")
            ),
            None => format!(
                "every instance id (0–{}) is held by another front-end on this Redis",
                INSTANCE_IDS - 1
            ),
        };
        Err(StartError::Config(crate::config::ConfigError {
            file,
            field: "instanceId".into(),
            message,
            fix: Some(
                "give each front-end on one Redis its own instanceId (0–31), or leave it out to take a free one; a front-end that was just killed frees its id within 15 s"
                    .into(),
            ),
        }))
    }

    /// Claims (or renews) the id in every registry; on a refusal, gives back what it took.
    async fn claim(&self) -> Claim {
        let ttl = CLAIM_TTL.as_millis() as u64;
        let mut unchecked = None;
        for (index, (_, registry)) in self.registries.iter().enumerate() {
            match registry
                .claim_instance(self.instance_id, &self.owner, ttl)
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(holder)) => {
                    for (_, taken) in &self.registries[..index] {
                        self.give_up(taken).await;
                    }
                    return Claim::HeldBy(holder);
                }
                Err(error) => unchecked = Some(error.to_string()),
            }
        }
        match unchecked {
            Some(error) => Claim::Unchecked(error),
            None => Claim::Taken,
        }
    }

    /// Releases the id's claim in `registry`; one that cannot be released expires by itself.
    async fn give_up(&self, registry: &RedisStore) {
        if let Err(error) = registry
            .release_instance(self.instance_id, &self.owner)
            .await
        {
            tracing::warn!(
                instance_id = self.instance_id,
                %error,
                "cannot release the instance id claim; it expires within 15 s"
            );
        }
    }

    /// The extranonce1 and job id allocator of this front-end's pools.
    pub(crate) fn ids(&self) -> Arc<IdAllocator> {
        Arc::new(IdAllocator::new(self.instance_id))
    }

    /// What the portal reads the other front-ends from, when there is a Redis.
    pub(crate) fn portal_view(&self) -> Option<FrontEnds> {
        self.registries.first().map(|(_, registry)| FrontEnds {
            registry: registry.clone() as Arc<dyn FrontEndRegistry>,
            instance_id: self.instance_id,
            live_for: LIVE_FOR,
        })
    }

    /// Whether the heartbeat found its id taken by another front-end (the process then
    /// stops, and exits with an error).
    pub(crate) fn lost(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }

    /// Renews the claim and publishes this front-end every heartbeat until `cancel`, then
    /// gives both up. Finding the id held by another front-end (this one stalled past its
    /// claim) is an error that stops the process: two front-ends must never hand out the
    /// same extranonce1 values.
    pub(crate) fn spawn(self, pools: Arc<Pools>, cancel: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            if self.registries.is_empty() {
                return;
            }
            let mut ticks = tokio::time::interval(HEARTBEAT);
            let mut failing = false;
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                match self.claim().await {
                    Claim::Taken => {
                        if failing {
                            tracing::info!(
                                instance_id = self.instance_id,
                                "front-end instance id claimed again"
                            );
                        }
                        failing = false;
                    }
                    Claim::Unchecked(error) => {
                        if !failing {
                            tracing::warn!(instance_id = self.instance_id, %error, "cannot renew the instance id claim; retrying");
                        }
                        failing = true;
                        continue;
                    }
                    Claim::HeldBy(holder) => {
                        tracing::error!(
                            instance_id = self.instance_id,
                            holder,
                            "another front-end holds this front-end's instance id (this one stalled past its claim): stopping, so two never give miners the same work"
                        );
                        self.lost.store(true, Ordering::SeqCst);
                        cancel.cancel();
                        return;
                    }
                }
                let front_end = self.describe(&pools).await;
                for (name, registry) in &self.registries {
                    if let Err(error) = registry.publish(&front_end).await {
                        tracing::warn!(redis = name, %error, "cannot publish this front-end's state");
                    }
                }
            }
            for (name, registry) in &self.registries {
                if let Err(error) = registry.withdraw(self.instance_id).await {
                    tracing::warn!(redis = name, %error, "cannot withdraw this front-end's state; others see it gone once it is silent");
                }
                self.give_up(registry).await;
            }
        })
    }

    /// This front-end now: its pools' connections and payer role, and its readiness.
    async fn describe(&self, pools: &Pools) -> FrontEnd {
        let running = pools.pools().await;
        let readiness = portal::readiness(&running);
        FrontEnd {
            instance_id: self.instance_id,
            owner: self.owner.clone(),
            host: self.host.clone(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_ms: self.started_ms,
            seen_ms: now_ms(),
            ready: portal::all_ready(&readiness),
            problems: readiness
                .iter()
                .flat_map(|p| {
                    p.problems
                        .iter()
                        .map(|problem| format!("{}: {problem}", p.pool))
                })
                .collect(),
            pools: running
                .iter()
                .map(|pool| {
                    let payer = pool
                        .payments
                        .as_ref()
                        .is_some_and(|p| p.snapshot().payer_fence.is_some());
                    (
                        pool.summary.name.clone(),
                        FrontEndPool {
                            connections: pool.handle.counters().connections,
                            payer,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// What a claim found.
enum Claim {
    /// Held by this front-end now.
    Taken,
    /// Held by another front-end, named.
    HeldBy(String),
    /// Redis did not answer.
    Unchecked(String),
}
