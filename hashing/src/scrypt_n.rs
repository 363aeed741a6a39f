use crate::error::HashingError;

/// When each scrypt N (cost) value takes effect, for `scrypt-n` coins: NOMP's `timeTable`
/// (`{"2048": 1389306217, …}`: N → unix time).
///
/// At a given block time the active N is the one whose activation time is the latest
/// not after the block time. NOMP instead sorts the N keys as *strings* and reads the
/// wall clock once at start-up, which picks the wrong N once a table holds N values of
/// different digit counts and keeps a stale N across an activation; nomp-rs follows the
/// chain, which looks at each header's own time. Before the first activation the
/// earliest entry applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NFactorTable {
    /// (activation unix time, log2 N), sorted by time.
    entries: Vec<(u64, u8)>,
}

impl NFactorTable {
    /// Builds a table from `(N, activation unix time)` pairs, as in a coin's `timeTable`.
    ///
    /// Fails if the table is empty or an N is not a power of two of at least 2.
    pub fn new(pairs: impl IntoIterator<Item = (u64, u64)>) -> Result<Self, HashingError> {
        let mut entries = Vec::new();
        for (n, time) in pairs {
            if n < 2 || !n.is_power_of_two() {
                return Err(HashingError::InvalidScryptParams { n, r: 1 });
            }
            entries.push((time, n.trailing_zeros() as u8));
        }
        if entries.is_empty() {
            return Err(HashingError::EmptyTimeTable);
        }
        entries.sort_unstable();
        Ok(NFactorTable { entries })
    }

    /// NOMP's default table (Vertcoin's schedule), used when a coin gives none.
    pub fn nomp_default() -> Self {
        const DEFAULT: [(u64, u64); 9] = [
            (2048, 1389306217),
            (4096, 1456415081),
            (8192, 1506746729),
            (16384, 1557078377),
            (32768, 1657741673),
            (65536, 1859068265),
            (131072, 2060394857),
            (262144, 1722307603),
            (524288, 1769642992),
        ];
        NFactorTable::new(DEFAULT).expect("the built-in table holds powers of two")
    }

    /// log2 of the N in force at `time` (unix seconds, normally the header's nTime).
    pub fn log2_n_at(&self, time: u64) -> u8 {
        let active = self
            .entries
            .partition_point(|(activation, _)| *activation <= time);
        self.entries[active.saturating_sub(1)].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_activation_not_after_the_time_wins() {
        let table = NFactorTable::nomp_default();
        assert_eq!(table.log2_n_at(1389306217), 11);
        assert_eq!(table.log2_n_at(1456415080), 11);
        assert_eq!(table.log2_n_at(1456415081), 12);
        // 262144 (2^18) activates in 2024, before 32768's successor 65536 (2028).
        assert_eq!(table.log2_n_at(1722307603), 18);
        assert_eq!(table.log2_n_at(1769642992), 19);
    }

    #[test]
    fn times_before_the_table_use_its_first_entry() {
        assert_eq!(NFactorTable::nomp_default().log2_n_at(0), 11);
    }

    #[test]
    fn bad_tables_are_rejected() {
        assert_eq!(NFactorTable::new([]), Err(HashingError::EmptyTimeTable));
        assert!(NFactorTable::new([(1000, 5)]).is_err());
    }
}
