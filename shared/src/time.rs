//! Event time: `i64` nanoseconds since the Unix epoch, UTC.
//!
//! Parsing and printing of RFC 3339 is done here by hand, with the civil-date
//! algorithms of Howard Hinnant: it is on the hot path of every codec and needs
//! no time-zone database.

use std::fmt::Write as _;

/// Nanoseconds in one millisecond.
pub const NANOS_PER_MILLI: i64 = 1_000_000;
/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Nanoseconds in one UTC day.
pub const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;
/// Earliest event time accepted: 1970-01-01T00:00:00Z.
pub const MIN_EVENT_TIME: i64 = 0;
/// Latest event time accepted (exclusive): 2200-01-01T00:00:00Z.
pub const MAX_EVENT_TIME: i64 = 7_258_118_400 * NANOS_PER_SECOND;

/// Why a timestamp text could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Neither epoch milliseconds nor RFC 3339.
    #[error("is neither integer epoch milliseconds nor RFC 3339 (like 2013-10-07T13:30:00Z)")]
    Malformed,
    /// Outside the years 1970 to 2199.
    #[error("is outside 1970-01-01 .. 2200-01-01")]
    OutOfRange,
}

/// The wall clock now, in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `(year, month, day)` of a count of days since 1970-01-01.
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// The UTC day (days since the epoch) that holds an event time.
pub const fn day_of(ts: i64) -> i64 {
    ts.div_euclid(NANOS_PER_DAY)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    valid_date(y, m, d).then(|| days_from_civil(y, m as u32, d as u32))
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0')))
}

fn valid_date(y: i64, m: i64, d: i64) -> bool {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month[(m - 1) as usize]
}

/// Parses integer epoch milliseconds or RFC 3339 (`T` or space, fraction to
/// nanoseconds, `Z` or `±HH:MM`) into event-time nanoseconds.
#[inline]
pub fn parse_timestamp(text: &[u8]) -> Result<i64, TimeError> {
    let ts = match epoch_millis(text) {
        Some(_) if text.len() > 15 => return Err(TimeError::OutOfRange),
        Some(ms) => ms * NANOS_PER_MILLI,
        None => parse_rfc3339(text)?,
    };
    if (MIN_EVENT_TIME..MAX_EVENT_TIME).contains(&ts) { Ok(ts) } else { Err(TimeError::OutOfRange) }
}

/// The value of an all-digit text (wrapping past 19 digits), or `None`.
#[inline]
fn epoch_millis(text: &[u8]) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &b in text {
        let digit = b.wrapping_sub(b'0');
        if digit >= 10 {
            return None;
        }
        value = value.wrapping_mul(10).wrapping_add(i64::from(digit));
    }
    Some(value)
}

fn parse_rfc3339(b: &[u8]) -> Result<i64, TimeError> {
    let bad = TimeError::Malformed;
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad);
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad);
    }
    let (y, mo, d) = (digits(&b[0..4]).ok_or(bad)?, digits(&b[5..7]).ok_or(bad)?, digits(&b[8..10]).ok_or(bad)?);
    let (h, mi, s) = (digits(&b[11..13]).ok_or(bad)?, digits(&b[14..16]).ok_or(bad)?, digits(&b[17..19]).ok_or(bad)?);
    if !valid_date(y, mo, d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad);
    }
    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return Err(bad);
        }
        nanos = digits(&fraction[..len]).ok_or(bad)? * 10i64.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    let offset_seconds = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = digits(&[*oh1, *oh2]).ok_or(bad)?;
            let om = digits(&[*om1, *om2]).ok_or(bad)?;
            if oh > 23 || om > 59 {
                return Err(bad);
            }
            let seconds = oh * 3600 + om * 60;
            if *sign == b'+' { seconds } else { -seconds }
        }
        _ => return Err(bad),
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let seconds = days * 86_400 + h * 3600 + mi * 60 + s - offset_seconds;
    Ok(seconds * NANOS_PER_SECOND + nanos)
}

/// Formats event time as RFC 3339 UTC: `2013-10-07T13:30:00Z`, with as many
/// fraction digits as needed (3, 6 or 9).
pub fn format_rfc3339(ts: i64) -> String {
    let mut out = String::with_capacity(30);
    write_rfc3339(&mut out, ts);
    out
}

/// Appends the RFC 3339 form of `ts` to `out`; see [`format_rfc3339`].
pub fn write_rfc3339(out: &mut String, ts: i64) {
    let day = day_of(ts);
    let (y, mo, d) = civil_from_days(day);
    let in_day = ts - day * NANOS_PER_DAY;
    let secs = in_day / NANOS_PER_SECOND;
    let nanos = in_day % NANOS_PER_SECOND;
    let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if nanos != 0 {
        if nanos % 1_000_000 == 0 {
            let _ = write!(out, ".{:03}", nanos / 1_000_000);
        } else if nanos % 1000 == 0 {
            let _ = write!(out, ".{:06}", nanos / 1000);
        } else {
            let _ = write!(out, ".{nanos:09}");
        }
    }
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!(parse_timestamp(b"1381132800464"), Ok(1_381_132_800_464 * NANOS_PER_MILLI));
        assert_eq!(parse_timestamp(b"2013-10-07T08:00:00.464Z"), Ok(1_381_132_800_464 * NANOS_PER_MILLI));
        assert_eq!(parse_timestamp(b"2013-10-07T04:00:00.464-04:00"), Ok(1_381_132_800_464 * NANOS_PER_MILLI));
        assert_eq!(parse_timestamp(b"2013-10-07 08:00:00Z"), Ok(1_381_132_800 * NANOS_PER_SECOND));
        assert_eq!(parse_timestamp(b"1970-01-01T00:00:00.000000001Z"), Ok(1));
    }

    #[test]
    fn rejects_malformed_and_out_of_range() {
        for bad in
            [&b""[..], b"abc", b"2013-13-01T00:00:00Z", b"2013-02-30T00:00:00Z", b"2013-10-07T08:00:00", b"12.5", b"-5"]
        {
            assert_eq!(parse_timestamp(bad), Err(TimeError::Malformed), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_timestamp(b"1969-12-31T23:59:59Z"), Err(TimeError::OutOfRange));
        assert_eq!(parse_timestamp(b"2200-01-01T00:00:00Z"), Err(TimeError::OutOfRange));
        assert_eq!(parse_timestamp(b"99999999999999999999"), Err(TimeError::OutOfRange));
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_rfc3339(1_381_152_600 * NANOS_PER_SECOND), "2013-10-07T13:30:00Z");
        assert_eq!(format_rfc3339(1_381_132_800_464 * NANOS_PER_MILLI), "2013-10-07T08:00:00.464Z");
        assert_eq!(format_day(day_of(1_381_132_800_464 * NANOS_PER_MILLI)), "2013-10-07");
        assert_eq!(parse_day("2013-10-07"), Some(15_985));
        assert_eq!(parse_day("2013-10-32"), None);
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips(ts in MIN_EVENT_TIME..MAX_EVENT_TIME) {
            prop_assert_eq!(parse_timestamp(format_rfc3339(ts).as_bytes()), Ok(ts));
        }

        #[test]
        fn civil_round_trips(day in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(day);
            prop_assert_eq!(days_from_civil(y, m, d), day);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = parse_timestamp(text.as_bytes());
        }
    }
}
