//! One quote answer as a trade, exactly, and the per-symbol memory that keeps
//! a quote from becoming two trades.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use tickflow_shared::fixed::{SCALE, parse_scaled};
use tickflow_shared::time::NANOS_PER_SECOND;
use tickflow_shared::{Price, Size, Symbol, Tick, tick};

/// The size of a quote that carries no `v`: one unit, so a bar's volume
/// counts quotes and its VWAP is their plain average.
pub const DEFAULT_SIZE: Size = Size(SCALE);

/// The fields read from a Finnhub quote; the others (`d`, `dp`, `h`, `l`,
/// `o`, `pc`) are ignored. Numbers stay raw text until parsed as decimals.
#[derive(Deserialize)]
struct RawQuote<'a> {
    #[serde(borrow, default)]
    c: Option<&'a RawValue>,
    #[serde(borrow, default)]
    t: Option<&'a RawValue>,
    #[serde(borrow, default)]
    v: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
}

/// Reads one answer body as a trade of `symbol` (`seq` 0), or says why it is not one.
pub(crate) fn quote(symbol: &Symbol, body: &[u8]) -> Result<Tick, String> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        // serde would read an array as the fields in order.
        return Err("not a JSON quote: the answer is not a JSON object".into());
    }
    let raw: RawQuote<'_> = serde_json::from_slice(body).map_err(|e| format!("not a JSON quote: {e}"))?;
    if let Some(error) = raw.error {
        return Err(format!("the API answered an error: {error:?}"));
    }
    let c = present(raw.c).ok_or("the quote has no price c")?;
    let price = Price(parse_scaled(unquote(c)).map_err(|e| format!("price c {c} {e}"))?);
    if price.0 == 0 {
        return Err("price c is 0: the API has no quote for this symbol (Finnhub answers 0 for unknown symbols)".into());
    }
    let t = present(raw.t).ok_or("the quote has no time t")?;
    let seconds = std::str::from_utf8(unquote(t)).ok().and_then(|s| s.parse::<i64>().ok());
    let ts = match seconds {
        Some(0) => return Err("time t is 0: the API has no quote time for this symbol".into()),
        Some(s) => s.checked_mul(NANOS_PER_SECOND).ok_or_else(|| format!("time t {t} is out of range"))?,
        None => return Err(format!("time t {t} is not whole Unix seconds")),
    };
    let size = match present(raw.v) {
        None => DEFAULT_SIZE,
        Some(v) => Size(parse_scaled(unquote(v)).map_err(|e| format!("volume v {v} {e}"))?),
    };
    tick::validate(ts, price, size).map_err(|e| e.to_string())?;
    Ok(Tick { symbol: symbol.clone(), ts, price, size, seq: 0 })
}

/// A field's raw text unless it is absent or `null`.
fn present(value: Option<&RawValue>) -> Option<&str> {
    value.map(RawValue::get).filter(|text| *text != "null")
}

/// The text inside a JSON string, or a bare number's text.
fn unquote(raw: &str) -> &[u8] {
    raw.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(raw).as_bytes()
}

/// What one symbol has produced: the newest quote time and the prices seen
/// at it. A quote is new when its time is newer, or equal with a new price;
/// an older one (a lagging replica's answer) is not produced either.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    latest: i64,
    prices: Vec<Price>,
}

impl Seen {
    /// Whether `tick` is a quote not produced before; remembers it if so.
    pub(crate) fn is_new(&mut self, tick: &Tick) -> bool {
        if tick.ts > self.latest {
            self.latest = tick.ts;
            self.prices.clear();
        } else if tick.ts < self.latest || self.prices.contains(&tick.price) {
            return false;
        }
        self.prices.push(tick.price);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aapl() -> Symbol {
        Symbol::new("AAPL").unwrap()
    }

    #[test]
    fn a_finnhub_quote_is_an_exact_trade_of_default_size() {
        let body = br#"{"c":167.41,"d":-0.59,"dp":-0.351,"h":169.2,"l":166.5,"o":168,"pc":168,"t":1381132800}"#;
        let tick = quote(&aapl(), body).unwrap();
        assert_eq!(
            (tick.ts, tick.price, tick.size),
            (1_381_132_800 * NANOS_PER_SECOND, Price(16_741_000_000), DEFAULT_SIZE)
        );
    }

    #[test]
    fn a_volume_field_is_the_size() {
        let tick = quote(&aapl(), br#"{"c":"0.00000001","t":1,"v":250.5}"#).unwrap();
        assert_eq!((tick.price, tick.size), (Price(1), Size(25_050_000_000)));
        assert_eq!(quote(&aapl(), br#"{"c":1,"t":1,"v":null}"#).unwrap().size, DEFAULT_SIZE);
    }

    #[test]
    fn bad_answers_are_rejects_with_a_reason() {
        let cases: [(&[u8], &str); 11] = [
            (b"<html>", "not a JSON quote"),
            (b"[1,2]", "not a JSON quote"),
            (br#"{"t":1}"#, "no price c"),
            (br#"{"c":null,"t":1}"#, "no price c"),
            (br#"{"c":"abc","t":1}"#, "price c \"abc\" is not a decimal number"),
            (br#"{"c":1.123456789,"t":1}"#, "more than 8 decimal places"),
            (br#"{"c":0,"d":null,"dp":null,"h":0,"l":0,"o":0,"pc":0,"t":0}"#, "price c is 0"),
            (br#"{"c":-3,"t":1}"#, "price must be positive"),
            (br#"{"c":3,"t":1.5}"#, "time t 1.5 is not whole Unix seconds"),
            (br#"{"c":3,"t":1,"v":0}"#, "volume must be positive"),
            (br#"{"error":"You don't have access to this resource."}"#, "the API answered an error"),
        ];
        for (body, reason) in cases {
            let got = quote(&aapl(), body).unwrap_err();
            assert!(got.contains(reason), "{}: {got}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_quote_is_new_once() {
        let mut seen = Seen::default();
        let at = |ts, price| Tick { symbol: aapl(), ts, price: Price(price), size: DEFAULT_SIZE, seq: 0 };
        assert!(seen.is_new(&at(10, 1)));
        assert!(!seen.is_new(&at(10, 1)), "the same quote again");
        assert!(seen.is_new(&at(10, 2)), "a new price at the same time");
        assert!(!seen.is_new(&at(10, 1)), "an earlier price of that time, again");
        assert!(!seen.is_new(&at(9, 5)), "older than what was produced");
        assert!(seen.is_new(&at(11, 1)));
    }
}
