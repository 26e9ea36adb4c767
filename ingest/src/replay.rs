//! Archive files as trades in event-time order, streamed, paced like the
//! market was.
//!
//! The order is that of a stable sort by event time over every file in path
//! order: trades that share a timestamp come out in file order, then in their
//! order within the file. [`Replay`] produces it without holding the input:
//! a merge over the files' *splits* (byte ranges of a CSV file, row groups of
//! a Parquet file), each loaded when the merge reaches its earliest trade,
//! sorted on its own and dropped when drained.
//!
//! The design decision that matters: the first trade out must be the earliest
//! of all, so nothing can be sent before every split that might hold an
//! earlier one is known. Each split's range of event times is found by a scan
//! (`codec::time_range`: Parquet statistics, or a pass over a CSV split's
//! timestamp column) before the
//! merge may pass its start. A day-partitioned archive bounds that work: files
//! in a `date=YYYY-MM-DD` directory hold that day's trades, so a day is
//! scanned only when the merge reaches it, on a thread of its own that runs a
//! day ahead of the merge, while the previous day is being sent. Files outside
//! such directories may hold any time and are scanned before anything is sent.
//! Memory stays bounded by the splits whose time ranges overlap: one split for
//! time-ordered part files, one per partition for the archiver's files, the
//! whole file only for a file that is not in time order at all.
//!
//! Reading, merging and whatever the caller does with a chunk (the producer
//! encodes it) run on the replay's thread; chunks reach the caller through a
//! bounded channel, so reading overlaps sending.
//!
//! Start reading at [`Replay::start`].

mod plan;

use plan::{Plan, scan};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickflow_shared::Tick;
use tickflow_shared::codec::{CodecError, Reject, TickBatch, TickSink, TimeRange, read_split};

/// Trades per chunk handed to the caller.
pub const CHUNK_TICKS: usize = 8192;

/// Bytes per split of a plain CSV file: the unit loaded and sorted at once.
const CSV_SPLIT_BYTES: u64 = 8 << 20;

/// Chunks the replay thread may run ahead of the caller.
const CHANNEL_CHUNKS: usize = 32;

/// A piece of the replay: trades in event-time order, following those of the
/// chunk before, and the rows rejected by the splits loaded meanwhile.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Valid trades, in event-time order.
    pub ticks: Vec<Tick>,
    /// Rows that were not valid trades.
    pub rejects: Vec<Reject>,
}

/// Trades of archive files in event-time order, read and prepared on a
/// thread of their own; iterate to receive them.
pub struct Replay<T> {
    chunks: Option<Receiver<Result<T, CodecError>>>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Replay<T> {
    /// Starts replaying every data file under `paths` (files, or directories
    /// searched recursively; files in path order). Each chunk passes through
    /// `prepare` on the replay's thread before it is handed over.
    ///
    /// Fails at once if a path does not exist or a file cannot be planned;
    /// errors met later arrive as items.
    pub fn start<F>(paths: &[PathBuf], prepare: F) -> Result<Self, CodecError>
    where
        F: FnMut(Chunk) -> T + Send + 'static,
    {
        Self::start_sized(paths, CSV_SPLIT_BYTES, prepare)
    }

    /// [`Replay::start`] with plain CSV files cut into splits of about `csv_split_bytes`.
    fn start_sized<F>(paths: &[PathBuf], csv_split_bytes: u64, prepare: F) -> Result<Self, CodecError>
    where
        F: FnMut(Chunk) -> T + Send + 'static,
    {
        let plan = Plan::new(paths, csv_split_bytes)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, chunks) = sync_channel(CHANNEL_CHUNKS);
        let worker = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("replay".into())
                .spawn(move || merge(plan, &stop, prepare, &sender))
                .map_err(|e| CodecError::Io { path: "replay thread".into(), source: e })?
        };
        Ok(Self { chunks: Some(chunks), stop, worker: Some(worker) })
    }
}

impl<T> Iterator for Replay<T> {
    type Item = Result<T, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.chunks.as_ref()?.recv().ok()
    }
}

impl<T> Drop for Replay<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.chunks = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Reads every data file under `paths` and returns their valid trades in
/// event-time order (ties in file order), and the rejected rows.
pub fn read_in_event_order(paths: &[PathBuf]) -> Result<(Vec<Tick>, Vec<Reject>), CodecError> {
    let mut all = Chunk::default();
    for chunk in Replay::start(paths, |chunk| chunk)? {
        let chunk = chunk?;
        all.ticks.extend(chunk.ticks);
        all.rejects.extend(chunk.rejects);
    }
    Ok((all.ticks, all.rejects))
}

/// A sink that keeps the trades as [`Tick`]s, and the rejects.
#[derive(Default)]
struct Load(Chunk);

impl TickSink for Load {
    fn ticks(&mut self, batch: &TickBatch) {
        self.0.ticks.extend(batch.ticks());
    }

    fn reject(&mut self, reject: Reject) {
        self.0.rejects.push(reject);
    }
}

/// The order of a trade among ties: its file, its split in the file.
type Tie = (u32, u32);

/// A loaded split, sorted, drained from the front.
struct Cursor {
    ticks: std::vec::IntoIter<Tick>,
    tie: Tie,
}

impl Cursor {
    fn head(&self) -> Option<(i64, Tie)> {
        self.ticks.as_slice().first().map(|t| (t.ts, self.tie))
    }
}

/// What waits in the merge, by the earliest trade it may hold.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Waiting {
    /// A group whose scan is still to come.
    Group,
    /// A scanned split, an index into [`Plan::parts`].
    Part(usize),
}

/// The merge: loads splits as it reaches them, emits chunks in event-time order.
fn merge<T, F>(plan: Plan, stop: &AtomicBool, mut prepare: F, chunks: &SyncSender<Result<T, CodecError>>)
where
    F: FnMut(Chunk) -> T,
{
    let plan = Arc::new(plan);
    let (ranges_sender, ranges) = sync_channel(1);
    let scan_stop = Arc::new(AtomicBool::new(false));
    let scanner = {
        let (plan, stop) = (plan.clone(), scan_stop.clone());
        std::thread::Builder::new().name("replay-scan".into()).spawn(move || scan(&plan, &stop, &ranges_sender))
    };
    let scanner = match scanner {
        Ok(scanner) => scanner,
        Err(e) => {
            let _ = chunks.send(Err(CodecError::Io { path: "replay scan thread".into(), source: e }));
            return;
        }
    };
    let mut merger = Merger { plan: &plan, ranges, waiting: BinaryHeap::new(), loaded: Vec::new(), last: i64::MIN };
    let result = merger.run(stop, &mut prepare, chunks);
    scan_stop.store(true, Ordering::Relaxed);
    drop(merger);
    let _ = scanner.join();
    if let Err(error) = result {
        let _ = chunks.send(Err(error));
    }
}

struct Merger<'a> {
    plan: &'a Plan,
    ranges: Receiver<Vec<Result<TimeRange, CodecError>>>,
    /// Keyed by the earliest trade each may hold, then by tie order.
    waiting: BinaryHeap<Reverse<(i64, Tie, Waiting)>>,
    loaded: Vec<Cursor>,
    /// The latest event time emitted.
    last: i64,
}

impl Merger<'_> {
    fn run<T, F>(
        &mut self,
        stop: &AtomicBool,
        prepare: &mut F,
        chunks: &SyncSender<Result<T, CodecError>>,
    ) -> Result<(), CodecError>
    where
        F: FnMut(Chunk) -> T,
    {
        for group in &self.plan.groups {
            self.waiting.push(Reverse((group.start, (0, 0), Waiting::Group)));
        }
        let mut groups = self.plan.groups.iter();
        let mut out = Chunk { ticks: Vec::with_capacity(CHUNK_TICKS), rejects: Vec::new() };
        let mut warned = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            // The loaded split with the earliest trade, and the bound of what it may emit.
            let best = (0..self.loaded.len()).filter_map(|i| Some((self.loaded[i].head()?, i))).min();
            let waiting = self.waiting.peek().map(|Reverse((ts, tie, _))| (*ts, *tie));
            match (best, waiting) {
                (None, None) => break,
                (None, Some(_)) => {}
                (Some((head, _)), Some(key)) if key <= head => {}
                (Some((_, i)), waiting) => {
                    let others = self.loaded.iter().enumerate().filter(|(j, _)| *j != i).filter_map(|(_, c)| c.head());
                    let bound = others.chain(waiting).min();
                    let cursor = &mut self.loaded[i];
                    let tie = cursor.tie;
                    let run = match bound {
                        None => cursor.ticks.len(),
                        Some(bound) => cursor.ticks.as_slice().partition_point(|t| (t.ts, tie) < bound),
                    };
                    let take = run.clamp(1, CHUNK_TICKS - out.ticks.len());
                    out.ticks.extend(cursor.ticks.by_ref().take(take));
                    if let Some(tick) = out.ticks.last() {
                        self.last = self.last.max(tick.ts);
                    }
                    if cursor.ticks.as_slice().is_empty() {
                        self.loaded.swap_remove(i);
                    }
                    if out.ticks.len() >= CHUNK_TICKS && !send(&mut out, prepare, chunks) {
                        return Ok(());
                    }
                    continue;
                }
            }
            let Some(Reverse((_, _, what))) = self.waiting.pop() else { break };
            match what {
                Waiting::Group => {
                    let group = groups.next().ok_or_else(|| lost("the scan order"))?;
                    let ranges = self.ranges.recv().map_err(|_| lost("the scan thread"))?;
                    for (&part, range) in group.parts.iter().zip(ranges) {
                        let start = range?.map_or(i64::MIN, |(lo, _)| lo);
                        let tie = (self.plan.parts[part].file, self.plan.parts[part].index);
                        self.waiting.push(Reverse((start, tie, Waiting::Part(part))));
                    }
                }
                Waiting::Part(part) => {
                    let part = &self.plan.parts[part];
                    let mut load = Load::default();
                    read_split(&part.split, &mut load)?;
                    let Load(Chunk { mut ticks, rejects }) = load;
                    if !ticks.is_sorted_by_key(|t| t.ts) {
                        ticks.sort_by_key(|t| t.ts);
                    }
                    if let Some(first) = ticks.first()
                        && first.ts < self.last
                        && !std::mem::replace(&mut warned, true)
                    {
                        tracing::warn!(
                            file = %part.split.path.display(),
                            "A file holds trades earlier than its date= directory's day; they are replayed late."
                        );
                    }
                    out.rejects.extend(rejects);
                    if ticks.is_empty() {
                        continue;
                    }
                    self.loaded.push(Cursor { ticks: ticks.into_iter(), tie: (part.file, part.index) });
                }
            }
        }
        if (!out.ticks.is_empty() || !out.rejects.is_empty()) && !send(&mut out, prepare, chunks) {
            return Ok(());
        }
        Ok(())
    }
}

/// Hands the chunk over; false when the caller has gone.
fn send<T, F>(out: &mut Chunk, prepare: &mut F, chunks: &SyncSender<Result<T, CodecError>>) -> bool
where
    F: FnMut(Chunk) -> T,
{
    let chunk = std::mem::replace(out, Chunk { ticks: Vec::with_capacity(CHUNK_TICKS), rejects: Vec::new() });
    chunks.send(Ok(prepare(chunk))).is_ok()
}

fn lost(what: &str) -> CodecError {
    CodecError::Io { path: "replay".into(), source: std::io::Error::other(format!("{what} ended early")) }
}

/// Paces a replay: at `speed` 1 trades leave as far apart as their event
/// times; at 10, ten times faster; at 0, as fast as possible.
pub struct Pacer {
    speed: f64,
    started: Instant,
    first_ts: Option<i64>,
}

impl Pacer {
    /// A pacer starting now.
    pub fn new(speed: f64) -> Self {
        Self { speed, started: Instant::now(), first_ts: None }
    }

    /// Sleeps until the trade at event time `ts` is due.
    pub fn wait(&mut self, ts: i64) {
        if self.speed <= 0.0 {
            return;
        }
        let first = *self.first_ts.get_or_insert(ts);
        let due = Duration::from_secs_f64((ts - first).max(0) as f64 / 1e9 / self.speed);
        let elapsed = self.started.elapsed();
        if due > elapsed + Duration::from_millis(1) {
            std::thread::sleep(due - elapsed);
        }
    }
}

#[cfg(test)]
mod tests;
