//! Micro-benchmarks of the bar accumulator: push and merge.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tickflow_shared::{BarAcc, Price, Size};

fn push(c: &mut Criterion) {
    let trades: Vec<(i64, u64, Price, Size)> = (0..10_000u64)
        .map(|i| (i as i64 * 1_000_000, i, Price(16_741_000_000 + (i % 50) as i64 * 1_000_000), Size(10_000_000_000)))
        .collect();
    let mut group = c.benchmark_group("bar_acc");
    group.throughput(Throughput::Elements(trades.len() as u64));
    group.bench_function("push", |b| {
        b.iter(|| {
            let mut acc = BarAcc::default();
            for &(ts, seq, price, size) in &trades {
                acc.push(ts, seq, price, size);
            }
            black_box(acc)
        })
    });
    let parts: Vec<BarAcc> = trades.iter().map(|&(ts, seq, p, s)| BarAcc::of(ts, seq, p, s)).collect();
    group.bench_function("merge", |b| {
        b.iter(|| {
            let mut acc = BarAcc::default();
            for part in &parts {
                acc.merge(part);
            }
            black_box(acc)
        })
    });
    group.finish();
}

criterion_group!(benches, push);
criterion_main!(benches);
