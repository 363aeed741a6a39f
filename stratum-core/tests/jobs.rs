//! Jobs rebuilt against a real mainnet block, and the coinbases jobs build.

#![allow(clippy::unwrap_used, reason = "a test should fail loudly")]

use coin_daemon::{BlockTemplate, CoinbaseAux, Payee, TemplateTransaction};
use hashing::{Algorithm, BlockHash, Difficulty, HashOptions, PowHash, PowHasher, Txid};
use serde_json::Value;
use stratum_core::{
    AddressFormat, CoinbaseOptions, Extranonce, Job, JobId, MinerState, Reject, RewardRecipient,
    Submission, merkle_branch, merkle_root, output_script, validate_share,
};

fn sha256d(data: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(Sha256::digest(data)).into()
}

/// A parsed transaction: the input scripts and the (value, script) outputs.
type Parsed = (Vec<Vec<u8>>, Vec<(u64, Vec<u8>)>);

/// Minimal reader of legacy (non-witness) transactions, enough to split a block.
struct Reader<'a>(&'a [u8], usize);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let out = &self.0[self.1..self.1 + n];
        self.1 += n;
        out
    }
    fn varint(&mut self) -> u64 {
        match self.take(1)[0] {
            0xfd => u64::from(u16::from_le_bytes(self.take(2).try_into().unwrap())),
            0xfe => u64::from(u32::from_le_bytes(self.take(4).try_into().unwrap())),
            0xff => u64::from_le_bytes(self.take(8).try_into().unwrap()),
            n => u64::from(n),
        }
    }
    /// Reads one transaction; returns (inputs' scripts, outputs).
    fn transaction(&mut self) -> Parsed {
        self.take(4);
        let inputs = (0..self.varint())
            .map(|_| {
                self.take(36);
                let len = self.varint() as usize;
                let script = self.take(len).to_vec();
                self.take(4);
                script
            })
            .collect();
        let outputs = (0..self.varint())
            .map(|_| {
                let value = u64::from_le_bytes(self.take(8).try_into().unwrap());
                let len = self.varint() as usize;
                (value, self.take(len).to_vec())
            })
            .collect();
        self.take(4);
        (inputs, outputs)
    }
}

fn block_100000() -> Vec<u8> {
    let text = include_str!("data/bitcoin_block_100000.hex");
    hex::decode(text.lines().find(|l| !l.starts_with('#')).unwrap()).unwrap()
}

/// Splits a block into its header and transactions.
fn split_block(block: &[u8]) -> ([u8; 80], Vec<Vec<u8>>) {
    let mut reader = Reader(block, 80);
    let count = reader.varint();
    let txs = (0..count)
        .map(|_| {
            let start = reader.1;
            reader.transaction();
            block[start..reader.1].to_vec()
        })
        .collect();
    (block[..80].try_into().unwrap(), txs)
}

fn template(transactions: Vec<TemplateTransaction>) -> BlockTemplate {
    BlockTemplate {
        version: 1,
        previous_block_hash: "000000000002d01c1fccc21636b607dfd930d31d01c3a62104612a1719011250"
            .parse()
            .unwrap(),
        transactions,
        coinbase_value: 5_000_000_000,
        bits: "1b04864c".parse().unwrap(),
        target: "0000000000004864c000000000000000000000000000000000000000000000000".into(),
        height: 100_000,
        cur_time: 1_293_623_863,
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

fn options(pool_address: &str) -> CoinbaseOptions {
    CoinbaseOptions {
        pool_script: output_script(pool_address, &AddressFormat::bitcoin()).unwrap(),
        recipients: Vec::new(),
        signature: b"/nomp-rs/".to_vec(),
        proof_of_stake: false,
        tx_message: None,
        address_format: AddressFormat::bitcoin(),
    }
}

#[test]
fn block_100000_is_rebuilt_exactly_from_its_template_data() {
    let block = block_100000();
    let (header, txs) = split_block(&block);
    let txids: Vec<[u8; 32]> = txs.iter().map(|tx| sha256d(tx)).collect();
    assert_eq!(
        PowHash::from_internal(txids[0]).to_string(),
        "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87"
    );

    // The merkle branch of the coinbase folds to the block's merkle root.
    let root = merkle_root(&txids[0], &merkle_branch(&txids[1..]));
    assert_eq!(
        PowHash::from_internal(root).to_string(),
        "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"
    );

    // A job from the template data, given the block's own coinbase, nonce and time,
    // yields the block's header, hash and bytes.
    let others = txs[1..]
        .iter()
        .map(|tx| TemplateTransaction {
            data: hex::encode(tx),
            txid: None,
            hash: None,
            fee: None,
        })
        .collect();
    let job = Job::new(
        JobId(1),
        &template(others),
        &options("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        true,
        1_293_623_863,
    )
    .unwrap();
    let hasher = hashing::PowHasher::new(hashing::Algorithm::Sha256d, &Default::default()).unwrap();
    let rebuilt = job.header(&hasher, &txs[0], 1_293_623_863, 274_148_111, 1);
    assert_eq!(rebuilt, header);
    assert_eq!(
        PowHash::from_internal(sha256d(&rebuilt)).to_string(),
        "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506"
    );
    assert!(
        job.network_target
            .is_met_by(&PowHash::from_internal(sha256d(&rebuilt)))
    );
    assert_eq!(job.block(&rebuilt, &txs[0]), Some(block));

    // A miner sees only the notify params. Assembled as cgminer-family miners do (the
    // fields' hex concatenated, then every 4-byte word byte-swapped), they give the same
    // header, so the prevhash and version byte orders are the ones real miners expect.
    let notify: Value = serde_json::from_str(job.notify_line()).unwrap();
    let params = &notify["params"];
    let field = |i: usize| params[i].as_str().unwrap().to_owned();
    let mut root = sha256d(&txs[0]);
    for step in params[4].as_array().unwrap() {
        let step = hex::decode(step.as_str().unwrap()).unwrap();
        root = sha256d(&[&root[..], &step].concat());
    }
    let word_swapped_root: String = root
        .chunks(4)
        .map(|w| hex::encode(w.iter().rev().copied().collect::<Vec<u8>>()))
        .collect();
    let getwork = hex::decode(format!(
        "{}{}{}{:08x}{}{:08x}",
        field(5),
        field(1),
        word_swapped_root,
        1_293_623_863u32,
        field(6),
        274_148_111u32
    ))
    .unwrap();
    let from_notify: Vec<u8> = getwork
        .chunks(4)
        .flat_map(|w| w.iter().rev().copied().collect::<Vec<u8>>())
        .collect();
    assert_eq!(from_notify, header);
    assert!(field(1).ends_with("00000000"), "{}", field(1));
}

#[test]
fn job_coinbase_pays_pool_payees_and_recipients_and_commits_witnesses() {
    let mut template = template(Vec::new());
    template.height = 227_836;
    template.coinbase_aux.flags = "062f503253482f".into();
    template.payee = Some("3P14159f73E4gFr7JterCCQh9QjiTjiZrG".into());
    template.payee_amount = Some(1_000_000_000);
    template.masternode = vec![Payee {
        payee: None,
        script: Some("51".into()),
        amount: 7,
    }];
    template.default_witness_commitment = Some(format!("6a24aa21a9ed{}", "ab".repeat(32)));
    let mut options = options("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
    let fee_script = output_script(
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        &AddressFormat::bitcoin(),
    )
    .unwrap();
    options.recipients = vec![RewardRecipient {
        script: fee_script.clone(),
        percent: 1.5,
    }];

    let job = Job::new(JobId(2), &template, &options, true, 1_700_000_000).unwrap();
    let coinbase = job.coinbase(&[1, 2, 3, 4], &[5, 6, 7, 8]);
    let (inputs, outputs) = Reader(&coinbase, 0).transaction();

    let script = &inputs[0];
    assert_eq!(
        &script[..4],
        &[0x03, 0xfc, 0x79, 0x03],
        "BIP34 height 227836 first"
    );
    assert_eq!(
        &script[4..11],
        hex::decode("062f503253482f").unwrap().as_slice(),
        "then the flags"
    );
    assert!(
        script.windows(9).any(|w| w == [8, 1, 2, 3, 4, 5, 6, 7, 8]),
        "an 8-byte extranonce push"
    );
    assert!(script.ends_with(b"\x09/nomp-rs/"), "and the signature last");

    let rest = 5_000_000_000 - 1_000_000_000 - 7;
    let fee = rest * 15 / 1000;
    assert_eq!(
        outputs[0],
        (rest - fee, options.pool_script.clone()),
        "pool first, with the remainder"
    );
    assert_eq!(outputs[1].0, 1_000_000_000);
    assert_eq!(
        hex::encode(&outputs[1].1),
        "a914e9c3dd0c07aac76179ebc76a6c78d4d67c6c160a87"
    );
    assert_eq!(outputs[2], (7, vec![0x51]));
    assert_eq!(outputs[3], (fee, fee_script));
    assert_eq!(outputs[4].0, 0);
    assert!(hex::encode(&outputs[4].1).starts_with("6a24aa21a9ed"));
    assert_eq!(outputs.iter().map(|(v, _)| v).sum::<u64>(), 5_000_000_000);

    // In the block, the coinbase carries the witness reserved value; its txid does not.
    let header = job.header(&sha256_hasher(), &coinbase, 1_700_000_000, 0, 1);
    let block = job.block(&header, &coinbase).unwrap();
    assert_eq!(
        &block[81..87],
        &[1, 0, 0, 0, 0x00, 0x01],
        "segwit marker and flag"
    );
    assert_eq!(block.len(), 81 + coinbase.len() + 2 + 34);
}

#[test]
fn proof_of_stake_and_message_coinbases_have_their_extra_fields() {
    let template = template(Vec::new());
    let mut options = options("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
    options.proof_of_stake = true;
    options.tx_message = Some("hello".into());
    let job = Job::new(JobId(3), &template, &options, false, 1).unwrap();
    let coinbase = job.coinbase(&[0; 4], &[0; 4]);
    assert_eq!(
        &coinbase[..4],
        &2u32.to_le_bytes(),
        "message coins use version 2"
    );
    assert_eq!(
        &coinbase[4..8],
        &1_293_623_863u32.to_le_bytes(),
        "POS time follows the version"
    );
    assert!(coinbase.ends_with(b"\x05hello"));
    assert!(!job.notify().clean);
    assert_eq!(job.notify().job_id, "3");
}

#[test]
fn recipients_over_the_whole_reward_are_refused() {
    let mut options = options("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
    options.recipients = vec![
        RewardRecipient {
            script: vec![0x51],
            percent: 60.0,
        },
        RewardRecipient {
            script: vec![0x52],
            percent: 41.0,
        },
    ];
    let error = Job::new(JobId(4), &template(Vec::new()), &options, true, 1).unwrap_err();
    assert!(error.to_string().contains("101%"), "{error}");
}

fn sha256_hasher() -> PowHasher {
    PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).unwrap()
}

fn job_with_bits(bits: &str) -> Job {
    let mut template = template(Vec::new());
    template.bits = bits.parse().unwrap();
    Job::new(
        JobId(9),
        &template,
        &options("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        true,
        1_293_623_863,
    )
    .unwrap()
}

fn miner(difficulty: f64) -> MinerState {
    MinerState {
        extranonce1: Extranonce::from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]).unwrap(),
        difficulty: Difficulty::new(difficulty).unwrap(),
        previous_difficulty: None,
        version_mask: 0x1fff_e000,
        now: 1_293_623_900,
    }
}

fn submission<'a>(nonce: &'a str) -> Submission<'a> {
    Submission {
        job_id: "9",
        extranonce2: "00000001",
        ntime: "4d1b2237",
        nonce,
        version_bits: None,
    }
}

#[test]
fn the_check_keeps_no_state_the_caller_decides_what_was_seen() {
    let job = job_with_bits("1b04864c");
    let hasher = sha256_hasher();
    let easy = miner(1e-12);
    let share = submission("00000001");
    let mut keys = Vec::new();
    for _ in 0..2 {
        let checked = validate_share(Some(&job), &share, &easy, &hasher, |key| {
            keys.push(key);
            true
        });
        assert!(
            checked.is_ok(),
            "the same share twice is new to a caller that says so"
        );
    }
    assert_eq!(keys[0], keys[1], "one share, one key");
    assert_eq!(
        validate_share(Some(&job), &share, &easy, &hasher, |_| false),
        Err(Reject::Duplicate)
    );
    // The job's own record is what the server passes.
    assert!(job.record_share(keys[0].clone()));
    assert!(!job.record_share(keys[0].clone()));
}

#[test]
fn malformed_and_repeated_submissions_are_refused_with_their_reason() {
    let job = job_with_bits("1b04864c");
    let hasher = sha256_hasher();
    let easy = miner(1e-12);
    let check = |s: Submission<'_>| {
        validate_share(Some(&job), &s, &easy, &hasher, |key| job.record_share(key))
    };

    assert_eq!(
        validate_share(None, &submission("00000000"), &easy, &hasher, |_| true),
        Err(Reject::JobNotFound)
    );
    assert_eq!(
        check(Submission {
            extranonce2: "0001",
            ..submission("00000000")
        }),
        Err(Reject::Extranonce2Size)
    );
    assert_eq!(
        check(Submission {
            extranonce2: "0000000g",
            ..submission("00000000")
        }),
        Err(Reject::Extranonce2Size)
    );
    assert_eq!(
        check(Submission {
            ntime: "4d1b22",
            ..submission("00000000")
        }),
        Err(Reject::NtimeSize)
    );
    // Before the template's time, and more than two hours after the submit time.
    assert_eq!(
        check(Submission {
            ntime: "4d1b2236",
            ..submission("00000000")
        }),
        Err(Reject::NtimeOutOfRange)
    );
    let late = format!("{:08x}", 1_293_623_900 + 7201);
    assert_eq!(
        check(Submission {
            ntime: &late,
            ..submission("00000000")
        }),
        Err(Reject::NtimeOutOfRange)
    );
    assert_eq!(check(submission("0000")), Err(Reject::NonceSize));
    assert_eq!(
        check(Submission {
            version_bits: Some("00000001"),
            ..submission("00000000")
        }),
        Err(Reject::VersionBits)
    );

    let valid = check(submission("00000001")).unwrap();
    assert!(
        valid.block.is_none(),
        "bits 1b04864c are far harder than a random hash"
    );
    assert_eq!(check(submission("00000001")), Err(Reject::Duplicate));
    // Rolled version bits inside the mask make a different share.
    assert!(
        check(Submission {
            version_bits: Some("00002000"),
            ..submission("00000001")
        })
        .is_ok()
    );
}

#[test]
fn share_below_the_miners_difficulty_is_low_unless_the_previous_one_applies() {
    let job = job_with_bits("1b04864c");
    let hasher = sha256_hasher();
    let hard = miner(1e15);
    let Err(Reject::LowDifficulty { share_difficulty }) =
        validate_share(Some(&job), &submission("00000002"), &hard, &hasher, |key| {
            job.record_share(key)
        })
    else {
        panic!("a random hash cannot reach difficulty 1e15");
    };
    assert!(share_difficulty > 0.0 && share_difficulty < 1e15);

    // Retargeted after this job was sent: the previous, easier difficulty still counts.
    let retargeted = MinerState {
        previous_difficulty: Some((Difficulty::new(1e-12).unwrap(), JobId(10))),
        ..hard
    };
    let share = validate_share(
        Some(&job),
        &submission("00000003"),
        &retargeted,
        &hasher,
        |key| job.record_share(key),
    )
    .unwrap();
    assert_eq!(share.difficulty.get(), 1e-12);
    // For jobs sent after the retarget it does not.
    let later = MinerState {
        previous_difficulty: Some((Difficulty::new(1e-12).unwrap(), JobId(9))),
        ..hard
    };
    assert!(matches!(
        validate_share(
            Some(&job),
            &submission("00000004"),
            &later,
            &hasher,
            |key| job.record_share(key)
        ),
        Err(Reject::LowDifficulty { .. })
    ));
}

#[test]
fn share_meeting_the_network_target_is_a_block_candidate() {
    // Regtest bits: about half of all hashes are blocks.
    let job = job_with_bits("207fffff");
    let hasher = sha256_hasher();
    let candidate = (0u32..64)
        .find_map(|n| {
            validate_share(
                Some(&job),
                &submission(&format!("{n:08x}")),
                &miner(1.0),
                &hasher,
                |key| job.record_share(key),
            )
            .ok()?
            .block
        })
        .expect("some nonce of 64 meets a 1-in-2 target");
    let header = hex::decode(&candidate.block_hex.unwrap()[..160]).unwrap();
    assert_eq!(BlockHash::from_internal(sha256d(&header)), candidate.hash);
    assert_eq!(candidate.height, 100_000);
    let coinbase = job.coinbase(&[0xaa, 0xbb, 0xcc, 0xdd], &[0, 0, 0, 1]);
    assert_eq!(
        Txid::from_internal(sha256d(&coinbase)),
        candidate.coinbase_txid
    );
}

/// What a real miner of each algorithm computes from a job's notify params alone: its
/// coinbase hash (one SHA-256 for keccak and groestl coins, as cpuminer-opt and sgminer
/// hash them), the merkle root, the header, and the proof-of-work hash (internal order).
fn miner_hashes(
    job: &Job,
    algorithm: Algorithm,
    extranonce: &[u8],
    ntime: u32,
    nonce: u32,
) -> ([u8; 32], Vec<u8>) {
    use sha2::{Digest, Sha256};
    let notify: Value = serde_json::from_str(job.notify_line()).unwrap();
    let params = &notify["params"];
    let field = |i: usize| hex::decode(params[i].as_str().unwrap()).unwrap();
    let coinbase = [field(2), extranonce.to_vec(), field(3)].concat();
    let mut root: [u8; 32] = match algorithm {
        Algorithm::Keccak | Algorithm::Groestl => Sha256::digest(&coinbase).into(),
        _ => sha256d(&coinbase),
    };
    for step in params[4].as_array().unwrap() {
        let step = hex::decode(step.as_str().unwrap()).unwrap();
        root = sha256d(&[&root[..], &step].concat());
    }
    // Version, prevhash and bits as cgminer-family miners turn them into header bytes.
    let swap = |bytes: Vec<u8>| -> Vec<u8> {
        bytes
            .chunks(4)
            .flat_map(|w| w.iter().rev().copied().collect::<Vec<u8>>())
            .collect()
    };
    let header = [
        swap(field(5)),
        swap(field(1)),
        root.to_vec(),
        ntime.to_le_bytes().to_vec(),
        swap(field(6)),
        nonce.to_le_bytes().to_vec(),
    ]
    .concat();
    let pow: [u8; 32] = match algorithm {
        Algorithm::Keccak => sha3::Keccak256::digest(&header).into(),
        Algorithm::Groestl => {
            let twice = groestl::Groestl512::digest(groestl::Groestl512::digest(&header));
            twice[..32].try_into().unwrap()
        }
        Algorithm::ScryptN => {
            // Vertcoin's miners: N = 2048 from 2014-01-10 (the coin's own table).
            let mut out = [0u8; 32];
            let params = scrypt::Params::new(11, 1, 1).unwrap();
            scrypt::scrypt(&header, &header, &params, &mut out).unwrap();
            out
        }
        other => panic!("no miner for {other}"),
    };
    (pow, header)
}

#[test]
fn keccak_groestl_and_scrypt_n_shares_built_as_miners_build_them_make_blocks_the_chain_accepts() {
    // A coin whose own timeTable keeps N at 2048 (Vertcoin's first step, 2014-01-10), on a
    // pool started in 2027: NOMP's default table would make that pool use N = 8192.
    let start = 1_800_000_000;
    let own_table = hashing::NFactorTable::new(vec![(2048, 1_389_306_217)]).unwrap();
    let scrypt_n = HashOptions {
        time_table: Some(own_table),
        ..HashOptions::default()
    };
    let other_tx = TemplateTransaction {
        data: "01000000000100000000000000000000000000".into(),
        txid: Some("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b".into()),
        hash: None,
        fee: Some(0),
    };
    for (algorithm, hash_options) in [
        (Algorithm::Keccak, HashOptions::default()),
        (Algorithm::Groestl, HashOptions::default()),
        (Algorithm::ScryptN, scrypt_n),
    ] {
        let mut template = template(vec![other_tx.clone()]);
        template.bits = "207fffff".parse().unwrap();
        template.cur_time = start;
        let job = Job::new(
            JobId(9),
            &template,
            &options("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            true,
            start,
        )
        .unwrap();
        let hasher = PowHasher::new_at(algorithm, &hash_options, start.into()).unwrap();
        let state = MinerState {
            now: start + 100,
            ..miner(1e-9)
        };
        let extranonce = [state.extranonce1.as_bytes(), &[0, 0, 0, 1][..]].concat();
        let ntime = start + 50;
        let (nonce, pow, header) = (0u32..64)
            .find_map(|nonce| {
                let (pow, header) = miner_hashes(&job, algorithm, &extranonce, ntime, nonce);
                let hash = PowHash::from_internal(pow);
                job.network_target
                    .is_met_by(&hash)
                    .then_some((nonce, hash, header))
            })
            .expect("a 1-in-2 target is met within 64 nonces");
        let submitted = validate_share(
            Some(&job),
            &Submission {
                job_id: "9",
                extranonce2: "00000001",
                ntime: &format!("{ntime:08x}"),
                nonce: &format!("{nonce:08x}"),
                version_bits: None,
            },
            &state,
            &hasher,
            |key| job.record_share(key),
        )
        .unwrap_or_else(|e| panic!("{algorithm}: the miner's share is refused: {e:?}"));
        assert_eq!(
            submitted.share_difficulty,
            Difficulty::of_hash(&pow, algorithm),
            "{algorithm}: the pool hashed the header the miner hashed"
        );
        if algorithm == Algorithm::ScryptN {
            let default_table =
                PowHasher::new_at(algorithm, &HashOptions::default(), start.into()).unwrap();
            assert_ne!(
                default_table.hash(&header).unwrap(),
                pow,
                "N = 8192 differs"
            );
        }
        let block = submitted.block.expect("it meets the network target");
        let block_bytes = hex::decode(block.block_hex.unwrap()).unwrap();
        assert_eq!(&block_bytes[..80], &header[..], "{algorithm}");
        // The chain checks the header's root against its transactions: the coinbase's
        // txid by the coin's own rule, the other transaction's txid as the daemon gave it.
        let (_, txs) = split_block(&block_bytes);
        let coinbase_txid = hasher.coinbase_hash(&txs[0]);
        let other = hex::decode(other_tx.txid.as_ref().unwrap())
            .unwrap()
            .into_iter()
            .rev()
            .collect::<Vec<u8>>();
        let root = merkle_root(&coinbase_txid, &merkle_branch(&[other.try_into().unwrap()]));
        assert_eq!(
            &block_bytes[36..68],
            &root[..],
            "{algorithm}: bad-txnmrklroot"
        );
        assert_eq!(
            block.coinbase_txid,
            Txid::from_internal(coinbase_txid),
            "{algorithm}"
        );
    }
}
