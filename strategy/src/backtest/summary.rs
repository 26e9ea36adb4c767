//! The figures of a run: `summary.json` and the table `tickflow backtest` prints.
//!
//! Returns are the equity curve's changes from one bar close time to the
//! next (the first from the starting capital). They are annualised as
//! vectorbt does with a year of 365 days: Sharpe and Sortino multiply the
//! per-step ratio by `sqrt(periods_per_year)`, with `periods_per_year =
//! 365 · 86,400 s / interval` (525,600 for 1m bars), and CAGR compounds over
//! the run's span in years of 365 days. A figure that is undefined (no
//! trade, no loss, no variation) is `null`.

use super::{Config, EquityPoint, Outcome};
use std::fmt::Write;
use tickflow_shared::fixed::write_scaled;

const YEAR_NANOS: f64 = 365.0 * 86_400e9;

/// The figures of one backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Closed round trips.
    pub trades: usize,
    /// Final equity less the capital, units of 10^-8.
    pub total_pnl: i128,
    /// `total_pnl / capital`.
    pub total_return: f64,
    /// Compound annual growth over the run's span.
    pub cagr: Option<f64>,
    /// Annualised mean over standard deviation (sample) of the returns.
    pub sharpe: Option<f64>,
    /// Annualised mean over downside deviation of the returns.
    pub sortino: Option<f64>,
    /// The largest fall from a peak of equity, a fraction of that peak.
    pub max_drawdown: f64,
    /// The longest time from a peak until equity is back at it (or the run
    /// ends), seconds.
    pub max_drawdown_duration: i64,
    /// Round trips with a positive profit over all round trips.
    pub win_rate: Option<f64>,
    /// Gross profit over gross loss of the round trips.
    pub profit_factor: Option<f64>,
    /// Bars at whose close a position was open, over all bars.
    pub exposure: f64,
    /// Starting capital, units of 10^-8.
    pub capital: i128,
    /// Equity at the end, units of 10^-8.
    pub final_equity: i128,
    /// Fees paid, units of 10^-8.
    pub fees: i128,
    /// The annualisation factor's periods: 365 days of bars.
    pub periods_per_year: f64,
}

impl Summary {
    /// The figures of `outcome`.
    pub fn of(config: &Config, outcome: &Outcome) -> Self {
        let capital = config.capital;
        let final_equity = outcome.totals.equity;
        let periods_per_year = YEAR_NANOS / config.interval.nanos() as f64;
        let (sharpe, sortino) = ratios(capital, &outcome.equity, periods_per_year);
        let (max_drawdown, max_drawdown_duration) = drawdowns(capital, config.interval.nanos(), &outcome.equity);
        let wins = outcome.trades.iter().filter(|t| t.pnl > 0).count();
        let profit: i128 = outcome.trades.iter().map(|t| t.pnl.max(0)).sum();
        let loss: i128 = outcome.trades.iter().map(|t| (-t.pnl).max(0)).sum();
        let span = match (outcome.equity.first(), outcome.equity.last()) {
            (Some(first), Some(last)) => (last.time - first.time + config.interval.nanos()) as f64 / YEAR_NANOS,
            _ => 0.0,
        };
        let growth = final_equity as f64 / capital as f64;
        Summary {
            trades: outcome.trades.len(),
            total_pnl: final_equity - capital,
            total_return: (final_equity - capital) as f64 / capital as f64,
            cagr: (span > 0.0 && growth > 0.0).then(|| growth.powf(1.0 / span) - 1.0),
            sharpe,
            sortino,
            max_drawdown,
            max_drawdown_duration,
            win_rate: (!outcome.trades.is_empty()).then(|| wins as f64 / outcome.trades.len() as f64),
            profit_factor: (loss > 0).then(|| profit as f64 / loss as f64),
            exposure: if outcome.bars == 0 { 0.0 } else { outcome.held_bars as f64 / outcome.bars as f64 },
            capital,
            final_equity,
            fees: outcome.totals.fees,
            periods_per_year,
        }
    }

    /// `summary.json`: the figures, then what the run was.
    pub fn to_json(&self, config: &Config, outcome: &Outcome) -> String {
        let mut out = String::from("{\n");
        let mut field = |name: &str, value: String| {
            let _ = writeln!(out, "  \"{name}\": {value},");
        };
        field("trades", self.trades.to_string());
        field("total_pnl", money(self.total_pnl));
        field("total_return", number(Some(self.total_return)));
        field("cagr", number(self.cagr));
        field("sharpe", number(self.sharpe));
        field("sortino", number(self.sortino));
        field("max_drawdown", number(Some(self.max_drawdown)));
        field("max_drawdown_duration", self.max_drawdown_duration.to_string());
        field("win_rate", number(self.win_rate));
        field("profit_factor", number(self.profit_factor));
        field("exposure", number(Some(self.exposure)));
        field("capital", money(self.capital));
        field("final_equity", money(self.final_equity));
        field("fees", money(self.fees));
        field("strategy", format!("\"{}\"", config.spec.name()));
        let params: Vec<String> = config.spec.params().iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        field("params", format!("{{{}}}", params.join(", ")));
        field("interval", format!("\"{}\"", config.interval));
        field("quantity", money(i128::from(config.quantity.units())));
        field("fee_bps", config.costs.fee_bps.to_string());
        field("slippage_bps", config.costs.slippage_bps.to_string());
        field("symbols", outcome.symbols.to_string());
        field("bars", outcome.bars.to_string());
        field("signals", outcome.signals.len().to_string());
        field("fills", outcome.fills.len().to_string());
        field("periods_per_year", number(Some(self.periods_per_year)));
        out.push_str(concat!(
            "  \"annualisation\": \"returns per bar close time; sharpe and sortino times ",
            "sqrt(periods_per_year), periods_per_year = 365 days / interval; cagr over the run's span in ",
            "years of 365 days; max_drawdown_duration in seconds\"\n}\n"
        ));
        out
    }

    /// The figures as a two-column table, as `tickflow backtest` prints them.
    pub fn table(&self) -> String {
        let pct = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{:.2}%", x * 100.0));
        let ratio = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"));
        let rows = [
            ("trades", self.trades.to_string()),
            ("total_pnl", money(self.total_pnl)),
            ("total_return", pct(Some(self.total_return))),
            ("cagr", pct(self.cagr)),
            ("sharpe", ratio(self.sharpe)),
            ("sortino", ratio(self.sortino)),
            ("max_drawdown", pct(Some(self.max_drawdown))),
            ("max_drawdown_duration", format!("{} s", self.max_drawdown_duration)),
            ("win_rate", pct(self.win_rate)),
            ("profit_factor", ratio(self.profit_factor)),
            ("exposure", pct(Some(self.exposure))),
            ("final_equity", money(self.final_equity)),
            ("fees", money(self.fees)),
        ];
        let mut out = String::new();
        for (name, value) in rows {
            let _ = writeln!(out, "{name:<22} {value:>18}");
        }
        out
    }
}

/// An exact decimal of units of 10^-8.
pub fn money(units: i128) -> String {
    let mut out = String::new();
    let _ = write_scaled(&mut out, units);
    out
}

/// A JSON number, or `null` for none or a non-finite value.
fn number(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".to_owned(),
    }
}

/// Annualised Sharpe and Sortino ratios of the curve's step returns.
fn ratios(capital: i128, curve: &[EquityPoint], periods_per_year: f64) -> (Option<f64>, Option<f64>) {
    let mut prev = capital as f64;
    let returns: Vec<f64> = curve
        .iter()
        .map(|p| {
            let e = p.equity as f64;
            let r = e / prev - 1.0;
            prev = e;
            r
        })
        .collect();
    if returns.len() < 2 {
        return (None, None);
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (n - 1.0);
    let down = (returns.iter().map(|r| r.min(0.0) * r.min(0.0)).sum::<f64>() / n).sqrt();
    let scale = periods_per_year.sqrt();
    let sharpe = (var > 0.0).then(|| mean / var.sqrt() * scale);
    let sortino = (down > 0.0).then(|| mean / down * scale);
    (sharpe.filter(|x| x.is_finite()), sortino.filter(|x| x.is_finite()))
}

/// The drawdown of each point below its running peak, a fraction `<= 0`.
pub fn drawdown_series(capital: i128, curve: &[EquityPoint]) -> Vec<f64> {
    let mut peak = capital;
    curve
        .iter()
        .map(|p| {
            peak = peak.max(p.equity);
            if peak > 0 { p.equity as f64 / peak as f64 - 1.0 } else { 0.0 }
        })
        .collect()
}

/// The largest drawdown (a positive fraction) and the longest time under a
/// peak (seconds); the capital is the peak at the first bar's start.
fn drawdowns(capital: i128, step: i64, curve: &[EquityPoint]) -> (f64, i64) {
    let deepest = drawdown_series(capital, curve).into_iter().fold(0.0_f64, f64::min);
    let mut peak = (capital, curve.first().map_or(0, |p| p.time - step));
    let (mut longest, mut under) = (0, false);
    for p in curve {
        if p.equity >= peak.0 {
            if under {
                longest = longest.max(p.time - peak.1);
            }
            (peak, under) = ((p.equity, p.time), false);
        } else {
            under = true;
        }
    }
    if let (true, Some(last)) = (under, curve.last()) {
        longest = longest.max(last.time - peak.1);
    }
    (-deepest, longest / 1_000_000_000)
}
