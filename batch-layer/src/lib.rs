//! The batch layer: exact bars recomputed from the archive, published as versions.
//!
//! A run ([`run`]) discovers the archive's data files ([`inputs`]), compares
//! them with the manifest of earlier runs and recomputes only the UTC days
//! whose files appeared, changed or vanished. The days are computed on timely
//! dataflow workers ([`dataflow`]): every worker pre-aggregates the splits it
//! takes from a shared queue ([`aggregate`]), partial bars are exchanged by
//! symbol and merged, and coarser intervals are merged from finer bars. The
//! result is published in one transaction that replaces whole days and moves
//! the batch boundary (DESIGN.md, contract 5). A run over a partitioned
//! archive streams: it computes and publishes a few days at a time, oldest
//! first, one transaction per group ([`PUBLISH_GROUP_BYTES`]), so its memory
//! is bounded by a day, not by the number of days. [`schedule::every`] runs
//! the job on a schedule (`tickflow batch --every 1h`), counting every run
//! in [`metrics`]. After every run the store's retention policy drops what
//! is old enough (superseded speed bars, late trades, rejects; DESIGN.md,
//! Storage). [`features`] exports point-in-time features of the published
//! bars for machine learning (`tickflow features`).
//!
//! A publish the store's outage interrupts leaves nothing half-published
//! (it is one transaction) and fails the run with
//! [`BatchError::PublishInterrupted`]; the next run, or the next slot of a
//! schedule, publishes it. A file whose size or footer cannot be read fails
//! the whole run before anything is published ([`BatchError::Unreadable`]):
//! the boundary moves past every published day, so publishing the days
//! around a bad one would hide that day's speed bars behind the boundary. A
//! file that fails while its group of days is read stops the run there
//! ([`BatchError::UnreadableFrom`]): the older groups stay published and the
//! boundary ends before the bad day, so it hides nothing.
//!
//! Why no differential dataflow here: a day's bars are a pure function of the
//! day's files, so a day-level manifest diff already makes a rerun with no
//! new files cost a directory listing and one query. Incremental operators
//! would add arrangements (memory) without saving any reading.

pub mod aggregate;
pub mod dataflow;
pub mod features;
pub mod inputs;
pub mod merge;
pub mod metrics;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tickflow_shared::codec::{Reject, plan_splits};
use tickflow_shared::store::{
    BatchPublish, BatchRun, BatchStore, DaySummary, FileManifest, Retained, Retention, StoreError,
};
use tickflow_shared::time::{day_of, format_day, now_ns};
use tickflow_shared::{Interval, IntervalPlan};

/// Errors that stop a batch run; nothing is published when one occurs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// An archive path is missing or not readable.
    #[error("archive path {path}: {problem}")]
    Archive {
        /// The path.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Some files could not be read at all (truncated, corrupt). Nothing
    /// is published, not even the days of the other files: the boundary
    /// would move past a day left out and hide its speed bars.
    #[error(
        "{} archive file(s) could not be read: {}; nothing was published, not even the days of the other files \
         (the batch boundary would move past the days left out); restore these files (or move them out of the \
         archive, which drops their trades from the batch view) and run again",
        .0.len(),
        .0.join("; ")
    )]
    Unreadable(Vec<String>),
    /// Some files failed while a group of days was read, after the older
    /// groups of a streamed run were published.
    #[error(
        "{} archive file(s) could not be read: {}; the days before {day} were published, {day} and the later days \
         were not (the batch boundary ends before them); restore these files (or move them out of the archive, \
         which drops their trades from the batch view) and run again",
        .files.len(),
        .files.join("; ")
    )]
    UnreadableFrom {
        /// The first day not published, `YYYY-MM-DD`.
        day: String,
        /// The files and what failed.
        files: Vec<String>,
    },
    /// The dataflow failed to start or a worker failed.
    #[error("batch dataflow failed: {0}")]
    Dataflow(#[from] dataflow::DataflowError),
    /// The view store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store became unreachable during the publish (the connection was
    /// lost, the server restarted). The run is not retried in process: a
    /// rerun is the retry, since it recomputes exactly the days the store
    /// does not hold yet.
    #[error(
        "the store became unreachable while publishing {days}: {reason}; a publish is one transaction, so either \
         all of these days were published or none of them, never part of a day; run tickflow batch again once the \
         store is back: it publishes whatever is missing"
    )]
    PublishInterrupted {
        /// The days of the publish, `YYYY-MM-DD, …`.
        days: String,
        /// The store's error, with its causes.
        reason: String,
    },
}

impl BatchError {
    fn archive(path: &Path, problem: String) -> Self {
        Self::Archive { path: path.display().to_string(), problem }
    }
}

/// What a batch run does.
#[derive(Clone, Debug)]
pub struct BatchConfig {
    /// Files and directories to read.
    pub archive: Vec<PathBuf>,
    /// Intervals to compute.
    pub intervals: Vec<Interval>,
    /// Timely worker threads.
    pub workers: usize,
    /// What the store keeps; applied after every run.
    pub retention: Retention,
}

/// What a batch run did.
#[derive(Clone, Debug, Default)]
pub struct BatchReport {
    /// The published runs, one per group of days, oldest first; empty when
    /// nothing had changed.
    pub runs: Vec<BatchRun>,
    /// Days replaced.
    pub days: BTreeSet<i64>,
    /// Files read.
    pub files_read: usize,
    /// Bytes of the files read.
    pub bytes_read: u64,
    /// Valid trades read.
    pub trades: u64,
    /// The rejected rows.
    pub rejects: Vec<Reject>,
    /// Partition directories skipped because they are not sealed yet.
    pub unsealed: Vec<PathBuf>,
    /// Seconds spent reading and computing.
    pub compute_seconds: f64,
    /// Seconds spent publishing.
    pub publish_seconds: f64,
    /// What the retention policy dropped after the run.
    pub retained: Retained,
}

/// Input bytes after which the days of a run are published without the
/// days that follow: a partitioned archive is computed and published in
/// groups of consecutive days of about this much input (one day when days are
/// larger), so a run over months holds the bars of a day, not of the archive.
pub const PUBLISH_GROUP_BYTES: u64 = 32 << 20;

/// Recomputes the changed days under `config.archive` and publishes them.
///
/// A sealed, partitioned archive is computed and published in groups of
/// consecutive days, oldest first, each in its own transaction
/// ([`PUBLISH_GROUP_BYTES`]); a group's bars leave memory once published.
/// Files named explicitly, whose days are learned only by reading them, are
/// computed and published together in one transaction.
pub async fn run(config: &BatchConfig, store: &dyn BatchStore) -> Result<BatchReport, BatchError> {
    let started_at = now_ns();
    let found = inputs::discover(&config.archive)?;
    let manifest = store.batch_manifest().await?;
    let interval_plan = IntervalPlan::new(&config.intervals);
    let mut report = BatchReport::default();
    let whole = inputs::plan(&found, &manifest, &BTreeSet::new());
    if let Some(groups) = whole.by_days(&found, &manifest, PUBLISH_GROUP_BYTES) {
        // Every file's footer is checked before the first group is published.
        let tasks = read_tasks(&whole, &found)?;
        for group in groups {
            let clock = Instant::now();
            let mine = tasks.iter().filter(|t| group.tasks.iter().any(|g| g.file == t.file)).cloned().collect();
            let computed = compute_tasks(mine, &interval_plan, config.workers).map_err(|error| match error {
                BatchError::Unreadable(files) if !report.runs.is_empty() => {
                    let day = group.dirty.first().map(|d| format_day(*d)).unwrap_or_default();
                    BatchError::UnreadableFrom { day, files }
                }
                error => error,
            })?;
            report.compute_seconds += clock.elapsed().as_secs_f64();
            publish(store, started_at, &found, &group, computed, &interval_plan, &mut report).await?;
        }
    } else {
        let clock = Instant::now();
        if let Some((plan, computed)) = recompute(&found, &manifest, &interval_plan, config.workers)? {
            report.compute_seconds = clock.elapsed().as_secs_f64();
            publish(store, started_at, &found, &plan, computed, &interval_plan, &mut report).await?;
        }
    }
    // After the publish: the boundary it moved decides which speed bars are superseded.
    report.retained = store.apply_retention(&config.retention).await?;
    report.unsealed = found.unsealed;
    Ok(report)
}

/// Publishes the bars of `plan`'s days and adds what it did to `report`.
async fn publish(
    store: &dyn BatchStore,
    started_at: i64,
    found: &inputs::Discovery,
    plan: &inputs::Plan,
    computed: dataflow::Computed,
    interval_plan: &IntervalPlan,
    report: &mut BatchReport,
) -> Result<(), BatchError> {
    let days = trades_per_day(plan, &computed, interval_plan);
    let read: BTreeSet<usize> = plan.tasks.iter().map(|t| t.file).collect();
    let intervals = interval_plan.intervals().to_vec();
    let publish =
        BatchPublish {
            started_at,
            days: days.iter().map(|(&day, &trades)| DaySummary { day, trades }).collect(),
            files: manifest_entries(plan, found, &computed),
            forget_files: plan.forget.clone(),
            rejects: computed.rejects.clone(),
            bars: Box::new(merge::in_order(computed.bars).filter_map(move |(symbol, interval, start, acc)| {
                acc.finish(symbol, intervals[interval as usize], start)
            })),
        };
    let clock = Instant::now();
    let run = store.publish_batch(publish).await.map_err(|error| {
        if error.is_transient() {
            let days = inputs::day_names(&days.keys().copied().collect());
            BatchError::PublishInterrupted { days, reason: error.with_causes() }
        } else {
            BatchError::Store(error)
        }
    })?;
    report.publish_seconds += clock.elapsed().as_secs_f64();
    report.runs.push(run);
    report.days.extend(days.keys());
    report.files_read += read.len();
    report.bytes_read += read.iter().map(|&i| found.files[i].bytes).sum::<u64>();
    report.trades += computed.trades;
    report.rejects.extend(computed.rejects);
    Ok(())
}

/// Bars computed in process from archive files, without a store.
#[derive(Clone, Debug, Default)]
pub struct ComputedBars {
    /// The bars, ordered by `(symbol, start)`.
    pub bars: Vec<tickflow_shared::Bar>,
    /// Valid trades read.
    pub trades: u64,
    /// The rejected rows.
    pub rejects: Vec<Reject>,
    /// Partition directories skipped because they are not sealed yet.
    pub unsealed: Vec<PathBuf>,
}

/// The exact bars of `interval` from the files under `archive`, computed as
/// a batch run computes them (the same discovery, sealed days only, the
/// same dataflow) but kept in memory instead of published: what
/// `tickflow backtest --archive` reads, equal to the batch view a
/// `tickflow batch` of the same files publishes.
pub fn compute_bars(archive: &[PathBuf], interval: Interval, workers: usize) -> Result<ComputedBars, BatchError> {
    let found = inputs::discover(archive)?;
    let interval_plan = IntervalPlan::new(&[interval]);
    let Some((_, computed)) = recompute(&found, &[], &interval_plan, workers)? else {
        return Ok(ComputedBars { unsealed: found.unsealed, ..ComputedBars::default() });
    };
    let bars = merge::in_order(computed.bars)
        .filter_map(|(symbol, _, start, acc)| acc.finish(symbol, interval, start))
        .collect();
    Ok(ComputedBars { bars, trades: computed.trades, rejects: computed.rejects, unsealed: found.unsealed })
}

/// Plans and computes passes until no day first seen while reading is held by
/// a file the pass left out; `None` when nothing changed.
fn recompute(
    found: &inputs::Discovery,
    manifest: &[FileManifest],
    interval_plan: &IntervalPlan,
    workers: usize,
) -> Result<Option<(inputs::Plan, dataflow::Computed)>, BatchError> {
    let mut extra = BTreeSet::new();
    loop {
        let mut plan = inputs::plan(found, manifest, &extra);
        if plan.tasks.is_empty() && plan.dirty.is_empty() {
            return Ok(None);
        }
        let computed = compute_tasks(read_tasks(&plan, found)?, interval_plan, workers)?;
        let seen: BTreeSet<i64> = computed.file_days.values().flatten().copied().collect();
        let new: BTreeSet<i64> = seen.difference(&plan.dirty).copied().collect();
        if new.is_empty() || !plan.misses(found, manifest, &new) {
            plan.dirty.extend(new);
            return Ok(Some((plan, computed)));
        }
        extra = plan.dirty.union(&new).copied().collect();
    }
}

/// The splits of every file `plan` reads. Every file whose footer or size
/// cannot be read is named at once, not only the first.
fn read_tasks(plan: &inputs::Plan, found: &inputs::Discovery) -> Result<Vec<dataflow::ReadTask>, BatchError> {
    let mut tasks = Vec::new();
    let mut unreadable = Vec::new();
    for task in &plan.tasks {
        match plan_splits(&found.files[task.file].path) {
            Ok(splits) => tasks.extend(splits.into_iter().map(|split| dataflow::ReadTask {
                split,
                file: task.file,
                filter: task.filter.clone(),
            })),
            Err(error) => unreadable.push(error.to_string()),
        }
    }
    if !unreadable.is_empty() {
        return Err(BatchError::Unreadable(unreadable));
    }
    Ok(tasks)
}

/// Computes the bars of `tasks`, largest splits first; a file that fails while
/// being read fails the computation.
fn compute_tasks(
    mut tasks: Vec<dataflow::ReadTask>,
    interval_plan: &IntervalPlan,
    workers: usize,
) -> Result<dataflow::Computed, BatchError> {
    tasks.sort_by_key(|task| std::cmp::Reverse(task.split.bytes));
    let computed = dataflow::compute(tasks, interval_plan, workers)?;
    if !computed.errors.is_empty() {
        return Err(BatchError::Unreadable(computed.errors));
    }
    Ok(computed)
}

/// The manifest entries of the files that are new or changed.
fn manifest_entries(
    plan: &inputs::Plan,
    found: &inputs::Discovery,
    computed: &dataflow::Computed,
) -> Vec<FileManifest> {
    plan.changed
        .iter()
        .map(|&i| {
            let file = &found.files[i];
            let days = match file.partition {
                Some(day) => vec![day],
                None => computed.file_days.get(&i).map(|d| d.iter().copied().collect()).unwrap_or_default(),
            };
            FileManifest { path: file.key(), bytes: file.bytes, modified_ns: file.modified_ns, days }
        })
        .collect()
}

/// Trades of every replaced day (0 for a day whose files are gone), counted
/// from the bars of one root interval.
fn trades_per_day(
    plan: &inputs::Plan,
    computed: &dataflow::Computed,
    interval_plan: &IntervalPlan,
) -> BTreeMap<i64, u64> {
    let root = interval_plan.roots().next().unwrap_or(0);
    let mut days: BTreeMap<i64, u64> = plan.dirty.iter().map(|d| (*d, 0)).collect();
    for (start, trades) in computed.bars.iter().flat_map(|owned| owned.trades(root)) {
        *days.entry(day_of(start)).or_default() += trades;
    }
    days
}
