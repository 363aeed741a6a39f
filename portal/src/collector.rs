//! The stats job: every update interval, read each pool's store and live state, keep the
//! snapshot and its history, and push it to live clients.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coin_daemon::Amount;
use payments::{BlockStatus, ShareCounts, StatsHistory};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::options::{FrontEnds, PortalOptions};
use crate::source::{PoolDirectory, PortalPool};
use crate::stats::{
    BlockCounts, FrontEndStatus, NetworkStats, PoolReading, PoolStats, PortalStats, pool_stats,
    portal_stats,
};

/// How long a daemon may take to answer `getmininginfo` before a snapshot goes without it.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(3);

/// The latest snapshot, the history in memory, and the live feed.
pub(crate) struct StatsState {
    latest: RwLock<Arc<PortalStats>>,
    latest_json: RwLock<Arc<str>>,
    history: RwLock<VecDeque<Arc<PortalStats>>>,
    updates: broadcast::Sender<Arc<str>>,
}

impl StatsState {
    pub(crate) fn new() -> Self {
        StatsState {
            latest: RwLock::new(Arc::default()),
            latest_json: RwLock::new(Arc::from("{}")),
            history: RwLock::new(VecDeque::new()),
            updates: broadcast::channel(16).0,
        }
    }

    /// The latest snapshot.
    pub(crate) fn latest(&self) -> Arc<PortalStats> {
        self.latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The latest snapshot as JSON.
    pub(crate) fn latest_json(&self) -> Arc<str> {
        self.latest_json
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The snapshots within the retention, oldest first.
    pub(crate) fn history(&self) -> Vec<Arc<PortalStats>> {
        self.history
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// A feed of every new snapshot's JSON.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.updates.subscribe()
    }

    fn publish(&self, stats: PortalStats, keep_from: u64) -> Arc<str> {
        let json: Arc<str> = Arc::from(
            serde_json::to_string(&stats)
                .expect("stats serialize")
                .as_str(),
        );
        let stats = Arc::new(stats);
        {
            let mut history = self.history.write().unwrap_or_else(|p| p.into_inner());
            history.push_back(stats.clone());
            while history.front().is_some_and(|s| s.time < keep_from) {
                history.pop_front();
            }
        }
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) = stats;
        *self.latest_json.write().unwrap_or_else(|p| p.into_inner()) = json.clone();
        let _ = self.updates.send(json.clone());
        json
    }

    fn restore(&self, snapshots: Vec<PortalStats>) {
        let mut history = self.history.write().unwrap_or_else(|p| p.into_inner());
        history.extend(snapshots.into_iter().map(Arc::new));
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Loads the stored history, then gathers stats every update interval until cancelled.
pub(crate) async fn run(
    options: PortalOptions,
    directory: Arc<dyn PoolDirectory>,
    history: Option<Arc<dyn StatsHistory>>,
    state: Arc<StatsState>,
    cancel: CancellationToken,
) {
    let retention = options.historical_retention.as_secs();
    if let Some(store) = &history {
        let since = unix_now().as_secs().saturating_sub(retention);
        match store.stats_since(since).await {
            Ok(stored) => state.restore(
                stored
                    .iter()
                    .filter_map(|s| serde_json::from_str(s).ok())
                    .collect(),
            ),
            Err(error) => tracing::warn!(%error, "cannot read the stats history"),
        }
    }
    let mut ticks = tokio::time::interval(options.update_interval.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = unix_now();
        let stats = gather(&directory.pools().await, &options, now).await;
        let keep_from = now.as_secs().saturating_sub(retention);
        let writes_history = keeps_history(&stats, own_instance(&options));
        let json = state.publish(stats, keep_from);
        if let Some(store) = history.as_ref().filter(|_| writes_history)
            && let Err(error) = store.push_stats(now.as_secs(), &json, keep_from).await
        {
            tracing::warn!(%error, "cannot store the stats snapshot");
        }
    }
}

/// One snapshot of every pool at `now` (unix time).
pub(crate) async fn gather(
    pools: &[PortalPool],
    options: &PortalOptions,
    now: Duration,
) -> PortalStats {
    let mut stats = Vec::with_capacity(pools.len());
    for pool in pools {
        stats.push(read_pool(pool, options, now).await);
    }
    let front_ends = match &options.front_ends {
        Some(front_ends) => read_front_ends(front_ends, now).await,
        None => Vec::new(),
    };
    // Shares, workers and hashrate come from the shared store already; connections are
    // each front-end's own, so the others' are added.
    for other in front_ends
        .iter()
        .filter(|f| f.live && Some(f.front_end.instance_id) != own_instance(options))
    {
        for pool in &mut stats {
            if let Some(theirs) = other.front_end.pools.get(&pool.name) {
                pool.connections += theirs.connections;
            }
        }
    }
    let mut snapshot = portal_stats(now.as_secs(), stats);
    snapshot.front_ends = front_ends;
    snapshot
}

/// Whether this portal stores the snapshot in the shared history: of several front-ends on
/// one store, only the live one with the lowest instance id does, so the history holds one
/// snapshot per interval (each snapshot counts every front-end already).
fn keeps_history(stats: &PortalStats, own: Option<u8>) -> bool {
    let Some(own) = own else {
        return true;
    };
    stats
        .front_ends
        .iter()
        .filter(|f| f.live)
        .all(|f| f.front_end.instance_id >= own)
}

fn own_instance(options: &PortalOptions) -> Option<u8> {
    options.front_ends.as_ref().map(|f| f.instance_id)
}

/// The front-ends as published, each marked live or gone; none while the registry does not
/// answer (the stats then count this process alone, and say so in the log).
async fn read_front_ends(front_ends: &FrontEnds, now: Duration) -> Vec<FrontEndStatus> {
    match tokio::time::timeout(NETWORK_TIMEOUT, front_ends.registry.front_ends()).await {
        Ok(Ok(list)) => list
            .into_iter()
            .map(|front_end| FrontEndStatus {
                live: now.as_millis() as u64
                    <= front_end.seen_ms + front_ends.live_for.as_millis() as u64,
                front_end,
            })
            .collect(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "stats: the front-end registry did not answer; counting this front-end alone");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!(
                "stats: the front-end registry did not answer in time; counting this front-end alone"
            );
            Vec::new()
        }
    }
}

async fn read_pool(pool: &PortalPool, options: &PortalOptions, now: Duration) -> PoolStats {
    let window = options.hashrate_window;
    let counters = pool.handle.counters();
    // An upstream-mode pool may run without a daemon: then there are no network facts.
    let network = match pool.handle.daemons() {
        Some(daemons) => tokio::time::timeout(NETWORK_TIMEOUT, daemons.get_mining_info())
            .await
            .ok()
            .and_then(Result::ok),
        None => None,
    };
    let network = network.map(|info| NetworkStats {
        height: pool.handle.height().unwrap_or(info.blocks + 1),
        difficulty: info.difficulty,
        hashrate: info.network_hashps,
    });
    let mut reading = PoolReading {
        name: pool.summary.name.clone(),
        symbol: pool.summary.symbol.clone(),
        algorithm: pool.summary.algorithm,
        // Without a store (MPOS mode) the counters since start are all there is.
        counts: ShareCounts {
            valid_shares: counters.valid_shares,
            invalid_shares: counters.invalid_shares.values().sum(),
            valid_blocks: counters.blocks_accepted,
            invalid_blocks: counters.blocks_rejected,
        },
        blocks: BlockCounts::default(),
        samples: Vec::new(),
        total_paid: Amount::ZERO,
        connections: counters.connections,
        network,
    };
    if let Some(store) = &pool.store {
        let since_ms = now.saturating_sub(window).as_millis() as u64;
        let read = async {
            let counts = store.counts().await?;
            let blocks = BlockCounts {
                pending: store.blocks(BlockStatus::Pending).await?.len() as u64,
                confirmed: store.blocks(BlockStatus::Confirmed).await?.len() as u64,
                orphaned: store.blocks(BlockStatus::Orphaned).await?.len() as u64,
            };
            let samples = store.hashrate_since(since_ms).await?;
            let paid = store.total_paid().await?;
            if pool.prune_samples {
                store.prune_hashrate(since_ms).await?;
            }
            Ok::<_, payments::StoreError>((counts, blocks, samples, paid))
        };
        match read.await {
            Ok((counts, blocks, samples, paid)) => {
                reading.counts = counts;
                reading.blocks = blocks;
                reading.samples = samples;
                reading.total_paid = paid;
            }
            Err(error) => {
                tracing::warn!(pool = pool.summary.name, %error, "stats: the share store did not answer; showing live counters")
            }
        }
    }
    pool_stats(reading, window.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front_end(instance_id: u8, live: bool) -> FrontEndStatus {
        FrontEndStatus {
            front_end: payments::FrontEnd {
                instance_id,
                owner: format!("nomp-{instance_id}"),
                host: "h".into(),
                pid: 1,
                version: "0".into(),
                started_ms: 0,
                seen_ms: 0,
                ready: true,
                problems: Vec::new(),
                pools: Default::default(),
            },
            live,
        }
    }

    #[test]
    fn the_lowest_live_front_end_alone_keeps_the_shared_history() {
        let mut stats = PortalStats::default();
        assert!(keeps_history(&stats, None), "alone");
        stats.front_ends = vec![front_end(2, true), front_end(5, true), front_end(1, false)];
        assert!(
            keeps_history(&stats, Some(2)),
            "1 is gone: it does not count"
        );
        assert!(!keeps_history(&stats, Some(5)));
        // The lowest live one goes: the next one takes over.
        stats.front_ends[0].live = false;
        assert!(keeps_history(&stats, Some(5)));
    }
}
