//! Prometheus `/metrics`: read fresh from the pools at every scrape.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use coin_daemon::ChainFault;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use stratum_core::LatencySnapshot;

use crate::server::AppState;

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;
type Histograms = Family<Labels, Histogram>;

/// A histogram read at scrape time from a [`LatencySnapshot`].
#[derive(Debug, Clone, Default)]
struct Histogram(Arc<Mutex<LatencySnapshot>>);

impl Histogram {
    fn set(&self, snapshot: LatencySnapshot) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // The encoder sums per-bucket counts itself, `f64::MAX` standing for `+Inf`.
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = snapshot
            .buckets
            .iter()
            .map(|&(bound, cumulative)| {
                let count = cumulative - below;
                below = cumulative;
                (bound, count)
            })
            .collect();
        buckets.push((f64::MAX, snapshot.count - below));
        encoder.encode_histogram::<NoLabelSet>(snapshot.sum, snapshot.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

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
    let extranonce1_refused = add(
        &mut registry,
        "extranonce1_refused",
        "Miners refused at subscription since start because every extranonce1 value was held by a connected miner",
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

    let share_check = add(
        &mut registry,
        "share_validation_seconds",
        "From a share's arrival to its verdict, hash included",
        Histograms::default(),
    );
    let fanout = add(
        &mut registry,
        "notify_fanout_seconds",
        "From the pool learning of a new block to its clean job written to each miner (one observation per miner)",
        Histograms::default(),
    );
    let rpc = add(
        &mut registry,
        "daemon_rpc_seconds",
        "Daemon JSON-RPC calls until answered or failed, by method",
        Histograms::default(),
    );
    let store_write = add(
        &mut registry,
        "store_write_seconds",
        "Share writer batch writes to the store until answered, failed or timed out",
        Histograms::default(),
    );
    let block_submit = add(
        &mut registry,
        "block_submit_seconds",
        "A block's first submitblock round to every daemon",
        Histograms::default(),
    );
    let blocks_found = add(
        &mut registry,
        "blocks_found",
        "Shares that met the network target since start",
        Counters::default(),
    );
    let blocks_submitted = add(
        &mut registry,
        "blocks_submitted",
        "Blocks sent to the daemons or the upstream pool since start",
        Counters::default(),
    );
    let blocks_confirmed = add(
        &mut registry,
        "blocks_confirmed",
        "Found blocks the payment processor saw mature since start",
        Counters::default(),
    );
    let blocks_orphaned = add(
        &mut registry,
        "blocks_orphaned",
        "Found blocks the payment processor saw orphaned since start",
        Counters::default(),
    );
    let payments_sent = add(
        &mut registry,
        "payments_sent",
        "Payout transactions the daemon took since start",
        Counters::default(),
    );
    let payments_failed = add(
        &mut registry,
        "payments_failed",
        "Payment runs that failed since start (the next run retries)",
        Counters::default(),
    );
    let payer = add(
        &mut registry,
        "payment_lease_held",
        "1 while this front-end holds the pool's payment lease (it is the payer); summed over every front-end on one store, 1 when exactly one pays",
        Gauges::default(),
    );
    let front_ends = add(
        &mut registry,
        "front_ends",
        "Front-ends on the store by state (live, gone), as the last stats snapshot read them",
        Gauges::default(),
    );
    let last_block = add(
        &mut registry,
        "last_block_timestamp_seconds",
        "Unix time of the last block the daemons accepted, or of the pool's start",
        Gauges::default(),
    );
    let network_difficulty = add(
        &mut registry,
        "network_difficulty",
        "Network difficulty of the current job, in share units",
        Gauges::default(),
    );
    let expected_block = add(
        &mut registry,
        "expected_block_seconds",
        "Mean time to a block at the pool's hashrate and the network difficulty",
        Gauges::default(),
    );
    let work = add(
        &mut registry,
        "work_available",
        "1 while the pool has a job for its miners",
        Gauges::default(),
    );
    let chain_fault = add(
        &mut registry,
        "chain_fault",
        "1 while the chain guard sees this kind of fault (tips_disagree, stale_tip, wrong_chain)",
        Gauges::default(),
    );

    let worker_hashrate = add(
        &mut registry,
        "worker_hashrate",
        "Hashes per second of the fastest workers (website.metricsWorkerLabels of them per pool; off by default)",
        Gauges::default(),
    );

    let latest = state.stats.latest();
    if !latest.front_ends.is_empty() {
        let live = latest.front_ends.iter().filter(|f| f.live).count();
        for (label, count) in [("live", live), ("gone", latest.front_ends.len() - live)] {
            front_ends
                .get_or_create(&vec![("state", label.to_owned())])
                .set(count as f64);
        }
    }
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
        let timings = portal_pool.handle.timings();
        share_check
            .get_or_create(&pool(name))
            .set(timings.share_check);
        fanout.get_or_create(&pool(name)).set(timings.notify_fanout);
        block_submit
            .get_or_create(&pool(name))
            .set(timings.block_submit);
        if let Some(latency) = &portal_pool.store_write {
            store_write
                .get_or_create(&pool(name))
                .set(latency.snapshot());
        }
        blocks_found
            .get_or_create(&pool(name))
            .inc_by(counters.blocks_found);
        blocks_submitted
            .get_or_create(&pool(name))
            .inc_by(counters.blocks_submitted);
        last_block
            .get_or_create(&pool(name))
            .set(counters.last_block_time as f64);
        let payment_counts = portal_pool
            .payments
            .as_ref()
            .map(|p| p.snapshot())
            .unwrap_or_default();
        for (family, count) in [
            (&blocks_confirmed, payment_counts.blocks_confirmed),
            (&blocks_orphaned, payment_counts.blocks_orphaned),
            (&payments_sent, payment_counts.payments_sent),
            (&payments_failed, payment_counts.payments_failed),
        ] {
            family.get_or_create(&pool(name)).inc_by(count);
        }
        if portal_pool.payments.is_some() {
            payer
                .get_or_create(&pool(name))
                .set(f64::from(u8::from(payment_counts.payer_fence.is_some())));
        }
        work.get_or_create(&pool(name)).set(f64::from(u8::from(
            portal_pool.handle.current_job().is_some(),
        )));
        let network = portal_pool.handle.network_difficulty();
        if let Some(difficulty) = network {
            network_difficulty
                .get_or_create(&pool(name))
                .set(difficulty.get());
        }
        if let Some(verdict) = portal_pool.handle.chain_verdict() {
            for kind in ChainFault::KINDS {
                let on = verdict.faults.iter().any(|fault| fault.kind() == kind);
                chain_fault
                    .get_or_create(&with(name, "kind", kind))
                    .set(f64::from(u8::from(on)));
            }
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
        extranonce1_refused
            .get_or_create(&pool(name))
            .inc_by(counters.extranonce1_refused);
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
        let latencies = portal_pool.handle.daemons().map(|d| d.rpc_latency());
        for (method, snapshot) in latencies.unwrap_or_default() {
            rpc.get_or_create(&with(name, "method", method))
                .set(snapshot);
        }
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
            let mut fastest: Vec<(&String, f64)> = stats
                .workers
                .iter()
                .map(|(worker, s)| (worker, s.hashrate))
                .collect();
            fastest.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            for (worker, rate) in fastest
                .into_iter()
                .take(state.options.metrics_worker_labels)
            {
                worker_hashrate
                    .get_or_create(&with(name, "worker", worker.clone()))
                    .set(rate);
            }
            if let Some(difficulty) = network.filter(|_| stats.hashrate > 0.0) {
                let hashes =
                    difficulty.get() * portal_pool.summary.algorithm.hashes_per_difficulty();
                expected_block
                    .get_or_create(&pool(name))
                    .set(hashes / stats.hashrate);
            }
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
