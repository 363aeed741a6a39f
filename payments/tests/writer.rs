//! The share writer against a real Redis that goes away: nothing lost, nothing twice.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use payments::{Decimal, RedisStore, Round, ShareStore, ShareWriter, WriterOptions};
use pool_events::{PoolEvent, ShareEvent, event_channel};
use testkit::RedisServer;
use tokio_util::sync::CancellationToken;

fn share(n: u64) -> PoolEvent {
    PoolEvent::Share(ShareEvent {
        worker: format!("worker{}", n % 10),
        ip: IpAddr::from([127, 0, 0, 1]),
        port: 3333,
        height: 1,
        difficulty: hashing::Difficulty::ONE,
        share_difficulty: hashing::Difficulty::new(2.0).ok(),
        block_hash: None,
        block_accepted: false,
        reject: None,
        time: SystemTime::now(),
    })
}

fn quick(spool: &Path) -> WriterOptions {
    WriterOptions {
        batch_size: 50,
        flush_interval: Duration::from_millis(50),
        write_timeout: Duration::from_millis(500),
        retry_interval: Duration::from_millis(250),
        ..WriterOptions::new(spool.to_owned())
    }
}

/// What the store holds: valid shares counted, and difficulty summed over the round.
async fn stored(store: &dyn ShareStore) -> (u64, Decimal) {
    let counted = store.counts().await.unwrap().valid_shares;
    let summed = store
        .round_shares(Round::Current)
        .await
        .unwrap()
        .values()
        .sum();
    (counted, summed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_for_30_seconds_while_shares_stream_in_loses_and_doubles_nothing() {
    let mut redis = RedisServer::start_durable();
    let store = Arc::new(RedisStore::new(&redis.url(), "bitcoin").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (events, receiver) = event_channel(100_000, 1_000_000);
    let cancel = CancellationToken::new();
    let writer = ShareWriter::spawn(
        store.clone(),
        receiver,
        quick(&dir.path().join("bitcoin.spool")),
        cancel.clone(),
    )
    .unwrap();

    // One share every 5 ms for 34 s; Redis is down from 2 s to 32 s.
    let started = Instant::now();
    let streaming = tokio::spawn(async move {
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(34) {
            events.send(share(sent));
            sent += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sent
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        writer.status.borrow().spooling,
        "batches were spooled during the outage"
    );
    redis.start_again();
    let sent = streaming.await.unwrap();

    // Everything reaches Redis once the spool is replayed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stored(store.as_ref()).await.0 < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
    let status = writer.status.borrow().clone();
    writer.join().await.unwrap();
    assert_eq!(stored(store.as_ref()).await, (sent, Decimal::from(sent)));
    assert!(status.spooled_batches > 0, "{status:?}");
    assert!(!status.spooling, "{status:?}");
    assert_eq!(status.received, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_left_at_shutdown_is_replayed_at_the_next_start_exactly_once() {
    let mut redis = RedisServer::start_durable();
    redis.stop();
    let store = Arc::new(RedisStore::new(&redis.url(), "bitcoin").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("bitcoin.spool");

    // First run: the store is down throughout; the shutdown leaves everything spooled.
    let (events, receiver) = event_channel(1000, 1_000_000);
    let cancel = CancellationToken::new();
    let first = ShareWriter::spawn(store.clone(), receiver, quick(&spool), cancel.clone()).unwrap();
    for n in 0..500 {
        events.send(share(n));
    }
    drop(events);
    first.join().await.unwrap();
    assert!(std::fs::metadata(&spool).unwrap().len() > 0);

    // Second run with the store back: the spool is replayed before anything new.
    redis.start_again();
    let (events, receiver) = event_channel(1000, 1_000_000);
    let second =
        ShareWriter::spawn(store.clone(), receiver, quick(&spool), cancel.clone()).unwrap();
    events.send(share(500));
    drop(events);
    second.join().await.unwrap();
    assert_eq!(stored(store.as_ref()).await, (501, Decimal::from(501)));
    assert_eq!(std::fs::metadata(&spool).unwrap().len(), 0);

    // A third start finds nothing to replay and counts nothing twice.
    let (events, receiver) = event_channel(1, 1_000_000);
    let third = ShareWriter::spawn(store.clone(), receiver, quick(&spool), cancel).unwrap();
    drop(events);
    third.join().await.unwrap();
    assert_eq!(stored(store.as_ref()).await, (501, Decimal::from(501)));
}
