//! Several front-ends on one Redis: instance id claims and published state, and a store
//! behind Redis Sentinel that follows a failover without losing or doubling a write.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use std::time::Duration;

use payments::{
    Batch, FrontEnd, FrontEndPool, FrontEndRegistry, PayoutStore, Record, RedisEndpoint,
    RedisOptions, RedisStore, ShareStore,
};
use testkit::{RedisSentinelGroup, RedisServer};

fn front_end(instance_id: u8, owner: &str) -> FrontEnd {
    FrontEnd {
        instance_id,
        owner: owner.into(),
        host: "host".into(),
        pid: 1,
        version: "0".into(),
        started_ms: 1,
        seen_ms: 2,
        ready: true,
        problems: Vec::new(),
        pools: [(
            "bitcoin".to_owned(),
            FrontEndPool {
                connections: 7,
                payer: true,
            },
        )]
        .into(),
    }
}

#[tokio::test]
async fn an_instance_id_has_one_holder_and_front_ends_see_each_other() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url(), "").unwrap();
    assert_eq!(store.claim_instance(3, "a", 60_000).await.unwrap(), Ok(()));
    assert_eq!(
        store.claim_instance(3, "b", 60_000).await.unwrap(),
        Err("a".to_owned()),
        "held by a"
    );
    assert_eq!(
        store.claim_instance(3, "a", 60_000).await.unwrap(),
        Ok(()),
        "renewed"
    );
    assert_eq!(store.claim_instance(4, "b", 60_000).await.unwrap(), Ok(()));
    store.release_instance(3, "b").await.unwrap();
    assert!(
        store.claim_instance(3, "b", 60_000).await.unwrap().is_err(),
        "b cannot free a's id"
    );
    store.release_instance(3, "a").await.unwrap();
    assert_eq!(store.claim_instance(3, "b", 1).await.unwrap(), Ok(()));
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        store.claim_instance(3, "a", 60_000).await.unwrap(),
        Ok(()),
        "expired"
    );

    store.publish(&front_end(4, "b")).await.unwrap();
    store.publish(&front_end(3, "a")).await.unwrap();
    let mut updated = front_end(4, "b");
    updated.ready = false;
    updated.problems = vec!["bitcoin: no work".into()];
    store.publish(&updated).await.unwrap();
    assert_eq!(
        store.front_ends().await.unwrap(),
        vec![front_end(3, "a"), updated]
    );
    store.withdraw(3).await.unwrap();
    assert_eq!(store.front_ends().await.unwrap().len(), 1);
}

fn shares(seq: u64) -> Batch {
    let records = (0..10)
        .map(|i| Record::Share {
            worker: "miner".into(),
            difficulty: 1.0,
            valid: true,
            time_ms: 1_700_000_000_000 + seq * 10 + i,
        })
        .collect();
    Batch::new("writer", seq, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_sentinel_a_failover_loses_and_doubles_no_batch() {
    let mut group = RedisSentinelGroup::start();
    let options = RedisOptions {
        endpoint: RedisEndpoint::Sentinel {
            sentinels: group
                .sentinel_ports()
                .iter()
                .map(|port| format!("redis://127.0.0.1:{port}"))
                .collect(),
            master_name: group.master_name().into(),
            db: 0,
            password: None,
        },
        replicas: 1,
        replica_timeout: Duration::from_secs(1),
    };
    let store = RedisStore::with_options(&options, "bitcoin").unwrap();
    let fence = store
        .acquire_lease("payer", 600_000)
        .await
        .unwrap()
        .unwrap();
    let mut failed = 0;
    for seq in 1..=300u64 {
        if seq == 100 {
            let old = group.kill_master();
            let failover = tokio::task::spawn_blocking(move || {
                let new = group.wait_for_failover(old);
                (group, new)
            });
            // Writes go on (and fail) while the sentinels fail over.
            while !failover.is_finished() {
                if store.apply(&shares(seq)).await.is_err() {
                    failed += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            group = failover.await.unwrap().0;
        }
        // As the share writer does: a batch is retried until the store confirms it.
        while store.apply(&shares(seq)).await.is_err() {
            failed += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(failed > 0, "the failover was not seen");
    assert_eq!(
        store.counts().await.unwrap().valid_shares,
        3000,
        "every share once"
    );
    // The lease's fence survived the failover: a new holder gets a higher one.
    store.release_lease("payer").await.unwrap();
    let next = store
        .acquire_lease("other", 600_000)
        .await
        .unwrap()
        .unwrap();
    assert!(next > fence);
}
