//! The `nomp` binary.
//!
//! It will load NOMP configuration files and run every enabled pool in one process. For now
//! it answers `--version` and `algorithms`, the proof-of-work algorithms this build hashes.

use std::io::{self, Write};
use std::process::ExitCode;

use hashing::Algorithm;

const USAGE: &str = "usage: nomp [--version | algorithms]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = io::stdout().lock();
    let written = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--version"] => writeln!(out, "nomp {}", env!("CARGO_PKG_VERSION")),
        ["algorithms"] => write_algorithms(&mut out),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nomp: cannot write to standard output: {err}");
            ExitCode::FAILURE
        }
    }
}

/// One line per algorithm: NOMP name, share multiplier, hashes per unit of difficulty.
fn write_algorithms(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<10} {:>10} {:>14}",
        "algorithm", "multiplier", "hashes/diff"
    )?;
    for algo in Algorithm::ALL {
        writeln!(
            out,
            "{:<10} {:>10} {:>14}",
            algo.name(),
            algo.multiplier(),
            algo.hashes_per_difficulty()
        )?;
    }
    Ok(())
}
