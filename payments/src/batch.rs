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
        /// Unix time in milliseconds of its share's arrival.
        time_ms: u64,
        /// The network difficulty it met, in share units; 0 where unknown (records of
        /// versions before it).
        #[serde(default)]
        network_difficulty: f64,
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
            PoolEvent::Block(block) => Some(Record::from_block(block)),
            PoolEvent::Difficulty(_) => None,
        }
    }

    fn from_share(share: &ShareEvent) -> Record {
        Record::Share {
            worker: share.worker.clone(),
            difficulty: share.difficulty.get(),
            valid: share.is_valid(),
            time_ms: unix_ms(share.time),
        }
    }

    /// A found block, timed by its share's arrival: shares that came after it (while it was
    /// being submitted) are not part of its PPLNS window.
    fn from_block(block: &BlockEvent) -> Record {
        if block.accepted {
            Record::BlockFound {
                height: block.height,
                hash: block.hash.to_string(),
                coinbase_txid: block.coinbase_txid.to_string(),
                worker: block.worker.clone(),
                time_ms: unix_ms(block.found),
                network_difficulty: block.network_difficulty.get(),
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

/// `time` as unix milliseconds.
fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix time now, in milliseconds.
pub(crate) fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashing::{BlockHash, Txid};

    #[test]
    fn a_found_block_is_timed_by_its_share_not_by_the_daemons_answer() {
        let found = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let block = BlockEvent {
            worker: "w".into(),
            height: 7,
            hash: BlockHash::from_internal([2; 32]),
            coinbase_txid: Txid::from_internal([3; 32]),
            accepted: true,
            reason: None,
            found,
            network_difficulty: hashing::Difficulty::new(2.5).unwrap(),
        };
        match Record::from_event(&PoolEvent::Block(block)) {
            Some(Record::BlockFound {
                time_ms,
                network_difficulty,
                ..
            }) => assert_eq!((time_ms, network_difficulty), (1_700_000_000_123, 2.5)),
            other => panic!("not a found block: {other:?}"),
        }
    }
}
