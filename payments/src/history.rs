//! The portal's stats history: one JSON snapshot per stats update.

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
