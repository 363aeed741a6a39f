//! How a round's reward is split among its workers: pure integer arithmetic in satoshis.

use std::collections::BTreeMap;

use coin_daemon::Amount;
use ruint::aliases::U256;

/// A pool's payout scheme.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Scheme {
    /// NOMP's proportional scheme: each worker gets the round's reward in proportion to the
    /// difficulty of its valid shares in that round.
    #[default]
    Prop,
    /// Pay per last N shares: the reward is split over the last `window` of valid share
    /// difficulty before the block, whatever round it fell in. Shares are read from the
    /// store's hashrate samples, so those must be kept at least that far back.
    Pplns {
        /// N, as summed share difficulty (e.g. twice the network difficulty in share units).
        window: f64,
    },
    /// The finder of the block gets the whole reward.
    Solo,
}

/// The address a worker is paid at: the part of its name before the first `.`
/// (`address.rig` → `address`), as NOMP does.
pub fn address_of(worker: &str) -> &str {
    worker.split('.').next().unwrap_or(worker)
}

/// Splits `reward` among the addresses of `shares` (worker → summed share difficulty) in
/// proportion to their difficulty, each share floored to the satoshi.
///
/// The arithmetic is exact: each difficulty (an `f64`, so `m·2^e`) becomes an integer on
/// a common binary scale and the split is 256-bit integer division, so shares of 40 and 60
/// get exactly 40 % and 60 %. Only a worker below 2^-150 of the largest worker's
/// difficulty is truncated on that scale.
///
/// Rounding: the floors never add up to more than `reward`; the few satoshis left over
/// (fewer than the number of addresses) are not credited to anyone and stay in the pool's
/// wallet. Workers with zero, negative or non-finite totals get nothing; with no
/// creditable shares at all the whole reward stays with the pool.
pub fn prop_split(reward: Amount, shares: &BTreeMap<String, f64>) -> BTreeMap<String, Amount> {
    let parts: Vec<(&str, u64, i32)> = shares
        .iter()
        .filter(|(_, d)| d.is_finite() && **d > 0.0)
        .map(|(worker, d)| {
            let (mantissa, exponent) = decompose(*d);
            (address_of(worker), mantissa, exponent)
        })
        .collect();
    let Some(top) = parts.iter().map(|(_, _, e)| *e).max() else {
        return BTreeMap::new();
    };
    let floor = parts
        .iter()
        .map(|(_, _, e)| *e)
        .min()
        .unwrap_or(top)
        .max(top - SCALE_BITS);
    let mut weights: BTreeMap<&str, U256> = BTreeMap::new();
    for (address, mantissa, exponent) in parts {
        let value = U256::from(mantissa);
        let scaled = if exponent >= floor {
            value << (exponent - floor) as usize
        } else {
            value >> (floor - exponent) as usize
        };
        *weights.entry(address).or_default() += scaled;
    }
    let total: U256 = weights.values().fold(U256::ZERO, |sum, w| sum + *w);
    if total.is_zero() {
        return BTreeMap::new();
    }
    let reward = U256::from(reward.to_sat().max(0) as u64);
    weights
        .into_iter()
        .filter(|(_, weight)| !weight.is_zero())
        .map(|(address, weight)| {
            let sats: u64 = (reward * weight / total).to();
            (address.to_owned(), Amount::from_sat(sats as i64))
        })
        .collect()
}

/// Bits of range kept below the largest difficulty: 2^(150 + 53) per worker, times the
/// reward (under 2^51 satoshis), stays below 2^256.
const SCALE_BITS: i32 = 150;

/// A positive finite `f64` as `mantissa · 2^exponent`, exactly.
fn decompose(value: f64) -> (u64, i32) {
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    }
}

/// The whole `reward` to the finder's address (SOLO).
pub fn solo_split(reward: Amount, finder: &str) -> BTreeMap<String, Amount> {
    BTreeMap::from([(address_of(finder).to_owned(), reward)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shares(list: &[(&str, f64)]) -> BTreeMap<String, f64> {
        list.iter().map(|(w, d)| ((*w).to_owned(), *d)).collect()
    }

    #[test]
    fn prop_pays_in_proportion_and_merges_rigs_of_one_address() {
        let split = prop_split(
            Amount::from_sat(5_000_000_000),
            &shares(&[("a.rig1", 10.0), ("a.rig2", 30.0), ("b", 60.0)]),
        );
        assert_eq!(
            split,
            BTreeMap::from([
                ("a".to_owned(), Amount::from_sat(2_000_000_000)),
                ("b".to_owned(), Amount::from_sat(3_000_000_000)),
            ])
        );
    }

    #[test]
    fn prop_floors_and_leaves_the_remainder_with_the_pool() {
        let split = prop_split(
            Amount::from_sat(100),
            &shares(&[("a", 1.0), ("b", 1.0), ("c", 1.0)]),
        );
        assert!(split.values().all(|a| *a == Amount::from_sat(33)));
    }

    #[test]
    fn no_creditable_shares_credit_nobody() {
        assert!(prop_split(Amount::from_sat(100), &BTreeMap::new()).is_empty());
        assert!(
            prop_split(
                Amount::from_sat(100),
                &shares(&[("a", 0.0), ("b", f64::NAN)])
            )
            .is_empty()
        );
    }

    #[test]
    fn difficulties_decompose_exactly() {
        for value in [1.0, 0.75, 3.0e-9, 65536.0, 1e300] {
            let (mantissa, exponent) = decompose(value);
            assert_eq!(mantissa as f64 * 2f64.powi(exponent), value, "{value}");
        }
        assert_eq!(decompose(f64::from_bits(3)), (3, -1074), "subnormal");
    }

    #[test]
    fn solo_pays_the_finder() {
        assert_eq!(
            solo_split(Amount::from_sat(7), "x.rig"),
            BTreeMap::from([("x".to_owned(), Amount::from_sat(7))])
        );
    }

    proptest! {
        #[test]
        fn split_never_exceeds_the_reward_and_loses_less_than_a_satoshi_each(
            reward in 0i64..2_100_000_000_000_000,
            diffs in proptest::collection::vec(1e-12f64..1e12, 1..40),
        ) {
            let shares: BTreeMap<String, f64> =
                diffs.iter().enumerate().map(|(i, d)| (format!("w{i}"), *d)).collect();
            let split = prop_split(Amount::from_sat(reward), &shares);
            let paid: i64 = split.values().map(|a| a.to_sat()).sum();
            prop_assert!(paid <= reward);
            prop_assert!(reward - paid < shares.len() as i64);
        }
    }
}
