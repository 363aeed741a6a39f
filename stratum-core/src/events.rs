//! What the pool reports: every share and every block candidate.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use tokio::sync::mpsc;

use crate::counters::PoolCounters;

/// A share, valid or not.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareEvent {
    /// The worker name as authorised (`address.rig`).
    pub worker: String,
    /// The miner's IP (from the PROXY header when one is used).
    pub ip: IpAddr,
    /// The pool port it came in on.
    pub port: u16,
    /// The block height of its job (0 when the job was unknown).
    pub height: u64,
    /// The difficulty credited (the connection's difficulty).
    pub difficulty: f64,
    /// The difficulty the hash reached (0 when it was not hashed).
    pub share_difficulty: f64,
    /// The block id when the share was a block candidate. Such a share's event is sent
    /// once the daemons have answered its block, just before its [`BlockEvent`].
    pub block_hash: Option<String>,
    /// Whether the share's block was accepted (false for every other share).
    pub block_accepted: bool,
    /// Why it was refused, for an invalid share.
    pub error: Option<String>,
    /// When it arrived.
    pub time: SystemTime,
}

impl ShareEvent {
    /// Whether the share was valid.
    pub fn is_valid(&self) -> bool {
        self.error.is_none()
    }
}

/// A block candidate after submission to the daemons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    /// The worker whose share it was.
    pub worker: String,
    /// The block height.
    pub height: u64,
    /// The block id (display hex).
    pub hash: String,
    /// The coinbase txid (display hex).
    pub coinbase_txid: String,
    /// Whether a daemon took it and `getblock` finds it on the main chain.
    pub accepted: bool,
    /// The daemons' reason when it was not accepted.
    pub reason: Option<String>,
}

/// A worker's difficulty changed (vardiff or `mining.suggest_difficulty`), effective from
/// the job sent with it.
#[derive(Debug, Clone, PartialEq)]
pub struct DifficultyEvent {
    /// The worker (each worker authorised on the connection gets one).
    pub worker: String,
    /// The new difficulty.
    pub difficulty: f64,
}

/// An event of a running pool.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolEvent {
    /// A share.
    Share(ShareEvent),
    /// A block candidate's fate.
    Block(BlockEvent),
    /// A new difficulty for a worker.
    Difficulty(DifficultyEvent),
}

/// Sends events without ever waiting and without losing any.
///
/// Events go straight into the bounded channel while it has room. When the consumer lags
/// and the channel is full, they queue in memory behind it, in order, and a forwarding task
/// feeds them into the channel as it drains; while that backlog exists every new event
/// joins it, so order is kept. Miners never wait on a slow consumer and no event is dropped:
/// the cost is memory, and the backlog's start and end are logged.
#[derive(Debug)]
pub(crate) struct EventSink {
    sender: mpsc::Sender<PoolEvent>,
    counters: Arc<PoolCounters>,
    overflow: mpsc::UnboundedSender<PoolEvent>,
    backlog: Arc<AtomicU64>,
}

impl EventSink {
    /// A sink into `sender`; spawns its forwarding task on the current runtime.
    /// Every event sent is counted in `counters` first.
    pub(crate) fn new(sender: mpsc::Sender<PoolEvent>, counters: Arc<PoolCounters>) -> Self {
        let (overflow, queued) = mpsc::unbounded_channel();
        let backlog = Arc::new(AtomicU64::new(0));
        tokio::spawn(forward_backlog(queued, sender.clone(), backlog.clone()));
        EventSink {
            sender,
            counters,
            overflow,
            backlog,
        }
    }

    pub(crate) fn send(&self, event: PoolEvent) {
        self.counters.observe(&event);
        let event = if self.backlog.load(Ordering::Acquire) == 0 {
            match self.sender.try_send(event) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(event)) => event,
            }
        } else {
            event
        };
        if self.backlog.fetch_add(1, Ordering::AcqRel) == 0 {
            tracing::warn!(
                "pool event consumer lags: queueing events in memory until it catches up"
            );
        }
        if self.overflow.send(event).is_err() {
            self.backlog.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Events queued behind the full channel, not yet handed to the consumer.
    pub(crate) fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Acquire)
    }
}

/// Moves queued events into the channel as the consumer makes room, then lowers the
/// backlog count, so the sink sends directly again only once the queue is empty.
async fn forward_backlog(
    mut queued: mpsc::UnboundedReceiver<PoolEvent>,
    sender: mpsc::Sender<PoolEvent>,
    backlog: Arc<AtomicU64>,
) {
    let mut peak = 0;
    while let Some(event) = queued.recv().await {
        peak = peak.max(backlog.load(Ordering::Acquire));
        if sender.send(event).await.is_err() {
            return;
        }
        if backlog.fetch_sub(1, Ordering::AcqRel) == 1 {
            tracing::info!(peak, "pool event consumer caught up");
            peak = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(n: u64) -> PoolEvent {
        PoolEvent::Share(ShareEvent {
            worker: format!("w{n}"),
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 3333,
            height: n,
            difficulty: 1.0,
            share_difficulty: 1.0,
            block_hash: None,
            block_accepted: false,
            error: None,
            time: SystemTime::UNIX_EPOCH,
        })
    }

    fn height(event: PoolEvent) -> u64 {
        match event {
            PoolEvent::Share(share) => share.height,
            PoolEvent::Block(block) => block.height,
            PoolEvent::Difficulty(_) => u64::MAX,
        }
    }

    #[tokio::test]
    async fn a_lagging_consumer_gets_every_event_in_order() {
        let (sender, mut receiver) = mpsc::channel(4);
        let sink = EventSink::new(sender, Arc::default());
        for n in 0..1000 {
            sink.send(share(n));
        }
        assert!(sink.backlog() > 0, "the channel of 4 must have overflowed");
        for n in 0..1000 {
            assert_eq!(height(receiver.recv().await.unwrap()), n);
        }
        tokio::task::yield_now().await;
        assert_eq!(sink.backlog(), 0);
        sink.send(share(1000));
        assert_eq!(height(receiver.try_recv().unwrap()), 1000);
    }
}
