//! `/health` and `/ready`: whether the process serves, and whether each pool can take and
//! keep shares now.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::server::AppState;
use crate::source::PortalPool;

/// `/health`: the process answers.
pub(crate) async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// One pool's readiness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolReadiness {
    /// The pool.
    pub pool: String,
    /// Whether it can take and keep shares now.
    pub ready: bool,
    /// What is not ready, in words an operator can act on.
    pub problems: Vec<String>,
}

/// `/ready`: 200 when every pool has work for its miners and can keep their shares; 503
/// naming what is not ready otherwise (no work yet, shares held in memory only because
/// neither the store nor the share log takes them, shares being refused, a chain guard
/// fault).
pub(crate) async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let pools = readiness(&state.directory.pools().await);
    let ready = all_ready(&pools);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({ "ready": ready, "pools": pools })),
    )
        .into_response()
}

/// Each pool's readiness, as `/ready` reports it: no work yet, shares held in memory only,
/// shares being refused, a chain guard fault.
pub fn readiness(portal_pools: &[PortalPool]) -> Vec<PoolReadiness> {
    let mut pools = Vec::new();
    for pool in portal_pools {
        let mut problems = Vec::new();
        if pool.handle.current_job().is_none() {
            problems.push("no work for miners yet (no block template or upstream job)".into());
        }
        if let Some(writer) = &pool.writer {
            let status = writer.borrow().clone();
            if status.at_risk() {
                problems.push(format!(
                    "{} shares are held in memory only: {}",
                    status.held_events,
                    status
                        .failure
                        .as_deref()
                        .unwrap_or("the share writer is failing")
                ));
            }
        }
        if let Some(verdict) = pool.handle.chain_verdict() {
            problems.extend(
                verdict
                    .faults
                    .iter()
                    .map(|fault| format!("chain guard: {fault}")),
            );
        }
        let gate = pool.handle.event_gate();
        if gate.pending() >= gate.limit() {
            problems.push(format!(
                "new shares are refused: {} events wait for the share writer (limit {})",
                gate.pending(),
                gate.limit()
            ));
        }
        pools.push(PoolReadiness {
            pool: pool.summary.name.clone(),
            ready: problems.is_empty(),
            problems,
        });
    }
    pools
}

/// The process's verdict from its pools': ready when it runs a pool and every one is.
pub fn all_ready(pools: &[PoolReadiness]) -> bool {
    !pools.is_empty() && pools.iter().all(|p| p.ready)
}
