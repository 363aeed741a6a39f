//! What the share writer stores: batches of share and block records, each batch numbered
//! so that writing it twice (a replay after a lost answer) changes nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use pool_events::{BlockEvent, PoolEvent, ShareEvent};
use serde::{Deserialize, Serialize};

/// One thing to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A share, valid or not.
    Share {
        /// The worker as authorised (`address.rig`).
        worker: String,
        /// The difficulty credited (the worker's difficulty).
        difficulty: f64,
        /// Whether it was valid.
        valid: bool,
        /// Unix time of the share in milliseconds.
        time_ms: u64,
    },
    /// A block candidate the daemon accepted: the current round ends at it.
    BlockFound {
        /// Its height (the round is named after it).
        height: u64,
        /// The block id (display hex).
        hash: String,
        /// The coinbase txid (display hex).
        coinbase_txid: String,
        /// Who found it.
        worker: String,
        /// Unix time in milliseconds.
        time_ms: u64,
    },
    /// A block candidate the daemons refused.
    BlockRejected {
        /// Its height.
        height: u64,
    },
}

impl Record {
    /// The record of a pool event; difficulty changes are not recorded.
    pub fn from_event(event: &PoolEvent) -> Option<Record> {
        match event {
            PoolEvent::Share(share) => Some(Record::from_share(share)),
            PoolEvent::Block(block) => Some(Record::from_block(block, now_ms())),
            PoolEvent::Difficulty(_) => None,
        }
    }

    fn from_share(share: &ShareEvent) -> Record {
        Record::Share {
            worker: share.worker.clone(),
            difficulty: share.difficulty.get(),
            valid: share.is_valid(),
            time_ms: share
                .time
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    fn from_block(block: &BlockEvent, time_ms: u64) -> Record {
        if block.accepted {
            Record::BlockFound {
                height: block.height,
                hash: block.hash.to_string(),
                coinbase_txid: block.coinbase_txid.to_string(),
                worker: block.worker.clone(),
                time_ms,
            }
        } else {
            Record::BlockRejected {
                height: block.height,
            }
        }
    }
}

/// Records written together in one store transaction, named by `(writer, seq)` so that
/// a store applies each at most once.
pub type Batch = pool_events::Batch<Record>;

/// Unix time now, in milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
