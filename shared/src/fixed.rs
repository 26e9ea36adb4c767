//! Fixed-point money: prices and sizes as integers scaled by 10^8.
//!
//! A decimal is parsed once, exactly, into an `i64` of hundred-millionths and
//! never becomes a float again until it leaves the system. Sums of
//! `price × size` are exact `i128`s, so any split or order of the same trades
//! gives bit-identical bars.

use std::fmt;

/// Decimal places kept by [`Price`] and [`Size`].
pub const DECIMALS: u32 = 8;
/// The scale factor, `10^DECIMALS`.
pub const SCALE: i64 = 100_000_000;

/// Why a decimal text could not become a fixed-point number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecimalError {
    /// The text is empty.
    #[error("is empty")]
    Empty,
    /// The text is not a decimal number.
    #[error("is not a decimal number")]
    NotANumber,
    /// More than eight significant decimal places.
    #[error("has more than 8 decimal places")]
    TooPrecise,
    /// The value does not fit the fixed-point range.
    #[error("is out of range")]
    OutOfRange,
}

/// Parses a decimal (`-12.5`, `167.41`, `1e3`, `+0.00000001`) into units of 10^-8.
///
/// Digits beyond the eighth decimal place must be zero: money is never rounded
/// on the way in.
#[inline]
pub fn parse_scaled(text: &[u8]) -> Result<i64, DecimalError> {
    parse_plain(text).map_or_else(|| parse_general(text), Ok)
}

/// The common case: unsigned, at most 10 integer and 8 fraction digits, no exponent.
#[inline]
fn parse_plain(text: &[u8]) -> Option<i64> {
    const POW10: [i64; 9] = [100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    let mut value: i64 = 0;
    let mut point: Option<usize> = None;
    for (i, &b) in text.iter().enumerate() {
        let digit = b.wrapping_sub(b'0');
        if digit < 10 {
            // 19 digits can overflow; such a value has more than 10 whole digits and is refused below.
            value = value.wrapping_mul(10).wrapping_add(i64::from(digit));
        } else if b == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let fraction = point.map_or(0, |p| text.len() - p - 1);
    let whole = text.len() - fraction - usize::from(point.is_some());
    if fraction > 8 || whole > 10 || whole + fraction == 0 {
        return None;
    }
    Some(value * POW10[fraction])
}

fn parse_general(text: &[u8]) -> Result<i64, DecimalError> {
    let (negative, body) = match text.first() {
        None => return Err(DecimalError::Empty),
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        Some(_) => (false, text),
    };
    let (mantissa, exponent) = match body.iter().position(|b| *b == b'e' || *b == b'E') {
        Some(at) => (&body[..at], parse_exponent(&body[at + 1..])?),
        None => (body, 0),
    };
    let mut value: i128 = 0;
    let mut digits = 0usize;
    let mut fraction_digits: i32 = 0;
    let mut seen_point = false;
    let mut dropped_nonzero = false;
    for &b in mantissa {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if seen_point {
                    fraction_digits += 1;
                }
                if value < 10i128.pow(30) {
                    value = value * 10 + i128::from(b - b'0');
                } else if seen_point {
                    fraction_digits -= 1;
                    dropped_nonzero |= b != b'0';
                } else {
                    return Err(DecimalError::OutOfRange);
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return Err(DecimalError::NotANumber),
        }
    }
    if digits == 0 {
        return Err(DecimalError::NotANumber);
    }
    let shift = DECIMALS as i32 + exponent - fraction_digits;
    let scaled = if shift >= 0 {
        if value == 0 {
            return Ok(0);
        }
        if shift > 38 {
            return Err(DecimalError::OutOfRange);
        }
        value.checked_mul(10i128.pow(shift as u32)).ok_or(DecimalError::OutOfRange)?
    } else {
        let divisor = 10i128.checked_pow((-shift) as u32).unwrap_or(i128::MAX);
        if value % divisor != 0 || dropped_nonzero {
            return Err(DecimalError::TooPrecise);
        }
        value / divisor
    };
    if dropped_nonzero {
        return Err(DecimalError::TooPrecise);
    }
    let signed = if negative { -scaled } else { scaled };
    i64::try_from(signed).map_err(|_| DecimalError::OutOfRange)
}

fn parse_exponent(text: &[u8]) -> Result<i32, DecimalError> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DecimalError::NotANumber);
    }
    let magnitude = digits.iter().fold(0i32, |acc, b| acc * 10 + i32::from(b - b'0'));
    Ok(if negative { -magnitude } else { magnitude })
}

/// Writes `units × 10^-8` as the shortest exact decimal (`167.41`, `100`, `-0.5`).
///
/// Digits are written by hand into a stack buffer: this is the inner loop of
/// every JSON and CSV answer (six numbers a bar).
pub fn write_scaled(out: &mut impl fmt::Write, units: i128) -> fmt::Result {
    // Sign, 31 whole digits of |i128::MIN| / 10^8, the point and 8 decimals.
    let mut buf = [0u8; 48];
    let mut at = buf.len();
    let mut push = |digit: u8| {
        at -= 1;
        buf[at] = digit;
    };
    let magnitude = units.unsigned_abs();
    // Every price and nearly every volume fits 64 bits: divide there, not
    // by the 128-bit library routines.
    let (whole, mut fraction) = match u64::try_from(magnitude) {
        Ok(small) => (u128::from(small / SCALE as u64), small % SCALE as u64),
        Err(_) => (magnitude / SCALE as u128, (magnitude % SCALE as u128) as u64),
    };
    if fraction != 0 {
        let mut width = DECIMALS;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            width -= 1;
        }
        for _ in 0..width {
            push(b'0' + (fraction % 10) as u8);
            fraction /= 10;
        }
        push(b'.');
    }
    match u64::try_from(whole) {
        Ok(mut whole) => loop {
            push(b'0' + (whole % 10) as u8);
            whole /= 10;
            if whole == 0 {
                break;
            }
        },
        Err(_) => {
            let mut whole = whole;
            while whole > 0 {
                push(b'0' + (whole % 10) as u8);
                whole /= 10;
            }
        }
    }
    if units < 0 {
        push(b'-');
    }
    out.write_str(std::str::from_utf8(&buf[at..]).map_err(|_| fmt::Error)?)
}

macro_rules! fixed_point {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct $name(pub i64);

        impl $name {
            /// Parses an exact decimal; see [`parse_scaled`].
            pub fn parse(text: &str) -> Result<Self, DecimalError> {
                parse_scaled(text.as_bytes()).map(Self)
            }

            /// The value in units of 10^-8.
            pub const fn units(self) -> i64 {
                self.0
            }

            /// The value as a float, for output edges only.
            pub fn to_f64(self) -> f64 {
                self.0 as f64 / SCALE as f64
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_scaled(f, i128::from(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

fixed_point!(
    /// A trade price in units of 10^-8 of the quote currency.
    Price
);
fixed_point!(
    /// A trade size (shares, contracts, coins) in units of 10^-8.
    Size
);

/// The sum of many sizes: an `i128` so that no realistic bar can overflow it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Volume(pub i128);

impl Volume {
    /// The value as a float, for output edges only.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0)
    }
}

impl fmt::Debug for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Volume({self})")
    }
}

/// `numerator / denominator`, rounded half away from zero (both in the same scale).
pub fn div_round(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.unsigned_abs() * 2 >= denominator.unsigned_abs() {
        quotient + if (numerator < 0) == (denominator < 0) { 1 } else { -1 }
    } else {
        quotient
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_scaled(b"167.41"), Ok(16_741_000_000));
        assert_eq!(parse_scaled(b"100"), Ok(10_000_000_000));
        assert_eq!(parse_scaled(b"-0.5"), Ok(-50_000_000));
        assert_eq!(parse_scaled(b"+0.00000001"), Ok(1));
        assert_eq!(parse_scaled(b"1.500000000000"), Ok(150_000_000));
        assert_eq!(parse_scaled(b"1e3"), Ok(100_000_000_000));
        assert_eq!(parse_scaled(b"2.5E-2"), Ok(2_500_000));
        assert_eq!(parse_scaled(b".5"), Ok(50_000_000));
        assert_eq!(parse_scaled(b"5."), Ok(500_000_000));
    }

    #[test]
    fn rejects_what_is_not_exact() {
        assert_eq!(parse_scaled(b""), Err(DecimalError::Empty));
        assert_eq!(parse_scaled(b"abc"), Err(DecimalError::NotANumber));
        assert_eq!(parse_scaled(b"1.2.3"), Err(DecimalError::NotANumber));
        assert_eq!(parse_scaled(b"."), Err(DecimalError::NotANumber));
        assert_eq!(parse_scaled(b"-"), Err(DecimalError::NotANumber));
        assert_eq!(parse_scaled(b"0.000000001"), Err(DecimalError::TooPrecise));
        assert_eq!(parse_scaled(b"1e-9"), Err(DecimalError::TooPrecise));
        assert_eq!(parse_scaled(b"99999999999999"), Err(DecimalError::OutOfRange));
        assert_eq!(parse_scaled(b"1e30"), Err(DecimalError::OutOfRange));
        assert_eq!(parse_scaled(b"1e"), Err(DecimalError::NotANumber));
    }

    #[test]
    fn formats_trimmed() {
        assert_eq!(Price(16_741_000_000).to_string(), "167.41");
        assert_eq!(Size(10_000_000_000).to_string(), "100");
        assert_eq!(Price(-50_000_000).to_string(), "-0.5");
        assert_eq!(Price(1).to_string(), "0.00000001");
        assert_eq!(Volume(0).to_string(), "0");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(5, 3), 2);
    }

    proptest! {
        #[test]
        fn display_round_trips(units in any::<i64>()) {
            prop_assert_eq!(Price::parse(&Price(units).to_string()), Ok(Price(units)));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = parse_scaled(text.as_bytes());
        }

        #[test]
        fn writes_what_plain_formatting_writes(units in any::<i128>()) {
            let (whole, fraction) = (units.unsigned_abs() / SCALE as u128, units.unsigned_abs() % SCALE as u128);
            let sign = if units < 0 { "-" } else { "" };
            let plain = format!("{sign}{whole}.{fraction:08}");
            let expected = if fraction == 0 { format!("{sign}{whole}") } else { plain.trim_end_matches('0').to_owned() };
            let mut written = String::new();
            write_scaled(&mut written, units).expect("written");
            prop_assert_eq!(written, expected);
        }
    }
}
