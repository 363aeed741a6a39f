//! An operator's NOMP directory, as NOMP documents it: `tests/data/nomp_dir` uses every field
//! of NOMP's `config.json`, pool configs and coin files. `check-config` accepts it (warning
//! only about settings NOMP itself ignores or that cannot apply), and the pools start, mine
//! (a scrypt-jane pool with the coin's own N factors among them) and store shares in NOMP's
//! Redis layout.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Nomp, PATIENCE};
use hashing::{Algorithm, HashOptions};
use testkit::{RedisServer, RegtestPair, TestMiner, free_port};

/// Copies the fixture directory to `to`, every `@NAME@` replaced by its value.
fn fill(from: &Path, to: &Path, values: &BTreeMap<&str, String>) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            fill(&entry.path(), &target, values);
            continue;
        }
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        for (name, value) in values {
            text = text.replace(&format!("@{name}@"), value);
        }
        assert!(
            !text.contains("@PORT") && !text.contains("@RPC"),
            "{}: a placeholder is left",
            entry.path().display()
        );
        std::fs::write(target, text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nomp_directory_using_every_documented_field_checks_starts_and_mines() {
    let pair = RegtestPair::start();
    let redis = RedisServer::start();
    let node = pair.pool_node();
    let recipient = node.new_address();
    let key_hash = hex::encode(
        &bs58::decode(&recipient)
            .with_check(None)
            .into_vec()
            .unwrap()[1..],
    );
    let ports: BTreeMap<&str, u16> = [
        "CLI_PORT",
        "WEB_PORT",
        "SWITCH_PORT",
        "PORT_A",
        "PORT_B",
        "PORT_KECCAK",
        "PORT_SCRYPT",
        "PORT_SCRYPTN",
        "PORT_POS",
        "PORT_JANE",
    ]
    .into_iter()
    .map(|name| (name, free_port()))
    .collect();
    let mut values: BTreeMap<&str, String> =
        ports.iter().map(|(k, v)| (*k, v.to_string())).collect();
    values.insert("REDIS_PORT", redis.port().to_string());
    values.insert("RPC_PORT", node.rpc_port().to_string());
    values.insert("RPC_USER", node.rpc_user().to_owned());
    values.insert("RPC_PASSWORD", node.rpc_password().to_owned());
    values.insert("POOL_ADDRESS", node.new_address());
    values.insert("RECIPIENT_ADDRESS", recipient);
    values.insert("RECIPIENT_KEY_HASH", key_hash);
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nomp_dir");
    fill(&fixture, dir.path(), &values);
    // A coin file no pool uses, broken: NOMP never reads it, and neither do we (a warning).
    common::write(dir.path(), "coins/unused.json", "{ \"name\": ");

    let output = common::run_nomp(dir.path(), &["check-config"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().collect();
    for expected in [
        "graphColors",
        "adminCenter.password",
        "diffShift",
        "unused.json",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(expected)),
            "no warning about {expected}: {stderr}"
        );
    }
    assert!(
        warnings.iter().all(|w| w.starts_with("nomp: warning: ")),
        "{stderr}"
    );
    let merged: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pools = merged["pools"].as_object().unwrap();
    assert_eq!(pools.len(), 6, "every enabled pool");
    let pool = |file: &str| {
        pools
            .iter()
            .find(|(path, _)| path.ends_with(file))
            .map(|(_, pool)| pool.clone())
            .unwrap()
    };
    let bsv = pool("bsvregtest.json");
    assert_eq!(bsv["rewardRecipients"].as_object().unwrap().len(), 2);
    assert_eq!(bsv["blockRefreshInterval"], 1000, "from defaultPoolConfigs");
    assert_eq!(bsv["banning"]["invalidPercent"], 50.0);
    assert_eq!(pool("keccakregtest.json")["blockRefreshInterval"], 500);

    let nomp = Nomp::start(dir.path());
    let log = nomp.log();
    let started: Vec<&str> = log.lines().filter(|l| l.contains("pool started")).collect();
    for name in [
        "bsvregtest",
        "keccakregtest",
        "scryptregtest",
        "scryptnregtest",
        "posregtest",
        "janeregtest",
    ] {
        assert!(
            started.iter().any(|l| l.contains(name)),
            "{name} did not start: {log}"
        );
    }
    let miner = TestMiner::start(
        format!("127.0.0.1:{}", ports["PORT_A"]).parse().unwrap(),
        &format!("{}.rig", node.new_address()),
        Algorithm::Sha256d,
    );
    assert!(miner.wait_for_accepted(3, PATIENCE));
    // The shares are in the Redis of defaultPoolConfigs, under NOMP's keys.
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let counted: Option<String> = redis::cmd("HGET")
            .arg("BsvRegtest:stats")
            .arg("validShares")
            .query(&mut connection)
            .unwrap();
        if counted.is_some_and(|n| n.parse::<u64>().unwrap() >= 3) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no shares in Redis");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The scrypt-jane coin's N factors are the pool's: hashed with its nMax of 10 no share
    // is refused for its hash; hashed with nMax 9 (another coin's N) shares are refused as
    // low difficulty. (Regtest's network target passes about half of any hashes as block
    // candidates, so the wrong N shows in the refusals, not in an absence of acceptances.)
    let jane_pool = format!("127.0.0.1:{}", ports["PORT_JANE"]).parse().unwrap();
    let jane = |n_max| HashOptions {
        chain_start_time: Some(1_367_991_200),
        n_min: Some(4),
        n_max: Some(n_max),
        proof_of_stake: true,
        ..HashOptions::default()
    };
    let worker = format!("{}.jane", node.new_address());
    let right = TestMiner::start_with(jane_pool, &worker, Algorithm::ScryptJane, jane(10));
    assert!(
        right.wait_for_accepted(8, PATIENCE),
        "{:?}",
        right.rejections()
    );
    // New blocks may make a share stale; none may be refused for its hash.
    let refused = right.rejections();
    assert!(
        refused.keys().all(|message| message == "job not found"),
        "{refused:?}"
    );
    drop(right);
    let wrong = TestMiner::start_with(jane_pool, &worker, Algorithm::ScryptJane, jane(9));
    assert!(wrong.wait_for_rejected(3, PATIENCE));
    let refused = wrong.rejections();
    assert!(
        refused
            .keys()
            .any(|message| message.starts_with("low difficulty share")),
        "{refused:?}"
    );

    // The switching port of config.json serves the sha256 pool too.
    let login = format!("{}.rig", values["RECIPIENT_KEY_HASH"]);
    let switched = TestMiner::start(
        format!("127.0.0.1:{}", ports["SWITCH_PORT"])
            .parse()
            .unwrap(),
        &login,
        Algorithm::Sha256d,
    );
    assert!(switched.wait_for_accepted(1, PATIENCE));

    // The website at its configured port lists every pool.
    let stats = common::text(
        reqwest::Client::new().get(format!("http://127.0.0.1:{}/api/stats", ports["WEB_PORT"])),
    )
    .await;
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let listed = stats["pools"].as_object().unwrap();
    assert_eq!(listed.len(), 6, "{stats}");
}
