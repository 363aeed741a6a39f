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
//! All of NOMP's but one: `sha256` (sha256d), `scrypt`, `scrypt-og`, `scrypt-n`,
//! `scrypt-jane`, `neoscrypt`, `sha1`, `keccak`, `blake`, `blake2s`, `groestl`, `skein`,
//! `fugue`, `shavite3`, `quark`, `qubit`, `nist5`, `x11`, `c11`, `x13`, `x15`, `x16r` and
//! `x16rv2`. The SHA-2, SHA-1, SHA-3/Keccak, BLAKE2, Grøstl, Skein, JH, Shabal, Whirlpool,
//! Tiger and AES building blocks come from RustCrypto crates; the stages no maintained crate
//! provides (BLAKE-512 and -256, BMW, CubeHash, ECHO, Fugue, Hamsi, Luffa, SHAvite-3, SIMD)
//! and the scrypt-jane and NeoScrypt constructions are written here in Rust, in `stages/`,
//! `scrypt_jane.rs` and `neoscrypt.rs`, from their specifications.
//!
//! Tests: `tests/vectors.rs` hashes real mainnet block headers of a coin using each
//! algorithm (pow hash, block id and the header's own `bits`), except `blake2s`, `scrypt-og`,
//! `qubit`, `shavite3` and `x15`, whose reasons are listed there; `tests/multi_hashing.rs`
//! checks 18 algorithms against the published vectors of node-multi-hashing (the C library
//! node-stratum-pool hashes with): all but blake2s and the scrypt family, which it has none
//! for but scrypt-jane's, whose N depends on a time those inputs lack.
//!
//! `hefty1` is refused with [`HashingError::UnsupportedAlgorithm`] and the reason: NOMP's
//! hefty1 hashes an 80-byte header, while Heavycoin's chain hashes 84 bytes, so no chain
//! accepts its work.

mod algorithm;
mod chain;
mod cores;
mod difficulty;
mod error;
mod ids;
mod neoscrypt;
mod pow;
mod romix;
mod scrypt_jane;
mod scrypt_n;
mod sha1coin;
mod stages;
mod target;

pub use algorithm::Algorithm;
pub use difficulty::Difficulty;
pub use error::HashingError;
pub use ids::{BlockHash, CompactTarget, PowHash, Txid};
pub use pow::{HashOptions, PowHasher};
pub use ruint::aliases::U256;
pub use scrypt_n::NFactorTable;
pub use target::Target;
