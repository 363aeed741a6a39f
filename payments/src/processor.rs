//! The payment processor: NOMP's payment run, made exactly-once by the journal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use coin_daemon::{Amount, BroadcastOutcome, DaemonError, SignedTransaction, TxCategory};
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::batch::now_ms;
use crate::error::StoreError;
use crate::journal::{Fence, JournalEntry, PayoutStore, RoundStatement, Settlement};
use crate::report::{PaymentCounters, PaymentReport};
use crate::scheme::{Scheme, pplns_split, prop_split, solo_split};
use crate::settle::{SettleFacts, owed, settle};
use crate::store::{BlockEntry, BlockStatus, Round, ShareStore};
use crate::wallet::Wallet;

/// A store that keeps both shares and payouts (both backends do).
pub trait PaymentStore: ShareStore + PayoutStore {}
impl<T: ShareStore + PayoutStore> PaymentStore for T {}

/// RPC error code of `gettransaction` for a txid the wallet does not know.
const NOT_IN_WALLET: i64 = -5;

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
    /// How long the payment lease lasts; renewed by every run and before each payout is
    /// journalled, given up when the processor stops. Another processor pays once it has
    /// lapsed: within one `interval` plus this after the holder died.
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
    /// The wallet would not build or sign the payout (e.g. too little spendable coin, a
    /// locked wallet); nothing was journalled or paid, and the next run computes afresh.
    #[error("payments for {coin}: the wallet refused to build the payment: {reason}")]
    WalletRefused {
        /// The coin.
        coin: String,
        /// The wallet's message.
        reason: String,
    },
    /// The payout transaction's broadcast got no answer, or the wallet could not yet say
    /// whether a journalled run's transaction was sent: it may have been. The run stays
    /// planned with its transaction, and the next run asks again and broadcasts that same
    /// transaction; no other run is paid until it is settled.
    #[error("payments for {coin}: run {id} is not settled yet: {reason}")]
    Unconfirmed {
        /// The coin.
        coin: String,
        /// The run.
        id: String,
        /// Why it is not settled.
        reason: String,
    },
    /// The store refused this processor's write: another processor took the payment lease
    /// over (this one stalled past it), and nothing this run computed was applied.
    #[error(
        "payments for {coin}: fenced: this processor held fence {held} of the payment lease, but fence {current} was issued since (its lease lapsed while it stalled, and another payer took over); its write was refused and nothing it computed is applied"
    )]
    Fenced {
        /// The coin.
        coin: String,
        /// The fence this processor held.
        held: u64,
        /// The latest fence.
        current: u64,
    },
    /// A sum of satoshis overflowed: the run was stopped before anything was paid.
    #[error("payments for {coin}: amounts overflow while summing {what}")]
    Overflow {
        /// The coin.
        coin: String,
        /// What was being summed.
        what: String,
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
type ReportHook = Arc<dyn Fn(&PaymentReport) + Send + Sync>;

/// Runs NOMP's payment processing for one pool, paying each run exactly once.
///
/// Each run, holding the store's payment lease: settles runs left planned by a crash or a
/// lost answer (see below), checks pending blocks with `gettransaction` (generate → pay,
/// immature → wait, orphan or unknown → its round goes back into the current one unless
/// another block of its height matured), splits each matured round's reward by the scheme,
/// adds existing balances, and builds and signs one transaction paying every valid
/// address owed at least `minimum_payment`. That transaction is journalled with the whole
/// settlement before it is broadcast, and the settlement is applied in one store
/// transaction once the daemon has it.
///
/// A planned run is finished, never repeated: if the wallet knows its transaction it is
/// applied; if not, the same transaction is broadcast again. It is given up (logged) only
/// when it is provably dead: the wallet marks it conflicted, an input was spent by another
/// transaction, or the daemon refuses it for good. No new run is paid before it is settled.
pub struct PaymentProcessor {
    store: Arc<dyn PaymentStore>,
    wallet: Arc<dyn Wallet>,
    options: PaymentOptions,
    on_sent: Option<SentHook>,
    on_report: Option<ReportHook>,
    counters: Arc<PaymentCounters>,
}

impl std::fmt::Debug for PaymentProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentProcessor")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A pending block's fate, from the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Matured(Amount),
    Immature,
    Orphaned,
    Kicked,
}

/// What a planned run turned out to be.
enum Reconciled {
    /// Its transaction is in the daemon's mempool or chain (or it paid nobody).
    Paid(Option<String>),
    /// It can never be paid: give it up.
    Dead(String),
}

impl PaymentProcessor {
    /// A processor paying from `wallet` (in production a daemon group holding the pool's
    /// wallet daemon).
    pub fn new(
        store: Arc<dyn PaymentStore>,
        wallet: Arc<dyn Wallet>,
        options: PaymentOptions,
    ) -> Self {
        PaymentProcessor {
            store,
            wallet,
            options,
            on_sent: None,
            on_report: None,
            counters: Arc::default(),
        }
    }

    /// Calls `hook` with each [`PaymentReport`] (after counting it): a settlement's blocks
    /// and payout once it is complete (also one an earlier run left planned), and each
    /// failed run of [`PaymentProcessor::spawn`].
    pub fn on_report(mut self, hook: impl Fn(&PaymentReport) + Send + Sync + 'static) -> Self {
        self.on_report = Some(Arc::new(hook));
        self
    }

    /// The counts of what runs did since start.
    pub fn counters(&self) -> Arc<PaymentCounters> {
        self.counters.clone()
    }

    fn report(&self, report: PaymentReport) {
        self.counters.count(&report);
        if let Some(hook) = &self.on_report {
            hook(&report);
        }
    }

    /// Reports a settlement just completed: its blocks, and its payout when it paid.
    fn report_settled(&self, settlement: &Settlement, txid: Option<&str>) {
        for block in &settlement.confirmed {
            self.report(PaymentReport::BlockConfirmed {
                height: block.height,
                hash: block.hash.clone(),
            });
        }
        for block in &settlement.orphaned {
            self.report(PaymentReport::BlockOrphaned {
                height: block.height,
                hash: block.hash.clone(),
            });
        }
        if let Some(txid) = txid {
            let total = settlement
                .payments
                .values()
                .try_fold(Amount::ZERO, |sum, amount| sum.checked_add(*amount));
            self.report(PaymentReport::Sent {
                id: settlement.id.clone(),
                txid: txid.to_owned(),
                addresses: settlement.payments.len(),
                // `settle` refused a run whose total overflows.
                total: total.expect("a settled run's total fits an amount"),
            });
        }
    }

    /// Calls `hook(run id, txid)` as soon as the daemon has taken a payout transaction,
    /// before the store records it: for alerts, and for tests that crash the processor
    /// right there.
    pub fn on_sent(mut self, hook: impl Fn(&str, &str) + Send + Sync + 'static) -> Self {
        self.on_sent = Some(Arc::new(hook));
        self
    }

    /// Runs every `interval` until `cancel`; errors are logged and the next run retries.
    pub fn spawn(self, cancel: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(
            async move {
                let mut ticks = tokio::time::interval(self.options.interval);
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => {
                            self.release().await;
                            return;
                        }
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
                        Err(error) => {
                            tracing::error!(%error, "payment run failed");
                            self.report(PaymentReport::Failed {
                                reason: error.to_string(),
                            });
                        }
                    }
                }
            }
            .in_current_span(),
        )
    }

    fn store_error(&self, source: StoreError) -> PaymentError {
        match source {
            StoreError::Fenced { held, current } => {
                self.counters.set_fence(None);
                PaymentError::Fenced {
                    coin: self.options.coin.clone(),
                    held,
                    current,
                }
            }
            source => PaymentError::Store {
                coin: self.options.coin.clone(),
                source,
            },
        }
    }

    fn daemon_error(&self, source: DaemonError) -> PaymentError {
        PaymentError::Daemon {
            coin: self.options.coin.clone(),
            source,
        }
    }

    fn unconfirmed(&self, id: &str, reason: impl std::fmt::Display) -> PaymentError {
        PaymentError::Unconfirmed {
            coin: self.options.coin.clone(),
            id: id.to_owned(),
            reason: reason.to_string(),
        }
    }

    fn overflow(&self, what: &str) -> PaymentError {
        PaymentError::Overflow {
            coin: self.options.coin.clone(),
            what: what.to_owned(),
        }
    }

    /// Takes or renews the payment lease; its fence, or `None` while another holds it.
    async fn lease(&self) -> Result<Option<Fence>, PaymentError> {
        let ttl = self.options.lease_ttl.as_millis() as u64;
        let fence = self
            .store
            .acquire_lease(&self.options.owner, ttl)
            .await
            .map_err(|e| self.store_error(e))?;
        let held = self.counters.snapshot().payer_fence;
        match fence {
            Some(fence) if held != Some(fence.0) => tracing::info!(
                coin = self.options.coin,
                fence = fence.0,
                "this processor holds the payment lease: it pays"
            ),
            None if held.is_some() => tracing::warn!(
                coin = self.options.coin,
                "another processor holds the payment lease now: it pays"
            ),
            _ => {}
        }
        self.counters.set_fence(fence.map(|f| f.0));
        Ok(fence)
    }

    /// Gives the lease up (when the processor stops), so another pays without waiting.
    async fn release(&self) {
        if self.counters.snapshot().payer_fence.is_none() {
            return;
        }
        match self.store.release_lease(&self.options.owner).await {
            Ok(()) => self.counters.set_fence(None),
            Err(error) => {
                tracing::warn!(%error, "could not release the payment lease; it expires by itself");
            }
        }
    }

    /// One payment run (see the type's docs). The lease is kept (and renewed by the next
    /// run) until the processor stops.
    pub async fn run_once(&self) -> Result<RunOutcome, PaymentError> {
        let Some(fence) = self.lease().await? else {
            return Ok(RunOutcome::LeaseHeld);
        };
        self.run_holding_lease(fence).await
    }

    async fn run_holding_lease(&self, fence: Fence) -> Result<RunOutcome, PaymentError> {
        self.finish_interrupted_runs(fence).await?;
        let Some(mut settlement) = self.settle().await? else {
            return Ok(RunOutcome::NothingToDo);
        };
        if !settlement.payments.is_empty() {
            settlement.transaction = Some(self.build(&settlement.payments).await?);
        }
        // Renewed for the broadcast. If the lease lapsed meanwhile, the store refuses the
        // plan below: what this run read may be stale.
        if self.lease().await? != Some(fence) {
            tracing::warn!(
                coin = self.options.coin,
                fence = fence.0,
                "the payment lease lapsed during this run; its payout is journalled only if no other run took over"
            );
        }
        self.store
            .plan(&settlement, now_ms(), fence)
            .await
            .map_err(|e| self.store_error(e))?;
        let txid = match &settlement.transaction {
            None => None,
            Some(transaction) => match self.broadcast(&settlement, transaction).await? {
                Reconciled::Paid(txid) => txid,
                Reconciled::Dead(reason) => {
                    self.give_up(&settlement.id, &reason, fence).await?;
                    return Err(self.unconfirmed(&settlement.id, reason));
                }
            },
        };
        self.store
            .complete(&settlement.id, txid.as_deref(), fence)
            .await
            .map_err(|e| self.store_error(e))?;
        self.report_settled(&settlement, txid.as_deref());
        Ok(RunOutcome::Settled {
            id: settlement.id,
            txid,
            paid: settlement.payments,
        })
    }

    /// Builds and signs the payout; nothing is sent yet.
    async fn build(
        &self,
        payments: &BTreeMap<String, Amount>,
    ) -> Result<SignedTransaction, PaymentError> {
        match self.wallet.build_payment(payments).await {
            Ok(transaction) => Ok(transaction),
            Err(DaemonError::Rpc { message, .. }) => Err(PaymentError::WalletRefused {
                coin: self.options.coin.clone(),
                reason: message,
            }),
            Err(error) => Err(self.daemon_error(error)),
        }
    }

    /// Broadcasts a journalled run's transaction: paid once the daemon has it; dead if
    /// the daemon refuses it for good and its inputs are gone or it is invalid; an error
    /// (the run stays planned) when there is no answer.
    async fn broadcast(
        &self,
        settlement: &Settlement,
        transaction: &SignedTransaction,
    ) -> Result<Reconciled, PaymentError> {
        match self.wallet.broadcast(&transaction.hex).await {
            Ok(BroadcastOutcome::Accepted) => {
                if let Some(hook) = &self.on_sent {
                    hook(&settlement.id, &transaction.txid);
                }
                Ok(Reconciled::Paid(Some(transaction.txid.clone())))
            }
            Ok(BroadcastOutcome::Rejected { reason }) => {
                let spent = self.spent_input(transaction).await?;
                Ok(Reconciled::Dead(match spent {
                    Some(input) => format!(
                        "the daemon refused its transaction ({reason}) and its input {input} is spent by another transaction"
                    ),
                    None => format!("the daemon refused its transaction for good: {reason}"),
                }))
            }
            Err(error) => Err(self.unconfirmed(
                &settlement.id,
                format!(
                    "no answer to the broadcast of {} ({error}); the same transaction is broadcast again next run",
                    transaction.txid
                ),
            )),
        }
    }

    /// The first input of `transaction` that is spent (by another transaction, since the
    /// wallet does not know this one) or unknown to the daemon, if any.
    async fn spent_input(
        &self,
        transaction: &SignedTransaction,
    ) -> Result<Option<String>, PaymentError> {
        for input in &transaction.inputs {
            let unspent = self
                .wallet
                .is_unspent(input)
                .await
                .map_err(|e| self.daemon_error(e))?;
            if !unspent {
                return Ok(Some(format!("{}:{}", input.txid, input.vout)));
            }
        }
        Ok(None)
    }

    async fn give_up(&self, id: &str, reason: &str, fence: Fence) -> Result<(), PaymentError> {
        tracing::warn!(
            coin = self.options.coin,
            id,
            reason,
            "giving up a payment run whose transaction can never confirm; its blocks and balances are paid by the next run"
        );
        self.store
            .abandon(id, fence)
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(())
    }

    /// Settles runs left planned (a crash, a timeout, a lost answer): applies those whose
    /// transaction the daemon has (broadcasting it again if needed), gives up those that
    /// can never confirm. Fails, stopping the run, while one cannot be settled yet.
    async fn finish_interrupted_runs(&self, fence: Fence) -> Result<(), PaymentError> {
        let planned = self
            .store
            .planned()
            .await
            .map_err(|e| self.store_error(e))?;
        for entry in planned {
            let id = entry.settlement.id.clone();
            match self.reconcile(&entry).await? {
                Reconciled::Paid(txid) => {
                    tracing::warn!(
                        coin = self.options.coin,
                        id,
                        ?txid,
                        "finishing a payment run that was interrupted after its transaction was sent"
                    );
                    self.store
                        .complete(&id, txid.as_deref(), fence)
                        .await
                        .map_err(|e| self.store_error(e))?;
                    self.report_settled(&entry.settlement, txid.as_deref());
                }
                Reconciled::Dead(reason) => self.give_up(&id, &reason, fence).await?,
            }
        }
        Ok(())
    }

    async fn reconcile(&self, entry: &JournalEntry) -> Result<Reconciled, PaymentError> {
        let settlement = &entry.settlement;
        if settlement.payments.is_empty() {
            return Ok(Reconciled::Paid(None));
        }
        let Some(transaction) = &settlement.transaction else {
            return self.reconcile_sendmany(entry).await;
        };
        match self.wallet.get_transaction(&transaction.txid).await {
            Ok(tx) if tx.confirmations >= 0 => Ok(Reconciled::Paid(Some(transaction.txid.clone()))),
            Ok(tx) => Ok(Reconciled::Dead(format!(
                "the wallet marks its transaction {} conflicted ({} confirmations): another transaction spent its inputs",
                transaction.txid, tx.confirmations
            ))),
            Err(error) if error.rpc_code() == Some(NOT_IN_WALLET) => {
                match self.spent_input(transaction).await? {
                    Some(input) => Ok(Reconciled::Dead(format!(
                        "its transaction {} was never taken and its input {input} is spent by another transaction",
                        transaction.txid
                    ))),
                    None => self.broadcast(settlement, transaction).await,
                }
            }
            Err(error) => Err(self.unconfirmed(
                &settlement.id,
                format!("cannot ask the wallet about {}: {error}", transaction.txid),
            )),
        }
    }

    /// A run of a version that paid with `sendmany`: found by its comment in the
    /// wallet. One the wallet has not seen is given up only an hour after it was planned,
    /// so a `sendmany` still in flight is not paid a second time.
    async fn reconcile_sendmany(&self, entry: &JournalEntry) -> Result<Reconciled, PaymentError> {
        let comment = entry.settlement.wallet_comment();
        for page in 0..MAX_PAGES {
            let listed = self
                .wallet
                .list_transactions(PAGE, page * PAGE)
                .await
                .map_err(|e| self.daemon_error(e))?;
            if let Some(found) = listed.iter().find(|tx| {
                tx.category == TxCategory::Send && tx.comment.as_deref() == Some(&comment)
            }) {
                return Ok(Reconciled::Paid(Some(found.txid.clone())));
            }
            if listed.len() < PAGE as usize {
                break;
            }
        }
        if now_ms().saturating_sub(entry.planned_ms) < SENDMANY_GRACE_MS {
            return Err(self.unconfirmed(
                &entry.settlement.id,
                "its sendmany is not in the wallet yet",
            ));
        }
        Ok(Reconciled::Dead(
            "its sendmany never reached the wallet in an hour".into(),
        ))
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

    /// The round's reward split by the scheme, with its statement.
    async fn split(
        &self,
        block: &BlockEntry,
        reward: Amount,
    ) -> Result<RoundStatement, PaymentError> {
        let (shares, window) = match self.options.scheme {
            Scheme::Solo if !block.worker.is_empty() => {
                let credits = solo_split(reward, &block.worker);
                let shares = BTreeMap::from([(block.worker.clone(), rust_decimal::Decimal::ONE)]);
                return self.statement(block, reward, shares, None, credits);
            }
            // Blocks NOMP recorded carry no time: their round stands in.
            Scheme::Pplns { window } if block.time_ms > 0 => {
                let difficulty = self
                    .store
                    .block_difficulty(&block.hash)
                    .await
                    .map_err(|e| self.store_error(e))?;
                match window.size(difficulty) {
                    Some(size) => {
                        let shares = self
                            .store
                            .last_shares(block.time_ms, size)
                            .await
                            .map_err(|e| self.store_error(e))?;
                        (shares, Some(size))
                    }
                    None => {
                        tracing::warn!(
                            height = block.height,
                            hash = block.hash,
                            "the block's network difficulty was not recorded: its PPLNS window cannot be sized, its round is paid instead"
                        );
                        (self.round(block).await?, None)
                    }
                }
            }
            _ => (self.round(block).await?, None),
        };
        let credits = match window {
            Some(size) => pplns_split(reward, &shares, size),
            None => prop_split(reward, &shares),
        };
        self.statement(block, reward, shares, window, credits)
    }

    /// A block's statement: its reward, what it was split over, and what was credited.
    fn statement(
        &self,
        block: &BlockEntry,
        reward: Amount,
        shares: BTreeMap<String, rust_decimal::Decimal>,
        window: Option<rust_decimal::Decimal>,
        credits: BTreeMap<String, Amount>,
    ) -> Result<RoundStatement, PaymentError> {
        let kept = credits
            .values()
            .try_fold(Amount::ZERO, |sum, credit| sum.checked_add(*credit))
            .and_then(|credited| reward.checked_sub(credited))
            .ok_or_else(|| self.overflow("a block's credits"))?;
        Ok(RoundStatement {
            height: block.height,
            hash: block.hash.clone(),
            reward,
            shares,
            window,
            credits,
            kept,
        })
    }

    async fn round(
        &self,
        block: &BlockEntry,
    ) -> Result<BTreeMap<String, rust_decimal::Decimal>, PaymentError> {
        self.store
            .round_shares(Round::Height(block.height))
            .await
            .map_err(|e| self.store_error(e))
    }

    /// Computes this run's settlement; `None` when there is nothing to settle or pay.
    async fn settle(&self) -> Result<Option<Settlement>, PaymentError> {
        let pending = self
            .store
            .blocks(BlockStatus::Pending)
            .await
            .map_err(|e| self.store_error(e))?;
        let mut fates = Vec::with_capacity(pending.len());
        for block in pending {
            let fate = self.fate(&block).await?;
            fates.push((block, fate));
        }
        let decided = decide_rounds(fates);
        let mut facts = SettleFacts::default();
        let mut rounds = Vec::with_capacity(decided.paying.len());
        for (block, reward) in &decided.paying {
            let round = self.split(block, *reward).await?;
            if round.credits.is_empty() {
                tracing::warn!(
                    height = block.height,
                    "matured block has no shares to credit; its reward stays with the pool"
                );
            }
            facts.credits.push(round.credits.clone());
            rounds.push(round);
        }
        facts.balances = self
            .store
            .balances()
            .await
            .map_err(|e| self.store_error(e))?;
        let owed = owed(&facts).map_err(|e| self.overflow(e.what))?;
        for (address, total) in &owed {
            if *total < self.options.minimum_payment || *total <= Amount::ZERO {
                continue;
            }
            let valid = self
                .wallet
                .validate_address(address)
                .await
                .map_err(|e| self.daemon_error(e))?
                .is_valid;
            if !valid {
                tracing::warn!(
                    address,
                    "not a valid address for this coin; its balance is kept"
                );
                facts.invalid_addresses.insert(address.clone());
            }
        }
        facts.payout_totals = self
            .store
            .payout_totals()
            .await
            .map_err(|e| self.store_error(e))?;
        facts.total_paid = self
            .store
            .total_paid()
            .await
            .map_err(|e| self.store_error(e))?;
        let settled =
            settle(&facts, self.options.minimum_payment).map_err(|e| self.overflow(e.what))?;
        if decided.is_empty() && settled.payments.is_empty() {
            return Ok(None);
        }
        Ok(Some(Settlement {
            id: format!("{}-{}-{}", self.options.coin, now_ms(), self.options.owner),
            confirmed: decided.confirmed,
            orphaned: decided.orphaned,
            kicked: decided.kicked,
            paid_rounds: Some(decided.paid_rounds),
            merged_rounds: Some(decided.merged_rounds),
            rounds,
            payments: settled.payments,
            balances: settled.balances,
            payout_totals: settled.payout_totals,
            total_paid: settled.total_paid,
            transaction: None,
        }))
    }
}

/// Wallet transactions read per `listtransactions` page while looking for an old run.
const PAGE: u32 = 1000;
/// Pages read at most while looking for an old run's payment.
const MAX_PAGES: u32 = 50;
/// How long an old run's `sendmany` may take to show up before the run is given up.
const SENDMANY_GRACE_MS: u64 = 3_600_000;

/// What the pending blocks' fates decide, per height.
#[derive(Debug, Default, PartialEq)]
struct Decided {
    /// Blocks whose round is paid, with the reward.
    paying: Vec<(BlockEntry, Amount)>,
    confirmed: Vec<BlockEntry>,
    orphaned: Vec<BlockEntry>,
    kicked: Vec<BlockEntry>,
    paid_rounds: Vec<u64>,
    merged_rounds: Vec<u64>,
}

impl Decided {
    fn is_empty(&self) -> bool {
        self.confirmed.is_empty() && self.orphaned.is_empty() && self.kicked.is_empty()
    }
}

/// Decides each height's round from the fates of its pending blocks (several blocks of one
/// height share one round): the first matured block pays it; while any is immature, the
/// whole height waits; when all are orphaned or unknown, the round goes back into the
/// current one, once. Blocks are moved to their sets either way.
fn decide_rounds(fates: Vec<(BlockEntry, Fate)>) -> Decided {
    let mut by_height: BTreeMap<u64, Vec<(BlockEntry, Fate)>> = BTreeMap::new();
    for (block, fate) in fates {
        by_height
            .entry(block.height)
            .or_default()
            .push((block, fate));
    }
    let mut decided = Decided::default();
    for (height, blocks) in by_height {
        if blocks.iter().any(|(_, fate)| *fate == Fate::Immature) {
            continue;
        }
        let mut paid = false;
        for (block, fate) in blocks {
            match fate {
                Fate::Matured(reward) if !paid => {
                    paid = true;
                    decided.paying.push((block.clone(), reward));
                    decided.confirmed.push(block);
                }
                Fate::Matured(_) => {
                    tracing::error!(
                        height,
                        hash = block.hash,
                        "a second matured coinbase at one height: its round is paid once; kicking this block"
                    );
                    decided.kicked.push(block);
                }
                Fate::Orphaned => decided.orphaned.push(block),
                Fate::Kicked | Fate::Immature => decided.kicked.push(block),
            }
        }
        if paid {
            decided.paid_rounds.push(height);
        } else {
            decided.merged_rounds.push(height);
        }
    }
    decided
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(height: u64, hash: &str) -> BlockEntry {
        BlockEntry {
            height,
            hash: hash.into(),
            coinbase_txid: format!("tx-{hash}"),
            worker: "w".into(),
            time_ms: 1,
        }
    }

    fn hashes(blocks: &[BlockEntry]) -> Vec<&str> {
        blocks.iter().map(|b| b.hash.as_str()).collect()
    }

    #[test]
    fn a_matured_block_pays_its_heights_round_and_a_same_height_orphan_merges_nothing() {
        let reward = Amount::from_sat(50);
        let decided = decide_rounds(vec![
            (block(10, "orphan"), Fate::Orphaned),
            (block(10, "main"), Fate::Matured(reward)),
            (block(11, "lost"), Fate::Orphaned),
            (block(12, "young"), Fate::Immature),
            (block(12, "other"), Fate::Orphaned),
            (block(13, "gone"), Fate::Kicked),
            (block(13, "gone too"), Fate::Orphaned),
        ]);
        assert_eq!(decided.paying, vec![(block(10, "main"), reward)]);
        assert_eq!(decided.paid_rounds, [10]);
        assert_eq!(decided.merged_rounds, [11, 13], "each merged once");
        assert_eq!(hashes(&decided.confirmed), ["main"]);
        assert_eq!(hashes(&decided.orphaned), ["orphan", "lost", "gone too"]);
        assert_eq!(hashes(&decided.kicked), ["gone"]);
    }

    #[test]
    fn two_matured_blocks_at_one_height_pay_its_round_once() {
        let decided = decide_rounds(vec![
            (block(7, "a"), Fate::Matured(Amount::from_sat(1))),
            (block(7, "b"), Fate::Matured(Amount::from_sat(1))),
        ]);
        assert_eq!(decided.paying.len(), 1);
        assert_eq!(decided.paid_rounds, [7]);
        assert_eq!(hashes(&decided.kicked), ["b"]);
    }
}
