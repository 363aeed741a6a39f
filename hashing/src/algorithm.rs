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
    /// Scrypt with N = 64 unless the coin says otherwise (NOMP: `scrypt-og`). Aiden.
    ScryptOg,
    /// Scrypt with N taken from a time table (NOMP: `scrypt-n`). Vertcoin before 2014-12.
    ScryptN,
    /// scrypt-jane: ChaCha20/8 and Keccak-512, N growing with the block time (NOMP:
    /// `scrypt-jane`). YACoin.
    ScryptJane,
    /// NeoScrypt (NOMP: `neoscrypt`). Feathercoin, Phoenixcoin, GoByte.
    Neoscrypt,
    /// Sha1coin's SHA-1 over the base64 of a SHA-1 (NOMP: `sha1`). Sha1coin.
    Sha1,
    /// Original Keccak-256 (pre-SHA-3 padding), hashed once (NOMP: `keccak`). MaxCoin, SmartCash.
    Keccak,
    /// BLAKE-256 with 8 rounds (NOMP: `blake`). Blakecoin.
    Blake,
    /// BLAKE2s-256 (NOMP forks: `blake2s`). Verge's blake2s blocks.
    Blake2s,
    /// Grøstl-512 twice, first 32 bytes (NOMP: `groestl`). Groestlcoin.
    Groestl,
    /// SHA-256 of Skein-512 (NOMP: `skein`). Skeincoin.
    Skein,
    /// Fugue-256 (NOMP: `fugue`). Fuguecoin.
    Fugue,
    /// SHAvite-3-512 twice (NOMP: `shavite3`). INKcoin.
    Shavite3,
    /// Quark's nine stages, three of them data-dependent (NOMP: `quark`). Quarkcoin.
    Quark,
    /// Qubit: Luffa, CubeHash, SHAvite-3, SIMD, ECHO (NOMP: `qubit`). Qubitcoin.
    Qubit,
    /// NIST5: BLAKE, Grøstl, JH, Keccak, Skein (NOMP: `nist5`). Talkcoin.
    Nist5,
    /// The eleven-stage X11 chain (NOMP: `x11`). Dash.
    X11,
    /// X11's stages with JH and Keccak before Skein (NOMP: `c11`). Chaincoin.
    C11,
    /// X11, Hamsi and Fugue (NOMP: `x13`).
    X13,
    /// X13, Shabal and Whirlpool (NOMP: `x15`).
    X15,
    /// Sixteen stages in an order set by the previous block's hash (NOMP: `x16r`). Ravencoin
    /// until 2019-10.
    X16r,
    /// X16R with Tiger before its Keccak, Luffa and SHA-512 stages (NOMP forks: `x16rv2`).
    /// Ravencoin from 2019-10 to 2020-05.
    X16rv2,
}

/// NOMP algorithm names that nomp-rs does not hash, and why.
const UNSUPPORTED: &[(&str, &str)] = &[(
    "hefty1",
    "no chain mines NOMP's hefty1: Heavycoin hashes an 84-byte header (with nVote and \
     nReward, which node-stratum-pool never builds) and combines its four digests from their \
     most significant bits, where node-multi-hashing takes them from their first bytes, so \
     shares of NOMP's hefty1 are not Heavycoin work",
)];

impl Algorithm {
    /// Every algorithm this build can hash.
    pub const ALL: &'static [Algorithm] = &[
        Algorithm::Sha256d,
        Algorithm::Scrypt,
        Algorithm::ScryptOg,
        Algorithm::ScryptN,
        Algorithm::ScryptJane,
        Algorithm::Neoscrypt,
        Algorithm::Sha1,
        Algorithm::Keccak,
        Algorithm::Blake,
        Algorithm::Blake2s,
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
    ];

    /// NOMP's name of the algorithm, as written in `coins/*.json`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256d => "sha256",
            Algorithm::Scrypt => "scrypt",
            Algorithm::ScryptOg => "scrypt-og",
            Algorithm::ScryptN => "scrypt-n",
            Algorithm::ScryptJane => "scrypt-jane",
            Algorithm::Neoscrypt => "neoscrypt",
            Algorithm::Sha1 => "sha1",
            Algorithm::Keccak => "keccak",
            Algorithm::Blake => "blake",
            Algorithm::Blake2s => "blake2s",
            Algorithm::Groestl => "groestl",
            Algorithm::Skein => "skein",
            Algorithm::Fugue => "fugue",
            Algorithm::Shavite3 => "shavite3",
            Algorithm::Quark => "quark",
            Algorithm::Qubit => "qubit",
            Algorithm::Nist5 => "nist5",
            Algorithm::X11 => "x11",
            Algorithm::C11 => "c11",
            Algorithm::X13 => "x13",
            Algorithm::X15 => "x15",
            Algorithm::X16r => "x16r",
            Algorithm::X16rv2 => "x16rv2",
        }
    }

    /// log2 of NOMP's share multiplier for this algorithm.
    pub fn multiplier_log2(self) -> u32 {
        match self {
            Algorithm::Scrypt
            | Algorithm::ScryptOg
            | Algorithm::ScryptN
            | Algorithm::ScryptJane => 16,
            Algorithm::Keccak
            | Algorithm::Blake
            | Algorithm::Blake2s
            | Algorithm::Groestl
            | Algorithm::Fugue
            | Algorithm::X16r
            | Algorithm::X16rv2 => 8,
            Algorithm::Neoscrypt => 5,
            Algorithm::Sha256d
            | Algorithm::Sha1
            | Algorithm::Skein
            | Algorithm::Shavite3
            | Algorithm::Quark
            | Algorithm::Qubit
            | Algorithm::Nist5
            | Algorithm::X11
            | Algorithm::C11
            | Algorithm::X13
            | Algorithm::X15 => 0,
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
        matches!(
            self,
            Algorithm::Scrypt
                | Algorithm::ScryptOg
                | Algorithm::ScryptN
                | Algorithm::ScryptJane
                | Algorithm::Neoscrypt
        )
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
        let err = "hefty1".parse::<Algorithm>().unwrap_err();
        assert!(err.to_string().contains("84-byte header"), "{err}");
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
        assert_eq!(Algorithm::ScryptOg.multiplier(), 65536.0);
        assert_eq!(Algorithm::ScryptJane.multiplier(), 65536.0);
        assert_eq!(Algorithm::Neoscrypt.multiplier(), 32.0);
        for eight in [Algorithm::Blake, Algorithm::Fugue, Algorithm::X16r] {
            assert_eq!(eight.multiplier(), 256.0, "{eight:?}");
        }
        for one in [
            Algorithm::Sha1,
            Algorithm::Shavite3,
            Algorithm::Quark,
            Algorithm::Qubit,
            Algorithm::Nist5,
            Algorithm::X11,
            Algorithm::C11,
            Algorithm::X13,
            Algorithm::X15,
        ] {
            assert_eq!(one.multiplier(), 1.0, "{one:?}");
        }
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
