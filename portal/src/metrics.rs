//! Prometheus `/metrics`: read fresh from the pools at every scrape.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::server::AppState;

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;

fn pool(name: &str) -> Labels {
    vec![("pool", name.to_owned())]
}

fn with(name: &str, key: &'static str, value: impl Into<String>) -> Labels {
    vec![("pool", name.to_owned()), (key, value.into())]
}

/// Registers `family` under `name` and returns it for filling.
fn add<
    M: prometheus_client::metrics::TypedMetric + Clone + Send + Sync + std::fmt::Debug + 'static,
>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    family: Family<Labels, M>,
) -> Family<Labels, M>
where
    Family<Labels, M>: prometheus_client::encoding::EncodeMetric,
{
    registry.register(name, help, family.clone());
    family
}

/// `/metrics` in the Prometheus text format.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut registry = Registry::with_prefix("nomp");
    let connections = add(
        &mut registry,
        "connections",
        "Miner connections open",
        Gauges::default(),
    );
    let shares = add(
        &mut registry,
        "shares",
        "Shares since start by result: valid, or the kind of refusal (job_not_found, extranonce2_size, ntime_size, ntime_out_of_range, nonce_size, version_bits, duplicate, low_difficulty)",
        Counters::default(),
    );
    let refused = add(
        &mut registry,
        "shares_not_recorded",
        "Shares answered with an error because the pool could not keep them (memory bound reached, or no durable place within the acknowledgement timeout)",
        Counters::default(),
    );
    let blocks = add(
        &mut registry,
        "blocks",
        "Block candidates since start by daemon verdict",
        Counters::default(),
    );
    let forwarded = add(
        &mut registry,
        "upstream_shares",
        "Upstream mode: shares forwarded to the upstream pool since start by its verdict",
        Counters::default(),
    );
    let upstream_connected = add(
        &mut registry,
        "upstream_connected",
        "Upstream mode: 1 while the pool is connected to an upstream pool",
        Gauges::default(),
    );
    let backlog = add(
        &mut registry,
        "event_backlog",
        "Pool events queued in memory behind a lagging share writer",
        Gauges::default(),
    );
    let received = add(
        &mut registry,
        "share_writer_records",
        "Records the share writer received",
        Counters::default(),
    );
    let stored = add(
        &mut registry,
        "share_writer_stored_batches",
        "Batches the share writer stored",
        Counters::default(),
    );
    let spooled = add(
        &mut registry,
        "share_writer_spooled_batches",
        "Batches the share writer spooled while the store was down",
        Counters::default(),
    );
    let spooling = add(
        &mut registry,
        "share_writer_spooling",
        "1 while batches wait in the share log for the store",
        Gauges::default(),
    );
    let failing = add(
        &mut registry,
        "share_writer_failing",
        "1 while the share writer cannot write the store or the share log",
        Gauges::default(),
    );
    let held = add(
        &mut registry,
        "share_writer_memory_events",
        "Events held in memory only, because neither the store nor the share log takes them",
        Gauges::default(),
    );
    let pending = add(
        &mut registry,
        "share_writer_pending_events",
        "Events the pool holds for its share writer that are not durable yet, and the bound at which shares are refused",
        Gauges::default(),
    );
    let daemon_up = add(
        &mut registry,
        "daemon_up",
        "1 if the daemon answered its last call",
        Gauges::default(),
    );
    let daemon_failures = add(
        &mut registry,
        "daemon_failures",
        "Consecutive failed calls to the daemon",
        Gauges::default(),
    );
    let hashrate = add(
        &mut registry,
        "pool_hashrate",
        "Hashes per second over the hashrate window",
        Gauges::default(),
    );
    let workers = add(
        &mut registry,
        "pool_workers",
        "Workers with shares in the hashrate window",
        Gauges::default(),
    );
    let found = add(
        &mut registry,
        "found_blocks",
        "Found blocks in the store by status",
        Gauges::default(),
    );
    let paid = add(
        &mut registry,
        "paid_coins",
        "Coins paid to miners ever",
        Gauges::default(),
    );

    let latest = state.stats.latest();
    for portal_pool in state.directory.pools().await {
        let name = portal_pool.summary.name.as_str();
        let counters = portal_pool.handle.counters();
        connections
            .get_or_create(&pool(name))
            .set(counters.connections as f64);
        shares
            .get_or_create(&with(name, "result", "valid"))
            .inc_by(counters.valid_shares);
        for (kind, count) in &counters.invalid_shares {
            shares
                .get_or_create(&with(name, "result", *kind))
                .inc_by(*count);
        }
        let gate = portal_pool.handle.event_gate();
        pending
            .get_or_create(&with(name, "bound", "pending"))
            .set(gate.pending() as f64);
        pending
            .get_or_create(&with(name, "bound", "limit"))
            .set(gate.limit() as f64);
        blocks
            .get_or_create(&with(name, "result", "accepted"))
            .inc_by(counters.blocks_accepted);
        blocks
            .get_or_create(&with(name, "result", "rejected"))
            .inc_by(counters.blocks_rejected);
        if portal_pool.handle.is_upstream() {
            upstream_connected
                .get_or_create(&pool(name))
                .set(f64::from(u8::from(
                    portal_pool.handle.upstream_server().is_some(),
                )));
            forwarded
                .get_or_create(&with(name, "result", "accepted"))
                .inc_by(counters.upstream_accepted);
            forwarded
                .get_or_create(&with(name, "result", "rejected"))
                .inc_by(counters.upstream_rejected);
        }
        backlog
            .get_or_create(&pool(name))
            .set(portal_pool.handle.event_backlog() as f64);
        let mut not_recorded = gate.refused();
        if let Some(writer) = &portal_pool.writer {
            let status = writer.borrow().clone();
            not_recorded += status.refused;
            failing.get_or_create(&pool(name)).set(f64::from(u8::from(
                status.failure.is_some() && status.at_risk(),
            )));
            held.get_or_create(&pool(name))
                .set(status.held_events as f64);
            received.get_or_create(&pool(name)).inc_by(status.received);
            stored
                .get_or_create(&pool(name))
                .inc_by(status.stored_batches);
            spooled
                .get_or_create(&pool(name))
                .inc_by(status.spooled_batches);
            spooling
                .get_or_create(&pool(name))
                .set(f64::from(u8::from(status.spooling)));
        }
        refused.get_or_create(&pool(name)).inc_by(not_recorded);
        let health = portal_pool.handle.daemons().map(|d| d.health());
        for daemon in health.unwrap_or_default() {
            let labels = with(name, "daemon", daemon.daemon);
            daemon_up
                .get_or_create(&labels)
                .set(f64::from(u8::from(daemon.up)));
            daemon_failures
                .get_or_create(&labels)
                .set(f64::from(daemon.failures));
        }
        if let Some(stats) = latest.pools.get(name) {
            hashrate.get_or_create(&pool(name)).set(stats.hashrate);
            workers
                .get_or_create(&pool(name))
                .set(stats.worker_count as f64);
            for (status, count) in [
                ("pending", stats.blocks.pending),
                ("confirmed", stats.blocks.confirmed),
                ("orphaned", stats.blocks.orphaned),
            ] {
                found
                    .get_or_create(&with(name, "status", status))
                    .set(count as f64);
            }
            if let Ok(coins) = stats.pool_stats.total_paid.parse::<f64>() {
                paid.get_or_create(&pool(name)).set(coins);
            }
        }
    }
    let mut body = String::new();
    if encode(&mut body, &registry).is_err() {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
