//! Proof-of-work hashes of real mainnet block headers (tests/data/mainnet_headers.txt).

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on a bad fixture"
)]

use hashing::{Algorithm, Difficulty, HashOptions, PowHash, PowHasher, Target};
use sha2::{Digest, Sha256};

struct Vector {
    algorithm: Algorithm,
    chain: String,
    height: u64,
    /// The chain's own name for the block.
    block_id: PowHash,
    pow_hash: PowHash,
    header: Vec<u8>,
    proof_of_stake: bool,
}

fn vectors() -> Vec<Vector> {
    include_str!("data/mainnet_headers.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (fixed, options) = fields.split_at(fields.len().min(6));
            let [algorithm, chain, height, block_id, pow_hash, header] = fixed[..] else {
                panic!("malformed vector line: {line}");
            };
            let proof_of_stake = match options {
                [] => false,
                ["reward=POS"] => true,
                _ => panic!("unknown options in: {line}"),
            };
            let pow_hash: PowHash = pow_hash.parse().unwrap();
            Vector {
                algorithm: algorithm.parse().unwrap(),
                chain: chain.to_owned(),
                height: height.parse().unwrap(),
                block_id: if block_id == "pow" {
                    pow_hash
                } else {
                    block_id.parse().unwrap()
                },
                pow_hash,
                header: hex::decode(header).unwrap(),
                proof_of_stake,
            }
        })
        .collect()
}

fn bits_of(header: &[u8]) -> u32 {
    u32::from_le_bytes(header[72..76].try_into().unwrap())
}

/// Algorithms without a mainnet header here, and why each is still pinned: every stage of
/// their chains is one of a mainnet-verified chain's stages, and tests/multi_hashing.rs checks
/// the chains themselves against node-multi-hashing's published vectors.
const WITHOUT_MAINNET_VECTOR: [(Algorithm, &str); 5] = [
    (
        Algorithm::Blake2s,
        "RFC 7693's BLAKE2s-256 (blake2s_is_rfc_7693_blake2s_256)",
    ),
    (
        Algorithm::ScryptOg,
        "scrypt with N = 64; Litecoin's scrypt with its own N",
    ),
    (
        Algorithm::Qubit,
        "luffa, cubehash, shavite, simd and echo of x11 (Dash)",
    ),
    (Algorithm::Shavite3, "shavite of x11 (Dash), applied twice"),
    (
        Algorithm::X15,
        "x13 (Stratis) then shabal and whirlpool of x16r (Ravencoin)",
    ),
];

fn hasher_for(vector: &Vector) -> PowHasher {
    let options = HashOptions {
        proof_of_stake: vector.proof_of_stake,
        ..HashOptions::default()
    };
    // A pool started when the block was found: scrypt-n fixes its N at start.
    let time = u64::from(u32::from_le_bytes(
        vector.header[68..72].try_into().unwrap(),
    ));
    PowHasher::new_at(vector.algorithm, &options, time).unwrap()
}

#[test]
fn every_supported_algorithm_hashes_real_mainnet_headers() {
    let vectors = vectors();
    for algorithm in Algorithm::ALL {
        let covered = vectors.iter().any(|v| v.algorithm == *algorithm);
        let excused = WITHOUT_MAINNET_VECTOR.iter().any(|(a, _)| a == algorithm);
        assert!(
            covered != excused,
            "{algorithm}: a mainnet vector, or a reason it has none, but not both"
        );
    }
    for vector in &vectors {
        let name = format!("{} block {}", vector.chain, vector.height);
        assert_eq!(vector.header.len(), 80, "{name}");
        let hasher = hasher_for(vector);
        let hash = hasher.hash(&vector.header).unwrap();
        assert_eq!(hash, vector.pow_hash, "{name}");
        assert_eq!(
            hasher.block_id(&vector.header, &hash),
            vector.block_id,
            "{name}: the id blocks are submitted and tracked under"
        );
        let network = Target::from_compact(bits_of(&vector.header)).unwrap();
        assert!(
            network.is_met_by(&hash),
            "{name} does not meet its own bits"
        );
    }
}

#[test]
fn hashing_several_headers_at_once_gives_each_its_own_hash() {
    for vector in vectors() {
        let name = format!("{} block {}", vector.chain, vector.height);
        let hasher = hasher_for(&vector);
        // The real header, then others with other nonces: more than one pass takes, so a
        // lone header is left for a second pass.
        let headers: Vec<Vec<u8>> = (0..=PowHasher::LANES as u8)
            .map(|i| {
                let mut header = vector.header.clone();
                header[76] ^= i;
                header
            })
            .collect();
        let slices: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
        let hashes = hasher.hash_many(&slices).unwrap();
        assert_eq!(hashes[0], vector.pow_hash, "{name}");
        for (header, hash) in headers.iter().zip(&hashes) {
            assert_eq!(*hash, hasher.hash(header).unwrap(), "{name}");
        }
    }
}

#[test]
fn blocks_not_named_by_their_proof_of_work_are_named_by_the_header_sha256d() {
    let vectors = vectors();
    let renamed: Vec<&Vector> = vectors
        .iter()
        .filter(|v| v.block_id != v.pow_hash)
        .collect();
    assert!(
        renamed.len() >= 3,
        "litecoin, vertcoin and sha1coin at least"
    );
    for vector in renamed {
        let sha256d = PowHash::from_internal(Sha256::digest(Sha256::digest(&vector.header)).into());
        assert_eq!(sha256d, vector.block_id, "{}", vector.chain);
    }
    // Without reward "POS" a scrypt-jane pool names blocks as a proof-of-work scrypt coin
    // does, by the sha256d, which is not YACoin's name for its genesis.
    let yacoin = vectors.iter().find(|v| v.chain == "yacoin").unwrap();
    let proof_of_work = PowHasher::new(Algorithm::ScryptJane, &HashOptions::default()).unwrap();
    let id = proof_of_work.block_id(&yacoin.header, &yacoin.pow_hash);
    assert_ne!(id, yacoin.block_id);
    assert_eq!(
        id,
        PowHash::from_internal(Sha256::digest(Sha256::digest(&yacoin.header)).into())
    );
}

/// Real mainnet coinbases (tests/data/mainnet_coinbases.txt): the coin's coinbase hasher
/// turns each into its block's merkle root (a one-transaction block), and that root is the
/// one in the block's header.
#[test]
fn coinbases_hash_to_their_blocks_merkle_roots_with_each_coins_hasher() {
    let headers = vectors();
    let lines = include_str!("data/mainnet_coinbases.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty());
    let mut seen = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [algorithm, chain, height, root, coinbase] = fields[..] else {
            panic!("malformed coinbase line: {line}");
        };
        let algorithm: Algorithm = algorithm.parse().unwrap();
        let header = &headers
            .iter()
            .find(|v| v.chain == chain && v.height.to_string() == height)
            .unwrap_or_else(|| panic!("no header for {chain} {height}"))
            .header;
        let hasher = PowHasher::new(algorithm, &HashOptions::default()).unwrap();
        let mut hash = hasher.coinbase_hash(&hex::decode(coinbase).unwrap());
        assert_eq!(
            &header[36..68],
            hash,
            "{chain} {height}: the header's merkle root"
        );
        hash.reverse();
        assert_eq!(hex::encode(hash), root, "{chain} {height}");
        seen.push(algorithm);
    }
    for single in [Algorithm::Keccak, Algorithm::Groestl] {
        assert!(seen.contains(&single), "no coinbase vector for {single}");
    }
}

#[test]
fn scrypt_n_uses_the_n_in_force_at_the_header_time() {
    let vertcoin = vectors()
        .into_iter()
        .find(|v| v.chain == "vertcoin")
        .unwrap();
    // The genesis (2014-01-10) is after the 2048 activation and before 4096's: N = 2048.
    // Plain scrypt (N = 1024) must not reproduce its hash.
    let scrypt = PowHasher::new(Algorithm::Scrypt, &HashOptions::default()).unwrap();
    assert_ne!(scrypt.hash(&vertcoin.header).unwrap(), vertcoin.pow_hash);
    let n2048 = HashOptions {
        scrypt_n: Some(2048),
        ..HashOptions::default()
    };
    let scrypt_2048 = PowHasher::new(Algorithm::Scrypt, &n2048).unwrap();
    assert_eq!(
        scrypt_2048.hash(&vertcoin.header).unwrap(),
        vertcoin.pow_hash
    );
}

#[test]
fn bits_decode_to_the_published_network_difficulty() {
    // Bitcoin block 125552: bits 1a44b9f2, difficulty 244112.48777434 as bitcoind reports it.
    let btc = Target::from_compact(0x1a44b9f2).unwrap();
    let difficulty = btc.difficulty(Algorithm::Sha256d).get();
    assert!(
        (difficulty - 244_112.487_774_34).abs() < 1e-6,
        "{difficulty}"
    );
    assert_eq!(btc.to_compact(), 0x1a44b9f2);

    // Litecoin block 29255: bits 1d018ea7. Daemons report difficulty on Bitcoin's scale
    // (0xffff / 0x018ea7); NOMP's scrypt share scale is 2^16 times that.
    let ltc = Target::from_compact(0x1d018ea7).unwrap();
    let daemon_scale = 65535.0 / f64::from(0x018ea7);
    let sha_scale = ltc.difficulty(Algorithm::Sha256d).get();
    assert!(
        (sha_scale / daemon_scale - 1.0).abs() < 1e-15,
        "{sha_scale} vs {daemon_scale}"
    );
    let share_scale = ltc.difficulty(Algorithm::Scrypt).get();
    assert!(
        (share_scale / (daemon_scale * 65536.0) - 1.0).abs() < 1e-15,
        "{share_scale}"
    );
}

#[test]
fn block_hash_difficulty_is_diff1_over_hash() {
    let vectors = vectors();
    let btc = vectors.iter().find(|v| v.height == 125552).unwrap();
    let achieved = Difficulty::of_hash(&btc.pow_hash, Algorithm::Sha256d).get();
    // 0xffff·2^208 / 0x1e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d, computed with floats.
    let expected = 65535.0 * 2f64.powi(208) / 7.491_419_484_733_922e56_f64;
    assert!(
        (achieved / expected - 1.0).abs() < 1e-9,
        "{achieved} vs {expected}"
    );
    // It exceeds the block's network difficulty, as a valid block must.
    assert!(achieved > 244_112.487_774_34);
}

#[test]
fn blake2s_is_rfc_7693_blake2s_256() {
    // RFC 7693, Appendix B: BLAKE2s-256("abc"). The hasher wants a whole header, so the
    // same digest is checked on an 80-byte input against the crate's one-shot digest too.
    use blake2::{Blake2s256, Digest as _};
    assert_eq!(
        hex::encode(Blake2s256::digest(b"abc")),
        "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"
    );
    let header = &vectors()[1].header;
    let hasher = PowHasher::new(Algorithm::Blake2s, &HashOptions::default()).unwrap();
    let mut expected: [u8; 32] = Blake2s256::digest(header).into();
    expected.reverse();
    assert_eq!(
        hasher.hash(header).unwrap().to_string(),
        hex::encode(expected)
    );
}
