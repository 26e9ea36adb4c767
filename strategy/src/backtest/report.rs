//! `report.html`: one self-contained page (no script, no network) with the
//! equity curve and the drawdown as inline SVG charts, the summary and the
//! round trips.

use super::summary::{Summary, drawdown_series, money};
use super::{Config, Outcome};
use std::fmt::Write as _;
use tickflow_shared::time::format_rfc3339;

/// At most this many points are drawn per chart; longer curves are thinned.
const POINTS: usize = 1500;
/// At most this many round trips are listed; the rest are in `trades.csv`.
const ROWS: usize = 2000;
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const PAD: f64 = 56.0;

/// The page.
pub fn page(config: &Config, outcome: &Outcome, summary: &Summary) -> String {
    let params: Vec<String> = config.spec.params().iter().map(|(k, v)| format!("{k}={v}")).collect();
    let title = format!("{} ({}) on {} bars", config.spec.name(), params.join(", "), config.interval);
    let times: Vec<i64> = outcome.equity.iter().map(|p| p.time).collect();
    let equity: Vec<f64> = outcome.equity.iter().map(|p| p.equity as f64 / 1e8).collect();
    let drawdown: Vec<f64> = drawdown_series(config.capital, &outcome.equity).iter().map(|d| d * 100.0).collect();
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tickflow backtest: {title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2433; background: #fff; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 28px; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 10px; border-bottom: 1px solid #e3e6ee; text-align: right; }}
th {{ background: #f4f6fa; }} td:first-child, th:first-child {{ text-align: left; }}
svg {{ background: #fbfcfe; border: 1px solid #e3e6ee; }} .axis {{ font-size: 11px; fill: #5a6478; }}
.win {{ color: #1b7f3b; }} .loss {{ color: #b42318; }}
</style></head><body>
<h1>tickflow backtest: {title}</h1>
<p>{symbols} symbols, {bars} bars, {signals} signals, {fills} fills; quantity {quantity}, fee {fee} bp, slippage {slip} bp, capital {capital}.</p>
"#,
        title = escape(&title),
        symbols = outcome.symbols,
        bars = outcome.bars,
        signals = outcome.signals.len(),
        fills = outcome.fills.len(),
        quantity = money(config.quantity.units().into()),
        fee = config.costs.fee_bps,
        slip = config.costs.slippage_bps,
        capital = money(config.capital),
    );
    out.push_str("<h2>Equity</h2>\n");
    chart(&mut out, "equity-chart", &times, &equity, "#2f6fdf", false);
    out.push_str("<h2>Drawdown (%)</h2>\n");
    chart(&mut out, "drawdown-chart", &times, &drawdown, "#c2410c", true);
    out.push_str("<h2>Summary</h2>\n<table id=\"summary\"><tr><th>figure</th><th>value</th></tr>\n");
    for line in summary.table().lines() {
        if let Some((name, value)) = line.split_once(' ') {
            let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", escape(name), escape(value.trim()));
        }
    }
    out.push_str("</table>\n");
    trades_table(&mut out, outcome);
    out.push_str("</body></html>\n");
    out
}

/// The round trips, by entry time.
fn trades_table(out: &mut String, outcome: &Outcome) {
    let mut trades: Vec<_> = outcome.trades.iter().collect();
    trades.sort_by(|a, b| (a.entry_time, &a.symbol).cmp(&(b.entry_time, &b.symbol)));
    let _ = writeln!(out, "<h2>Trades ({})</h2>", trades.len());
    if trades.len() > ROWS {
        let _ = writeln!(out, "<p>The first {ROWS} round trips; trades.csv has them all.</p>");
    }
    out.push_str("<table id=\"trades\"><tr><th>symbol</th><th>entry time</th><th>entry price</th>");
    out.push_str("<th>exit time</th><th>exit price</th><th>quantity</th><th>pnl</th></tr>\n");
    for t in trades.iter().take(ROWS) {
        let class = if t.pnl > 0 { "win" } else { "loss" };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            escape(t.symbol.as_str()),
            format_rfc3339(t.entry_time),
            t.entry_price,
            format_rfc3339(t.exit_time),
            t.exit_price,
            money(t.quantity.into()),
            money(t.pnl)
        );
    }
    out.push_str("</table>\n");
}

/// An SVG line chart of `values` over `times`; `area` fills down to zero.
fn chart(out: &mut String, id: &str, times: &[i64], values: &[f64], color: &str, area: bool) {
    let _ = writeln!(
        out,
        r#"<svg id="{id}" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">"#
    );
    if values.is_empty() {
        let _ = writeln!(out, r#"<text class="axis" x="{PAD}" y="{}">no bars</text></svg>"#, HEIGHT / 2.0);
        return;
    }
    let mut lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if area {
        hi = hi.max(0.0);
    }
    if hi - lo < 1e-12 {
        (lo, hi) = (lo - 1.0, hi + 1.0);
    }
    let stride = values.len().div_ceil(POINTS).max(1);
    let last = values.len() - 1;
    let picked: Vec<usize> =
        (0..values.len()).step_by(stride).chain((!last.is_multiple_of(stride)).then_some(last)).collect();
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * if last == 0 { 0.5 } else { i as f64 / last as f64 };
    let y = |v: f64| HEIGHT - PAD / 2.0 - (HEIGHT - PAD) * (v - lo) / (hi - lo);
    let mut points = String::new();
    for &i in &picked {
        let _ = write!(points, "{:.1},{:.1} ", x(i), y(values[i]));
    }
    if area {
        let _ = write!(points, "{:.1},{:.1} {:.1},{:.1}", x(last), y(0.0), x(0), y(0.0));
        let _ = writeln!(out, r#"<polygon points="{points}" fill="{color}" fill-opacity="0.35" stroke="{color}"/>"#);
    } else {
        let _ = writeln!(out, r#"<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5"/>"#);
    }
    let label = |v: f64| if area { format!("{v:.2}%") } else { format!("{v:.2}") };
    let _ = writeln!(
        out,
        r#"<text class="axis" x="4" y="{:.1}">{}</text><text class="axis" x="4" y="{:.1}">{}</text>"#,
        y(hi) + 4.0,
        label(hi),
        y(lo) + 4.0,
        label(lo)
    );
    let _ = writeln!(
        out,
        r#"<text class="axis" x="{PAD}" y="{:.1}">{}</text><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text></svg>"#,
        HEIGHT - 6.0,
        format_rfc3339(times[0]),
        WIDTH - PAD,
        HEIGHT - 6.0,
        format_rfc3339(times[last])
    );
}

/// Text safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
