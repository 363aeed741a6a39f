use std::fmt;
use std::str::FromStr;

use ruint::aliases::{U256, U512};

use crate::algorithm::Algorithm;
use crate::difficulty::Difficulty;
use crate::error::HashingError;
use crate::ids::PowHash;

impl PowHash {
    /// The hash as the 256-bit number that is compared with a target.
    pub fn to_u256(&self) -> U256 {
        U256::from_le_bytes(*self.as_internal())
    }
}

pub(crate) fn parse_hex256(text: &str) -> Result<[u8; 32], HashingError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| HashingError::InvalidHex256 {
        text: text.to_owned(),
    })?;
    Ok(bytes)
}

/// A 256-bit proof-of-work target: a hash meets it when `hash ≤ target`.
///
/// Displayed and parsed as 64 big-endian hex characters, the form of the
/// `target` field of `getblocktemplate`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(U256);

impl Target {
    /// The largest target: every hash meets it.
    pub const MAX: Target = Target(U256::MAX);

    /// Wraps a 256-bit number.
    pub const fn from_u256(value: U256) -> Self {
        Target(value)
    }

    /// The target as a number.
    pub const fn to_u256(self) -> U256 {
        self.0
    }

    /// `0xffff · 2^(208 + shift)`: the difficulty-1 target scaled by a power-of-two multiplier.
    pub(crate) fn diff1_shifted(shift: u32) -> Self {
        Target(U256::from(0xffffu64) << (208 + shift as usize))
    }

    /// Decodes compact `bits` (the header's nBits) as Bitcoin Core's `SetCompact` does.
    ///
    /// Fails for a negative encoding (sign bit with a non-zero mantissa) and for one
    /// that does not fit in 256 bits. A zero mantissa is the zero target.
    pub fn from_compact(bits: u32) -> Result<Self, HashingError> {
        let exponent = bits >> 24;
        let mantissa = bits & 0x007f_ffff;
        if mantissa != 0 && bits & 0x0080_0000 != 0 {
            return Err(HashingError::NegativeCompact { bits });
        }
        if mantissa != 0
            && (exponent > 34
                || (mantissa > 0xff && exponent > 33)
                || (mantissa > 0xffff && exponent > 32))
        {
            return Err(HashingError::CompactOverflow { bits });
        }
        let value = if exponent <= 3 {
            U256::from(mantissa >> (8 * (3 - exponent)))
        } else {
            U256::from(mantissa) << (8 * (exponent as usize - 3))
        };
        Ok(Target(value))
    }

    /// Encodes the target as compact `bits` (Bitcoin Core's `GetCompact`): the three most
    /// significant bytes are kept, the rest is truncated.
    pub fn to_compact(self) -> u32 {
        let mut size = self.0.bit_len().div_ceil(8) as u32;
        let mut compact = if size <= 3 {
            (self.0.as_limbs()[0] << (8 * (3 - size))) as u32
        } else {
            (self.0 >> (8 * (size as usize - 3))).as_limbs()[0] as u32
        };
        // The mantissa is signed: move a set top bit into one more exponent byte.
        if compact & 0x0080_0000 != 0 {
            compact >>= 8;
            size += 1;
        }
        compact | (size << 24)
    }

    /// The target that a share of difficulty `difficulty` must meet for `algorithm`:
    /// `floor(diff1 ÷ difficulty)`, computed exactly from the float's binary value.
    ///
    /// Because hashes are integers, `hash ≤ from_difficulty(d)` holds exactly when the
    /// hash's difficulty is at least `d`; there is no rounding at the boundary. Saturates
    /// at [`Target::MAX`] for difficulties too small to express.
    pub fn from_difficulty(difficulty: Difficulty, algorithm: Algorithm) -> Self {
        let (mantissa, exponent) = decompose(difficulty.get());
        // diff1 · 2^-exponent ÷ mantissa, with diff1 = 0xffff · 2^(208 + shift).
        let shift = 208 + i64::from(algorithm.multiplier_log2()) - exponent;
        let diff1_mantissa = U512::from(0xffffu64);
        let quotient = if shift >= 0 {
            if shift > 490 {
                return Target::MAX;
            }
            (diff1_mantissa << shift as usize) / U512::from(mantissa)
        } else {
            let divisor_shift = -shift;
            if divisor_shift > 450 {
                return Target(U256::ZERO);
            }
            diff1_mantissa / (U512::from(mantissa) << divisor_shift as usize)
        };
        if quotient.bit_len() > 256 {
            Target::MAX
        } else {
            Target(U256::from_limbs_slice(&quotient.as_limbs()[..4]))
        }
    }

    /// The share difficulty of this target for `algorithm`: `diff1 ÷ target`.
    ///
    /// A zero target is treated as one (the hardest possible target).
    pub fn difficulty(self, algorithm: Algorithm) -> Difficulty {
        ratio(algorithm.diff1().0, self.0.max(U256::from(1u64)))
    }

    /// Whether `hash` meets this target (`hash ≤ target`; a hash equal to it counts).
    pub fn is_met_by(&self, hash: &PowHash) -> bool {
        hash.to_u256() <= self.0
    }
}

/// `numerator ÷ denominator` as a difficulty, to within one unit in the last place.
pub(crate) fn ratio(numerator: U256, denominator: U256) -> Difficulty {
    // Scale by 2^128 so the integer quotient keeps ≥ 53 significant bits for any
    // denominator up to 2^256.
    let scaled = (U512::from(numerator) << 128) / U512::from(denominator);
    Difficulty::saturating(f64::from(scaled) / 2f64.powi(128))
}

/// Splits a positive finite float into `mantissa · 2^exponent` with an integer mantissa.
fn decompose(value: f64) -> (u64, i64) {
    let bits = value.to_bits();
    let raw_exponent = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    if raw_exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), raw_exponent - 1075)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.to_be_bytes::<32>()))
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

impl FromStr for Target {
    type Err = HashingError;

    /// Parses 64 big-endian hex characters (the `target` field of `getblocktemplate`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Target(U256::from_be_bytes(parse_hex256(text)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_bits_decode_to_the_difficulty_one_target() {
        let target = Target::from_compact(0x1d00ffff).unwrap();
        assert_eq!(target, Algorithm::Sha256d.diff1());
        assert_eq!(target.difficulty(Algorithm::Sha256d).get(), 1.0);
        assert_eq!(target.to_compact(), 0x1d00ffff);
    }

    #[test]
    fn regtest_bits_match_the_template_target() {
        // The regtest chain's getblocktemplate gives bits 207fffff with this target.
        let target = Target::from_compact(0x207fffff).unwrap();
        assert_eq!(
            target,
            "7fffff0000000000000000000000000000000000000000000000000000000000"
                .parse()
                .unwrap()
        );
    }

    #[test]
    fn compact_sign_bit_and_overflow_are_rejected() {
        assert_eq!(
            Target::from_compact(0x04923456),
            Err(HashingError::NegativeCompact { bits: 0x04923456 })
        );
        assert_eq!(
            Target::from_compact(0xff123456),
            Err(HashingError::CompactOverflow { bits: 0xff123456 })
        );
        assert_eq!(
            Target::from_compact(0x01003456).unwrap().to_u256(),
            U256::ZERO
        );
    }

    #[test]
    fn compact_with_high_mantissa_bit_moves_to_next_exponent() {
        let target = Target::from_u256(U256::from(0x80u64));
        assert_eq!(target.to_compact(), 0x02008000);
        assert_eq!(Target::from_compact(0x02008000).unwrap(), target);
    }

    #[test]
    fn hash_exactly_at_target_is_accepted_and_one_above_is_not() {
        let target = Target::from_difficulty(Difficulty::new(1.0).unwrap(), Algorithm::Sha256d);
        let at = PowHash::from_internal(target.to_u256().to_le_bytes());
        let above = PowHash::from_internal((target.to_u256() + U256::from(1u64)).to_le_bytes());
        assert!(target.is_met_by(&at));
        assert!(!target.is_met_by(&above));
    }

    #[test]
    fn tiny_and_huge_difficulties_saturate() {
        let tiny = Difficulty::new(f64::MIN_POSITIVE).unwrap();
        assert_eq!(
            Target::from_difficulty(tiny, Algorithm::Sha256d),
            Target::MAX
        );
        let huge = Difficulty::new(f64::MAX).unwrap();
        assert_eq!(
            Target::from_difficulty(huge, Algorithm::Sha256d).to_u256(),
            U256::ZERO
        );
    }

    #[test]
    fn hash_display_is_byte_reversed() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        let hash = PowHash::from_internal(bytes);
        assert!(hash.to_string().ends_with("ab"));
        assert_eq!(hash.to_string().parse::<PowHash>().unwrap(), hash);
    }
}
