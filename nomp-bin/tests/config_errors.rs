//! Each configuration mistake stops `nomp` with one line naming the file, the field and the
//! fix. Runs the real binary on config directories written by the test.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

mod common;

use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"{
    // comments are allowed
    "logLevel": "debug",
    "cliPort": 17999,
    "defaultPoolConfigs": { "blockRefreshInterval": 500 }
}"#;

const COIN: &str = r#"{ "name": "BitcoinSVRegtest", "symbol": "BSV", "algorithm": "sha256", "peerMagic": "dab5bffa" }"#;

fn pool(port: u16, extra: &str) -> String {
    format!(
        r#"{{
    "enabled": true,
    "coin": "regtest.json",
    "address": "mzBc4XEFSdzCDcTxAgf6EZXgsZWpztRhef",
    "ports": {{ "{port}": {{ "diff": 8 }} }},
    "daemons": [ {{ "host": "127.0.0.1", "port": 18332, "user": "u", "password": "p" }} ]{extra}
}}"#
    )
}

/// A config directory with `config.json`, one coin and the given pool files.
fn config_dir(config: &str, coin: &str, pools: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("config.json", config);
    write("coins/regtest.json", coin);
    std::fs::create_dir_all(dir.path().join("pool_configs")).unwrap();
    for (name, text) in pools {
        write(&format!("pool_configs/{name}"), text);
    }
    dir
}

/// `nomp check-config` on `dir`: (success, stdout, stderr).
fn check(dir: &Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_nomp"))
        .arg("--config-dir")
        .arg(dir)
        .arg("check-config")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_error(dir: &Path, parts: &[&str]) {
    let (ok, _, stderr) = check(dir);
    assert!(!ok, "expected a config error");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for part in parts {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
}

#[test]
fn a_good_config_prints_with_defaults_merged() {
    let dir = config_dir(CONFIG, COIN, &[("a.json", pool(3333, ""))]);
    let (ok, stdout, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
    let merged: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let pool = &merged["pools"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(pool["blockRefreshInterval"], 500, "from defaultPoolConfigs");
    assert_eq!(pool["jobRebroadcastTimeout"], 55, "NOMP's default");
    assert_eq!(pool["validateWorkerUsername"], true);
    assert_eq!(merged["config"]["cliPort"], 17999);
}

#[test]
fn an_unknown_field_is_named_with_the_likely_fix() {
    let typo = pool(3333, r#", "blockRefreshIntervall": 1000"#);
    let dir = config_dir(r#"{ "cliPort": 17999 }"#, COIN, &[("a.json", typo)]);
    assert_error(
        dir.path(),
        &[
            "pool_configs/a.json",
            "unknown field `blockRefreshIntervall`",
            "did you mean `blockRefreshInterval`?",
        ],
    );

    let nested = pool(3333, "").replace(r#""diff": 8"#, r#""diff": 8, "varDif": {}"#);
    let dir = config_dir(CONFIG, COIN, &[("a.json", nested)]);
    assert_error(
        dir.path(),
        &[
            "pool_configs/a.json: ports.3333",
            "`varDif`",
            "did you mean `varDiff`?",
        ],
    );
}

#[test]
fn a_wrong_type_names_its_field() {
    let wrong = pool(3333, "").replace(r#""diff": 8"#, r#""diff": "eight""#);
    let dir = config_dir(CONFIG, COIN, &[("a.json", wrong)]);
    assert_error(
        dir.path(),
        &[
            "pool_configs/a.json: ports.3333.diff",
            "invalid type: string \"eight\", expected f64",
        ],
    );
    let dir = config_dir(r#"{ "cliPort": "seventeen" }"#, COIN, &[]);
    assert_error(dir.path(), &["config.json: cliPort", "invalid type"]);
}

#[test]
fn a_port_used_by_two_pools_is_refused() {
    let dir = config_dir(
        CONFIG,
        COIN,
        &[("a.json", pool(3333, "")), ("b.json", pool(3333, ""))],
    );
    assert_error(
        dir.path(),
        &["pool_configs/b.json: ports.3333", "also used by", "a.json"],
    );
}

#[test]
fn an_unknown_coin_or_algorithm_is_refused_with_a_suggestion() {
    let other_coin = pool(3333, "").replace("regtest.json", "regtset.json");
    let dir = config_dir(CONFIG, COIN, &[("a.json", other_coin)]);
    assert_error(
        dir.path(),
        &[
            "pool_configs/a.json: coin",
            "no coin file",
            "did you mean \"regtest.json\"?",
        ],
    );

    let bad_algorithm = COIN.replace("sha256", "sha265");
    let dir = config_dir(CONFIG, &bad_algorithm, &[("a.json", pool(3333, ""))]);
    assert_error(
        dir.path(),
        &[
            "coins/regtest.json: algorithm",
            "sha265",
            "did you mean \"sha256\"?",
        ],
    );
}

#[test]
fn a_coin_setting_that_cannot_be_read_names_the_coin_file_and_field() {
    let coin = |fields: &str| {
        format!(
            r#"{{ "name": "BitcoinSVRegtest", "symbol": "BSV", "algorithm": "scrypt-n"{fields} }}"#
        )
    };
    for (fields, parts) in [
        (
            r#", "timeTable": { "2048": 1389306217, "3000": 1456415081 }"#,
            &[
                "coins/regtest.json: timeTable",
                "map each N (a power of two",
            ][..],
        ),
        (
            r#", "timeTable": { "many": 1389306217 }"#,
            &[
                "coins/regtest.json: timeTable",
                "key \"many\" is not a number",
            ][..],
        ),
        (
            r#", "mainnet": { "pubKeyHash": "1e2" }"#,
            &[
                "coins/regtest.json: mainnet.pubKeyHash",
                "not one byte of hex",
            ][..],
        ),
        (
            r#", "txMessages": "yes""#,
            &["coins/regtest.json: txMessages", "expected true or false"][..],
        ),
        (
            r#", "nValue": "1024""#,
            &["coins/regtest.json: nValue", "invalid type"][..],
        ),
        (
            r#", "nMax": 31"#,
            &["coins/regtest.json: nMax", "N factor 31 is above 30"][..],
        ),
        (
            r#", "nMin": 12, "nMax": 8"#,
            &["coins/regtest.json: nMin", "nMin 12 is above nMax 8"][..],
        ),
    ] {
        let dir = config_dir(CONFIG, &coin(fields), &[("a.json", pool(3333, ""))]);
        assert_error(dir.path(), parts);
    }
}

#[test]
fn a_reward_recipient_that_is_neither_an_address_nor_a_mining_key_is_refused() {
    let recipient = pool(
        3333,
        r#", "rewardRecipients": { "zz851477d63a085dbc2398c8430af1c09e7343f6": 0.1 }"#,
    );
    let dir = config_dir(CONFIG, COIN, &[("a.json", recipient)]);
    assert_error(
        dir.path(),
        &[
            "pool_configs/a.json: rewardRecipients.zz851477d63a085dbc2398c8430af1c09e7343f6",
            "neither an address nor a mining key",
        ],
    );
    let too_much = pool(
        3333,
        r#", "rewardRecipients": { "22851477d63a085dbc2398c8430af1c09e7343f6": 101 }"#,
    );
    let dir = config_dir(CONFIG, COIN, &[("a.json", too_much)]);
    assert_error(
        dir.path(),
        &["pool_configs/a.json: rewardRecipients", "add up to 101%"],
    );
}

#[test]
fn malformed_json_names_the_file() {
    let dir = config_dir("{ \"cliPort\": 17999,, }", COIN, &[]);
    assert_error(dir.path(), &["config.json", "not valid JSON"]);
}

#[test]
fn an_admin_center_needs_an_argon2_hash_and_never_a_plaintext_password() {
    let website = |admin: &str| {
        CONFIG.replace(
            r#""cliPort": 17999,"#,
            &format!(
                r#""cliPort": 17999, "website": {{ "enabled": true, "port": 18080, "adminCenter": {admin} }},"#
            ),
        )
    };
    let cases = [
        (
            r#"{ "enabled": true, "password": "hunter2" }"#,
            &[
                "config.json",
                "website.adminCenter.password",
                "nomp hash-password",
            ][..],
        ),
        (
            r#"{ "enabled": true }"#,
            &[
                "website.adminCenter.adminPasswordHash",
                "is empty",
                "nomp hash-password",
            ][..],
        ),
        (
            r#"{ "enabled": true, "adminPasswordHash": "hunter2" }"#,
            &["website.adminCenter.adminPasswordHash", "argon2"][..],
        ),
    ];
    for (admin, parts) in cases {
        let dir = config_dir(&website(admin), COIN, &[("a.json", pool(3333, ""))]);
        assert_error(dir.path(), parts);
    }
    let hash = common::hash_password("a long admin passphrase");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_ne!(
        hash,
        common::hash_password("a long admin passphrase"),
        "fresh salt"
    );
    let admin = format!(r#"{{ "enabled": true, "adminPasswordHash": "{}" }}"#, hash);
    let dir = config_dir(&website(&admin), COIN, &[("a.json", pool(3333, ""))]);
    let (ok, _, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
}

#[test]
fn a_switch_needs_a_known_algorithm_with_a_pool_and_its_own_ports() {
    let switching = |switch: &str| {
        CONFIG.replace(
            r#""cliPort": 17999,"#,
            &format!(r#""cliPort": 17999, "switching": {{ "sw1": {switch} }},"#),
        )
    };
    let cases = [
        (
            r#"{ "enabled": true, "algorithm": "sha265", "ports": { "4000": { "diff": 1 } } }"#,
            &[
                "config.json",
                "switching.sw1.algorithm",
                "did you mean \"sha256\"?",
            ][..],
        ),
        (
            r#"{ "enabled": true, "algorithm": "scrypt", "ports": { "4000": { "diff": 1 } } }"#,
            &["switching.sw1.algorithm", "no enabled pool mines scrypt"][..],
        ),
        (
            r#"{ "enabled": true, "algorithm": "sha256", "ports": { "3333": { "diff": 1 } } }"#,
            &["switching.sw1.ports.3333", "also used by", "a.json"][..],
        ),
    ];
    for (switch, parts) in cases {
        let dir = config_dir(&switching(switch), COIN, &[("a.json", pool(3333, ""))]);
        assert_error(dir.path(), parts);
    }
}

#[test]
fn upstream_mode_refuses_what_needs_the_pools_own_blocks_and_runs_without_a_daemon() {
    let upstream =
        r#", "upstream": { "servers": [ { "host": "127.0.0.1", "port": 3334, "user": "u" } ] }"#;
    let payments = r#", "paymentProcessing": { "enabled": true, "paymentInterval": 30, "minimumPayment": 0.1,
        "daemon": { "host": "127.0.0.1", "port": 18332, "user": "u", "password": "p" } }"#;
    let p2p = r#", "p2p": { "enabled": true, "host": "127.0.0.1", "port": 18444 }"#;
    let cases = [
        (
            format!("{upstream}{payments}"),
            &[
                "a.json",
                "paymentProcessing",
                "upstream mode",
                "disable paymentProcessing",
            ][..],
        ),
        (
            format!("{upstream}{p2p}"),
            &["a.json", "p2p", "upstream mode"][..],
        ),
        (
            r#", "upstream": { "servers": [] }"#.to_owned(),
            &["a.json", "upstream.servers", "no upstream pool"][..],
        ),
        (
            upstream.replace(r#""servers""#, r#""extranonce1Size": 5, "servers""#),
            &[
                "a.json",
                "upstream.extranonce1Size",
                "extranonce1 size 5",
                "1–4",
            ][..],
        ),
        (
            upstream.replace(r#""servers""#, r#""extranonce2Size": 1, "servers""#),
            &[
                "a.json",
                "upstream.extranonce2Size",
                "extranonce2 size 1",
                "miners refuse fewer than 2",
                "2–8",
            ][..],
        ),
        (
            upstream.replace(r#""user""#, r#""usr""#),
            &["a.json", "upstream.servers[0]", "usr"][..],
        ),
    ];
    for (extra, parts) in cases {
        let dir = config_dir(CONFIG, COIN, &[("a.json", pool(3333, &extra))]);
        assert_error(dir.path(), parts);
    }

    // Upstream mode needs no daemon; a switch cannot move miners to such a pool.
    let without_daemons = pool(3333, upstream).replace(
        r#""daemons": [ { "host": "127.0.0.1", "port": 18332, "user": "u", "password": "p" } ]"#,
        r#""daemons": []"#,
    );
    let dir = config_dir(CONFIG, COIN, &[("a.json", without_daemons.clone())]);
    let (ok, _, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
    let switching = CONFIG.replace(
        r#""cliPort": 17999,"#,
        r#""cliPort": 17999, "switching": { "sw1": { "enabled": true, "algorithm": "sha256", "ports": { "4000": { "diff": 1 } } } },"#,
    );
    let dir = config_dir(&switching, COIN, &[("a.json", without_daemons)]);
    assert_error(
        dir.path(),
        &[
            "switching.sw1.algorithm",
            "no enabled pool mines sha256 from a daemon",
        ],
    );
}

/// Copies the files of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn the_shipped_examples_are_valid_configs() {
    // config_example.json, coins/ and pool_configs/ as an operator copies them.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo.join("config_example.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    copy_dir(&repo.join("coins"), &dir.path().join("coins"));
    copy_dir(&repo.join("pool_configs"), &dir.path().join("pool_configs"));
    // As shipped every pool is off, so nothing is checked beyond the files' syntax.
    let (ok, stdout, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
    let merged: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(merged["pools"].as_object().unwrap().is_empty(), "{stdout}");
    // Switched on as the files' first comment says, each is a complete pool.
    for name in ["litecoin_example.json", "upstream_example.json"] {
        let path = dir.path().join("pool_configs").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let on = text.replacen("\"enabled\": false", "\"enabled\": true", 1);
        assert_ne!(on, text, "{name} starts disabled");
        std::fs::write(&path, on).unwrap();
    }
    let (ok, stdout, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
    let merged: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let pools = merged["pools"].as_object().unwrap();
    let names: Vec<&str> = pools
        .keys()
        .filter_map(|path| Path::new(path).file_name()?.to_str())
        .collect();
    assert_eq!(names, ["litecoin_example.json", "upstream_example.json"]);
    let upstream = pools
        .values()
        .find_map(|pool| pool.get("upstream").filter(|u| !u.is_null()))
        .unwrap();
    assert_eq!(upstream["servers"].as_array().unwrap().len(), 2);
}

#[test]
fn check_config_reads_tls_files_as_start_up_does() {
    let tls_pool = |cert: &str| {
        pool(3333, "").replace(
            r#""diff": 8 }"#,
            &format!(r#""diff": 8, "tls": {{ "cert": "{cert}", "key": "tls/key.pem" }} }}"#),
        )
    };
    let dir = config_dir(CONFIG, COIN, &[("a.json", tls_pool("tls/missing.pem"))]);
    assert_error(
        dir.path(),
        &["a.json", "ports.3333.tls", "cannot read tls/missing.pem"],
    );
    // Files that are there but hold no certificate are refused before start-up too.
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("tls/key.pem"), "not a key").unwrap();
    std::fs::write(
        dir.path().join("pool_configs/a.json"),
        tls_pool("tls/cert.pem"),
    )
    .unwrap();
    assert_error(
        dir.path(),
        &["a.json", "ports.3333.tls", "check the PEM files"],
    );
}

#[test]
fn check_says_why_it_cannot_ask_and_exits_2() {
    let run = |config: &str| {
        let dir = config_dir(config, COIN, &[("a.json", pool(3333, ""))]);
        common::run_nomp(dir.path(), &["check"])
    };
    let disabled = run(CONFIG);
    let stderr = String::from_utf8_lossy(&disabled.stderr);
    assert_eq!(disabled.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("config.json") && stderr.contains("website"),
        "{stderr}"
    );

    let port = testkit::free_port();
    let silent = run(&format!(
        r#"{{ "website": {{ "enabled": true, "host": "0.0.0.0", "port": {port} }} }}"#
    ));
    let stderr = String::from_utf8_lossy(&silent.stderr);
    assert_eq!(silent.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}/ready")),
        "{stderr}"
    );
}

#[test]
fn a_zmq_block_notify_that_is_not_a_tcp_address_is_refused_with_the_form() {
    let with = |zmq: &str| {
        pool(3333, "").replace(
            r#""password": "p" }"#,
            &format!(r#""password": "p", "zmqBlockNotify": "{zmq}" }}"#),
        )
    };
    let dir = config_dir(CONFIG, COIN, &[("a.json", with("127.0.0.1:28332"))]);
    assert_error(
        dir.path(),
        &[
            "pool_configs/a.json: daemons.0.zmqBlockNotify",
            "tcp://127.0.0.1:28332",
        ],
    );
    let dir = config_dir(CONFIG, COIN, &[("a.json", with("tcp://127.0.0.1:28332"))]);
    let (ok, stdout, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(r#""zmqBlockNotify": "tcp://127.0.0.1:28332""#),
        "{stdout}"
    );
}

#[test]
fn an_instance_id_beyond_five_bits_and_a_sentinel_setup_without_its_master_name_are_refused() {
    let config = CONFIG.replacen('{', r#"{ "instanceId": 32,"#, 1);
    let dir = config_dir(&config, COIN, &[("a.json", pool(3333, ""))]);
    assert_error(
        dir.path(),
        &["config.json", "instanceId", "is 32", "0–31", "its own id"],
    );

    let sentinels = r#", "redis": { "sentinels": [ { "host": "127.0.0.1", "port": 26379 } ] }"#;
    let dir = config_dir(CONFIG, COIN, &[("a.json", pool(3333, sentinels))]);
    assert_error(
        dir.path(),
        &[
            "a.json",
            "redis.masterName",
            "is missing",
            "sentinel monitor",
        ],
    );
    let named = r#", "redis": { "masterName": "nomp" }"#;
    let dir = config_dir(CONFIG, COIN, &[("a.json", pool(3333, named))]);
    assert_error(dir.path(), &["a.json", "redis.sentinels", "is empty"]);

    let good = r#", "redis": { "sentinels": [ { "host": "127.0.0.1", "port": 26379 } ], "masterName": "nomp" }"#;
    let config = CONFIG.replacen('{', r#"{ "instanceId": 31,"#, 1);
    let dir = config_dir(&config, COIN, &[("a.json", pool(3333, good))]);
    let (ok, _, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
}
