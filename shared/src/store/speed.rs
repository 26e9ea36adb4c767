//! What the speed layer writes and reads back: bars, Kafka positions, late
//! trades and the change sequence of the live stream.
//!
//! A [`SpeedCommit`] is one transaction (DESIGN.md, contract 4): the bars a
//! job emitted, the position of every partition that produced them, its
//! watermark, the late trades and the rejects it met. A job that restarts
//! seeks each partition to [`PartitionOffset::replay_from`] to rebuild its
//! open windows and treats trades before [`PartitionOffset::next_offset`] as
//! already counted, so a crash at any point neither loses nor double-counts
//! a trade. Late trades and rejects are keyed by their source position, so
//! the replay inserts them again idempotently.
//!
//! Every bar a commit writes gets the next number of one change sequence,
//! numbered in commit order, so a server can poll for the bars that changed
//! since the last number it saw ([`SpeedChanges`]).

use super::StoreError;
use crate::bar::Bar;
use crate::codec::Reject;
use crate::tick::Tick;
use std::cmp::Ordering;

/// A bar of the speed view and whether it is final.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeedBar {
    /// The bar.
    pub bar: Bar,
    /// `true` once the watermark passed the bar's end; before that the bar is
    /// provisional and later commits replace it.
    pub is_final: bool,
}

/// How far a job has consumed one Kafka partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionOffset {
    /// The topic, e.g. `ticks`.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The next offset to read: every message before it is counted in the
    /// committed bars, rejects or late trades.
    pub next_offset: i64,
    /// The earliest offset of a trade still in an open window (equal to
    /// `next_offset` when no window is open): a restarting job reads from
    /// here to rebuild its window state, and counts only what it reads from
    /// `next_offset` on as new.
    pub replay_from: i64,
    /// The partition's log end offset as the job last knew it when it
    /// committed, if it knew it: `end_offset - next_offset` messages were
    /// waiting. Reported (`/status`), never used to resume.
    pub end_offset: Option<i64>,
}

/// A trade that arrived after its bar closed and the allowed lateness passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LateTrade {
    /// The trade.
    pub tick: Tick,
    /// Where it was read: topic and partition, e.g. `ticks/3`.
    pub source: String,
    /// Its offset in `source`; with `source`, the key of the row.
    pub position: u64,
    /// Why it was not counted, as a sentence fragment.
    pub reason: String,
}

/// Everything one speed-layer commit writes, in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpeedCommit {
    /// Bars to upsert; each replaces the whole stored row of its
    /// `(interval, symbol, start)`. When a key appears twice, the later wins.
    pub bars: Vec<SpeedBar>,
    /// The position of every partition that fed these bars; each replaces
    /// the stored one. When a partition appears twice, the later wins.
    pub offsets: Vec<PartitionOffset>,
    /// The job's watermark (ns) at this commit. The stored watermark only
    /// moves forward: an older one, or `None`, leaves it as it is.
    pub watermark: Option<i64>,
    /// Late trades; one already stored at its `(source, position)` is kept.
    pub late: Vec<LateTrade>,
    /// Rejected messages; one already stored at its `(source, position)` is kept.
    pub rejects: Vec<Reject>,
}

/// The speed layer's progress, for `/status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpeedStatus {
    /// The newest watermark committed (ns), if any.
    pub watermark: Option<i64>,
    /// When the last speed commit happened (ns since the epoch), if ever.
    pub updated_at: Option<i64>,
    /// The newest number of the change sequence (0 before any bar).
    pub change_seq: i64,
    /// Every partition's position, ordered by topic and partition.
    pub offsets: Vec<PartitionOffset>,
}

/// One speed bar as changed by a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeedChange {
    /// The change number of the bar's last write.
    pub seq: i64,
    /// The bar as stored now.
    pub bar: SpeedBar,
}

/// The answer to "which bars changed since `since`?".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpeedChanges {
    /// Bars whose last change is newer than `since`, oldest change first, at
    /// most `limit` of them.
    pub changes: Vec<SpeedChange>,
    /// The newest change number in the store at the read (of any interval
    /// or symbol).
    pub head: i64,
    /// What to pass as `since` next: the last change returned when the
    /// answer was cut at `limit`, else `head`.
    pub next: i64,
}

impl SpeedChanges {
    /// Builds the answer to a read from `since` of at most `limit` rows,
    /// given the rows and the head of the same snapshot.
    pub(crate) fn new(changes: Vec<SpeedChange>, head: i64, since: i64, limit: usize) -> Self {
        let next = if changes.len() < limit { head } else { changes.last().map_or(since, |last| last.seq) };
        Self { changes, head, next }
    }
}

/// Checks a commit and puts it, in place, in the form both engines write:
/// bars sorted by `(interval, symbol, start)` with one bar per key (the last
/// given), one position per partition (the last given). Bar `i` then gets
/// change number `base + i + 1`.
pub(crate) fn prepare(commit: &mut SpeedCommit) -> Result<(), StoreError> {
    for offset in &commit.offsets {
        if offset.topic.is_empty() || offset.partition < 0 || offset.replay_from < 0 {
            return Err(StoreError::Range(format!(
                "Kafka position {offset:?} names no partition or a negative offset"
            )));
        }
        if offset.end_offset.is_some_and(|end| end < 0) {
            return Err(StoreError::Range(format!(
                "partition {}/{}: end_offset {:?} is negative",
                offset.topic, offset.partition, offset.end_offset
            )));
        }
        if offset.replay_from > offset.next_offset {
            return Err(StoreError::Range(format!(
                "partition {}/{}: replay_from {} is after next_offset {}",
                offset.topic, offset.partition, offset.replay_from, offset.next_offset
            )));
        }
    }
    last_per_key(&mut commit.bars, |a, b| {
        let (a, b) = (&a.bar, &b.bar);
        (a.interval, &a.symbol, a.start).cmp(&(b.interval, &b.symbol, b.start))
    });
    last_per_key(&mut commit.offsets, |a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(())
}

/// Sorts by `order` and keeps, of each run of equals, the element that came last.
fn last_per_key<T>(items: &mut Vec<T>, order: impl Fn(&T, &T) -> Ordering) {
    // Reversed, a stable sort puts the last of each key first; dedup keeps the first.
    items.reverse();
    items.sort_by(&order);
    items.dedup_by(|later, earlier| order(later, earlier) == Ordering::Equal);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Price, Volume};
    use crate::tick::Symbol;

    fn speed_bar(symbol: &str, start: i64, close: i64) -> SpeedBar {
        let bar = Bar {
            symbol: Symbol::new(symbol).expect("symbol"),
            interval: "1m".parse().expect("interval"),
            start,
            open: Price(1),
            high: Price(2),
            low: Price(1),
            close: Price(close),
            volume: Volume(1),
            vwap: Price(1),
            trades: 1,
            first_ts: start,
            last_ts: start,
        };
        SpeedBar { bar, is_final: false }
    }

    fn offset(partition: i32, next_offset: i64, replay_from: i64) -> PartitionOffset {
        PartitionOffset { topic: "ticks".into(), partition, next_offset, replay_from, end_offset: None }
    }

    #[test]
    fn prepare_sorts_and_keeps_the_last_of_each_key() {
        let mut commit = SpeedCommit {
            bars: vec![speed_bar("B", 0, 1), speed_bar("A", 60, 2), speed_bar("B", 0, 3), speed_bar("A", 0, 4)],
            offsets: vec![offset(1, 10, 5), offset(0, 3, 3), offset(1, 12, 6)],
            ..SpeedCommit::default()
        };
        prepare(&mut commit).expect("valid");
        let bars: Vec<(&str, i64, i64)> =
            commit.bars.iter().map(|b| (b.bar.symbol.as_str(), b.bar.start, b.bar.close.0)).collect();
        assert_eq!(bars, vec![("A", 0, 4), ("A", 60, 2), ("B", 0, 3)]);
        assert_eq!(commit.offsets, vec![offset(0, 3, 3), offset(1, 12, 6)]);
    }

    #[test]
    fn prepare_rejects_impossible_positions() {
        for bad in [offset(0, 5, 6), offset(-1, 5, 5), offset(0, 5, -1)] {
            let mut commit = SpeedCommit { offsets: vec![bad], ..SpeedCommit::default() };
            assert!(matches!(prepare(&mut commit), Err(StoreError::Range(_))));
        }
    }

    #[test]
    fn next_continues_after_a_cut_answer() {
        let change = |seq| SpeedChange { seq, bar: speed_bar("A", seq, 1) };
        assert_eq!(SpeedChanges::new(vec![change(3), change(4)], 9, 1, 2).next, 4);
        assert_eq!(SpeedChanges::new(vec![change(3)], 9, 1, 2).next, 9);
        assert_eq!(SpeedChanges::new(Vec::new(), 9, 1, 0).next, 1);
    }
}
