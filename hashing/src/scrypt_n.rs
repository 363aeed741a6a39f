use crate::error::HashingError;

/// When each scrypt N (cost) value takes effect, for `scrypt-n` coins: NOMP's `timeTable`
/// (`{"2048": 1389306217, …}`: N → unix time).
///
/// The N in force is chosen as node-stratum-pool chooses it, once, when the pool starts
/// ([`NFactorTable::nomp_log2_n`]): among the N values already activated, the first in
/// descending *string* order of their keys. That is what miners set up for NOMP pools
/// use (with NOMP's default table today it is 8192, not the numerically latest 524288),
/// and an operator whose chain needs another N gives the coin its own `timeTable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NFactorTable {
    /// (N as the table's key text, log2 N, activation unix time), in key order.
    entries: Vec<(String, u8, u64)>,
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
            entries.push((n.to_string(), n.trailing_zeros() as u8, time));
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

    /// log2 of the N node-stratum-pool uses when started at `now` (unix seconds): of the
    /// entries activated before `now`, the one whose N sorts first in descending string
    /// order; before any activation, the one that sorts first overall.
    pub fn nomp_log2_n(&self, now: u64) -> u8 {
        let mut descending = self.entries.iter().rev();
        let first = self.entries.last().map_or(10, |(_, log_n, _)| *log_n);
        descending
            .find(|(_, _, activation)| now > *activation)
            .map_or(first, |(_, log_n, _)| *log_n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nomps_default_table_picks_n_by_descending_key_text() {
        let table = NFactorTable::nomp_default();
        // 2014-02: only 2048 is active.
        assert_eq!(table.nomp_log2_n(1_392_000_000), 11);
        // 2016-05: 2048 and 4096; "4096" sorts after "2048".
        assert_eq!(table.nomp_log2_n(1_462_000_000), 12);
        // 2026-12: 2048 … 32768, 262144 and 524288 are active; "8192" sorts first.
        assert_eq!(table.nomp_log2_n(1_796_000_000), 13);
    }

    #[test]
    fn a_coins_own_table_is_read_the_same_way() {
        let table = NFactorTable::new([(1024, 100), (2048, 200), (16384, 300)]).unwrap();
        assert_eq!(table.nomp_log2_n(150), 10);
        assert_eq!(table.nomp_log2_n(250), 11);
        // "2048" sorts after "16384": NOMP stays on 2048.
        assert_eq!(table.nomp_log2_n(350), 11);
        // Before every activation: the first key in descending order.
        assert_eq!(table.nomp_log2_n(0), 11);
    }

    #[test]
    fn bad_tables_are_rejected() {
        assert_eq!(NFactorTable::new([]), Err(HashingError::EmptyTimeTable));
        assert!(NFactorTable::new([(1000, 5)]).is_err());
    }
}
