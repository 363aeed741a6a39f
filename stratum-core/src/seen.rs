//! The shares a job has seen, in at most 15 bytes each.
//!
//! A job remembers every share submitted for it so a repeat is refused as a duplicate. At
//! tens of thousands of shares a second, keeping each share's key (extranonces, time, nonce,
//! version: ~40 bytes, ~80 in a hash set) costs gigabytes per block; this set keeps a 63-bit
//! fingerprint per share instead, keyed afresh for every job so no miner can aim for a
//! collision. Two different shares of one job share a fingerprint with probability about
//! n / 2⁶³ after n shares (10⁻¹² at ten million shares): the second would be refused as a
//! duplicate, a loss far below a single stale share.
//!
//! The table is open addressing with linear probing over `u64` slots (0 marks a free slot),
//! at most 80 % full and grown by half when it would pass that: just after growing it is 53 %
//! full, so it never holds more than 15 bytes per share.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// The fewest slots a set starts with once it holds a share.
const MIN_SLOTS: usize = 64;

/// Fingerprints of the shares seen, under this set's own random key.
#[derive(Debug)]
pub(crate) struct SeenShares {
    key: RandomState,
    slots: Vec<u64>,
    len: usize,
}

impl Default for SeenShares {
    fn default() -> Self {
        SeenShares {
            key: RandomState::new(),
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl SeenShares {
    /// The fingerprint of `share` under this set's key (never 0, the free-slot mark).
    pub(crate) fn fingerprint(&self, share: &impl Hash) -> u64 {
        self.key.hash_one(share) | 1
    }

    /// Records `fingerprint`; false if it was seen before.
    pub(crate) fn insert(&mut self, fingerprint: u64) -> bool {
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow();
        }
        if place(&mut self.slots, fingerprint) {
            self.len += 1;
            true
        } else {
            false
        }
    }

    /// Shares recorded.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the table holds.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<u64>()
    }

    fn grow(&mut self) {
        let size = (self.slots.len() + self.slots.len() / 2).max(MIN_SLOTS);
        let mut slots = vec![0; size];
        for fingerprint in std::mem::take(&mut self.slots) {
            if fingerprint != 0 {
                place(&mut slots, fingerprint);
            }
        }
        self.slots = slots;
    }
}

/// Puts `fingerprint` in the first free slot from its home; false if it is there already.
fn place(slots: &mut [u64], fingerprint: u64) -> bool {
    // Multiply-shift maps the fingerprint onto any table size, not only powers of two.
    let mut at = ((u128::from(fingerprint) * slots.len() as u128) >> 64) as usize;
    loop {
        match slots[at] {
            0 => {
                slots[at] = fingerprint;
                return true;
            }
            seen if seen == fingerprint => return false,
            _ => at = if at + 1 == slots.len() { 0 } else { at + 1 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_is_seen_and_a_new_share_is_not() {
        let mut seen = SeenShares::default();
        let share = ("aabbccdd", 7u32);
        let first = seen.fingerprint(&share);
        assert!(seen.insert(first));
        assert!(!seen.insert(seen.fingerprint(&share)));
        assert!(seen.insert(seen.fingerprint(&("aabbccdd", 8u32))));
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn every_job_keys_its_fingerprints_afresh() {
        let (one, two) = (SeenShares::default(), SeenShares::default());
        assert_ne!(one.fingerprint(&42u64), two.fingerprint(&42u64));
    }

    #[test]
    fn it_never_holds_more_than_fifteen_bytes_a_share_and_keeps_every_one() {
        let mut seen = SeenShares::default();
        let mut worst = 0.0f64;
        for n in 0..300_000u64 {
            assert!(seen.insert(seen.fingerprint(&n)), "share {n} is new");
            if n >= MIN_SLOTS as u64 {
                worst = worst.max(seen.bytes() as f64 / seen.len() as f64);
            }
        }
        assert!(worst <= 15.1, "{worst:.1} bytes per share at worst");
        for n in (0..300_000u64).step_by(997) {
            assert!(!seen.insert(seen.fingerprint(&n)), "share {n} seen");
        }
        assert_eq!(seen.len(), 300_000);
    }
}
