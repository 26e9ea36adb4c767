//! Merging partial bars on the worker that owns their symbols, and deriving
//! the coarser intervals.
//!
//! Partials are kept as they arrive. At the end they are ordered by compact
//! keys (interval, symbol rank, start) instead of being hashed one by one, and
//! equal keys are folded in one pass. A coarser interval is then a second pass
//! over its finer, already sorted level: its windows are contiguous runs.

use crate::aggregate::Partial;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use tickflow_shared::{BarAcc, IntervalPlan, Symbol};

/// Bars of one symbol rank and window start.
pub type Slot = (u32, i64, BarAcc);

/// The bars one worker owns: per interval of the plan, sorted by `(symbol, start)`.
#[derive(Debug, Default)]
pub struct OwnedBars {
    /// Symbols by rank (byte order).
    pub symbols: Vec<Symbol>,
    /// Per interval index: `(symbol rank, start, accumulator)`, sorted.
    pub levels: Vec<Vec<Slot>>,
}

/// Partials per storage chunk: chunks never move, so growing the store never
/// holds an old and a new copy of it at once.
const CHUNK: usize = 1 << 16;

/// Collects partial bars and merges them.
#[derive(Default)]
pub struct Merger {
    symbols: Vec<Symbol>,
    ids: FxHashMap<Symbol, u32>,
    partials: Vec<Vec<(u32, u8, i64, BarAcc)>>,
}

impl Merger {
    /// Takes one partial bar.
    pub fn add(&mut self, (symbol, interval, start, acc): Partial) {
        let id = match self.ids.get(&symbol) {
            Some(&id) => id,
            None => {
                let id = self.symbols.len() as u32;
                self.ids.insert(symbol.clone(), id);
                self.symbols.push(symbol);
                id
            }
        };
        if self.partials.last().is_none_or(|chunk| chunk.len() == CHUNK) {
            self.partials.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.partials.last_mut() {
            chunk.push((id, interval, start, acc));
        }
    }

    /// Folds equal keys, derives every planned interval and returns the bars.
    pub fn finish(self, plan: &IntervalPlan) -> OwnedBars {
        let Merger { symbols, partials, .. } = self;
        let mut by_name: Vec<u32> = (0..symbols.len() as u32).collect();
        by_name.sort_unstable_by(|&a, &b| symbols[a as usize].cmp(&symbols[b as usize]));
        let mut rank = vec![0u32; symbols.len()];
        for (r, &id) in by_name.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        let mut keys: Vec<(u64, i64, u32)> = partials
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| ((u64::from(p.1) << 32) | u64::from(rank[p.0 as usize]), p.2, i as u32))
            .collect();
        keys.sort_unstable();
        let mut levels: Vec<Vec<Slot>> = vec![Vec::new(); plan.intervals().len()];
        for (i, level) in levels.iter_mut().enumerate() {
            level.reserve_exact(keys.iter().filter(|k| (k.0 >> 32) as usize == i).count());
        }
        for (high, start, index) in keys {
            let (chunk, at) = (index as usize / CHUNK, index as usize % CHUNK);
            fold(&mut levels[(high >> 32) as usize], high as u32, start, &partials[chunk][at].3);
        }
        drop(partials);
        for (i, interval) in plan.intervals().iter().enumerate() {
            let Some(source) = plan.source(i) else { continue };
            let mut level = Vec::new();
            for (symbol, start, acc) in &levels[source] {
                fold(&mut level, *symbol, interval.start_of(*start), acc);
            }
            levels[i] = level;
        }
        let symbols = by_name.into_iter().map(|id| symbols[id as usize].clone()).collect();
        OwnedBars { symbols, levels }
    }
}

/// Merges `acc` into the last slot when it has the same key, else appends.
fn fold(level: &mut Vec<Slot>, symbol: u32, start: i64, acc: &BarAcc) {
    match level.last_mut() {
        Some((s, t, last)) if *s == symbol && *t == start => last.merge(acc),
        _ => level.push((symbol, start, *acc)),
    }
}

type Run = (Arc<Vec<Symbol>>, std::vec::IntoIter<Slot>);

/// Every worker's bars as one run ordered by `(interval, symbol, start)`, the
/// order the stores keep bars in. Each level is freed once it is consumed.
pub fn in_order(owned: Vec<OwnedBars>) -> impl Iterator<Item = Partial> + Send {
    let levels = owned.iter().map(|o| o.levels.len()).max().unwrap_or(0);
    let mut per_interval: Vec<Vec<Run>> = (0..levels).map(|_| Vec::new()).collect();
    for worker in owned {
        let symbols = Arc::new(worker.symbols);
        for (interval, level) in worker.levels.into_iter().enumerate() {
            per_interval[interval].push((symbols.clone(), level.into_iter()));
        }
    }
    per_interval.into_iter().enumerate().flat_map(|(interval, runs)| merge_runs(runs, interval as u8))
}

fn merge_runs(mut runs: Vec<Run>, interval: u8) -> impl Iterator<Item = Partial> {
    let mut heads: Vec<Option<Slot>> = runs.iter_mut().map(|(_, run)| run.next()).collect();
    std::iter::from_fn(move || {
        let best = (0..heads.len())
            .filter_map(|i| heads[i].as_ref().map(|h| (i, &runs[i].0[h.0 as usize], h.1)))
            .min_by(|a, b| (a.1, a.2).cmp(&(b.1, b.2)))
            .map(|(i, _, _)| i)?;
        let next = runs[best].1.next();
        let (symbol, start, acc) = std::mem::replace(&mut heads[best], next)?;
        Some((runs[best].0[symbol as usize].clone(), interval, start, acc))
    })
}
