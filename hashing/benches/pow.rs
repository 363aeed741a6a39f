//! Time to hash one 80-byte block header with each algorithm.
//!
//! `cargo bench -p hashing --bench pow`

use divan::{Bencher, black_box};
use hashing::{Algorithm, Difficulty, HashOptions, PowHasher, Target};

fn main() {
    divan::main();
}

/// Bitcoin block 125552's header: a real 80-byte input for every algorithm.
const HEADER: &str = concat!(
    "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000",
    "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b",
    "c7f5d74df2b9441a42a14695",
);

fn header() -> Vec<u8> {
    hex::decode(HEADER).expect("constant is hex")
}

#[divan::bench(args = Algorithm::ALL)]
fn hash_header(bencher: Bencher, algorithm: &Algorithm) {
    let hasher = PowHasher::new(*algorithm, &HashOptions::default()).expect("default options");
    let header = header();
    bencher.bench_local(|| hasher.hash(black_box(&header)));
}

/// scrypt of `LANES` headers in one call: divide by the count for the cost per hash.
#[divan::bench(args = [Algorithm::Scrypt, Algorithm::ScryptOg, Algorithm::ScryptN])]
fn hash_lanes_of_headers(bencher: Bencher, algorithm: &Algorithm) {
    let hasher = PowHasher::new(*algorithm, &HashOptions::default()).expect("default options");
    let headers: Vec<Vec<u8>> = (0..PowHasher::LANES as u8)
        .map(|i| {
            let mut header = header();
            header[79] ^= i;
            header
        })
        .collect();
    let slices: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
    bencher.bench_local(|| hasher.hash_many(black_box(&slices)));
}

#[divan::bench]
fn target_from_difficulty(bencher: Bencher) {
    let difficulty = Difficulty::new(1234.5678).expect("valid");
    bencher.bench_local(|| Target::from_difficulty(black_box(difficulty), Algorithm::Scrypt));
}

#[divan::bench]
fn difficulty_of_hash(bencher: Bencher) {
    let hasher = PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).expect("default");
    let hash = hasher.hash(&header()).expect("80 bytes");
    bencher.bench_local(|| Difficulty::of_hash(black_box(&hash), Algorithm::Sha256d));
}

/// The `scrypt` crate's own scrypt (N = 1024, r = 1) of the same header: the reference the
/// pool's ROMix is measured against.
#[divan::bench]
fn scrypt_crate(bencher: Bencher) {
    let params = scrypt::Params::new(10, 1, 1).expect("valid parameters");
    let header = header();
    bencher.bench_local(|| {
        let mut out = [0u8; 32];
        scrypt::scrypt(black_box(&header), &header, &params, &mut out).expect("32 bytes out");
        out
    });
}
