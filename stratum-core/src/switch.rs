//! Switching ports: ports that take miners by algorithm and give them the work of
//! whichever pool (coin) the switch is on, moving connected miners when it changes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::address::{AddressFormat, address_from_hash160};
use crate::connection::{PortContext, Route, accept_loop};
use crate::ids::IdAllocator;
use crate::options::{PoolError, PortOptions};
use crate::pool::PoolHandle;
use crate::session::WorkerCredit;

/// A pool a switch can be on, and how a miner's login becomes that pool's worker.
#[derive(Clone)]
pub struct SwitchTarget {
    /// The pool's name, as `coinswitch` names it.
    pub name: String,
    /// The running pool.
    pub handle: PoolHandle,
    /// Maps a login to the worker credited in this pool; `None` refuses the login.
    pub credit: WorkerCredit,
}

impl std::fmt::Debug for SwitchTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchTarget")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The usual login mapping of switching ports (NOMP's): the login is the hex
/// RIPEMD160(SHA256(public key)) of the miner's key, optionally `.rig`; the worker is that
/// key's address on the coin of `format` (see [`address_from_hash160`]) with the same
/// `.rig`. Anything else is refused.
pub fn key_hash_credit(format: AddressFormat) -> WorkerCredit {
    Arc::new(move |login: &str| {
        let (key, rig) = match login.split_once('.') {
            Some((key, rig)) => (key, Some(rig)),
            None => (login, None),
        };
        let hash: [u8; 20] = hex::decode(key).ok()?.try_into().ok()?;
        let address = address_from_hash160(&hash, &format)?;
        Some(match rig {
            Some(rig) => format!("{address}.{rig}"),
            None => address,
        })
    })
}

/// A switch's ports.
#[derive(Debug, Clone)]
pub struct SwitchOptions {
    /// Its name (NOMP's key under `switching`).
    pub name: String,
    /// The ports miners connect to.
    pub ports: Vec<PortOptions>,
    /// Whether connections start with a PROXY protocol header.
    pub proxy_protocol: bool,
}

/// A running switch.
pub struct RunningSwitch {
    /// The bound address of each port, in configured order.
    pub ports: Vec<SocketAddr>,
    name: String,
    current: Mutex<String>,
    /// The id allocator of the pools this switch may move miners between.
    ids: Arc<IdAllocator>,
    routes: watch::Sender<Route>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for RunningSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSwitch")
            .field("name", &self.name)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl RunningSwitch {
    /// The name of the pool the switch is on.
    pub fn current(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Moves the switch, and every miner connected to it, to `target`: each gets the
    /// target's current job as a clean job, keeps its difficulty and connection, and its
    /// next shares are credited in the target pool. An upstream-mode pool is refused
    /// ([`PoolError::UpstreamInSwitch`]): its miners have other extranonce sizes.
    pub fn switch_to(&self, target: SwitchTarget) -> Result<(), PoolError> {
        refuse_upstream(&target)?;
        if !Arc::ptr_eq(&self.ids, target.handle.ids()) {
            return Err(PoolError::SeparateIds { pool: target.name });
        }
        tracing::info!(
            switch = self.name,
            from = self.current(),
            to = target.name,
            "coin switch"
        );
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = target.name;
        self.routes.send_replace(target.handle.route(target.credit));
        Ok(())
    }

    /// Stops accepting and closes the switch's connections.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A switch's miners keep the extranonce sizes they subscribed with, which an
/// upstream-mode pool does not give.
fn refuse_upstream(target: &SwitchTarget) -> Result<(), PoolError> {
    if target.handle.is_upstream() {
        return Err(PoolError::UpstreamInSwitch {
            pool: target.name.clone(),
        });
    }
    Ok(())
}

/// Starts a switch on `initial` (not an upstream-mode pool): binds its ports and serves
/// miners until `cancel`. The pools it switches between must share one
/// [`IdAllocator`](crate::IdAllocator) (`PoolOptions::ids`), so a moved miner's extranonce1
/// and job ids stay unique in its new pool.
pub async fn start_switch(
    options: SwitchOptions,
    initial: SwitchTarget,
    cancel: CancellationToken,
) -> Result<RunningSwitch, PoolError> {
    refuse_upstream(&initial)?;
    let mut listeners = Vec::new();
    let mut ports = Vec::new();
    for port in &options.ports {
        let bind = |source| PoolError::Bind {
            addr: port.bind,
            source,
        };
        let listener = TcpListener::bind(port.bind).await.map_err(bind)?;
        ports.push(listener.local_addr().map_err(bind)?);
        listeners.push(listener);
    }
    let ids = initial.handle.ids().clone();
    let (routes, receiver) = watch::channel(initial.handle.route(initial.credit));
    let cancel = cancel.child_token();
    let mut tasks = JoinSet::new();
    for (listener, port) in listeners.into_iter().zip(&options.ports) {
        let context = PortContext {
            port: port.clone(),
            proxy_protocol: options.proxy_protocol,
            switch: Some(receiver.clone()),
        };
        tasks.spawn(accept_loop(listener, None, context, cancel.clone()).in_current_span());
    }
    tracing::info!(
        switch = options.name,
        ?ports,
        on = initial.name,
        "switch started"
    );
    Ok(RunningSwitch {
        ports,
        name: options.name,
        current: Mutex::new(initial.name),
        ids,
        routes,
        cancel,
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_hash_login_becomes_the_coins_address_with_its_rig() {
        let credit = key_hash_credit(AddressFormat::testnet());
        assert_eq!(
            credit("751e76e8199196d454941c45d1b3a323f1433bd6.rig1").as_deref(),
            Some("mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r.rig1")
        );
        assert_eq!(
            credit("751e76e8199196d454941c45d1b3a323f1433bd6").as_deref(),
            Some("mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r")
        );
        assert_eq!(credit("mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r"), None);
        assert_eq!(credit("751e76e8"), None);
    }
}
