//! Micro-benchmarks of the tick codecs: CSV and Parquet decoding, the Kafka wire format.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickflow_shared::codec::csv::CsvTickWriter;
use tickflow_shared::codec::parquet::ParquetTickWriter;
use tickflow_shared::codec::{Reject, TickBatch, TickSink, plan_splits, read_split};
use tickflow_shared::{Price, Size, Symbol, Tick};

const ROWS: u64 = 200_000;

#[derive(Default)]
struct Count(u64);

impl TickSink for Count {
    fn ticks(&mut self, batch: &TickBatch) {
        self.0 += batch.len() as u64;
    }
    fn reject(&mut self, _: Reject) {}
}

fn ticks() -> impl Iterator<Item = Tick> {
    let symbols: Vec<Symbol> =
        ["AAPL", "MSFT", "SPY", "BAC", "IBM"].iter().map(|s| Symbol::new(s).expect("symbol")).collect();
    (0..ROWS).map(move |i| Tick {
        symbol: symbols[(i % 5) as usize].clone(),
        ts: 1_381_152_600_000_000_000 + i as i64 * 1_000_000,
        price: Price(16_741_000_000 + (i % 97) as i64 * 1_000_000),
        size: Size(((i % 9) + 1) as i64 * 10_000_000_000),
        seq: i,
    })
}

fn decode(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("ticks.csv");
    let parquet = dir.path().join("ticks.parquet");
    let mut writer = CsvTickWriter::create(&csv).expect("csv");
    ticks().for_each(|t| writer.write(&t).expect("write"));
    writer.finish().expect("finish");
    let mut writer = ParquetTickWriter::create(&parquet).expect("parquet");
    ticks().for_each(|t| writer.write(&t).expect("write"));
    writer.finish().expect("finish");
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(ROWS));
    for (name, path) in [("csv", &csv), ("parquet", &parquet)] {
        let splits = plan_splits(path).expect("splits");
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut count = Count::default();
                for split in &splits {
                    read_split(split, &mut count).expect("read");
                }
                assert_eq!(count.0, ROWS);
            })
        });
    }
    group.finish();
}

fn wire(c: &mut Criterion) {
    let messages: Vec<String> = ticks()
        .take(10_000)
        .map(|t| {
            let mut text = String::new();
            tickflow_shared::wire::encode(&t, &mut text);
            text
        })
        .collect();
    let mut group = c.benchmark_group("wire");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| messages.iter().filter(|m| tickflow_shared::wire::decode(m.as_bytes()).is_ok()).count())
    });
    let trades: Vec<Tick> = ticks().take(10_000).collect();
    group.bench_function("encode", |b| {
        let mut text = String::new();
        b.iter(|| {
            trades
                .iter()
                .map(|t| {
                    tickflow_shared::wire::encode(t, &mut text);
                    text.len()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, decode, wire);
criterion_main!(benches);
