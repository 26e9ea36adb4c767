//! Merging partial bars on the worker that owns their symbols, and deriving
//! the coarser intervals.
//!
//! Memory is the design constraint: the finest level of a day (3.2M
//! one-second bars for 10M trades) is most of what a run holds. Partials are
//! kept once, as they arrive, grouped by (symbol, interval) in fixed-size
//! chunks of packed accumulators (104 bytes, [`PackedBarAcc`]), and never
//! copied: a chunk is sorted in place by its accumulators'
//! first trades, and a group's bars are a merge of its sorted chunks that
//! folds the partials of one window ([`Windows`]). A window's start is not
//! stored: the first trade lies in the window, so the start is derived from
//! it. A coarser interval is one pass over its finer level's windows. When
//! the bars are handed to the store, each group is freed as soon as it is
//! read ([`in_order`]).

use crate::aggregate::Partial;
use rustc_hash::FxHashMap;
use tickflow_shared::{BarAcc, Interval, IntervalPlan, PackedBarAcc, Symbol};

/// Accumulators per chunk: small enough that the unfilled tails of 500
/// symbols' last chunks cost little, large enough that a group is a merge of
/// few chunks.
const CHUNK: usize = 512;

/// The partials of one (symbol, interval): chunks of at most [`CHUNK`]
/// accumulators, each sorted by first trade once merging starts.
pub type Chunks = Vec<Vec<PackedBarAcc>>;

/// One interval of the bars a worker owns.
#[derive(Debug)]
pub struct Level {
    /// The interval.
    pub interval: Interval,
    /// Per symbol rank, its sorted chunks.
    pub groups: Vec<Chunks>,
}

/// The bars one worker owns, per interval of the plan.
#[derive(Debug, Default)]
pub struct OwnedBars {
    /// Symbols by rank (byte order).
    pub symbols: Vec<Symbol>,
    /// Per interval index of the plan.
    pub levels: Vec<Level>,
}

impl OwnedBars {
    /// `(window start, trades)` of every bar of interval `level`, in no particular order.
    pub fn trades(&self, level: usize) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.levels.get(level).into_iter().flat_map(|level| {
            let start = |acc: &PackedBarAcc| level.interval.start_of(acc.open_key().ts);
            level.groups.iter().flatten().flatten().map(move |acc| (start(acc), BarAcc::from(*acc).trades()))
        })
    }
}

/// Collects partial bars and merges them.
pub struct Merger {
    intervals: usize,
    symbols: Vec<Symbol>,
    ids: FxHashMap<Symbol, u32>,
    /// Per `symbol id × intervals + interval index`.
    pending: Vec<Chunks>,
}

impl Merger {
    /// A merger for a plan of `intervals` intervals.
    pub fn new(intervals: usize) -> Self {
        Self { intervals, symbols: Vec::new(), ids: FxHashMap::default(), pending: Vec::new() }
    }

    /// Takes one partial bar.
    pub fn add(&mut self, (symbol, interval, start, acc): Partial) {
        let acc = PackedBarAcc::from(acc);
        debug_assert!(start <= acc.open_key().ts, "a partial's first trade lies in its window");
        let id = match self.ids.get(&symbol) {
            Some(&id) => id,
            None => {
                let id = self.symbols.len() as u32;
                self.ids.insert(symbol.clone(), id);
                self.symbols.push(symbol);
                self.pending.resize_with(self.pending.len() + self.intervals, Vec::new);
                id
            }
        };
        let chunks = &mut self.pending[id as usize * self.intervals + interval as usize];
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(acc),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(acc);
                chunks.push(chunk);
            }
        }
    }

    /// Sorts the partials in place, derives every planned interval and returns the bars.
    pub fn finish(self, plan: &IntervalPlan) -> OwnedBars {
        let Merger { intervals, symbols, pending, .. } = self;
        let mut by_name: Vec<u32> = (0..symbols.len() as u32).collect();
        by_name.sort_unstable_by(|&a, &b| symbols[a as usize].cmp(&symbols[b as usize]));
        let mut rank = vec![0usize; symbols.len()];
        for (r, &id) in by_name.iter().enumerate() {
            rank[id as usize] = r;
        }
        let mut levels: Vec<Level> = plan
            .intervals()
            .iter()
            .map(|&interval| Level { interval, groups: (0..symbols.len()).map(|_| Vec::new()).collect() })
            .collect();
        for (slot, mut chunks) in pending.into_iter().enumerate() {
            chunks.iter_mut().for_each(|chunk| chunk.sort_unstable_by_key(PackedBarAcc::open_key));
            levels[slot % intervals].groups[rank[slot / intervals]] = chunks;
        }
        for i in 0..levels.len() {
            let Some(source) = plan.source(i) else { continue };
            let (finer, interval) = (levels[source].interval, levels[i].interval);
            let groups = levels[source]
                .groups
                .iter()
                .map(|chunks| {
                    let (mut coarser, mut open) = (Vec::new(), None::<(i64, BarAcc)>);
                    for (start, acc) in Windows::new(chunks.iter().map(|c| c.iter().copied()), finer) {
                        let start = interval.start_of(start);
                        match &mut open {
                            Some((window, folded)) if *window == start => folded.merge(&acc),
                            _ => coarser.extend(open.replace((start, acc)).map(|(_, done)| PackedBarAcc::from(done))),
                        }
                    }
                    coarser.extend(open.map(|(_, done)| PackedBarAcc::from(done)));
                    vec![coarser]
                })
                .collect();
            levels[i].groups = groups;
        }
        let symbols = by_name.into_iter().map(|id| symbols[id as usize].clone()).collect();
        OwnedBars { symbols, levels }
    }
}

/// The bars of one group: the merge of its sorted runs by first trade, the
/// partials of one window folded into one accumulator, as `(start, acc)` in
/// start order.
struct Windows<I> {
    interval: Interval,
    runs: Vec<I>,
    heads: Vec<Option<PackedBarAcc>>,
    pending: Option<(i64, BarAcc)>,
}

impl<I: Iterator<Item = PackedBarAcc>> Windows<I> {
    fn new(runs: impl IntoIterator<Item = I>, interval: Interval) -> Self {
        let mut runs: Vec<I> = runs.into_iter().collect();
        let heads = runs.iter_mut().map(Iterator::next).collect();
        Self { interval, runs, heads, pending: None }
    }
}

impl<I: Iterator<Item = PackedBarAcc>> Iterator for Windows<I> {
    type Item = (i64, BarAcc);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let first = self.heads.iter().enumerate().filter_map(|(i, h)| h.map(|acc| (acc.open_key(), i))).min();
            let Some((_, i)) = first else {
                return self.pending.take();
            };
            let next = self.runs[i].next();
            let packed = std::mem::replace(&mut self.heads[i], next)?;
            let (start, acc) = (self.interval.start_of(packed.open_key().ts), BarAcc::from(packed));
            match &mut self.pending {
                Some((open, folded)) if *open == start => folded.merge(&acc),
                _ => {
                    if let Some(done) = self.pending.replace((start, acc)) {
                        return Some(done);
                    }
                }
            }
        }
    }
}

/// Every worker's bars as one run ordered by `(interval, symbol, start)`, the
/// order the stores keep bars in. A symbol is owned by one worker, so each
/// level is its groups ordered by symbol; each group is freed once read.
pub fn in_order(owned: Vec<OwnedBars>) -> impl Iterator<Item = Partial> + Send {
    let mut per_level: Vec<(Interval, Vec<(Symbol, Chunks)>)> = Vec::new();
    for worker in owned {
        for (i, level) in worker.levels.into_iter().enumerate() {
            if per_level.len() <= i {
                per_level.push((level.interval, Vec::new()));
            }
            per_level[i].1.extend(worker.symbols.iter().cloned().zip(level.groups));
        }
    }
    per_level.into_iter().enumerate().flat_map(|(index, (interval, mut groups))| {
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups.into_iter().flat_map(move |(symbol, chunks)| {
            Windows::new(chunks.into_iter().map(Vec::into_iter), interval)
                .map(move |(start, acc)| (symbol.clone(), index as u8, start, acc))
        })
    })
}
