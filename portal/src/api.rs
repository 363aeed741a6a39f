//! The JSON API: NOMP's endpoints plus blocks, payments, miners and coins.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::server::AppState;
use crate::stats::HistoryPoint;
use crate::views;

/// The OpenAPI description of this API.
pub(crate) const OPENAPI: &str = include_str!("../openapi.json");

/// A JSON error with a status.
pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": message.to_string() })),
    )
        .into_response()
}

fn store_down(cause: payments::StoreError) -> Response {
    tracing::warn!(error = %cause, "API: the share store did not answer");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the share store is unavailable",
    )
}

fn raw_json(body: Arc<str>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `/api/stats`: the latest snapshot.
pub(crate) async fn stats(State(state): State<Arc<AppState>>) -> Response {
    raw_json(state.stats.latest_json())
}

/// `/api/pool_stats`: the history, oldest first.
pub(crate) async fn pool_stats(State(state): State<Arc<AppState>>) -> Json<Vec<HistoryPoint>> {
    Json(
        state
            .stats
            .history()
            .iter()
            .map(|s| s.history_point())
            .collect(),
    )
}

/// `/api/live_stats`: every new snapshot as a server-sent event, the current one first.
pub(crate) async fn live_stats(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let first = state.stats.latest_json();
    let state = state.clone();
    let updates = state.stats.subscribe();
    let stream = futures_util::stream::unfold(
        (Some(first), updates),
        |(pending, mut updates)| async move {
            if let Some(json) = pending {
                return Some((Ok(Event::default().data(&*json)), (None, updates)));
            }
            loop {
                match updates.recv().await {
                    Ok(json) => return Some((Ok(Event::default().data(&*json)), (None, updates))),
                    // A slow client skips to the newest snapshot.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    // Ends at shutdown, so the server can stop.
    let stream = stream.take_until(state.cancel.clone().cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `limit` and `pool` filters.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    pool: Option<String>,
    limit: Option<usize>,
}

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

async fn selected(state: &AppState, pool: Option<&str>) -> Vec<crate::source::PortalPool> {
    let mut pools = state.directory.pools().await;
    if let Some(name) = pool {
        pools.retain(|p| p.summary.name == name);
    }
    pools
}

/// `/api/blocks`: found blocks per pool, newest first.
pub(crate) async fn blocks(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let pools = selected(&state, query.pool.as_deref()).await;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    match views::blocks(&pools, limit).await {
        Ok(blocks) => Json(blocks).into_response(),
        Err(e) => store_down(e),
    }
}

/// `/api/payments`: payment runs per pool, newest first.
pub(crate) async fn payments(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let pools = selected(&state, query.pool.as_deref()).await;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    match views::payments(&pools, limit).await {
        Ok(payments) => Json(payments).into_response(),
        Err(e) => store_down(e),
    }
}

/// The address in `/api/worker_stats?ADDRESS` (NOMP forks' form) or `?address=ADDRESS`.
pub(crate) fn address_from_query(query: &str) -> Option<String> {
    let raw = match query
        .split('&')
        .find_map(|pair| pair.strip_prefix("address="))
    {
        Some(value) => value,
        None => query.split('&').next()?,
    };
    let address = percent_decode(raw);
    let valid = !address.is_empty()
        && address.len() <= 128
        && address
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
    valid.then_some(address)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/api/worker_stats?ADDRESS`: one miner across pools.
pub(crate) async fn worker_stats(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(address) = query.as_deref().and_then(address_from_query) else {
        return error(
            StatusCode::BAD_REQUEST,
            "give the miner's address: /api/worker_stats?ADDRESS",
        );
    };
    let pools = state.directory.pools().await;
    match views::miner(&pools, &state.stats, &address).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => store_down(e),
    }
}

/// `/api/coins`: each pool's coin for wallets and apps.
pub(crate) async fn coins(State(state): State<Arc<AppState>>) -> Response {
    Json(views::coins(&state.directory.pools().await)).into_response()
}

/// `/api/openapi.json`.
pub(crate) async fn openapi() -> Response {
    raw_json(Arc::from(OPENAPI))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_stats_takes_nomps_bare_address_or_a_named_one() {
        assert_eq!(address_from_query("mxAbc").as_deref(), Some("mxAbc"));
        assert_eq!(
            address_from_query("address=mxAbc.rig1").as_deref(),
            Some("mxAbc.rig1")
        );
        assert_eq!(address_from_query("mx%41bc").as_deref(), Some("mxAbc"));
        assert_eq!(address_from_query(""), None);
        assert_eq!(address_from_query("<script>"), None);
    }

    #[test]
    fn the_openapi_description_is_json_naming_every_api_path() {
        let description: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        for path in crate::server::API_PATHS {
            assert!(
                description["paths"].get(*path).is_some(),
                "{path} is not described"
            );
        }
    }
}
