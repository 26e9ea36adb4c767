//! A trade, and the rules every source checks before a trade enters a layer.

use crate::fixed::{Price, Size};
use crate::time::{MAX_EVENT_TIME, MIN_EVENT_TIME};
use smol_str::SmolStr;
use std::fmt;

/// A ticker symbol: 1 to 32 characters of `A-Z a-z 0-9 . - _ / : = ^`.
///
/// Kept inline (no heap allocation) for the lengths real tickers have.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Symbol(SmolStr);

impl Symbol {
    /// The longest symbol accepted.
    pub const MAX_LEN: usize = 32;

    /// Checks the format and builds a symbol.
    pub fn new(text: &str) -> Result<Self, InvalidTick> {
        if Self::is_valid(text.as_bytes()) { Ok(Self(SmolStr::new(text))) } else { Err(InvalidTick::Symbol) }
    }

    /// Whether `bytes` is a well-formed symbol.
    pub fn is_valid(bytes: &[u8]) -> bool {
        (1..=Self::MAX_LEN).contains(&bytes.len())
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b".-_/:=^".contains(b))
    }

    /// The symbol's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

/// One trade.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tick {
    /// The instrument traded.
    pub symbol: Symbol,
    /// Event time, nanoseconds since the Unix epoch (UTC).
    pub ts: i64,
    /// Trade price.
    pub price: Price,
    /// Trade size.
    pub size: Size,
    /// Position in its source; orders trades of one symbol that share `ts`.
    pub seq: u64,
}

/// Why a parsed trade is not a valid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTick {
    /// The price is zero or negative.
    #[error("price must be positive")]
    Price,
    /// The size is zero or negative.
    #[error("volume must be positive")]
    Size,
    /// The symbol is empty, too long or has characters outside `A-Z a-z 0-9 . - _ / : = ^`.
    #[error("symbol {SYMBOL_RULE}")]
    Symbol,
    /// The event time is before 1970 or after 2199.
    #[error("timestamp is outside 1970-01-01 .. 2200-01-01")]
    Time,
}

/// What a symbol must be, as the end of an error message.
const SYMBOL_RULE: &str = "must be 1 to 32 characters of A-Z a-z 0-9 . - _ / : = ^";

/// The reject reason for a text that is not a symbol: `symbol "A B" must be ...`.
pub fn invalid_symbol(text: &str) -> String {
    format!("symbol {text:?} {SYMBOL_RULE}")
}

/// Checks the value rules of a trade (the symbol is checked where it is parsed).
pub fn validate(ts: i64, price: Price, size: Size) -> Result<(), InvalidTick> {
    if price.0 <= 0 {
        Err(InvalidTick::Price)
    } else if size.0 <= 0 {
        Err(InvalidTick::Size)
    } else if !(MIN_EVENT_TIME..MAX_EVENT_TIME).contains(&ts) {
        Err(InvalidTick::Time)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        for good in ["AAPL", "BRK.B", "BTC-USD", "ES=F", "^GSPC", "a"] {
            assert!(Symbol::new(good).is_ok(), "{good}");
        }
        for bad in ["", "AA PL", "AAPL\n", "ÄPFEL", &"X".repeat(33)] {
            assert_eq!(Symbol::new(bad), Err(InvalidTick::Symbol), "{bad}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(validate(0, Price(1), Size(1)), Ok(()));
        assert_eq!(validate(0, Price(0), Size(1)), Err(InvalidTick::Price));
        assert_eq!(validate(0, Price(-1), Size(1)), Err(InvalidTick::Price));
        assert_eq!(validate(0, Price(1), Size(0)), Err(InvalidTick::Size));
        assert_eq!(validate(-1, Price(1), Size(1)), Err(InvalidTick::Time));
    }
}
