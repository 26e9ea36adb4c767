//! `tickflow demo` from an empty data directory: bars of both views within
//! 30 s, split at the boundary; a clean stop on SIGTERM that leaves the live
//! trades in the archive; a rerun that keeps what the first run wrote.

use crate::support::demo::Demo;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tickflow_shared::time::parse_timestamp;

fn ns(text: &Value) -> i64 {
    let text = text.as_str().unwrap_or_else(|| panic!("{text} is not a timestamp"));
    parse_timestamp(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Every batch bar starts before the boundary, every speed bar at or after
/// it, in order, none twice, and both views are there.
fn assert_split_at_boundary(response: &Value) {
    let boundary = ns(&response["boundary"]);
    let bars = response["bars"].as_array().expect("bars");
    let starts: Vec<i64> = bars.iter().map(|b| ns(&b["start"])).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "bars in order, none twice: {starts:?}");
    let mut views = (0, 0);
    for (bar, start) in bars.iter().zip(&starts) {
        match bar["view"].as_str() {
            Some("batch") => {
                assert!(*start < boundary, "batch bar at or after the boundary: {bar}");
                views.0 += 1;
            }
            Some("speed") => {
                assert!(*start >= boundary, "speed bar before the boundary: {bar}");
                views.1 += 1;
            }
            _ => panic!("bar without a view: {bar}"),
        }
    }
    assert!(views.0 > 0 && views.1 > 0, "bars of both views: {views:?}");
}

/// The archive's day directories: `(sealed, part files)` by name.
fn archive_days(archive: &Path) -> Vec<(String, bool, Vec<String>)> {
    let mut days: Vec<_> = std::fs::read_dir(archive)
        .expect("archive directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("date=")))
        .map(|dir| {
            let mut parts: Vec<String> = std::fs::read_dir(&dir)
                .expect("day directory")
                .map(|e| e.expect("entry").file_name().into_string().expect("name"))
                .filter(|n| n.starts_with("part-") && n.ends_with(".parquet"))
                .collect();
            parts.sort();
            let name = dir.file_name().and_then(|n| n.to_str()).expect("name").to_owned();
            (name, dir.join("_SEALED").exists(), parts)
        })
        .collect();
    days.sort();
    days
}

fn modified(path: PathBuf) -> SystemTime {
    std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn demo_serves_both_views_stops_cleanly_and_reruns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let archive = data.join("archive");

    let mut demo = Demo::start(&data, None);
    assert_split_at_boundary(&demo.both_views("AAPL", "1m", Duration::from_secs(30)).await);
    let symbols = demo.get("/api/v1/symbols").await.expect("symbols");
    assert!(symbols["symbols"].as_array().is_some_and(|s| s.len() == 8), "{symbols}");
    let log = demo.log();
    let status = demo.stop();
    assert!(status.success(), "exit status {status} after SIGTERM:\n{log}");

    // The hour of history is one sealed day; the live trades were written at the stop.
    let first = archive_days(&archive);
    let history: Vec<_> = first.iter().filter(|(_, _, parts)| parts == &["part-00000.parquet"]).collect();
    assert!(history.len() == 1 && history[0].1, "one sealed day of history: {first:?}");
    let live: Vec<&String> =
        first.iter().flat_map(|(_, _, parts)| parts).filter(|p| p.matches('-').count() == 2).collect();
    assert!(!live.is_empty(), "live trades archived as part-<partition>-<offset>.parquet: {first:?}");
    let history_file = archive.join(&history[0].0).join("part-00000.parquet");
    let written = modified(history_file.clone());

    // A rerun keeps the history and the first run's files, and adds its own.
    let mut demo = Demo::start(&data, None);
    assert_split_at_boundary(&demo.both_views("AAPL", "1m", Duration::from_secs(30)).await);
    let log = demo.log();
    assert!(log.contains("is in the archive already"), "{log}");
    let status = demo.stop();
    assert!(status.success(), "exit status {status} after SIGTERM:\n{log}");
    assert_eq!(modified(history_file), written, "the history was not rewritten");
    let second = archive_days(&archive);
    let kept: Vec<&String> = second.iter().flat_map(|(_, _, parts)| parts).collect();
    assert!(live.iter().all(|p| kept.contains(p)), "first run's files kept: {first:?} → {second:?}");
    assert!(
        kept.len() > first.iter().map(|(_, _, parts)| parts.len()).sum::<usize>(),
        "the rerun archived too: {second:?}"
    );
}
