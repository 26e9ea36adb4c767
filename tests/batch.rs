//! The batch layer end to end through the CLI: `tickflow batch` then
//! `tickflow bars`, checked against the naive reference.

use crate::reference::{self, Trade};
use crate::support::{bar_rows, postgres, shared_data, tickflow};
use std::path::Path;

const INTERVALS: [(&str, i64); 4] = [("1s", 1), ("1m", 60), ("1h", 3600), ("1d", 86_400)];

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("views.db").display())
}

fn assert_bars_match(store: &str, trades: &[Trade], view: &str) {
    for (label, seconds) in INTERVALS {
        let expected = reference::bars(trades, seconds, label, "batch");
        let actual = bar_rows(store, label, view);
        if let Some(i) = (0..expected.len().min(actual.len())).find(|&i| expected[i] != actual[i]) {
            panic!("{label} bar {i} differs:\n  expected {}\n  actual   {}", expected[i], actual[i]);
        }
        assert_eq!(actual.len(), expected.len(), "{label}: number of bars");
    }
}

fn real_data_gives_reference_bars(store: &str) {
    let real = shared_data().join("real");
    let out =
        tickflow(&["batch", "--archive", real.to_str().expect("path"), "--store", store, "--intervals", "1s,1m,1h,1d"]);
    assert!(out.contains("1042557 trades"), "{out}");
    let trades = reference::real_trades();
    assert_eq!(trades.len(), 1_042_557);
    assert_bars_match(store, &trades, "batch");
    let merged = bar_rows(store, "1d", "merged");
    assert_eq!(
        merged,
        reference::bars(&trades, 86_400, "1d", "batch"),
        "merged view before any speed bar is the batch view"
    );
}

#[test]
fn real_data_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    real_data_gives_reference_bars(&sqlite_url(dir.path()));
}

#[test]
fn real_data_on_postgres() {
    real_data_gives_reference_bars(&postgres::database());
}

/// Reads every generated CSV under `archive` with the reference's own parser.
fn generated_trades(archive: &Path) -> Vec<Trade> {
    let mut files = Vec::new();
    for day in std::fs::read_dir(archive).expect("archive") {
        let day = day.expect("entry").path();
        for file in std::fs::read_dir(&day).expect("day") {
            let file = file.expect("entry").path();
            if file.extension().is_some_and(|e| e == "csv") {
                files.push(file);
            }
        }
    }
    files.sort();
    let mut trades = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let mut part = reference::read_csv(&std::fs::read_to_string(file).expect("read"));
        part.iter_mut().for_each(|t| t.line += (n as u64) << 32);
        trades.extend(part);
    }
    trades
}

#[test]
fn disordered_simulation_with_1_2_and_4_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generate = |format: &str| {
        let out = dir.path().join(format);
        let out_str = out.to_str().expect("path").to_owned();
        tickflow(&[
            "generate",
            "--out",
            &out_str,
            "--ticks",
            "150000",
            "--symbols",
            "40",
            "--seed",
            "11",
            "--days",
            "2",
            "--disorder-ms",
            "1500",
            "--format",
            format,
        ]);
        out
    };
    let (csv, parquet) = (generate("csv"), generate("parquet"));
    let trades = generated_trades(&csv);
    assert_eq!(trades.len(), 150_000);
    assert!(trades.windows(2).any(|w| w[1].ts_ms < w[0].ts_ms), "the simulation has disorder");
    for (archive, format) in [(&csv, "csv"), (&parquet, "parquet")] {
        for workers in ["1", "2", "4"] {
            let store = format!("sqlite://{}", dir.path().join(format!("{format}-{workers}.db")).display());
            tickflow(&[
                "batch",
                "--archive",
                archive.to_str().expect("path"),
                "--store",
                &store,
                "--workers",
                workers,
                "--intervals",
                "1s,1m,1h,1d",
            ]);
            assert_bars_match(&store, &trades, "batch");
        }
    }
}

/// Writes two trade files into `files`: two good rows and seven rows the
/// batch layer must reject.
fn write_broken_rows(files: &Path) {
    std::fs::create_dir(files).expect("mkdir");
    std::fs::write(
        files.join("mixed.csv"),
        "timestamp,symbol,price,volume,exchange\n\
         1381132800464,SPY,167.41,100,P\n\
         1381132800465,SPY,1.2.3,100,P\n\
         1381132800466,SPY,-5,100,P\n\
         1381132800467,SPY,167.40\n\
         yesterday,SPY,167.40,100,P\n\
         2013-10-07T08:00:01Z,SPY,167.42,200,P\n\
         1381132800469,BAD SYMBOL,1,1,P\n\
         1381132800470,SPY,167.43,0,P\n",
    )
    .expect("write");
    std::fs::write(files.join("wrong-header.csv"), "time,sym,px,qty\n1381132800464,SPY,167.41,100\n").expect("write");
}

#[test]
fn broken_rows_are_rejected_with_reasons_and_good_rows_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("in");
    write_broken_rows(&files);
    let store = sqlite_url(dir.path());
    let output =
        crate::support::tickflow_output(&["batch", "--archive", files.to_str().expect("path"), "--store", &store]);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("2 trades"), "{stdout}");
    assert!(stdout.contains("7 rejected rows"), "{stdout}");
    let expected = [
        ("mixed.csv:3:", "price \"1.2.3\" is not a decimal number"),
        ("mixed.csv:4:", "price must be positive"),
        ("mixed.csv:5:", "row has 3 fields but the header has 5"),
        ("mixed.csv:6:", "timestamp \"yesterday\" is neither integer epoch milliseconds nor RFC 3339"),
        ("mixed.csv:8:", "symbol \"BAD SYMBOL\" must be 1 to 32 characters"),
        ("mixed.csv:9:", "volume must be positive"),
        ("wrong-header.csv:1:", "header lacks column `timestamp` (found: time, sym, px, qty)"),
    ];
    for (place, reason) in expected {
        assert!(
            stderr.lines().any(|l| l.contains(place) && l.contains(reason)),
            "no reject {place} {reason} in:\n{stderr}"
        );
    }
    let bars = bar_rows(&store, "1m", "batch");
    assert_eq!(bars, ["SPY,1m,2013-10-07T08:00:00Z,167.41,167.42,167.41,167.42,300,167.41666667,2,batch"]);
}

/// Retention runs after every batch run, with its settings from a nested
/// table of the config file, and its summary line says what it dropped.
#[test]
fn retention_after_a_run_drops_old_rejects_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("in");
    write_broken_rows(&files);
    let store = sqlite_url(dir.path());
    let archive = files.to_str().expect("path");
    let first = tickflow(&["batch", "--archive", archive, "--store", &store]);
    assert!(first.contains("7 rejected rows") && !first.contains("Retention"), "{first}");

    let config = dir.path().join("tickflow.toml");
    std::fs::write(&config, "[batch.retention]\nrejects = \"1ms\"\n").expect("config");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let batch = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow"))
            .args(["batch", "--archive", archive, "--store", &store])
            .env("TICKFLOW_CONFIG", &config)
            .output()
            .expect("tickflow runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let second = batch();
    assert!(second.contains("Nothing to publish"), "{second}");
    assert!(second.contains("0 late trade(s), 7 rejected row(s)."), "{second}");
    let third = batch();
    assert!(!third.contains("Retention"), "nothing left to drop: {third}");
    assert_eq!(bar_rows(&store, "1m", "batch").len(), 1, "retention leaves the batch view alone");
}

#[test]
fn reruns_recompute_only_changed_days_and_only_sealed_days() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let archive_str = archive.to_str().expect("path").to_owned();
    tickflow(&[
        "generate",
        "--out",
        &archive_str,
        "--ticks",
        "20000",
        "--symbols",
        "5",
        "--seed",
        "5",
        "--days",
        "2",
        "--format",
        "csv",
    ]);
    let store = sqlite_url(dir.path());
    let batch = || tickflow(&["batch", "--archive", &archive_str, "--store", &store, "--intervals", "1s,1m,1h,1d"]);
    let first = batch();
    assert!(first.contains("Published batch run 1: 2 day(s)"), "{first}");
    assert!(batch().contains("Nothing to publish"), "a rerun with no new files publishes nothing");

    let mut days: Vec<_> = std::fs::read_dir(&archive).expect("archive").map(|e| e.expect("entry").path()).collect();
    days.sort();
    let first_day = &days[0];
    let symbol = generated_trades(&archive)[0].symbol.clone();
    let late: String = (0..3).map(|i| format!("{},{symbol},1.5,7\n", 1_767_621_600_000i64 + i)).collect();
    let late = format!("timestamp,symbol,price,volume\n{late}");
    std::fs::write(first_day.join("late-00000.csv"), late).expect("late file");
    let second = batch();
    assert!(
        second.contains("Published batch run 2: 1 day(s)"),
        "only the day with the late file is recomputed: {second}"
    );
    assert_bars_match(&store, &generated_trades(&archive), "batch");

    let open_day = archive.join("date=2026-01-09");
    std::fs::create_dir(&open_day).expect("mkdir");
    std::fs::write(open_day.join("part-00000.csv"), "timestamp,symbol,price,volume\n1767967200000,ZZZ,1,1\n")
        .expect("write");
    let output = crate::support::tickflow_output(&["batch", "--archive", &archive_str, "--store", &store]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("not sealed yet"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Nothing to publish"));
    let boundary_day =
        bar_rows(&store, "1d", "batch").last().expect("bars").split(',').nth(2).expect("start").to_owned();
    assert_eq!(boundary_day, "2026-01-06T00:00:00Z", "the unsealed day is not published");
}

#[test]
fn a_new_file_sharing_a_day_with_an_unchanged_file_recomputes_that_day_from_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("files");
    std::fs::create_dir(&files).expect("mkdir");
    let header = "timestamp,symbol,price,volume\n";
    std::fs::write(
        files.join("a.csv"),
        format!("{header}1381132800000,SPY,10,1\n1381136400000,SPY,11,2\n1381219200000,SPY,12,3\n"),
    )
    .expect("write");
    let store = sqlite_url(dir.path());
    let files_str = files.to_str().expect("path").to_owned();
    let first = tickflow(&["batch", "--archive", &files_str, "--store", &store, "--intervals", "1s,1m,1h,1d"]);
    assert!(first.contains("2 day(s), 3 trades"), "{first}");
    std::fs::write(files.join("b.csv"), format!("{header}1381132860000,SPY,9,4\n1381140000000,IBM,180,5\n"))
        .expect("write");
    let second = tickflow(&["batch", "--archive", &files_str, "--store", &store, "--intervals", "1s,1m,1h,1d"]);
    assert!(second.contains("1 day(s), 4 trades"), "only 2013-10-07 is replaced, from a.csv and b.csv: {second}");
    let mut trades = reference::read_csv(&std::fs::read_to_string(files.join("a.csv")).expect("a"));
    let mut b = reference::read_csv(&std::fs::read_to_string(files.join("b.csv")).expect("b"));
    b.iter_mut().for_each(|t| t.line += 1 << 32);
    trades.extend(b);
    assert_bars_match(&store, &trades, "batch");
}
