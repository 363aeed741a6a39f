//! The miner session in-process, through testkit's harness (the same the fuzz target runs):
//! whatever bytes arrive, every line sent is JSON; whatever requests arrive, each is
//! answered exactly once and in order, until the session would be closed.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use proptest::prelude::*;
use serde_json::{Value, json};
use testkit::SessionHarness;

fn request(method: usize, variant: u8) -> (String, Value) {
    let methods = [
        "mining.subscribe",
        "mining.authorize",
        "mining.submit",
        "mining.configure",
        "mining.suggest_difficulty",
        "mining.extranonce.subscribe",
        "mining.get_transactions",
        "mining.bogus",
    ];
    let params = match (methods[method], variant % 3) {
        ("mining.authorize", 0) => json!(["w.rig", "x"]),
        ("mining.authorize", _) => json!([]),
        ("mining.submit", 0) => json!(["w.rig", "1", "00000000", "6553f164", "00000000"]),
        ("mining.submit", 1) => json!(["w.rig", "ff", "00", "zz", "1"]),
        ("mining.submit", _) => json!(["w.rig"]),
        ("mining.configure", _) => {
            json!([["version-rolling"], {"version-rolling.mask": "ffffffff"}])
        }
        ("mining.suggest_difficulty", 0) => json!([1024]),
        ("mining.suggest_difficulty", _) => json!(["high"]),
        _ => json!([]),
    };
    (methods[method].to_owned(), params)
}

proptest! {
    #[test]
    fn any_bytes_get_only_json_lines(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        let harness = SessionHarness::new();
        for line in harness.run(&input) {
            prop_assert!(serde_json::from_str::<Value>(&line).is_ok(), "{line}");
        }
    }

    #[test]
    fn every_request_is_answered_once_in_order(
        requests in prop::collection::vec((0usize..8, any::<u8>()), 1..40),
    ) {
        let harness = SessionHarness::new();
        let mut input = String::new();
        for (id, (method, variant)) in requests.iter().enumerate() {
            let (method, params) = request(*method, *variant);
            input.push_str(&json!({"id": id, "method": method, "params": params}).to_string());
            input.push('\n');
        }
        let answered: Vec<u64> = harness
            .run(input.as_bytes())
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter_map(|message| message["id"].as_u64())
            .collect();
        let expected: Vec<u64> = (0..answered.len() as u64).collect();
        prop_assert_eq!(&answered, &expected);
        if answered.len() < requests.len() {
            // Only a ban ends a session early, and only after a share.
            let last = requests[answered.len() - 1].0;
            prop_assert_eq!(last, 2, "closed after a non-share request");
        }
    }
}

#[test]
fn a_real_share_is_checked_against_the_job() {
    let harness = SessionHarness::new();
    let input = concat!(
        r#"{"id":1,"method":"mining.subscribe","params":[]}"#,
        "\n",
        r#"{"id":2,"method":"mining.authorize","params":["w","x"]}"#,
        "\n",
        r#"{"id":3,"method":"mining.submit","params":["w","1","00000000","6553f164","00000000"]}"#,
        "\n",
        r#"{"id":4,"method":"mining.submit","params":["w","2","00000000","6553f164","00000000"]}"#,
        "\n",
    );
    let sent: Vec<Value> = harness
        .run(input.as_bytes())
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let reply = |id: u64| sent.iter().find(|m| m["id"] == id).unwrap().clone();
    // Hashed against the job: a random nonce misses difficulty 1 (code 23).
    assert_eq!(reply(3)["error"][0], 23, "{sent:?}");
    assert_eq!(reply(4)["error"][0], 21, "job 2 does not exist");
}
