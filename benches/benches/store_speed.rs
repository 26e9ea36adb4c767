//! Cost of one speed-layer commit (`SpeedStore::commit_speed`): 1k to 20k
//! bars and their Kafka positions upserted in one transaction.
//!
//! `update` replaces bars that exist (the steady state: provisional bars
//! re-emitted every `emit_interval`); `insert` writes bars of new windows.
//! SQLite runs in a temporary file. PostgreSQL runs when
//! `TICKFLOW_BENCH_POSTGRES` is the URL of a database it may write speed
//! tables into (migrated on connect).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use tickflow_shared::store::{Access, PartitionOffset, PostgresStore, SpeedBar, SpeedCommit, SpeedStore, SqliteStore};
use tickflow_shared::{Bar, Interval, Price, Symbol, Volume};

const SYMBOLS: usize = 500;
const MINUTE: i64 = 60_000_000_000;
/// 2023-11-14T22:13:00Z.
const T0: i64 = 1_699_999_980_000_000_000;

/// `n` one-minute bars of 500 symbols, in the windows from `first_minute` on.
fn commit(n: usize, first_minute: i64, price: i64) -> SpeedCommit {
    let interval = Interval::from_seconds(60).expect("1m");
    let symbols: Vec<Symbol> = (0..SYMBOLS).map(|i| Symbol::new(&format!("S{i:03}")).expect("symbol")).collect();
    let bars = (0..n)
        .map(|i| {
            let start = T0 + (first_minute + (i / SYMBOLS) as i64) * MINUTE;
            let p = price + i as i64;
            let bar = Bar {
                symbol: symbols[i % SYMBOLS].clone(),
                interval,
                start,
                open: Price(p),
                high: Price(p + 700_000_001),
                low: Price(p - 300_000_003),
                close: Price(p + 100_000_009),
                volume: Volume(123_456_789_012_345),
                vwap: Price(p + 200_000_007),
                trades: 1 + i as u64 % 400,
                first_ts: start + 1,
                last_ts: start + MINUTE - 1,
            };
            SpeedBar { bar, is_final: i % 4 == 0 }
        })
        .collect();
    let offsets = (0..8)
        .map(|partition| PartitionOffset {
            topic: "ticks".into(),
            partition,
            next_offset: price,
            replay_from: price / 2,
            end_offset: Some(price + 100),
        })
        .collect();
    SpeedCommit { bars, offsets, watermark: Some(T0 + first_minute * MINUTE), ..SpeedCommit::default() }
}

fn speed_commit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("SQLite store");
    let mut stores: Vec<(&str, Box<dyn SpeedStore>)> = vec![("sqlite", Box::new(sqlite))];
    match std::env::var("TICKFLOW_BENCH_POSTGRES") {
        Ok(url) => {
            let postgres = runtime.block_on(PostgresStore::open(&url, Access::Write)).expect("connect");
            stores.push(("postgres", Box::new(postgres)))
        }
        Err(_) => eprintln!("store_speed: TICKFLOW_BENCH_POSTGRES is not set; PostgreSQL skipped"),
    }
    eprintln!("store_speed: {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));

    let mut group = c.benchmark_group("speed_commit");
    group.sample_size(10);
    let mut round = 1;
    let mut new_minute = 1_000;
    for n in [1_000usize, 10_000, 20_000] {
        group.throughput(Throughput::Elements(n as u64));
        for (engine, store) in &stores {
            runtime.block_on(store.commit_speed(&mut commit(n, 0, 1))).expect("first commit");
            let mut measure = |b: &mut criterion::Bencher<'_>, new_windows: bool| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        round += 1;
                        let first_minute = if new_windows { new_minute } else { 0 };
                        new_minute += (n / SYMBOLS + 1) as i64;
                        let mut input = commit(n, first_minute, round * 1_000_000);
                        let start = Instant::now();
                        runtime.block_on(store.commit_speed(&mut input)).expect("commit");
                        total += start.elapsed();
                    }
                    total
                })
            };
            group.bench_function(BenchmarkId::new(format!("{engine}/update"), n), |b| measure(b, false));
            group.bench_function(BenchmarkId::new(format!("{engine}/insert"), n), |b| measure(b, true));
        }
    }
    group.finish();
}

criterion_group!(benches, speed_commit);
criterion_main!(benches);
