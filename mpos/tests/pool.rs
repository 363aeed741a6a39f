//! MPOS mode end to end: a pool on the regtest pair authorises through `pool_worker` and
//! fills `shares` with the right columns for block shares and for every kind of invalid
//! share.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashing::{Algorithm, HashOptions, PowHasher};
use mpos::{MposAuthorizer, MposOptions, MposShareSink, SCHEMA};
use mysql_async::prelude::Queryable;
use stratum_core::{
    ClientError, MinerRequest, ServerMessage, StratumClient, SubmitRequest, WriterOptions,
    start_pool,
};
use testkit::{MariaDb, RegtestPair, TestMiner};
use tokio_util::sync::CancellationToken;

const EASY: f64 = 1.0 / (1u64 << 30) as f64;

type Row = (String, String, String, String, Option<String>, String, f64);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mining_fills_mpos_shares_for_blocks_and_every_invalid_reason() {
    let pair = RegtestPair::start();
    let db = MariaDb::start();
    db.execute(SCHEMA);
    db.execute("INSERT INTO accounts (username) VALUES ('alice');");
    db.execute(
        "INSERT INTO pool_worker (account_id, username, password) VALUES (1, 'alice.rig1', 'x');",
    );
    let options = MposOptions {
        check_password: true,
        difficulty_multiplier: 2.0,
        ..MposOptions::new(db.url())
    };
    let database = options.pool().unwrap();

    let mut pool_options = pair
        .pool_node()
        .pool_options(&pair.pool_node().new_address(), EASY);
    pool_options.template.rebroadcast_after = Duration::from_secs(60);
    let daemons = pair.pool_node().daemon_group();
    let cancel = CancellationToken::new();
    let mut pool = start_pool(
        pool_options,
        daemons,
        Arc::new(MposAuthorizer::new(database.clone(), &options)),
        cancel.clone(),
    )
    .await
    .unwrap();
    pool.jobs.wait_for(Option::is_some).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = pool.take_events();
    let sink = MposShareSink::spawn(
        database.clone(),
        events,
        &options,
        WriterOptions::new(dir.path().join("mpos.spool")),
        cancel.clone(),
    )
    .await
    .unwrap();

    // Blocks: the test miner's shares all meet regtest's target.
    let miner = TestMiner::start(pool.ports[0], "alice.rig1", Algorithm::Sha256d);
    assert!(miner.wait_for_accepted(2, Duration::from_secs(60)));
    drop(miner);

    // Every invalid kind, from a hand-driven client.
    let (client, mut notifications) =
        StratumClient::connect(pool.ports[0], Duration::from_secs(10))
            .await
            .unwrap();
    let subscription = client.subscribe("mpos test").await.unwrap();
    assert!(!client.authorize("alice.rig1", "wrong").await.unwrap());
    assert!(client.authorize("alice.rig1", "x").await.unwrap());
    let job = loop {
        if let Some(ServerMessage::Notify(job)) = notifications.recv().await {
            break job;
        }
    };
    let submit = |job_id: &str, en2: &str, ntime: u32, nonce: &str| {
        MinerRequest::Submit(SubmitRequest {
            worker: "alice.rig1".into(),
            job_id: job_id.into(),
            extranonce2: en2.into(),
            ntime: format!("{ntime:08x}"),
            nonce: nonce.into(),
            version_bits: None,
        })
    };
    let hasher = PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).unwrap();
    let network = job.bits.target().unwrap();
    let en2 = [0u8, 0, 0, 9];
    let low = (0u32..)
        .find(|n| {
            let header = job.header(&hasher, &subscription.extranonce1, &en2, job.ntime, *n);
            !network.is_met_by(&hasher.hash(&header).unwrap())
        })
        .unwrap();
    let low = format!("{low:08x}");
    let attempts = [
        (submit("abcdef", "00000009", job.ntime, "00000000"), 21),
        (submit(&job.job_id, "09", job.ntime, "00000000"), 20),
        (
            submit(&job.job_id, "00000009", job.ntime - 1, "00000000"),
            20,
        ),
        (submit(&job.job_id, "00000009", job.ntime, "0000"), 20),
        (submit(&job.job_id, "00000009", job.ntime, &low), 23),
        (submit(&job.job_id, "00000009", job.ntime, &low), 22),
    ];
    for (request, code) in attempts {
        match client.request(&request).await {
            Err(ClientError::Stratum { code: got, .. }) => assert_eq!(got, code),
            other => panic!("expected error {code}, got {other:?}"),
        }
    }

    // Wait for the sink, then read the table.
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows: Vec<Row> = loop {
        let rows: Vec<Row> = database
            .get_conn()
            .await
            .unwrap()
            .query(
                "SELECT rem_host, username, our_result, upstream_result, reason, solution, \
                 difficulty FROM shares",
            )
            .await
            .unwrap();
        let invalid = rows.iter().filter(|r| r.2 == "N").count();
        if invalid >= 6 || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    cancel.cancel();
    sink.join().await.unwrap();

    for row in &rows {
        assert_eq!(
            (row.0.as_str(), row.1.as_str()),
            ("127.0.0.1", "alice.rig1")
        );
        // MPOS's column is a FLOAT, read back with 6 significant digits.
        assert!(
            (row.6 / (2.0 * EASY) - 1.0).abs() < 1e-5,
            "difficulty times the multiplier: {}",
            row.6
        );
    }
    // Accepted blocks carry their hash. Candidates the daemon refused (a second block at
    // a height already taken, mined on a job the next block made stale) carry none,
    // without emitInvalidBlockHashes.
    let blocks: Vec<&Row> = rows.iter().filter(|r| r.3 == "Y").collect();
    assert!(!blocks.is_empty(), "{rows:?}");
    for block in &blocks {
        assert_eq!((block.2.as_str(), block.4.as_deref()), ("Y", None));
        assert_eq!(block.5.len(), 64, "the block hash is the solution");
    }
    for valid in rows.iter().filter(|r| r.2 == "Y" && r.3 == "N") {
        // NOMP writes NULL as the reason of a valid share.
        assert_eq!(
            (valid.4.as_deref(), valid.5.as_str()),
            (None, ""),
            "{valid:?}"
        );
    }
    let reasons: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.2 == "N")
        .map(|r| {
            assert_eq!((r.3.as_str(), r.5.as_str()), ("N", ""));
            r.4.as_deref().expect("an invalid share names its reason")
        })
        .collect();
    for expected in [
        "job not found",
        "incorrect size of extranonce2",
        "ntime out of range",
        "incorrect size of nonce",
        "duplicate share",
    ] {
        assert!(
            reasons.contains(expected),
            "{expected} missing from {reasons:?}"
        );
    }
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("low difficulty share of ")),
        "{reasons:?}"
    );
}
