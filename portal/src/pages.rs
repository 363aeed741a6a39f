//! The web pages: rendered on the server from askama templates, usable without script.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use coin_daemon::DaemonHealth;
use hashing::Algorithm;
use serde::Deserialize;

use crate::admin::{COOKIE, Refusal, session_token};
use crate::chart::{Series, line_chart};
use crate::server::AppState;
use crate::source::PortalPool;
use crate::stats::{PortalStats, readable_hashrate};
use crate::views::{self, BlockView, MinerView, PaymentView};

/// Chart size in pixels.
const CHART: (u32, u32) = (1000, 320);

/// What the layout of every page needs.
pub(crate) struct Layout {
    title: String,
    admin: bool,
    updated: String,
}

impl Layout {
    fn new(state: &AppState, title: &str) -> Layout {
        let time = state.stats.latest().time;
        Layout {
            title: title.to_owned(),
            admin: state.admin.is_some(),
            updated: if time == 0 {
                "not yet".into()
            } else {
                format_utc(time * 1000)
            },
        }
    }
}

mod filters {
    /// Unix milliseconds as a UTC date and time; "–" for 0 (unknown).
    pub(crate) fn utc(ms: &u64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::format_utc(*ms))
    }

    /// A difficulty or share sum for people.
    pub(crate) fn num(value: &f64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::format_number(*value))
    }

    /// Hashes per second for people.
    pub(crate) fn hashrate(value: &f64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(crate::stats::readable_hashrate(*value))
    }
}

/// A number for people: up to three decimals, trailing zeros dropped; very small values
/// (regtest difficulties) in scientific notation.
pub(crate) fn format_number(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return "0".into();
    }
    if value.abs() < 1e-3 {
        return format!("{value:.3e}");
    }
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC); "–" for 0.
pub(crate) fn format_utc(ms: u64) -> String {
    if ms == 0 {
        return "–".into();
    }
    let secs = ms / 1000;
    let (days, day) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}

fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "page not rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn store_down() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The share store is unavailable; try again shortly.",
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
    stats: Arc<PortalStats>,
    global_hashrate: String,
}

/// `/`: all pools at a glance.
pub(crate) async fn home(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.stats.latest();
    render(&Home {
        layout: Layout::new(&state, "Pools"),
        global_hashrate: readable_hashrate(stats.global.hashrate),
        stats,
    })
}

struct PortLine {
    url: String,
    difficulty: f64,
    vardiff: String,
}

struct StartPool {
    name: String,
    symbol: String,
    algorithm: &'static str,
    ports: Vec<PortLine>,
    command: String,
    payouts: String,
}

#[derive(Template)]
#[template(path = "getting_started.html")]
struct GettingStarted {
    layout: Layout,
    pools: Vec<StartPool>,
}

/// cpuminer's `-a` name of an algorithm.
fn cpuminer_algorithm(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Sha256d => "sha256d",
        other => other.name(),
    }
}

fn start_pool(pool: &PortalPool, host: &str) -> StartPool {
    let summary = &pool.summary;
    let ports: Vec<PortLine> = summary
        .ports
        .iter()
        .map(|port| PortLine {
            url: format!(
                "stratum+{}://{host}:{}",
                if port.tls { "ssl" } else { "tcp" },
                port.port
            ),
            difficulty: port.difficulty,
            vardiff: port.vardiff.map_or("off".into(), |(min, max)| {
                format!("{} – {}", format_number(min), format_number(max))
            }),
        })
        .collect();
    let url = ports
        .iter()
        .find(|p| p.url.starts_with("stratum+tcp"))
        .or(ports.first())
        .map_or(String::new(), |p| p.url.clone());
    let payouts = match (&summary.payment_scheme, summary.minimum_payment) {
        (Some(scheme), Some(minimum)) => format!(
            "Payouts: {} to your address, at least {minimum} {} per payment{}.",
            scheme.to_uppercase(),
            summary.symbol,
            if summary.fee_percent > 0.0 {
                format!("; pool fee {}%", summary.fee_percent)
            } else {
                String::new()
            }
        ),
        _ => "This pool's payouts are handled outside this portal.".into(),
    };
    StartPool {
        name: summary.name.clone(),
        symbol: summary.symbol.clone(),
        algorithm: summary.algorithm.name(),
        command: format!(
            "cpuminer -a {} -o {url} -u YOUR_{}_ADDRESS.worker1 -p x",
            cpuminer_algorithm(summary.algorithm),
            summary.symbol
        ),
        ports,
        payouts,
    }
}

/// `/getting_started`: per pool its stratum URLs and an example miner command.
pub(crate) async fn getting_started(State(state): State<Arc<AppState>>) -> Response {
    let pools = state.directory.pools().await;
    render(&GettingStarted {
        layout: Layout::new(&state, "Getting started"),
        pools: pools
            .iter()
            .map(|p| start_pool(p, &state.options.stratum_host))
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    layout: Layout,
    stats: Arc<PortalStats>,
    global_hashrate: String,
    hashrate_chart: String,
    workers_chart: String,
}

/// One series per pool of `value` over the history.
fn pool_series(
    history: &[Arc<PortalStats>],
    value: impl Fn(&crate::stats::PoolStats) -> f64,
) -> Vec<Series> {
    let mut series: BTreeMap<&str, Vec<(u64, f64)>> = BTreeMap::new();
    for snapshot in history {
        for (name, pool) in &snapshot.pools {
            series
                .entry(name)
                .or_default()
                .push((snapshot.time, value(pool)));
        }
    }
    series
        .into_iter()
        .map(|(name, points)| Series {
            name: name.to_owned(),
            points,
        })
        .collect()
}

/// `/stats`: hashrate and worker charts over the history, and each pool's figures.
pub(crate) async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.stats.latest();
    let history = state.stats.history();
    let hashrate_chart = line_chart(
        "Hashrate",
        &pool_series(&history, |p| p.hashrate),
        &readable_hashrate,
        CHART,
    );
    let workers_chart = line_chart(
        "Workers",
        &pool_series(&history, |p| p.worker_count as f64),
        // Worker counts are whole: no label between them.
        &|v| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        },
        CHART,
    );
    render(&StatsPage {
        layout: Layout::new(&state, "Stats"),
        global_hashrate: readable_hashrate(stats.global.hashrate),
        stats,
        hashrate_chart,
        workers_chart,
    })
}

#[derive(Template)]
#[template(path = "miner.html")]
struct MinerPage {
    layout: Layout,
    address: String,
    miner: Option<MinerView>,
    charts: Vec<String>,
}

/// The `address` query parameter.
#[derive(Debug, Deserialize)]
pub(crate) struct AddressQuery {
    address: Option<String>,
}

/// `/miner?address=…`: one miner's hashrate, shares, balance and payments.
pub(crate) async fn miner(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AddressQuery>,
) -> Response {
    let address = query
        .address
        .as_deref()
        .map(|a| format!("address={a}"))
        .and_then(|q| crate::api::address_from_query(&q));
    let Some(address) = address else {
        return render(&MinerPage {
            layout: Layout::new(&state, "Miner"),
            address: String::new(),
            miner: None,
            charts: Vec::new(),
        });
    };
    let pools = state.directory.pools().await;
    let Ok(view) = views::miner(&pools, &state.stats, &address).await else {
        return store_down();
    };
    let charts = view
        .pools
        .iter()
        .map(|(name, pool)| {
            let series = [Series {
                name: name.clone(),
                points: pool.history.clone(),
            }];
            line_chart(
                &format!("{address} on {name}"),
                &series,
                &readable_hashrate,
                CHART,
            )
        })
        .collect();
    render(&MinerPage {
        layout: Layout::new(&state, "Miner"),
        address,
        miner: Some(view),
        charts,
    })
}

#[derive(Template)]
#[template(path = "blocks.html")]
struct BlocksPage {
    layout: Layout,
    blocks: BTreeMap<String, Vec<BlockView>>,
}

/// How many rows the blocks and payments pages show per pool.
const PAGE_ROWS: usize = 100;

/// `/blocks`: found blocks per pool.
pub(crate) async fn blocks(State(state): State<Arc<AppState>>) -> Response {
    match views::blocks(&state.directory.pools().await, PAGE_ROWS).await {
        Ok(blocks) => render(&BlocksPage {
            layout: Layout::new(&state, "Blocks"),
            blocks,
        }),
        Err(_) => store_down(),
    }
}

#[derive(Template)]
#[template(path = "payments.html")]
struct PaymentsPage {
    layout: Layout,
    payments: BTreeMap<String, Vec<PaymentView>>,
}

/// `/payments`: payment runs per pool.
pub(crate) async fn payments(State(state): State<Arc<AppState>>) -> Response {
    match views::payments(&state.directory.pools().await, PAGE_ROWS).await {
        Ok(payments) => render(&PaymentsPage {
            layout: Layout::new(&state, "Payments"),
            payments,
        }),
        Err(_) => store_down(),
    }
}

#[derive(Template)]
#[template(path = "api.html")]
struct ApiPage {
    layout: Layout,
    endpoints: &'static [(&'static str, &'static str)],
}

/// The API's endpoints for the docs page.
const ENDPOINTS: &[(&str, &str)] = &[
    (
        "GET /api/stats",
        "the latest stats: global, per algorithm, per pool with its workers",
    ),
    (
        "GET /api/pool_stats",
        "the history: per snapshot each pool's hashrate, workers and blocks",
    ),
    (
        "GET /api/live_stats",
        "server-sent events: each new stats snapshot as it is taken",
    ),
    (
        "GET /api/blocks?pool=&limit=",
        "found blocks per pool, newest first",
    ),
    (
        "GET /api/payments?pool=&limit=",
        "payment runs per pool, newest first",
    ),
    (
        "GET /api/worker_stats?ADDRESS",
        "one miner: hashrate, workers, round shares, balance, payments, history",
    ),
    (
        "GET /api/coins",
        "each pool's coin: symbol, algorithm, address version byte, ports",
    ),
    (
        "POST /api/admin/pools",
        "with the admin password: the pools, their daemons' health and bans",
    ),
];

/// `/api`: the API's documentation.
pub(crate) async fn api_docs(State(state): State<Arc<AppState>>) -> Response {
    render(&ApiPage {
        layout: Layout::new(&state, "API"),
        endpoints: ENDPOINTS,
    })
}

#[derive(Template)]
#[template(path = "admin_login.html")]
struct AdminLogin {
    layout: Layout,
    enabled: bool,
    message: String,
}

pub(crate) struct AdminPool {
    name: String,
    algorithm: &'static str,
    connections: u64,
    ports: String,
    daemons: Vec<DaemonHealth>,
    /// Upstream mode: the upstream it mines through (`None` inside: none answers).
    upstream: Option<Option<String>>,
    banned: Vec<IpAddr>,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    layout: Layout,
    message: String,
    pools: Vec<AdminPool>,
}

/// The pools as the admin sees them.
pub(crate) fn admin_pools(pools: &[PortalPool]) -> Vec<AdminPool> {
    pools
        .iter()
        .map(|pool| AdminPool {
            name: pool.summary.name.clone(),
            algorithm: pool.summary.algorithm.name(),
            connections: pool.handle.counters().connections,
            ports: pool
                .summary
                .ports
                .iter()
                .map(|p| p.port.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            daemons: pool
                .handle
                .daemons()
                .map(|d| d.health())
                .unwrap_or_default(),
            upstream: pool
                .handle
                .is_upstream()
                .then(|| pool.handle.upstream_server()),
            banned: pool.handle.banned(),
        })
        .collect()
}

fn logged_in(state: &AppState, headers: &HeaderMap) -> bool {
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_token);
    match (&state.admin, token) {
        (Some(admin), Some(token)) => admin.is_session(token),
        _ => false,
    }
}

fn login_page(state: &AppState, status: StatusCode, message: &str) -> Response {
    let mut response = render(&AdminLogin {
        layout: Layout::new(state, "Admin"),
        enabled: state.admin.is_some(),
        message: message.to_owned(),
    });
    *response.status_mut() = status;
    response
}

async fn admin_page(state: &AppState, message: &str) -> Response {
    let pools = state.directory.pools().await;
    let mut response = render(&AdminPage {
        layout: Layout::new(state, "Admin"),
        message: message.to_owned(),
        pools: admin_pools(&pools),
    });
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `GET /admin`: the admin center, or its login form.
pub(crate) async fn admin(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.admin.is_none() {
        return login_page(&state, StatusCode::NOT_FOUND, "");
    }
    if !logged_in(&state, &headers) {
        return login_page(&state, StatusCode::OK, "");
    }
    admin_page(&state, "").await
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    pub(crate) password: String,
}

/// Checks a password from `peer` against the admin hash.
pub(crate) async fn check_password(
    state: &AppState,
    peer: SocketAddr,
    password: &str,
) -> Result<String, (StatusCode, &'static str)> {
    let Some(gate) = &state.admin else {
        return Err((StatusCode::NOT_FOUND, "the admin center is off"));
    };
    gate.login(peer.ip(), password)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Limited => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts from your address; wait a minute.",
            ),
            Refusal::Wrong => (StatusCode::UNAUTHORIZED, "Wrong password."),
        })
}

/// `POST /admin/login`.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    match check_password(&state, peer, &form.password).await {
        Ok(token) => {
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/admin");
            let mut response = Redirect::to("/admin").into_response();
            if let Ok(value) = header::HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err((status, message)) => login_page(&state, status, message),
    }
}

/// `POST /admin/logout`.
pub(crate) async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_token);
    if let (Some(gate), Some(token)) = (&state.admin, token) {
        gate.logout(token);
    }
    Redirect::to("/admin").into_response()
}

/// An admin action's form.
#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    pool: Option<String>,
    ip: Option<String>,
    switch: Option<String>,
    coin: Option<String>,
}

/// What an admin action does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Unban,
    Reload,
    CoinSwitch,
}

async fn act(state: &AppState, action: Action, form: ActionForm) -> String {
    let pool = form.pool.unwrap_or_default();
    match action {
        Action::Unban => {
            let Ok(ip) = form.ip.unwrap_or_default().parse::<IpAddr>() else {
                return "Not an IP address.".into();
            };
            let pools = state.directory.pools().await;
            match pools.iter().find(|p| p.summary.name == pool) {
                Some(found) if found.handle.unban(ip) => format!("{ip} unbanned on {pool}."),
                Some(_) => format!("{ip} was not banned on {pool}."),
                None => format!("No pool {pool}."),
            }
        }
        Action::Reload => match state.directory.reload_pool(&pool).await {
            Ok(reply) => reply,
            Err(error) => error.to_string(),
        },
        Action::CoinSwitch => {
            let (switch, coin) = (
                form.switch.unwrap_or_default(),
                form.coin.unwrap_or_default(),
            );
            match state.directory.coin_switch(&switch, &coin).await {
                Ok(reply) => reply,
                Err(error) => error.to_string(),
            }
        }
    }
}

/// `POST /admin/{unban,reload,coinswitch}` for a logged-in admin.
pub(crate) async fn action(
    state: Arc<AppState>,
    headers: HeaderMap,
    action: Action,
    form: ActionForm,
) -> Response {
    if !logged_in(&state, &headers) {
        return login_page(&state, StatusCode::UNAUTHORIZED, "Log in first.");
    }
    let message = act(&state, action, form).await;
    tracing::info!(?action, message, "admin action");
    admin_page(&state, &message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well_at_every_scale() {
        assert_eq!(format_number(0.026000000000000016), "0.026");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(4.6565423739069247e-10), "4.657e-10");
        assert_eq!(format_number(65536.0), "65536");
        assert_eq!(format_number(1.5), "1.5");
    }

    #[test]
    fn utc_times_match_known_dates() {
        assert_eq!(format_utc(0), "–");
        assert_eq!(format_utc(1_000), "1970-01-01 00:00:01");
        // Block 100000's timestamp, 1293623863.
        assert_eq!(format_utc(1_293_623_863_000), "2010-12-29 11:57:43");
        assert_eq!(format_utc(1_709_164_800_000), "2024-02-29 00:00:00");
    }
}
