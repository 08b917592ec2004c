//! NEURO amounts: integers in base units, never floats.
//!
//! `1 NEURO = 10^18` base units, held in a `u128`. Text forms are exact decimals ("0.0005"); parsing
//! rejects anything that cannot be represented exactly (more than 18 fractional digits, signs,
//! exponents, overflow) instead of rounding.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of base units in one NEURO.
pub const BASE_UNITS_PER_NEURO: u128 = 1_000_000_000_000_000_000;
/// Decimal places of a NEURO amount.
pub const DECIMALS: usize = 18;
/// Basis points in one whole (100%).
pub const BPS_DENOMINATOR: u128 = 10_000;

/// An amount of NEURO in base units.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Amount(pub u128);

/// Why a decimal NEURO string was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountParseError {
    #[error("amount is empty")]
    Empty,
    #[error("amount {0:?} is not a plain decimal number (digits, at most one '.')")]
    NotDecimal(String),
    #[error("amount {0:?} has more than 18 decimal places")]
    TooPrecise(String),
    #[error("amount {0:?} does not fit in 128 bits of base units")]
    Overflow(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// `n` whole NEURO.
    pub const fn neuro(n: u64) -> Amount {
        Amount(n as u128 * BASE_UNITS_PER_NEURO)
    }

    pub const fn base_units(self) -> u128 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    pub fn checked_mul(self, n: u128) -> Option<Amount> {
        self.0.checked_mul(n).map(Amount)
    }

    pub fn saturating_add(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// `self * numerator / denominator`, rounded down, without intermediate overflow for any
    /// `numerator <= denominator`. Returns `None` if `denominator` is zero or the result overflows.
    pub fn mul_div_floor(self, numerator: u128, denominator: u128) -> Option<Amount> {
        if denominator == 0 {
            return None;
        }
        // Split self = q*d + r so that self*n/d = q*n + r*n/d; r*n < d*n cannot overflow when
        // n <= d < 2^64, and the checked ops catch everything else.
        let q = self.0 / denominator;
        let r = self.0 % denominator;
        let whole = q.checked_mul(numerator)?;
        let part = r.checked_mul(numerator)? / denominator;
        whole.checked_add(part).map(Amount)
    }

    /// The share `bps / 10_000` of this amount, rounded down. `bps` above 10 000 is clamped.
    pub fn bps(self, bps: u16) -> Amount {
        let bps = u128::from(bps).min(BPS_DENOMINATOR);
        // Cannot fail: bps <= denominator and the denominator is non-zero.
        self.mul_div_floor(bps, BPS_DENOMINATOR)
            .unwrap_or(Amount::ZERO)
    }

    /// Exact decimal NEURO text, e.g. `"0.0005"` or `"100"`.
    pub fn to_neuro_string(self) -> String {
        let whole = self.0 / BASE_UNITS_PER_NEURO;
        let frac = self.0 % BASE_UNITS_PER_NEURO;
        if frac == 0 {
            return whole.to_string();
        }
        let digits = format!("{frac:018}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for Amount {
    type Err = AmountParseError;

    /// Parses decimal NEURO ("12", "0.0005", "1.5"), exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(AmountParseError::Empty);
        }
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty()
            || !all_digits(whole)
            || !all_digits(frac)
            || (s.contains('.') && frac.is_empty())
        {
            return Err(AmountParseError::NotDecimal(s.to_owned()));
        }
        if frac.len() > DECIMALS {
            return Err(AmountParseError::TooPrecise(s.to_owned()));
        }
        let overflow = || AmountParseError::Overflow(s.to_owned());
        let whole_units = if whole.is_empty() {
            0
        } else {
            whole.parse::<u128>().map_err(|_| overflow())?
        };
        let frac_units = if frac.is_empty() {
            0
        } else {
            let padded = format!("{frac:0<18}");
            padded.parse::<u128>().map_err(|_| overflow())?
        };
        whole_units
            .checked_mul(BASE_UNITS_PER_NEURO)
            .and_then(|w| w.checked_add(frac_units))
            .map(Amount)
            .ok_or_else(overflow)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} NEURO", self.to_neuro_string())
    }
}

/// JSON form: a decimal NEURO string, so that no JSON reader ever turns an amount into a float.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_neuro_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_faq_rates_exactly() {
        assert_eq!("0.0005".parse::<Amount>().unwrap().0, 500_000_000_000_000);
        assert_eq!("0.0001".parse::<Amount>().unwrap().0, 100_000_000_000_000);
        assert_eq!("0.00001".parse::<Amount>().unwrap().0, 10_000_000_000_000);
        assert_eq!("100".parse::<Amount>().unwrap(), Amount::neuro(100));
        assert_eq!(".5".parse::<Amount>().unwrap().0, BASE_UNITS_PER_NEURO / 2);
        assert_eq!("0.000000000000000001".parse::<Amount>().unwrap(), Amount(1));
    }

    #[test]
    fn rejects_inexact_or_malformed_text() {
        use AmountParseError::*;
        assert_eq!("".parse::<Amount>(), Err(Empty));
        for bad in [
            "-1", "+1", "1e3", "1.", ".", "1.2.3", " 1", "0x10", "1,5", "NaN",
        ] {
            assert!(
                matches!(bad.parse::<Amount>(), Err(NotDecimal(_))),
                "{bad} accepted"
            );
        }
        assert!(matches!(
            "0.0000000000000000001".parse::<Amount>(),
            Err(TooPrecise(_))
        ));
        assert!(matches!(
            "340282366920938463464".parse::<Amount>(),
            Err(Overflow(_))
        ));
    }

    #[test]
    fn prints_exact_decimals() {
        assert_eq!(Amount(500_000_000_000_000).to_neuro_string(), "0.0005");
        assert_eq!(Amount::neuro(42).to_neuro_string(), "42");
        assert_eq!(Amount(1).to_neuro_string(), "0.000000000000000001");
        assert_eq!(
            Amount(u128::MAX).to_neuro_string(),
            "340282366920938463463.374607431768211455"
        );
        assert_eq!(Amount::neuro(3).to_string(), "3 NEURO");
    }

    #[test]
    fn mul_div_and_bps_round_down_without_overflow() {
        assert_eq!(Amount(u128::MAX).bps(10_000), Amount(u128::MAX));
        assert_eq!(Amount(u128::MAX).bps(5_000), Amount(u128::MAX / 2));
        assert_eq!(Amount(19).bps(500), Amount(0));
        assert_eq!(Amount(20).bps(500), Amount(1));
        assert_eq!(Amount(10).mul_div_floor(1, 0), None);
        assert_eq!(Amount(7).mul_div_floor(2, 3), Some(Amount(4)));
    }

    proptest! {
        #[test]
        fn text_round_trips(units in any::<u128>()) {
            let a = Amount(units);
            prop_assert_eq!(a.to_neuro_string().parse::<Amount>().unwrap(), a);
        }

        #[test]
        fn bps_split_never_creates_units(units in any::<u128>(), bps in 0u16..=10_000) {
            let a = Amount(units);
            let part = a.bps(bps);
            prop_assert!(part <= a);
            prop_assert_eq!(part.checked_add(a.checked_sub(part).unwrap()), Some(a));
        }
    }
}
