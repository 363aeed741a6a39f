//! Read models shared by the API and the pages: blocks, payments, coins, a miner.

use std::collections::BTreeMap;

use payments::{BlockStatus, Round, StoreError, address_of};
use serde::Serialize;

use crate::collector::StatsState;
use crate::source::PortalPool;
use crate::stats::{WorkerStats, readable_hashrate};

/// A found block.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockView {
    pub(crate) height: u64,
    pub(crate) hash: String,
    pub(crate) coinbase_txid: String,
    /// "pending", "confirmed", "orphaned" or "kicked".
    pub(crate) status: &'static str,
    pub(crate) worker: String,
    /// Unix milliseconds; 0 where unknown.
    pub(crate) time: u64,
}

/// Each pool's found blocks, newest first, at most `limit` per pool.
pub(crate) async fn blocks(
    pools: &[PortalPool],
    limit: usize,
) -> Result<BTreeMap<String, Vec<BlockView>>, StoreError> {
    let mut all = BTreeMap::new();
    for pool in pools {
        let mut list = Vec::new();
        if let Some(store) = &pool.store {
            for status in BlockStatus::ALL {
                let name = match status {
                    BlockStatus::Pending => "pending",
                    BlockStatus::Confirmed => "confirmed",
                    BlockStatus::Orphaned => "orphaned",
                    BlockStatus::Kicked => "kicked",
                };
                list.extend(store.blocks(status).await?.into_iter().map(|b| BlockView {
                    height: b.height,
                    hash: b.hash,
                    coinbase_txid: b.coinbase_txid,
                    status: name,
                    worker: b.worker,
                    time: b.time_ms,
                }));
            }
        }
        list.sort_by_key(|b| std::cmp::Reverse((b.height, b.time)));
        list.truncate(limit);
        all.insert(pool.summary.name.clone(), list);
    }
    Ok(all)
}

/// One payment run that paid miners.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentView {
    /// Unix milliseconds when it was planned.
    pub(crate) time: u64,
    /// The wallet transaction.
    pub(crate) txid: Option<String>,
    /// Coins per address, exact decimal strings.
    pub(crate) amounts: BTreeMap<String, String>,
    /// Their sum.
    pub(crate) total: String,
    /// Heights of the blocks it paid for.
    pub(crate) blocks: Vec<u64>,
    /// How each block's reward was split (empty for runs of versions before statements).
    pub(crate) rounds: Vec<RoundView>,
}

/// One block's payout statement: what it paid, over which shares, to whom, and what the
/// pool kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoundView {
    pub(crate) height: u64,
    pub(crate) hash: String,
    /// Coins the block paid the pool address.
    pub(crate) reward: String,
    /// Share difficulty per worker, exact decimals.
    pub(crate) shares: BTreeMap<String, String>,
    /// The PPLNS window's size, for a PPLNS block.
    pub(crate) window: Option<String>,
    /// Coins credited per address.
    pub(crate) credits: BTreeMap<String, String>,
    /// Coins credited to nobody (rounding, an unfilled window): they stay with the pool.
    pub(crate) kept: String,
}

impl From<&payments::RoundStatement> for RoundView {
    fn from(round: &payments::RoundStatement) -> Self {
        RoundView {
            height: round.height,
            hash: round.hash.clone(),
            reward: round.reward.to_coin_string(),
            shares: round
                .shares
                .iter()
                .map(|(worker, difficulty)| (worker.clone(), difficulty.to_string()))
                .collect(),
            window: round.window.map(|w| w.to_string()),
            credits: round
                .credits
                .iter()
                .map(|(address, amount)| (address.clone(), amount.to_coin_string()))
                .collect(),
            kept: round.kept.to_coin_string(),
        }
    }
}

/// Each pool's payments, newest first, at most `limit` per pool.
pub(crate) async fn payments(
    pools: &[PortalPool],
    limit: usize,
) -> Result<BTreeMap<String, Vec<PaymentView>>, StoreError> {
    let mut all = BTreeMap::new();
    for pool in pools {
        let mut list = Vec::new();
        if let Some(store) = &pool.store {
            for entry in store.payment_history(limit).await? {
                let total = entry
                    .settlement
                    .payments
                    .values()
                    .fold(coin_daemon::Amount::ZERO, |sum, a| {
                        sum.checked_add(*a).unwrap_or(sum)
                    });
                list.push(PaymentView {
                    time: entry.planned_ms,
                    txid: entry.txid,
                    amounts: entry
                        .settlement
                        .payments
                        .iter()
                        .map(|(address, amount)| (address.clone(), amount.to_coin_string()))
                        .collect(),
                    total: total.to_coin_string(),
                    blocks: entry
                        .settlement
                        .confirmed
                        .iter()
                        .map(|b| b.height)
                        .collect(),
                    rounds: entry
                        .settlement
                        .rounds
                        .iter()
                        .map(RoundView::from)
                        .collect(),
                });
            }
        }
        all.insert(pool.summary.name.clone(), list);
    }
    Ok(all)
}

/// A coin as wallets and desktop apps need it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CoinView {
    pub(crate) pool: String,
    pub(crate) symbol: String,
    pub(crate) algorithm: &'static str,
    /// The base58 version byte of pay-to-pubkey-hash addresses, if known.
    pub(crate) address_version: Option<u8>,
    pub(crate) ports: Vec<PortView>,
}

/// A stratum port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PortView {
    pub(crate) port: u16,
    pub(crate) difficulty: f64,
    pub(crate) vardiff: Option<(f64, f64)>,
    pub(crate) tls: bool,
}

pub(crate) fn coins(pools: &[PortalPool]) -> Vec<CoinView> {
    pools
        .iter()
        .map(|pool| CoinView {
            pool: pool.summary.name.clone(),
            symbol: pool.summary.symbol.clone(),
            algorithm: pool.summary.algorithm.name(),
            address_version: pool.summary.address_version,
            ports: pool
                .summary
                .ports
                .iter()
                .map(|p| PortView {
                    port: p.port,
                    difficulty: p.difficulty,
                    vardiff: p.vardiff,
                    tls: p.tls,
                })
                .collect(),
        })
        .collect()
}

/// A miner (an address) in one pool.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MinerPool {
    pub(crate) hashrate: f64,
    pub(crate) hashrate_string: String,
    /// Its workers with shares in the hashrate window.
    pub(crate) workers: BTreeMap<String, WorkerStats>,
    /// Its share difficulty in the current round.
    pub(crate) round_shares: f64,
    /// Owed but below the minimum payment.
    pub(crate) balance: String,
    /// Paid ever.
    pub(crate) paid: String,
    pub(crate) payments: Vec<MinerPayment>,
    /// (unix seconds, hashes per second) over the history.
    pub(crate) history: Vec<(u64, f64)>,
}

/// A payment to one miner.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MinerPayment {
    /// Unix milliseconds.
    pub(crate) time: u64,
    pub(crate) txid: Option<String>,
    pub(crate) amount: String,
}

/// A miner across pools (`/api/worker_stats`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MinerView {
    pub(crate) miner: String,
    pub(crate) pools: BTreeMap<String, MinerPool>,
}

/// How many payment runs a miner page looks through.
const MINER_PAYMENT_RUNS: usize = 200;

pub(crate) async fn miner(
    pools: &[PortalPool],
    stats: &StatsState,
    address: &str,
) -> Result<MinerView, StoreError> {
    let latest = stats.latest();
    let history = stats.history();
    let mut view = MinerView {
        miner: address.to_owned(),
        pools: BTreeMap::new(),
    };
    for pool in pools {
        let name = &pool.summary.name;
        let mut mine = MinerPool::default();
        if let Some(pool_stats) = latest.pools.get(name) {
            mine.workers = pool_stats
                .workers
                .iter()
                .filter(|(worker, _)| address_of(worker) == address)
                .map(|(w, s)| (w.clone(), s.clone()))
                .collect();
        }
        mine.hashrate = latest.miner_hashrate(name, address);
        mine.hashrate_string = readable_hashrate(mine.hashrate);
        mine.history = history
            .iter()
            .map(|s| (s.time, s.miner_hashrate(name, address)))
            .collect();
        let zero = coin_daemon::Amount::ZERO;
        if let Some(store) = &pool.store {
            let round: payments::Decimal = store
                .round_shares(Round::Current)
                .await?
                .iter()
                .filter(|(worker, _)| address_of(worker) == address)
                .map(|(_, d)| *d)
                .sum();
            // For display only: the exact sum stays in the store.
            mine.round_shares = round.to_string().parse().unwrap_or(0.0);
            mine.balance = store
                .balances()
                .await?
                .get(address)
                .copied()
                .unwrap_or(zero)
                .to_coin_string();
            mine.paid = store
                .payout_totals()
                .await?
                .get(address)
                .copied()
                .unwrap_or(zero)
                .to_coin_string();
            mine.payments = store
                .payment_history(MINER_PAYMENT_RUNS)
                .await?
                .into_iter()
                .filter_map(|entry| {
                    let amount = entry.settlement.payments.get(address)?;
                    Some(MinerPayment {
                        time: entry.planned_ms,
                        txid: entry.txid.clone(),
                        amount: amount.to_coin_string(),
                    })
                })
                .collect();
        }
        let known = !mine.workers.is_empty()
            || mine.round_shares > 0.0
            || mine.paid != zero.to_coin_string()
            || mine.balance != zero.to_coin_string();
        if known {
            view.pools.insert(name.clone(), mine);
        }
    }
    Ok(view)
}
