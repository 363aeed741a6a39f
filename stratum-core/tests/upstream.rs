//! Upstream mode end to end: a pool takes its work from other pools on a regtest pair,
//! its miner's blocks reach the chain through them, and it fails over when one stops or
//! hangs.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hashing::{Algorithm, BlockHash};
use serde_json::json;
use stratum_core::{
    AddressAuthorizer, AddressFormat, BlockEvent, PoolEvent, PoolOptions, RunningPool,
    UpstreamOptions, UpstreamServer, output_script, start_pool, start_upstream_pool,
};
use testkit::{RegtestNode, TestMiner, free_port};
use tokio_util::sync::CancellationToken;

fn server(port: u16, user: &str) -> UpstreamServer {
    UpstreamServer {
        host: "127.0.0.1".into(),
        port,
        user: user.into(),
        password: "x".into(),
    }
}

/// An upstream-mode pool without a daemon, checking workers by their testnet addresses.
async fn local_pool(
    options: PoolOptions,
    upstream: UpstreamOptions,
    cancel: &CancellationToken,
) -> RunningPool {
    let authorizer = Arc::new(AddressAuthorizer::new(AddressFormat::testnet()));
    start_upstream_pool(options, upstream, None, authorizer, cancel.clone())
        .await
        .unwrap()
}

/// The next block the pool reports as accepted.
async fn accepted_block(pool: &mut RunningPool) -> BlockEvent {
    let event = common::next_event(
        pool,
        Duration::from_secs(60),
        |e| matches!(e, PoolEvent::Block(block) if block.accepted),
    )
    .await;
    let PoolEvent::Block(block) = event else {
        unreachable!("matched a block")
    };
    block
}

/// Waits until `node` has block `hash` on its chain, and returns its coinbase's first
/// output script.
async fn on_chain(node: &RegtestNode, hash: &BlockHash) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(block) = node.try_cli(&["getblock", &hash.to_string()]) {
            let txid = block["tx"][0].as_str().unwrap().to_owned();
            let coinbase = node.cli(&["getrawtransaction", &txid, "1"]);
            return coinbase["vout"][0]["scriptPubKey"]["hex"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "block {hash} never reached the chain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the upstream to credit a valid share to `user`.
async fn credits(pool: &mut RunningPool, user: &str) {
    common::next_event(
        pool,
        Duration::from_secs(20),
        |e| matches!(e, PoolEvent::Share(share) if share.worker == user && share.is_valid()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_found_through_upstream_pools_reach_the_chain_and_survive_a_failover() {
    // Two upstream pools on the same regtest pair, each paying its own address.
    let mut first = common::start(|_| {}).await;
    let pair = &first.pair;
    let second_address = pair.pool_node().new_address();
    let second_cancel = CancellationToken::new();
    let mut second = start_pool(
        common::options(&second_address, &first.fee_address, common::EASY),
        pair.pool_node().daemon_group(),
        Arc::new(AddressAuthorizer::new(AddressFormat::testnet())),
        second_cancel.clone(),
    )
    .await
    .unwrap();

    // The local pool: nothing listens on the first upstream port, so it starts on the
    // second entry; it has no daemon at all.
    let upstream_user = format!("{}.proxy", pair.other_node().new_address());
    let mut upstream = UpstreamOptions::new(vec![
        server(free_port(), &upstream_user),
        server(first.pool.ports[0].port(), &upstream_user),
        server(second.ports[0].port(), &upstream_user),
    ]);
    upstream.timeout = Duration::from_secs(2);
    upstream.retry_delay = Duration::from_millis(200);
    let local_address = pair.other_node().new_address();
    let local_cancel = CancellationToken::new();
    let mut local = local_pool(
        common::options(&local_address, &first.fee_address, common::EASY),
        upstream,
        &local_cancel,
    )
    .await;
    assert!(local.handle().is_upstream());
    assert!(local.handle().daemons().is_none());
    let first_label = format!("127.0.0.1:{}", first.pool.ports[0].port());
    let second_label = format!("127.0.0.1:{}", second.ports[0].port());

    let height_before = pair.pool_node().block_count();
    let worker = format!("{}.rig", pair.other_node().new_address());
    let miner = TestMiner::start(local.ports[0], &worker, Algorithm::Sha256d);
    let format = AddressFormat::testnet();
    let first_script = hex::encode(output_script(&first.pool_address, &format).unwrap());
    let second_script = hex::encode(output_script(&second_address, &format).unwrap());

    // The local miner's blocks go through the first upstream: on chain, paying it.
    for _ in 0..2 {
        let block = accepted_block(&mut local).await;
        assert_eq!(block.worker, worker);
        assert!(block.height > height_before, "{block:?}");
        assert_eq!(on_chain(pair.pool_node(), &block.hash).await, first_script);
    }
    credits(&mut first.pool, &upstream_user).await;
    assert_eq!(local.handle().upstream_server(), Some(first_label));

    // The first upstream stops: the local pool moves to the next, and the same miner
    // connection goes on finding blocks, now paying the second upstream.
    first.cancel.cancel();
    let block = loop {
        let block = accepted_block(&mut local).await;
        if on_chain(pair.pool_node(), &block.hash).await == second_script {
            break block;
        }
    };
    assert_eq!(block.worker, worker);
    credits(&mut second, &upstream_user).await;
    assert_eq!(local.handle().upstream_server(), Some(second_label));
    let counters = local.handle().counters();
    assert!(counters.upstream_accepted >= 3, "{counters:?}");
    assert!(miner.accepted() >= 3);
    assert_eq!(counters.connections, 1, "the miner never reconnected");

    drop(miner);
    local_cancel.cancel();
    second_cancel.cancel();
}

/// The address pools on stand-in upstreams pay (no chain checks it).
const STAND_IN_ADDRESS: &str = "mzBc4XEFSdzCDcTxAgf6EZXgsZWpztRhef";

/// An upstream-mode pool on `servers` (stand-ins), `adjust`ed, paying [`STAND_IN_ADDRESS`].
async fn pool_on_stand_ins(
    servers: &[u16],
    adjust: impl FnOnce(&mut UpstreamOptions),
    cancel: &CancellationToken,
) -> RunningPool {
    let mut upstream = UpstreamOptions::new(
        servers
            .iter()
            .map(|port| server(*port, STAND_IN_ADDRESS))
            .collect(),
    );
    adjust(&mut upstream);
    let options = common::options(STAND_IN_ADDRESS, STAND_IN_ADDRESS, common::EASY);
    local_pool(options, upstream, cancel).await
}

/// How a stand-in upstream behaves once it has answered subscribe and the first authorize
/// and handed out one job (no real server misbehaves on purpose; these stand in for a hung
/// one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StandIn {
    /// Answers authorize (the keepalive), never a share or `mining.configure`.
    HangsOnShares,
    /// Answers nothing more: a stopped process behind an open socket.
    GoesSilent,
    /// Answers every request (`true`).
    Answers,
}

/// A stand-in upstream behaving as `kind`. Returns its port, the count of requests it left
/// unanswered, and the count of `mining.authorize` requests (the first, then keepalives).
async fn stand_in(kind: StandIn) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let ignored = Arc::new(AtomicUsize::new(0));
    let authorizes = Arc::new(AtomicUsize::new(0));
    let (ignoring, authorizing) = (ignored.clone(), authorizes.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (ignoring, authorizing) = (ignoring.clone(), authorizing.clone());
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut job_sent = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let request: serde_json::Value = serde_json::from_str(&line).unwrap();
                    let id = &request["id"];
                    let method = request["method"].as_str().unwrap().to_owned();
                    let authorize = method == "mining.authorize";
                    if authorize {
                        authorizing.fetch_add(1, Ordering::SeqCst);
                    }
                    let answers = match kind {
                        _ if !job_sent => method != "mining.configure" || kind == StandIn::Answers,
                        StandIn::HangsOnShares => authorize,
                        StandIn::GoesSilent => false,
                        StandIn::Answers => true,
                    };
                    if !answers {
                        ignoring.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    let reply = match method.as_str() {
                        "mining.subscribe" => json!({"id": id, "result":
                            [[["mining.notify", "1"]], "a1a2a3a4", 4], "error": null}),
                        "mining.configure" => json!({"id": id, "result": {}, "error": null}),
                        _ => json!({"id": id, "result": true, "error": null}),
                    };
                    let mut out = format!("{reply}\n");
                    if authorize && !job_sent {
                        job_sent = true;
                        let notify = json!({"id": null, "method": "mining.notify", "params": [
                            "1", "00".repeat(32), "01000000aa", "bbffffffff00000000", [],
                            "20000000", "207fffff", format!("{:08x}", 1_700_000_000), true]});
                        out.push_str(&format!("{notify}\n"));
                    }
                    if write.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, ignored, authorizes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stops_answering_shares_is_left_for_the_next() {
    let mut upper = common::start(|_| {}).await;
    let (hung_port, submits, _) = stand_in(StandIn::HangsOnShares).await;
    let user = upper.pair.other_node().new_address();
    let mut upstream = UpstreamOptions::new(vec![
        server(hung_port, &user),
        server(upper.pool.ports[0].port(), &user),
    ]);
    upstream.timeout = Duration::from_secs(1);
    upstream.retry_delay = Duration::from_secs(30);
    let cancel = CancellationToken::new();
    let mut local = local_pool(
        common::options(&upper.pool_address, &upper.fee_address, common::EASY),
        upstream,
        &cancel,
    )
    .await;
    let worker = upper.pair.other_node().new_address();
    let miner = TestMiner::start(local.ports[0], &worker, Algorithm::Sha256d);

    // The hung upstream's job is mined and its shares go unanswered; after the timeout the
    // pool moves on (without the 30 s retry delay) and its blocks reach the chain.
    let block = accepted_block(&mut local).await;
    assert!(submits.load(Ordering::SeqCst) > 0);
    on_chain(upper.pair.pool_node(), &block.hash).await;
    credits(&mut upper.pool, &user).await;
    assert!(local.handle().counters().upstream_rejected > 0);
    drop(miner);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_roll_the_version_bits_the_upstream_granted() {
    use stratum_core::{
        MinerRequest, ServerMessage, StratumClient, SubmitRequest, header_bytes, merkle_root,
    };
    let upper = common::start(|_| {}).await;
    let user = upper.pair.other_node().new_address();
    let mut options = common::options(&upper.pool_address, &upper.fee_address, common::EASY);
    // The local pool offers more than the upstream's 0x1fffe000; miners get the overlap.
    options.version_mask = 0x3fff_e000;
    let cancel = CancellationToken::new();
    let upstream = UpstreamOptions::new(vec![server(upper.pool.ports[0].port(), &user)]);
    let mut local = local_pool(options, upstream, &cancel).await;
    tokio::time::timeout(
        Duration::from_secs(20),
        local.jobs.wait_for(Option::is_some),
    )
    .await
    .unwrap()
    .unwrap();

    let (client, mut notifications) =
        StratumClient::connect(local.ports[0], Duration::from_secs(10))
            .await
            .unwrap();
    let granted = client.configure_version_rolling(u32::MAX).await.unwrap();
    assert_eq!(granted.version_rolling, Some(0x1fff_e000));
    let subscription = client.subscribe("test").await.unwrap();
    let worker = upper.pair.other_node().new_address();
    assert!(client.authorize(&worker, "x").await.unwrap());
    let job = loop {
        if let Some(ServerMessage::Notify(job)) = notifications.recv().await {
            break job;
        }
    };

    // A share with a rolled bit, hashed as a miner would.
    let rolled = 0x0000_4000u32;
    let version = job.version | rolled;
    let hasher = hashing::PowHasher::new(Algorithm::Sha256d, &Default::default()).unwrap();
    let target = hashing::Difficulty::new(common::EASY)
        .unwrap()
        .target(Algorithm::Sha256d);
    let extranonce2 = vec![0u8; subscription.extranonce2_size];
    let coinbase = [
        &job.coinb1[..],
        &subscription.extranonce1,
        &extranonce2,
        &job.coinb2,
    ]
    .concat();
    let root = merkle_root(&sha256d(&coinbase), &job.branch);
    let (nonce, header) = (0u32..)
        .map(|nonce| {
            let header = header_bytes(
                version,
                job.previous_hash.as_internal(),
                &root,
                job.ntime,
                job.bits.bits(),
                nonce,
            );
            (nonce, header)
        })
        .find(|(_, header)| target.is_met_by(&hasher.hash(header).unwrap()))
        .unwrap();
    let share = MinerRequest::Submit(SubmitRequest {
        worker,
        job_id: job.job_id.clone(),
        extranonce2: hex::encode(&extranonce2),
        ntime: format!("{:08x}", job.ntime),
        nonce: format!("{nonce:08x}"),
        version_bits: Some(format!("{rolled:08x}")),
    });
    assert_eq!(client.request(&share).await.unwrap(), true);

    // The upstream took it with the same bits: its block on chain has the rolled version.
    let block = accepted_block(&mut local).await;
    let on_chain = upper
        .pair
        .pool_node()
        .cli(&["getblock", &block.hash.to_string()]);
    assert_eq!(on_chain["version"], json!(version));
    assert_eq!(block.hash, BlockHash::from_internal(sha256d(&header)));
    assert_eq!(local.handle().counters().upstream_accepted, 1);
    cancel.cancel();
}

fn sha256d(data: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(Sha256::digest(data)).into()
}

/// Waits until the pool mines through `upstream` (`host:port`).
async fn upstream_is(pool: &RunningPool, upstream: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while pool.handle().upstream_server().as_deref() != Some(upstream) {
        assert!(
            Instant::now() < deadline,
            "still on {:?}, not {upstream}",
            pool.handle().upstream_server()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_moves_back_to_its_primary_upstream_when_it_returns() {
    let backup = common::start(|_| {}).await;
    let pair = &backup.pair;
    let primary_port = free_port();
    let user = pair.other_node().new_address();
    let mut upstream = UpstreamOptions::new(vec![
        server(primary_port, &user),
        server(backup.pool.ports[0].port(), &user),
    ]);
    upstream.probe_interval = Duration::from_millis(300);
    let cancel = CancellationToken::new();
    let mut local = local_pool(
        common::options(&backup.pool_address, &backup.fee_address, common::EASY),
        upstream,
        &cancel,
    )
    .await;
    upstream_is(
        &local,
        &format!("127.0.0.1:{}", backup.pool.ports[0].port()),
    )
    .await;

    // The primary comes up: the pool moves to it, and its miner's blocks pay it.
    let primary_address = pair.pool_node().new_address();
    let mut options = common::options(&primary_address, &backup.fee_address, common::EASY);
    options.ports[0].bind = format!("127.0.0.1:{primary_port}").parse().unwrap();
    let primary_cancel = CancellationToken::new();
    let _primary = start_pool(
        options,
        pair.pool_node().daemon_group(),
        Arc::new(AddressAuthorizer::new(AddressFormat::testnet())),
        primary_cancel.clone(),
    )
    .await
    .unwrap();
    upstream_is(&local, &format!("127.0.0.1:{primary_port}")).await;
    let miner = TestMiner::start(
        local.ports[0],
        &pair.other_node().new_address(),
        Algorithm::Sha256d,
    );
    let primary_script =
        hex::encode(output_script(&primary_address, &AddressFormat::testnet()).unwrap());
    let block = accepted_block(&mut local).await;
    assert_eq!(
        on_chain(pair.pool_node(), &block.hash).await,
        primary_script
    );
    drop(miner);
    cancel.cancel();
    primary_cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers_configure_gives_work_without_waiting_for_it() {
    // node-stratum-pool (NOMP's pool) never answers mining.configure; the stand-in does
    // not either (it counts the request among the ones it ignores).
    let (port, ignored, _) = stand_in(StandIn::HangsOnShares).await;
    let cancel = CancellationToken::new();
    let options = common::options(STAND_IN_ADDRESS, STAND_IN_ADDRESS, common::EASY);
    assert_ne!(options.version_mask, 0, "version rolling is asked for");
    // Waiting for configure's answer would take this long: the test would see no work.
    let local =
        pool_on_stand_ins(&[port], |u| u.timeout = Duration::from_secs(3600), &cancel).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while local.handle().current_job().is_none() {
        assert!(
            Instant::now() < deadline,
            "no work: the connect waits for mining.configure"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ignored.load(Ordering::SeqCst) >= 1, "configure was sent");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_goes_silent_is_left_by_its_keepalive_without_a_share_waiting() {
    let (silent, _, probed) = stand_in(StandIn::GoesSilent).await;
    let (alive, _, answered) = stand_in(StandIn::Answers).await;
    let cancel = CancellationToken::new();
    // No share waits for an answer, and none would time out: only the keepalive can tell.
    let local = pool_on_stand_ins(
        &[silent, alive],
        |u| {
            u.timeout = Duration::from_secs(3600);
            u.retry_delay = Duration::from_secs(3600);
            u.keepalive = Duration::from_millis(500);
        },
        &cancel,
    )
    .await;
    upstream_is(&local, &format!("127.0.0.1:{alive}")).await;
    assert!(
        probed.load(Ordering::SeqCst) >= 2,
        "the silent upstream was asked a keepalive"
    );
    // The live one answers its keepalives, and the pool stays on it.
    let start = answered.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(120);
    while answered.load(Ordering::SeqCst) < start + 3 {
        assert!(
            Instant::now() < deadline,
            "no keepalives on the live upstream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        local.handle().upstream_server().as_deref(),
        Some(format!("127.0.0.1:{alive}").as_str())
    );
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_two_connected_miners_share_an_extranonce1_and_a_full_pool_refuses_the_next() {
    use stratum_core::StratumClient;
    let (port, _, _) = stand_in(StandIn::Answers).await;
    let cancel = CancellationToken::new();
    let local = pool_on_stand_ins(
        &[port],
        |u| {
            u.extranonce1_size = 1;
            u.extranonce2_size = 3;
        },
        &cancel,
    )
    .await;
    let at = local.ports[0];
    let connect = || async move {
        StratumClient::connect(at, Duration::from_secs(30))
            .await
            .unwrap()
            .0
    };
    let kept = connect().await;
    let held = kept.subscribe("kept").await.unwrap().extranonce1;
    // Connections that come and go never get the value a connected miner holds.
    for _ in 0..300 {
        let passing = connect().await;
        assert_ne!(
            passing.subscribe("passing").await.unwrap().extranonce1,
            held
        );
    }
    // Connections that never subscribe hold nothing.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(at).await.unwrap());
    }
    // 256 subscribed miners fit, each with its own value; the next is refused.
    let mut miners = vec![(kept, held)];
    for _ in 1..256 {
        let miner = connect().await;
        let value = miner.subscribe("m").await.unwrap().extranonce1;
        assert!(miners.iter().all(|(_, v)| *v != value), "given twice");
        miners.push((miner, value));
    }
    let refused = connect().await.subscribe("one too many").await.unwrap_err();
    assert!(
        refused.to_string().contains("the pool is full"),
        "{refused}"
    );
    assert_eq!(local.handle().counters().extranonce1_refused, 1);
    // One leaves: its value, the only free one, goes to the next.
    let (left, freed) = miners.swap_remove(10);
    drop(left);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match connect().await.subscribe("next").await {
            Ok(subscription) => {
                assert_eq!(subscription.extranonce1, freed);
                break;
            }
            Err(_) => assert!(Instant::now() < deadline, "the freed value never came back"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(idle);
    cancel.cancel();
}
