//! Proof-of-work algorithms and the arithmetic of work for nomp-rs.
//!
//! - [`Algorithm`]: the algorithms by NOMP's names, each with NOMP's share multiplier,
//!   difficulty-1 target and hashrate factor, so difficulty and hashrate figures match NOMP's.
//! - [`PowHasher`]: hashes an 80-byte block header with a coin's algorithm and options.
//! - [`Target`], [`Difficulty`], [`PowHash`]: 256-bit targets (to and from compact `bits`),
//!   share difficulty, and hashes in internal byte order. Comparisons are exact integers: a
//!   hash exactly at the target meets it.
//!
//! ```
//! use hashing::{Algorithm, Difficulty, HashOptions, PowHasher, Target};
//!
//! // Bitcoin block 125552.
//! let header = hex::decode(concat!(
//!     "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000",
//!     "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b",
//!     "c7f5d74df2b9441a42a14695",
//! )).unwrap();
//! let hasher = PowHasher::new(Algorithm::Sha256d, &HashOptions::default()).unwrap();
//! let hash = hasher.hash(&header).unwrap();
//! assert_eq!(
//!     hash.to_string(),
//!     "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"
//! );
//! let network = Target::from_compact(0x1a44b9f2).unwrap();
//! assert!(network.is_met_by(&hash));
//! let share = Difficulty::new(1024.0).unwrap().target(Algorithm::Sha256d);
//! assert!(share.is_met_by(&hash));
//! ```
//!
//! # Algorithms
//!
//! Supported: `sha256` (sha256d), `scrypt`, `scrypt-n`, `keccak`, `blake2s`, `groestl`,
//! `skein` and, with the default `x11` feature (which builds the reference C code and needs
//! clang), `x11`. Each is checked against real mainnet block headers in `tests/vectors.rs`,
//! except `blake2s`, pinned to the RFC 7693 BLAKE2s-256 vector until a real block header of a
//! blake2s chain is at hand.
//!
//! Missing NOMP algorithms, and why: `quark` (BMW-512 has no maintained Rust crate),
//! `qubit`, `x13`, `x15`, `x16r`, `c11`, `fugue`, `shavite3`, `hefty1`, `blake`
//! (stages without maintained Rust crates, and no C wrapper beyond X11's), `scrypt-jane`
//! and `neoscrypt` (no maintained crate), `nist5` (its parts exist, but no real block was at
//! hand to test it against), `sha1` (no coin in use), `scrypt-og` (configure `scrypt` with
//! `nValue` 64 instead). Asking for one gives [`HashingError::UnsupportedAlgorithm`] with the
//! reason.

mod algorithm;
mod difficulty;
mod error;
mod pow;
mod scrypt_n;
mod target;

pub use algorithm::Algorithm;
pub use difficulty::Difficulty;
pub use error::HashingError;
pub use pow::{HashOptions, PowHasher};
pub use ruint::aliases::U256;
pub use scrypt_n::NFactorTable;
pub use target::{PowHash, Target};
