//! Query parameters: parsed once per request, each checked with an error
//! that names the parameter and says what it allows.

use crate::error::ApiError;
use tickflow_shared::time::parse_timestamp;
use tickflow_shared::{Interval, Symbol};

/// The parameter every route takes when auth is on (for clients that cannot set headers).
pub(crate) const TOKEN: &str = "token";

/// The decoded query string of one request.
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes `raw`.
    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let pairs = serde_urlencoded::from_str(raw).map_err(|e| {
            ApiError::bad("query", format!("the query string is not URL-encoded name=value pairs: {e}"), Vec::new())
        })?;
        Ok(Self { pairs })
    }

    /// Checks that every name is one of `allowed` (or `token`) and none is given twice.
    pub fn check(&self, allowed: &'static [&'static str]) -> Result<(), ApiError> {
        let names = || allowed.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let pairs = &self.pairs;
        for (i, (name, _)) in pairs.iter().enumerate() {
            let Some(known) = allowed.iter().chain(&[TOKEN]).find(|n| **n == name) else {
                let message = if allowed.is_empty() {
                    format!("unknown parameter {name:?}: this route takes none")
                } else {
                    format!("unknown parameter {name:?}: this route takes {}", allowed.join(", "))
                };
                return Err(ApiError::bad("query", message, names()));
            };
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::bad(known, format!("{name} is given twice; give it once"), Vec::new()));
            }
        }
        Ok(())
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &'static str, what: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::bad(name, format!("{name} is required: {what}"), Vec::new()))
    }

    /// A required symbol.
    pub fn symbol(&self, name: &'static str) -> Result<Symbol, ApiError> {
        symbol(name, self.required(name, "a ticker symbol like AAPL")?)
    }

    /// An optional comma-separated list of symbols, at most `limit` of them.
    pub fn symbols(&self, name: &'static str, limit: usize) -> Result<Option<Vec<Symbol>>, ApiError> {
        let Some(text) = self.get(name) else { return Ok(None) };
        let mut symbols = text.split(',').map(|s| symbol(name, s.trim())).collect::<Result<Vec<_>, _>>()?;
        symbols.sort();
        symbols.dedup();
        if symbols.len() > limit {
            let message = format!("{name} names {} symbols; at most {limit} are served per request", symbols.len());
            return Err(ApiError::bad(name, message, Vec::new()));
        }
        Ok(Some(symbols))
    }

    /// An interval that is one of `served`; required unless `default` is given.
    pub fn interval(
        &self,
        name: &'static str,
        served: &[Interval],
        default: Option<Interval>,
    ) -> Result<Interval, ApiError> {
        let allowed = || served.iter().map(ToString::to_string).collect::<Vec<_>>();
        let text = match (self.get(name), default) {
            (Some(text), _) => text,
            (None, Some(interval)) => return Ok(interval),
            (None, None) => {
                let message = format!("{name} is required: one of {}", allowed().join(", "));
                return Err(ApiError::bad(name, message, allowed()));
            }
        };
        match text.parse::<Interval>() {
            Ok(interval) if served.contains(&interval) => Ok(interval),
            _ => {
                let message = format!("{name} {text:?} is not served here; use one of {}", allowed().join(", "));
                Err(ApiError::bad(name, message, allowed()))
            }
        }
    }

    /// A required time: RFC 3339 or integer epoch milliseconds.
    pub fn time(&self, name: &'static str) -> Result<i64, ApiError> {
        let text = self.required(name, "RFC 3339 like 2013-10-07T13:30:00Z, or epoch milliseconds")?;
        parse_timestamp(text.as_bytes()).map_err(|e| {
            let hint = if text.contains(' ') { " (write a + in an offset as %2B)" } else { "" };
            ApiError::bad(name, format!("{name} {text:?} {e}{hint}"), Vec::new())
        })
    }

    /// An optional count from 1 to `max`.
    pub fn count(&self, name: &'static str, max: usize) -> Result<Option<usize>, ApiError> {
        let Some(text) = self.get(name) else { return Ok(None) };
        match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => {
                Err(ApiError::bad(name, format!("{name} {text:?} must be a whole number from 1 to {max}"), Vec::new()))
            }
        }
    }

    /// An optional change number (0 or more), as `/stream` resumes from.
    pub fn change(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.get(name) else { return Ok(None) };
        change(name, text).map(Some)
    }
}

/// A change number from a parameter or the `Last-Event-ID` header.
pub(crate) fn change(name: &'static str, text: &str) -> Result<i64, ApiError> {
    text.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        ApiError::bad(name, format!("{name} {text:?} must be a change number (an event id) of 0 or more"), Vec::new())
    })
}

fn symbol(name: &'static str, text: &str) -> Result<Symbol, ApiError> {
    Symbol::new(text).map_err(|_| {
        let message = format!(
            "{name}: {text:?} is not a symbol; a symbol is 1 to {} of A-Z a-z 0-9 . - _ / : = ^",
            Symbol::MAX_LEN
        );
        ApiError::bad(name, message, Vec::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[&str] = &["symbol", "interval", "from", "limit"];

    fn parse(raw: &str) -> Result<Params, ApiError> {
        let params = Params::decode(raw)?;
        params.check(ALLOWED).map(|()| params)
    }

    fn params(raw: &str) -> Params {
        parse(raw).expect("valid query")
    }

    #[test]
    fn parses_and_checks_each_kind() {
        let p = params("symbol=BRK.B&interval=1m&from=2013-10-07T13%3A30%3A00%2B02%3A00&limit=5&token=x");
        assert_eq!(p.symbol("symbol").expect("symbol").as_str(), "BRK.B");
        let served = Interval::parse_list("1m,1h").expect("intervals");
        assert_eq!(p.interval("interval", &served, None).expect("interval").to_string(), "1m");
        assert_eq!(p.time("from").expect("time"), 1_381_145_400_000_000_000);
        assert_eq!(p.count("limit", 10).expect("count"), Some(5));
        assert!(p.count("limit", 4).is_err());
        let unserved = Interval::parse_list("1h").expect("intervals");
        let error = p.interval("interval", &unserved, None).expect_err("not served");
        assert_eq!((error.parameter, error.allowed), (Some("interval"), vec!["1h".to_owned()]));
    }

    #[test]
    fn refuses_unknown_repeated_and_malformed() {
        let error = parse("symbl=A").err().expect("unknown");
        assert!(error.message.contains("symbl") && error.message.contains("symbol, interval, from, limit"));
        assert!(parse("limit=1&limit=2").is_err());
        let p = params("symbol=A%20B&from=yesterday&limit=0");
        assert!(p.symbol("symbol").is_err());
        let error = p.time("from").expect_err("malformed");
        assert!(error.message.contains("RFC 3339"), "{}", error.message);
        assert!(p.count("limit", 10).is_err());
        assert!(p.time("to").expect_err("missing").message.contains("required"));
        assert!(change("since", "-1").is_err());
    }
}
