//! The open bars of one interval: windows by start, each a dense list of bars.
//!
//! A window is a dense index by symbol id (ids are small and dense per
//! worker: [`SymbolTable`]) over a `Vec` of 128-byte slots (the 112-byte
//! accumulator, the symbol id, a dirty flag), so a bar costs about 130 bytes
//! plus 4 per symbol of the worker, one lookup is one load, and evicting a
//! window drops all of its bars at once (its buffers open the next window).

use super::{BarUpdate, SymbolId, SymbolTable};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::ops::Bound::{Excluded, Included};
use tickflow_shared::{BarAcc, Interval};

/// The trades of one symbol in one window since the last flush.
#[derive(Clone, Copy, Debug)]
pub(super) struct Delta {
    pub(super) symbol: SymbolId,
    pub(super) start: i64,
    pub(super) acc: BarAcc,
}

/// The deltas of `interval` from those of a finer interval that divides it,
/// one per (symbol, window): `seen` (empty on return) finds the delta a finer
/// one merges into. Finer deltas come in no useful order (a symbol's second
/// after second lies among all the other symbols'), so without it every
/// coarser level would merge as many deltas as the finest.
pub(super) fn coarsen(
    finer: &[Delta],
    interval: Interval,
    out: &mut Vec<Delta>,
    seen: &mut FxHashMap<(SymbolId, i64), u32>,
) {
    for delta in finer {
        let start = interval.start_of(delta.start);
        match out.last_mut() {
            Some(last) if last.symbol == delta.symbol && last.start == start => last.acc.merge(&delta.acc),
            _ => match seen.entry((delta.symbol, start)) {
                Entry::Occupied(at) => out[*at.get() as usize].acc.merge(&delta.acc),
                Entry::Vacant(slot) => {
                    slot.insert(out.len() as u32);
                    out.push(Delta { symbol: delta.symbol, start, acc: delta.acc });
                }
            },
        }
    }
    seen.clear();
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    acc: BarAcc,
    symbol: SymbolId,
    /// The emit period of its last emission (0: never emitted); see [`Windows::period`](super::Windows::period).
    period: u32,
    /// Changed since the last emission.
    dirty: bool,
}

#[derive(Clone, Debug, Default)]
struct Window {
    /// By symbol id: its slot plus one, 0 for none yet.
    index: Vec<u32>,
    bars: Vec<Slot>,
    /// Slots whose `dirty` was set, in the order it was.
    dirty: Vec<u32>,
}

impl Window {
    /// A window with room for `bars` bars of symbol ids below `symbols`.
    fn with_capacity(symbols: usize, bars: usize) -> Self {
        Self { index: vec![0; symbols], bars: Vec::with_capacity(bars), dirty: Vec::with_capacity(bars) }
    }

    /// Empties the window, keeping its buffers.
    fn clear(&mut self) {
        for slot in self.bars.drain(..) {
            self.index[slot.symbol as usize] = 0;
        }
        self.dirty.clear();
    }

    /// Merges one delta into its bar and marks it changed; returns whether the bar is new.
    fn apply(&mut self, delta: &Delta) -> bool {
        let symbol = delta.symbol as usize;
        if symbol >= self.index.len() {
            self.index.resize(symbol + 1, 0);
        }
        let (index, new) = match self.index[symbol].checked_sub(1) {
            Some(index) => {
                self.bars[index as usize].acc.merge(&delta.acc);
                (index, false)
            }
            None => {
                let index = self.bars.len() as u32;
                self.index[symbol] = index + 1;
                self.bars.push(Slot { acc: delta.acc, symbol: delta.symbol, period: 0, dirty: false });
                (index, true)
            }
        };
        let slot = &mut self.bars[index as usize];
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(index);
        }
        new
    }
}

/// Which symbols' changed provisional bars a flush emits: those whose id
/// modulo `of` (a power of two) is `at`. Spreading a worker's symbols over
/// the steps of an emit interval ([`crate::emit`]) keeps each commit small,
/// while each bar is still written at most once per interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    mask: u32,
    at: u32,
}

impl Phase {
    /// Every symbol.
    pub const ALL: Phase = Phase { mask: 0, at: 0 };

    /// Phase `at` of `of` (rounded down to a power of two).
    pub fn new(at: u32, of: u32) -> Self {
        let mask = if of <= 1 { 0 } else { (1 << of.ilog2()) - 1 };
        Self { mask, at: at & mask }
    }

    #[inline]
    fn holds(self, symbol: SymbolId) -> bool {
        symbol & self.mask == self.at
    }
}

/// Counts of one emission, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdvanceReport {
    /// Bars emitted as provisional.
    pub provisional: usize,
    /// Bars emitted as final (newly final, or final and changed by a late trade).
    pub finals: usize,
    /// Bars evicted (dropped from memory for good).
    pub evicted: usize,
    /// Bars emitted that were emitted before in the same emit period.
    pub repeats: usize,
}

/// The open bars of one interval.
#[derive(Clone, Debug)]
pub(super) struct Level {
    interval: Interval,
    windows: BTreeMap<i64, Window>,
    /// Starts of the windows with dirty slots, sorted: the ones that are
    /// final come first, and a flush of finals alone stops at the first open one.
    dirty_windows: Vec<i64>,
    bars: usize,
    /// The last window evicted, emptied, for the next one to open: windows
    /// open and close all the time, and each would allocate three buffers.
    spare: Option<Window>,
}

impl Level {
    pub(super) fn new(interval: Interval) -> Self {
        Self { interval, windows: BTreeMap::new(), dirty_windows: Vec::new(), bars: 0, spare: None }
    }

    /// The interval.
    pub(super) fn interval(&self) -> Interval {
        self.interval
    }

    /// Number of open bars.
    pub(super) fn bars(&self) -> usize {
        self.bars
    }

    /// Merges deltas of this interval into the open bars and marks them changed.
    pub(super) fn apply(&mut self, mut deltas: &[Delta]) {
        // Deltas mostly come in long runs of one window: one window lookup per run.
        while let Some(first) = deltas.first() {
            let run = deltas.iter().position(|d| d.start != first.start).unwrap_or(deltas.len());
            // A new window is the spare or sized like the newest one: growing
            // a 1s window from empty to hundreds of bars moved it nine times.
            let (symbols, bars) = self.windows.last_key_value().map_or((0, 0), |(_, w)| (w.index.len(), w.bars.len()));
            let window = self
                .windows
                .entry(first.start)
                .or_insert_with(|| self.spare.take().unwrap_or_else(|| Window::with_capacity(symbols, bars)));
            let was_clean = window.dirty.is_empty();
            for delta in &deltas[..run] {
                self.bars += usize::from(window.apply(delta));
            }
            if was_clean && !window.dirty.is_empty() {
                let at = self.dirty_windows.partition_point(|&start| start < first.start);
                if self.dirty_windows.get(at) != Some(&first.start) {
                    self.dirty_windows.insert(at, first.start);
                }
            }
            deltas = &deltas[run..];
        }
    }

    /// Emits the bars whose window ended in `(previous, watermark]` as final,
    /// then every other changed bar, final if its window ended by
    /// `watermark`, except in windows starting at or before `evicted`; changed
    /// bars of windows still open only if they end after `provisional`'s
    /// time and their symbol is in its phase, else they stay changed.
    /// Emissions belong to emit `period`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
        &mut self,
        period: u32,
        previous: i64,
        watermark: i64,
        evicted: i64,
        provisional: Option<(i64, Phase)>,
        symbols: &SymbolTable,
        emit: &mut impl FnMut(BarUpdate),
        report: &mut AdvanceReport,
    ) {
        let (interval, len) = (self.interval, self.interval.nanos());
        let mut send = |slot: &mut Slot, start: i64, is_final: bool| {
            slot.dirty = false;
            let Some(symbol) = symbols.symbol(slot.symbol) else { return };
            if let Some(bar) = slot.acc.finish(symbol.clone(), interval, start) {
                report.repeats += usize::from(slot.period == period);
                slot.period = period;
                *(if is_final { &mut report.finals } else { &mut report.provisional }) += 1;
                emit(BarUpdate { bar, is_final });
            }
        };
        if watermark > previous {
            let newly_final = (Excluded(previous.saturating_sub(len)), Included(watermark.saturating_sub(len)));
            for (&start, window) in self.windows.range_mut(newly_final) {
                window.bars.iter_mut().for_each(|slot| send(slot, start, true));
                window.dirty.clear();
            }
        }
        // Sorted by start: the final windows first, then the open ones held
        // back, then those emitted provisional.
        let ended_by = |bound: i64| self.dirty_windows.partition_point(|&start| start.saturating_add(len) <= bound);
        let finals = ended_by(watermark);
        let (open, phase) = match provisional {
            Some((after, phase)) => (ended_by(after.max(watermark)), phase),
            None => (self.dirty_windows.len(), Phase::ALL),
        };
        let windows = &mut self.windows;
        // Emits the window's changed bars in `phase`; whether others stay changed.
        let mut visit = |start: i64, phase: Phase| {
            let Some(window) = windows.get_mut(&start) else { return false };
            if start <= evicted {
                window.dirty.drain(..).for_each(|index| window.bars[index as usize].dirty = false);
                return false;
            }
            let is_final = start.saturating_add(len) <= watermark;
            window.dirty.retain(|&index| {
                let slot = &mut window.bars[index as usize];
                if !phase.holds(slot.symbol) {
                    return slot.dirty;
                }
                if slot.dirty {
                    send(slot, start, is_final);
                }
                false
            });
            !window.dirty.is_empty()
        };
        let mut kept = open;
        for at in open..self.dirty_windows.len() {
            let start = self.dirty_windows[at];
            if visit(start, phase) {
                self.dirty_windows[kept] = start;
                kept += 1;
            }
        }
        self.dirty_windows.truncate(kept);
        self.dirty_windows.drain(..finals).for_each(|start| {
            visit(start, Phase::ALL);
        });
    }

    /// Drops the windows that start at or before `last_evicted`; returns how many bars went.
    pub(super) fn evict(&mut self, last_evicted: i64) -> usize {
        let mut evicted = 0;
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() > last_evicted {
                break;
            }
            let mut window = entry.remove();
            evicted += window.bars.len();
            window.clear();
            self.spare = Some(window);
        }
        self.bars -= evicted;
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_split_symbols_by_the_low_bits_of_their_ids() {
        let ids = |phase: Phase| (0..8).filter(|&id| phase.holds(id)).collect::<Vec<_>>();
        assert_eq!(ids(Phase::ALL), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(ids(Phase::new(1, 4)), [1, 5]);
        assert_eq!(ids(Phase::new(6, 4)), [2, 6], "phase 6 of 4 is phase 2");
        assert_eq!(ids(Phase::new(3, 6)), [3, 7], "6 phases round down to 4");
        assert_eq!(ids(Phase::new(5, 1)), ids(Phase::ALL));
    }

    #[test]
    fn an_open_bar_costs_a_128_byte_slot() {
        assert_eq!(std::mem::size_of::<Slot>(), 128, "the memory figures in the docs assume this");
    }
}
