//! A payment processor killed with SIGKILL right after the daemon took its payout
//! transaction, before the store recorded anything: the next run finds that transaction
//! in the wallet and pays nobody twice.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use payments::{
    BlockStatus, EmbeddedStore, JournalStatus, PaymentProcessor, PayoutStore, RunOutcome,
    ShareStore,
};
use testkit::RegtestPair;

const CHILD: &str = "NOMP_PAYMENT_CHILD";

/// The child process: one payment run that stops dead once the wallet has paid.
#[tokio::test]
#[ignore = "runs only as the child process of processor_killed_after_its_broadcast_pays_nobody_twice"]
async fn payment_run_child() {
    let spec = std::env::var(CHILD).expect("started by the crash test");
    let [store_path, rpc_port, user, password, pool_address]: [&str; 5] =
        spec.split('|').collect::<Vec<_>>().try_into().unwrap();
    let store = Arc::new(EmbeddedStore::open(store_path.as_ref(), "bitcoin").unwrap());
    let wallet = common::wallet_at(rpc_port.parse().unwrap(), user, password);
    let processor = PaymentProcessor::new(store, wallet, common::options(pool_address, 1, "child"))
        .on_sent(|id, txid| {
            println!("SENT {id} {txid}");
            // Hold here, between the wallet and the store, until the parent kills us.
            std::thread::sleep(Duration::from_secs(3600));
        });
    processor.run_once().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processor_killed_after_its_broadcast_pays_nobody_twice() {
    let pair = RegtestPair::start();
    let pool_address = pair.pool_node().new_address();
    let [a, b] = std::array::from_fn(|_| pair.other_node().new_address());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.sqlite");
    let store = Arc::new(EmbeddedStore::open(&path, "bitcoin").unwrap());
    let block = common::find_block(&pair, &pool_address, &a);
    common::record_round(store.as_ref(), 1, &[(&a, 1.0), (&b, 3.0)], &block).await;
    pair.mine_on_other(100);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "payment_run_child", "--ignored", "--nocapture"])
        .env(
            CHILD,
            format!(
                "{}|{}|{}|{}|{pool_address}",
                path.display(),
                pair.pool_node().rpc_port(),
                pair.pool_node().rpc_user(),
                pair.pool_node().rpc_password(),
            ),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let sent = loop {
        let line = lines
            .next()
            .expect("the child ended without paying")
            .unwrap();
        if let Some(rest) = line.strip_prefix("SENT ") {
            break rest.to_owned();
        }
    };
    let (id, txid) = sent.split_once(' ').unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The wallet paid; the store knows only the plan.
    let entry = store.journal_entry(id).await.unwrap().unwrap();
    assert_eq!(entry.status, JournalStatus::Planned);
    assert_eq!(store.blocks(BlockStatus::Pending).await.unwrap().len(), 1);
    assert!(store.total_paid().await.unwrap() == coin_daemon::Amount::ZERO);

    // Restarted: once the dead child's lease expires, the run is finished from the journal.
    let processor = PaymentProcessor::new(
        store.clone(),
        common::wallet(pair.pool_node()),
        common::options(&pool_address, 1, "restarted"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        match processor.run_once().await.unwrap() {
            RunOutcome::LeaseHeld if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            outcome => break outcome,
        }
    };
    assert_eq!(outcome, RunOutcome::NothingToDo, "nothing left to pay");
    let entry = store.journal_entry(id).await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.txid.as_deref()),
        (JournalStatus::Done, Some(txid))
    );
    assert!(store.blocks(BlockStatus::Pending).await.unwrap().is_empty());

    // Each address was paid once, by the child's transaction.
    pair.pool_node()
        .cli(&["generatetoaddress", "1", &pair.pool_node().new_address()]);
    pair.wait_for_sync();
    let reward = common::reward_of(&pair, &block);
    assert_eq!(common::received(&pair, &a), reward / 4);
    assert_eq!(common::received(&pair, &b), reward * 3 / 4);
    let sends: Vec<serde_json::Value> = pair
        .pool_node()
        .cli(&["listtransactions", "*", "1000"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|tx| tx["category"] == "send" && tx["txid"] != "")
        .cloned()
        .collect();
    let paying: std::collections::BTreeSet<&str> =
        sends.iter().filter_map(|tx| tx["txid"].as_str()).collect();
    assert_eq!(paying, std::collections::BTreeSet::from([txid]));
}
