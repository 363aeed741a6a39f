//! Live counters of a running pool: open connections, shares by result, blocks.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::events::PoolEvent;

/// Counters a pool keeps while it runs, for dashboards and metrics. Since start (not
/// persisted): the share store keeps the lasting totals.
#[derive(Debug, Default)]
pub struct PoolCounters {
    connections: AtomicU64,
    valid_shares: AtomicU64,
    /// Invalid shares by [`crate::Reject::kind`]: a fixed set of labels, never values.
    invalid_shares: Mutex<BTreeMap<&'static str, u64>>,
    blocks_accepted: AtomicU64,
    blocks_rejected: AtomicU64,
    upstream_accepted: AtomicU64,
    upstream_rejected: AtomicU64,
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
    /// Upstream mode: shares forwarded to the upstream pool that it accepted.
    pub upstream_accepted: u64,
    /// Upstream mode: shares the upstream pool refused or that could not reach it (its
    /// connection broke); the miners were credited all the same.
    pub upstream_rejected: u64,
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
            upstream_accepted: self.upstream_accepted.load(Ordering::Relaxed),
            upstream_rejected: self.upstream_rejected.load(Ordering::Relaxed),
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
