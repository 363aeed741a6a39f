//! Deciding whether a worker may mine.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coin_daemon::DaemonGroup;
use pool_events::Authorizer;

use crate::address::{AddressFormat, output_script};

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

/// Addresses remembered by a [`DaemonAddressAuthorizer`] before its cache starts over.
const CACHED_ADDRESSES: usize = 100_000;

/// Accepts workers named `<address>` or `<address>.<rig>` whose address the coin daemon's
/// `validateaddress` calls valid, as NOMP's `validateWorkerUsername` does; answers are
/// cached. A daemon error refuses the worker (it may try again), never hangs it.
#[derive(Debug)]
pub struct DaemonAddressAuthorizer {
    daemons: Arc<DaemonGroup>,
    known: Mutex<HashMap<String, bool>>,
}

impl DaemonAddressAuthorizer {
    /// Checks worker addresses with `daemons`.
    pub fn new(daemons: Arc<DaemonGroup>) -> Self {
        DaemonAddressAuthorizer {
            daemons,
            known: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Authorizer for DaemonAddressAuthorizer {
    async fn authorize(&self, worker: &str, _password: &str, ip: IpAddr) -> bool {
        let address = worker.split('.').next().unwrap_or_default();
        if address.is_empty() {
            return false;
        }
        let cached = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(address)
            .copied();
        if let Some(valid) = cached {
            return valid;
        }
        match self.daemons.validate_address(address).await {
            Ok(answer) => {
                let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
                if known.len() >= CACHED_ADDRESSES {
                    known.clear();
                }
                known.insert(address.to_owned(), answer.is_valid);
                answer.is_valid
            }
            Err(error) => {
                tracing::warn!(worker, %ip, %error, "cannot validate the worker's address; refused");
                false
            }
        }
    }
}
