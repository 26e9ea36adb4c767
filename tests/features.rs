//! `tickflow features` end to end: batch bars of real trades exported and
//! read back with Arrow, checked against the naive oracle; reruns that are
//! byte-identical and write nothing; a republished day that rewrites only
//! its quarter; `--verify` catching a tampered file and a changed store; and
//! the same bytes from PostgreSQL as from SQLite.

use crate::features_naive::{assert_matches, features, read};
use crate::reference::{self, Trade};
use crate::support::process::{Service, http_get};
use crate::support::{postgres, tickflow, tickflow_output};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tickflow_shared::time::days_from_civil;

const HORIZONS: [usize; 3] = [1, 5, 20];

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("views.db").display())
}

fn batch(store: &str, archive: &Path, intervals: &str) -> String {
    tickflow(&["batch", "--archive", archive.to_str().expect("path"), "--store", store, "--intervals", intervals])
}

fn export(store: &str, interval: &str, out: &Path) -> String {
    let out = out.to_str().expect("path");
    tickflow(&["features", "--store", store, "--interval", interval, "--from", "2013-01-01", "--out", out])
}

fn verify(store: &str, out: &Path) -> std::process::Output {
    tickflow_output(&["features", "--store", store, "--verify", out.to_str().expect("path")])
}

/// Every file under `dir` with its bytes, by path relative to `dir`.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(path.strip_prefix(dir).expect("under dir").to_owned(), bytes);
            }
        }
    }
    out
}

fn real_archive() -> PathBuf {
    crate::support::shared_data().join("real")
}

fn quarter_file(out: &Path, interval: &str, year: i64, quarter: u32, name: &str) -> PathBuf {
    out.join(format!("interval={interval}/year={year}/quarter={quarter}/{name}"))
}

#[test]
fn real_bars_match_a_naive_recomputation_on_1h_and_1d() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_url(dir.path());
    batch(&store, &real_archive(), "1h,1d");
    let trades = reference::real_trades();
    for (interval, width_ms) in [("1h", 3_600_000), ("1d", 86_400_000)] {
        let out = dir.path().join(interval);
        export(&store, interval, &out);
        let actual = read(&quarter_file(&out, interval, 2013, 4, "part-0.parquet"));
        let expected = features(&trades, width_ms, &HORIZONS);
        assert_matches(&actual, &expected, interval);
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(quarter_file(&out, interval, 2013, 4, "_manifest.json")).expect("manifest"),
        )
        .expect("json");
        assert_eq!(manifest["file"]["rows"], expected.symbol.len());
        for column in manifest["columns"].as_array().expect("columns") {
            let name = column["name"].as_str().expect("name");
            let nulls = expected.floats.get(name).map_or_else(
                || expected.ints.get(name).map_or(0, |v| v.iter().filter(|x| x.is_none()).count()),
                |v| v.iter().filter(|x| x.is_none()).count(),
            );
            assert_eq!(column["nulls"], nulls, "{interval}: nulls of {name}");
        }
        let days = manifest["lineage"]["days"].as_array().expect("days");
        assert_eq!(days.len(), 2, "{interval}: both real days in the lineage");
        assert_eq!(days[0]["files"][0]["path"].as_str().map(|p| p.ends_with("trades-2013-10-07.csv.zst")), Some(true));
    }
}

#[test]
fn reruns_are_byte_identical_write_nothing_and_verify_catches_a_tampered_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_url(dir.path());
    batch(&store, &real_archive(), "1h");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(export(&store, "1h", &a).contains("1 of 1 quarter(s) written"));
    let data = quarter_file(&a, "1h", 2013, 4, "part-0.parquet");
    let modified = std::fs::metadata(&data).expect("data").modified().expect("mtime");
    let again = export(&store, "1h", &a);
    assert!(again.contains("Nothing changed"), "{again}");
    assert_eq!(std::fs::metadata(&data).expect("data").modified().expect("mtime"), modified, "not rewritten");
    export(&store, "1h", &b);
    assert_eq!(files(&a), files(&b), "two exports of the same bars are byte-identical");

    let passed = verify(&store, &a);
    assert!(passed.status.success(), "{}", String::from_utf8_lossy(&passed.stderr));
    let mut bytes = std::fs::read(&data).expect("data");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&data, bytes).expect("tamper");
    let failed = verify(&store, &a);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "a tampered file fails verification");
    assert!(stderr.contains(data.to_str().expect("path")), "names the file: {stderr}");
    assert!(stderr.contains("changed after the export"), "{stderr}");
}

/// `serve --features-dir` lists each exported quarter with the manifest the
/// export wrote beside it, lineage and all.
#[test]
fn serve_lists_the_exported_quarters_with_their_lineage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_url(dir.path());
    batch(&store, &real_archive(), "1h,1d");
    let out = dir.path().join("features");
    export(&store, "1h", &out);
    export(&store, "1d", &out);

    let port = crate::support::free_port();
    let args: Vec<String> = ["serve", "--store", &store, "--listen", &format!("127.0.0.1:{port}"), "--features-dir"]
        .into_iter()
        .map(String::from)
        .chain([out.display().to_string()])
        .collect();
    let mut serve = Service::tickflow("serve", &args, &[]);
    let addr = ([127, 0, 0, 1], port).into();
    let body = loop {
        match http_get(addr, "/api/v1/features/manifests") {
            Some((200, body)) => break body,
            _ => serve.assert_running(),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    serve.terminate();
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["configured"], true);
    let quarters = answer["quarters"].as_array().expect("quarters");
    let paths: Vec<&str> = quarters.iter().filter_map(|q| q["path"].as_str()).collect();
    assert_eq!(paths, ["interval=1d/year=2013/quarter=4", "interval=1h/year=2013/quarter=4"]);
    for quarter in quarters {
        let file = out.join(quarter["path"].as_str().expect("path")).join("_manifest.json");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("manifest")).expect("JSON");
        assert_eq!(quarter["manifest"], written, "{}", file.display());
        assert!(written["lineage"].is_object() && written["file"]["sha256"].is_string(), "{written}");
    }
}

/// Decimal text of units of 10^-8.
fn decimal(units: i64) -> String {
    format!("{}.{:08}", units / 100_000_000, units % 100_000_000)
}

/// The weekdays from `from` (days since the epoch) up to `to`.
fn weekdays(from: i64, to: i64) -> impl Iterator<Item = i64> {
    (from..to).filter(|d| !matches!((d + 4).rem_euclid(7), 0 | 6))
}

/// One archive file per quarter from 2013-Q3 to 2014-Q1: each weekday gets
/// 40 consecutive real trades of each symbol, moved to that day at their own
/// time of day. Returns the files, in quarter order.
fn quarterly_archive(dir: &Path, trades: &[Trade]) -> Vec<PathBuf> {
    let mut by_symbol: BTreeMap<&str, Vec<&Trade>> = BTreeMap::new();
    for t in trades {
        by_symbol.entry(&t.symbol).or_default().push(t);
    }
    let quarters = [((2013, 7), (2013, 10)), ((2013, 10), (2014, 1)), ((2014, 1), (2014, 4))];
    let mut paths = Vec::new();
    let mut k = 0;
    for ((y0, m0), (y1, m1)) in quarters {
        let mut rows = Vec::new();
        for day in weekdays(days_from_civil(y0, m0, 1), days_from_civil(y1, m1, 1)) {
            k += 1;
            for (symbol, list) in &by_symbol {
                let at = (k * 997) % (list.len() - 40);
                for t in &list[at..at + 40] {
                    let ts = day * 86_400_000 + t.ts_ms.rem_euclid(86_400_000);
                    rows.push((ts, symbol.to_string(), decimal(t.price), decimal(t.size)));
                }
            }
        }
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let path = dir.join(format!("{y0}-{m0:02}.csv"));
        let mut text = String::from("timestamp,symbol,price,volume\n");
        for (ts, symbol, price, size) in rows {
            text.push_str(&format!("{ts},{symbol},{price},{size}\n"));
        }
        std::fs::write(&path, text).expect("write archive");
        paths.push(path);
    }
    paths
}

#[test]
fn a_republished_day_rewrites_only_its_quarter_and_verify_sees_the_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).expect("archive");
    let paths = quarterly_archive(&archive, &reference::real_trades());
    let store = sqlite_url(dir.path());
    batch(&store, &archive, "1d");
    let out = dir.path().join("out");
    let first = export(&store, "1d", &out);
    assert!(first.contains("3 of 3 quarter(s) written"), "{first}");
    let before = files(&out);
    let snapshot = dir.path().join("snapshot");
    for (path, bytes) in &before {
        std::fs::create_dir_all(snapshot.join(path).parent().expect("dir")).expect("dir");
        std::fs::write(snapshot.join(path), bytes).expect("copy");
    }

    // One trade of 2013-11-15 (mid-quarter) ten times its size: that bar's
    // volume and VWAP change, its closes, highs and lows do not, so no
    // feature of another quarter can move.
    let day = days_from_civil(2013, 11, 15);
    let text = std::fs::read_to_string(&paths[1]).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let on_day = |line: &String| line.split(',').next().and_then(|t| t.parse::<i64>().ok()).map(|t| t / 86_400_000);
    let at = lines.iter().position(|line| on_day(line) == Some(day)).expect("a trade that day") + 7;
    let mut fields: Vec<String> = lines[at].split(',').map(str::to_owned).collect();
    fields[3] = format!("{}0{}", &fields[3][..fields[3].len() - 9], &fields[3][fields[3].len() - 9..]);
    lines[at] = fields.join(",");
    std::fs::write(&paths[1], lines.join("\n") + "\n").expect("rewrite");
    assert!(batch(&store, &archive, "1d").contains("Published batch run 2"), "the quarter's file is republished");

    let stale = verify(&store, &snapshot);
    let stderr = String::from_utf8_lossy(&stale.stderr);
    assert!(!stale.status.success(), "a changed store fails verification");
    assert!(stderr.contains("year=2013/quarter=4/part-0.parquet"), "{stderr}");
    assert!(!stderr.contains("quarter=3") && !stderr.contains("year=2014"), "only that quarter: {stderr}");

    let rerun = export(&store, "1d", &out);
    assert!(rerun.contains("1 of 3 quarter(s) written") && rerun.contains("quarter=4"), "{rerun}");
    let after = files(&out);
    let changed: Vec<&PathBuf> = after.keys().filter(|p| before.get(*p) != after.get(*p)).collect();
    assert_eq!(
        changed,
        [
            Path::new("interval=1d/year=2013/quarter=4/_manifest.json"),
            Path::new("interval=1d/year=2013/quarter=4/part-0.parquet")
        ],
        "only the republished day's quarter changed"
    );
    assert!(export(&store, "1d", &out).contains("Nothing changed"));
    assert!(verify(&store, &out).status.success());
}

#[test]
fn postgres_gives_the_same_bytes_as_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lite, pg) = (sqlite_url(dir.path()), postgres::database());
    let (a, b) = (dir.path().join("sqlite"), dir.path().join("postgres"));
    for (store, out) in [(&lite, &a), (&pg, &b)] {
        batch(store, &real_archive(), "1h");
        export(store, "1h", out);
    }
    let data = Path::new("interval=1h/year=2013/quarter=4/part-0.parquet");
    assert_eq!(files(&a)[data], files(&b)[data], "the same bars give the same file on both engines");
    let passed = verify(&pg, &b);
    assert!(passed.status.success(), "{}", String::from_utf8_lossy(&passed.stderr));
}
