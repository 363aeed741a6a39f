//! Cost of checking one share, and of building a job, on a mainnet-sized template.
//!
//! `cargo bench -p stratum-core --bench validate`

use std::cell::Cell;

use coin_daemon::{BlockTemplate, CoinbaseAux, TemplateTransaction};
use divan::{Bencher, black_box};
use hashing::{Algorithm, Difficulty, HashOptions, PowHasher};
use sha2::{Digest, Sha256};
use stratum_core::{
    AddressFormat, CoinbaseOptions, Extranonce, Job, JobId, MinerState, Submission, output_script,
    validate_share,
};

fn main() {
    divan::main();
}

/// Transactions in the template: a full mainnet block has a few thousand.
const TRANSACTIONS: usize = 3000;
const NTIME: u32 = 1_700_000_000;

/// A template shaped like a mainnet one: mainnet bits (so no share is a block) and
/// `TRANSACTIONS` transactions, whose merkle branch the share check folds.
fn template() -> BlockTemplate {
    let transactions = (0..TRANSACTIONS)
        .map(|i| TemplateTransaction {
            data: "00".into(),
            txid: Some(hex::encode(Sha256::digest(i.to_le_bytes()))),
            hash: None,
            fee: Some(1000),
        })
        .collect();
    BlockTemplate {
        version: 0x2000_0000,
        previous_block_hash: "00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054"
            .parse()
            .expect("a block hash"),
        transactions,
        coinbase_value: 625_000_000,
        bits: "17034219".parse().expect("compact bits"),
        target: "0000000000000000000342190000000000000000000000000000000000000000".into(),
        height: 820_000,
        cur_time: NTIME,
        min_time: None,
        coinbase_aux: CoinbaseAux::default(),
        default_witness_commitment: None,
        rules: Vec::new(),
        long_poll_id: None,
        masternode: Vec::new(),
        masternode_payments_started: false,
        masternode_payments_enforced: false,
        superblock: Vec::new(),
        payee: None,
        payee_amount: None,
    }
}

fn coinbase_options() -> CoinbaseOptions {
    let format = AddressFormat::bitcoin();
    let script = output_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", &format).expect("valid");
    CoinbaseOptions::new(script, format)
}

#[divan::bench]
fn build_job(bencher: Bencher) {
    let template = template();
    let options = coinbase_options();
    bencher.bench_local(|| {
        Job::new(JobId(1), &template, &options, true, NTIME).expect("valid template")
    });
}

/// One share through every check, hashing included; each has a fresh nonce so none is
/// a duplicate. The difficulty is tiny so every share is valid.
#[divan::bench(args = [Algorithm::Sha256d, Algorithm::Scrypt])]
fn validate_one_share(bencher: Bencher, algorithm: &Algorithm) {
    let job =
        Job::new(JobId(1), &template(), &coinbase_options(), true, NTIME).expect("valid template");
    let hasher = PowHasher::new(*algorithm, &HashOptions::default()).expect("default options");
    let miner = MinerState {
        extranonce1: Extranonce::from_slice(&[0, 0, 0, 1]).expect("4 bytes fit"),
        difficulty: Difficulty::new(1e-12).expect("positive"),
        previous_difficulty: None,
        version_mask: 0,
        now: NTIME,
    };
    let ntime = format!("{NTIME:08x}");
    let nonce = Cell::new(0u32);
    bencher.bench_local(|| {
        let n = nonce.get();
        nonce.set(n.wrapping_add(1));
        let nonce_hex = format!("{n:08x}");
        let submission = Submission {
            job_id: "1",
            extranonce2: "00000000",
            ntime: &ntime,
            nonce: &nonce_hex,
            version_bits: None,
        };
        validate_share(Some(black_box(&job)), &submission, &miner, &hasher, |key| {
            job.record_share(key)
        })
        .expect("every share is valid at this difficulty")
    });
}
