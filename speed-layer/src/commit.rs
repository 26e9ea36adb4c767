//! The committer: one thread that writes the sink's commits to the store,
//! so the timely workers never wait on the database unless it falls behind
//! (then the bounded queue holds the sink worker back: backpressure). It
//! also folds each commit's flushed bars into one write per key
//! ([`Dedup`]), work the sink worker would otherwise do on top of its windows.

use crate::SpeedReport;
use crate::dedup::Dedup;
use crate::metrics::SpeedMetrics;
use crate::sink::Gathered;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;
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
    /// Starts writing to `store` on its own thread; a failed commit sets `stop`.
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
        match runtime.block_on(store.commit_speed(&mut commit)) {
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
                tracing::error!(%error, "A speed commit failed; stopping (a restart resumes from the last commit).");
                stop.store(true, Ordering::Relaxed);
                metrics.commit_failures.inc();
                failure = Some(error);
            }
        }
    }
    failure.map_or(Ok(report), Err)
}
