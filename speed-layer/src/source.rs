//! The source operator of one worker: reads its partitions, replays what a
//! restart must rebuild, then sends live trades.
//!
//! The source holds its capability at the epoch of its watermark (the
//! minimum over its partitions, see `tickflow_shared::watermark`) and sends
//! what it reads at that time, so the frontier downstream is the minimum
//! watermark of all workers, and a partition's times rise with its offsets.
//! Before the capability moves, an offset report says where each partition
//! stands; it names exactly the prefix of the partition sent before the new
//! time, so a restart replays precisely what a checkpoint held.

use crate::align::Alignment;
use crate::dataflow::{Event, Settings};
use prometheus_client::metrics::counter::Counter;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tickflow_shared::codec::Reject;
use tickflow_shared::input::{Input, Payload, Polled, Record};
use tickflow_shared::watermark::{Partition, Watermarks};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};

/// What one worker's source starts from.
pub struct SourceStart {
    /// The reader of its partitions.
    pub input: Box<dyn Input>,
    /// `partition → (replay_from, next)`.
    pub starts: BTreeMap<Partition, (u64, u64)>,
    /// Offsets per partition refused as late before, skipped in replay.
    pub skip: BTreeMap<Partition, Vec<u64>>,
    /// Counts the trades read.
    pub trades: Counter,
}

/// Watermarks the workers of this process publish, so that a worker whose
/// partitions are all idle can follow the others instead of holding them
/// back. A worker publishes the watermark its capability follows: its own
/// while a partition of it is active, else the lowest of the others' (or its
/// own, if higher), so idle workers converge on the active ones' and, when
/// every partition is idle, on the highest watermark any worker reached.
pub struct Published(Vec<AtomicI64>);

impl Published {
    /// Nothing published by any of the `workers` of this process.
    pub fn new(workers: usize) -> Self {
        Self((0..workers).map(|_| AtomicI64::new(i64::MIN)).collect())
    }

    fn set(&self, worker: usize, watermark: Option<i64>) {
        if let Some(slot) = self.0.get(worker) {
            slot.store(watermark.unwrap_or(i64::MIN), Ordering::Relaxed);
        }
    }

    /// The watermark the source of timely worker `index` published, if any
    /// (numbered within this process, as the sources number themselves).
    pub fn of(&self, index: usize) -> Option<i64> {
        let slot = self.0.get(index % self.0.len().max(1))?;
        Some(slot.load(Ordering::Relaxed)).filter(|v| *v != i64::MIN)
    }

    fn others(&self, worker: usize) -> Option<i64> {
        let values = self.0.iter().enumerate().filter(|(i, _)| *i != worker);
        values.map(|(_, v)| v.load(Ordering::Relaxed)).filter(|v| *v != i64::MIN).min()
    }
}

/// The timely time of an event time: its epoch, from 1 (0 is the replay).
pub fn epoch_of(ts: i64, epoch_ns: i64) -> u64 {
    1 + (ts.max(0) / epoch_ns.max(1)) as u64
}

/// The source of one worker; see the [module docs](self).
pub fn read<'s>(
    scope: Scope<'s, u64>,
    settings: &Settings,
    start: SourceStart,
    published: Arc<Published>,
    stop: Arc<AtomicBool>,
) -> Stream<'s, u64, Vec<Event>> {
    // Timely numbers a cluster's workers process by process: this one's place among its process's.
    let worker = scope.index() % published.0.len().max(1);
    let settings = settings.clone();
    source(scope, "ReadPartitions", move |capability, info| {
        let activator = scope.activator_for(info.address);
        let mut reader = Reader::new(start, &settings, worker);
        let mut capability = if reader.owned.is_empty() { None } else { Some(capability) };
        let origin = Instant::now();
        move |output| {
            let Some(cap) = capability.as_mut() else {
                return;
            };
            let now = origin.elapsed();
            let done = reader.step(*cap.time());
            reader.send(cap, |cap, events| output.session(cap).give_container(events));
            if stop.load(Ordering::Relaxed) || (settings.stop_at_end && done) {
                capability = None;
                return;
            }
            if reader.replaying() {
                activator.activate();
                return;
            }
            let local = reader.watermarks.watermark(now);
            let active = reader.watermarks.partitions(now).any(|p| !p.idle);
            let followed = if active { local } else { published.others(worker).max(local) };
            published.set(worker, followed);
            let live = followed.map_or(1, |w| epoch_of(w, settings.epoch_ns)).max(*cap.time()).max(1);
            if live > *cap.time() {
                // Trades read during replay go before the capability moves:
                // they were read before the watermark got to `live`.
                let (now, release) = (*cap.time(), (*cap.time()).max(1));
                let sent = if release < live && reader.release(release) { release } else { now };
                reader.report_before(now, sent, live);
                reader.send(cap, |cap, events| output.session(cap).give_container(events));
                cap.downgrade(&live);
                let _ = reader.release(live);
                reader.send(cap, |cap, events| output.session(cap).give_container(events));
            }
            if reader.busy {
                activator.activate();
            } else {
                activator.activate_after(Duration::from_millis(2));
            }
        }
    })
}

/// A worker's reading state.
struct Reader {
    input: Box<dyn Input>,
    owned: Vec<Partition>,
    topic: String,
    /// Partitions still replaying, with the offset where replay ends.
    replay_until: BTreeMap<Partition, u64>,
    skip: BTreeMap<Partition, Vec<u64>>,
    /// Per partition, the next offset once what was read so far is sent.
    next: BTreeMap<Partition, u64>,
    /// Per partition, one past the highest offset read.
    read: BTreeMap<Partition, u64>,
    /// Events to send, by timely time.
    out: BTreeMap<u64, Vec<Event>>,
    /// Live events read while other partitions of this worker still replay,
    /// with their partition and the offset after them.
    held_back: Vec<(Partition, u64, Event)>,
    watermarks: Watermarks,
    origin: Instant,
    records: Vec<Record>,
    at_end: Vec<Partition>,
    ended: BTreeMap<Partition, bool>,
    busy: bool,
    trades: Counter,
    align: Option<Alignment>,
}

/// A run of records of one partition in a batch, and where they leave it.
struct Run {
    partition: Partition,
    /// One past the highest offset read.
    read: u64,
    /// The next offset once the run's events are sent, if one was queued or skipped.
    next: Option<u64>,
    /// Where the partition's replay ends, while it replays.
    replay_until: Option<u64>,
}

const POLL_BATCH: usize = 16_384;

impl Reader {
    fn new(start: SourceStart, settings: &Settings, worker: usize) -> Self {
        let owned: Vec<Partition> = start.starts.keys().copied().collect();
        let replay_until = start.starts.iter().filter(|(_, (from, next))| from < next).map(|(p, (_, n))| (*p, *n));
        tracing::debug!(worker, ?owned, "Speed source starts.");
        let mut watermarks = Watermarks::new(owned.iter().copied(), settings.watermark, Duration::ZERO);
        for &partition in &owned {
            // Not known to be caught up until its end is reported: a slow
            // first fetch must not make a partition idle.
            watermarks.set_backlog(partition, true, Duration::ZERO);
        }
        let align = start.input.alignment().map(Alignment::new);
        Self {
            input: start.input,
            topic: settings.topic.clone(),
            replay_until: replay_until.collect(),
            skip: start.skip,
            next: start.starts.iter().map(|(p, (from, _))| (*p, *from)).collect(),
            read: start.starts.iter().map(|(p, (from, _))| (*p, *from)).collect(),
            out: BTreeMap::new(),
            held_back: Vec::new(),
            watermarks,
            origin: Instant::now(),
            records: Vec::new(),
            at_end: Vec::new(),
            ended: owned.iter().map(|p| (*p, false)).collect(),
            owned,
            busy: false,
            trades: start.trades,
            align,
        }
    }

    fn replaying(&self) -> bool {
        !self.replay_until.is_empty()
    }

    /// Reads a batch at capability time `time` and queues its events; says
    /// whether every partition is read to its end.
    fn step(&mut self, time: u64) -> bool {
        self.records.clear();
        self.at_end.clear();
        let polled = match self.input.poll(&mut self.records, POLL_BATCH, &mut self.at_end) {
            Ok(polled) => polled,
            Err(error) => {
                tracing::warn!(%error, "Reading the input failed; retrying.");
                Polled { records: 0, unavailable: true }
            }
        };
        self.busy = polled.records == POLL_BATCH;
        self.trades.inc_by(polled.records as u64);
        let now = self.origin.elapsed();
        if polled.unavailable {
            self.watermarks.unavailable(now);
        }
        // Records come in runs of one partition: its offsets are looked up
        // and stored once per run, and this step's events go into one vector.
        let mut records = std::mem::take(&mut self.records);
        let mut batch = Vec::with_capacity(records.len());
        let mut run: Option<Run> = None;
        for Record { partition, offset, payload } in records.drain(..) {
            let run = match run.as_mut() {
                Some(run) if run.partition == partition => run,
                _ => {
                    if let Some(done) = run.take() {
                        self.end_run(done);
                    }
                    run.insert(self.start_run(partition, now))
                }
            };
            if offset < run.read {
                // Delivered again (a client may fetch a range twice around a
                // pause): each offset counts once.
                continue;
            }
            run.read = offset + 1;
            let replay = run.replay_until.is_some_and(|until| offset < until);
            if replay && self.skip.get(&partition).is_some_and(|s| s.binary_search(&offset).is_ok()) {
                run.next = Some(offset + 1);
                continue;
            }
            let event = match payload {
                Payload::Trade(tick) => {
                    self.watermarks.observe(partition, tick.ts, now);
                    Event::Trade { tick, partition, offset }
                }
                Payload::Invalid { reason, raw } => {
                    Event::Reject(Reject::new(&format!("{}/{partition}", self.topic), offset, reason, &raw))
                }
            };
            if replay || time > 0 {
                run.next = Some(offset + 1);
                batch.push(event);
            } else {
                self.held_back.push((partition, offset + 1, event));
            }
            // Also ends a replay whose last offsets were skipped: a record
            // outside the replay has `offset >= until`.
            if run.replay_until.is_some_and(|until| offset + 1 >= until) {
                self.finish_replay(partition);
                run.replay_until = None;
            }
        }
        if let Some(done) = run {
            self.end_run(done);
        }
        self.records = records;
        if !batch.is_empty() {
            self.out.entry(time).or_default().append(&mut batch);
        }
        for partition in std::mem::take(&mut self.at_end) {
            if self.ended.insert(partition, true) == Some(false) {
                tracing::debug!(partition, next = self.next.get(&partition), "Partition read to its end.");
            }
            self.watermarks.set_backlog(partition, false, now);
            self.finish_replay(partition);
        }
        if let Some(align) = self.align.as_mut().filter(|_| self.replay_until.is_empty()) {
            let behind = self.owned.iter().filter(|p| self.ended.get(p) == Some(&false));
            let newest = |&p| Some((p, self.watermarks.partition(p, now)?.max_ts?));
            let backlogged: Vec<(Partition, i64)> = behind.filter_map(newest).collect();
            align.update(&backlogged, self.input.as_mut());
        }
        self.held_back.is_empty() && self.ended.values().all(|e| *e) && self.input.complete()
    }

    /// Starts a run of records of `partition` read at `now`: until the end
    /// is reported, the partition has a backlog (see tickflow_shared::watermark).
    fn start_run(&mut self, partition: Partition, now: Duration) -> Run {
        self.ended.insert(partition, false);
        self.watermarks.set_backlog(partition, true, now);
        Run {
            partition,
            read: self.read.get(&partition).copied().unwrap_or(0),
            next: None,
            replay_until: self.replay_until.get(&partition).copied(),
        }
    }

    /// Stores where a run of records left its partition.
    fn end_run(&mut self, run: Run) {
        self.read.insert(run.partition, run.read);
        if let Some(next) = run.next {
            self.next.insert(run.partition, next);
        }
    }

    /// Queues an event read at capability time `now`, to be sent at `now`.
    fn queue(&mut self, now: u64, partition: Partition, next: u64, event: Event) {
        self.next.insert(partition, next);
        self.out.entry(now).or_default().push(event);
    }

    /// Queues the events held back during replay as live ones, at `at`;
    /// says whether there were any.
    fn release(&mut self, at: u64) -> bool {
        let held_back = std::mem::take(&mut self.held_back);
        let any = !held_back.is_empty();
        for (partition, next, event) in held_back {
            self.queue(at, partition, next, event);
        }
        any
    }

    /// Queues, at `now` and before the capability moves to `live`, where
    /// every partition stands: the offsets before `next` went at times up to
    /// `sent` (the capability, or the time the held-back events went at),
    /// every later one goes at `live` or after. For a checkpoint `c` with
    /// `sent < c ≤ live` its `next` is exactly the prefix of the partition
    /// every window had received by `c` (the sink's cut).
    fn report_before(&mut self, now: u64, sent: u64, live: u64) {
        let reports =
            self.next.iter().map(|(&partition, &next)| Event::Offsets { from: sent, until: live, partition, next });
        let reports: Vec<Event> = reports.collect();
        self.out.entry(now).or_default().extend(reports);
    }

    /// Sends the queued events, each time under a capability for it.
    fn send(&mut self, cap: &Capability<u64>, mut give: impl FnMut(&Capability<u64>, &mut Vec<Event>)) {
        for (time, mut events) in std::mem::take(&mut self.out) {
            if time == *cap.time() {
                give(cap, &mut events);
            } else {
                give(&cap.delayed(&time), &mut events);
            }
        }
    }

    /// A partition read up to where its replay ends waits, paused (with a
    /// backlog: it must not turn idle), until every partition has; the last
    /// one to finish resumes them all.
    fn finish_replay(&mut self, partition: Partition) {
        if self.replay_until.remove(&partition).is_none() {
            return;
        }
        if self.replaying() {
            self.input.pause(partition);
            self.watermarks.set_backlog(partition, true, self.origin.elapsed());
        } else {
            self.owned.iter().for_each(|&p| self.input.resume(p));
        }
    }
}
