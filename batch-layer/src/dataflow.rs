//! The batch computation on timely dataflow workers.
//!
//! Each worker takes splits from a shared queue and pre-aggregates them
//! ([`PreAggregator`]); when the queue is empty it sends its partial bars,
//! exchanged by symbol, to the worker that owns the symbol. That worker merges
//! them once its input frontier is empty and derives the coarser intervals
//! from the finer ones ([`Merger`]).

use crate::aggregate::{Partial, PreAggregator};
use crate::inputs::DayFilter;
use crate::merge::{Merger, OwnedBars};
use rustc_hash::{FxHashMap, FxHasher};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tickflow_shared::IntervalPlan;
use tickflow_shared::codec::{Reject, Split, read_split};
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
    /// The bars each worker owns.
    pub bars: Vec<OwnedBars>,
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
    bars: OwnedBars,
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

/// Why the dataflow produced no bars.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataflowError {
    /// The timely workers could not start.
    #[error("cannot start {workers} timely worker(s): {reason}; try fewer --workers")]
    Start {
        /// Workers asked for.
        workers: usize,
        /// Timely's description.
        reason: String,
    },
    /// A timely worker panicked.
    #[error("a timely worker panicked: {reason}; this is a bug, please report it with the log")]
    Worker {
        /// The panic's message.
        reason: String,
    },
}

/// Runs the tasks on `workers` threads and returns the bars of every interval in `plan`.
pub fn compute(tasks: Vec<ReadTask>, plan: &IntervalPlan, workers: usize) -> Result<Computed, DataflowError> {
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
                    if let (Some(task), Some(cap)) = (tasks.get(index), capability.as_ref()) {
                        agg.begin(task.file, task.split.path.display().to_string(), task.filter.clone());
                        if let Err(error) = read_split(&task.split, agg) {
                            read_output.borrow_mut().errors.push(error.to_string());
                        }
                        output.session(cap).give_iterator(agg.take_closed());
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
                    output.session(&cap).give_iterator(agg.finish());
                }
            });
            let mut merger = Some(Merger::new(plan.intervals().len()));
            partials.sink(Exchange::new(symbol_hash), "MergeBars", move |(input, frontier)| {
                input.for_each_time(|_time, data| {
                    if let Some(merger) = merger.as_mut() {
                        data.for_each(|batch| batch.drain(..).for_each(|partial| merger.add(partial)));
                    }
                });
                if frontier.is_empty()
                    && let Some(merger) = merger.take()
                {
                    merge_output.borrow_mut().bars = merger.finish(&plan);
                }
            });
        });
        while worker.step_or_park(None) {}
        std::mem::take(&mut *output.borrow_mut())
    })
    .map_err(|reason| DataflowError::Start { workers, reason })?;
    let mut computed = Computed::default();
    for result in guards.join() {
        let out = result.map_err(|reason| DataflowError::Worker { reason })?;
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
