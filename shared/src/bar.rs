//! The bar and its accumulator: the one definition of a bar, used by every layer.

use crate::fixed::{Price, Size, Volume, div_round};
use crate::interval::Interval;
use crate::tick::{Symbol, Tick};

/// The order key of a trade within a symbol: `(ts, seq)`, then price, so that
/// two trades that tie on `(ts, seq)` (from two different sources) order the
/// same way on every worker. Trades that tie on all three give the same open
/// or close price, so size is not needed to break ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct TradeKey {
    /// Event time in nanoseconds.
    pub ts: i64,
    /// Position in the source.
    pub seq: u64,
    /// Price, as the tie-breaker.
    pub price: Price,
}

/// A mergeable summary of any set of trades of one symbol in one window.
///
/// `push` adds a trade, `merge` adds another summary, `finish` makes the bar.
/// `merge` is associative and commutative, and pushing trades one by one
/// equals merging the summaries of any split of them, so workers may
/// pre-aggregate in any order and still agree bit for bit.
///
/// ```
/// use tickflow_shared::{BarAcc, Interval, Price, Size, Symbol};
///
/// let (minute, start) = ("1m".parse::<Interval>().unwrap(), 1_381_152_600_000_000_000);
/// let price = |text| Price::parse(text).unwrap();
/// let size = |text| Size::parse(text).unwrap();
/// // Two workers each summarise the trades they saw, in any order...
/// let mut first = BarAcc::default();
/// first.push(start + 3, 0, price("167.42"), size("200"));
/// first.push(start + 1, 0, price("167.41"), size("100"));
/// let second = BarAcc::of(start + 2, 0, price("167.40"), size("100"));
/// // ...and their merge is the bar of all three, whatever the order.
/// let mut merged = second;
/// merged.merge(&first);
/// let bar = merged.finish(Symbol::new("SPY").unwrap(), minute, start).unwrap();
/// assert_eq!((bar.open, bar.high, bar.low, bar.close), (price("167.41"), price("167.42"), price("167.40"), price("167.42")));
/// assert_eq!((bar.trades, bar.vwap), (3, price("167.4125")));
/// first.merge(&second);
/// assert_eq!(first, merged, "merge is commutative");
/// assert!(BarAcc::default().finish(bar.symbol, minute, start).is_none(), "no trades, no bar");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BarAcc {
    open: TradeKey,
    close: TradeKey,
    high: Price,
    low: Price,
    volume: i128,
    notional: i128,
    trades: u64,
}

impl BarAcc {
    /// The summary of one trade.
    pub fn of(ts: i64, seq: u64, price: Price, size: Size) -> Self {
        let key = TradeKey { ts, seq, price };
        Self {
            open: key,
            close: key,
            high: price,
            low: price,
            volume: i128::from(size.0),
            notional: i128::from(price.0) * i128::from(size.0),
            trades: 1,
        }
    }

    /// Adds one trade.
    #[inline]
    pub fn push(&mut self, ts: i64, seq: u64, price: Price, size: Size) {
        if self.trades == 0 {
            *self = Self::of(ts, seq, price, size);
            return;
        }
        let key = TradeKey { ts, seq, price };
        if key < self.open {
            self.open = key;
        }
        if key > self.close {
            self.close = key;
        }
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.volume += i128::from(size.0);
        self.notional += i128::from(price.0) * i128::from(size.0);
        self.trades += 1;
    }

    /// Adds one trade given as a [`Tick`].
    pub fn push_tick(&mut self, tick: &Tick) {
        self.push(tick.ts, tick.seq, tick.price, tick.size);
    }

    /// Adds the trades summarised by `other`.
    pub fn merge(&mut self, other: &BarAcc) {
        if other.trades == 0 {
            return;
        }
        if self.trades == 0 {
            *self = *other;
            return;
        }
        self.open = self.open.min(other.open);
        self.close = self.close.max(other.close);
        self.high = self.high.max(other.high);
        self.low = self.low.min(other.low);
        self.volume += other.volume;
        self.notional += other.notional;
        self.trades += other.trades;
    }

    /// Number of trades summarised.
    pub fn trades(&self) -> u64 {
        self.trades
    }

    /// The bar of these trades, or `None` when there are none.
    pub fn finish(&self, symbol: Symbol, interval: Interval, start: i64) -> Option<Bar> {
        (self.trades > 0).then(|| Bar {
            symbol,
            interval,
            start,
            open: self.open.price,
            high: self.high,
            low: self.low,
            close: self.close.price,
            volume: Volume(self.volume),
            vwap: Price(div_round(self.notional, self.volume) as i64),
            trades: self.trades,
            first_ts: self.open.ts,
            last_ts: self.close.ts,
        })
    }
}

/// A [`BarAcc`] stored without the 16-byte alignment of its `i128` sums:
/// 104 bytes instead of 112. What a store of millions of accumulators keeps
/// (the batch layer's partial bars); convert back to merge or finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedBarAcc {
    open: TradeKey,
    close: TradeKey,
    high: Price,
    low: Price,
    volume: [u64; 2],
    notional: [u64; 2],
    trades: u64,
}

impl PackedBarAcc {
    /// The order key of the first trade (the open); `ts` lies in the bar's
    /// window, so a sorted store can keep the accumulator without its start.
    pub fn open_key(&self) -> TradeKey {
        self.open
    }
}

/// An `i128` as two words, low first.
fn split(value: i128) -> [u64; 2] {
    [value as u64, (value >> 64) as u64]
}

fn join([low, high]: [u64; 2]) -> i128 {
    (i128::from(high as i64) << 64) | i128::from(low)
}

impl From<BarAcc> for PackedBarAcc {
    fn from(acc: BarAcc) -> Self {
        Self {
            open: acc.open,
            close: acc.close,
            high: acc.high,
            low: acc.low,
            volume: split(acc.volume),
            notional: split(acc.notional),
            trades: acc.trades,
        }
    }
}

impl From<PackedBarAcc> for BarAcc {
    fn from(packed: PackedBarAcc) -> Self {
        Self {
            open: packed.open,
            close: packed.close,
            high: packed.high,
            low: packed.low,
            volume: join(packed.volume),
            notional: join(packed.notional),
            trades: packed.trades,
        }
    }
}

/// One OHLCV bar: the trades of one symbol in `[start, start + interval)`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bar {
    /// The instrument.
    pub symbol: Symbol,
    /// The window length.
    pub interval: Interval,
    /// Window start, nanoseconds since the epoch, aligned to `interval`.
    pub start: i64,
    /// Price of the first trade by `(ts, seq)`.
    pub open: Price,
    /// Highest price.
    pub high: Price,
    /// Lowest price.
    pub low: Price,
    /// Price of the last trade by `(ts, seq)`.
    pub close: Price,
    /// Sum of sizes.
    pub volume: Volume,
    /// `Σ price·size / Σ size`, rounded half away from zero to 8 decimals.
    pub vwap: Price,
    /// Number of trades.
    pub trades: u64,
    /// Event time of the first trade.
    pub first_ts: i64,
    /// Event time of the last trade.
    pub last_ts: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trade() -> impl Strategy<Value = (i64, u64, i64, i64)> {
        (0i64..50, 0u64..4, 1i64..2_000_000_000_000, 1i64..100_000_000_000_000)
    }

    fn acc_of(trades: &[(i64, u64, i64, i64)]) -> BarAcc {
        let mut acc = BarAcc::default();
        for &(ts, seq, p, s) in trades {
            acc.push(ts, seq, Price(p), Size(s));
        }
        acc
    }

    #[test]
    fn a_packed_accumulator_is_smaller_and_unpacks_to_itself() {
        assert_eq!((std::mem::size_of::<BarAcc>(), std::mem::size_of::<PackedBarAcc>()), (112, 104));
        let mut acc = acc_of(&[(3, 1, 1_999_999_999_999, 99_999_999_999_999), (1, 0, 7, 5)]);
        for _ in 0..20 {
            acc.merge(&acc.clone());
        }
        assert!(acc.volume > i128::from(u64::MAX) && acc.notional > i128::from(u64::MAX), "both sums use two words");
        assert_eq!(BarAcc::from(PackedBarAcc::from(acc)), acc);
        assert_eq!(PackedBarAcc::from(acc).open_key(), acc.open);
    }

    proptest! {
        #[test]
        fn merge_is_associative_and_commutative(
            a in prop::collection::vec(trade(), 0..20),
            b in prop::collection::vec(trade(), 0..20),
            c in prop::collection::vec(trade(), 0..20),
        ) {
            let (a, b, c) = (acc_of(&a), acc_of(&b), acc_of(&c));
            let mut ab = a; ab.merge(&b);
            let mut ba = b; ba.merge(&a);
            prop_assert_eq!(ab, ba);
            let mut ab_c = ab; ab_c.merge(&c);
            let mut bc = b; bc.merge(&c);
            let mut a_bc = a; a_bc.merge(&bc);
            prop_assert_eq!(ab_c, a_bc);
        }

        #[test]
        fn any_split_gives_the_same_bar(
            trades in prop::collection::vec(trade(), 1..60),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            order in any::<u64>(),
        ) {
            let whole = acc_of(&trades);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(trades.len() + 1)).collect();
            points.extend([0, trades.len()]);
            points.sort();
            let mut parts: Vec<BarAcc> = points.windows(2).map(|w| acc_of(&trades[w[0]..w[1]])).collect();
            let count = parts.len();
            parts.rotate_left((order as usize) % count);
            let mut merged = BarAcc::default();
            for part in &parts { merged.merge(part); }
            let symbol = Symbol::new("X").expect("symbol");
            let interval = Interval::from_seconds(60).expect("1m");
            prop_assert_eq!(merged.finish(symbol.clone(), interval, 0), whole.finish(symbol, interval, 0));
        }
    }

    #[test]
    fn open_and_close_follow_ts_then_seq() {
        let mut acc = BarAcc::default();
        acc.push(5, 2, Price(30), Size(1));
        acc.push(5, 1, Price(20), Size(1));
        acc.push(9, 0, Price(40), Size(2));
        acc.push(1, 7, Price(10), Size(1));
        let bar =
            acc.finish(Symbol::new("X").expect("symbol"), Interval::from_seconds(1).expect("1s"), 0).expect("bar");
        assert_eq!((bar.open, bar.close, bar.high, bar.low), (Price(10), Price(40), Price(40), Price(10)));
        assert_eq!((bar.trades, bar.volume, bar.first_ts, bar.last_ts), (4, Volume(5), 1, 9));
        assert_eq!(bar.vwap, Price(28));
    }
}
