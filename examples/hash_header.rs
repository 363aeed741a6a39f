//! Hashes a block header with a proof-of-work algorithm and prints the hash, the share
//! difficulty it reaches, and whether it meets the target in its own `bits`.
//!
//! `cargo run -p nomp-examples --example hash_header -- <algorithm> <header hex>`

#![allow(
    clippy::print_stdout,
    reason = "a command-line example reports on stdout"
)]

use std::process::ExitCode;

use hashing::{Algorithm, Difficulty, HashOptions, PowHasher, Target};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [algorithm, header] = args.as_slice() else {
        eprintln!("usage: hash_header <algorithm> <header hex>");
        return ExitCode::from(2);
    };
    match run(algorithm, header) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("hash_header: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(algorithm: &str, header_hex: &str) -> Result<String, String> {
    let algorithm: Algorithm = algorithm.parse().map_err(|e| format!("{e}"))?;
    let header = hex::decode(header_hex.trim()).map_err(|e| format!("header is not hex: {e}"))?;
    let hasher = PowHasher::new(algorithm, &HashOptions::default()).map_err(|e| e.to_string())?;
    let hash = hasher.hash(&header).map_err(|e| e.to_string())?;
    let bits = u32::from_le_bytes([header[72], header[73], header[74], header[75]]);
    let target = Target::from_compact(bits).map_err(|e| e.to_string())?;
    Ok(format!(
        "hash        {hash}\nshare diff  {}\nbits        {bits:08x} (network difficulty {})\nmeets bits  {}",
        Difficulty::of_hash(&hash, algorithm),
        target.difficulty(algorithm),
        target.is_met_by(&hash),
    ))
}
