//! Throughput of the speed layer's event-time windows: trades pushed into
//! 500 symbols × the six default intervals, with an advance (fold, emit,
//! evict) every 100 ms of event time, at two market rates.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tickflow_shared::time::NANOS_PER_DAY;
use tickflow_shared::{Interval, IntervalPlan, Price, Size};
use tickflow_speed::windows::{Position, SymbolId, Windows, WindowsConfig};

const SYMBOLS: u32 = 500;
const TRADES: usize = 2_000_000;
const ADVANCE_EVERY: i64 = 100_000_000;
const OUT_OF_ORDERNESS: i64 = 2_000_000_000;

#[derive(Clone, Copy)]
struct Trade {
    symbol: SymbolId,
    ts: i64,
    seq: u64,
    price: Price,
    size: Size,
}

/// `TRADES` trades at `per_second` trades per second of event time, each up to 50 ms late.
fn trades(per_second: i64) -> Vec<Trade> {
    let start = 19_700 * NANOS_PER_DAY + 9 * 3_600_000_000_000;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..TRADES)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let jitter = (state % 50_000_000) as i64;
            Trade {
                symbol: (state >> 32) as u32 % SYMBOLS,
                ts: start + i as i64 * 1_000_000_000 / per_second - jitter,
                seq: i as u64,
                price: Price(10_000_000_000 + (state >> 40) as i64 % 100_000_000),
                size: Size(100_000_000 * (1 + (state >> 20) as i64 % 10)),
            }
        })
        .collect()
}

fn fresh_windows() -> Windows {
    let intervals = Interval::parse_list(Interval::DEFAULTS).expect("default intervals");
    let mut windows = Windows::new(&IntervalPlan::new(&intervals), WindowsConfig::default());
    for i in 0..SYMBOLS {
        windows.intern_str(&format!("SYM{i}")).expect("symbol");
    }
    windows
}

/// Pushes every trade, advancing to `max ts − 2 s` each 100 ms of event time;
/// returns the updates emitted and the trades refused as late.
fn run(windows: &mut Windows, trades: &[Trade], advance: bool) -> (usize, usize) {
    let (mut updates, mut late, mut next_advance, mut max_ts) = (0usize, 0usize, i64::MIN, i64::MIN);
    for (offset, t) in trades.iter().enumerate() {
        let at = Position { partition: 0, offset: offset as u64 };
        if windows.push(t.symbol, t.ts, t.seq, t.price, t.size, at).is_err() {
            late += 1;
        }
        max_ts = max_ts.max(t.ts);
        if advance && max_ts >= next_advance {
            next_advance = max_ts - max_ts % ADVANCE_EVERY + ADVANCE_EVERY;
            windows.advance(max_ts - OUT_OF_ORDERNESS, |update| {
                black_box(&update);
                updates += 1;
            });
        }
    }
    (updates, late)
}

fn windows(c: &mut Criterion) {
    eprintln!(
        "windows bench: {SYMBOLS} symbols, intervals {}, {TRADES} trades, {} cores",
        Interval::DEFAULTS,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut group = c.benchmark_group("windows");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(TRADES as u64));
    for per_second in [100_000, 10_000] {
        let input = trades(per_second);
        let mut probe = fresh_windows();
        let (updates, late) = run(&mut probe, &input, true);
        eprintln!(
            "{per_second} trades/s of event time: {updates} updates, {late} late, {} bars open at the end",
            probe.open_bars()
        );
        group.bench_function(format!("push_and_advance/{per_second}_per_s"), |b| {
            b.iter_batched_ref(fresh_windows, |w| black_box(run(w, &input, true)), BatchSize::LargeInput)
        });
        group.bench_function(format!("push_only/{per_second}_per_s"), |b| {
            b.iter_batched_ref(fresh_windows, |w| black_box(run(w, &input, false)), BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, windows);
criterion_main!(benches);
