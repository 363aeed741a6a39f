//! The payment journal: each payment run's outcome, with its payout transaction already
//! built and signed, is stored as planned before any coin moves, and applied to balances
//! and rounds in the same store transaction that marks it done. A run interrupted
//! anywhere between is finished from the journal (its same transaction broadcast again),
//! never computed and paid again.

use std::collections::BTreeMap;

use async_trait::async_trait;
use coin_daemon::{Amount, SignedTransaction};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::store::BlockEntry;

/// How one matured block's reward was split: the payout statement a miner can check its
/// credit against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStatement {
    /// The block's height.
    pub height: u64,
    /// The block id (display hex).
    pub hash: String,
    /// What the block paid the pool address (the coinbase's reward recipients, the pool's
    /// fees, were paid by the coinbase itself).
    pub reward: Amount,
    /// The scheme's share difficulty per worker it split over: the round (PROP), the window
    /// (PPLNS), or the finder alone (SOLO).
    pub shares: BTreeMap<String, rust_decimal::Decimal>,
    /// The PPLNS window's size in share difficulty; `None` for a round or SOLO.
    pub window: Option<rust_decimal::Decimal>,
    /// What each address was credited.
    pub credits: BTreeMap<String, Amount>,
    /// What nobody was credited and stays in the pool's wallet: the satoshis the floors left,
    /// and a PPLNS window's unfilled part.
    pub kept: Amount,
}

/// Everything one payment run changes, computed (and its payout transaction built and
/// signed) before any coin moves.
///
/// Balances, payout totals and the total paid are the new absolute values (only the
/// holder of the payment lease writes them, so they cannot have moved meanwhile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The run's id.
    pub id: String,
    /// Blocks that matured: to `blocksConfirmed`.
    pub confirmed: Vec<BlockEntry>,
    /// Blocks orphaned: to `blocksOrphaned`.
    pub orphaned: Vec<BlockEntry>,
    /// Blocks the wallet does not know: to `blocksKicked`.
    pub kicked: Vec<BlockEntry>,
    /// Heights whose rounds this run pays: they are removed. (Absent in entries of
    /// versions before it: those paid the confirmed blocks' rounds.)
    #[serde(default)]
    pub paid_rounds: Option<Vec<u64>>,
    /// Heights whose rounds go back into the current round, every block of that height
    /// being orphaned or kicked: each merged once. (Absent in entries of versions before
    /// it: those merged the orphaned blocks' rounds.)
    #[serde(default)]
    pub merged_rounds: Option<Vec<u64>>,
    /// How each matured block's reward was split (absent in entries of versions before it).
    #[serde(default)]
    pub rounds: Vec<RoundStatement>,
    /// What the run pays, per address (one transaction; empty for none).
    pub payments: BTreeMap<String, Amount>,
    /// New balances of every balance entry the run touched; zero removes the entry.
    pub balances: BTreeMap<String, Amount>,
    /// New payout totals of the addresses paid.
    pub payout_totals: BTreeMap<String, Amount>,
    /// The new total paid by the pool (NOMP's `totalPaid` stat).
    pub total_paid: Amount,
    /// The payout transaction, signed, journalled before its broadcast: after a timeout,
    /// a crash or a restart this same transaction (same txid) is broadcast again, never a
    /// second one while it can still confirm. `None` when nothing is paid (and in entries
    /// of versions that paid with `sendmany`).
    #[serde(default)]
    pub transaction: Option<SignedTransaction>,
}

impl Settlement {
    /// The comment earlier versions' `sendmany` carried, by which their runs are found.
    pub fn wallet_comment(&self) -> String {
        format!("nomp-rs payment {}", self.id)
    }

    /// The heights of the rounds this run pays (and removes).
    pub fn rounds_paid(&self) -> Vec<u64> {
        match &self.paid_rounds {
            Some(heights) => heights.clone(),
            None => self.confirmed.iter().map(|b| b.height).collect(),
        }
    }

    /// The heights of the rounds this run merges back into the current round.
    pub fn rounds_merged(&self) -> Vec<u64> {
        match &self.merged_rounds {
            Some(heights) => heights.clone(),
            None => self.orphaned.iter().map(|b| b.height).collect(),
        }
    }
}

/// Where a journal entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalStatus {
    /// Stored; the wallet may or may not have paid; nothing applied yet.
    Planned,
    /// Paid (if it had payments) and applied.
    Done,
    /// Never paid and never applied (the wallet refused, or never saw it).
    Abandoned,
}

/// A payment run as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Its status.
    pub status: JournalStatus,
    /// The wallet transaction that paid it, once known.
    pub txid: Option<String>,
    /// Unix time in milliseconds when it was planned.
    pub planned_ms: u64,
    /// What it changes.
    pub settlement: Settlement,
}

/// A fencing token: the number of one holding of a coin's payment lease, issued by the
/// store, higher for every new holder (and for a holder whose lease lapsed before it
/// renewed). Every journal and balance write names the token its run read under, and the
/// store refuses it unless that is still the latest: a payer that stalled past its lease
/// (a stopped VM, a slow disk) can write nothing after another one took over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fence(pub u64);

impl std::fmt::Display for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl JournalEntry {
    /// `settlement` as planned at `now_ms`, not paid yet.
    pub fn planned(settlement: &Settlement, now_ms: u64) -> JournalEntry {
        JournalEntry {
            status: JournalStatus::Planned,
            txid: None,
            planned_ms: now_ms,
            settlement: settlement.clone(),
        }
    }
}

/// Balances, the payment journal and the payment lease of one coin.
///
/// Implemented by both share stores; the conformance tests cover both.
#[async_trait]
pub trait PayoutStore: Send + Sync {
    /// Unpaid balances by entry (addresses, or NOMP's worker names).
    async fn balances(&self) -> Result<BTreeMap<String, Amount>, StoreError>;

    /// Total paid so far per address.
    async fn payout_totals(&self) -> Result<BTreeMap<String, Amount>, StoreError>;

    /// The pool's total paid.
    async fn total_paid(&self) -> Result<Amount, StoreError>;

    /// Stores `settlement` as planned. Fails if an entry with its id exists, and with
    /// [`StoreError::Fenced`] unless `fence` is the lease's latest token.
    async fn plan(
        &self,
        settlement: &Settlement,
        now_ms: u64,
        fence: Fence,
    ) -> Result<(), StoreError>;

    /// The entries still planned, oldest first.
    async fn planned(&self) -> Result<Vec<JournalEntry>, StoreError>;

    /// Up to `limit` finished runs that paid someone, newest first: the payment history.
    async fn payment_history(&self, limit: usize) -> Result<Vec<JournalEntry>, StoreError>;

    /// Applies a planned settlement and marks it done (with the paying `txid`), in one
    /// transaction. Returns false, changing nothing, if it is not planned; fails with
    /// [`StoreError::Fenced`], changing nothing, unless `fence` is the latest token.
    async fn complete(
        &self,
        id: &str,
        txid: Option<&str>,
        fence: Fence,
    ) -> Result<bool, StoreError>;

    /// Marks a planned entry abandoned without applying it (fenced like
    /// [`PayoutStore::complete`]).
    async fn abandon(&self, id: &str, fence: Fence) -> Result<bool, StoreError>;

    /// The journal entry `id`.
    async fn journal_entry(&self, id: &str) -> Result<Option<JournalEntry>, StoreError>;

    /// Takes (or renews) the payment lease for `owner` until `ttl_ms` from now, with its
    /// fencing token: the same token while `owner` renews an unexpired lease, a new
    /// (higher) one otherwise. `None` while another owner holds an unexpired lease.
    async fn acquire_lease(&self, owner: &str, ttl_ms: u64) -> Result<Option<Fence>, StoreError>;

    /// Gives the lease up if `owner` holds it.
    async fn release_lease(&self, owner: &str) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_keep_exact_decimals_and_entries_without_them_still_read() {
        let round = RoundStatement {
            height: 7,
            hash: "00ab".into(),
            reward: Amount::from_sat(5_000),
            shares: BTreeMap::from([("a.rig".into(), "0.00003".parse().unwrap())]),
            window: Some("0.0001".parse().unwrap()),
            credits: BTreeMap::from([("a".into(), Amount::from_sat(1_500))]),
            kept: Amount::from_sat(3_500),
        };
        let json = serde_json::to_string(&round).unwrap();
        assert!(json.contains(r#""a.rig":"0.00003""#), "{json}");
        assert!(json.contains(r#""window":"0.0001""#), "{json}");
        assert_eq!(
            serde_json::from_str::<RoundStatement>(&json).unwrap(),
            round
        );

        let older = r#"{"id":"r","confirmed":[],"orphaned":[],"kicked":[],"payments":{},
            "balances":{},"payout_totals":{},"total_paid":0}"#;
        let settlement: Settlement = serde_json::from_str(older).unwrap();
        assert!(settlement.rounds.is_empty());
    }
}
