//! The web server: routes, state, start and shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use payments::StatsHistory;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::Admin;
use crate::collector::{self, StatsState};
use crate::error::PortalError;
use crate::options::PortalOptions;
use crate::pages::{self, Action, ActionForm, LoginForm};
use crate::source::PoolDirectory;
use crate::{api, health, metrics};

/// The API's paths (each is in the OpenAPI description).
#[cfg(test)]
pub(crate) const API_PATHS: &[&str] = &[
    "/api/stats",
    "/api/pool_stats",
    "/api/live_stats",
    "/api/blocks",
    "/api/payments",
    "/api/worker_stats",
    "/api/coins",
    "/api/admin/pools",
];

/// What every request handler reads.
pub(crate) struct AppState {
    pub(crate) options: PortalOptions,
    pub(crate) directory: Arc<dyn PoolDirectory>,
    pub(crate) stats: Arc<StatsState>,
    pub(crate) admin: Option<Admin>,
    /// Cancelled at shutdown: ends live streams so the server can stop.
    pub(crate) cancel: CancellationToken,
}

/// A running portal.
#[derive(Debug)]
pub struct RunningPortal {
    /// The address it listens on.
    pub addr: SocketAddr,
    cancel: CancellationToken,
    server: JoinHandle<()>,
    collector: JoinHandle<()>,
}

impl RunningPortal {
    /// Stops serving (open live streams end) and stops gathering stats.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.server.await;
        let _ = self.collector.await;
    }
}

/// Starts the portal on the current runtime: binds `options.bind`, gathers stats from
/// `directory` every update interval (keeping them in `history`, if given, for the
/// retention), and serves the site, API and metrics until `cancel` is cancelled.
pub async fn start_portal(
    options: PortalOptions,
    directory: Arc<dyn PoolDirectory>,
    history: Option<Arc<dyn StatsHistory>>,
    cancel: CancellationToken,
) -> Result<RunningPortal, PortalError> {
    let admin = options.admin.as_ref().map(Admin::new).transpose()?;
    let listener = TcpListener::bind(options.bind)
        .await
        .map_err(|source| PortalError::Bind {
            addr: options.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| PortalError::Bind {
        addr: options.bind,
        source,
    })?;
    let cancel = cancel.child_token();
    let stats = Arc::new(StatsState::new());
    let collector = tokio::spawn(collector::run(
        options.clone(),
        directory.clone(),
        history,
        stats.clone(),
        cancel.clone(),
    ));
    let state = Arc::new(AppState {
        options,
        directory,
        stats,
        admin,
        cancel: cancel.clone(),
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let stop = cancel.clone();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "portal server failed");
        }
    });
    tracing::info!(%addr, "portal listening");
    Ok(RunningPortal {
        addr,
        cancel,
        server,
        collector,
    })
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/getting_started", get(pages::getting_started))
        .route("/stats", get(pages::stats))
        // NOMP's paths for the same pages, so its bookmarks and links still work.
        .route("/tbs", get(pages::stats))
        .route("/workers", get(pages::stats))
        .route("/miner", get(pages::miner))
        .route("/miner_stats", get(pages::miner))
        .route("/blocks", get(pages::blocks))
        .route("/payments", get(pages::payments))
        .route("/api", get(pages::api_docs))
        .route("/admin", get(pages::admin))
        .route("/admin/login", post(pages::login))
        .route("/admin/logout", post(pages::logout))
        .route("/admin/unban", post(unban))
        .route("/admin/reload", post(reload))
        .route("/admin/coinswitch", post(coinswitch))
        .route("/api/stats", get(api::stats))
        .route("/api/pool_stats", get(api::pool_stats))
        .route("/api/live_stats", get(api::live_stats))
        .route("/api/blocks", get(api::blocks))
        .route("/api/payments", get(api::payments))
        .route("/api/worker_stats", get(api::worker_stats))
        .route("/api/coins", get(api::coins))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/admin/pools", post(admin_pools))
        .route("/metrics", get(metrics::metrics))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/static/style.css", get(style))
        .route("/static/live.js", get(script))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(state)
}

async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn unban(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    pages::action(state, headers, Action::Unban, form).await
}

async fn reload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    pages::action(state, headers, Action::Reload, form).await
}

async fn coinswitch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    pages::action(state, headers, Action::CoinSwitch, form).await
}

/// A pool as `/api/admin/pools` lists it: public settings and live health, no secrets.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminPoolView {
    name: String,
    symbol: String,
    algorithm: &'static str,
    address: String,
    ports: Vec<u16>,
    connections: u64,
    daemons: Vec<DaemonView>,
    banned: Vec<String>,
}

#[derive(Serialize)]
struct DaemonView {
    daemon: String,
    up: bool,
    failures: u32,
}

/// `POST /api/admin/pools` with the password (form or JSON `password`): the pools.
async fn admin_pools(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err((status, message)) = pages::check_password(&state, peer, &form.password).await {
        return api::error(status, message);
    }
    let pools = state.directory.pools().await;
    let views: Vec<AdminPoolView> = pools
        .iter()
        .map(|pool| AdminPoolView {
            name: pool.summary.name.clone(),
            symbol: pool.summary.symbol.clone(),
            algorithm: pool.summary.algorithm.name(),
            address: pool.summary.address.clone(),
            ports: pool.summary.ports.iter().map(|p| p.port).collect(),
            connections: pool.handle.counters().connections,
            daemons: pool
                .handle
                .daemons()
                .map(|d| d.health())
                .unwrap_or_default()
                .into_iter()
                .map(|d| DaemonView {
                    daemon: d.daemon,
                    up: d.up,
                    failures: d.failures,
                })
                .collect(),
            banned: pool
                .handle
                .banned()
                .iter()
                .map(|ip| ip.to_string())
                .collect(),
        })
        .collect();
    Json(views).into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css")],
        include_str!("../static/style.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript")],
        include_str!("../static/live.js"),
    )
        .into_response()
}
