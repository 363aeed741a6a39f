//! What the portal shows: the running pools, each with its store and live handle.

use std::sync::Arc;

use async_trait::async_trait;
use coin_daemon::Amount;
use hashing::Algorithm;
use payments::{PaymentCounters, PaymentStore};
use stratum_core::{Latency, PoolHandle, WriterStatus};
use tokio::sync::watch;

/// A pool's public description: nothing secret (no RPC credentials) is in here.
#[derive(Debug, Clone)]
pub struct PoolSummary {
    /// The pool's name (its coin file's name, as in the API's keys).
    pub name: String,
    /// The coin's ticker symbol.
    pub symbol: String,
    /// The proof-of-work algorithm.
    pub algorithm: Algorithm,
    /// The pool's own address (public: it is in every coinbase).
    pub address: String,
    /// The base58 version byte of the coin's pay-to-pubkey-hash addresses, if known.
    pub address_version: Option<u8>,
    /// The stratum ports.
    pub ports: Vec<PortSummary>,
    /// Percent of each block paid to fee recipients.
    pub fee_percent: f64,
    /// The payout scheme's name ("prop", "pplns", "solo"), or `None` without payments.
    pub payment_scheme: Option<String>,
    /// The smallest payment, if payments are on.
    pub minimum_payment: Option<Amount>,
}

/// One stratum port as miners see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSummary {
    /// The port number.
    pub port: u16,
    /// The starting share difficulty.
    pub difficulty: f64,
    /// Vardiff's minimum and maximum, if vardiff is on.
    pub vardiff: Option<(f64, f64)>,
    /// Whether miners must speak TLS.
    pub tls: bool,
}

/// A pool as the portal reads it.
#[derive(Clone)]
pub struct PortalPool {
    /// Its public description.
    pub summary: PoolSummary,
    /// Its live state.
    pub handle: PoolHandle,
    /// Its share store, or `None` when shares go elsewhere (MPOS mode).
    pub store: Option<Arc<dyn PaymentStore>>,
    /// Its share writer's progress, if it has one.
    pub writer: Option<watch::Receiver<WriterStatus>>,
    /// Its share writer's store writes, timed.
    pub store_write: Option<Arc<Latency>>,
    /// What its payment processor did since start, when this process runs one.
    pub payments: Option<Arc<PaymentCounters>>,
    /// Whether the portal may forget hashrate samples older than the hashrate window.
    /// False when the payout scheme reads them as its share log (PPLNS).
    pub prune_samples: bool,
}

impl std::fmt::Debug for PortalPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalPool")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// The pools behind the portal and the operator actions on them. The binary implements it
/// over its running pools (which change on reload); [`StaticPools`] is a fixed list.
#[async_trait]
pub trait PoolDirectory: Send + Sync {
    /// The pools running now.
    async fn pools(&self) -> Vec<PortalPool>;

    /// Restarts pool `name` with its configuration file re-read; the reply says what
    /// happened.
    async fn reload_pool(&self, name: &str) -> Result<String, ActionError>;

    /// Moves switching port group `switch` to `coin`.
    async fn coin_switch(&self, switch: &str, coin: &str) -> Result<String, ActionError>;
}

/// What an operator action names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// A pool (by its name or its coin's).
    Pool,
    /// A switching port group.
    Switch,
}

impl Named {
    fn singular(self) -> &'static str {
        match self {
            Named::Pool => "pool",
            Named::Switch => "switch",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Named::Pool => "pools",
            Named::Switch => "switches",
        }
    }
}

/// Why an operator action (a reload, a coin switch) did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// Nothing of that name runs.
    #[error("no {} {:?} ({}: {})", .kind.singular(), .name, .kind.plural(), known_list(.known))]
    Unknown {
        /// What was named.
        kind: Named,
        /// The name given.
        name: String,
        /// The names that would have worked.
        known: Vec<String>,
    },
    /// This directory cannot do that at all.
    #[error("{0}")]
    Unsupported(String),
    /// It was tried and refused; the text says why (the configuration, the pool).
    #[error("{0}")]
    Refused(String),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "none configured".to_owned()
    } else {
        known.join(", ")
    }
}

/// A fixed list of pools, for programs that embed pools and the portal themselves. It
/// cannot reload or switch.
#[derive(Debug, Clone)]
pub struct StaticPools(pub Vec<PortalPool>);

#[async_trait]
impl PoolDirectory for StaticPools {
    async fn pools(&self) -> Vec<PortalPool> {
        self.0.clone()
    }

    async fn reload_pool(&self, name: &str) -> Result<String, ActionError> {
        Err(ActionError::Unsupported(format!(
            "{name}: this portal's pools cannot be reloaded"
        )))
    }

    async fn coin_switch(&self, switch: &str, _coin: &str) -> Result<String, ActionError> {
        Err(ActionError::Unsupported(format!(
            "{switch}: this portal has no switching ports"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_name_is_answered_with_the_names_that_would_work() {
        let unknown = |kind, known: &[&str]| ActionError::Unknown {
            kind,
            name: "x".into(),
            known: known.iter().map(|k| k.to_string()).collect(),
        };
        assert_eq!(
            unknown(Named::Pool, &["a", "b"]).to_string(),
            r#"no pool "x" (pools: a, b)"#
        );
        assert_eq!(
            unknown(Named::Switch, &[]).to_string(),
            r#"no switch "x" (switches: none configured)"#
        );
    }
}
