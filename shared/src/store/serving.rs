//! What the serving layer reads besides bars: the symbols, the newest bar of
//! each, and the counts `/status` shows.

use super::common::{Part, parts};
use super::{BarQuery, PartitionOffset, ViewBar, ViewSelect};
use crate::interval::Interval;

/// A partition's position and when it last moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionProgress {
    /// The position.
    pub offset: PartitionOffset,
    /// When a speed commit last wrote it (ns since the epoch).
    pub updated_at: i64,
}

/// The boundary, row counts and partitions of one snapshot, for `/status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// The batch boundary (ns), if a batch run was ever published.
    pub boundary: Option<i64>,
    /// Rows of the batch view, all intervals.
    pub batch_bars: u64,
    /// Rows of the speed view, all intervals.
    pub speed_bars: u64,
    /// Late trades recorded.
    pub late_trades: u64,
    /// Rejects recorded, by every layer.
    pub rejects: u64,
    /// Every partition, ordered by topic and partition.
    pub partitions: Vec<PartitionProgress>,
}

/// The parts a newest-bar read looks in, given its snapshot's boundary: the
/// same split as any merged query's (contract 6).
pub(crate) fn latest_parts(boundary: Option<i64>) -> Vec<Part> {
    let any = Interval::from_seconds(1).map(|interval| BarQuery {
        interval,
        symbol: None,
        from: None,
        to: None,
        view: ViewSelect::Merged,
        limit: None,
    });
    any.map_or_else(Vec::new, |query| parts(&query, boundary))
}

/// Of bars read from the parts of one snapshot, the newest of each
/// `(symbol, interval)`, ordered by that key.
pub(crate) fn newest(mut bars: Vec<ViewBar>) -> Vec<ViewBar> {
    bars.sort_by(|a, b| {
        let (a, b) = (&a.bar, &b.bar);
        (&a.symbol, a.interval, b.start).cmp(&(&b.symbol, b.interval, a.start))
    });
    bars.dedup_by(|later, first| later.bar.symbol == first.bar.symbol && later.bar.interval == first.bar.interval);
    bars
}

/// A loose index scan: the distinct values of `column` in `table` with one
/// index probe per value; `scope` (like `"interval" = ?1 AND `) is put in
/// front of each probe's condition.
pub(crate) fn distinct(table: &str, column: &str, scope: &str) -> String {
    format!(
        r#"WITH RECURSIVE d(v) AS (
    SELECT (SELECT MIN({column}) FROM {table} WHERE {scope}TRUE)
    UNION ALL
    SELECT (SELECT MIN({column}) FROM {table} WHERE {scope}{column} > d.v) FROM d WHERE d.v IS NOT NULL
) SELECT v FROM d WHERE v IS NOT NULL"#
    )
}

/// The counts of [`StoreStats`] in one statement (the same SQL in both engines).
pub(crate) const COUNTS: &str = "SELECT (SELECT boundary FROM batch_boundary WHERE id = 1),
    (SELECT COUNT(*) FROM batch_bars), (SELECT COUNT(*) FROM speed_bars),
    (SELECT COUNT(*) FROM late_trades), (SELECT COUNT(*) FROM rejects)";

/// The columns of a [`PartitionOffset`](super::PartitionOffset), in the
/// order both engines' row readers take them.
macro_rules! offset_columns {
    () => {
        r#"topic, "partition", next_offset, replay_from, end_offset"#
    };
}

/// Every partition with its last move, in order: its offset columns, then `updated_at`.
pub(crate) const PARTITIONS: &str =
    concat!("SELECT ", offset_columns!(), r#", updated_at FROM speed_offsets ORDER BY topic, "partition""#);

/// A query of partition positions, to be completed with a condition and an order.
pub(crate) const OFFSET_COLUMNS: &str = concat!("SELECT ", offset_columns!(), " FROM speed_offsets");
