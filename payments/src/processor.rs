//! The payment processor: NOMP's payment run, made exactly-once by the journal.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use coin_daemon::{Amount, DaemonError, DaemonGroup, TxCategory};
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::batch::now_ms;
use crate::error::StoreError;
use crate::journal::{PayoutStore, Settlement};
use crate::scheme::{Scheme, address_of, prop_split, solo_split};
use crate::store::{BlockEntry, BlockStatus, Round, ShareStore};

/// A store that keeps both shares and payouts (both backends do).
pub trait PaymentStore: ShareStore + PayoutStore {}
impl<T: ShareStore + PayoutStore> PaymentStore for T {}

/// RPC error code of `gettransaction` for a txid the wallet does not know.
const NOT_IN_WALLET: i64 = -5;
/// Wallet transactions read per `listtransactions` page while reconciling.
const PAGE: u32 = 1000;
/// Pages read at most while looking for an interrupted run's payment.
const MAX_PAGES: u32 = 50;

/// A pool's `paymentProcessing` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentOptions {
    /// The coin's name, for logs.
    pub coin: String,
    /// The pool address the coinbase pays (its `generate` amount is the round's reward).
    pub pool_address: String,
    /// How rewards are split.
    pub scheme: Scheme,
    /// Addresses owed less than this keep a balance (`minimumPayment`).
    pub minimum_payment: Amount,
    /// Time between runs (`paymentInterval`).
    pub interval: Duration,
    /// How long a run's lease lasts; renewed by every run.
    pub lease_ttl: Duration,
    /// This processor's name in the lease (unique per process).
    pub owner: String,
}

/// What went wrong in a payment run. Nothing is paid twice whichever it is.
#[derive(Debug, Error)]
pub enum PaymentError {
    /// The store failed; the run stopped before anything was paid or after the payment
    /// was journalled (the next run finishes it).
    #[error("payments for {coin}: {source}")]
    Store {
        /// The coin.
        coin: String,
        /// The store's error.
        source: StoreError,
    },
    /// The wallet daemon failed while blocks were checked; nothing was paid.
    #[error("payments for {coin}: wallet daemon: {source}")]
    Daemon {
        /// The coin.
        coin: String,
        /// The daemon's error.
        source: DaemonError,
    },
    /// The wallet refused `sendmany` (e.g. too little spendable coin); the run was
    /// abandoned and the next one computes afresh.
    #[error("payments for {coin}: the wallet refused the payment: {reason}")]
    WalletRefused {
        /// The coin.
        coin: String,
        /// The wallet's message.
        reason: String,
    },
    /// `sendmany` got no answer: the wallet may have paid. The run stays planned and the
    /// next run looks for its transaction before doing anything else.
    #[error("payments for {coin}: no answer to sendmany for run {id}: {source}")]
    Unconfirmed {
        /// The coin.
        coin: String,
        /// The run.
        id: String,
        /// The daemon's error.
        source: DaemonError,
    },
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Another processor holds the lease.
    LeaseHeld,
    /// No block to settle and nobody to pay.
    NothingToDo,
    /// A settlement was applied (and paid, when it had payments).
    Settled {
        /// Its journal id.
        id: String,
        /// The wallet transaction, if anything was paid.
        txid: Option<String>,
        /// What was paid per address.
        paid: BTreeMap<String, Amount>,
    },
}

type SentHook = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Runs NOMP's payment processing for one pool.
///
/// Each run, holding the store's payment lease: finishes runs a crash interrupted (a
/// planned run whose payment the wallet has is applied; one it never saw is abandoned),
/// checks pending blocks with `gettransaction` (generate → pay, immature → wait, orphan →
/// its shares go back into the current round, unknown → kicked), splits each matured
/// round's reward by the scheme, adds existing balances, pays every valid address owed at
/// least `minimum_payment` with one `sendmany` carrying the run's id, and applies it all
/// in one store transaction.
pub struct PaymentProcessor {
    store: Arc<dyn PaymentStore>,
    wallet: Arc<DaemonGroup>,
    options: PaymentOptions,
    on_sent: Option<SentHook>,
}

impl std::fmt::Debug for PaymentProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentProcessor")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A pending block's fate, from the wallet.
enum Fate {
    Matured(Amount),
    Immature,
    Orphaned,
    Kicked,
}

impl PaymentProcessor {
    /// A processor paying from `wallet` (a group holding the pool's wallet daemon).
    pub fn new(
        store: Arc<dyn PaymentStore>,
        wallet: Arc<DaemonGroup>,
        options: PaymentOptions,
    ) -> Self {
        PaymentProcessor {
            store,
            wallet,
            options,
            on_sent: None,
        }
    }

    /// Calls `hook(run id, txid)` as soon as the wallet has sent a payment, before the
    /// store records it: for alerts, and for tests that crash the processor right there.
    pub fn on_sent(mut self, hook: impl Fn(&str, &str) + Send + Sync + 'static) -> Self {
        self.on_sent = Some(Arc::new(hook));
        self
    }

    /// Runs every `interval` until `cancel`; errors are logged and the next run retries.
    pub fn spawn(self, cancel: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.options.interval);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                match self.run_once().await {
                    Ok(RunOutcome::Settled { id, txid, paid }) => tracing::info!(
                        coin = self.options.coin,
                        id,
                        ?txid,
                        addresses = paid.len(),
                        "payment run settled"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::error!(%error, "payment run failed"),
                }
            }
        })
    }

    fn store_error(&self, source: StoreError) -> PaymentError {
        PaymentError::Store {
            coin: self.options.coin.clone(),
            source,
        }
    }

    fn daemon_error(&self, source: DaemonError) -> PaymentError {
        PaymentError::Daemon {
            coin: self.options.coin.clone(),
            source,
        }
    }

    /// One payment run (see the type's docs).
    pub async fn run_once(&self) -> Result<RunOutcome, PaymentError> {
        let ttl = self.options.lease_ttl.as_millis() as u64;
        let owner = &self.options.owner;
        if !self
            .store
            .acquire_lease(owner, ttl)
            .await
            .map_err(|e| self.store_error(e))?
        {
            return Ok(RunOutcome::LeaseHeld);
        }
        let outcome = self.run_holding_lease().await;
        if let Err(error) = self.store.release_lease(owner).await {
            tracing::warn!(%error, "could not release the payment lease; it expires by itself");
        }
        outcome
    }

    async fn run_holding_lease(&self) -> Result<RunOutcome, PaymentError> {
        self.finish_interrupted_runs().await?;
        let Some(settlement) = self.settle().await? else {
            return Ok(RunOutcome::NothingToDo);
        };
        self.store
            .plan(&settlement, now_ms())
            .await
            .map_err(|e| self.store_error(e))?;
        let txid = if settlement.payments.is_empty() {
            None
        } else {
            Some(self.pay(&settlement).await?)
        };
        self.store
            .complete(&settlement.id, txid.as_deref())
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(RunOutcome::Settled {
            id: settlement.id,
            txid,
            paid: settlement.payments,
        })
    }

    async fn pay(&self, settlement: &Settlement) -> Result<String, PaymentError> {
        match self
            .wallet
            .send_many(&settlement.payments, &settlement.wallet_comment())
            .await
        {
            Ok(txid) => {
                if let Some(hook) = &self.on_sent {
                    hook(&settlement.id, &txid);
                }
                Ok(txid)
            }
            Err(DaemonError::Rpc { message, .. }) => {
                self.store
                    .abandon(&settlement.id)
                    .await
                    .map_err(|e| self.store_error(e))?;
                Err(PaymentError::WalletRefused {
                    coin: self.options.coin.clone(),
                    reason: message,
                })
            }
            Err(source) => Err(PaymentError::Unconfirmed {
                coin: self.options.coin.clone(),
                id: settlement.id.clone(),
                source,
            }),
        }
    }

    /// Applies planned runs the wallet paid; abandons those it never saw.
    async fn finish_interrupted_runs(&self) -> Result<(), PaymentError> {
        for entry in self
            .store
            .planned()
            .await
            .map_err(|e| self.store_error(e))?
        {
            let settlement = &entry.settlement;
            let txid = if settlement.payments.is_empty() {
                None
            } else {
                self.find_payment(&settlement.wallet_comment()).await?
            };
            if settlement.payments.is_empty() || txid.is_some() {
                tracing::warn!(
                    id = settlement.id,
                    ?txid,
                    "finishing a payment run that was interrupted after paying"
                );
                self.store
                    .complete(&settlement.id, txid.as_deref())
                    .await
                    .map_err(|e| self.store_error(e))?;
            } else {
                tracing::warn!(
                    id = settlement.id,
                    "abandoning an interrupted payment run the wallet never paid"
                );
                self.store
                    .abandon(&settlement.id)
                    .await
                    .map_err(|e| self.store_error(e))?;
            }
        }
        Ok(())
    }

    /// The txid of the wallet's send carrying `comment`, newest pages first.
    async fn find_payment(&self, comment: &str) -> Result<Option<String>, PaymentError> {
        for page in 0..MAX_PAGES {
            let listed = self
                .wallet
                .list_transactions(PAGE, page * PAGE)
                .await
                .map_err(|e| self.daemon_error(e))?;
            if let Some(found) = listed.iter().find(|tx| {
                tx.category == TxCategory::Send && tx.comment.as_deref() == Some(comment)
            }) {
                return Ok(Some(found.txid.clone()));
            }
            if listed.len() < PAGE as usize {
                break;
            }
        }
        Ok(None)
    }

    async fn fate(&self, block: &BlockEntry) -> Result<Fate, PaymentError> {
        let tx = match self.wallet.get_transaction(&block.coinbase_txid).await {
            Ok(tx) => tx,
            Err(error) if error.rpc_code() == Some(NOT_IN_WALLET) => return Ok(Fate::Kicked),
            Err(error) => return Err(self.daemon_error(error)),
        };
        let to_pool = tx
            .details
            .iter()
            .find(|d| d.address.as_deref() == Some(self.options.pool_address.as_str()));
        Ok(match to_pool.map(|d| (&d.category, d.amount)) {
            Some((TxCategory::Generate, amount)) => Fate::Matured(amount),
            Some((TxCategory::Immature, _)) => Fate::Immature,
            Some((TxCategory::Orphan, _)) => Fate::Orphaned,
            _ => {
                tracing::warn!(
                    height = block.height,
                    txid = block.coinbase_txid,
                    "coinbase does not pay the pool address as a coinbase: kicking the block"
                );
                Fate::Kicked
            }
        })
    }

    /// Computes this run's settlement; `None` when there is nothing to settle or pay.
    async fn settle(&self) -> Result<Option<Settlement>, PaymentError> {
        let pending = self
            .store
            .blocks(BlockStatus::Pending)
            .await
            .map_err(|e| self.store_error(e))?;
        let mut heights: HashMap<u64, usize> = HashMap::new();
        for block in &pending {
            *heights.entry(block.height).or_default() += 1;
        }
        let (mut confirmed, mut orphaned, mut kicked) = (Vec::new(), Vec::new(), Vec::new());
        let mut credits: BTreeMap<String, Amount> = BTreeMap::new();
        for block in pending {
            match self.fate(&block).await? {
                Fate::Immature => {}
                Fate::Matured(reward) => {
                    let split = match self.options.scheme {
                        Scheme::Solo if !block.worker.is_empty() => {
                            solo_split(reward, &block.worker)
                        }
                        // Blocks NOMP recorded carry no time: their round stands in.
                        Scheme::Pplns { window } if block.time_ms > 0 => {
                            let shares = self
                                .store
                                .last_shares(block.time_ms, window)
                                .await
                                .map_err(|e| self.store_error(e))?;
                            prop_split(reward, &shares)
                        }
                        _ => {
                            let shares = self
                                .store
                                .round_shares(Round::Height(block.height))
                                .await
                                .map_err(|e| self.store_error(e))?;
                            prop_split(reward, &shares)
                        }
                    };
                    if split.is_empty() {
                        tracing::warn!(
                            height = block.height,
                            "matured block has no shares to credit; its reward stays with the pool"
                        );
                    }
                    for (address, amount) in split {
                        let credit = credits.entry(address).or_default();
                        *credit = credit.checked_add(amount).unwrap_or(*credit);
                    }
                    confirmed.push(block);
                }
                // Entries sharing a height share one round: only a lone orphan's round
                // goes back to the current round; duplicates are set aside.
                Fate::Orphaned if heights[&block.height] == 1 => orphaned.push(block),
                Fate::Orphaned | Fate::Kicked => kicked.push(block),
            }
        }

        let balances = self
            .store
            .balances()
            .await
            .map_err(|e| self.store_error(e))?;
        let mut owed: BTreeMap<String, Amount> = BTreeMap::new();
        let mut entries: BTreeMap<String, Amount> = BTreeMap::new();
        for (entry, amount) in &balances {
            let address = address_of(entry).to_owned();
            let total = owed.entry(address.clone()).or_default();
            *total = total.checked_add(*amount).unwrap_or(*total);
            if *entry != address {
                // A NOMP balance kept per worker name: folded into its address.
                entries.insert(entry.clone(), Amount::ZERO);
            }
        }
        for (address, credit) in credits {
            let total = owed.entry(address).or_default();
            *total = total.checked_add(credit).unwrap_or(*total);
        }

        let mut payments = BTreeMap::new();
        let mut valid: HashMap<String, bool> = HashMap::new();
        for (address, total) in &owed {
            let mut keep = *total;
            if *total >= self.options.minimum_payment && *total > Amount::ZERO {
                let ok = match valid.get(address) {
                    Some(ok) => *ok,
                    None => {
                        let ok = self
                            .wallet
                            .validate_address(address)
                            .await
                            .map(|v| v.is_valid)
                            .unwrap_or(false);
                        valid.insert(address.clone(), ok);
                        ok
                    }
                };
                if ok {
                    payments.insert(address.clone(), *total);
                    keep = Amount::ZERO;
                } else {
                    tracing::warn!(
                        address,
                        "not a valid address for this coin; its balance is kept"
                    );
                }
            }
            entries.insert(address.clone(), keep);
        }
        // Unchanged balances, and zeros where there was no balance, need no write.
        entries.retain(|entry, amount| match balances.get(entry) {
            Some(old) => old != amount,
            None => *amount != Amount::ZERO,
        });

        if confirmed.is_empty() && orphaned.is_empty() && kicked.is_empty() && payments.is_empty() {
            return Ok(None);
        }
        let mut payout_totals = self
            .store
            .payout_totals()
            .await
            .map_err(|e| self.store_error(e))?;
        payout_totals.retain(|address, _| payments.contains_key(address));
        let mut total_paid = self
            .store
            .total_paid()
            .await
            .map_err(|e| self.store_error(e))?;
        for (address, amount) in &payments {
            let total = payout_totals.entry(address.clone()).or_default();
            *total = total.checked_add(*amount).unwrap_or(*total);
            total_paid = total_paid.checked_add(*amount).unwrap_or(total_paid);
        }
        Ok(Some(Settlement {
            id: format!("{}-{}-{}", self.options.coin, now_ms(), self.options.owner),
            confirmed,
            orphaned,
            kicked,
            payments,
            balances: entries,
            payout_totals,
            total_paid,
        }))
    }
}
