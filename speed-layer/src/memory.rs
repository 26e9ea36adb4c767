//! The in-process bus: partitioned, append-only logs in memory standing in
//! for Kafka when tickflow runs embedded (`tickflow speed --simulate`,
//! `tickflow demo`, the engine benchmark). Offsets are positions in a log;
//! nothing survives the process, so stored offsets are ignored.

use crate::input::{Input, Inputs, Payload, Polled, Record};
use crate::metrics::SpeedMetrics;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tickflow_shared::Tick;
use tickflow_shared::watermark::Partition;

/// Partitioned logs of trades, shared by producers and readers.
#[derive(Clone)]
pub struct MemoryBus {
    logs: Arc<Vec<Mutex<Vec<Tick>>>>,
    closed: Arc<AtomicBool>,
}

impl MemoryBus {
    /// A bus of `partitions` empty logs.
    pub fn new(partitions: usize) -> Self {
        let logs = Arc::new((0..partitions.max(1)).map(|_| Mutex::new(Vec::new())).collect());
        Self { logs, closed: Arc::new(AtomicBool::new(false)) }
    }

    /// No more trades will come: readers that caught up are at the end.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Appends trades, each to the partition of its symbol (as Kafka keys
    /// them); a trade's `seq` becomes its offset, which orders a symbol's trades.
    pub fn publish(&self, ticks: impl IntoIterator<Item = Tick>) {
        let mut by_partition: BTreeMap<usize, Vec<Tick>> = BTreeMap::new();
        for tick in ticks {
            let mut hasher = rustc_hash::FxHasher::default();
            tick.symbol.hash(&mut hasher);
            by_partition.entry(hasher.finish() as usize % self.logs.len()).or_default().push(tick);
        }
        for (partition, ticks) in by_partition {
            let mut log = self.logs[partition].lock().unwrap_or_else(PoisonError::into_inner);
            let first = log.len() as u64;
            log.extend(ticks.into_iter().enumerate().map(|(i, tick)| Tick { seq: first + i as u64, ..tick }));
        }
    }

    /// Trades in all logs.
    pub fn len(&self) -> usize {
        self.logs.iter().map(|log| log.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// Whether no trade was published.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inputs for MemoryBus {
    fn topic(&self) -> &str {
        "memory"
    }

    fn partitions(&self) -> Result<Vec<Partition>, String> {
        Ok((0..self.logs.len() as Partition).collect())
    }

    fn open(&self, owned: &BTreeMap<Partition, u64>, metrics: &SpeedMetrics) -> Result<Box<dyn Input>, String> {
        Ok(Box::new(MemoryInput {
            logs: self.logs.clone(),
            cursors: owned.clone(),
            closed: self.closed.clone(),
            metrics: metrics.clone(),
        }))
    }

    fn durable(&self) -> bool {
        false
    }
}

struct MemoryInput {
    logs: Arc<Vec<Mutex<Vec<Tick>>>>,
    cursors: BTreeMap<Partition, u64>,
    closed: Arc<AtomicBool>,
    metrics: SpeedMetrics,
}

impl Input for MemoryInput {
    fn poll(&mut self, out: &mut Vec<Record>, max: usize, at_end: &mut Vec<Partition>) -> Result<Polled, String> {
        let mut records = 0;
        for (&partition, cursor) in &mut self.cursors {
            let log = self.logs[partition as usize].lock().unwrap_or_else(PoisonError::into_inner);
            let from = (*cursor as usize).min(log.len());
            let take = (max - records).min(log.len() - from);
            out.extend(log[from..from + take].iter().enumerate().map(|(i, tick)| Record {
                partition,
                offset: (from + i) as u64,
                payload: Payload::Trade(tick.clone()),
            }));
            *cursor += take as u64;
            records += take;
            self.metrics.set_lag(partition, (log.len() - from - take) as u64);
            if from + take == log.len() {
                at_end.push(partition);
            }
        }
        Ok(Polled { records })
    }

    fn complete(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn pause(&mut self, _: Partition) {}

    fn resume(&mut self) {}
}
