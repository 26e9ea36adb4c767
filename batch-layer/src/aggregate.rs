//! Per-worker pre-aggregation: trades in, root-interval accumulators out.
//!
//! The hot loop keeps one open window per (symbol, root interval). Archive
//! files are nearly time-ordered, so almost every trade lands in the window it
//! already has open: a range check and a `push`, no hashing, no division. When
//! a trade leaves the open window, the window is appended to the list of
//! partial bars; a window that opens again later (disorder, another split)
//! simply yields a second partial, which the merge folds in.

use crate::inputs::DayFilter;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use tickflow_shared::codec::{Reject, TickBatch, TickSink};
use tickflow_shared::time::{NANOS_PER_DAY, day_of, format_day, format_rfc3339};
use tickflow_shared::{BarAcc, Interval, Symbol};

/// A partial bar: symbol, interval index in the plan, window start, accumulator.
pub type Partial = (Symbol, u8, i64, BarAcc);

#[derive(Clone, Copy, Default)]
struct OpenWindow {
    start: i64,
    end: i64,
    acc: BarAcc,
}

/// The current file's context.
struct Current {
    file: usize,
    source: String,
    filter: DayFilter,
    /// Trades in `[keep_lo, keep_hi)` are taken without further checks.
    keep_lo: i64,
    keep_hi: i64,
}

/// Pre-aggregates the trades one worker reads.
pub struct PreAggregator {
    roots: Vec<(u8, Interval)>,
    symbols: Vec<Symbol>,
    ids: FxHashMap<Symbol, u32>,
    remap: Vec<u32>,
    open: Vec<OpenWindow>,
    closed: Vec<(u32, u8, i64, BarAcc)>,
    current: Option<Current>,
    /// Days seen per file read with [`DayFilter::All`].
    pub file_days: FxHashMap<usize, BTreeSet<i64>>,
    /// Rows rejected here (outside their partition day).
    pub rejects: Vec<Reject>,
    /// Trades taken.
    pub trades: u64,
}

impl PreAggregator {
    /// An aggregator for the root intervals `(index in plan, interval)`.
    pub fn new(roots: Vec<(u8, Interval)>) -> Self {
        Self {
            roots,
            symbols: Vec::new(),
            ids: FxHashMap::default(),
            remap: Vec::new(),
            open: Vec::new(),
            closed: Vec::new(),
            current: None,
            file_days: FxHashMap::default(),
            rejects: Vec::new(),
            trades: 0,
        }
    }

    /// Starts reading one split of file `file`; the reader's dictionary starts anew.
    pub fn begin(&mut self, file: usize, source: String, filter: DayFilter) {
        self.remap.clear();
        let (keep_lo, keep_hi) = match filter {
            DayFilter::Partition(day) => (day * NANOS_PER_DAY, (day + 1) * NANOS_PER_DAY),
            _ => (0, 0),
        };
        self.current = Some(Current { file, source, filter, keep_lo, keep_hi });
    }

    fn intern(&mut self, symbol: &Symbol) -> u32 {
        if let Some(&id) = self.ids.get(symbol) {
            return id;
        }
        let id = self.symbols.len() as u32;
        self.symbols.push(symbol.clone());
        self.ids.insert(symbol.clone(), id);
        self.open.extend(std::iter::repeat_n(OpenWindow::default(), self.roots.len()));
        id
    }

    /// The event times taken without further checks.
    fn keep_window(&self) -> (i64, i64) {
        self.current.as_ref().map_or((0, 0), |c| (c.keep_lo, c.keep_hi))
    }

    /// Decides whether a trade outside the keep window is taken, moving the window.
    #[cold]
    fn admit(&mut self, ts: i64, seq: u64) -> bool {
        let Some(current) = self.current.as_mut() else {
            return false;
        };
        let day = day_of(ts);
        let (lo, hi) = (day * NANOS_PER_DAY, (day + 1) * NANOS_PER_DAY);
        match &current.filter {
            DayFilter::All => {
                self.file_days.entry(current.file).or_default().insert(day);
                (current.keep_lo, current.keep_hi) = (lo, hi);
                true
            }
            DayFilter::Partition(partition) => {
                let reason = format!(
                    "trade at {} lies outside its partition day {}",
                    format_rfc3339(ts),
                    format_day(*partition)
                );
                self.rejects.push(Reject::new(&current.source, seq, reason, b""));
                false
            }
            DayFilter::Days(days) => {
                let keep = days.contains(&day);
                if keep {
                    (current.keep_lo, current.keep_hi) = (lo, hi);
                }
                keep
            }
        }
    }

    fn roll(
        &mut self,
        slot: usize,
        root: usize,
        ts: i64,
        seq: u64,
        price: tickflow_shared::Price,
        size: tickflow_shared::Size,
    ) {
        let (index, interval) = self.roots[root];
        let window = &mut self.open[slot];
        if window.acc.trades() > 0 {
            let symbol = (slot / self.roots.len()) as u32;
            self.closed.push((symbol, index, window.start, window.acc));
        }
        window.start = interval.start_of(ts);
        window.end = window.start + interval.nanos();
        window.acc = BarAcc::of(ts, seq, price, size);
    }

    /// Yields (and forgets) the windows closed so far.
    pub fn take_closed(&mut self) -> impl Iterator<Item = Partial> + '_ {
        let symbols = &self.symbols;
        self.closed.drain(..).map(move |(s, i, start, acc)| (symbols[s as usize].clone(), i, start, acc))
    }

    /// Closes every open window and yields the remaining partial bars.
    pub fn finish(mut self) -> impl Iterator<Item = Partial> {
        let roots = self.roots.len();
        for (slot, window) in self.open.iter().enumerate() {
            if window.acc.trades() > 0 {
                self.closed.push(((slot / roots) as u32, self.roots[slot % roots].0, window.start, window.acc));
            }
        }
        let symbols = self.symbols;
        self.closed.into_iter().map(move |(s, i, start, acc)| (symbols[s as usize].clone(), i, start, acc))
    }
}

impl TickSink for PreAggregator {
    fn ticks(&mut self, batch: &TickBatch) {
        while self.remap.len() < batch.symbols.len() {
            let id = self.intern(&batch.symbols[self.remap.len()]);
            self.remap.push(id);
        }
        let roots = self.roots.len();
        let (mut keep_lo, mut keep_hi) = self.keep_window();
        for i in 0..batch.len() {
            let (ts, seq, price, size) = (batch.ts[i], batch.seq[i], batch.price[i], batch.size[i]);
            if ts < keep_lo || ts >= keep_hi {
                if !self.admit(ts, seq) {
                    continue;
                }
                (keep_lo, keep_hi) = self.keep_window();
            }
            self.trades += 1;
            let base = self.remap[batch.symbol[i] as usize] as usize * roots;
            for root in 0..roots {
                let window = &mut self.open[base + root];
                if ts >= window.start && ts < window.end {
                    window.acc.push(ts, seq, price, size);
                } else {
                    self.roll(base + root, root, ts, seq, price, size);
                }
            }
        }
    }

    fn reject(&mut self, reject: Reject) {
        self.rejects.push(reject);
    }
}
