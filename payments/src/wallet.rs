//! The wallet calls a payment run makes, behind a small trait: the processor's logic is
//! independent of how the wallet is reached (a daemon group in production).

use std::collections::BTreeMap;

use async_trait::async_trait;
use coin_daemon::{
    AddressValidation, Amount, BroadcastOutcome, DaemonError, DaemonGroup, ListedTransaction,
    OutPoint, SignedTransaction, WalletTransaction,
};

/// What a payment run asks of the coin's wallet.
#[async_trait]
pub trait Wallet: Send + Sync {
    /// `gettransaction`: a wallet transaction (a block's coinbase, a payout).
    async fn get_transaction(&self, txid: &str) -> Result<WalletTransaction, DaemonError>;
    /// `listtransactions`: the latest `count` transactions after skipping `skip`.
    async fn list_transactions(
        &self,
        count: u32,
        skip: u32,
    ) -> Result<Vec<ListedTransaction>, DaemonError>;
    /// Whether `address` is valid for the coin.
    async fn validate_address(&self, address: &str) -> Result<AddressValidation, DaemonError>;
    /// Builds and signs (never broadcasts) a transaction paying `amounts`.
    async fn build_payment(
        &self,
        amounts: &BTreeMap<String, Amount>,
    ) -> Result<SignedTransaction, DaemonError>;
    /// Broadcasts a signed transaction.
    async fn broadcast(&self, hex: &str) -> Result<BroadcastOutcome, DaemonError>;
    /// Whether `outpoint` is still unspent.
    async fn is_unspent(&self, outpoint: &OutPoint) -> Result<bool, DaemonError>;
}

#[async_trait]
impl Wallet for DaemonGroup {
    async fn get_transaction(&self, txid: &str) -> Result<WalletTransaction, DaemonError> {
        DaemonGroup::get_transaction(self, txid).await
    }

    async fn list_transactions(
        &self,
        count: u32,
        skip: u32,
    ) -> Result<Vec<ListedTransaction>, DaemonError> {
        DaemonGroup::list_transactions(self, count, skip).await
    }

    async fn validate_address(&self, address: &str) -> Result<AddressValidation, DaemonError> {
        DaemonGroup::validate_address(self, address).await
    }

    async fn build_payment(
        &self,
        amounts: &BTreeMap<String, Amount>,
    ) -> Result<SignedTransaction, DaemonError> {
        DaemonGroup::build_payment(self, amounts).await
    }

    async fn broadcast(&self, hex: &str) -> Result<BroadcastOutcome, DaemonError> {
        DaemonGroup::broadcast(self, hex).await
    }

    async fn is_unspent(&self, outpoint: &OutPoint) -> Result<bool, DaemonError> {
        DaemonGroup::is_unspent(self, outpoint).await
    }
}
