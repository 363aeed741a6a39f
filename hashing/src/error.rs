use thiserror::Error;

/// Everything that can go wrong in this crate.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum HashingError {
    /// The algorithm name is not one nomp-rs knows.
    #[error("unknown algorithm \"{name}\"; known algorithms: {known}")]
    UnknownAlgorithm {
        /// The name that was asked for.
        name: String,
        /// The names that would have been accepted, comma separated.
        known: String,
    },
    /// The algorithm is one of NOMP's, but nomp-rs cannot hash it.
    #[error("algorithm \"{name}\" is not supported: {reason}")]
    UnsupportedAlgorithm {
        /// NOMP's name of the algorithm.
        name: String,
        /// Why it is missing.
        reason: &'static str,
    },
    /// Compact `bits` with the sign bit set encode a negative target.
    #[error("compact bits {bits:#010x} encode a negative target")]
    NegativeCompact {
        /// The offending value.
        bits: u32,
    },
    /// Compact `bits` whose exponent pushes the mantissa past 256 bits.
    #[error("compact bits {bits:#010x} encode a target wider than 256 bits")]
    CompactOverflow {
        /// The offending value.
        bits: u32,
    },
    /// A difficulty must be a positive, finite number.
    #[error("difficulty {value} is not a positive finite number")]
    InvalidDifficulty {
        /// The rejected value.
        value: f64,
    },
    /// Compact bits that are not 8 hex digits.
    #[error("\"{text}\" is not compact bits (8 hex digits)")]
    InvalidCompact {
        /// The rejected text.
        text: String,
    },
    /// Hex text that is not 32 bytes of hex.
    #[error("\"{text}\" is not 64 hex characters")]
    InvalidHex256 {
        /// The rejected text.
        text: String,
    },
    /// Scrypt parameters the scrypt crate refuses.
    #[error("invalid scrypt parameters N={n}, r={r}: N must be a power of two of at least 2")]
    InvalidScryptParams {
        /// The N (cost) parameter.
        n: u64,
        /// The r (block size) parameter.
        r: u32,
    },
    /// scrypt-jane N factor bounds out of order or too large.
    #[error("scrypt-jane N factors {min} to {max}: need nMin at most nMax, and nMax at most 30")]
    InvalidNFactors {
        /// The smallest N factor.
        min: u8,
        /// The largest N factor.
        max: u8,
    },
    /// A scrypt-n time table with no entries.
    #[error("the scrypt-n time table is empty")]
    EmptyTimeTable,
    /// A header too short to hold the fields a hash needs.
    #[error("block header is {len} bytes; at least 80 are needed")]
    ShortHeader {
        /// The length received.
        len: usize,
    },
}
