//! Live counters of a running pool: open connections, shares by result, blocks.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::events::PoolEvent;
use crate::latency::{Latency, LatencySnapshot};

/// Counters a pool keeps while it runs, for dashboards and metrics. Since start (not
/// persisted): the share store keeps the lasting totals.
#[derive(Debug)]
pub struct PoolCounters {
    connections: AtomicU64,
    valid_shares: AtomicU64,
    /// Invalid shares by [`crate::Reject::kind`]: a fixed set of labels, never values.
    invalid_shares: Mutex<BTreeMap<&'static str, u64>>,
    blocks_accepted: AtomicU64,
    blocks_rejected: AtomicU64,
    upstream_accepted: AtomicU64,
    upstream_rejected: AtomicU64,
    blocks_found: AtomicU64,
    blocks_submitted: AtomicU64,
    extranonce1_refused: AtomicU64,
    /// Unix seconds of the last accepted block, or of the counters' creation.
    last_block_time: AtomicU64,
    share_check: Latency,
    notify_fanout: Latency,
    block_submit: Latency,
}

impl Default for PoolCounters {
    fn default() -> Self {
        PoolCounters {
            connections: AtomicU64::default(),
            valid_shares: AtomicU64::default(),
            invalid_shares: Mutex::default(),
            blocks_accepted: AtomicU64::default(),
            blocks_rejected: AtomicU64::default(),
            upstream_accepted: AtomicU64::default(),
            upstream_rejected: AtomicU64::default(),
            blocks_found: AtomicU64::default(),
            blocks_submitted: AtomicU64::default(),
            extranonce1_refused: AtomicU64::default(),
            last_block_time: AtomicU64::new(unix_now()),
            share_check: Latency::default(),
            notify_fanout: Latency::default(),
            block_submit: Latency::default(),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long a pool's steps took since start; see [`PoolCounters::timings`].
#[derive(Debug, Clone, PartialEq)]
pub struct PoolTimings {
    /// From a share's arrival to its verdict (hash included).
    pub share_check: LatencySnapshot,
    /// From the pool learning of a new block to its clean job written to a miner, once per
    /// miner.
    pub notify_fanout: LatencySnapshot,
    /// A block's first `submitblock` to every daemon, until the last answers.
    pub block_submit: LatencySnapshot,
}

/// A reading of a pool's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Miner connections open now.
    pub connections: u64,
    /// Valid shares since start.
    pub valid_shares: u64,
    /// Invalid shares since start, by kind of refusal (one of [`crate::Reject::KINDS`]).
    pub invalid_shares: BTreeMap<&'static str, u64>,
    /// Blocks the daemons accepted since start.
    pub blocks_accepted: u64,
    /// Block candidates the daemons refused since start.
    pub blocks_rejected: u64,
    /// Shares that met the network target since start, stale duplicates of a block being
    /// submitted included.
    pub blocks_found: u64,
    /// Blocks sent to the daemons (`submitblock`) or the upstream pool since start.
    pub blocks_submitted: u64,
    /// Unix seconds of the last block the daemons accepted, or of the pool's start when
    /// none was since.
    pub last_block_time: u64,
    /// Upstream mode: shares forwarded to the upstream pool that it accepted.
    pub upstream_accepted: u64,
    /// Upstream mode: shares the upstream pool refused or that could not reach it (its
    /// connection broke); the miners were credited all the same.
    pub upstream_rejected: u64,
    /// Subscriptions refused because every extranonce1 value was held by a live
    /// connection.
    pub extranonce1_refused: u64,
}

impl PoolCounters {
    /// Counts what `event` reports.
    pub fn observe(&self, event: &PoolEvent) {
        match event {
            PoolEvent::Share(share) => match &share.reject {
                None => {
                    self.valid_shares.fetch_add(1, Ordering::Relaxed);
                }
                Some(reject) => {
                    *self
                        .invalid_shares
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(reject.kind())
                        .or_default() += 1;
                }
            },
            PoolEvent::Block(block) => {
                let counter = if block.accepted {
                    self.last_block_time.store(unix_now(), Ordering::Relaxed);
                    &self.blocks_accepted
                } else {
                    &self.blocks_rejected
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            PoolEvent::Difficulty(_) => {}
        }
    }

    /// Counts a share forwarded upstream, by the upstream's verdict.
    pub fn forwarded(&self, accepted: bool) {
        let counter = if accepted {
            &self.upstream_accepted
        } else {
            &self.upstream_rejected
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a subscription refused for want of a free extranonce1.
    pub fn extranonce1_refused(&self) {
        self.extranonce1_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a share that met the network target.
    pub fn block_found(&self) {
        self.blocks_found.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a block sent to the daemons or the upstream pool.
    pub fn block_submitted(&self) {
        self.blocks_submitted.fetch_add(1, Ordering::Relaxed);
    }

    /// Times one share check.
    pub fn share_checked(&self, elapsed: Duration) {
        self.share_check.observe(elapsed);
    }

    /// Times one miner's new-block notify.
    pub fn notified(&self, elapsed: Duration) {
        self.notify_fanout.observe(elapsed);
    }

    /// Times one block submission round.
    pub fn block_sent(&self, elapsed: Duration) {
        self.block_submit.observe(elapsed);
    }

    /// The latency histograms now.
    pub fn timings(&self) -> PoolTimings {
        PoolTimings {
            share_check: self.share_check.snapshot(),
            notify_fanout: self.notify_fanout.snapshot(),
            block_submit: self.block_submit.snapshot(),
        }
    }

    /// Counts an open connection until the guard drops.
    pub fn connection(&self) -> ConnectionGuard<'_> {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self)
    }

    /// The counts now.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            valid_shares: self.valid_shares.load(Ordering::Relaxed),
            invalid_shares: self
                .invalid_shares
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            blocks_accepted: self.blocks_accepted.load(Ordering::Relaxed),
            blocks_rejected: self.blocks_rejected.load(Ordering::Relaxed),
            blocks_found: self.blocks_found.load(Ordering::Relaxed),
            blocks_submitted: self.blocks_submitted.load(Ordering::Relaxed),
            last_block_time: self.last_block_time.load(Ordering::Relaxed),
            upstream_accepted: self.upstream_accepted.load(Ordering::Relaxed),
            upstream_rejected: self.upstream_rejected.load(Ordering::Relaxed),
            extranonce1_refused: self.extranonce1_refused.load(Ordering::Relaxed),
        }
    }
}

/// Holds one count of [`PoolCounters`]' open connections.
pub struct ConnectionGuard<'a>(&'a PoolCounters);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::SystemTime;

    use super::*;
    use crate::events::{BlockEvent, ShareEvent};
    use crate::reject::Reject;
    use hashing::{BlockHash, Txid};

    fn share(reject: Option<Reject>) -> PoolEvent {
        PoolEvent::Share(ShareEvent {
            worker: "w".into(),
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 3333,
            height: 1,
            difficulty: hashing::Difficulty::ONE,
            share_difficulty: Some(hashing::Difficulty::ONE),
            block_hash: None,
            block_accepted: false,
            reject,
            time: SystemTime::UNIX_EPOCH,
        })
    }

    #[test]
    fn shares_blocks_and_connections_are_counted() {
        let counters = PoolCounters::default();
        counters.observe(&share(None));
        counters.observe(&share(None));
        counters.observe(&share(Some(Reject::Duplicate)));
        for reached in [1e-7, 2e-7, 3.3e-9] {
            counters.observe(&share(Some(Reject::LowDifficulty {
                share_difficulty: reached,
            })));
        }
        counters.observe(&share(Some(Reject::Duplicate)));
        counters.observe(&PoolEvent::Block(BlockEvent {
            worker: "w".into(),
            height: 1,
            hash: BlockHash::from_internal([0; 32]),
            coinbase_txid: Txid::from_internal([1; 32]),
            accepted: false,
            reason: Some("stale".into()),
            found: SystemTime::now(),
            network_difficulty: hashing::Difficulty::ONE,
        }));
        let open = counters.connection();
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.connections, 1);
        assert_eq!(snapshot.valid_shares, 2);
        assert_eq!(snapshot.invalid_shares["duplicate"], 2);
        // Each reached difficulty differs, yet they share one label.
        assert_eq!(snapshot.invalid_shares["low_difficulty"], 3);
        assert_eq!(snapshot.invalid_shares.len(), 2);
        assert_eq!((snapshot.blocks_accepted, snapshot.blocks_rejected), (0, 1));
        drop(open);
        assert_eq!(counters.snapshot().connections, 0);
    }
}
