//! The speed job's dataflow: sources → windows (exchanged by symbol) → sink.
//!
//! Timely times are coarse event-time epochs: a source holds its capability
//! at `1 + watermark / epoch`, so the frontier a window operator sees is the
//! minimum watermark over all sources. Time 0 is the *replay* phase after a
//! restart: trades read again up to the stored offsets, which rebuild the
//! open windows and are not judged for lateness. A window operator applies
//! its input in time order once the frontier has passed it and then
//! *flushes* (see [`crate::sink`]).

use crate::input::{Input, Payload, Record};
use crate::sink::Flush;
use crate::windows::{Position, Windows, WindowsConfig};
use rustc_hash::FxHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tickflow_shared::codec::Reject;
use tickflow_shared::watermark::{Partition, WatermarkConfig, Watermarks};
use tickflow_shared::{IntervalPlan, Tick};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};

/// What flows from sources through window operators to the sink.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// A trade and where it was read.
    Trade {
        /// The trade.
        tick: Tick,
        /// Its partition.
        partition: Partition,
        /// Its offset.
        offset: u64,
    },
    /// A source has sent everything of `partition` before `next` at times up to `at`.
    Offsets {
        /// The timely time of the report.
        at: u64,
        /// The partition.
        partition: Partition,
        /// The next offset to read.
        next: u64,
    },
    /// A message that was not a trade.
    Reject(Reject),
    /// A trade refused as later than the allowed lateness.
    Late {
        /// The trade.
        tick: Tick,
        /// Its partition.
        partition: Partition,
        /// Its offset.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// A window operator's state (to the sink).
    Flush(Flush),
}

/// How sources and windows are set up; the same on every worker.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The topic name, for reject and late-trade sources.
    pub topic: String,
    /// Event time per timely epoch, in ns.
    pub epoch_ns: i64,
    /// Watermark parameters.
    pub watermark: WatermarkConfig,
    /// Lateness and intervals.
    pub windows: WindowsConfig,
    /// The intervals.
    pub plan: IntervalPlan,
    /// Every partition of the topic.
    pub partitions: Vec<Partition>,
    /// The watermark stored by the last commit, if any.
    pub stored_watermark: Option<i64>,
    /// Exit once every partition is read to its end.
    pub stop_at_end: bool,
}

/// What one worker's source starts from.
pub struct SourceStart {
    /// The reader of its partitions.
    pub input: Box<dyn Input>,
    /// `partition → (replay_from, next)`.
    pub starts: BTreeMap<Partition, (u64, u64)>,
    /// Offsets per partition refused as late before, skipped in replay.
    pub skip: BTreeMap<Partition, Vec<u64>>,
}

/// Watermarks the workers of this process publish, so that a worker whose
/// partitions are all idle can follow the others instead of holding them back.
pub struct Published(Vec<AtomicI64>);

impl Published {
    /// Nothing published by any of `workers`.
    pub fn new(workers: usize) -> Self {
        Self((0..workers).map(|_| AtomicI64::new(i64::MIN)).collect())
    }

    fn set(&self, worker: usize, watermark: Option<i64>) {
        if let Some(slot) = self.0.get(worker) {
            slot.store(watermark.unwrap_or(i64::MIN), Ordering::Relaxed);
        }
    }

    fn others(&self, worker: usize) -> Option<i64> {
        let values = self.0.iter().enumerate().filter(|(i, _)| *i != worker);
        values.map(|(_, v)| v.load(Ordering::Relaxed)).filter(|v| *v != i64::MIN).min()
    }
}

/// The timely time of a watermark.
pub fn epoch_of(watermark: i64, epoch_ns: i64) -> u64 {
    1 + (watermark.max(0) / epoch_ns.max(1)) as u64
}

/// The source of one worker: reads, replays, then emits live trades at the
/// epoch of its watermark.
pub fn read<'s>(
    scope: Scope<'s, u64>,
    settings: &Settings,
    start: SourceStart,
    published: Arc<Published>,
    stop: Arc<AtomicBool>,
) -> Stream<'s, u64, Vec<Event>> {
    let worker = scope.index();
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
            let (mut events, done) = reader.step(*cap.time());
            events.extend(reader.reports(*cap.time()));
            output.session(&*cap).give_container(&mut events);
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
            published.set(worker, if active { local } else { None });
            let followed = if active { local } else { published.others(worker).max(local) };
            let live = followed.map_or(1, |w| epoch_of(w, settings.epoch_ns)).max(*cap.time()).max(1);
            if live > *cap.time() {
                cap.downgrade(&live);
                if !reader.held_back.is_empty() {
                    output.session(&*cap).give_container(&mut reader.held_back);
                    reader.held_back.clear();
                    reader.released();
                }
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
    next: BTreeMap<Partition, u64>,
    /// Live events read while other partitions of this worker still replay,
    /// and the offsets they take each partition to.
    held_back: Vec<Event>,
    held_next: Vec<(Partition, u64)>,
    watermarks: Watermarks,
    origin: Instant,
    records: Vec<Record>,
    at_end: Vec<Partition>,
    ended: BTreeMap<Partition, bool>,
    busy: bool,
}

const POLL_BATCH: usize = 16_384;

impl Reader {
    fn new(start: SourceStart, settings: &Settings, worker: usize) -> Self {
        let owned: Vec<Partition> = start.starts.keys().copied().collect();
        let replay_until = start.starts.iter().filter(|(_, (from, next))| from < next).map(|(p, (_, n))| (*p, *n));
        tracing::debug!(worker, ?owned, "Speed source starts.");
        Self {
            input: start.input,
            topic: settings.topic.clone(),
            replay_until: replay_until.collect(),
            skip: start.skip,
            next: start.starts.iter().map(|(p, (from, _))| (*p, *from)).collect(),
            held_back: Vec::new(),
            held_next: Vec::new(),
            watermarks: Watermarks::new(owned.iter().copied(), settings.watermark, Duration::ZERO),
            origin: Instant::now(),
            records: Vec::new(),
            at_end: Vec::new(),
            ended: owned.iter().map(|p| (*p, false)).collect(),
            owned,
            busy: false,
        }
    }

    fn replaying(&self) -> bool {
        !self.replay_until.is_empty()
    }

    /// Reads a batch; returns the events to send at `time` and whether every
    /// partition is read to its end.
    fn step(&mut self, time: u64) -> (Vec<Event>, bool) {
        self.records.clear();
        self.at_end.clear();
        let polled = match self.input.poll(&mut self.records, POLL_BATCH, &mut self.at_end) {
            Ok(polled) => polled.records,
            Err(error) => {
                tracing::warn!(%error, "Reading the input failed; retrying.");
                0
            }
        };
        self.busy = polled == POLL_BATCH;
        let now = self.origin.elapsed();
        let mut events = Vec::with_capacity(self.records.len());
        for record in std::mem::take(&mut self.records) {
            let Record { partition, offset, payload } = record;
            self.ended.insert(partition, false);
            let replay = self.replay_until.get(&partition).is_some_and(|until| offset < *until);
            if replay && self.skip.get(&partition).is_some_and(|s| s.binary_search(&offset).is_ok()) {
                self.next.insert(partition, offset + 1);
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
                self.next.insert(partition, offset + 1);
                events.push(event);
            } else {
                self.finish_replay(partition);
                self.held_back.push(event);
                self.held_next.push((partition, offset + 1));
            }
            if self.replay_until.get(&partition).is_some_and(|until| offset + 1 >= *until) {
                self.finish_replay(partition);
            }
        }
        for partition in std::mem::take(&mut self.at_end) {
            self.ended.insert(partition, true);
            self.finish_replay(partition);
        }
        if time == 0 && !self.replaying() && !self.held_back.is_empty() {
            self.input.resume();
        }
        (events, self.held_back.is_empty() && self.ended.values().all(|e| *e))
    }

    /// The held-back events were sent.
    fn released(&mut self) {
        self.next.extend(self.held_next.drain(..));
    }

    fn finish_replay(&mut self, partition: Partition) {
        if self.replay_until.remove(&partition).is_some() && self.replaying() {
            self.input.pause(partition);
        }
    }

    fn reports(&self, at: u64) -> Vec<Event> {
        self.next.iter().map(|(&partition, &next)| Event::Offsets { at, partition, next }).collect()
    }
}

fn route(event: &Event) -> u64 {
    match event {
        Event::Trade { tick, .. } => {
            let mut hasher = FxHasher::default();
            tick.symbol.hash(&mut hasher);
            hasher.finish()
        }
        _ => 0,
    }
}

/// Keeps the open bars of the symbols this worker owns and flushes them
/// whenever the frontier moves.
pub fn windows<'s>(events: Stream<'s, u64, Vec<Event>>, settings: &Settings) -> Stream<'s, u64, Vec<Event>> {
    let worker = events.scope().index();
    let settings = settings.clone();
    events.unary_frontier(Exchange::new(route), "Windows", move |capability, _info| {
        let mut held = Some(capability);
        let mut stash: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
        let mut windows = Windows::new(&settings.plan, settings.windows);
        let mut flushed = 0u64;
        let mut replayed = false;
        move |(input, frontier), output| {
            input.for_each_time(|time, data| {
                let slot = stash.entry(*time.time()).or_default();
                for batch in data {
                    slot.append(batch);
                }
            });
            let Some(cap) = held.as_mut() else {
                return;
            };
            let reached = frontier.frontier().first().copied();
            if reached.is_some_and(|f| f <= flushed) {
                return;
            }
            let until = reached.unwrap_or(u64::MAX);
            let mut out = Vec::new();
            while let Some(entry) = stash.first_entry() {
                if *entry.key() >= until {
                    break;
                }
                let (time, events) = entry.remove_entry();
                apply(&mut windows, time, events, &settings.topic, &mut out);
            }
            let mut bars = Vec::new();
            if until >= 1 && !replayed {
                replayed = true;
                if let Some(stored) = settings.stored_watermark {
                    windows.advance(stored, |u| bars.push((u.bar, u.is_final)));
                }
            }
            let watermark = match reached {
                Some(f) if f >= 1 => Some((f as i64 - 1) * settings.epoch_ns),
                _ => windows.watermark(),
            };
            if let Some(watermark) = watermark {
                windows.advance(watermark, |u| bars.push((u.bar, u.is_final)));
            }
            let held_positions = settings
                .partitions
                .iter()
                .filter_map(|&p| windows.min_open_position(p).map(|offset| (p, offset)))
                .collect();
            let at = reached.unwrap_or(*cap.time()).max(*cap.time());
            out.push(Event::Flush(Flush { worker, at, watermark: windows.watermark(), bars, held: held_positions }));
            cap.downgrade(&at);
            output.session(&*cap).give_container(&mut out);
            flushed = at;
            if reached.is_none() {
                held = None;
            }
        }
    })
}

/// Applies the events of one timely time: trades into the windows (replayed
/// at time 0), everything else passed on.
fn apply(windows: &mut Windows, time: u64, events: Vec<Event>, topic: &str, out: &mut Vec<Event>) {
    for event in events {
        match event {
            Event::Trade { tick, partition, offset } => {
                let id = windows.intern(&tick.symbol);
                let at = Position { partition, offset };
                let result = if time == 0 {
                    windows.replay(id, tick.ts, tick.seq, tick.price, tick.size, at)
                } else {
                    windows.push(id, tick.ts, tick.seq, tick.price, tick.size, at)
                };
                if let Err(late) = result {
                    let reason = late.reason.to_string();
                    tracing::trace!(topic, partition, offset, %reason, "Late trade.");
                    out.push(Event::Late { tick, partition, offset, reason });
                }
            }
            other => out.push(other),
        }
    }
}
