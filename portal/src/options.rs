//! What the portal is told: where to listen, how often to gather stats, the admin secret.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use payments::FrontEndRegistry;

/// The portal's settings (NOMP's `website` section, typed).
#[derive(Debug, Clone)]
pub struct PortalOptions {
    /// Where the web server listens.
    pub bind: SocketAddr,
    /// The host name miners connect to, shown in stratum URLs (NOMP `stratumHost`).
    pub stratum_host: String,
    /// How often stats are gathered and pushed to live clients.
    pub update_interval: Duration,
    /// The span hashrate is computed over.
    pub hashrate_window: Duration,
    /// How long stats snapshots are kept for the history and charts.
    pub historical_retention: Duration,
    /// The admin center, or `None` to keep it off.
    pub admin: Option<AdminOptions>,
    /// Per-worker hashrate in `/metrics` (`nomp_worker_hashrate{pool, worker}`) for at most
    /// this many workers per pool, the fastest; 0 (the default) keeps worker names out of
    /// metrics, so their label count never grows with the miners.
    pub metrics_worker_labels: usize,
    /// The other front-ends on the same store, whose connections the stats add and whose
    /// health they list; `None` for a front-end alone.
    pub front_ends: Option<FrontEnds>,
}

/// Where the portal finds the front-ends sharing its store.
#[derive(Clone)]
pub struct FrontEnds {
    /// The registry they publish to.
    pub registry: Arc<dyn FrontEndRegistry>,
    /// This process's instance id (its own pools are read live, not from the registry).
    pub instance_id: u8,
    /// A front-end not heard from for this long is gone: listed as such, not counted.
    pub live_for: Duration,
}

impl std::fmt::Debug for FrontEnds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnds")
            .field("instance_id", &self.instance_id)
            .field("live_for", &self.live_for)
            .finish_non_exhaustive()
    }
}

impl PortalOptions {
    /// NOMP's defaults: stats every 60 s, hashrate over 300 s, 4 hours of history, no admin.
    pub fn new(bind: SocketAddr, stratum_host: impl Into<String>) -> Self {
        PortalOptions {
            bind,
            stratum_host: stratum_host.into(),
            update_interval: Duration::from_secs(60),
            hashrate_window: Duration::from_secs(300),
            historical_retention: Duration::from_secs(4 * 3600),
            admin: None,
            metrics_worker_labels: 0,
            front_ends: None,
        }
    }
}

/// The admin center's secret and limits.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// The password's argon2 hash in PHC form (`$argon2id$v=19$…`); the password itself is
    /// never configured.
    pub password_hash: String,
    /// Login attempts allowed per IP per minute.
    pub attempts_per_minute: u32,
    /// How long a login lasts.
    pub session_lifetime: Duration,
}

impl AdminOptions {
    /// Five attempts per minute per IP, sessions of 8 hours.
    pub fn new(password_hash: impl Into<String>) -> Self {
        AdminOptions {
            password_hash: password_hash.into(),
            attempts_per_minute: 5,
            session_lifetime: Duration::from_secs(8 * 3600),
        }
    }
}
