//! The in-process bus: partitioned logs in memory standing in for Kafka when
//! tickflow runs embedded (`tickflow speed --simulate`, `tickflow demo`, the
//! engine benchmark), read by the speed layer and the archiver alike. Offsets are positions in a log; nothing survives the
//! process, so stored offsets are ignored.
//!
//! A log forgets the trades every reader has read, so a bus that runs for
//! days holds only what its slowest reader has still to read. It starts
//! forgetting once as many readers as the bus was made for have opened it
//! ([`MemoryBus::with_readers`]): the demo's archiver and speed layer both
//! see every trade, whichever opens first.

use crate::Tick;
use crate::input::{Input, InputError, Inputs, Payload, Polled, Positions, Record};
use crate::watermark::Partition;
use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Partitioned logs of trades, shared by producers and readers.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Arc;
/// use tickflow_shared::input::memory::MemoryBus;
/// use tickflow_shared::input::{Inputs, Payload};
/// use tickflow_shared::{Price, Size, Symbol, Tick};
///
/// let bus = MemoryBus::new(1);
/// let tick = |ts| Tick { symbol: Symbol::new("AAPL").unwrap(), ts, price: Price(1), size: Size(1), seq: 0 };
/// bus.publish([tick(1), tick(2)]);
/// bus.close();
/// let mut input = bus.open(&BTreeMap::from([(0, 0)]), Arc::new(())).unwrap();
/// let (mut records, mut at_end) = (Vec::new(), Vec::new());
/// input.poll(&mut records, 100, &mut at_end).unwrap();
/// let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
/// assert_eq!(offsets, [0, 1]);
/// assert!(matches!(&records[1].payload, Payload::Trade(t) if t.seq == 1), "a trade's seq is its offset");
/// assert!(at_end == [0] && input.complete(), "read to the end of a closed bus");
/// ```
#[derive(Clone)]
pub struct MemoryBus {
    logs: Arc<Vec<Mutex<Log>>>,
    closed: Arc<AtomicBool>,
}

/// One partition: the trades not yet read by every reader.
#[derive(Default)]
struct Log {
    /// The offset of `ticks[0]`.
    base: u64,
    ticks: VecDeque<Tick>,
    /// Readers needed before anything is forgotten.
    expected: usize,
    /// Each reader's next offset; `u64::MAX` once it is gone.
    readers: Vec<u64>,
}

impl Log {
    fn end(&self) -> u64 {
        self.base + self.ticks.len() as u64
    }

    /// Forgets what every reader has read.
    fn trim(&mut self) {
        if self.readers.len() < self.expected {
            return;
        }
        let read = self.readers.iter().copied().min().unwrap_or(0).min(self.end());
        let forget = (read.saturating_sub(self.base) as usize).min(self.ticks.len());
        self.ticks.drain(..forget);
        self.base += forget as u64;
    }
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    // A log is never left half-changed by a panic: appends and trims are whole.
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryBus {
    /// A bus of `partitions` empty logs with one reader per partition.
    pub fn new(partitions: usize) -> Self {
        Self::with_readers(partitions, 1)
    }

    /// A bus of `partitions` empty logs, each read by `readers` readers: a
    /// log forgets nothing before that many have opened it.
    pub fn with_readers(partitions: usize, readers: usize) -> Self {
        let log = || Mutex::new(Log { expected: readers.max(1), ..Log::default() });
        Self {
            logs: Arc::new((0..partitions.max(1)).map(|_| log()).collect()),
            closed: Arc::new(AtomicBool::new(false)),
        }
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
            let mut log = lock(&self.logs[partition]);
            let first = log.end();
            log.ticks.extend(ticks.into_iter().enumerate().map(|(i, tick)| Tick { seq: first + i as u64, ..tick }));
        }
    }

    /// Trades published so far, over all logs (forgotten ones included).
    pub fn len(&self) -> usize {
        self.logs.iter().map(|log| lock(log).end() as usize).sum()
    }

    /// Whether no trade was published.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Trades held in memory, not yet read by every reader.
    pub fn held(&self) -> usize {
        self.logs.iter().map(|log| lock(log).ticks.len()).sum()
    }
}

impl Inputs for MemoryBus {
    fn topic(&self) -> &str {
        "memory"
    }

    fn partitions(&self) -> Result<Vec<Partition>, InputError> {
        Ok((0..self.logs.len() as Partition).collect())
    }

    fn open(
        &self,
        owned: &BTreeMap<Partition, u64>,
        positions: Arc<dyn Positions>,
    ) -> Result<Box<dyn Input>, InputError> {
        let mut cursors = Vec::with_capacity(owned.len());
        for (&partition, &from) in owned {
            let log = self.logs.get(partition as usize).ok_or_else(|| InputError::NoPartition {
                stream: self.topic().to_owned(),
                partition,
                partitions: self.logs.len(),
            })?;
            let mut log = lock(log);
            let from = from.max(log.base);
            log.readers.push(from);
            cursors.push(Cursor { partition, slot: log.readers.len() - 1, next: from, paused: false });
        }
        Ok(Box::new(MemoryInput { logs: self.logs.clone(), cursors, closed: self.closed.clone(), positions }))
    }

    fn durable(&self) -> bool {
        false
    }
}

/// How far in event time a partition of the bus that is catching up may read
/// ahead of the slowest: far enough that alignment rarely pauses, near
/// enough that bars ahead of the watermark are few.
const ALIGNMENT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where one reader stands in one partition.
struct Cursor {
    partition: Partition,
    /// Its place in the log's `readers`.
    slot: usize,
    next: u64,
    paused: bool,
}

struct MemoryInput {
    logs: Arc<Vec<Mutex<Log>>>,
    cursors: Vec<Cursor>,
    closed: Arc<AtomicBool>,
    positions: Arc<dyn Positions>,
}

impl Input for MemoryInput {
    fn poll(&mut self, out: &mut Vec<Record>, max: usize, at_end: &mut Vec<Partition>) -> Result<Polled, InputError> {
        let mut records = 0;
        let partitions = self.cursors.iter().filter(|c| !c.paused).count();
        for (i, cursor) in self.cursors.iter_mut().filter(|c| !c.paused).enumerate() {
            let mut log = lock(&self.logs[cursor.partition as usize]);
            let from = cursor.next.max(log.base);
            // An even share of what is left, so that partitions read side by
            // side (as Kafka fetches them) and the watermark, their minimum, moves.
            let share = (max - records).div_ceil(partitions - i);
            let take = (share as u64).min(log.end() - from);
            let start = (from - log.base) as usize;
            let partition = cursor.partition;
            out.extend(log.ticks.range(start..start + take as usize).enumerate().map(|(i, tick)| Record {
                partition,
                offset: from + i as u64,
                payload: Payload::Trade(tick.clone()),
            }));
            cursor.next = from + take;
            records += take as usize;
            self.positions.set_position(partition, log.end(), cursor.next);
            if cursor.next == log.end() {
                at_end.push(partition);
            }
            log.readers[cursor.slot] = cursor.next;
            log.trim();
        }
        Ok(Polled { records, unavailable: false })
    }

    fn complete(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Pausing a partition of the bus costs nothing.
    fn alignment(&self) -> Option<std::time::Duration> {
        Some(ALIGNMENT)
    }

    fn pause(&mut self, partition: Partition) {
        self.cursors.iter_mut().filter(|c| c.partition == partition).for_each(|c| c.paused = true);
    }

    fn resume(&mut self, partition: Partition) {
        self.cursors.iter_mut().filter(|c| c.partition == partition).for_each(|c| c.paused = false);
    }
}

impl Drop for MemoryInput {
    fn drop(&mut self) {
        for cursor in &self.cursors {
            let mut log = lock(&self.logs[cursor.partition as usize]);
            log.readers[cursor.slot] = u64::MAX;
            log.trim();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Price, Size, Symbol};

    fn trades(n: usize) -> Vec<Tick> {
        let symbol = Symbol::new("AAPL").expect("symbol");
        (0..n).map(|i| Tick { symbol: symbol.clone(), ts: i as i64, price: Price(1), size: Size(1), seq: 0 }).collect()
    }

    fn read(input: &mut Box<dyn Input>) -> Vec<u64> {
        let (mut out, mut at_end) = (Vec::new(), Vec::new());
        input.poll(&mut out, usize::MAX, &mut at_end).expect("poll");
        out.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn every_reader_sees_every_trade_and_the_bus_forgets_what_all_have_read() {
        let bus = MemoryBus::with_readers(1, 2);
        bus.publish(trades(3));
        let from_start = BTreeMap::from([(0, 0)]);
        let mut first = bus.open(&from_start, Arc::new(())).expect("open");
        assert_eq!(read(&mut first), [0, 1, 2]);
        assert_eq!(bus.held(), 3, "the second reader has not opened yet");
        let mut second = bus.open(&from_start, Arc::new(())).expect("open");
        bus.publish(trades(2));
        assert_eq!(read(&mut second), [0, 1, 2, 3, 4], "opened late, it still reads from the start");
        assert_eq!(bus.held(), 2, "offsets 3 and 4: the first reader has not read them");
        assert_eq!(read(&mut first), [3, 4]);
        assert_eq!((bus.held(), bus.len()), (0, 5));
        drop(first);
        bus.publish(trades(1));
        assert_eq!(read(&mut second), [5]);
        assert_eq!(bus.held(), 0, "a reader that is gone holds nothing back");
    }

    #[test]
    fn a_poll_shares_its_batch_between_the_partitions() {
        let bus = MemoryBus::new(2);
        let symbols: Vec<Symbol> = (0..20).map(|i| Symbol::new(&format!("S{i}")).expect("symbol")).collect();
        bus.publish((0..1000).map(|i| Tick {
            symbol: symbols[i % symbols.len()].clone(),
            ts: i as i64,
            price: Price(1),
            size: Size(1),
            seq: 0,
        }));
        let mut input = bus.open(&BTreeMap::from([(0, 0), (1, 0)]), Arc::new(())).expect("open");
        let (mut out, mut at_end) = (Vec::new(), Vec::new());
        input.poll(&mut out, 10, &mut at_end).expect("poll");
        let per_partition = |p| out.iter().filter(|r| r.partition == p).count();
        assert_eq!((per_partition(0), per_partition(1)), (5, 5), "both partitions move, so their watermark can");
    }
}
