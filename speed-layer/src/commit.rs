//! The committer: one thread that writes the sink's commits to the store,
//! so the timely workers never wait on the database unless it falls behind
//! (then the bounded queue holds the sink worker back: backpressure). It
//! also folds each commit's flushed bars into one write per key
//! ([`Dedup`]), work the sink worker would otherwise do on top of its windows.
//! While the store is unreachable it writes the same commit again with
//! backoff ([`outage`](crate::outage)); the queue then holds the job back.

use crate::SpeedReport;
use crate::dedup::Dedup;
use crate::metrics::SpeedMetrics;
use crate::outage::Outage;
use crate::sink::Gathered;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickflow_shared::store::{SpeedCommit, SpeedStore, StoreError};
use tickflow_shared::time::now_ns;

/// Commits waiting for the store, at most.
const QUEUE: usize = 2;

/// Hands commits to the committer thread.
#[derive(Clone)]
pub struct CommitSender(SyncSender<Gathered>);

impl CommitSender {
    /// Queues a commit, waiting while the queue is full.
    pub fn send(&self, commit: Gathered) {
        if self.0.send(commit).is_err() {
            tracing::error!("The committer has stopped; a commit is dropped and will be replayed on restart.");
        }
    }
}

/// The committer thread.
pub struct Committer {
    sender: Option<CommitSender>,
    thread: JoinHandle<Result<SpeedReport, StoreError>>,
}

impl Committer {
    /// Starts writing to `store` on its own thread; a commit that fails
    /// for good (not transiently, or while stopping) sets `stop`.
    pub fn start(
        store: Arc<dyn SpeedStore>,
        runtime: tokio::runtime::Runtime,
        stop: Arc<AtomicBool>,
        metrics: SpeedMetrics,
    ) -> Self {
        let (sender, receiver) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("tickflow-commit".into())
            .spawn(move || write(&*store, &runtime, &receiver, &stop, &metrics))
            .unwrap_or_else(|e| panic!("cannot start the commit thread: {e}"));
        Self { sender: Some(CommitSender(sender)), thread }
    }

    /// A handle to queue commits.
    pub fn sender(&self) -> CommitSender {
        self.sender.clone().unwrap_or_else(|| unreachable!("the sender lives until finish"))
    }

    /// Waits until every queued commit is written (all senders dropped).
    pub fn finish(mut self) -> Result<SpeedReport, StoreError> {
        self.sender = None;
        self.thread.join().unwrap_or_else(|_| Err(StoreError::Corrupt("the committer thread panicked".into())))
    }
}

fn write(
    store: &dyn SpeedStore,
    runtime: &tokio::runtime::Runtime,
    receiver: &Receiver<Gathered>,
    stop: &AtomicBool,
    metrics: &SpeedMetrics,
) -> Result<SpeedReport, StoreError> {
    let mut report = SpeedReport::default();
    let mut failure = None;
    let mut dedup = Dedup::default();
    let mut commit = SpeedCommit::default();
    for gathered in receiver {
        if failure.is_some() {
            continue;
        }
        gathered.fill(&mut dedup, &mut commit);
        // The sink knows the positions; this process's inputs know where the
        // logs end (partitions read by another process stay unknown).
        for offset in &mut commit.offsets {
            let end = metrics.end_offset(offset.partition).and_then(|end| i64::try_from(end).ok());
            offset.end_offset = end.map(|end| end.max(offset.next_offset));
        }
        let (bars, late, rejects, watermark) =
            (commit.bars.len() as u64, commit.late.len() as u64, commit.rejects.len() as u64, commit.watermark);
        let started = Instant::now();
        match write_one(store, runtime, &mut commit, stop, metrics) {
            Ok(()) => {
                report.commits += 1;
                report.bars += bars;
                report.late += late;
                report.rejects += rejects;
                report.watermark = watermark.max(report.watermark);
                metrics.commits.inc();
                metrics.bars.inc_by(bars);
                metrics.late.inc_by(late);
                metrics.rejects.inc_by(rejects);
                metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                if let Some(watermark) = watermark {
                    metrics.set_watermark(watermark, now_ns());
                }
                tracing::trace!(bars, elapsed = ?started.elapsed(), "Speed commit written.");
            }
            Err(error) => {
                tracing::error!(
                    error = %error.with_causes(),
                    "A speed commit failed; stopping (a restart resumes from the last commit)."
                );
                stop.store(true, Ordering::Relaxed);
                failure = Some(error);
            }
        }
    }
    failure.map_or(Ok(report), Err)
}

/// Writes `commit`, again and again with backoff while the store fails
/// transiently, until it is written, fails for good, or `stop` is set.
fn write_one(
    store: &dyn SpeedStore,
    runtime: &tokio::runtime::Runtime,
    commit: &mut SpeedCommit,
    stop: &AtomicBool,
    metrics: &SpeedMetrics,
) -> Result<(), StoreError> {
    let mut outage: Option<Outage> = None;
    loop {
        match runtime.block_on(store.commit_speed(commit)) {
            Ok(()) => {
                if let Some(outage) = outage {
                    outage.end();
                }
                return Ok(());
            }
            Err(error) => {
                metrics.commit_failures.inc();
                if !error.is_transient() || stop.load(Ordering::Relaxed) {
                    if let Some(outage) = &outage {
                        tracing::warn!(
                            failed_attempts = outage.failures(),
                            "Stopping while the view store is unreachable; a restart replays what was not written."
                        );
                    }
                    return Err(error);
                }
                let wait = outage.get_or_insert_with(|| Outage::begin(&error)).failed();
                sleep_unless(stop, wait);
            }
        }
    }
}

/// Sleeps for `wait`, or less if `stop` is set meanwhile.
fn sleep_unless(stop: &AtomicBool, wait: Duration) {
    let until = Instant::now() + wait;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}
