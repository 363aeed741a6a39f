//! MPOS mode against a real MariaDB (testkit's private server with the schema loaded).

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use hashing::Difficulty;
use mpos::{MposAuthorizer, MposOptions, MposShareSink, SCHEMA};
use mysql_async::prelude::Queryable;
use pool_events::{Authorizer, DifficultyEvent, PoolEvent, ShareEvent, WriterOptions};
use testkit::MariaDb;
use tokio_util::sync::CancellationToken;

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn database() -> MariaDb {
    let db = MariaDb::start();
    db.execute(SCHEMA);
    db.execute("INSERT INTO accounts (username) VALUES ('alice');");
    db.execute(
        "INSERT INTO pool_worker (account_id, username, password) VALUES (1, 'alice.rig1', 'secret');",
    );
    db
}

fn quick_writer(dir: &std::path::Path) -> WriterOptions {
    WriterOptions {
        batch_size: 100,
        flush_interval: Duration::from_millis(50),
        write_timeout: Duration::from_secs(1),
        retry_interval: Duration::from_millis(250),
        ..WriterOptions::new(dir.join("mpos.spool"))
    }
}

/// A running share sink on `pool`, fed through the returned sender.
async fn sink(
    pool: &mysql_async::Pool,
    options: &MposOptions,
    dir: &std::path::Path,
    capacity: usize,
) -> (
    pool_events::EventSender,
    pool_events::DurableWriter,
    CancellationToken,
) {
    let (events, receiver) = pool_events::event_channel(capacity, 1_000_000);
    let cancel = CancellationToken::new();
    let sink = MposShareSink::spawn(
        pool.clone(),
        receiver,
        options,
        quick_writer(dir),
        cancel.clone(),
    )
    .await
    .unwrap();
    (events, sink, cancel)
}

fn share(worker: &str, n: u64) -> PoolEvent {
    PoolEvent::Share(ShareEvent {
        worker: worker.into(),
        ip: localhost(),
        port: 3333,
        height: 1,
        difficulty: Difficulty::new(0.5 + n as f64).unwrap(),
        share_difficulty: Some(Difficulty::ONE),
        block_hash: None,
        block_accepted: false,
        reject: None,
        time: SystemTime::now(),
    })
}

async fn count(pool: &mysql_async::Pool, sql: &str) -> u64 {
    pool.get_conn()
        .await
        .unwrap()
        .query_first::<u64, _>(sql)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn workers_are_authorised_by_password_and_created_for_known_accounts() {
    let db = database();
    let options = MposOptions {
        check_password: true,
        auto_create_worker: true,
        ..MposOptions::new(db.url())
    };
    let pool = options.pool().unwrap();
    let auth = MposAuthorizer::new(pool.clone(), &options);
    assert!(auth.authorize("alice.rig1", "secret", localhost()).await);
    assert!(!auth.authorize("alice.rig1", "wrong", localhost()).await);

    // Unknown worker of a known account: created with its password, then authorised.
    assert!(auth.authorize("alice.rig2", "pw2", localhost()).await);
    let created: Option<(u64, String)> = pool
        .get_conn()
        .await
        .unwrap()
        .exec_first(
            "SELECT account_id, password FROM pool_worker WHERE username = ?",
            ("alice.rig2",),
        )
        .await
        .unwrap();
    assert_eq!(created, Some((1, "pw2".into())));
    // Unknown account: refused, nothing created.
    assert!(!auth.authorize("bob.rig", "x", localhost()).await);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM pool_worker WHERE username LIKE 'bob%'"
        )
        .await,
        0
    );

    // Without checkPassword any password goes; without autoCreateWorker strangers don't.
    let lenient = MposAuthorizer::new(pool.clone(), &MposOptions::new(db.url()));
    assert!(
        lenient
            .authorize("alice.rig1", "anything", localhost())
            .await
    );
    assert!(!lenient.authorize("alice.rig3", "x", localhost()).await);

    // Names are looked up, and created, in lower case, as NOMP does.
    assert!(auth.authorize("ALICE.Rig4", "pw4", localhost()).await);
    assert!(lenient.authorize("Alice.RIG4", "other", localhost()).await);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM pool_worker WHERE BINARY username = 'alice.rig4'"
        )
        .await,
        1
    );

    // validateWorkerUsername off (and no auto-creation): every worker is let in, no query.
    let open = MposAuthorizer::new(
        pool.clone(),
        &MposOptions {
            validate_worker_username: false,
            ..MposOptions::new(db.url())
        },
    );
    assert!(open.authorize("stranger.rig", "x", localhost()).await);
}

#[tokio::test]
async fn a_database_that_is_down_refuses_quickly_instead_of_hanging() {
    let mut db = database();
    let options = MposOptions {
        auth_timeout: Duration::from_secs(2),
        ..MposOptions::new(db.url())
    };
    let auth = MposAuthorizer::new(options.pool().unwrap(), &options);
    db.stop();
    let started = Instant::now();
    assert!(!auth.authorize("alice.rig1", "secret", localhost()).await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_restarted_while_shares_stream_in_loses_and_doubles_nothing() {
    let mut db = database();
    let options = MposOptions::new(db.url());
    let pool = options.pool().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, sink, cancel) = sink(&pool, &options, dir.path(), 100_000).await;

    let started = Instant::now();
    let streaming = tokio::spawn(async move {
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(12) {
            events.send(share("alice.rig1", sent));
            sent += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sent
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    db.stop();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        sink.status.borrow().spooling,
        "batches spooled while it was down"
    );
    db.start_again();
    let sent = streaming.await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&pool, "SELECT COUNT(*) FROM shares").await < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cancel.cancel();
    sink.join().await.unwrap();
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM shares").await, sent);
    // Each share once: difficulties 0.5, 1.5, … are distinct.
    assert_eq!(
        count(&pool, "SELECT COUNT(DISTINCT difficulty) FROM shares").await,
        sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_in_a_worker_name_are_stored_verbatim_and_vardiff_updates_the_worker() {
    let db = database();
    let nasty = r#"alice.o'neil"; DROP TABLE shares; -- \"#;
    let options = MposOptions {
        check_password: true,
        ..MposOptions::new(db.url())
    };
    let pool = options.pool().unwrap();
    pool.get_conn()
        .await
        .unwrap()
        .exec_drop(
            "INSERT INTO pool_worker (account_id, username, password) VALUES (1, ?, ?)",
            (nasty, nasty),
        )
        .await
        .unwrap();
    let auth = MposAuthorizer::new(pool.clone(), &options);
    assert!(auth.authorize(nasty, nasty, localhost()).await);

    let dir = tempfile::tempdir().unwrap();
    let (events, sink, cancel) = sink(&pool, &options, dir.path(), 10).await;
    events.send(share(nasty, 1));
    events.send(PoolEvent::Difficulty(DifficultyEvent {
        worker: nasty.into(),
        difficulty: Difficulty::new(64.0).unwrap(),
    }));
    drop(events);
    sink.join().await.unwrap();

    let mut conn = pool.get_conn().await.unwrap();
    let stored: Vec<String> = conn.query("SELECT username FROM shares").await.unwrap();
    assert_eq!(stored, [nasty]);
    let difficulty: Option<f64> = conn
        .exec_first(
            "SELECT difficulty FROM pool_worker WHERE username = ?",
            (nasty,),
        )
        .await
        .unwrap();
    assert_eq!(difficulty, Some(64.0));
    cancel.cancel();
}
