//! The batch computation on timely dataflow workers.
//!
//! Each worker takes splits from a shared queue and pre-aggregates them
//! ([`PreAggregator`]); when the queue is empty it sends its partial bars,
//! exchanged by symbol, to the worker that owns the symbol. That worker merges
//! them once its input frontier is empty, derives the coarser intervals from
//! the finer ones ([`IntervalPlan`]) and keeps the final accumulators sorted
//! by `(interval, symbol, start)`.

use crate::aggregate::{Partial, PreAggregator};
use crate::inputs::DayFilter;
use rustc_hash::{FxHashMap, FxHasher};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tickflow_shared::codec::{Reject, Split, read_split};
use tickflow_shared::{BarAcc, IntervalPlan};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::generic::operator::source;

/// A split to read, the file it belongs to and the trades to take.
#[derive(Clone, Debug)]
pub struct ReadTask {
    /// The piece of the file.
    pub split: Split,
    /// Index of the file in the discovery.
    pub file: usize,
    /// Which trades to take.
    pub filter: DayFilter,
}

/// What all workers computed.
#[derive(Default, Debug)]
pub struct Computed {
    /// Final accumulators, per worker, each sorted by `(interval, symbol, start)`.
    pub bars: Vec<Vec<Partial>>,
    /// Days seen per file read whole.
    pub file_days: FxHashMap<usize, BTreeSet<i64>>,
    /// Rows rejected.
    pub rejects: Vec<Reject>,
    /// Valid trades taken.
    pub trades: u64,
    /// Files that could not be read at all.
    pub errors: Vec<String>,
}

#[derive(Default)]
struct WorkerOutput {
    bars: Vec<Partial>,
    file_days: FxHashMap<usize, BTreeSet<i64>>,
    rejects: Vec<Reject>,
    trades: u64,
    errors: Vec<String>,
}

fn symbol_hash(partial: &Partial) -> u64 {
    let mut hasher = FxHasher::default();
    partial.0.hash(&mut hasher);
    hasher.finish()
}

/// Runs the tasks on `workers` threads and returns the bars of every interval in `plan`.
pub fn compute(tasks: Vec<ReadTask>, plan: &IntervalPlan, workers: usize) -> Result<Computed, String> {
    let tasks = Arc::new(tasks);
    let next = Arc::new(AtomicUsize::new(0));
    let plan = Arc::new(plan.clone());
    let config = timely::Config::process(workers.max(1));
    let guards = timely::execute(config, move |worker| {
        let output = Rc::new(RefCell::new(WorkerOutput::default()));
        let (tasks, next, plan) = (tasks.clone(), next.clone(), plan.clone());
        let roots = plan.roots().map(|i| (i as u8, plan.intervals()[i])).collect();
        let (read_output, merge_output) = (output.clone(), output.clone());
        worker.dataflow::<u64, _, _>(|scope| {
            let partials = source(scope, "ReadArchive", |capability, info| {
                let activator = scope.activator_for(info.address);
                let mut capability = Some(capability);
                let mut aggregator = Some(PreAggregator::new(roots));
                move |output| {
                    let Some(agg) = aggregator.as_mut() else {
                        return;
                    };
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if let Some(task) = tasks.get(index) {
                        agg.begin(task.file, task.split.path.display().to_string(), task.filter.clone());
                        if let Err(error) = read_split(&task.split, agg) {
                            read_output.borrow_mut().errors.push(error.to_string());
                        }
                        activator.activate();
                        return;
                    }
                    let (Some(mut agg), Some(cap)) = (aggregator.take(), capability.take()) else {
                        return;
                    };
                    let mut out = read_output.borrow_mut();
                    out.rejects.append(&mut agg.rejects);
                    out.trades += agg.trades;
                    for (file, days) in &agg.file_days {
                        out.file_days.entry(*file).or_default().extend(days);
                    }
                    output.session(&cap).give_iterator(agg.finish().into_iter());
                }
            });
            let mut merged: FxHashMap<(tickflow_shared::Symbol, u8, i64), BarAcc> = FxHashMap::default();
            let mut finished = false;
            partials.sink(Exchange::new(symbol_hash), "MergeBars", move |(input, frontier)| {
                input.for_each_time(|_time, data| {
                    for batch in data {
                        for (symbol, interval, start, acc) in batch.drain(..) {
                            merged.entry((symbol, interval, start)).or_default().merge(&acc);
                        }
                    }
                });
                if frontier.is_empty() && !finished {
                    finished = true;
                    merge_output.borrow_mut().bars = derive(std::mem::take(&mut merged), &plan);
                }
            });
        });
        while worker.step_or_park(None) {}
        std::mem::take(&mut *output.borrow_mut())
    })?;
    let mut computed = Computed::default();
    for result in guards.join() {
        let out = result?;
        computed.bars.push(out.bars);
        computed.rejects.extend(out.rejects);
        computed.trades += out.trades;
        computed.errors.extend(out.errors);
        for (file, days) in out.file_days {
            computed.file_days.entry(file).or_default().extend(days);
        }
    }
    Ok(computed)
}

/// Derives every planned interval from the merged root bars, sorted.
fn derive(roots: FxHashMap<(tickflow_shared::Symbol, u8, i64), BarAcc>, plan: &IntervalPlan) -> Vec<Partial> {
    let intervals = plan.intervals();
    let mut levels: Vec<Vec<Partial>> = vec![Vec::new(); intervals.len()];
    for ((symbol, index, start), acc) in roots {
        levels[index as usize].push((symbol, index, start, acc));
    }
    for (i, interval) in intervals.iter().enumerate() {
        let Some(source) = plan.source(i) else {
            continue;
        };
        let mut coarser: FxHashMap<(&tickflow_shared::Symbol, i64), BarAcc> = FxHashMap::default();
        for (symbol, _, start, acc) in &levels[source] {
            coarser.entry((symbol, interval.start_of(*start))).or_default().merge(acc);
        }
        let level: Vec<Partial> =
            coarser.into_iter().map(|((s, start), acc)| (s.clone(), i as u8, start, acc)).collect();
        levels[i] = level;
    }
    for level in &mut levels {
        level.sort_unstable_by(|a, b| (&a.0, a.2).cmp(&(&b.0, b.2)));
    }
    levels.into_iter().flatten().collect()
}

/// Merges the workers' sorted outputs into one run ordered by `(interval, symbol, start)`,
/// the order the stores keep bars in.
pub fn in_order(runs: Vec<Vec<Partial>>) -> impl Iterator<Item = Partial> + Send {
    let mut runs: Vec<std::vec::IntoIter<Partial>> = runs.into_iter().map(Vec::into_iter).collect();
    let mut heads: Vec<Option<Partial>> = runs.iter_mut().map(Iterator::next).collect();
    std::iter::from_fn(move || {
        let best = (0..heads.len())
            .filter_map(|i| heads[i].as_ref().map(|p| (i, p)))
            .min_by(|(_, a), (_, b)| (a.1, &a.0, a.2).cmp(&(b.1, &b.0, b.2)))
            .map(|(i, _)| i)?;
        let next = runs[best].next();
        std::mem::replace(&mut heads[best], next)
    })
}
