//! The speed job's dataflow: sources → windows (exchanged by symbol) → sink.
//!
//! Timely times are coarse event-time epochs. A source ([`crate::source`])
//! holds its capability at the epoch of its watermark and sends what it
//! reads at that time, so the frontier a window operator sees is the
//! minimum watermark over all sources: once it passes an epoch, every trade
//! read before the watermark got there has arrived, and a window that ended
//! before it is final. Time 0 is the *replay* phase after a restart: trades
//! read again up to the stored offsets, which rebuild the open windows and
//! are not judged for lateness. A window operator applies trades as they
//! arrive and *flushes* (see [`crate::sink`]) as the frontier moves.

use crate::emit::{Alarm, EmitClock};
use crate::sink::Flush;
use crate::source::Published;
use crate::windows::{Phase, Position, Windows, WindowsConfig};
use std::sync::Arc;
use tickflow_shared::codec::Reject;
use tickflow_shared::watermark::{Partition, WatermarkConfig};
use tickflow_shared::{IntervalPlan, Tick};
use timely::dataflow::Stream;
use timely::dataflow::operators::generic::Operator;

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
    /// Where a source's partition stands as its capability moves: the
    /// offsets before `next` went at times up to `from`, every later one
    /// goes at `until` or after.
    Offsets {
        /// The latest time an offset before `next` went at.
        from: u64,
        /// The earliest time a later offset goes at.
        until: u64,
        /// The partition.
        partition: Partition,
        /// The first offset not sent before `until`.
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
    /// Epochs between checkpoints: the times at which offsets can be committed.
    pub checkpoint_every: u64,
    /// When changed provisional bars are flushed to the sink: a phase of the symbols per tick.
    pub emit: EmitClock,
    /// Exit once every partition is read to its end.
    pub stop_at_end: bool,
}

/// Keeps the open bars of the symbols this worker owns. Trades are applied
/// as they arrive, so provisional bars follow the stream; at the start of
/// every emit tick ([`crate::emit`]) the changed bars of that tick's phase
/// are flushed, and the flush says which tick it is (except those of windows that ended by the
/// worker's own watermark: their final bar follows as the frontier catches
/// up). Whenever the frontier moves the watermark advances and the bars it
/// finalised are flushed; at every *checkpoint* time
/// `c` it passes (each `checkpoint_every` epochs) the flush also says which
/// offsets the open windows hold. By then every input before `c` has arrived
/// and been applied (and perhaps some after it): every worker offers the sink
/// a cut at `c`.
///
/// With the source of [`crate::source::read`], on one worker over the
/// in-process bus (the job adds the sink, [`crate::sink::commit`]):
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::atomic::AtomicBool;
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use tickflow_shared::input::Inputs;
/// use tickflow_shared::input::memory::MemoryBus;
/// use tickflow_shared::watermark::WatermarkConfig;
/// use tickflow_shared::{Interval, IntervalPlan, Price, Size, Symbol, Tick};
/// use tickflow_speed::dataflow::{self, Event, Settings};
/// use tickflow_speed::emit::EmitClock;
/// use tickflow_speed::source::{self, Published, SourceStart};
/// use tickflow_speed::windows::WindowsConfig;
/// use timely::dataflow::operators::Inspect;
///
/// let t0 = 1_381_152_600_000_000_000; // 2013-10-07T13:30:00Z
/// let bus = MemoryBus::new(1);
/// let symbol = Symbol::new("AAPL").unwrap();
/// bus.publish((0..3).map(|i| Tick {
///     symbol: symbol.clone(),
///     ts: t0 + i * 30_000_000_000,
///     price: Price::parse("167.41").unwrap(),
///     size: Size::parse("10").unwrap(),
///     seq: 0,
/// }));
/// bus.close();
/// let settings = Settings {
///     topic: "memory".into(),
///     epoch_ns: 100_000_000,
///     watermark: WatermarkConfig::default(),
///     windows: WindowsConfig::default(),
///     plan: IntervalPlan::new(&Interval::parse_list("1m").unwrap()),
///     partitions: vec![0],
///     stored_watermark: None,
///     checkpoint_every: 10,
///     emit: EmitClock::new(Duration::from_millis(250)),
///     stop_at_end: true,
/// };
/// let bars = Arc::new(Mutex::new(BTreeMap::new()));
/// let seen = bars.clone();
/// timely::execute_directly(move |worker| {
///     let input = bus.open(&BTreeMap::from([(0, 0)]), Arc::new(())).unwrap();
///     let starts = BTreeMap::from([(0, (0, 0))]);
///     let start = SourceStart { input, starts, skip: BTreeMap::new(), trades: Default::default() };
///     let published = Arc::new(Published::new(1));
///     let stop = Arc::new(AtomicBool::new(false));
///     worker.dataflow::<u64, _, _>(|scope| {
///         let events = source::read(scope, &settings, start, published.clone(), stop);
///         dataflow::windows(events, &settings, published).inspect(move |event| {
///             if let Event::Flush(flush) = event {
///                 for (bar, _) in &flush.bars {
///                     seen.lock().unwrap().insert(bar.start - t0, bar.trades);
///                 }
///             }
///         });
///     });
/// });
/// // The newest state of each 1m bar: two trades in the first minute, one in the second.
/// assert_eq!(*bars.lock().unwrap(), BTreeMap::from([(0, 2), (60_000_000_000, 1)]));
/// ```
pub fn windows<'s>(
    events: Stream<'s, u64, Vec<Event>>,
    settings: &Settings,
    published: Arc<Published>,
) -> Stream<'s, u64, Vec<Event>> {
    let scope = events.scope();
    let worker = scope.index();
    let settings = settings.clone();
    events.unary_frontier(crate::route::by_symbol(worker), "Windows", move |capability, info| {
        let activator = scope.activator_for(info.address);
        let mut held = Some(capability);
        let mut state = WindowState::new(&settings, worker, published.clone());
        let mut alarm = Alarm::default();
        move |(input, frontier), output| {
            let mut out = Vec::new();
            input.for_each_time(|time, data| {
                for batch in data {
                    apply(&mut state.windows, *time.time(), batch.drain(..), &settings.topic, &mut out);
                }
            });
            let Some(cap) = held.as_mut() else {
                return;
            };
            let reached = frontier.frontier().first().copied();
            // A phase's changed provisional bars go out once per tick, final ones at once.
            let tick = settings.emit.tick();
            let due = (reached.is_none() || tick > state.ticked).then_some(tick);
            state.closing = reached.is_none();
            if reached.is_none_or(|f| f > state.flushed) {
                while let Some(checkpoint) = reached.and_then(|reached| state.next_checkpoint(reached)) {
                    out.push(state.flush(checkpoint, true, None));
                }
                let at = reached.unwrap_or(*cap.time()).max(*cap.time());
                out.push(state.flush(at, false, due));
                cap.downgrade(&at);
            } else if due.is_some() {
                out.push(state.flush(*cap.time(), false, due));
            }
            alarm.set(&activator, settings.emit.until_next());
            if !out.is_empty() {
                output.session(&*cap).give_container(&mut out);
            }
            if reached.is_none() {
                held = None;
            }
        }
    })
}

/// At most this many checkpoints are flushed for one move of the frontier.
const CATCH_UP_CHECKPOINTS: u64 = 1024;

/// One worker's windows and where its flushes stand.
struct WindowState {
    windows: Windows,
    /// The watermarks of the sources: this worker's own says which windows
    /// are complete as far as its partitions go.
    published: Arc<Published>,
    settings: Settings,
    worker: usize,
    /// The last time flushed.
    flushed: u64,
    /// The last checkpoint flushed, if any.
    checkpointed: Option<u64>,
    /// The last emit tick whose phase's provisional bars were flushed.
    ticked: u64,
    /// The input ended: every changed bar goes out.
    closing: bool,
}

impl WindowState {
    fn new(settings: &Settings, worker: usize, published: Arc<Published>) -> Self {
        let mut windows = Windows::new(&settings.plan, settings.windows);
        if let Some(stored) = settings.stored_watermark {
            windows.advance(stored, |_| {});
        }
        Self {
            windows,
            published,
            settings: settings.clone(),
            worker,
            flushed: 0,
            checkpointed: None,
            ticked: 0,
            closing: false,
        }
    }

    /// The next checkpoint to flush now that the frontier reached
    /// `reached`: each multiple of `checkpoint_every` after the last one
    /// flushed, up to `reached`, but only the latest
    /// [`CATCH_UP_CHECKPOINTS`] of them when the frontier jumps further.
    /// Workers see the frontier move in different steps; flushing every
    /// multiple they pass (bounded, so a jump of hours stays cheap) gives
    /// them checkpoints in common, where the sink can cut.
    fn next_checkpoint(&self, reached: u64) -> Option<u64> {
        let every = self.settings.checkpoint_every.max(1);
        let latest = reached / every;
        let after_last = self.checkpointed.map_or(1, |last| last / every + 1);
        let next = after_last.max(latest.saturating_sub(CATCH_UP_CHECKPOINTS - 1)).max(1);
        (next <= latest).then_some(next * every)
    }

    /// Advances to the watermark of time `at` and says what became final
    /// (and, at the emit `tick`, every other bar of its phase that changed); a checkpoint
    /// also says which offsets the open windows hold.
    fn flush(&mut self, at: u64, checkpoint: bool, tick: Option<u64>) -> Event {
        let mut bars = Vec::new();
        let watermark = if at >= 1 && at != u64::MAX {
            Some((at as i64 - 1).saturating_mul(self.settings.epoch_ns))
        } else {
            self.windows.watermark()
        };
        let period = self.windows.period();
        let mut repeats = false;
        if let Some(watermark) = watermark {
            let emit = |u: crate::windows::BarUpdate| bars.push((u.bar, u.is_final));
            // A window that ended by this worker's own watermark waits for
            // its final bar: while catching up, the frontier follows the
            // slowest worker, and a provisional write would be overwritten
            // in the same commit.
            let complete = if self.closing { watermark } else { self.published.of(self.worker).unwrap_or(watermark) };
            let report = if let Some(tick) = tick {
                let phase = if self.closing { Phase::ALL } else { self.settings.emit.phase(tick) };
                self.windows.advance_open_after(watermark, complete, phase, emit)
            } else {
                self.windows.advance_finals(watermark, emit)
            };
            repeats = report.repeats > 0;
        }
        let held = if checkpoint {
            self.checkpointed = Some(at);
            let partitions = self.settings.partitions.iter();
            partitions.filter_map(|&p| self.windows.min_open_position(p).map(|offset| (p, offset))).collect()
        } else {
            Vec::new()
        };
        self.flushed = self.flushed.max(at);
        if let Some(tick) = tick {
            self.ticked = self.ticked.max(tick);
        }
        Event::Flush(Flush {
            worker: self.worker,
            at,
            checkpoint,
            tick,
            watermark: self.windows.watermark(),
            bars,
            period,
            repeats,
            held,
        })
    }
}

/// Applies the events of one timely time: trades into the windows (replayed
/// at time 0), everything else passed on.
fn apply(windows: &mut Windows, time: u64, events: impl Iterator<Item = Event>, topic: &str, out: &mut Vec<Event>) {
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
