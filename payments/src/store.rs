//! The share store: where rounds, stats, blocks and hashrate samples live.

use std::collections::BTreeMap;

use std::str::FromStr;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::error::StoreError;

/// A round of shares: the one being mined, or a finished one named by its block's height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Round {
    /// The current round (NOMP `roundCurrent`).
    Current,
    /// The round that ended with the block at this height (NOMP `round<height>`).
    Height(u64),
}

/// Where a found block stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockStatus {
    /// Waiting for confirmations (NOMP `blocksPending`).
    Pending,
    /// Matured and paid (`blocksConfirmed`).
    Confirmed,
    /// Orphaned; its shares went back into the current round (`blocksOrphaned`).
    Orphaned,
    /// Unknown to the wallet; set aside (`blocksKicked`).
    Kicked,
}

impl BlockStatus {
    /// Every status.
    pub const ALL: [BlockStatus; 4] = [
        BlockStatus::Pending,
        BlockStatus::Confirmed,
        BlockStatus::Orphaned,
        BlockStatus::Kicked,
    ];

    /// NOMP's name of the status' set, after `<coin>:blocks`.
    pub fn nomp_name(self) -> &'static str {
        match self {
            BlockStatus::Pending => "Pending",
            BlockStatus::Confirmed => "Confirmed",
            BlockStatus::Orphaned => "Orphaned",
            BlockStatus::Kicked => "Kicked",
        }
    }
}

/// A found block as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlockEntry {
    /// Its height.
    pub height: u64,
    /// The block id (display hex).
    pub hash: String,
    /// The coinbase txid (display hex).
    pub coinbase_txid: String,
    /// The finder; empty for entries written by NOMP, which did not record it.
    pub worker: String,
    /// Unix time in milliseconds when it was found; 0 where unknown.
    pub time_ms: u64,
}

/// The share and block counters of a pool (NOMP `<coin>:stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShareCounts {
    /// Valid shares ever.
    pub valid_shares: u64,
    /// Invalid shares ever.
    pub invalid_shares: u64,
    /// Blocks found and accepted.
    pub valid_blocks: u64,
    /// Block candidates the daemons refused.
    pub invalid_blocks: u64,
}

/// One share as sampled for hashrate (NOMP `<coin>:hashrate`).
#[derive(Debug, Clone, PartialEq)]
pub struct HashrateSample {
    /// The worker.
    pub worker: String,
    /// The share's difficulty; negative for an invalid share.
    pub difficulty: f64,
    /// Unix time in milliseconds.
    pub time_ms: u64,
}

/// Storage for one coin's shares, rounds, blocks and stats.
///
/// Two backends keep the same data: [`crate::RedisStore`] in NOMP's key layout and
/// [`crate::EmbeddedStore`] in one SQLite file. Both pass the same conformance tests.
#[async_trait]
pub trait ShareStore: Send + Sync {
    /// Applies a batch in one transaction, unless this batch (its writer and seq) was
    /// applied before. Returns whether it was applied now.
    ///
    /// Valid shares add their difficulty to the worker's total in the current round;
    /// every share counts in the stats and leaves a hashrate sample; a found block ends
    /// the current round (it becomes `round<height>`) and is recorded as pending.
    async fn apply(&self, batch: &Batch) -> Result<bool, StoreError>;

    /// Each worker's summed share difficulty in `round`, exactly as the decimal sum of
    /// the difficulties its shares were credited (see [`share_decimal`]).
    async fn round_shares(&self, round: Round) -> Result<BTreeMap<String, Decimal>, StoreError>;

    /// The share and block counters.
    async fn counts(&self) -> Result<ShareCounts, StoreError>;

    /// The blocks with `status`, lowest height first.
    async fn blocks(&self, status: BlockStatus) -> Result<Vec<BlockEntry>, StoreError>;

    /// The network difficulty (share units) block `hash` met, as recorded when it was
    /// found; `None` for blocks recorded without it (by NOMP, or earlier versions).
    async fn block_difficulty(&self, hash: &str) -> Result<Option<Decimal>, StoreError>;

    /// Hashrate samples at or after `since_ms` (unix milliseconds), oldest first.
    async fn hashrate_since(&self, since_ms: u64) -> Result<Vec<HashrateSample>, StoreError>;

    /// Forgets the hashrate samples older than `before_ms` (unix milliseconds). The
    /// samples are also the share log PPLNS reads, so keep them at least that long.
    async fn prune_hashrate(&self, before_ms: u64) -> Result<(), StoreError>;

    /// The last `window` of valid share difficulty at or before `until_ms`, per worker:
    /// shares are taken newest first until their difficulty adds up to `window`, the
    /// oldest one counted only in part (PPLNS). Less when the log holds less.
    async fn last_shares(
        &self,
        until_ms: u64,
        window: Decimal,
    ) -> Result<BTreeMap<String, Decimal>, StoreError>;
}

/// A share difficulty as the decimal the miner was sent and the operator configured: the
/// shortest decimal that reads back as `difficulty`. `None` for zero, negative or
/// non-finite values, and for values beyond 28 significant digits' reach.
pub fn share_decimal(difficulty: f64) -> Option<Decimal> {
    if !(difficulty.is_finite() && difficulty > 0.0) {
        return None;
    }
    // Rust prints the shortest round-trip decimal, without an exponent.
    Decimal::from_str(&difficulty.to_string())
        .ok()
        .filter(|d| *d > Decimal::ZERO)
}

/// Adds `sample` to a PPLNS window being filled; returns false once it is full.
pub(crate) fn fill_window(
    window: &mut BTreeMap<String, Decimal>,
    counted: &mut Decimal,
    limit: Decimal,
    worker: &str,
    difficulty: f64,
) -> bool {
    let Some(difficulty) = share_decimal(difficulty) else {
        return *counted < limit;
    };
    if *counted >= limit {
        return false;
    }
    let take = difficulty.min(limit - *counted);
    *window.entry(worker.to_owned()).or_default() += take;
    *counted += take;
    *counted < limit
}

/// Adds `amount` to `total` exactly; an overflow (beyond 28 digits) is an error naming
/// `what`, never a silently dropped credit.
pub(crate) fn add_exact(
    total: Decimal,
    amount: Decimal,
    what: &str,
) -> Result<Decimal, StoreError> {
    total
        .checked_add(amount)
        .ok_or_else(|| StoreError::Corrupt {
            key: what.to_owned(),
            reason: format!("{total} + {amount} overflows"),
        })
}

/// Parses NOMP's pending-block member `hash:txid:height[:worker:timeMs]`.
pub(crate) fn parse_block_member(member: &str) -> Option<BlockEntry> {
    let mut parts = member.splitn(4, ':');
    let hash = parts.next()?.to_owned();
    let coinbase_txid = parts.next()?.to_owned();
    let height = parts.next()?.parse().ok()?;
    let (worker, time_ms) = match parts.next() {
        None => (String::new(), 0),
        Some(rest) => match rest.rsplit_once(':') {
            Some((worker, time)) => (worker.to_owned(), time.parse().ok()?),
            None => (rest.to_owned(), 0),
        },
    };
    Some(BlockEntry {
        height,
        hash,
        coinbase_txid,
        worker,
        time_ms,
    })
}

/// NOMP's block-set member for `entry`: with the finder and time as NOMP's forks write it,
/// or NOMP's own three fields for an entry it wrote without them.
pub(crate) fn block_member(entry: &BlockEntry) -> String {
    if entry.worker.is_empty() && entry.time_ms == 0 {
        return format!("{}:{}:{}", entry.hash, entry.coinbase_txid, entry.height);
    }
    format!(
        "{}:{}:{}:{}:{}",
        entry.hash, entry.coinbase_txid, entry.height, entry.worker, entry.time_ms
    )
}

/// Parses NOMP's hashrate member `±difficulty:worker:timeMs`.
pub(crate) fn parse_hashrate_member(member: &str) -> Option<HashrateSample> {
    parse_share_entry(member).map(|(sample, _)| sample)
}

/// Parses a hashrate member with its share number: `±difficulty:worker:timeMs#number` as
/// nomp-rs writes it, or NOMP's `±difficulty:worker:timeMs` (number 0).
pub(crate) fn parse_share_entry(member: &str) -> Option<(HashrateSample, u64)> {
    let (difficulty, rest) = member.split_once(':')?;
    let (worker, at) = rest.rsplit_once(':')?;
    let (time, number) = match at.split_once('#') {
        Some((time, number)) => (time, number.parse().ok()?),
        None => (at, 0),
    };
    let sample = HashrateSample {
        worker: worker.to_owned(),
        difficulty: difficulty.parse().ok()?,
        time_ms: time.parse().ok()?,
    };
    Some((sample, number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_members_read_nomp_and_fork_formats() {
        let nomp = parse_block_member("aa:bb:120").unwrap();
        assert_eq!(
            (nomp.height, nomp.worker.as_str(), nomp.time_ms),
            (120, "", 0)
        );
        let entry = BlockEntry {
            height: 7,
            hash: "h".into(),
            coinbase_txid: "t".into(),
            worker: "addr.rig:odd".into(),
            time_ms: 1_700_000_000_123,
        };
        assert_eq!(parse_block_member(&block_member(&entry)), Some(entry));
        assert_eq!(parse_block_member("aa:bb:notanumber"), None);
    }

    #[test]
    fn share_decimals_are_what_the_miner_saw_and_add_up_exactly() {
        let small = share_decimal(1e-5).unwrap();
        let three = share_decimal(3e-5).unwrap();
        assert_eq!(small * Decimal::from(3), three);
        assert_eq!(
            share_decimal(0.000000001).unwrap().to_string(),
            "0.000000001"
        );
        assert_eq!(share_decimal(65536.0).unwrap(), Decimal::from(65536));
        assert_eq!(share_decimal(0.0), None);
        assert_eq!(share_decimal(-1.0), None);
        assert_eq!(share_decimal(f64::NAN), None);
    }

    #[test]
    fn hashrate_members_keep_sign_and_worker() {
        let sample = parse_hashrate_member("-0.5:addr.rig:odd:1700000000123").unwrap();
        assert_eq!(
            sample,
            HashrateSample {
                worker: "addr.rig:odd".into(),
                difficulty: -0.5,
                time_ms: 1_700_000_000_123,
            }
        );
        assert_eq!(parse_hashrate_member("garbage"), None);
        let (numbered, number) = parse_share_entry("0.5:addr.rig:odd:1700000000123#42").unwrap();
        assert_eq!(
            (numbered.worker.as_str(), numbered.time_ms, number),
            ("addr.rig:odd", 1_700_000_000_123, 42)
        );
        assert_eq!(parse_share_entry("0.5:w:1700000000123#x"), None);
    }
}
