//! The wire format of a trade on the `ticks` topic.
//!
//! The key is the symbol; the value is JSON:
//! `{"symbol":"AAPL","ts":1381132800464,"price":"167.41","volume":"100","seq":17}`.
//! `ts` is integer epoch milliseconds or an RFC 3339 string; `price` and
//! `volume` are JSON numbers or decimal strings, read exactly (a number's raw
//! text is parsed as a decimal, never through a float). Other fields are
//! ignored, so producers may add to the format.
//!
//! Decoding borrows from the message: field texts are slices of it (only a
//! symbol with JSON escapes is copied). It never panics; anything that is not
//! a valid trade is a [`WireError`] saying what was wrong.

use crate::fixed::{Price, Size, parse_scaled, write_scaled};
use crate::tick::{Symbol, Tick, invalid_symbol, validate};
use crate::time::{NANOS_PER_MILLI, parse_timestamp, write_rfc3339};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Why a message is not a trade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(String);

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(borrow)]
    ts: &'a RawValue,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    volume: &'a RawValue,
    seq: Option<u64>,
}

/// A decoded trade; `seq` is `None` when the producer sent none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireTick {
    /// The trade, with `seq` 0 when the message had none.
    pub tick: Tick,
    /// Whether the message carried its own `seq`.
    pub has_seq: bool,
}

/// Decodes one message value.
pub fn decode(value: &[u8]) -> Result<WireTick, WireError> {
    let raw: Raw<'_> = serde_json::from_slice(value).map_err(|e| WireError(format!("not a trade message: {e}")))?;
    let symbol = Symbol::new(&raw.symbol).map_err(|_| WireError(invalid_symbol(&raw.symbol)))?;
    let ts = parse_timestamp(unquote(raw.ts.get())).map_err(|e| WireError(format!("ts {} {e}", raw.ts.get())))?;
    let price =
        Price(parse_scaled(unquote(raw.price.get())).map_err(|e| WireError(format!("price {} {e}", raw.price.get())))?);
    let size = Size(
        parse_scaled(unquote(raw.volume.get())).map_err(|e| WireError(format!("volume {} {e}", raw.volume.get())))?,
    );
    validate(ts, price, size).map_err(|e| WireError(e.to_string()))?;
    Ok(WireTick { tick: Tick { symbol, ts, price, size, seq: raw.seq.unwrap_or(0) }, has_seq: raw.seq.is_some() })
}

/// The text inside a JSON string (escapes are not decimals or timestamps, so
/// they stay and fail to parse), or a bare number's text.
fn unquote(raw: &str) -> &[u8] {
    raw.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(raw).as_bytes()
}

/// Encodes a trade as a message value: `ts` in milliseconds when whole, else
/// RFC 3339; money as exact decimal strings.
pub fn encode(tick: &Tick, out: &mut String) {
    out.clear();
    let _ = write!(out, "{{\"symbol\":\"{}\",\"ts\":", tick.symbol);
    if tick.ts % NANOS_PER_MILLI == 0 {
        let _ = write!(out, "{}", tick.ts / NANOS_PER_MILLI);
    } else {
        out.push('"');
        write_rfc3339(out, tick.ts);
        out.push('"');
    }
    out.push_str(",\"price\":\"");
    let _ = write_scaled(out, i128::from(tick.price.0));
    out.push_str("\",\"volume\":\"");
    let _ = write_scaled(out, i128::from(tick.size.0));
    let _ = write!(out, "\",\"seq\":{}}}", tick.seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{MAX_EVENT_TIME, MIN_EVENT_TIME};
    use proptest::prelude::*;

    #[test]
    fn decodes_the_documented_message() {
        let got = decode(br#"{"symbol":"AAPL","ts":1381132800464,"price":"167.41","volume":"100","seq":17}"#).unwrap();
        assert_eq!(got.tick.ts, 1_381_132_800_464 * NANOS_PER_MILLI);
        assert_eq!(
            (got.tick.price, got.tick.size, got.tick.seq, got.has_seq),
            (Price(16_741_000_000), Size(10_000_000_000), 17, true)
        );
    }

    #[test]
    fn accepts_numbers_rfc3339_and_extra_fields() {
        let got = decode(
            br#"{"extra":[1,{"a":2}],"symbol":"BRK.B","ts":"2013-10-07T08:00:00.464Z","price":167.41,"volume":1e2}"#,
        )
        .unwrap();
        assert_eq!(got.tick.price, Price(16_741_000_000));
        assert_eq!(got.tick.size, Size(10_000_000_000));
        assert!(!got.has_seq);
    }

    #[test]
    fn says_what_is_wrong() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "not a trade message"),
            (b"{\"symbol\":\"A\"}", "missing field `ts`"),
            (br#"{"symbol":"A","ts":1,"price":"-1","volume":"1"}"#, "price must be positive"),
            (br#"{"symbol":"A","ts":"yesterday","price":"1","volume":"1"}"#, "ts \"yesterday\""),
            (br#"{"symbol":"A B","ts":1,"price":"1","volume":"1"}"#, "symbol \"A B\""),
            (br#"{"symbol":"A","ts":1,"price":"0.000000001","volume":"1"}"#, "more than 8 decimal places"),
            (br#"{"symbol":"A","ts":1,"price":true,"volume":"1"}"#, "price true is not a decimal number"),
        ];
        for (input, expected) in cases {
            let error = decode(input).unwrap_err().to_string();
            assert!(error.contains(expected), "{:?}: {error}", String::from_utf8_lossy(input));
        }
    }

    fn tick() -> impl Strategy<Value = Tick> {
        ("[A-Z][A-Z0-9.]{0,7}", MIN_EVENT_TIME..MAX_EVENT_TIME, 1i64..i64::MAX, 1i64..i64::MAX, any::<u64>()).prop_map(
            |(symbol, ts, price, size, seq)| Tick {
                symbol: Symbol::new(&symbol).unwrap(),
                ts,
                price: Price(price),
                size: Size(size),
                seq,
            },
        )
    }

    proptest! {
        #[test]
        fn round_trips(tick in tick()) {
            let mut text = String::new();
            encode(&tick, &mut text);
            prop_assert_eq!(decode(text.as_bytes()), Ok(WireTick { tick, has_seq: true }));
        }

        #[test]
        fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn never_panics_on_near_messages(
            symbol in "\\PC{0,12}", ts in "\\PC{0,30}", price in "\\PC{0,25}", volume in "[-+.eE0-9\"]{0,20}", seq in "-?[0-9]{0,22}",
        ) {
            let text = format!(r#"{{"symbol":{symbol:?},"ts":"{ts}","price":{price},"volume":"{volume}","seq":{seq}}}"#);
            let _ = decode(text.as_bytes());
        }
    }
}
