//! The seam through which a pool asks whether a worker may mine.

use std::net::IpAddr;

use async_trait::async_trait;

/// Decides `mining.authorize`. Async so a database check (MPOS mode) never blocks other
/// miners: each connection awaits its own answer.
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Whether `worker` (with `password`, connecting from `ip`) may submit shares.
    async fn authorize(&self, worker: &str, password: &str, ip: IpAddr) -> bool;
}
