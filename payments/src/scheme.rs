//! How a round's reward is split among its workers: pure integer arithmetic in satoshis.

use std::collections::BTreeMap;

use coin_daemon::Amount;
use ruint::aliases::U512;
use rust_decimal::Decimal;

/// A pool's payout scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// NOMP's proportional scheme: each worker gets the round's reward in proportion to the
    /// difficulty of its valid shares in that round.
    #[default]
    Prop,
    /// Pay per last N shares: the reward is split over the last `window` of valid share
    /// difficulty up to the block-finding share, whatever round it fell in. Shares are
    /// read from the store's hashrate samples, so those must be kept at least that far back.
    Pplns {
        /// N.
        window: PplnsWindow,
    },
    /// The finder of the block gets the whole reward.
    Solo,
}

/// The size of a PPLNS window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PplnsWindow {
    /// A fixed sum of share difficulty (the `pplnsWindow` of NOMP forks).
    Shares(Decimal),
    /// This multiple of the network difficulty the block met, in share units (MiningCore's
    /// `factor`: 2 pays the shares of about two blocks' worth of work).
    NetworkFactor(Decimal),
}

impl PplnsWindow {
    /// The window's share difficulty for a block that met `network_difficulty` (`None`
    /// where unknown); `None` when a factor has no difficulty to multiply.
    pub fn size(self, network_difficulty: Option<Decimal>) -> Option<Decimal> {
        match self {
            PplnsWindow::Shares(size) => Some(size),
            PplnsWindow::NetworkFactor(factor) => {
                network_difficulty.and_then(|difficulty| factor.checked_mul(difficulty))
            }
        }
        .filter(|size| *size > Decimal::ZERO)
    }
}

/// The address a worker is paid at: the part of its name before the first `.`
/// (`address.rig` → `address`), as NOMP does.
pub fn address_of(worker: &str) -> &str {
    worker.split('.').next().unwrap_or(worker)
}

/// Splits `reward` among the addresses of `shares` (worker → summed share difficulty) in
/// proportion to their difficulty, each share floored to the satoshi.
///
/// The arithmetic is exact: each difficulty is a decimal (see [`crate::share_decimal`]),
/// all are scaled to one power of ten and the split is 512-bit integer division, so a
/// worker with three 1e-5 shares gets exactly what one with a 3e-5 share gets, and shares
/// of 40 and 60 get exactly 40 % and 60 %.
///
/// Rounding: the floors never add up to more than `reward`; the few satoshis left over
/// (fewer than the number of addresses) are not credited to anyone and stay in the pool's
/// wallet. Workers with zero or negative totals get nothing; with no creditable shares at
/// all the whole reward stays with the pool.
pub fn prop_split(reward: Amount, shares: &BTreeMap<String, Decimal>) -> BTreeMap<String, Amount> {
    weighted_split(reward, shares, Decimal::ZERO)
}

/// Splits `reward` over a PPLNS window of `window` share difficulty: each address gets
/// `reward × its difficulty ÷ window`, floored to the satoshi, exactly as [`prop_split`]
/// computes. A window the share log could not fill (a new pool, a log pruned too early) pays
/// only its filled part: the rest of the reward is credited to nobody and stays in the
/// pool's wallet, as MPOS and MiningCore do, rather than giving a few shares a whole block.
/// A full window pays as [`prop_split`] does.
pub fn pplns_split(
    reward: Amount,
    shares: &BTreeMap<String, Decimal>,
    window: Decimal,
) -> BTreeMap<String, Amount> {
    weighted_split(reward, shares, window)
}

/// `reward` in proportion to `shares`, over their total or `at_least`, whichever is more.
fn weighted_split(
    reward: Amount,
    shares: &BTreeMap<String, Decimal>,
    at_least: Decimal,
) -> BTreeMap<String, Amount> {
    let parts: Vec<(&str, Decimal)> = shares
        .iter()
        .filter(|(_, d)| **d > Decimal::ZERO)
        .map(|(worker, d)| (address_of(worker), *d))
        .collect();
    let Some(scale) = parts.iter().map(|(_, d)| d.scale()).max() else {
        return BTreeMap::new();
    };
    let scale = scale.max(at_least.scale());
    let scaled = |difficulty: Decimal| {
        let mantissa = U512::from(difficulty.mantissa().unsigned_abs());
        mantissa * U512::from(10u8).pow(U512::from(scale - difficulty.scale()))
    };
    let mut weights: BTreeMap<&str, U512> = BTreeMap::new();
    for (address, difficulty) in parts {
        *weights.entry(address).or_default() += scaled(difficulty);
    }
    let sum: U512 = weights.values().fold(U512::ZERO, |sum, w| sum + *w);
    let total = if at_least > Decimal::ZERO {
        sum.max(scaled(at_least))
    } else {
        sum
    };
    if total.is_zero() {
        return BTreeMap::new();
    }
    let reward = U512::from(reward.to_sat().max(0) as u64);
    weights
        .into_iter()
        .map(|(address, weight)| {
            let sats: u64 = (reward * weight / total).to();
            (address.to_owned(), Amount::from_sat(sats as i64))
        })
        .filter(|(_, amount)| *amount > Amount::ZERO)
        .collect()
}

/// The whole `reward` to the finder's address (SOLO).
pub fn solo_split(reward: Amount, finder: &str) -> BTreeMap<String, Amount> {
    BTreeMap::from([(address_of(finder).to_owned(), reward)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::share_decimal;
    use proptest::prelude::*;

    fn shares(list: &[(&str, f64)]) -> BTreeMap<String, Decimal> {
        list.iter()
            .map(|(w, d)| ((*w).to_owned(), share_decimal(*d).unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_network_factor_window_is_that_multiple_of_the_blocks_difficulty() {
        let d = |v: f64| share_decimal(v).unwrap();
        assert_eq!(
            PplnsWindow::NetworkFactor(d(2.0)).size(Some(d(1.25e-5))),
            Some(d(2.5e-5))
        );
        assert_eq!(PplnsWindow::NetworkFactor(d(2.0)).size(None), None);
        assert_eq!(PplnsWindow::Shares(d(3.0)).size(None), Some(d(3.0)));
    }

    #[test]
    fn a_short_pplns_window_pays_its_filled_part_and_a_full_one_pays_as_prop() {
        let reward = Amount::from_sat(5_000_000_000);
        let few = shares(&[("a", 10.0), ("b", 30.0)]);
        let window = share_decimal(100.0).unwrap();
        assert_eq!(
            pplns_split(reward, &few, window),
            BTreeMap::from([
                ("a".to_owned(), Amount::from_sat(500_000_000)),
                ("b".to_owned(), Amount::from_sat(1_500_000_000)),
            ]),
            "40 of 100 filled: 40 % paid, 60 % kept by the pool"
        );
        let full = shares(&[("a", 40.0), ("b", 60.0)]);
        assert_eq!(
            pplns_split(reward, &full, window),
            prop_split(reward, &full)
        );
        // A window of a finer scale than the shares.
        let fine = share_decimal(0.0004).unwrap();
        assert_eq!(
            pplns_split(Amount::from_sat(1000), &shares(&[("a", 0.0001)]), fine),
            BTreeMap::from([("a".to_owned(), Amount::from_sat(250))])
        );
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
    fn three_small_shares_are_worth_exactly_one_three_times_as_large() {
        // As f64, 1e-5 + 1e-5 + 1e-5 is 3.0000000000000004e-5, and 3e-5 / 1e-5 is
        // 2.9999999999999996: a satoshi lost in many rounds.
        let mut small = Decimal::ZERO;
        for _ in 0..3 {
            small += share_decimal(1e-5).unwrap();
        }
        for reward in [2, 4, 6, 50, 5_000_000_001, 312_500_003] {
            let split = prop_split(
                Amount::from_sat(reward),
                &BTreeMap::from([
                    ("a".to_owned(), small),
                    ("b".to_owned(), share_decimal(3e-5).unwrap()),
                ]),
            );
            assert_eq!(split["a"], split["b"], "reward {reward}");
            assert_eq!(split["a"].to_sat(), reward / 2, "reward {reward}");
        }
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
        assert!(prop_split(Amount::from_sat(100), &shares(&[("a", 0.0), ("b", -2.0)])).is_empty());
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
            let shares: BTreeMap<String, Decimal> = diffs
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("w{i}"), share_decimal(*d).unwrap()))
                .collect();
            let split = prop_split(Amount::from_sat(reward), &shares);
            let paid: i64 = split.values().map(|a| a.to_sat()).sum();
            prop_assert!(paid <= reward);
            prop_assert!(reward - paid < shares.len() as i64);
        }

        #[test]
        fn equal_decimal_totals_get_equal_satoshis(
            reward in 1i64..2_100_000_000_000_000,
            unit in 1u32..1_000_000,
            exponent in 1u32..12,
            count in 1u32..50,
        ) {
            let one = Decimal::new(i64::from(unit), exponent);
            let mut summed = Decimal::ZERO;
            for _ in 0..count {
                summed += one;
            }
            let whole = one * Decimal::from(count);
            let split = prop_split(
                Amount::from_sat(reward),
                &BTreeMap::from([("a".to_owned(), summed), ("b".to_owned(), whole)]),
            );
            prop_assert_eq!(split.get("a"), split.get("b"));
        }
    }
}
