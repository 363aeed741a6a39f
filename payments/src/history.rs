//! The portal's stats history (one JSON snapshot per stats update) and the coin each
//! switch is on.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::StoreError;

/// Where the portal keeps its stats snapshots (NOMP's `statHistory`): across every coin,
/// in whichever store the portal was given.
#[async_trait]
pub trait StatsHistory: Send + Sync {
    /// Stores `snapshot` (JSON) taken at `time_s` (unix seconds) and forgets the snapshots
    /// taken before `keep_from_s`.
    async fn push_stats(
        &self,
        time_s: u64,
        snapshot: &str,
        keep_from_s: u64,
    ) -> Result<(), StoreError>;

    /// The snapshots taken at or after `since_s`, oldest first.
    async fn stats_since(&self, since_s: u64) -> Result<Vec<String>, StoreError>;
}

/// The coin each coin-switching port was last moved to (NOMP's `proxyState`: algorithm →
/// coin), so that a restart resumes every switch where it was.
#[async_trait]
pub trait SwitchState: Send + Sync {
    /// Every saved choice, by NOMP algorithm name.
    async fn switched_coins(&self) -> Result<BTreeMap<String, String>, StoreError>;

    /// Saves that the switches of `algorithm` are now on `coin` (a coin's name).
    async fn set_switched_coin(&self, algorithm: &str, coin: &str) -> Result<(), StoreError>;
}
