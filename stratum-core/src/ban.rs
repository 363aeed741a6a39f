//! Banning IPs that send too many invalid shares (NOMP's `banning` options).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// NOMP's `banning` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BanOptions {
    /// How long a ban lasts (`time`).
    pub duration: Duration,
    /// Ban when at least this percentage of checked shares is invalid (`invalidPercent`).
    pub invalid_percent: f64,
    /// Check after this many shares from a connection (`checkThreshold`).
    pub check_threshold: u32,
    /// How often expired bans are forgotten (`purgeInterval`).
    pub purge_interval: Duration,
}

/// A connection's share tally between checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShareTally {
    valid: u32,
    invalid: u32,
}

impl ShareTally {
    /// Counts a share; returns true when the connection must be banned. After each check
    /// that does not ban, the tally starts again.
    pub fn record(&mut self, valid: bool, options: &BanOptions) -> bool {
        if valid {
            self.valid += 1;
        } else {
            self.invalid += 1;
        }
        let total = self.valid + self.invalid;
        if total < options.check_threshold {
            return false;
        }
        let ban = f64::from(self.invalid) * 100.0 / f64::from(total) >= options.invalid_percent;
        *self = ShareTally::default();
        ban
    }
}

/// Banned IPs with the time each ban started.
#[derive(Debug, Default)]
pub struct BanList {
    banned: HashMap<IpAddr, Instant>,
}

impl BanList {
    /// Bans `ip` from `now`.
    pub fn ban(&mut self, ip: IpAddr, now: Instant) {
        self.banned.insert(ip, now);
    }

    /// The time left on `ip`'s ban, or `None` if it may connect (an expired ban is lifted).
    pub fn remaining(
        &mut self,
        ip: IpAddr,
        now: Instant,
        options: &BanOptions,
    ) -> Option<Duration> {
        let started = *self.banned.get(&ip)?;
        let left = options
            .duration
            .checked_sub(now.saturating_duration_since(started))
            .filter(|d| !d.is_zero());
        if left.is_none() {
            self.banned.remove(&ip);
        }
        left
    }

    /// Lifts a ban at once (an operator's unban).
    pub fn unban(&mut self, ip: IpAddr) -> bool {
        self.banned.remove(&ip).is_some()
    }

    /// Forgets expired bans; returns how many.
    pub fn purge(&mut self, now: Instant, options: &BanOptions) -> usize {
        let before = self.banned.len();
        self.banned
            .retain(|_, started| now.saturating_duration_since(*started) < options.duration);
        before - self.banned.len()
    }

    /// The banned IPs with the time each ban started.
    pub fn entries(&self) -> impl Iterator<Item = (IpAddr, Instant)> + '_ {
        self.banned.iter().map(|(ip, at)| (*ip, *at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> BanOptions {
        BanOptions {
            duration: Duration::from_secs(600),
            invalid_percent: 50.0,
            check_threshold: 10,
            purge_interval: Duration::from_secs(300),
        }
    }

    #[test]
    fn half_invalid_after_the_threshold_bans() {
        let mut tally = ShareTally::default();
        let verdicts: Vec<bool> = (0..10)
            .map(|i| tally.record(i % 2 == 0, &options()))
            .collect();
        assert_eq!(verdicts.iter().filter(|b| **b).count(), 1);
        assert!(verdicts[9], "the tenth share triggers the check");
    }

    #[test]
    fn a_clean_check_resets_the_tally() {
        let mut tally = ShareTally::default();
        for _ in 0..9 {
            assert!(!tally.record(true, &options()));
        }
        assert!(
            !tally.record(false, &options()),
            "1 invalid of 10 is below 50 %"
        );
        // The earlier valid shares no longer dilute new invalid ones.
        let banned = (0..10).any(|_| tally.record(false, &options()));
        assert!(banned);
    }

    #[test]
    fn bans_expire_and_are_purged() {
        let mut bans = BanList::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let start = Instant::now();
        bans.ban(ip, start);
        assert_eq!(
            bans.remaining(ip, start + Duration::from_secs(60), &options()),
            Some(Duration::from_secs(540))
        );
        assert_eq!(
            bans.remaining(ip, start + Duration::from_secs(600), &options()),
            None
        );
        bans.ban(ip, start);
        assert_eq!(bans.purge(start + Duration::from_secs(599), &options()), 0);
        assert_eq!(bans.purge(start + Duration::from_secs(601), &options()), 1);
        bans.ban(ip, start);
        assert!(bans.unban(ip));
        assert_eq!(bans.remaining(ip, start, &options()), None);
    }
}
