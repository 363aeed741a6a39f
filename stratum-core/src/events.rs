//! What the pool reports: every share and every block candidate.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use tokio::sync::mpsc;

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
    /// The block id when the share was a block candidate.
    pub block_hash: Option<String>,
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

/// An event of a running pool.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolEvent {
    /// A share.
    Share(ShareEvent),
    /// A block candidate's fate.
    Block(BlockEvent),
}

/// Sends events without ever waiting: when the consumer lags so far that the channel is
/// full, the event is counted as lost and an error is logged (once per run of losses),
/// so a slow consumer can neither stall miners nor lose events unnoticed.
#[derive(Debug)]
pub(crate) struct EventSink {
    sender: mpsc::Sender<PoolEvent>,
    lost: AtomicU64,
}

impl EventSink {
    pub(crate) fn new(sender: mpsc::Sender<PoolEvent>) -> Self {
        EventSink {
            sender,
            lost: AtomicU64::new(0),
        }
    }

    pub(crate) fn send(&self, event: PoolEvent) {
        match self.sender.try_send(event) {
            Ok(()) => {
                let lost = self.lost.swap(0, Ordering::Relaxed);
                if lost > 0 {
                    tracing::error!(
                        lost,
                        "pool events were lost while the event consumer lagged"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Full(event)) => {
                if self.lost.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::error!(
                        ?event,
                        "pool event channel is full: the consumer lags; counting lost events"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Events lost since the last one delivered.
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}
