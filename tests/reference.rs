//! The naive reference: bars by sorting, grouping and folding, written
//! without any of tickflow's code (its own decimal parser, its own calendar).

use std::collections::BTreeMap;

/// One trade as the reference sees it: scaled integers, line order as seq.
#[derive(Clone, Debug)]
pub struct Trade {
    pub symbol: String,
    pub ts_ms: i64,
    pub line: u64,
    pub price: i64,
    pub size: i64,
}

/// Parses `167.41` into units of 10^-8.
pub fn scaled(text: &str) -> i64 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction = format!("{fraction:0<8}");
    whole.parse::<i64>().expect("whole part") * 100_000_000 + fraction[..8].parse::<i64>().expect("fraction")
}

/// Reads a header-first CSV with at least `timestamp,symbol,price,volume` (epoch ms).
pub fn read_csv(text: &str) -> Vec<Trade> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let (t, s, p, v) = (col("timestamp"), col("symbol"), col("price"), col("volume"));
    lines
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            Trade {
                symbol: f[s].to_owned(),
                ts_ms: f[t].parse().expect("ts"),
                line: i as u64,
                price: scaled(f[p]),
                size: scaled(f[v]),
            }
        })
        .collect()
}

fn decimal(units: i128) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let units = units.abs();
    let text = format!("{}.{:08}", units / 100_000_000, units % 100_000_000);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{sign}{text}")
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// RFC 3339 of whole seconds, by walking the calendar from 1970.
fn rfc3339(seconds: i64) -> String {
    let (mut days, mut rest) = (seconds / 86_400, seconds % 86_400);
    if rest < 0 {
        rest += 86_400;
        days -= 1;
    }
    let mut year = 1970;
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let months = [31, if is_leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= months[month] {
        days -= months[month];
        month += 1;
    }
    format!("{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", month + 1, days + 1, rest / 3600, rest / 60 % 60, rest % 60)
}

/// CSV rows (no header) of the bars of `interval_seconds`, labelled `label`, ordered by symbol and start.
pub fn bars(trades: &[Trade], interval_seconds: i64, label: &str, view: &str) -> Vec<String> {
    let mut sorted: Vec<&Trade> = trades.iter().collect();
    sorted.sort_by(|a, b| (&a.symbol, a.ts_ms, a.line).cmp(&(&b.symbol, b.ts_ms, b.line)));
    let mut groups: BTreeMap<(&str, i64), Vec<&Trade>> = BTreeMap::new();
    let width = interval_seconds * 1000;
    for t in sorted {
        groups.entry((&t.symbol, t.ts_ms.div_euclid(width) * width)).or_default().push(t);
    }
    groups
        .into_iter()
        .map(|((symbol, start_ms), group)| {
            let open = group[0].price;
            let close = group[group.len() - 1].price;
            let high = group.iter().map(|t| t.price).max().expect("trades");
            let low = group.iter().map(|t| t.price).min().expect("trades");
            let volume: i128 = group.iter().map(|t| t.size as i128).sum();
            let notional: i128 = group.iter().map(|t| t.price as i128 * t.size as i128).sum();
            let (q, r) = (notional / volume, notional % volume);
            let vwap = if r * 2 >= volume { q + 1 } else { q };
            format!(
                "{symbol},{label},{},{},{},{},{},{},{},{},{view}",
                rfc3339(start_ms / 1000),
                decimal(open.into()),
                decimal(high.into()),
                decimal(low.into()),
                decimal(close.into()),
                decimal(volume),
                decimal(vwap),
                group.len()
            )
        })
        .collect()
}

/// The trades of `../shared/data/real/`.
pub fn real_trades() -> Vec<Trade> {
    let dir = super::support::shared_data().join("real");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("real data").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut trades = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let bytes = zstd::decode_all(std::fs::File::open(file).expect("open")).expect("zstd");
        let mut day = read_csv(std::str::from_utf8(&bytes).expect("utf-8"));
        day.iter_mut().for_each(|t| t.line += (n as u64) << 32);
        trades.extend(day);
    }
    trades
}
