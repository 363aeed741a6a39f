//! Starting the portal from `config.json`'s `website` section.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use payments::{EmbeddedStore, RedisStore, StatsHistory};
use portal::{AdminOptions, FrontEnds, PortalOptions, RunningPortal, start_portal};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, WebsiteConfig};
use crate::run::Pools;

/// Starts the portal over the running `pools`. Its history goes to config.json's `redis`
/// (NOMP's `statHistory`) if set, else to the embedded store in `data_dir`; the other
/// front-ends on the same Redis come from `front_ends`.
pub(crate) async fn start(
    config: &Config,
    website: &WebsiteConfig,
    data_dir: &Path,
    pools: Arc<Pools>,
    front_ends: Option<FrontEnds>,
    cancel: &CancellationToken,
) -> Result<RunningPortal, String> {
    let file = config.dir.join("config.json");
    let host: IpAddr = website.host.parse().map_err(|_| {
        format!(
            "{}: website.host: {:?} is not an IP address (use \"0.0.0.0\" for every interface)",
            file.display(),
            website.host
        )
    })?;
    let mut options = PortalOptions::new(
        SocketAddr::new(host, website.port),
        website
            .stratum_host
            .clone()
            .unwrap_or_else(|| website.host.clone()),
    );
    options.update_interval = Duration::from_secs(website.stats.update_interval);
    options.hashrate_window = Duration::from_secs(website.stats.hashrate_window);
    options.historical_retention = Duration::from_secs(website.stats.historical_retention);
    options.metrics_worker_labels = website.metrics_worker_labels;
    options.front_ends = front_ends;
    let admin = &website.admin_center;
    options.admin = admin
        .admin_password_hash
        .as_deref()
        .filter(|hash| admin.enabled && !hash.is_empty())
        .map(AdminOptions::new);
    let history: Arc<dyn StatsHistory> = match &config.portal.redis {
        Some(redis) => {
            Arc::new(RedisStore::with_options(&redis.options(), "").map_err(|e| e.to_string())?)
        }
        None => Arc::new(
            EmbeddedStore::open(&data_dir.join("nomp.sqlite"), "").map_err(|e| e.to_string())?,
        ),
    };
    let admin_on = options.admin.is_some();
    let portal = start_portal(options, pools, Some(history), cancel.clone())
        .await
        .map_err(|e| format!("{}: website: {e}", file.display()))?;
    tracing::info!(addr = %portal.addr, admin = admin_on, "portal started");
    Ok(portal)
}
