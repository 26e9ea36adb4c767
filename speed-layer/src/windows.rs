//! Event-time windows: the open bars of every (symbol, interval, window start).
//!
//! # Two speeds
//!
//! [`Windows::push`] is the per-trade path and does no hashing: each (symbol,
//! root interval) has one *current delta*, the trades since the last flush in
//! the window it last saw. A trade in that window is a range check and a
//! [`BarAcc::push`]; a trade in another window (disorder across a boundary,
//! time moving on) parks the old delta in a list and starts a new one.
//! [`Windows::advance`] is the per-flush path: it folds the deltas into the
//! open bars of the root intervals and merges them upwards, one delta per
//! (symbol, window) of each coarser interval (coarser intervals are merged
//! from finer deltas, never recomputed from trades: [`IntervalPlan`]), emits
//! what changed and evicts what expired. Its cost is per (symbol, window)
//! touched, not per trade.
//!
//! # Lateness: one rule for every interval
//!
//! With watermark `W` (from [`advance`](Windows::advance)) and allowed
//! lateness `L`, a trade whose window of the *finest* interval containing it
//! ended at `end` is
//!
//! - applied normally if `W < end`: its bars are still provisional;
//! - applied if `end ≤ W < end + L`: that bar is final already, so it and
//!   every coarser bar containing it are emitted again at the next advance
//!   (final ones as final), upserting what the sink wrote before;
//! - refused with [`Late`] if `end + L ≤ W`: it is in no bar; the caller
//!   sends it to the late-trade table with [`Late`]'s reason.
//!
//! A bar is evicted once `its end + L ≤ W`. Because a coarser window ends no
//! earlier than the finer windows it contains, every window a trade touches
//! is still open when the trade is accepted, and refused trades touch none:
//! each coarser bar is at all times exactly the merge of its finer bars, as
//! in the batch layer.
//!
//! # Restart recovery
//!
//! The open bars live only in memory. To rebuild them after a crash, every
//! trade pushed carries its source [`Position`], and [`min_open_position`]
//! tells, per partition, the lowest offset of a trade still *held* by an open
//! (not evicted) window of any interval. The contract:
//!
//! 1. **Commit.** After an `advance` whose updates the sink writes, store in
//!    the same transaction as those bars and the refused trades (the late
//!    table, with their positions), per partition: `next` = one past the last
//!    offset pushed, and `replay_from` = [`min_open_position`], or `next` if
//!    that is `None`; and the [`watermark`](Windows::watermark).
//! 2. **Restart.** Build a new `Windows` with the same plan and lateness and
//!    call `advance(stored_watermark, |_| {})` (it emits nothing: there are
//!    no bars yet). Seek each partition to `replay_from`.
//! 3. **Replay** the offsets `replay_from..next` of every partition: skip
//!    the trades the late table holds (refused before the crash), give the
//!    others to [`replay`](Windows::replay), and call
//!    `advance(stored_watermark, |_| {})` when memory calls for it and once
//!    at the end, discarding what it emits (partial bars; the store has them
//!    whole). Push no trade at or past `next` of a partition until every
//!    partition has reached its `next`.
//! 4. **Live.** From then on as usual: the open bars equal those at the
//!    commit, trade for trade, so the next updates overwrite stored bars with
//!    their correct successors; nothing is counted twice or lost.
//!
//! Why it is exact: every trade in an open window has an offset `≥
//! replay_from`, so replay sees all of them. A trade accepted before the
//! crash may since have left its finer windows (evicted) while its coarser
//! ones are open; [`replay`](Windows::replay) puts it into whichever of its
//! windows are open at the stored watermark, which is where it was at the
//! commit. Whether a trade was refused cannot be decided again on replay
//! (the watermark it met is gone), hence the late table. The cost is the
//! replay length: trades are held per window of the least common multiple
//! of the intervals, so with a `1d` interval a restart re-reads the current
//! UTC day (plus the lateness).
//!
//! [`min_open_position`]: Windows::min_open_position

mod advance;
mod held;
mod late;
mod level;
mod symbols;
#[cfg(test)]
mod tests;

pub use held::Position;
pub use late::{Late, LateReason};
pub use level::{AdvanceReport, Phase};
pub use symbols::{SymbolId, SymbolTable};

use held::Held;
use late::in_range;
use level::{Delta, Level};
use rustc_hash::FxHashMap;
use std::time::Duration;
use tickflow_shared::bar::Bar;
use tickflow_shared::tick::InvalidTick;
use tickflow_shared::{BarAcc, Interval, IntervalPlan, Price, Size, Symbol, Tick};

/// How windows close; built into [`Windows`] by [`Windows::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowsConfig {
    /// How long after the watermark passed a bar's end trades for it are still
    /// applied (and the bar emitted again); later ones are refused as late.
    /// Default 1 min.
    pub allowed_lateness: Duration,
}

impl WindowsConfig {
    /// The default `allowed_lateness`: 1 min.
    pub const fn default_allowed_lateness() -> Duration {
        Duration::from_secs(60)
    }
}

impl Default for WindowsConfig {
    fn default() -> Self {
        Self { allowed_lateness: Self::default_allowed_lateness() }
    }
}

/// A bar that changed or became final, to be upserted by the sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarUpdate {
    /// The bar as it is now.
    pub bar: Bar,
    /// Whether the watermark has passed its end. A final bar may still be
    /// emitted again (final) when a trade within the allowed lateness arrives.
    pub is_final: bool,
}

/// One root interval of the plan.
#[derive(Clone, Copy, Debug)]
struct Root {
    level: usize,
    interval: Interval,
    /// Trades in windows starting at or before this are late.
    last_expired: i64,
}

/// The delta of one (symbol, root interval): the window last seen and its trades since the last flush.
#[derive(Clone, Copy, Debug, Default)]
struct Current {
    start: i64,
    end: i64,
    /// Start of the span window containing `[start, end)`; see [`held`].
    group: i64,
    acc: BarAcc,
}

/// The open bars of every symbol and interval; see the [module docs](self).
///
/// ```
/// use tickflow_shared::{Interval, IntervalPlan, Price, Size, Symbol, Tick};
/// use tickflow_speed::windows::{Position, Windows, WindowsConfig};
///
/// let (t0, minute) = (1_381_152_600_000_000_000, 60_000_000_000); // 2013-10-07T13:30:00Z
/// let trade = |ts, price| Tick {
///     symbol: Symbol::new("AAPL").unwrap(),
///     ts,
///     price: Price::parse(price).unwrap(),
///     size: Size::parse("10").unwrap(),
///     seq: 0,
/// };
/// let plan = IntervalPlan::new(&Interval::parse_list("1m,5m").unwrap());
/// let mut windows = Windows::new(&plan, WindowsConfig::default());
/// windows.push_tick(&trade(t0 + 5, "167.41"), Position { partition: 0, offset: 0 }).unwrap();
/// windows.push_tick(&trade(t0 + minute + 5, "167.45"), Position { partition: 0, offset: 1 }).unwrap();
/// // The watermark passes the end of the first minute: that bar is final, the others provisional.
/// let mut updates = Vec::new();
/// windows.advance(t0 + minute + 10, |update| updates.push(update));
/// let mut seen: Vec<_> =
///     updates.iter().map(|u| (u.bar.interval.to_string(), u.bar.start - t0, u.bar.trades, u.is_final)).collect();
/// seen.sort();
/// assert_eq!(seen, [("1m".into(), 0, 1, true), ("1m".into(), minute, 1, false), ("5m".into(), 0, 2, false)]);
/// // A minute and more after the first bar closed (the allowed lateness), a trade for it is late.
/// windows.advance(t0 + 3 * minute, |_| {});
/// assert!(windows.push_tick(&trade(t0 + 7, "167.40"), Position { partition: 0, offset: 2 }).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Windows {
    plan: IntervalPlan,
    levels: Vec<Level>,
    roots: Vec<Root>,
    /// The least common multiple of the intervals; see [`held`].
    span: Interval,
    lateness: i64,
    /// `i64::MIN` before the first advance.
    watermark: i64,
    symbols: SymbolTable,
    /// One per (symbol, root): index `symbol * roots.len() + root`.
    current: Vec<Current>,
    /// Indices into `current` whose delta is not empty.
    touched: Vec<u32>,
    /// Deltas displaced from `current` by a trade in another window:
    /// (index into `current`, start, trades), in the order displaced. One
    /// (slot, start) may be here twice; [`Level::apply`] merges both.
    parked: Vec<(u32, i64, BarAcc)>,
    /// Scratch for [`level::coarsen`], kept for its capacity.
    seen: FxHashMap<(SymbolId, i64), u32>,
    /// The current emit period; see [`advance_finals`](Windows::advance_finals).
    period: u32,
    /// Per level, the deltas of one advance (kept for their capacity).
    deltas: Vec<Vec<Delta>>,
    held: Held,
}

impl Windows {
    /// Open windows for the intervals of `plan`.
    pub fn new(plan: &IntervalPlan, config: WindowsConfig) -> Self {
        let intervals = plan.intervals();
        let roots =
            plan.roots().map(|level| Root { level, interval: intervals[level], last_expired: i64::MIN }).collect();
        let lcm = intervals.iter().fold(1u64, |lcm, i| lcm / gcd(lcm, u64::from(i.seconds())) * u64::from(i.seconds()));
        // Every interval divides a day, so their least common multiple does too.
        let span = u32::try_from(lcm).ok().and_then(Interval::from_seconds).unwrap_or(DAY);
        Self {
            plan: plan.clone(),
            levels: intervals.iter().map(|&i| Level::new(i)).collect(),
            roots,
            span,
            lateness: i64::try_from(config.allowed_lateness.as_nanos()).unwrap_or(i64::MAX),
            watermark: i64::MIN,
            symbols: SymbolTable::default(),
            current: Vec::new(),
            touched: Vec::new(),
            parked: Vec::new(),
            seen: FxHashMap::default(),
            period: 1,
            deltas: vec![Vec::new(); intervals.len()],
            held: Held::default(),
        }
    }

    /// The id of `symbol`, for [`push`](Self::push).
    #[inline]
    pub fn intern(&mut self, symbol: &Symbol) -> SymbolId {
        let id = self.symbols.intern(symbol);
        self.grow(id);
        id
    }

    /// The id of the symbol spelled `text`, checking its format on first sight.
    pub fn intern_str(&mut self, text: &str) -> Result<SymbolId, InvalidTick> {
        let id = self.symbols.intern_str(text)?;
        self.grow(id);
        Ok(id)
    }

    #[inline]
    fn grow(&mut self, id: SymbolId) {
        let needed = (id as usize + 1) * self.roots.len();
        if self.current.len() < needed {
            self.current.resize(needed, Current::default());
        }
    }

    /// The symbols interned so far.
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Adds a trade of `symbol` (an id from [`intern`](Self::intern)) read at `at`,
    /// unless it is late; see the [module docs](self) for the rule.
    ///
    /// # Panics
    ///
    /// If `symbol` was not returned by this `Windows`' `intern`.
    #[inline]
    pub fn push(
        &mut self,
        symbol: SymbolId,
        ts: i64,
        seq: u64,
        price: Price,
        size: Size,
        at: Position,
    ) -> Result<(), Late> {
        let base = symbol as usize * self.roots.len();
        for (r, root) in self.roots.iter().enumerate() {
            let current = &self.current[base + r];
            let start = if ts >= current.start && ts < current.end { current.start } else { window_start(root, ts)? };
            if start <= root.last_expired {
                return Err(self.expired(ts, start + root.interval.nanos()));
            }
        }
        self.apply(base, ts, seq, price, size, at);
        Ok(())
    }

    /// Adds a trade read again while recovering from a crash, with no lateness
    /// check: it was accepted before, and goes into those of its windows that
    /// are still open, as it was at the commit. Only for step 3 of the restart
    /// contract in the [module docs](self); refuses only an invalid event time.
    ///
    /// # Panics
    ///
    /// If `symbol` was not returned by this `Windows`' `intern`.
    pub fn replay(
        &mut self,
        symbol: SymbolId,
        ts: i64,
        seq: u64,
        price: Price,
        size: Size,
        at: Position,
    ) -> Result<(), Late> {
        in_range(ts)?;
        // Windows evicted already are created again and evicted by the next
        // advance, unseen: the store holds them whole.
        self.apply(symbol as usize * self.roots.len(), ts, seq, price, size, at);
        Ok(())
    }

    /// Adds an accepted trade to the current delta of each root; `base` is the symbol's first slot.
    #[inline]
    fn apply(&mut self, base: usize, ts: i64, seq: u64, price: Price, size: Size, at: Position) {
        for r in 0..self.roots.len() {
            let current = &mut self.current[base + r];
            let was_empty = current.acc.trades() == 0;
            if ts >= current.start && ts < current.end {
                current.acc.push(ts, seq, price, size);
            } else {
                self.roll(base + r, r, ts, BarAcc::of(ts, seq, price, size));
            }
            if was_empty {
                self.touched.push((base + r) as u32);
            }
        }
        if let Some(current) = self.current.get(base) {
            self.held.note(at, current.group);
        }
    }

    /// Interns the trade's symbol and [`push`](Self::push)es it.
    pub fn push_tick(&mut self, tick: &Tick, at: Position) -> Result<(), Late> {
        let id = self.intern(&tick.symbol);
        self.push(id, tick.ts, tick.seq, tick.price, tick.size, at)
    }

    /// Parks the delta in slot `index` and starts a new one in the window of `ts`.
    #[cold]
    fn roll(&mut self, index: usize, root: usize, ts: i64, acc: BarAcc) {
        let interval = self.roots[root].interval;
        let current = &mut self.current[index];
        if current.acc.trades() > 0 {
            self.parked.push((index as u32, current.start, current.acc));
        }
        current.start = interval.start_of(ts);
        current.end = current.start + interval.nanos();
        current.group = self.span.start_of(ts);
        current.acc = acc;
    }

    #[cold]
    fn expired(&self, ts: i64, window_end: i64) -> Late {
        Late {
            ts,
            reason: LateReason::Expired { window_end, watermark: self.watermark, allowed_lateness: self.lateness },
        }
    }

    /// The watermark of the last [`advance`](Self::advance), `None` before the first.
    pub fn watermark(&self) -> Option<i64> {
        (self.watermark != i64::MIN).then_some(self.watermark)
    }

    /// Number of open bars over all intervals (each about 140 bytes).
    pub fn open_bars(&self) -> usize {
        self.levels.iter().map(Level::bars).sum()
    }

    /// The lowest offset in `partition` of a trade still held by an open window;
    /// `None` when none is. See the restart contract in the [module docs](self).
    pub fn min_open_position(&self, partition: tickflow_shared::watermark::Partition) -> Option<u64> {
        self.held.min_offset(partition)
    }

    /// [`min_open_position`](Self::min_open_position) of every partition that has one.
    pub fn open_positions(&self) -> impl Iterator<Item = Position> + '_ {
        self.held.positions()
    }

    /// The intervals and how they derive from each other.
    pub fn plan(&self) -> &IntervalPlan {
        &self.plan
    }

    /// The allowed lateness, in nanoseconds.
    pub fn allowed_lateness(&self) -> i64 {
        self.lateness
    }
}

const DAY: Interval = match Interval::from_seconds(86_400) {
    Some(day) => day,
    None => panic!("a day is an interval"),
};

/// The start of the window of `root` that holds `ts`, if `ts` is a valid event time.
#[cold]
fn window_start(root: &Root, ts: i64) -> Result<i64, Late> {
    in_range(ts)?;
    Ok(root.interval.start_of(ts))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}
