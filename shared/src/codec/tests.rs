//! Codec tests: splits agree with whole-file reads, formats agree, rejects say where.

use super::csv::CsvTickWriter;
use super::parquet::ParquetTickWriter;
use super::*;
use crate::{Price, Size, Symbol, Tick};
use proptest::prelude::*;
use std::io::Write;

fn read_all(path: &std::path::Path, split_bytes: u64) -> Collect {
    let mut sink = Collect::default();
    for split in plan_splits_sized(path, split_bytes).expect("splits") {
        read_split(&split, &mut sink).expect("read");
    }
    sink
}

fn sample(n: usize) -> Vec<Tick> {
    let symbols = ["AAPL", "BRK.B", "SPY"].map(|s| Symbol::new(s).expect("symbol"));
    (0..n)
        .map(|i| Tick {
            symbol: symbols[i % 3].clone(),
            ts: 1_381_132_800_000_000_000 + (i as i64 / 3) * 1_000_000 + if i % 7 == 0 { 123_456 } else { 0 },
            price: Price(16_741_000_000 + i as i64 * 1_000_000),
            size: Size((i as i64 % 5 + 1) * 100_000_000 + if i % 4 == 0 { 5_000 } else { 0 }),
            seq: i as u64,
        })
        .collect()
}

#[test]
fn csv_and_parquet_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ticks = sample(5000);
    let csv = dir.path().join("t.csv");
    let parquet = dir.path().join("t.parquet");
    let mut w = CsvTickWriter::create(&csv).expect("create");
    ticks.iter().for_each(|t| w.write(t).expect("write"));
    w.finish().expect("finish");
    let mut w = ParquetTickWriter::create(&parquet).expect("create");
    ticks.iter().for_each(|t| w.write(t).expect("write"));
    w.finish().expect("finish");
    let from_parquet = read_all(&parquet, 1 << 30);
    assert_eq!(from_parquet.ticks, ticks);
    let from_csv = read_all(&csv, 1 << 30);
    assert!(from_csv.rejects.is_empty(), "{:?}", from_csv.rejects);
    let strip = |t: &Tick| (t.symbol.clone(), t.ts, t.price, t.size);
    assert_eq!(from_csv.ticks.iter().map(strip).collect::<Vec<_>>(), ticks.iter().map(strip).collect::<Vec<_>>());
    assert!(from_csv.ticks.windows(2).all(|w| w[0].seq < w[1].seq), "seq follows the line order");
}

#[test]
fn compressed_csv_reads_like_plain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "price,volume,symbol,timestamp,extra\n167.41,100,SPY,1381132800464,x\n167.42,50,SPY,2013-10-07T08:00:00.465Z,y\n";
    let zst = dir.path().join("t.csv.zst");
    std::fs::write(&zst, zstd::encode_all(text.as_bytes(), 3).expect("zstd")).expect("write");
    let gz = dir.path().join("t.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("gzip");
    std::fs::write(&gz, enc.finish().expect("gzip")).expect("write");
    for path in [&zst, &gz] {
        let got = read_all(path, 1 << 30);
        assert!(got.rejects.is_empty());
        assert_eq!(got.ticks.len(), 2);
        assert_eq!(got.ticks[1].ts, 1_381_132_800_465_000_000);
        assert_eq!(got.ticks[1].price, Price(16_742_000_000));
    }
}

#[test]
fn quoted_fields_and_crlf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("q.csv");
    std::fs::write(&path, "\"timestamp\",\"symbol\",\"price\",\"volume\",\"note\"\r\n1381132800464,\"SPY\",\"167.41\",100,\"a, \"\"quoted\"\" note\"\r\n").expect("write");
    let got = read_all(&path, 1 << 30);
    assert!(got.rejects.is_empty(), "{:?}", got.rejects);
    assert_eq!(got.ticks.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any way of cutting a CSV file reads every row once, with the right
    /// line numbers on rejects.
    #[test]
    fn any_split_size_reads_every_row_once(rows in 1usize..400, bad in prop::collection::btree_set(0usize..400, 0..20), split in 1u64..300) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.csv");
        let mut text = String::from("timestamp,symbol,price,volume\n");
        for i in 0..rows {
            if bad.contains(&i) {
                text.push_str(&format!("{},SPY,oops,1\n", 1_381_132_800_000i64 + i as i64));
            } else {
                text.push_str(&format!("{},SPY,{}.5,{}\n", 1_381_132_800_000i64 + i as i64, 100 + i, i + 1));
            }
        }
        std::fs::write(&path, &text).expect("write");
        let whole = read_all(&path, 1 << 30);
        let cut = read_all(&path, split);
        prop_assert_eq!(&cut.ticks, &whole.ticks);
        let bad_rows: Vec<usize> = bad.iter().copied().filter(|&i| i < rows).collect();
        prop_assert_eq!(cut.ticks.len(), rows - bad_rows.len());
        let mut lines: Vec<u64> = cut.rejects.iter().map(|r| r.position).collect();
        lines.sort();
        prop_assert_eq!(lines, bad_rows.iter().map(|&i| i as u64 + 2).collect::<Vec<_>>());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The cheap range of a CSV split holds every trade a full read of the
    /// split finds, in any order, quoted or not, among bad rows.
    #[test]
    fn a_csv_split_time_range_holds_its_trades(times in prop::collection::vec(0i64..1_000_000, 1..300), split in 1u64..400) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.csv");
        let mut text = String::from("symbol,timestamp,price,volume\n");
        for (i, t) in times.iter().enumerate() {
            let ts = 1_381_132_800_000 + t;
            match i % 5 {
                0 => text.push_str(&format!("\"SPY\",\"{ts}\",\"1.5\",\"2\"\n")),
                1 => text.push_str(&format!("SPY,{ts},0,2\n")),
                2 => text.push_str("SPY,not a time,1,2\n"),
                _ => text.push_str(&format!("SPY,{ts},1.5,2\r\n")),
            }
        }
        std::fs::write(&path, &text).expect("write");
        for split in plan_splits_sized(&path, split).expect("splits") {
            let mut trades = Collect::default();
            read_split(&split, &mut trades).expect("read");
            let range = time_range(&split).expect("range");
            if !trades.ticks.is_empty() {
                let (lo, hi) = range.expect("a split with trades has a range");
                prop_assert!(trades.ticks.iter().all(|t| lo <= t.ts && t.ts <= hi), "{:?} outside {:?}", trades.ticks, range);
            }
        }
    }
}

/// A Parquet row group's range comes from its statistics and is exact for
/// tickflow's files and for epoch milliseconds written by other tools.
#[test]
fn parquet_time_ranges_come_from_statistics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.parquet");
    let mut ticks = sample(3000);
    ticks.reverse();
    let mut w = ParquetTickWriter::create(&path).expect("create");
    ticks.iter().for_each(|t| w.write(t).expect("write"));
    w.finish().expect("finish");
    let splits = plan_splits(&path).expect("splits");
    assert_eq!(splits.len(), 1);
    let lo = ticks.iter().map(|t| t.ts).min();
    let hi = ticks.iter().map(|t| t.ts).max();
    assert_eq!(time_range(&splits[0]).expect("range"), lo.zip(hi));
    assert_eq!(super::parquet::row_group_time_range(&path, 0).expect("stats"), Some(lo.zip(hi)), "from statistics");
}

/// Files from other tools: epoch-millisecond integers, plain text symbols,
/// double prices, integer volumes; a missing price is a reject, not a panic.
/// Writes `path` as other tools write trades (pyarrow's defaults, one row
/// group): epoch-millisecond integers in a column named `timestamp`, text
/// symbols, double prices (nullable) and integer volumes.
fn write_foreign(path: &std::path::Path, timestamp: &str, columns: Vec<arrow::array::ArrayRef>) {
    use arrow::array::RecordBatch;
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new(timestamp, DataType::Int64, false),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("price", DataType::Float64, true),
        Field::new("volume", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let mut writer = ::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).expect("file"), schema, None)
        .expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

#[test]
fn parquet_written_by_other_tools() {
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("foreign.parquet");
    write_foreign(
        &path,
        "Timestamp",
        vec![
            Arc::new(Int64Array::from(vec![1_381_132_800_464, 1_381_132_800_465])),
            Arc::new(StringArray::from(vec!["SPY", "SPY"])),
            Arc::new(Float64Array::from(vec![Some(167.41), None])),
            Arc::new(Int64Array::from(vec![100, 200])),
        ],
    );
    let got = read_all(&path, 1 << 30);
    assert_eq!(got.ticks.len(), 1);
    assert_eq!(got.ticks[0].ts, 1_381_132_800_464 * 1_000_000);
    assert_eq!((got.ticks[0].price, got.ticks[0].size), (Price(16_741_000_000), Size(10_000_000_000)));
    assert_eq!(got.rejects.len(), 1);
    assert_eq!((got.rejects[0].position, got.rejects[0].reason.as_str()), (2, "price is missing"));
    let split = &plan_splits(&path).expect("splits")[0];
    let ms = 1_000_000;
    assert_eq!(time_range(split).expect("range"), Some((1_381_132_800_464 * ms, 1_381_132_800_465 * ms)));
}

/// A row group larger than a split (pyarrow writes 1M rows per group) is
/// read as slices of it: every row once, in order, each with the position
/// (and so the `seq`) it has in the file, a bad row in a later slice too.
#[test]
fn a_large_row_group_is_read_in_slices_that_keep_positions() {
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let rows = 300_000_usize;
    let bad = 290_000_usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.parquet");
    write_foreign(
        &path,
        "timestamp",
        vec![
            Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| 1_381_132_800_000 + i))),
            Arc::new(StringArray::from_iter_values((0..rows).map(|i| ["SPY", "QQQ"][i % 2]))),
            Arc::new(Float64Array::from_iter(
                (0..rows).map(|i| (i != bad).then_some((10_000 + i % 1000) as f64 / 100.0)),
            )),
            Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| 1 + i % 7))),
        ],
    );
    let splits = plan_splits(&path).expect("splits");
    assert_eq!(super::parquet::row_groups(&path).expect("groups").len(), 1, "one row group");
    assert_eq!(splits.len(), 2, "{splits:?}");
    let got = read_all(&path, 1 << 30);
    assert_eq!(got.ticks.len(), rows - 1);
    let expected_seq: Vec<u64> = (0..rows as u64).filter(|&i| i != bad as u64).collect();
    assert_eq!(got.ticks.iter().map(|t| t.seq).collect::<Vec<_>>(), expected_seq, "each row once, at its position");
    assert!(got.ticks.iter().all(|t| t.ts == 1_381_132_800_000_000_000 + t.seq as i64 * 1_000_000));
    assert_eq!(got.rejects.len(), 1);
    assert_eq!((got.rejects[0].position, got.rejects[0].reason.as_str()), (bad as u64 + 1, "price is missing"));
}

/// The fast conversion of a double gives what printing it and parsing the
/// decimal gives: the same units, or an error where that errs.
fn double_units_agree(f: f64) -> Result<(), TestCaseError> {
    let printed = crate::fixed::parse_scaled(f.to_string().as_bytes()).map_err(|e| format!("{f} {e}"));
    prop_assert_eq!(super::parquet::units_of_double(f), printed, "{}", f);
    Ok(())
}

proptest! {
    #[test]
    fn a_double_converts_as_its_printed_decimal(
        units in -10_000_000_000_000_i64..10_000_000_000_000,
        places in 0_u32..=10,
        bits in any::<u64>(),
    ) {
        // Decimals of up to 10 places (some with more than 8), as a writer's doubles would hold them.
        double_units_agree(units as f64 / 10f64.powi(places as i32))?;
        double_units_agree(f64::from_bits(bits))?;
    }
}

#[test]
fn doubles_at_the_edges_convert_as_printed() {
    for f in [0.0, -0.0, 1e-8, 5e-9, 0.1 + 0.2, 167.41, 45_035_995.99999999, 45_035_996.0, 9.999_999_999, 1e300] {
        double_units_agree(f).expect("agree");
    }
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(super::parquet::units_of_double(f).is_err(), "{f}");
    }
    assert!(crate::fixed::parse_scaled(b"9999999999999999999").is_err(), "19 digits: refused, no overflow");
}
