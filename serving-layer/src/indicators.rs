//! `/api/v1/indicators`: an indicator over one symbol's merged bars, with
//! the shared code the bot and the feature export use
//! ([`tickflow_shared::indicators`]), so a chart and a signal never disagree.
//!
//! An indicator needs bars before `from` to have a value at `from`: the
//! route reads the range together with enough earlier bars in one snapshot.
//! Bars exist only where trades happened, so it looks back over a window of
//! the bars it needs and widens it (4×, up to 64×) until it holds them.
//! Windowed indicators (SMA, Bollinger) need their warm-up only and are then
//! exact; recursive ones (EMA, RSI, ATR, MACD) start 10 periods earlier
//! still, where the seed's weight has fallen below e^-20, so their values
//! agree with a run from the first bar ever to well within 1e-8 relative.

use crate::State;
use crate::encoding::Body;
use crate::error::ApiError;
use crate::params::Params;
use crate::signals::range;
use std::fmt::Write as _;
use tickflow_shared::Bar;
use tickflow_shared::indicators::{
    Atr, Bands, Bollinger, Ema, Indicator, MAX_PERIOD, Macd, MacdValue, Rsi, Sma, VwapDeviation,
};
use tickflow_shared::store::{BarQuery, ViewSelect};
use tickflow_shared::time::write_rfc3339;
use warp::http::StatusCode;
use warp::reply::Response;

/// The indicators served, as `name` spells them.
pub(crate) const NAMES: &[&str] = &["sma", "ema", "rsi", "atr", "bollinger", "macd", "vwap"];

/// Recursive indicators start this many periods before the warm-up.
const SETTLE_PERIODS: usize = 10;

/// How far back, in multiples of the window the bars need, the route looks.
const WIDEST: i64 = 64;

/// One indicator's running state.
enum Study {
    Sma(Sma),
    Ema(Ema),
    Rsi(Rsi),
    Atr(Atr),
    Bollinger(Bollinger),
    Macd(Macd),
    Vwap(VwapDeviation),
}

impl Study {
    /// The indicator `name` over `period` bars (its default when `None`).
    fn new(name: &str, period: Option<usize>) -> Result<Self, ApiError> {
        let period_error = |e: tickflow_shared::indicators::IndicatorError| {
            ApiError::bad("period", format!("{e}; pick a period in that range"), Vec::new())
        };
        let fixed = |what: &str| {
            let message = format!("{name} takes no period ({what}); leave period out");
            ApiError::bad("period", message, Vec::new())
        };
        Ok(match name {
            "sma" => Study::Sma(Sma::new(period.unwrap_or(20)).map_err(period_error)?),
            "ema" => Study::Ema(Ema::new(period.unwrap_or(20)).map_err(period_error)?),
            "rsi" => Study::Rsi(Rsi::new(period.unwrap_or(14)).map_err(period_error)?),
            "atr" => Study::Atr(Atr::new(period.unwrap_or(14)).map_err(period_error)?),
            "bollinger" => Study::Bollinger(Bollinger::new(period.unwrap_or(20), 2.0).map_err(period_error)?),
            "macd" if period.is_some() => return Err(fixed("it is 12, 26 and 9")),
            "macd" => Study::Macd(Macd::default()),
            "vwap" if period.is_some() => return Err(fixed("it is each bar's own VWAP")),
            "vwap" => Study::Vwap(VwapDeviation::new()),
            other => {
                let allowed: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
                let message =
                    format!("name {other:?} is not an indicator served here; use one of {}", NAMES.join(", "));
                return Err(ApiError::bad("name", message, allowed));
            }
        })
    }

    /// The period, as the answer reports it (`None` where there is none).
    fn period(&self) -> Option<usize> {
        match self {
            Study::Sma(i) => Some(i.period()),
            Study::Ema(i) => Some(i.period()),
            Study::Rsi(i) => Some(i.period()),
            Study::Atr(i) => Some(i.period()),
            Study::Bollinger(i) => Some(i.period()),
            Study::Macd(_) | Study::Vwap(_) => None,
        }
    }

    /// How many bars before `from` to feed first.
    fn history(&self) -> usize {
        let settle = |period: usize, warm_up: usize| warm_up + SETTLE_PERIODS * period;
        match self {
            Study::Sma(i) => i.warm_up(),
            Study::Bollinger(i) => i.warm_up(),
            Study::Ema(i) => settle(i.period(), i.warm_up()),
            Study::Rsi(i) => settle(i.period(), i.warm_up()),
            Study::Atr(i) => settle(i.period(), i.warm_up()),
            Study::Macd(i) => settle(i.periods().1, i.warm_up()),
            Study::Vwap(_) => 0,
        }
    }

    /// Feeds `bar` and appends the value's members (without braces).
    fn update(&mut self, bar: &Bar, out: &mut String) {
        let number = |out: &mut String, name: &str, value: Option<f64>| {
            let text = value.filter(|v| v.is_finite()).map_or_else(|| "null".to_owned(), |v| format!("{v:?}"));
            let _ = write!(out, r#","{name}":{text}"#);
        };
        match self {
            Study::Sma(i) => number(out, "value", i.update(bar)),
            Study::Ema(i) => number(out, "value", i.update(bar)),
            Study::Rsi(i) => number(out, "value", i.update(bar)),
            Study::Atr(i) => number(out, "value", i.update(bar)),
            Study::Bollinger(i) => {
                let bands: Option<Bands> = i.update(bar);
                number(out, "upper", bands.map(|b| b.upper));
                number(out, "middle", bands.map(|b| b.middle));
                number(out, "lower", bands.map(|b| b.lower));
            }
            Study::Macd(i) => {
                let macd: Option<MacdValue> = i.update(bar);
                number(out, "line", macd.map(|m| m.line));
                number(out, "signal", macd.map(|m| m.signal));
                number(out, "histogram", macd.map(|m| m.histogram));
            }
            Study::Vwap(i) => {
                let _ = write!(out, r#","vwap":{}"#, bar.vwap);
                number(out, "deviation", i.update(bar));
            }
        }
    }
}

/// `GET /api/v1/indicators`: one point per bar with `from <= start < to`,
/// each with the indicator's value(s) after that bar (`null` while it warms
/// up).
pub(crate) async fn indicators(state: &State, params: &Params, gzip: bool) -> Result<Response, ApiError> {
    let config = &state.config;
    let symbol = params.symbol("symbol")?;
    let interval = params.interval("interval", &config.intervals, None)?;
    let name = params.get("name").ok_or_else(|| {
        let allowed: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
        ApiError::bad("name", format!("name is required: one of {}", NAMES.join(", ")), allowed)
    })?;
    let period = params.count("period", MAX_PERIOD)?;
    let mut study = Study::new(name, period)?;
    let (from, to) = range(params)?;
    let span = interval.nanos();
    let count = (to - from + span - 1) / span;
    if count > config.point_limit as i64 {
        let message = format!(
            "from..to spans {count} bars of {interval}; at most {} are served at once: narrow the range or use a \
             coarser interval",
            config.point_limit
        );
        return Err(ApiError::bad("to", message, Vec::new()));
    }

    let want = study.history();
    let mut back = i64::try_from(want).unwrap_or(i64::MAX).saturating_mul(span);
    let bars = loop {
        let query = BarQuery {
            interval,
            symbol: Some(symbol.clone()),
            from: Some(from.saturating_sub(back)),
            to: Some(to),
            view: ViewSelect::Merged,
            limit: None,
        };
        let read = state.store.bars(&query).await.map_err(|e| ApiError::store(&e))?;
        let before = read.bars.partition_point(|b| b.bar.start < from);
        let widest = i64::try_from(want).unwrap_or(i64::MAX).saturating_mul(span).saturating_mul(WIDEST);
        if before >= want || back >= widest {
            break read.bars.into_iter().skip(before.saturating_sub(want)).collect::<Vec<_>>();
        }
        back = back.saturating_mul(4);
    };

    let mut body = String::with_capacity(128 + bars.len() * 64);
    let _ = write!(body, r#"{{"symbol":"{symbol}","interval":"{interval}","name":"{name}","period":"#);
    match study.period() {
        Some(period) => {
            let _ = write!(body, "{period}");
        }
        None => body.push_str("null"),
    }
    body.push_str(r#","points":["#);
    let mut first = true;
    for row in &bars {
        let mut point = String::with_capacity(64);
        study.update(&row.bar, &mut point);
        if row.bar.start < from {
            continue;
        }
        if !first {
            body.push(',');
        }
        first = false;
        body.push_str(r#"{"start":""#);
        write_rfc3339(&mut body, row.bar.start);
        body.push('"');
        body.push_str(&point);
        body.push('}');
    }
    body.push_str("]}");
    Ok(Body::new(body).reply(StatusCode::OK, gzip))
}
