//! Which source positions the open windows still depend on, for restart recovery.
//!
//! A trade is *held* while any window it went into is open. Every interval
//! divides a day, so the least common multiple of the plan's intervals (the
//! *span*, `1d` for the defaults, `1m` for `1s,1m`) is an interval whose
//! windows contain one window of every level: a trade is released at the
//! latest when its span window is evicted. Held trades are therefore kept as
//! one minimum offset per (partition, span window), a handful of entries per
//! partition, updated with two comparisons per trade.

use tickflow_shared::watermark::Partition;

/// Where a trade was read: its partition and its offset in it (opaque, increasing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The partition of the input topic.
    pub partition: Partition,
    /// The trade's offset in that partition.
    pub offset: u64,
}

#[derive(Clone, Debug)]
struct PartitionHeld {
    partition: Partition,
    /// `(span window start, lowest offset of a held trade in it)`, sorted by start.
    groups: Vec<(i64, u64)>,
    /// Index into `groups` of the group noted last.
    last: usize,
}

/// The lowest held offset per partition and span window.
#[derive(Clone, Debug, Default)]
pub(super) struct Held {
    partitions: Vec<PartitionHeld>,
    last: usize,
}

impl Held {
    /// Notes an accepted trade read at `at` whose span window starts at `group`.
    #[inline]
    pub(super) fn note(&mut self, at: Position, group: i64) {
        let index = match self.partitions.get(self.last) {
            Some(p) if p.partition == at.partition => self.last,
            _ => self.locate(at.partition),
        };
        let held = &mut self.partitions[index];
        match held.groups.get_mut(held.last) {
            Some((start, offset)) if *start == group => *offset = (*offset).min(at.offset),
            _ => held.note_group(group, at.offset),
        }
    }

    #[cold]
    fn locate(&mut self, partition: Partition) -> usize {
        self.last = match self.partitions.iter().position(|p| p.partition == partition) {
            Some(index) => index,
            None => {
                self.partitions.push(PartitionHeld { partition, groups: Vec::new(), last: 0 });
                self.partitions.len() - 1
            }
        };
        self.last
    }

    /// Forgets the span windows that start at or before `last_released`.
    pub(super) fn release(&mut self, last_released: i64) {
        for held in &mut self.partitions {
            let released = held.groups.partition_point(|&(start, _)| start <= last_released);
            if released > 0 {
                held.groups.drain(..released);
                held.last = 0;
            }
        }
    }

    /// The lowest offset of a trade of `partition` still held.
    pub(super) fn min_offset(&self, partition: Partition) -> Option<u64> {
        let held = self.partitions.iter().find(|p| p.partition == partition)?;
        held.groups.iter().map(|&(_, offset)| offset).min()
    }

    /// [`min_offset`](Self::min_offset) of every partition with held trades.
    pub(super) fn positions(&self) -> impl Iterator<Item = Position> + '_ {
        self.partitions
            .iter()
            .filter_map(|held| Some(Position { partition: held.partition, offset: self.min_offset(held.partition)? }))
    }
}

impl PartitionHeld {
    #[cold]
    fn note_group(&mut self, group: i64, offset: u64) {
        match self.groups.binary_search_by_key(&group, |&(start, _)| start) {
            Ok(index) => {
                self.groups[index].1 = self.groups[index].1.min(offset);
                self.last = index;
            }
            Err(index) => {
                self.groups.insert(index, (group, offset));
                self.last = index;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: Partition, offset: u64) -> Position {
        Position { partition, offset }
    }

    #[test]
    fn keeps_the_lowest_offset_per_partition_until_released() {
        let mut held = Held::default();
        held.note(at(0, 10), 100);
        held.note(at(0, 11), 100);
        held.note(at(1, 5), 100);
        held.note(at(0, 12), 200);
        held.note(at(0, 3), 200);
        held.note(at(0, 13), 100);
        assert_eq!((held.min_offset(0), held.min_offset(1), held.min_offset(2)), (Some(3), Some(5), None));
        held.release(99);
        assert_eq!(held.min_offset(0), Some(3));
        held.release(100);
        assert_eq!((held.min_offset(0), held.min_offset(1)), (Some(3), None));
        held.note(at(0, 20), 300);
        held.release(200);
        assert_eq!(held.min_offset(0), Some(20));
        assert_eq!(held.positions().collect::<Vec<_>>(), [at(0, 20)]);
    }

    #[test]
    fn an_earlier_group_noted_later_is_kept_in_order() {
        let mut held = Held::default();
        held.note(at(0, 7), 300);
        held.note(at(0, 8), 100);
        held.note(at(0, 9), 300);
        held.release(100);
        assert_eq!(held.min_offset(0), Some(7));
        held.release(300);
        assert_eq!(held.min_offset(0), None);
    }
}
