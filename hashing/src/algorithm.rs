use std::fmt;
use std::str::FromStr;

use crate::error::HashingError;
use crate::target::Target;

/// A proof-of-work algorithm, named as NOMP's coin files name it.
///
/// Each algorithm carries NOMP's share *multiplier*: share difficulty is
/// `diff1 ÷ hash × multiplier`, with `diff1` the Bitcoin difficulty-1 target
/// `0x00000000ffff0000…`. The multiplier is always a power of two, so the
/// algorithm's own difficulty-1 target ([`Algorithm::diff1`]) is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Double SHA-256 (NOMP: `sha256`). Bitcoin, Bitcoin Cash, Bitcoin SV.
    Sha256d,
    /// Scrypt, N=1024, r=1, p=1 unless the coin says otherwise (NOMP: `scrypt`). Litecoin, Dogecoin.
    Scrypt,
    /// Scrypt with N taken from a time table (NOMP: `scrypt-n`). Vertcoin before 2014-12.
    ScryptN,
    /// Original Keccak-256 (pre-SHA-3 padding), hashed once (NOMP: `keccak`). MaxCoin, SmartCash.
    Keccak,
    /// BLAKE2s-256 (NOMP forks: `blake2s`). Verge's blake2s blocks.
    Blake2s,
    /// Grøstl-512 twice, first 32 bytes (NOMP: `groestl`). Groestlcoin.
    Groestl,
    /// SHA-256 of Skein-512 (NOMP: `skein`). Skeincoin.
    Skein,
    /// The eleven-stage X11 chain (NOMP: `x11`). Dash.
    #[cfg(feature = "x11")]
    X11,
}

/// NOMP algorithm names that nomp-rs does not hash, and why.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("quark", "its BMW-512 stage has no maintained Rust crate"),
    (
        "nist5",
        "no real mainnet block is at hand to test it against",
    ),
    (
        "qubit",
        "Luffa, SHAvite-3, SIMD and ECHO have no maintained Rust crate",
    ),
    ("x13", "Hamsi and Fugue have no maintained Rust crate"),
    (
        "x15",
        "Hamsi, Fugue, Shabal and Whirlpool have no maintained Rust crate",
    ),
    (
        "x16r",
        "most of its sixteen stages have no maintained Rust crate",
    ),
    (
        "c11",
        "the X11 crate exposes only the X11 order of its stages",
    ),
    (
        "scrypt-jane",
        "no maintained Rust crate implements scrypt-jane",
    ),
    (
        "scrypt-og",
        "use algorithm \"scrypt\" with \"nValue\": 64 instead",
    ),
    ("neoscrypt", "no maintained Rust crate implements NeoScrypt"),
    (
        "blake",
        "BLAKE-256 (8 and 14 rounds) has no maintained Rust crate",
    ),
    ("fugue", "Fugue has no maintained Rust crate"),
    ("shavite3", "SHAvite-3 has no maintained Rust crate"),
    ("hefty1", "HEFTY1 has no maintained Rust crate"),
    ("sha1", "no coin in use mines SHA-1"),
];

impl Algorithm {
    /// Every algorithm this build can hash.
    pub const ALL: &'static [Algorithm] = &[
        Algorithm::Sha256d,
        Algorithm::Scrypt,
        Algorithm::ScryptN,
        Algorithm::Keccak,
        Algorithm::Blake2s,
        Algorithm::Groestl,
        Algorithm::Skein,
        #[cfg(feature = "x11")]
        Algorithm::X11,
    ];

    /// NOMP's name of the algorithm, as written in `coins/*.json`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256d => "sha256",
            Algorithm::Scrypt => "scrypt",
            Algorithm::ScryptN => "scrypt-n",
            Algorithm::Keccak => "keccak",
            Algorithm::Blake2s => "blake2s",
            Algorithm::Groestl => "groestl",
            Algorithm::Skein => "skein",
            #[cfg(feature = "x11")]
            Algorithm::X11 => "x11",
        }
    }

    /// log2 of NOMP's share multiplier for this algorithm.
    pub fn multiplier_log2(self) -> u32 {
        match self {
            Algorithm::Scrypt | Algorithm::ScryptN => 16,
            Algorithm::Keccak | Algorithm::Blake2s | Algorithm::Groestl => 8,
            Algorithm::Sha256d | Algorithm::Skein => 0,
            #[cfg(feature = "x11")]
            Algorithm::X11 => 0,
        }
    }

    /// NOMP's share multiplier: 1 for sha256, 2^16 for the scrypt family, 2^8 for keccak.
    pub fn multiplier(self) -> f64 {
        f64::from(1u32 << self.multiplier_log2())
    }

    /// The target of a difficulty-1 share: `0xffff · 2^208 · multiplier`.
    pub fn diff1(self) -> Target {
        Target::diff1_shifted(self.multiplier_log2())
    }

    /// Hashes per unit of share difficulty: `2^32 ÷ multiplier`, as NOMP's stats use it.
    ///
    /// Hashrate in H/s = this × (sum of valid share difficulties) ÷ window seconds.
    pub fn hashes_per_difficulty(self) -> f64 {
        2f64.powi(32 - self.multiplier_log2() as i32)
    }

    /// Whether one hash is costly enough (memory-hard) to run off the async reactor.
    pub fn is_memory_hard(self) -> bool {
        matches!(self, Algorithm::Scrypt | Algorithm::ScryptN)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = HashingError;

    /// Looks an algorithm up by NOMP's name (case-insensitive; `sha256d` is taken for `sha256`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let wanted = name.trim().to_ascii_lowercase();
        if wanted == "sha256d" {
            return Ok(Algorithm::Sha256d);
        }
        if let Some(found) = Algorithm::ALL.iter().find(|a| a.name() == wanted) {
            return Ok(*found);
        }
        if let Some((_, reason)) = UNSUPPORTED.iter().find(|(n, _)| *n == wanted) {
            return Err(HashingError::UnsupportedAlgorithm {
                name: wanted,
                reason,
            });
        }
        #[cfg(not(feature = "x11"))]
        if wanted == "x11" {
            return Err(HashingError::UnsupportedAlgorithm {
                name: wanted,
                reason: "this build of the hashing crate has the \"x11\" feature off",
            });
        }
        Err(HashingError::UnknownAlgorithm {
            name: name.to_owned(),
            known: Algorithm::ALL
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_is_found_by_its_nomp_name() {
        for algo in Algorithm::ALL {
            assert_eq!(algo.name().parse::<Algorithm>(), Ok(*algo));
        }
        assert_eq!("SHA256D".parse::<Algorithm>(), Ok(Algorithm::Sha256d));
    }

    #[test]
    fn unsupported_nomp_algorithm_says_why() {
        let err = "quark".parse::<Algorithm>().unwrap_err();
        assert!(err.to_string().contains("BMW-512"), "{err}");
    }

    #[test]
    fn unknown_algorithm_lists_the_known_ones() {
        let err = "sha257".parse::<Algorithm>().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("sha257") && text.contains("scrypt-n"),
            "{text}"
        );
    }

    #[test]
    fn multipliers_match_nomp() {
        assert_eq!(Algorithm::Sha256d.multiplier(), 1.0);
        assert_eq!(Algorithm::Scrypt.multiplier(), 65536.0);
        assert_eq!(Algorithm::ScryptN.multiplier(), 65536.0);
        assert_eq!(Algorithm::Keccak.multiplier(), 256.0);
        assert_eq!(Algorithm::Groestl.multiplier(), 256.0);
        assert_eq!(Algorithm::Skein.multiplier(), 1.0);
    }

    #[test]
    fn diff1_targets_match_nomp() {
        assert_eq!(
            Algorithm::Sha256d.diff1().to_string(),
            "00000000ffff0000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(
            Algorithm::Scrypt.diff1().to_string(),
            "0000ffff00000000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(
            Algorithm::Keccak.diff1().to_string(),
            "000000ffff000000000000000000000000000000000000000000000000000000"
        );
    }

    #[test]
    fn hashrate_factor_is_two_to_the_32_over_multiplier() {
        assert_eq!(Algorithm::Sha256d.hashes_per_difficulty(), 4_294_967_296.0);
        assert_eq!(Algorithm::Scrypt.hashes_per_difficulty(), 65_536.0);
    }
}
