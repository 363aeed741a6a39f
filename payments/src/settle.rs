//! The money of a payment run, as a pure function: what the matured rounds credit, added to
//! the balances, paid where it reaches the minimum, kept where it does not.

use std::collections::{BTreeMap, BTreeSet};

use coin_daemon::Amount;

use crate::scheme::address_of;

/// What a run settles from, read from the share store and the wallet beforehand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettleFacts {
    /// Each paying round's split (address → amount), as the scheme computed it.
    pub credits: Vec<BTreeMap<String, Amount>>,
    /// The store's balance entries: addresses, or NOMP's per-worker names
    /// (`address.rig`), which are folded into their address.
    pub balances: BTreeMap<String, Amount>,
    /// Addresses the wallet says are not valid for the coin: their balance is kept, never
    /// paid.
    pub invalid_addresses: BTreeSet<String>,
    /// The payout totals so far, per address.
    pub payout_totals: BTreeMap<String, Amount>,
    /// The total the pool has paid so far.
    pub total_paid: Amount,
}

/// What a run pays and keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// What the run pays, per address.
    pub payments: BTreeMap<String, Amount>,
    /// New values of the balance entries that change; zero removes an entry.
    pub balances: BTreeMap<String, Amount>,
    /// New payout totals of the addresses paid.
    pub payout_totals: BTreeMap<String, Amount>,
    /// The new total paid.
    pub total_paid: Amount,
}

/// A sum that does not fit an [`Amount`]: the run stops rather than drop a credit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sum of {what} overflows")]
pub struct SettleOverflow {
    /// Which sum overflowed.
    pub what: &'static str,
}

fn add(total: &mut Amount, amount: Amount, what: &'static str) -> Result<(), SettleOverflow> {
    *total = total.checked_add(amount).ok_or(SettleOverflow { what })?;
    Ok(())
}

/// What each address is owed: its balance entries (per-worker ones folded in) plus the
/// rounds' credits.
pub fn owed(facts: &SettleFacts) -> Result<BTreeMap<String, Amount>, SettleOverflow> {
    let mut owed: BTreeMap<String, Amount> = BTreeMap::new();
    for (entry, amount) in &facts.balances {
        add(
            owed.entry(address_of(entry).to_owned()).or_default(),
            *amount,
            "balances",
        )?;
    }
    for split in &facts.credits {
        for (address, amount) in split {
            add(
                owed.entry(address.clone()).or_default(),
                *amount,
                "balances and credits",
            )?;
        }
    }
    Ok(owed)
}

/// Settles a run: every address owed at least `minimum_payment` (and more than zero), and
/// valid, is paid all it is owed and its balance entries go to zero; every other keeps it
/// as one balance under its address. Money is conserved: what is paid plus the new
/// balances equals the old balances plus the credits.
pub fn settle(facts: &SettleFacts, minimum_payment: Amount) -> Result<Settled, SettleOverflow> {
    let owed = owed(facts)?;
    let mut entries: BTreeMap<String, Amount> = facts
        .balances
        .keys()
        .filter(|entry| address_of(entry) != entry.as_str())
        .map(|entry| (entry.clone(), Amount::ZERO))
        .collect();
    let mut settled = Settled {
        total_paid: facts.total_paid,
        ..Settled::default()
    };
    for (address, total) in owed {
        let pays = total >= minimum_payment
            && total > Amount::ZERO
            && !facts.invalid_addresses.contains(&address);
        if pays {
            let paid_so_far = facts
                .payout_totals
                .get(&address)
                .copied()
                .unwrap_or_default();
            let payout_total = settled.payout_totals.entry(address.clone()).or_default();
            *payout_total = paid_so_far;
            add(payout_total, total, "payout totals")?;
            add(&mut settled.total_paid, total, "the total paid")?;
            settled.payments.insert(address.clone(), total);
            entries.insert(address, Amount::ZERO);
        } else {
            entries.insert(address, total);
        }
    }
    // Unchanged balances, and zeros where there was no balance, need no write.
    entries.retain(|entry, amount| match facts.balances.get(entry) {
        Some(old) => old != amount,
        None => *amount != Amount::ZERO,
    });
    settled.balances = entries;
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sats(n: i64) -> Amount {
        Amount::from_sat(n)
    }

    #[test]
    fn per_worker_balances_fold_into_their_address_and_are_paid_once() {
        let facts = SettleFacts {
            credits: vec![BTreeMap::from([("a".to_owned(), sats(300))])],
            balances: BTreeMap::from([("a.rig1".to_owned(), sats(100)), ("b".to_owned(), sats(5))]),
            ..SettleFacts::default()
        };
        let settled = settle(&facts, sats(50)).unwrap();
        assert_eq!(
            settled.payments,
            BTreeMap::from([("a".to_owned(), sats(400))])
        );
        // The worker entry is emptied; b's 5 stays (below the minimum, unchanged).
        assert_eq!(
            settled.balances,
            BTreeMap::from([("a.rig1".to_owned(), sats(0))])
        );
        assert_eq!(settled.total_paid, sats(400));
        assert_eq!(
            settled.payout_totals,
            BTreeMap::from([("a".to_owned(), sats(400))])
        );
    }

    #[test]
    fn an_invalid_address_keeps_its_balance() {
        let facts = SettleFacts {
            credits: vec![BTreeMap::from([("bad".to_owned(), sats(900))])],
            invalid_addresses: BTreeSet::from(["bad".to_owned()]),
            ..SettleFacts::default()
        };
        let settled = settle(&facts, sats(1)).unwrap();
        assert!(settled.payments.is_empty());
        assert_eq!(
            settled.balances,
            BTreeMap::from([("bad".to_owned(), sats(900))])
        );
    }

    #[test]
    fn an_overflowing_credit_is_an_error_not_a_lost_credit() {
        let facts = SettleFacts {
            credits: vec![
                BTreeMap::from([("a".to_owned(), Amount::from_sat(i64::MAX))]),
                BTreeMap::from([("a".to_owned(), sats(1))]),
            ],
            ..SettleFacts::default()
        };
        assert_eq!(
            settle(&facts, sats(1)),
            Err(SettleOverflow {
                what: "balances and credits"
            })
        );
    }

    fn amounts() -> impl Strategy<Value = BTreeMap<String, Amount>> {
        prop::collection::btree_map(
            prop::sample::select(vec!["a", "b", "c", "a.rig", "b.x"]).prop_map(str::to_owned),
            (0i64..10_000_000).prop_map(Amount::from_sat),
            0..5,
        )
    }

    proptest! {
        #[test]
        fn money_is_conserved_and_never_negative(
            credits in prop::collection::vec(amounts(), 0..4),
            balances in amounts(),
            invalid in prop::collection::btree_set(
                prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned), 0..2),
            minimum in 0i64..20_000_000,
        ) {
            // Splits credit addresses, not worker names.
            let credits: Vec<_> = credits
                .into_iter()
                .map(|split| split
                    .into_iter()
                    .filter(|(address, _)| !address.contains('.'))
                    .collect())
                .collect();
            let facts = SettleFacts {
                credits,
                balances,
                invalid_addresses: invalid,
                ..SettleFacts::default()
            };
            let settled = settle(&facts, Amount::from_sat(minimum)).unwrap();
            let mut after = facts.balances.clone();
            for (entry, amount) in &settled.balances {
                after.insert(entry.clone(), *amount);
            }
            let sum = |amounts: &mut dyn Iterator<Item = Amount>| {
                amounts.fold(Amount::ZERO, |total, amount| total.checked_add(amount).unwrap())
            };
            let before_total = sum(&mut facts.balances.values().copied())
                .checked_add(sum(&mut facts.credits.iter().flat_map(|s| s.values().copied())))
                .unwrap();
            let paid = sum(&mut settled.payments.values().copied());
            let kept = sum(&mut after.values().copied());
            prop_assert_eq!(paid.checked_add(kept).unwrap(), before_total);
            prop_assert!(after.values().all(|amount| *amount >= Amount::ZERO));
            prop_assert_eq!(settled.total_paid, paid);
            for (address, amount) in &settled.payments {
                prop_assert!(*amount >= Amount::from_sat(minimum) && *amount > Amount::ZERO);
                prop_assert!(!facts.invalid_addresses.contains(address));
                // A paid address keeps nothing under any of its entries.
                for (entry, left) in &after {
                    if address_of(entry) == address {
                        prop_assert_eq!(*left, Amount::ZERO);
                    }
                }
            }
        }
    }
}
