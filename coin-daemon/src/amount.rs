use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Decimal places of coin amounts in daemon RPC (`COIN` = 10^8 in every Bitcoin-derived daemon).
const DECIMALS: u32 = 8;
const UNITS_PER_COIN: i64 = 100_000_000;

/// An amount of coin in integer base units (satoshis, 10^-8 coin). Signed: wallet
/// transactions report sends as negative amounts.
///
/// Never converted through floating point: daemon JSON such as `12.34567891` is parsed
/// from its decimal text, and amounts are sent back as decimal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

impl Amount {
    /// No coin.
    pub const ZERO: Amount = Amount(0);

    /// An amount of `sat` base units.
    pub const fn from_sat(sat: i64) -> Amount {
        Amount(sat)
    }

    /// The amount in base units.
    pub const fn to_sat(self) -> i64 {
        self.0
    }

    /// The sum, or `None` on overflow.
    pub const fn checked_add(self, other: Amount) -> Option<Amount> {
        match self.0.checked_add(other.0) {
            Some(sum) => Some(Amount(sum)),
            None => None,
        }
    }

    /// The difference, or `None` on overflow.
    pub const fn checked_sub(self, other: Amount) -> Option<Amount> {
        match self.0.checked_sub(other.0) {
            Some(difference) => Some(Amount(difference)),
            None => None,
        }
    }

    /// Parses a decimal coin amount as daemons write it (`"0.00001000"`, `"-3.5"`, `"50"`).
    /// Returns `None` for anything else, including more than 8 decimal places (unless the
    /// extra digits are zeros) and values beyond ±92 billion coins.
    pub fn from_coin_str(text: &str) -> Option<Amount> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let plain;
        let digits = match digits.split_once(['e', 'E']) {
            // JSON's exponent form, as daemons print small amounts ("5.96e-6").
            Some((mantissa, exponent)) => {
                plain = without_exponent(mantissa, exponent.parse().ok()?)?;
                plain.as_str()
            }
            None => digits,
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > DECIMALS as usize {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let scale = 10i64.pow(DECIMALS - fraction.len() as u32);
        let fraction: i64 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().ok()?
        };
        let units = whole
            .checked_mul(UNITS_PER_COIN)?
            .checked_add(fraction * scale)?;
        Some(Amount(if negative { -units } else { units }))
    }

    /// The amount as decimal coins with all 8 places, the form daemons accept exactly.
    pub fn to_coin_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let units = UNITS_PER_COIN as u64;
        format!("{sign}{}.{:08}", abs / units, abs % units)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_coin_string())
    }
}

/// Written as a JSON number with the exact decimal digits, e.g. `1.50000000`.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw =
            RawValue::from_string(self.to_coin_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// `mantissa × 10^exponent` written without an exponent, by moving the decimal point in
/// the text; `None` for a malformed mantissa or an exponent too large for any amount.
fn without_exponent(mantissa: &str, exponent: i32) -> Option<String> {
    if exponent.unsigned_abs() > 40 {
        return None;
    }
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() || !(whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let point = whole.len() as i32 + exponent;
    Some(if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (left, right) = digits.split_at(point as usize);
        format!("{left}.{right}")
    })
}

/// Read from the JSON number's decimal text; never through `f64`.
impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Amount::from_coin_str(raw.get().trim()).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{} is not a coin amount with ≤ 8 decimals",
                raw.get()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_decimal_text_parses_exactly() {
        assert_eq!(
            Amount::from_coin_str("0.00001000"),
            Some(Amount::from_sat(1000))
        );
        assert_eq!(
            Amount::from_coin_str("50"),
            Some(Amount::from_sat(5_000_000_000))
        );
        assert_eq!(
            Amount::from_coin_str("-3.5"),
            Some(Amount::from_sat(-350_000_000))
        );
        // Beyond what an f64 can hold exactly: 92 billion coins and one satoshi.
        assert_eq!(
            Amount::from_coin_str("92000000000.00000001"),
            Some(Amount::from_sat(9_200_000_000_000_000_001))
        );
    }

    #[test]
    fn exponent_form_parses_exactly() {
        for (text, sat) in [
            ("5.96e-6", 596),
            ("1e-8", 1),
            ("1E-5", 1000),
            ("-2.5e-7", -25),
            ("1.2e1", 1_200_000_000),
            ("3e0", 300_000_000),
            ("0.0000123e+2", 123_000),
        ] {
            assert_eq!(
                Amount::from_coin_str(text),
                Some(Amount::from_sat(sat)),
                "{text}"
            );
        }
        assert_eq!(
            serde_json::from_str::<Amount>("5.96e-6").unwrap(),
            Amount::from_sat(596)
        );
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in [
            "",
            ".5",
            "1.000000001",
            "1e-9",
            "1e",
            "e5",
            "1,5",
            "--1",
            "abc",
            "93000000000",
        ] {
            assert_eq!(Amount::from_coin_str(bad), None, "{bad}");
        }
        assert_eq!(
            Amount::from_coin_str("1.000000010"),
            Some(Amount::from_sat(100_000_001))
        );
    }

    #[test]
    fn amounts_round_trip_through_json_as_exact_decimals() {
        let amount = Amount::from_sat(1_234_567_891);
        let json = serde_json::to_string(&amount).unwrap();
        assert_eq!(json, "12.34567891");
        assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), amount);
        let negative = Amount::from_sat(-1);
        assert_eq!(serde_json::to_string(&negative).unwrap(), "-0.00000001");
    }
}
