//! Every algorithm gives node-multi-hashing's outputs (NOMP's hashing library) on its own
//! ten 80-byte test inputs (tests/data/multi_hashing_80.json, CC0).

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on a bad fixture"
)]

use hashing::{Algorithm, HashOptions, PowHash, PowHasher};

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("data/multi_hashing_80.json")).unwrap()
}

#[test]
fn each_algorithm_matches_node_multi_hashing_on_its_test_inputs() {
    let vectors = vectors();
    let inputs: Vec<Vec<u8>> = vectors["hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        .collect();
    let mut checked = Vec::new();
    for algorithm in Algorithm::ALL {
        // node-multi-hashing's names; scrypt-jane is checked in the crate (its N factor
        // comes from the time, which these inputs do not carry).
        let name = match algorithm {
            Algorithm::Sha256d => "sha256d",
            other => other.name(),
        };
        let Some(outputs) = vectors[name].as_array() else {
            continue;
        };
        let hasher = PowHasher::new(*algorithm, &HashOptions::default()).unwrap();
        for (input, expected) in inputs.iter().zip(outputs) {
            let expected: [u8; 32] = hex::decode(expected.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            assert_eq!(
                hasher.hash(input).unwrap(),
                PowHash::from_internal(expected),
                "{algorithm} of {}",
                hex::encode(input)
            );
        }
        checked.push(*algorithm);
    }
    // Every algorithm node-multi-hashing has and nomp-rs hashes, but the time-dependent one.
    for algorithm in [
        Algorithm::Sha256d,
        Algorithm::Neoscrypt,
        Algorithm::Sha1,
        Algorithm::Keccak,
        Algorithm::Blake,
        Algorithm::Groestl,
        Algorithm::Skein,
        Algorithm::Fugue,
        Algorithm::Shavite3,
        Algorithm::Quark,
        Algorithm::Qubit,
        Algorithm::Nist5,
        Algorithm::X11,
        Algorithm::C11,
        Algorithm::X13,
        Algorithm::X15,
        Algorithm::X16r,
        Algorithm::X16rv2,
    ] {
        assert!(checked.contains(&algorithm), "{algorithm} not checked");
    }
}
