//! The files of a backtest: `signals.csv`, `fills.csv`, `trades.csv`,
//! `equity.csv`, `summary.json` and `report.html`.
//!
//! Times are RFC 3339 UTC, money and prices exact decimals, and rows are
//! in time order (then symbol), so the same bars give byte-identical files.

use super::summary::{Summary, drawdown_series, money};
use super::{Config, Outcome};
use crate::StrategyError;
use std::fmt::Write as _;
use std::path::Path;
use tickflow_shared::time::write_rfc3339;

/// The header of `signals.csv`.
pub const SIGNALS_HEADER: &str = "strategy,symbol,interval,start,side,close,reason";
/// The header of `fills.csv`.
pub const FILLS_HEADER: &str = "strategy,symbol,side,time,price,quantity,fee";
/// The header of `trades.csv`.
pub const TRADES_HEADER: &str = "symbol,entry_time,entry_price,exit_time,exit_price,quantity,pnl";
/// The header of `equity.csv`.
pub const EQUITY_HEADER: &str = "time,equity,drawdown";

/// Writes every file of the run into `dir` (created if missing).
pub fn write_all(dir: &Path, config: &Config, outcome: &Outcome, summary: &Summary) -> Result<(), StrategyError> {
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, &e))?;
    let files = [
        ("signals.csv", signals(outcome)),
        ("fills.csv", fills(outcome)),
        ("trades.csv", trades(outcome)),
        ("equity.csv", equity(config, outcome)),
        ("summary.json", summary.to_json(config, outcome)),
        ("report.html", super::report::page(config, outcome, summary)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| failed(&path, &e))?;
    }
    Ok(())
}

fn failed(path: &Path, error: &std::io::Error) -> StrategyError {
    StrategyError::Write { path: path.display().to_string(), message: error.to_string() }
}

/// `signals.csv`.
pub fn signals(outcome: &Outcome) -> String {
    let mut rows: Vec<_> = outcome.signals.iter().collect();
    rows.sort_by(|a, b| (a.start, &a.symbol).cmp(&(b.start, &b.symbol)));
    let mut out = format!("{SIGNALS_HEADER}\n");
    for s in rows {
        let _ = write!(out, "{},{},{},", s.strategy, s.symbol, s.interval);
        write_rfc3339(&mut out, s.start);
        let _ = write!(out, ",{},{},", s.side, s.close);
        field(&mut out, &s.reason);
        out.push('\n');
    }
    out
}

/// `fills.csv`.
pub fn fills(outcome: &Outcome) -> String {
    let mut rows: Vec<_> = outcome.fills.iter().collect();
    rows.sort_by(|a, b| (a.time, &a.symbol).cmp(&(b.time, &b.symbol)));
    let mut out = format!("{FILLS_HEADER}\n");
    for f in rows {
        let _ = write!(out, "{},{},{},", f.strategy, f.symbol, f.side);
        write_rfc3339(&mut out, f.time);
        let _ = writeln!(out, ",{},{},{}", f.price, money(f.quantity.into()), money(f.fee.into()));
    }
    out
}

/// `trades.csv`: round trips by entry time.
pub fn trades(outcome: &Outcome) -> String {
    let mut rows: Vec<_> = outcome.trades.iter().collect();
    rows.sort_by(|a, b| (a.entry_time, &a.symbol).cmp(&(b.entry_time, &b.symbol)));
    let mut out = format!("{TRADES_HEADER}\n");
    for t in rows {
        let _ = write!(out, "{},", t.symbol);
        write_rfc3339(&mut out, t.entry_time);
        let _ = write!(out, ",{},", t.entry_price);
        write_rfc3339(&mut out, t.exit_time);
        let _ = writeln!(out, ",{},{},{}", t.exit_price, money(t.quantity.into()), money(t.pnl));
    }
    out
}

/// `equity.csv`: the account at every distinct bar close time, and its
/// drawdown below the running peak as a fraction (`-0.01` is 1% below).
pub fn equity(config: &Config, outcome: &Outcome) -> String {
    let drawdowns = drawdown_series(config.capital, &outcome.equity);
    let mut out = format!("{EQUITY_HEADER}\n");
    for (point, drawdown) in outcome.equity.iter().zip(drawdowns) {
        write_rfc3339(&mut out, point.time);
        let _ = writeln!(out, ",{},{drawdown}", money(point.equity));
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        let _ = write!(out, "\"{}\"", text.replace('"', "\"\""));
    } else {
        out.push_str(text);
    }
}
