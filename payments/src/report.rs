//! What payment runs did, for metrics and operator notifications.

use std::sync::atomic::{AtomicU64, Ordering};

use coin_daemon::Amount;

/// One thing a payment run did that costs or earns money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentReport {
    /// A found block matured and its round was paid into balances.
    BlockConfirmed {
        /// Its height.
        height: u64,
        /// Its hash (display hex).
        hash: String,
    },
    /// A found block left the chain; its round merged back.
    BlockOrphaned {
        /// Its height.
        height: u64,
        /// Its hash (display hex).
        hash: String,
    },
    /// A payout transaction reached the daemon.
    Sent {
        /// The run's journal id.
        id: String,
        /// The transaction id.
        txid: String,
        /// How many addresses it pays.
        addresses: usize,
        /// What it pays in all.
        total: Amount,
    },
    /// A run failed; the next run retries.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Counts of [`PaymentReport`]s since start.
#[derive(Debug, Default)]
pub struct PaymentCounters {
    confirmed: AtomicU64,
    orphaned: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    /// The payment lease's fence while this processor holds it; 0 while it does not.
    fence: AtomicU64,
}

/// A reading of [`PaymentCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaymentCounts {
    /// Blocks confirmed (matured and paid into balances).
    pub blocks_confirmed: u64,
    /// Blocks orphaned.
    pub blocks_orphaned: u64,
    /// Payout transactions sent.
    pub payments_sent: u64,
    /// Payment runs that failed.
    pub payments_failed: u64,
    /// The fence of the payment lease while this processor holds it (it is the payer).
    pub payer_fence: Option<u64>,
}

impl PaymentCounters {
    /// Counts `report`.
    pub fn count(&self, report: &PaymentReport) {
        let counter = match report {
            PaymentReport::BlockConfirmed { .. } => &self.confirmed,
            PaymentReport::BlockOrphaned { .. } => &self.orphaned,
            PaymentReport::Sent { .. } => &self.sent,
            PaymentReport::Failed { .. } => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> PaymentCounts {
        PaymentCounts {
            blocks_confirmed: self.confirmed.load(Ordering::Relaxed),
            blocks_orphaned: self.orphaned.load(Ordering::Relaxed),
            payments_sent: self.sent.load(Ordering::Relaxed),
            payments_failed: self.failed.load(Ordering::Relaxed),
            payer_fence: match self.fence.load(Ordering::Relaxed) {
                0 => None,
                fence => Some(fence),
            },
        }
    }

    /// Records the fence this processor holds, or that it holds none.
    pub(crate) fn set_fence(&self, fence: Option<u64>) {
        self.fence.store(fence.unwrap_or(0), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_report_counts_under_its_own_name() {
        let counters = PaymentCounters::default();
        let block = |height| PaymentReport::BlockConfirmed {
            height,
            hash: "00".into(),
        };
        counters.count(&block(1));
        counters.count(&block(2));
        counters.count(&PaymentReport::BlockOrphaned {
            height: 3,
            hash: "01".into(),
        });
        counters.count(&PaymentReport::Failed {
            reason: "wallet down".into(),
        });
        assert_eq!(
            counters.snapshot(),
            PaymentCounts {
                blocks_confirmed: 2,
                blocks_orphaned: 1,
                payments_sent: 0,
                payments_failed: 1,
                payer_fence: None,
            }
        );
    }
}
