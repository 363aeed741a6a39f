//! Deciding whether a worker may mine.

use std::net::IpAddr;

use async_trait::async_trait;

use crate::address::{AddressFormat, output_script};

/// Decides `mining.authorize`. Async so a database check (MPOS mode) never blocks other
/// miners: each connection awaits its own answer.
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Whether `worker` (with `password`, connecting from `ip`) may submit shares.
    async fn authorize(&self, worker: &str, password: &str, ip: IpAddr) -> bool;
}

/// Accepts workers named `<address>` or `<address>.<rig>` whose address is valid for the
/// coin (NOMP's `validateWorkerUsername`), checked locally against the coin's address format.
#[derive(Debug, Clone)]
pub struct AddressAuthorizer {
    format: AddressFormat,
}

impl AddressAuthorizer {
    /// Checks worker addresses against `format`.
    pub fn new(format: AddressFormat) -> Self {
        AddressAuthorizer { format }
    }
}

#[async_trait]
impl Authorizer for AddressAuthorizer {
    async fn authorize(&self, worker: &str, _password: &str, _ip: IpAddr) -> bool {
        let address = worker.split('.').next().unwrap_or_default();
        output_script(address, &self.format).is_ok()
    }
}

/// Accepts every worker (solo pools, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait]
impl Authorizer for AllowAll {
    async fn authorize(&self, _worker: &str, _password: &str, _ip: IpAddr) -> bool {
        true
    }
}
