//! The portal against a pool fed by real mining on the regtest pair: the API's shapes and
//! numbers match the store, live stats arrive within one update interval, the admin gate
//! holds, no secret leaks, and headless Chromium renders every page.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use coin_daemon::Amount;
use hashing::Algorithm;
use payments::{
    BlockStatus, EmbeddedStore, PaymentOptions, PaymentProcessor, PayoutStore, Scheme, ShareStore,
    ShareWriter, StatsHistory, WriterOptions,
};
use portal::{
    AdminOptions, PoolSummary, PortSummary, PortalOptions, PortalPool, RunningPortal, StaticPools,
    start_portal,
};
use serde_json::Value;
use stratum_core::{AllowAll, RunningPool, start_pool};
use testkit::{RegtestPair, TestMiner};
use tokio_util::sync::CancellationToken;

/// Easy enough for blocks every few shares, hard enough that the pool keeps up with the
/// miners (every share meets regtest's network target).
const EASY: f64 = 1e-7;
const PASSWORD: &str = "a long admin passphrase";
const UPDATE: Duration = Duration::from_secs(1);
/// Longer than the test: every share stays in the hashrate window.
const WINDOW: Duration = Duration::from_secs(3600);

struct Setup {
    pair: RegtestPair,
    pool: RunningPool,
    store: Arc<EmbeddedStore>,
    portal: RunningPortal,
    base: String,
    http: reqwest::Client,
    workers: Vec<String>,
    pool_address: String,
    admin_hash: String,
    writer_status: tokio::sync::watch::Receiver<stratum_core::WriterStatus>,
    _dir: tempfile::TempDir,
}

fn argon2_hash(password: &str) -> String {
    let salt = SaltString::encode_b64(b"nomp-portal-test").unwrap();
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

async fn setup() -> Setup {
    let pair = RegtestPair::start();
    let pool_address = pair.pool_node().new_address();
    let workers: Vec<String> = (0..2)
        .map(|i| format!("{}.rig{i}", pair.other_node().new_address()))
        .collect();
    let daemons = pair.pool_node().daemon_group();
    let mut pool = start_pool(
        pair.pool_node().pool_options(&pool_address, EASY),
        daemons,
        Arc::new(AllowAll),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    pool.jobs.wait_for(Option::is_some).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("s.sqlite"), "bitcoin").unwrap());
    let events = pool.take_events();
    let mut writer_options = WriterOptions::new(dir.path().join("regtest.spool"));
    writer_options.flush_interval = Duration::from_millis(100);
    let writer = ShareWriter::spawn(
        store.clone(),
        events,
        writer_options,
        CancellationToken::new(),
    )
    .unwrap();

    let summary = PoolSummary {
        name: "regtest".into(),
        symbol: "BSV".into(),
        algorithm: Algorithm::Sha256d,
        address: pool_address.clone(),
        address_version: Some(0x6f),
        ports: vec![PortSummary {
            port: pool.ports[0].port(),
            difficulty: EASY,
            vardiff: None,
            tls: false,
        }],
        fee_percent: 0.0,
        payment_scheme: Some("prop".into()),
        minimum_payment: Some(Amount::ZERO),
    };
    let directory = StaticPools(vec![PortalPool {
        summary,
        handle: pool.handle(),
        store: Some(store.clone()),
        writer: Some(writer.status.clone()),
        store_write: Some(writer.store_write.clone()),
        payments: None,
        prune_samples: true,
    }]);
    let writer_status = writer.status.clone();
    std::mem::forget(writer);
    let admin_hash = argon2_hash(PASSWORD);
    let mut options = PortalOptions::new(([127, 0, 0, 1], 0).into(), "pool.example.test");
    options.update_interval = UPDATE;
    options.hashrate_window = WINDOW;
    options.metrics_worker_labels = 1;
    options.admin = Some(AdminOptions::new(admin_hash.clone()));
    let history: Arc<dyn StatsHistory> = store.clone();
    let portal = start_portal(
        options,
        Arc::new(directory),
        Some(history),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let base = format!("http://{}", portal.addr);
    Setup {
        pair,
        pool,
        store,
        portal,
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        workers,
        pool_address,
        admin_hash,
        writer_status,
        _dir: dir,
    }
}

impl Setup {
    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The first snapshot taken after now.
    async fn fresh_stats(&self) -> Value {
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let deadline = Instant::now() + UPDATE * 5;
        loop {
            let stats = self.json("/api/stats").await;
            if stats["time"].as_u64().unwrap_or(0) > after {
                return stats;
            }
            assert!(Instant::now() < deadline, "no fresh stats: {stats}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits, while a miner may still be mining, until the store has at least every share
    /// the pool had counted when this was called (equality with a count that keeps moving
    /// is only ever met by chance).
    async fn caught_up(&self) {
        let counted = self.pool.handle().counters();
        let invalid: u64 = counted.invalid_shares.values().sum();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stored = self.store.counts().await.unwrap();
            if stored.valid_shares >= counted.valid_shares && stored.invalid_shares >= invalid {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "store {stored:?} behind what the pool had counted {counted:?}; writer {:?}",
                *self.writer_status.borrow()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the store has every share the pool counted (no miner mining).
    async fn settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let live = self.pool.handle().counters();
            let stored = self.store.counts().await.unwrap();
            let invalid: u64 = live.invalid_shares.values().sum();
            if stored.valid_shares == live.valid_shares && stored.invalid_shares == invalid {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "store {stored:?} behind pool {live:?}; backlog {}; writer {:?}",
                self.pool.handle().event_backlog(),
                *self.writer_status.borrow()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Mines with both workers until the store holds `blocks` found blocks.
async fn mine_blocks(setup: &Setup, blocks: u64) {
    let miners: Vec<TestMiner> = setup
        .workers
        .iter()
        .map(|w| TestMiner::start(setup.pool.ports[0], w, Algorithm::Sha256d))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while setup.store.counts().await.unwrap().valid_blocks < blocks {
        assert!(Instant::now() < deadline, "too few blocks");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(miners);
    setup.settled().await;
}

/// The body of the answer to `request`.
async fn text(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

fn address(worker: &str) -> &str {
    worker.split('.').next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_serves_what_the_store_holds_live_and_safely() {
    let setup = setup().await;
    mine_blocks(&setup, 2).await;
    api_matches_the_store(&setup).await;
    payments_and_miners_match_the_wallet_run(&setup).await;
    live_stats_arrive_within_one_interval(&setup).await;
    admin_is_gated_and_rate_limited(&setup).await;
    metrics_count_what_the_pool_counted(&setup).await;
    no_response_carries_a_secret(&setup).await;
    nomp_page_paths_serve_the_same_pages(&setup).await;
    chromium_renders_every_page(&setup).await;
    setup.portal.shutdown().await;
}

async fn api_matches_the_store(setup: &Setup) {
    let stats = setup.fresh_stats().await;
    let counts = setup.store.counts().await.unwrap();
    let pool = &stats["pools"]["regtest"];
    assert_eq!(pool["name"], "regtest");
    assert_eq!(pool["symbol"], "BSV");
    assert_eq!(pool["algorithm"], "sha256");
    assert_eq!(pool["poolStats"]["validShares"], counts.valid_shares);
    assert_eq!(pool["poolStats"]["invalidShares"], counts.invalid_shares);
    assert_eq!(pool["poolStats"]["validBlocks"], counts.valid_blocks);
    assert_eq!(pool["poolStats"]["totalPaid"], "0.00000000");
    let pending = setup.store.blocks(BlockStatus::Pending).await.unwrap();
    assert_eq!(pool["blocks"]["pending"], pending.len());
    assert_eq!(pool["blocks"]["confirmed"], 0);

    // Hashrate: NOMP's formula over the store's samples (the window spans the test).
    let samples = setup.store.hashrate_since(0).await.unwrap();
    let valid: f64 = samples
        .iter()
        .filter(|s| s.difficulty > 0.0)
        .map(|s| s.difficulty)
        .sum();
    let expected = 4_294_967_296.0 * valid / WINDOW.as_secs_f64();
    let served = pool["hashrate"].as_f64().unwrap();
    assert!(
        (served - expected).abs() <= expected * 1e-9,
        "{served} vs {expected}"
    );
    let workers: BTreeSet<&str> = pool["workers"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected_workers: BTreeSet<&str> = samples.iter().map(|s| s.worker.as_str()).collect();
    assert_eq!(workers, expected_workers);
    assert_eq!(pool["workerCount"], expected_workers.len());
    for worker in &setup.workers {
        let mine: f64 = samples
            .iter()
            .filter(|s| &s.worker == worker && s.difficulty > 0.0)
            .map(|s| s.difficulty)
            .sum();
        let served = pool["workers"][worker]["shares"].as_f64().unwrap();
        assert!(
            (served - mine).abs() <= mine * 1e-9,
            "{worker}: {served} vs {mine}"
        );
        assert!(
            pool["workers"][worker]["hashrateString"]
                .as_str()
                .unwrap()
                .ends_with("H/s")
        );
    }
    assert_eq!(stats["global"]["workers"], expected_workers.len());
    assert_eq!(stats["algos"]["sha256"]["workers"], expected_workers.len());
    let network = &pool["network"];
    assert_eq!(
        network["height"].as_u64().unwrap(),
        setup.pair.pool_node().block_count() + 1
    );
    assert!(network["difficulty"].as_f64().unwrap() > 0.0);

    // Blocks: the store's, newest first, with their finders.
    let blocks = setup.json("/api/blocks").await;
    let listed = blocks["regtest"].as_array().unwrap();
    let mut heights: Vec<u64> = pending.iter().map(|b| b.height).collect();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(
        listed
            .iter()
            .map(|b| b["height"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        heights
    );
    for block in listed {
        assert_eq!(block["status"], "pending");
        assert!(setup.workers.iter().any(|w| block["worker"] == w.as_str()));
        let stored = pending.iter().find(|b| b.hash == block["hash"]).unwrap();
        assert_eq!(block["coinbaseTxid"], stored.coinbase_txid.as_str());
    }
    assert_eq!(
        setup.json("/api/blocks?limit=1").await["regtest"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        setup
            .json("/api/blocks?pool=nosuch")
            .await
            .as_object()
            .unwrap()
            .is_empty()
    );

    // History: one point per update, in time order; stored for the retention.
    let history = setup.json("/api/pool_stats").await;
    let points = history.as_array().unwrap();
    assert!(!points.is_empty());
    let times: Vec<u64> = points.iter().map(|p| p["time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(
        points.last().unwrap()["pools"]["regtest"]["hashrate"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(setup.store.stats_since(0).await.unwrap().len() >= points.len() - 1);

    let coins = setup.json("/api/coins").await;
    assert_eq!(coins[0]["symbol"], "BSV");
    assert_eq!(coins[0]["algorithm"], "sha256");
    assert_eq!(coins[0]["addressVersion"], 111);
    assert_eq!(coins[0]["ports"][0]["port"], setup.pool.ports[0].port());

    let openapi = setup.json("/api/openapi.json").await;
    assert_eq!(openapi["openapi"], "3.1.0");
    let (status, body) = setup.get("/api/worker_stats").await;
    assert_eq!(status, 400, "{body}");
}

async fn payments_and_miners_match_the_wallet_run(setup: &Setup) {
    setup.pair.mine_on_other(101);
    let wallet = setup.pair.pool_node().daemon_group();
    let processor = PaymentProcessor::new(
        setup.store.clone(),
        wallet,
        PaymentOptions {
            coin: "bitcoin".into(),
            pool_address: setup.pool_address.clone(),
            scheme: Scheme::Prop,
            minimum_payment: Amount::ZERO,
            interval: Duration::from_secs(3600),
            lease_ttl: Duration::from_secs(60),
            owner: "portal-test".into(),
        },
    );
    processor.run_once().await.unwrap();
    let history = setup.store.payment_history(10).await.unwrap();
    assert_eq!(history.len(), 1, "one run paid the matured blocks");
    let run = &history[0];

    let payments = setup.json("/api/payments").await;
    let served = &payments["regtest"][0];
    assert_eq!(served["txid"], run.txid.as_deref().unwrap());
    for (address, amount) in &run.settlement.payments {
        assert_eq!(served["amounts"][address], amount.to_coin_string());
    }
    let total = run
        .settlement
        .payments
        .values()
        .map(|a| a.to_sat())
        .sum::<i64>();
    assert_eq!(served["total"], Amount::from_sat(total).to_coin_string());
    assert_eq!(
        served["blocks"].as_array().unwrap().len(),
        run.settlement.confirmed.len()
    );
    // Each paid block's statement: reward, shares, credits and what the pool kept add up.
    let rounds = served["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), run.settlement.rounds.len());
    for (served, round) in rounds.iter().zip(&run.settlement.rounds) {
        assert_eq!(served["height"], round.height);
        assert_eq!(served["reward"], round.reward.to_coin_string());
        assert_eq!(served["kept"], round.kept.to_coin_string());
        for (address, credit) in &round.credits {
            assert_eq!(served["credits"][address], credit.to_coin_string());
        }
        let credited: i64 = round.credits.values().map(|c| c.to_sat()).sum();
        assert_eq!(credited + round.kept.to_sat(), round.reward.to_sat());
    }
    assert!(!rounds.is_empty(), "the run paid blocks");

    let miner = address(&setup.workers[0]);
    let paid = setup.store.payout_totals().await.unwrap()[miner];
    for path in [
        format!("/api/worker_stats?{miner}"),
        format!("/api/worker_stats?address={miner}"),
    ] {
        let view = setup.json(&path).await;
        assert_eq!(view["miner"], miner);
        let mine = &view["pools"]["regtest"];
        assert_eq!(mine["paid"], paid.to_coin_string(), "{path}");
        assert_eq!(mine["balance"], "0.00000000");
        assert_eq!(
            mine["payments"][0]["amount"],
            run.settlement.payments[miner].to_coin_string()
        );
        assert!(mine["workers"].get(&setup.workers[0]).is_some());
        assert!(mine["hashrate"].as_f64().unwrap() > 0.0);
    }
    let stats = setup.fresh_stats().await;
    assert_eq!(
        stats["pools"]["regtest"]["poolStats"]["totalPaid"],
        setup.store.total_paid().await.unwrap().to_coin_string()
    );
    assert_eq!(
        stats["pools"]["regtest"]["blocks"]["confirmed"],
        setup
            .store
            .blocks(BlockStatus::Confirmed)
            .await
            .unwrap()
            .len()
    );
}

/// Reads server-sent events' data lines from a streaming response.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if !data.is_empty() {
                    return serde_json::from_str(&data).unwrap();
                }
                continue;
            }
            let chunk = self
                .response
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

async fn live_stats_arrive_within_one_interval(setup: &Setup) {
    let response = setup
        .http
        .get(format!("{}/api/live_stats", setup.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = Events {
        response,
        buffer: String::new(),
    };
    let first = events.next().await;
    let before = first["pools"]["regtest"]["poolStats"]["validShares"]
        .as_u64()
        .unwrap();

    let miner = TestMiner::start(setup.pool.ports[0], &setup.workers[1], Algorithm::Sha256d);
    assert!(miner.wait_for_accepted(1, Duration::from_secs(30)));
    setup.caught_up().await;
    let shares_in = Instant::now();
    loop {
        let update = tokio::time::timeout(UPDATE * 3, events.next())
            .await
            .expect("an update");
        let now = update["pools"]["regtest"]["poolStats"]["validShares"]
            .as_u64()
            .unwrap();
        if now > before {
            // One interval, plus the time one gathering takes.
            assert!(
                shares_in.elapsed() <= UPDATE + Duration::from_millis(900),
                "{:?}",
                shares_in.elapsed()
            );
            break;
        }
        assert!(
            shares_in.elapsed() <= UPDATE * 2,
            "no update with the new shares"
        );
    }
    drop(miner);
    setup.settled().await;
}

async fn admin_is_gated_and_rate_limited(setup: &Setup) {
    let login = |password: &str| {
        setup
            .http
            .post(format!("{}/admin/login", setup.base))
            .form(&[("password", password)])
            .send()
    };
    let (status, body) = setup.get("/admin").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"name="password""#) && !body.contains("Banned IPs"));

    let ok = login(PASSWORD).await.unwrap();
    assert_eq!(ok.status().as_u16(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = text(
        setup
            .http
            .get(format!("{}/admin", setup.base))
            .header("cookie", &session),
    )
    .await;
    assert!(
        page.contains("Banned IPs") && page.contains("regtest"),
        "{page}"
    );
    assert!(page.contains(&format!("127.0.0.1:{}", setup.pair.pool_node().rpc_port())));
    let reload = text(
        setup
            .http
            .post(format!("{}/admin/reload", setup.base))
            .header("cookie", &session)
            .form(&[("pool", "regtest")]),
    )
    .await;
    assert!(
        reload.contains("cannot be reloaded"),
        "the directory's answer is shown"
    );
    let forged = setup
        .http
        .post(format!("{}/admin/unban", setup.base))
        .header("cookie", "nomp_admin=forged")
        .form(&[("pool", "regtest"), ("ip", "10.0.0.1")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);

    // No default password works; guessing is cut off.
    let mut statuses = Vec::new();
    for guess in ["", "admin", "password", "nomp", "x"] {
        statuses.push(login(guess).await.unwrap().status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(statuses[..4], [401, 401, 401, 401]);
    assert_eq!(
        *statuses.last().unwrap(),
        429,
        "the sixth attempt in a minute is refused"
    );
    assert_eq!(
        login(PASSWORD).await.unwrap().status().as_u16(),
        429,
        "even with the right one"
    );
    let api = setup
        .http
        .post(format!("{}/api/admin/pools", setup.base))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 429);
}

async fn metrics_count_what_the_pool_counted(setup: &Setup) {
    let (status, body) = setup.get("/metrics").await;
    assert_eq!(status, 200);
    let counters = setup.pool.handle().counters();
    assert!(
        body.contains(&format!(
            "nomp_shares_total{{pool=\"regtest\",result=\"valid\"}} {}",
            counters.valid_shares
        )),
        "{body}"
    );
    assert!(body.contains(&format!(
        "nomp_blocks_total{{pool=\"regtest\",result=\"accepted\"}} {}",
        counters.blocks_accepted
    )));
    assert!(body.contains("nomp_connections{pool=\"regtest\"} 0"));
    assert!(body.contains("nomp_daemon_up{pool=\"regtest\",daemon="));
    assert!(body.contains("nomp_share_writer_spooling{pool=\"regtest\"} 0"));
    assert!(body.contains("nomp_paid_coins{pool=\"regtest\"}"));
    assert!(body.trim_end().ends_with("# EOF"));
    // Every label is one of a fixed set of names; worker names only where asked for, and
    // only as many as asked for.
    let allowed = [
        "pool", "result", "bound", "daemon", "method", "kind", "status", "le", "worker",
    ];
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else {
            continue;
        };
        let labels = labels.split_once('}').unwrap().0;
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let key = pair.split_once('=').unwrap().0;
            assert!(allowed.contains(&key), "label {key} in {line}");
        }
    }
    let workers = body
        .lines()
        .filter(|l| l.starts_with("nomp_worker_hashrate{"))
        .count();
    assert_eq!(workers, 1, "{body}");
    // Each share checked was timed.
    let checked: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("nomp_share_validation_seconds_count{pool=\"regtest\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        checked >= counters.valid_shares,
        "{checked} < {}",
        counters.valid_shares
    );
    assert!(body.contains("method=\"getblocktemplate\""), "{body}");
}

const PAGES: [&str; 9] = [
    "/",
    "/getting_started",
    "/stats",
    "/miner",
    "/blocks",
    "/payments",
    "/api",
    "/admin",
    "/static/live.js",
];

async fn no_response_carries_a_secret(setup: &Setup) {
    let miner = address(&setup.workers[0]);
    let mut paths: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    paths.extend(
        [
            "/api/stats",
            "/api/pool_stats",
            "/api/blocks",
            "/api/payments",
            "/api/coins",
            "/metrics",
        ]
        .map(str::to_owned),
    );
    paths.push(format!("/api/worker_stats?{miner}"));
    paths.push(format!("/miner?address={miner}"));
    for path in paths {
        let (_, body) = setup.get(&path).await;
        for secret in [
            setup.pair.pool_node().rpc_password(),
            setup.admin_hash.as_str(),
            PASSWORD,
        ] {
            assert!(!body.contains(secret), "{path} shows a secret");
        }
    }
}

/// NOMP's website paths (`/tbs`, `/workers`, `/miner_stats`) keep working for bookmarks and
/// links: each serves the page that shows the same data.
async fn nomp_page_paths_serve_the_same_pages(setup: &Setup) {
    let miner = address(&setup.workers[0]);
    for (alias, page) in [
        ("/tbs".to_owned(), "/stats".to_owned()),
        ("/workers".to_owned(), "/stats".to_owned()),
        (
            format!("/miner_stats?address={miner}"),
            format!("/miner?address={miner}"),
        ),
    ] {
        let (status, alias_body) = setup.get(&alias).await;
        assert_eq!(status, 200, "{alias}");
        let (_, page_body) = setup.get(&page).await;
        let title = |body: &str| {
            body.split("<title>")
                .nth(1)
                .and_then(|rest| rest.split("</title>").next())
                .map(str::to_owned)
        };
        assert!(title(&alias_body).is_some(), "{alias}: {alias_body}");
        assert_eq!(title(&alias_body), title(&page_body), "{alias} is {page}");
    }
    assert!(
        setup
            .get("/workers")
            .await
            .1
            .contains("<table class=\"workers\"")
    );
}

/// Runs headless Chromium on `url` with `args`; returns its stdout.
fn chromium(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    // coreutils' timeout: a hung browser fails the test instead of stalling it.
    let output = Command::new("timeout")
        .args(["120", "chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs (scripts/install-deps.sh installs it)");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn chromium_renders_every_page(setup: &Setup) {
    let miner = address(&setup.workers[0]);
    let newest = setup
        .store
        .blocks(BlockStatus::Pending)
        .await
        .unwrap()
        .pop()
        .unwrap()
        .hash;
    let expectations: [(String, &[&str]); 7] = [
        (
            "/".into(),
            &["<table id=\"pools\"", "data-name=\"regtest\"", "H/s"],
        ),
        (
            "/getting_started".into(),
            &[
                "stratum+tcp://pool.example.test:",
                "cpuminer -a sha256d",
                "PROP",
            ],
        ),
        (
            "/stats".into(),
            &["id=\"hashrate-chart\"", "<polyline", "Valid shares"],
        ),
        (
            format!("/miner?address={miner}"),
            &[
                "class=\"balance\"",
                "class=\"paid\"",
                setup.workers[0].as_str(),
            ],
        ),
        (
            "/blocks".into(),
            &["<table class=\"blocks\"", newest.as_str()],
        ),
        (
            "/payments".into(),
            &["<table class=\"payments\"", "Transaction"],
        ),
        ("/api".into(), &["/api/openapi.json", "/api/live_stats"]),
    ];
    for (path, needles) in &expectations {
        let url = format!("{}{path}", setup.base);
        let dom = tokio::task::spawn_blocking(move || chromium(&["--dump-dom"], &url))
            .await
            .unwrap();
        for needle in *needles {
            assert!(
                dom.contains(needle),
                "{path} lacks {needle}: {}",
                &dom[..dom.len().min(3000)]
            );
        }
    }
    // A screenshot of the stats page shows the hashrate line in its colour.
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("stats.png");
    let url = format!("{}/stats", setup.base);
    let arg = format!("--screenshot={}", shot.display());
    tokio::task::spawn_blocking(move || chromium(&[&arg, "--window-size=1200,900"], &url))
        .await
        .unwrap();
    let line_pixels = count_pixels(&shot, [0x1f, 0x77, 0xb4]);
    assert!(
        line_pixels > 200,
        "the hashrate chart shows no line ({line_pixels} pixels)"
    );
}

/// How many pixels of `colour` (within a small tolerance) the PNG at `path` has.
fn count_pixels(path: &Path, colour: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    buffer[..info.buffer_size()]
        .chunks(channels)
        .filter(|px| px.len() >= 3 && (0..3).all(|i| px[i].abs_diff(colour[i]) <= 24))
        .count()
}
