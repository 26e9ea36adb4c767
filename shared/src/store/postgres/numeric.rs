//! `NUMERIC` in PostgreSQL's binary format, for exact money without text.
//!
//! The format is a list of base-10000 digits with the weight (power of 10000)
//! of the first: `12.5` is digits `[12, 5000]`, weight 0. A value in units of
//! 10^-8 has at most two digits after the point, so both directions are
//! integer arithmetic on an `i128`.

use bytes::{BufMut, BytesMut};
use std::error::Error;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

/// Units of 10^-8 per base-10000 digit after the point: `10^4`, then `1`.
const UNITS_PER_DIGIT: i128 = 10_000;
/// Base-10000 digits after the point that hold 8 decimals.
const FRACTION_DIGITS: i16 = 2;
const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;

/// A `NUMERIC` of integer units of 10^-8, sent and read in binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PgNumeric(pub i128);

impl ToSql for PgNumeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        Digits::of(self.0).put(out);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The base-10000 digits of a value in units of 10^-8, worked out on the
/// stack: a binary `COPY` encodes six of them per bar.
pub(crate) struct Digits {
    /// Significant digits, least significant first (trailing zeros dropped).
    digits: [i16; MAX_DIGITS],
    count: usize,
    weight: i16,
    negative: bool,
}

/// Base-10000 digits of `u128::MAX`.
const MAX_DIGITS: usize = 10;

impl Digits {
    /// The digits of `units`.
    pub(crate) fn of(units: i128) -> Self {
        let mut digits = [0i16; MAX_DIGITS];
        let mut all = 0;
        let mut rest = units.unsigned_abs();
        // Prices and most volumes fit 64 bits, whose division by a constant is a multiplication.
        while rest > u128::from(u64::MAX) {
            digits[all] = (rest % UNITS_PER_DIGIT as u128) as i16;
            rest /= UNITS_PER_DIGIT as u128;
            all += 1;
        }
        let mut small = rest as u64;
        while small > 0 {
            digits[all] = (small % UNITS_PER_DIGIT as u64) as i16;
            small /= UNITS_PER_DIGIT as u64;
            all += 1;
        }
        let lowest = digits[..all].iter().position(|&d| d != 0).unwrap_or(all);
        digits.copy_within(lowest..all, 0);
        // The weight of the most significant digit, counted from the first digit before the point.
        let weight = if lowest == all { 0 } else { all as i16 - 1 - FRACTION_DIGITS };
        Digits { digits, count: all - lowest, weight, negative: units < 0 }
    }

    /// Bytes [`Digits::put`] writes.
    pub(crate) fn len(&self) -> usize {
        8 + 2 * self.count
    }

    /// Writes the value in the binary format (without a length prefix).
    pub(crate) fn put(&self, out: &mut impl BufMut) {
        out.put_i16(self.count as i16);
        out.put_i16(self.weight);
        out.put_u16(if self.negative { NEGATIVE } else { POSITIVE });
        out.put_u16(8);
        for &digit in self.digits[..self.count].iter().rev() {
            out.put_i16(digit);
        }
    }
}

impl<'a> FromSql<'a> for PgNumeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let word = |i: usize| -> Result<u16, Box<dyn Error + Sync + Send>> {
            let bytes = raw.get(2 * i..2 * i + 2).ok_or("a NUMERIC shorter than its header says")?;
            Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
        };
        let count = usize::from(word(0)?);
        let weight = i32::from(word(1)? as i16);
        let negative = match word(2)? {
            POSITIVE => false,
            NEGATIVE => true,
            _ => return Err("a NUMERIC that is NaN or infinite is not money".into()),
        };
        let mut units: i128 = 0;
        for i in 0..count {
            let digit = i128::from(word(4 + i)?);
            // The power of 10000 of this digit in units of 10^-8.
            let power = weight - i as i32 + i32::from(FRACTION_DIGITS);
            if digit == 0 {
                continue;
            }
            let power = u32::try_from(power).map_err(|_| "a NUMERIC with more than 8 decimals")?;
            let value = UNITS_PER_DIGIT.checked_pow(power).and_then(|scale| digit.checked_mul(scale));
            units = value.and_then(|v| units.checked_add(v)).ok_or("a NUMERIC beyond 128-bit units of 10^-8")?;
        }
        Ok(PgNumeric(if negative { -units } else { units }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// A money column that holds a price or size: units of 10^-8 within `i64`.
pub(crate) fn units(row: &tokio_postgres::Row, column: usize) -> Result<i64, crate::store::StoreError> {
    let PgNumeric(units) = row.try_get(column)?;
    i64::try_from(units)
        .map_err(|_| crate::store::StoreError::Corrupt(format!("price or size of {units} units is beyond 64 bits")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(units: i128) -> Vec<u8> {
        let mut out = BytesMut::new();
        PgNumeric(units).to_sql(&Type::NUMERIC, &mut out).expect("encode");
        out.to_vec()
    }

    fn words(words: &[u16]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn encodes_like_postgres() {
        // 12.5: digits [12, 5000], weight 0.
        assert_eq!(encode(1_250_000_000), words(&[2, 0, POSITIVE, 8, 12, 5000]));
        // -0.00000001: one digit 1 at weight -2.
        assert_eq!(encode(-1), words(&[1, (-2i16) as u16, NEGATIVE, 8, 1]));
        // 10000: one digit 1 at weight 1.
        assert_eq!(encode(1_000_000_000_000), words(&[1, 1, POSITIVE, 8, 1]));
        assert_eq!(encode(0), words(&[0, 0, POSITIVE, 8]));
    }

    #[test]
    fn decodes_what_it_encodes() {
        let samples = [0, 1, -1, 9_999, 10_000, 1_250_000_000, -123_456_789_012_345, i128::MAX, i128::MIN + 1];
        for units in samples {
            let decoded = PgNumeric::from_sql(&Type::NUMERIC, &encode(units)).expect("decode");
            assert_eq!(decoded, PgNumeric(units));
        }
        // PostgreSQL may send trailing zero digits and a larger display scale.
        let padded = words(&[3, 0, POSITIVE, 10, 7, 0, 0]);
        assert_eq!(PgNumeric::from_sql(&Type::NUMERIC, &padded).expect("decode"), PgNumeric(700_000_000));
    }

    #[test]
    fn refuses_what_is_not_money() {
        let nine_decimals = words(&[1, (-3i16) as u16, POSITIVE, 9, 1000]);
        assert!(PgNumeric::from_sql(&Type::NUMERIC, &nine_decimals).is_err());
        assert!(PgNumeric::from_sql(&Type::NUMERIC, &words(&[0, 0, 0xC000, 0])).is_err());
        assert!(PgNumeric::from_sql(&Type::NUMERIC, &words(&[2, 0, POSITIVE, 8, 1])).is_err());
        assert!(PgNumeric::from_sql(&Type::NUMERIC, &words(&[1, 40, POSITIVE, 0, 1])).is_err());
    }
}
