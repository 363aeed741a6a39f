//! Property tests of the target and difficulty arithmetic.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on a bad fixture"
)]

use hashing::{Algorithm, Difficulty, PowHash, Target, U256};
use proptest::prelude::*;
use ruint::aliases::U512;

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

fn difficulty() -> impl Strategy<Value = Difficulty> {
    (1e-9f64..1e15).prop_map(|d| Difficulty::new(d).unwrap())
}

/// 256-bit numbers of every magnitude (a uniform draw would almost always be near 2^256).
fn u256() -> impl Strategy<Value = U256> {
    (any::<[u8; 32]>(), 0usize..256).prop_map(|(bytes, shift)| U256::from_le_bytes(bytes) >> shift)
}

/// `hash · difficulty ≤ diff1`, decided exactly with the float's binary value.
fn meets_exactly(hash: U256, difficulty: f64, algorithm: Algorithm) -> bool {
    let bits = difficulty.to_bits();
    let (mantissa, exponent) = (
        bits & ((1 << 52) - 1) | (1 << 52),
        ((bits >> 52) & 0x7ff) as i64 - 1075,
    );
    let diff1 = U512::from(algorithm.diff1().to_u256());
    let product = U512::from(hash) * U512::from(mantissa);
    if exponent >= 0 {
        product
            .checked_shl(exponent as usize)
            .is_some_and(|p| p <= diff1)
    } else {
        // hash·m·2^e ≤ diff1  ⇔  hash·m ≤ diff1·2^-e
        diff1
            .checked_shl((-exponent) as usize)
            .is_none_or(|d| product <= d)
    }
}

proptest! {
    #[test]
    fn normalized_compact_bits_round_trip(exponent in 4u32..=32, mantissa in 0x8000u32..=0x7f_ffff) {
        let bits = (exponent << 24) | mantissa;
        prop_assert_eq!(Target::from_compact(bits).unwrap().to_compact(), bits);
    }

    #[test]
    fn compact_encoding_truncates_to_three_bytes(value in u256()) {
        let target = Target::from_u256(value);
        let back = Target::from_compact(target.to_compact()).unwrap();
        prop_assert!(back <= target);
        // Only bits below the three most significant bytes may be lost.
        let lost = target.to_u256() - back.to_u256();
        prop_assert!(lost.bit_len() + 16 <= value.bit_len().max(24));
    }

    #[test]
    fn difficulty_to_target_and_back_is_stable(d in difficulty(), algo in algorithm()) {
        let back = Target::from_difficulty(d, algo).difficulty(algo).get();
        prop_assert!((back / d.get() - 1.0).abs() < 1e-12, "{} -> {}", d.get(), back);
    }

    #[test]
    fn share_target_boundary_is_exact(hash in u256(), d in difficulty(), algo in algorithm()) {
        let target = Target::from_difficulty(d, algo);
        let pow_hash = PowHash::from_internal(hash.to_le_bytes());
        prop_assert_eq!(target.is_met_by(&pow_hash), meets_exactly(hash, d.get(), algo));
    }

    #[test]
    fn hash_at_the_share_target_meets_it_and_the_next_does_not(d in difficulty(), algo in algorithm()) {
        let target = Target::from_difficulty(d, algo).to_u256();
        prop_assume!(target < U256::MAX);
        prop_assert!(meets_exactly(target, d.get(), algo));
        prop_assert!(!meets_exactly(target + U256::from(1u64), d.get(), algo));
    }

    #[test]
    fn harder_difficulty_never_gives_an_easier_target(a in difficulty(), b in difficulty(), algo in algorithm()) {
        let (low, high) = if a.get() <= b.get() { (a, b) } else { (b, a) };
        prop_assert!(Target::from_difficulty(low, algo) >= Target::from_difficulty(high, algo));
    }

    #[test]
    fn achieved_difficulty_matches_the_targets_it_meets(hash in u256(), algo in algorithm()) {
        let pow_hash = PowHash::from_internal(hash.to_le_bytes());
        let achieved = Difficulty::of_hash(&pow_hash, algo);
        // A share of exactly the achieved difficulty meets its target, up to float rounding.
        let slightly_easier = Difficulty::new(achieved.get() * (1.0 - 1e-12)).unwrap();
        prop_assert!(slightly_easier.target(algo).is_met_by(&pow_hash));
        let slightly_harder = Difficulty::new(achieved.get() * (1.0 + 1e-12)).unwrap();
        prop_assert!(hash.is_zero() || !slightly_harder.target(algo).is_met_by(&pow_hash));
    }
}
