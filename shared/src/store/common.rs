//! What both engines share: how a query splits into per-view ranges, and
//! small conversions.

use super::{BarQuery, BatchDay, DayFile, StoreError, View, ViewSelect};
use crate::interval::Interval;
use crate::tick::Symbol;

/// One table to read: a view and a `[lo, hi)` range of bar starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    pub view: View,
    pub lo: Option<i64>,
    pub hi: Option<i64>,
}

/// The parts a query reads, given the boundary of its snapshot (contract 6):
/// batch bars before the boundary, speed bars from it on. A side of the
/// boundary the query's range does not reach is not read at all (a day
/// before the boundary asks nothing of the speed table); a query whose
/// range is empty still reads one part, so its SQL stays well formed.
pub(crate) fn parts(query: &BarQuery, boundary: Option<i64>) -> Vec<Part> {
    let whole = |view| Part { view, lo: query.from, hi: query.to };
    match (query.view, boundary) {
        (ViewSelect::Batch, _) => vec![whole(View::Batch)],
        (ViewSelect::Speed, _) | (ViewSelect::Merged, None) => vec![whole(View::Speed)],
        (ViewSelect::Merged, Some(b)) => {
            let batch = Part { view: View::Batch, lo: query.from, hi: Some(query.to.map_or(b, |to| to.min(b))) };
            let speed = Part { view: View::Speed, lo: Some(query.from.map_or(b, |from| from.max(b))), hi: query.to };
            let reached: Vec<Part> = [batch, speed].into_iter().filter(|part| !part.is_empty()).collect();
            if reached.is_empty() { vec![batch] } else { reached }
        }
    }
}

impl Part {
    /// Whether no bar start lies in `[lo, hi)`.
    fn is_empty(&self) -> bool {
        matches!((self.lo, self.hi), (Some(lo), Some(hi)) if lo >= hi)
    }
}

/// The distinct intervals of the batch bar table, by a loose index scan
/// (one index probe per interval, not a scan of every bar); same SQL in both engines.
pub(crate) fn distinct_intervals() -> String {
    super::serving::distinct("batch_bars", r#""interval""#, "")
}

/// A value bound to a bars query; each engine turns it into its own type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Text: the interval label or the symbol.
    Text(String),
    /// A bar start, nanoseconds since the epoch.
    Time(i64),
    /// The row limit.
    Count(i64),
}

/// The SQL and values of one snapshot read over `parts`: one `SELECT` per
/// part, whose columns and table `select(view)` gives (it ends in `WHERE`),
/// united and ordered by `(symbol, start)`, or by `(symbol, start)`
/// descending when `newest` (so that the limit keeps the last bars; the
/// caller reverses the rows). `placeholder(n)` is the engine's name for the
/// n-th value (`$n`, `?n`).
pub(crate) fn bars_sql(
    query: &BarQuery,
    parts: &[Part],
    newest: bool,
    select: impl Fn(View) -> String,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<Bound>) {
    let mut values = vec![Bound::Text(query.interval.to_string())];
    if let Some(symbol) = &query.symbol {
        values.push(Bound::Text(symbol.as_str().to_owned()));
    }
    let push = |values: &mut Vec<Bound>, value| {
        values.push(value);
        placeholder(values.len())
    };
    let mut selects = Vec::with_capacity(parts.len());
    for part in parts {
        let mut sql = format!(r#"{} "interval" = {}"#, select(part.view), placeholder(1));
        if query.symbol.is_some() {
            sql.push_str(&format!(" AND symbol = {}", placeholder(2)));
        }
        if let Some(lo) = part.lo {
            sql.push_str(&format!(" AND start >= {}", push(&mut values, Bound::Time(lo))));
        }
        if let Some(hi) = part.hi {
            sql.push_str(&format!(" AND start < {}", push(&mut values, Bound::Time(hi))));
        }
        selects.push(sql);
    }
    let mut sql = selects.join(" UNION ALL ");
    sql.push_str(if newest { " ORDER BY symbol DESC, start DESC" } else { " ORDER BY symbol, start" });
    if let Some(limit) = query.limit {
        let count = Bound::Count(i64::try_from(limit).unwrap_or(i64::MAX));
        sql.push_str(&format!(" LIMIT {}", push(&mut values, count)));
    }
    (sql, values)
}

/// The published days of `[from, to)`, ordered by day (both engines' SQL; `$1`, `$2` are the bounds).
pub(crate) const BATCH_DAYS: &str =
    "SELECT day, version, trades, bars, published_at FROM batch_days WHERE day >= $1 AND day < $2 ORDER BY day";

/// The files of the published days of `[from, to)`, ordered by day and path.
pub(crate) const BATCH_DAY_FILES: &str = "SELECT d.day, f.path, f.bytes, f.modified_ns, f.version
    FROM batch_file_days AS d JOIN batch_files AS f ON f.path = d.path
    WHERE d.day >= $1 AND d.day < $2 ORDER BY d.day, f.path";

/// Puts each file (read with [`BATCH_DAY_FILES`], by day) into its day.
pub(crate) fn with_files(mut days: Vec<BatchDay>, files: Vec<(i64, DayFile)>) -> Vec<BatchDay> {
    let mut at = 0;
    for (day, file) in files {
        while at < days.len() && days[at].day < day {
            at += 1;
        }
        if let Some(entry) = days.get_mut(at).filter(|entry| entry.day == day) {
            entry.files.push(file);
        }
    }
    days
}

/// A `u64` count or size as a signed 64-bit column.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Range(format!("{what} {value} is larger than 2^63 - 1")))
}

/// A signed 64-bit column as a `u64` count or size.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}

/// A stored symbol, checked.
pub(crate) fn symbol(text: &str) -> Result<Symbol, StoreError> {
    Symbol::new(text).map_err(|e| StoreError::Corrupt(format!("symbol {text:?}: {e}")))
}

/// The symbol and interval of the last row decoded. Rows come grouped by
/// interval and mostly by symbol, so a row of the same symbol and interval
/// as the one before is neither checked nor parsed nor copied again: its
/// [`Symbol`] is a clone of the last (inline, no allocation).
#[derive(Default)]
pub(crate) struct Labels {
    symbol: Option<Symbol>,
    interval: Option<(String, Interval)>,
}

impl Labels {
    /// The symbol stored as `text`.
    pub(crate) fn symbol(&mut self, text: &str) -> Result<Symbol, StoreError> {
        if let Some(symbol) = &self.symbol
            && symbol.as_str() == text
        {
            return Ok(symbol.clone());
        }
        let symbol = symbol(text)?;
        self.symbol = Some(symbol.clone());
        Ok(symbol)
    }

    /// The interval stored as `label`.
    pub(crate) fn interval(&mut self, label: &str) -> Result<Interval, StoreError> {
        if let Some((text, interval)) = &self.interval
            && text == label
        {
            return Ok(*interval);
        }
        let interval: Interval = label.parse().map_err(|e| StoreError::Corrupt(format!("interval label: {e}")))?;
        self.interval = Some((label.to_owned(), interval));
        Ok(interval)
    }
}

/// Now, in nanoseconds cut to whole microseconds so that it reads back the
/// same from PostgreSQL.
pub(crate) fn now_micros() -> i64 {
    crate::time::now_ns() / 1000 * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_splits_at_the_boundary() {
        let query = BarQuery {
            interval: Interval::from_seconds(60).expect("1m"),
            symbol: None,
            from: Some(10),
            to: None,
            view: ViewSelect::Merged,
            limit: None,
        };
        assert_eq!(
            parts(&query, Some(100)),
            vec![
                Part { view: View::Batch, lo: Some(10), hi: Some(100) },
                Part { view: View::Speed, lo: Some(100), hi: None }
            ]
        );
        assert_eq!(parts(&query, None), vec![Part { view: View::Speed, lo: Some(10), hi: None }]);
    }

    #[test]
    fn merged_reads_only_the_sides_its_range_reaches() {
        let query = |from, to| BarQuery {
            interval: Interval::from_seconds(60).expect("1m"),
            symbol: None,
            from: Some(from),
            to: Some(to),
            view: ViewSelect::Merged,
            limit: None,
        };
        assert_eq!(parts(&query(10, 100), Some(100)), vec![Part { view: View::Batch, lo: Some(10), hi: Some(100) }]);
        assert_eq!(parts(&query(100, 200), Some(100)), vec![Part { view: View::Speed, lo: Some(100), hi: Some(200) }]);
        assert_eq!(parts(&query(50, 50), Some(100)), vec![Part { view: View::Batch, lo: Some(50), hi: Some(50) }]);
    }
}
