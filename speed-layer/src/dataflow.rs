//! The speed job's dataflow: sources → windows (exchanged by symbol) → sink.
//!
//! Timely times are coarse event-time epochs. A source ([`crate::source`])
//! holds its capability at the epoch of its watermark and sends each live
//! trade at its own epoch, so the frontier a window operator sees is the
//! minimum watermark over all sources, and every trade before it has
//! arrived. Time 0 is the *replay* phase after a restart: trades read again
//! up to the stored offsets, which rebuild the open windows and are not
//! judged for lateness. A window operator applies its input in time order
//! once the frontier has passed it and then *flushes* (see [`crate::sink`]).

use crate::sink::Flush;
use crate::windows::{Position, Windows, WindowsConfig};
use rustc_hash::FxHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use tickflow_shared::codec::Reject;
use tickflow_shared::watermark::{Partition, WatermarkConfig};
use tickflow_shared::{IntervalPlan, Tick};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
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
    /// Epochs between checkpoints: the times at which offsets can be committed.
    pub checkpoint_every: u64,
    /// Exit once every partition is read to its end.
    pub stop_at_end: bool,
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

/// Keeps the open bars of the symbols this worker owns. Whenever the
/// frontier moves it flushes the changed bars; at every *checkpoint* time it
/// passes (each `checkpoint_every` epochs) it also flushes its exact state
/// there, so that every worker offers the sink a cut at the same times.
pub fn windows<'s>(events: Stream<'s, u64, Vec<Event>>, settings: &Settings) -> Stream<'s, u64, Vec<Event>> {
    let worker = events.scope().index();
    let settings = settings.clone();
    events.unary_frontier(Exchange::new(route), "Windows", move |capability, _info| {
        let mut held = Some(capability);
        let mut stash: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
        let mut state = WindowState::new(&settings, worker);
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
            if reached.is_some_and(|f| f <= state.flushed) {
                return;
            }
            let mut out = Vec::new();
            if let Some(checkpoint) = reached.and_then(|reached| state.checkpoint_before(reached)) {
                state.apply_until(&mut stash, checkpoint, &mut out);
                out.push(state.flush(checkpoint, true));
            }
            state.apply_until(&mut stash, reached.unwrap_or(u64::MAX), &mut out);
            let at = reached.unwrap_or(*cap.time()).max(*cap.time());
            out.push(state.flush(at, false));
            cap.downgrade(&at);
            output.session(&*cap).give_container(&mut out);
            if reached.is_none() {
                held = None;
            }
        }
    })
}

/// One worker's windows and where its flushes stand.
struct WindowState {
    windows: Windows,
    settings: Settings,
    worker: usize,
    /// The last time flushed.
    flushed: u64,
    /// The last checkpoint flushed; none before the first live frontier.
    checkpointed: Option<u64>,
}

impl WindowState {
    fn new(settings: &Settings, worker: usize) -> Self {
        let mut windows = Windows::new(&settings.plan, settings.windows);
        if let Some(stored) = settings.stored_watermark {
            windows.advance(stored, |_| {});
        }
        Self { windows, settings: settings.clone(), worker, flushed: 0, checkpointed: None }
    }

    /// The checkpoint to flush now that the frontier reached `reached`: the
    /// latest multiple of `checkpoint_every` at or before it, if newer than
    /// the last one flushed. A frontier that jumps over several flushes only
    /// the latest; the sink commits at a checkpoint every worker flushed.
    /// Checkpoints start after the first live frontier a worker sees.
    fn checkpoint_before(&mut self, reached: u64) -> Option<u64> {
        let every = self.settings.checkpoint_every.max(1);
        let latest = reached / every * every;
        match self.checkpointed {
            None if reached >= 1 => {
                self.checkpointed = Some(latest);
                None
            }
            Some(last) if latest > last => Some(latest),
            _ => None,
        }
    }

    /// Applies the stashed input of every time before `until`, in time order.
    fn apply_until(&mut self, stash: &mut BTreeMap<u64, Vec<Event>>, until: u64, out: &mut Vec<Event>) {
        while let Some(entry) = stash.first_entry() {
            if *entry.key() >= until {
                break;
            }
            let (time, events) = entry.remove_entry();
            apply(&mut self.windows, time, events, &self.settings.topic, out);
        }
    }

    /// Advances to the watermark of time `at` and says what changed; a
    /// checkpoint also says which offsets the open windows hold.
    fn flush(&mut self, at: u64, checkpoint: bool) -> Event {
        let mut bars = Vec::new();
        if at >= 1 && at != u64::MAX {
            let watermark = (at as i64 - 1).saturating_mul(self.settings.epoch_ns);
            self.windows.advance(watermark, |u| bars.push((u.bar, u.is_final)));
        } else if let Some(watermark) = self.windows.watermark() {
            self.windows.advance(watermark, |u| bars.push((u.bar, u.is_final)));
        }
        let held = if checkpoint {
            self.checkpointed = Some(at);
            let partitions = self.settings.partitions.iter();
            partitions.filter_map(|&p| self.windows.min_open_position(p).map(|offset| (p, offset))).collect()
        } else {
            Vec::new()
        };
        self.flushed = self.flushed.max(at);
        Event::Flush(Flush { worker: self.worker, at, checkpoint, watermark: self.windows.watermark(), bars, held })
    }
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
