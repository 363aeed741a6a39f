use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use pool_events::{LatencyByKey, LatencySnapshot};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::DaemonError;
use crate::rpc::{DaemonEndpoint, RpcClient};

/// How a [`DaemonGroup`] calls and retries its daemons.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOptions {
    /// Each RPC call's timeout.
    pub call_timeout: Duration,
    /// How long a daemon that failed is skipped before it is tried again; doubled after each
    /// further failure up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest a failed daemon is skipped.
    pub max_backoff: Duration,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            call_timeout: Duration::from_secs(10),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// The health of one daemon of a group, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonHealth {
    /// `host:port` of the daemon.
    pub daemon: String,
    /// False after a connection-level failure, until a call succeeds again.
    pub up: bool,
    /// Consecutive failures.
    pub failures: u32,
}

/// Which daemon of a group answered, and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    /// Index of the daemon in the group's configured order.
    pub daemon: usize,
    /// The decoded result.
    pub value: T,
}

/// Several daemons of one coin (NOMP's `daemons` list).
///
/// [`DaemonGroup::call`] asks the first healthy daemon in configured order and fails over
/// to the next on a connection-level failure (unreachable, timeout, HTTP error, warming
/// up); an RPC error is the daemon's answer and is returned as is. A failed daemon is
/// skipped for a backoff that doubles with each failure, then tried again, so a daemon that
/// is down at start-up or comes back later is used again without a restart. Each daemon
/// going down and coming back is logged once.
#[derive(Debug)]
pub struct DaemonGroup {
    daemons: Vec<Member>,
    options: GroupOptions,
    /// Every call's time to an answer or failure, by method.
    latency: LatencyByKey,
}

#[derive(Debug)]
struct Member {
    client: RpcClient,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    retry_at: Option<Instant>,
}

impl DaemonGroup {
    /// A group of `endpoints`, asked in this order. Fails if the list is empty.
    pub fn new(endpoints: Vec<DaemonEndpoint>, options: GroupOptions) -> Result<Self, DaemonError> {
        if endpoints.is_empty() {
            return Err(DaemonError::NoDaemons);
        }
        let daemons = endpoints
            .into_iter()
            .map(|endpoint| Member {
                client: RpcClient::new(endpoint, options.call_timeout),
                state: Mutex::new(State::default()),
            })
            .collect();
        Ok(DaemonGroup {
            daemons,
            options,
            latency: LatencyByKey::default(),
        })
    }

    /// The number of daemons.
    pub fn len(&self) -> usize {
        self.daemons.len()
    }

    /// Always false: a group has at least one daemon.
    pub fn is_empty(&self) -> bool {
        self.daemons.is_empty()
    }

    /// `host:port` of daemon `index`.
    pub fn label(&self, index: usize) -> &str {
        self.daemons[index].client.label()
    }

    /// The health of every daemon, in configured order.
    pub fn health(&self) -> Vec<DaemonHealth> {
        self.daemons
            .iter()
            .map(|member| {
                let state = member.lock();
                DaemonHealth {
                    daemon: member.client.label().to_owned(),
                    up: state.failures == 0,
                    failures: state.failures,
                }
            })
            .collect()
    }

    /// How long calls took since start, by RPC method (`batch` for batches); a call that
    /// failed over counts once per daemon tried.
    pub fn rpc_latency(&self) -> Vec<(String, LatencySnapshot)> {
        self.latency.snapshot()
    }

    /// Calls `method` on the first healthy daemon, failing over as described on the type.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<T, DaemonError> {
        self.call_traced(method, params)
            .await
            .map(|answer| answer.value)
    }

    /// Like [`DaemonGroup::call`], also saying which daemon answered.
    pub async fn call_traced<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<Answer<T>, DaemonError> {
        let now = Instant::now();
        let (ready, backing_off): (Vec<usize>, Vec<usize>) =
            (0..self.daemons.len()).partition(|&i| self.daemons[i].is_ready(now));
        let mut last_error = None;
        // Daemons still backing off are the last resort, so a call never fails only
        // because every daemon failed recently.
        for index in ready.into_iter().chain(backing_off) {
            match self.call_on(index, method, params).await {
                Ok(value) => {
                    return Ok(Answer {
                        daemon: index,
                        value,
                    });
                }
                Err(error) if error.is_daemon_failure() => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(DaemonError::NoDaemons))
    }

    /// Calls `method` on daemon `index` alone, without failing over; its health is updated
    /// as by any call.
    pub async fn call_on<T: DeserializeOwned>(
        &self,
        index: usize,
        method: &str,
        params: &impl Serialize,
    ) -> Result<T, DaemonError> {
        let member = self.daemons.get(index).ok_or(DaemonError::NoDaemons)?;
        let started = Instant::now();
        let result = member.client.call(method, params).await;
        self.latency.observe(method, started.elapsed());
        match &result {
            Err(error) if error.is_daemon_failure() => member.failed(error, &self.options),
            _ => member.succeeded(),
        }
        result
    }

    /// Calls `method` on every daemon at once (used for `submitblock`), returning each
    /// daemon's result in configured order.
    pub async fn call_all<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Vec<Result<T, DaemonError>> {
        let calls = (0..self.daemons.len()).map(|index| self.call_on(index, method, params));
        join_all(calls).await
    }

    /// Sends a JSON-RPC batch to the first healthy daemon (see [`RpcClient::batch`]).
    pub async fn batch(
        &self,
        calls: &[(&str, Value)],
    ) -> Result<Vec<Result<Value, DaemonError>>, DaemonError> {
        let now = Instant::now();
        let mut order: Vec<usize> = (0..self.daemons.len()).collect();
        order.sort_by_key(|&i| !self.daemons[i].is_ready(now));
        let mut last_error = DaemonError::NoDaemons;
        for index in order {
            let member = &self.daemons[index];
            let started = Instant::now();
            let result = member.client.batch(calls).await;
            self.latency.observe("batch", started.elapsed());
            match result {
                Ok(results) => {
                    member.succeeded();
                    return Ok(results);
                }
                Err(error) if error.is_daemon_failure() => {
                    member.failed(&error, &self.options);
                    last_error = error;
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error)
    }
}

impl Member {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_ready(&self, now: Instant) -> bool {
        self.lock().retry_at.is_none_or(|at| at <= now)
    }

    fn succeeded(&self) {
        let mut state = self.lock();
        if state.failures > 0 {
            tracing::info!(daemon = self.client.label(), "daemon is back up");
        }
        *state = State::default();
    }

    fn failed(&self, error: &DaemonError, options: &GroupOptions) {
        let mut state = self.lock();
        if state.failures == 0 {
            tracing::warn!(daemon = self.client.label(), %error, "daemon is down; trying the others");
        }
        state.failures = state.failures.saturating_add(1);
        let doublings = (state.failures - 1).min(16);
        let backoff = options
            .min_backoff
            .saturating_mul(1 << doublings)
            .min(options.max_backoff);
        state.retry_at = Some(Instant::now() + backoff);
    }
}
