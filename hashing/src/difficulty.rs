use std::fmt;

use ruint::aliases::U256;

use crate::algorithm::Algorithm;
use crate::error::HashingError;
use crate::ids::PowHash;
use crate::target::{Target, ratio};

/// A share or network difficulty in NOMP's units: a positive, finite number,
/// fractional values allowed (vardiff goes below 1 on slow miners).
///
/// Difficulty 1 is a hash at the algorithm's [`Algorithm::diff1`] target.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub struct Difficulty(f64);

impl Difficulty {
    /// Difficulty 1.
    pub const ONE: Difficulty = Difficulty(1.0);

    /// Validates a difficulty: it must be positive and finite.
    pub fn new(value: f64) -> Result<Self, HashingError> {
        if value.is_finite() && value > 0.0 {
            Ok(Difficulty(value))
        } else {
            Err(HashingError::InvalidDifficulty { value })
        }
    }

    /// Clamps a computed ratio into the valid range instead of failing.
    pub(crate) fn saturating(value: f64) -> Self {
        Difficulty(value.clamp(f64::MIN_POSITIVE, f64::MAX))
    }

    /// The difficulty as a number.
    pub const fn get(self) -> f64 {
        self.0
    }

    /// The difficulty a hash achieved for `algorithm`: `diff1 ÷ hash`, NOMP's share
    /// difficulty. A zero hash is treated as one.
    pub fn of_hash(hash: &PowHash, algorithm: Algorithm) -> Self {
        ratio(
            algorithm.diff1().to_u256(),
            hash.to_u256().max(U256::from(1u64)),
        )
    }

    /// The target a hash must meet to reach this difficulty for `algorithm`.
    pub fn target(self, algorithm: Algorithm) -> Target {
        Target::from_difficulty(self, algorithm)
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Difficulty({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_negative_and_non_finite_difficulties_are_rejected() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Difficulty::new(bad).is_err(), "{bad}");
        }
        assert_eq!(Difficulty::new(0.5).unwrap().get(), 0.5);
    }

    #[test]
    fn scrypt_share_difficulty_uses_the_multiplier() {
        // A hash equal to the Bitcoin diff1 target is difficulty 1 for sha256 and
        // 1/65536 for scrypt, whose diff1 is 2^16 times easier.
        let hash = PowHash::from_internal(Algorithm::Sha256d.diff1().to_u256().to_le_bytes());
        assert_eq!(Difficulty::of_hash(&hash, Algorithm::Sha256d).get(), 1.0);
        assert_eq!(Difficulty::of_hash(&hash, Algorithm::Scrypt).get(), 65536.0);
    }
}
