//! The feature columns of one symbol's series of bars: the definitions and
//! the one pass that computes them.
//!
//! Every feature of row `t` is a function of bars `0 ..= t` only, fed one at
//! a time through the indicators of `shared` (the bot's own code); the labels
//! of row `t` are the only values that look forward, exactly `h` bars.

use tickflow_shared::Bar;
use tickflow_shared::indicators::{Atr, Indicator, Rsi, Sma, VwapDeviation, Window};
use tickflow_shared::time::NANOS_PER_MILLI;

/// A feature as the manifest describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Definition {
    /// The column.
    pub name: &'static str,
    /// What it is, in terms of the symbol's own bars `t − k … t`.
    pub formula: &'static str,
    /// The bars it looks at (1 for the bar itself; 0 for a recursive indicator fed from the series' start).
    pub window: u32,
}

/// The features, in column order (the labels follow, one pair per horizon).
pub const FEATURES: [Definition; 12] = [
    Definition { name: "ret_1", formula: "ln(close_t / close_{t-1})", window: 2 },
    Definition { name: "ret_5", formula: "ln(close_t / close_{t-5})", window: 6 },
    Definition { name: "ret_20", formula: "ln(close_t / close_{t-20})", window: 21 },
    Definition { name: "vol_20", formula: "sample std (n-1) of ret_1 over bars t-19..t", window: 21 },
    Definition { name: "range", formula: "(high - low) / close", window: 1 },
    Definition { name: "vwap_dev", formula: "close / vwap - 1, from the exact fixed-point close and vwap", window: 1 },
    Definition { name: "volume_z_20", formula: "(volume - mean) / sample std over bars t-19..t", window: 20 },
    Definition {
        name: "rsi_14",
        formula: "TA-Lib RSI(14), Wilder smoothing seeded by a plain mean, from the series' first bar",
        window: 15,
    },
    Definition { name: "sma_ratio_20", formula: "close / SMA20(close) - 1, exact window sum", window: 20 },
    Definition {
        name: "atr_14_pct",
        formula: "TA-Lib ATR(14) / close, Wilder smoothing seeded by a plain mean, from the series' first bar",
        window: 15,
    },
    Definition { name: "fwd_ret_h", formula: "ln(close_{t+h} / close_t): the label of horizon h", window: 0 },
    Definition {
        name: "fwd_end_h",
        formula: "end of bar t+h (ms UTC): when the label of horizon h is known",
        window: 0,
    },
];

/// The number of feature columns before the labels.
pub const FEATURE_COLUMNS: usize = 10;

/// One symbol's rows, column by column, in `start` order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Columns {
    /// Bar start, ms UTC.
    pub ts: Vec<i64>,
    /// Bar end, ms UTC: the row's point in time.
    pub as_of: Vec<i64>,
    /// Close.
    pub close: Vec<f64>,
    /// VWAP.
    pub vwap: Vec<f64>,
    /// Volume.
    pub volume: Vec<f64>,
    /// Trades.
    pub trades: Vec<i64>,
    /// The features of [`FEATURES`], the first [`FEATURE_COLUMNS`] in order.
    pub features: [Vec<Option<f64>>; FEATURE_COLUMNS],
    /// Per horizon: `fwd_ret_h` and `fwd_end_h`.
    pub labels: Vec<Label>,
}

/// The label columns of one horizon: `fwd_ret_h` and `fwd_end_h` (ms UTC).
pub type Label = (Vec<Option<f64>>, Vec<Option<i64>>);

impl Columns {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}

/// Computes the rows of one symbol's bars (in `start` order, one interval).
pub fn compute(bars: &[Bar], horizons: &[u32]) -> Columns {
    let n = bars.len();
    let mut out =
        Columns { labels: vec![(Vec::with_capacity(n), Vec::with_capacity(n)); horizons.len()], ..Columns::default() };
    for column in &mut out.features {
        column.reserve(n);
    }
    let mut state = State::new();
    let closes: Vec<f64> = bars.iter().map(|bar| bar.close.to_f64()).collect();
    for (t, bar) in bars.iter().enumerate() {
        let end = bar.start + bar.interval.nanos();
        out.ts.push(bar.start.div_euclid(NANOS_PER_MILLI));
        out.as_of.push(end.div_euclid(NANOS_PER_MILLI));
        out.close.push(closes[t]);
        out.vwap.push(bar.vwap.to_f64());
        out.volume.push(bar.volume.to_f64());
        out.trades.push(i64::try_from(bar.trades).unwrap_or(i64::MAX));
        for (column, value) in out.features.iter_mut().zip(state.update(bar, &closes[..=t])) {
            column.push(value);
        }
        for (&h, (ret, ends)) in horizons.iter().zip(&mut out.labels) {
            let ahead = bars.get(t + h as usize);
            ret.push(ahead.map(|_| (closes[t + h as usize] / closes[t]).ln()));
            ends.push(ahead.map(|b| (b.start + b.interval.nanos()).div_euclid(NANOS_PER_MILLI)));
        }
    }
    out
}

/// The incremental state behind the features: the indicators of `shared`.
struct State {
    returns: Window,
    volumes: Window,
    rsi: Rsi,
    sma: Sma,
    atr: Atr,
    vwap_dev: VwapDeviation,
}

impl State {
    fn new() -> Self {
        let window = || Window::new(20).expect("20 is a valid period");
        Self {
            returns: window(),
            volumes: window(),
            rsi: Rsi::default(),
            sma: Sma::new(20).expect("20 is a valid period"),
            atr: Atr::default(),
            vwap_dev: VwapDeviation::new(),
        }
    }

    /// Feeds bar `t`; `closes` holds the closes of bars `0 ..= t`.
    fn update(&mut self, bar: &Bar, closes: &[f64]) -> [Option<f64>; FEATURE_COLUMNS] {
        let t = closes.len() - 1;
        let close = closes[t];
        let ret = |k: usize| (t >= k).then(|| (close / closes[t - k]).ln());
        let ret_1 = ret(1);
        if let Some(r) = ret_1 {
            self.returns.push(r);
        }
        let volume = bar.volume.to_f64();
        self.volumes.push(volume);
        let range = (bar.high.units() - bar.low.units()) as f64 / bar.close.units() as f64;
        [
            ret_1,
            ret(5),
            ret(20),
            self.returns.std_sample(),
            Some(range),
            self.vwap_dev.update(bar),
            self.volumes.z_score(volume),
            self.rsi.update(bar),
            self.sma.update(bar).map(|sma| close / sma - 1.0),
            self.atr.update(bar).map(|atr| atr / close),
        ]
    }
}
