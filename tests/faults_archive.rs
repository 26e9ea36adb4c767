//! Issue 21, the fault suite: a truncated or corrupt archive file, Parquet
//! (what the archiver writes) and `.csv.zst` (what replays and imports
//! read). `tickflow batch` names the file and the error and publishes
//! nothing: not that file's day, and not the other days of the run either
//! (the boundary would move past a day left out). A day published before
//! keeps its old bars; once the file is restored, the next run publishes.

use crate::reference::{self, Trade};
use crate::support::{bar_rows, tickflow, tickflow_output};
use std::path::{Path, PathBuf};

const INTERVALS: [&str; 3] = ["1m", "1h", "1d"];

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

fn batch(archive: &Path, store: &str) -> std::process::Output {
    let archive = archive.to_str().expect("path");
    tickflow_output(&["batch", "--archive", archive, "--store", store, "--intervals", "1m,1h,1d", "--workers", "2"])
}

/// Every batch bar of the store, interval by interval.
fn batch_view(store: &str) -> Vec<Vec<String>> {
    INTERVALS.iter().map(|interval| bar_rows(store, interval, "batch")).collect()
}

/// Asserts that the run failed, naming `file` and saying `error`, and that the batch view is still `before`.
fn assert_refused(output: &std::process::Output, file: &Path, error: &str, store: &str, before: &[Vec<String>]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("batch said: {stderr}");
    assert!(!output.status.success(), "a run over {} fails:\n{stderr}", file.display());
    let named = format!("{}: ", file.canonicalize().expect("canonical path").display());
    assert!(stderr.contains(&named), "the error names {}:\n{stderr}", file.display());
    assert!(stderr.contains(error), "the error says {error:?}:\n{stderr}");
    assert!(stderr.contains("nothing was published"), "{stderr}");
    assert_eq!(batch_view(store), before, "nothing was published");
}

/// Overwrites 4 KiB in the middle of `file` with 0xff bytes.
fn corrupt(file: &Path) {
    let mut bytes = std::fs::read(file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle..middle + 4096].fill(0xff);
    std::fs::write(file, bytes).expect("write");
}

/// Cuts `file` to half its length.
fn truncate(file: &Path) {
    let bytes = std::fs::read(file).expect("read");
    std::fs::write(file, &bytes[..bytes.len() / 2]).expect("write");
}

#[test]
fn a_truncated_or_corrupt_parquet_file_is_named_and_nothing_is_published() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (clean, archive) = (dir.path().join("clean"), dir.path().join("archive"));
    let clean_out = clean.to_str().expect("path");
    tickflow(&["generate", "--out", clean_out, "--ticks", "30000", "--symbols", "8", "--days", "3"]);
    let part = |root: &Path, day: &str| root.join(format!("date={day}/part-00000.parquet"));
    let restore = |day: &str| {
        std::fs::create_dir_all(archive.join(format!("date={day}"))).expect("day directory");
        std::fs::copy(clean.join(format!("date={day}/_SEALED")), archive.join(format!("date={day}/_SEALED")))
            .expect("seal");
        std::fs::copy(part(&clean, day), part(&archive, day)).expect("copy");
    };
    let (oracle, store) = (sqlite(dir.path(), "clean.db"), sqlite(dir.path(), "archive.db"));
    assert!(batch(&clean, &oracle).status.success(), "the clean archive publishes");

    // Two days published; then the third arrives truncated.
    restore("2026-01-05");
    restore("2026-01-06");
    assert!(batch(&archive, &store).status.success());
    let published = batch_view(&store);
    restore("2026-01-07");
    truncate(&part(&archive, "2026-01-07"));
    assert_refused(&batch(&archive, &store), &part(&archive, "2026-01-07"), "Parquet error", &store, &published);

    // The third day whole, a published day's file corrupt: neither day changes.
    restore("2026-01-07");
    corrupt(&part(&archive, "2026-01-06"));
    assert_refused(&batch(&archive, &store), &part(&archive, "2026-01-06"), "Parquet", &store, &published);

    restore("2026-01-06");
    let repaired = batch(&archive, &store);
    let printed = String::from_utf8_lossy(&repaired.stdout);
    assert!(repaired.status.success() && printed.contains("2 day(s)"), "the next run publishes both days:\n{printed}");
    assert_eq!(batch_view(&store), batch_view(&oracle), "the view of the undamaged archive");
}

#[test]
fn a_truncated_or_corrupt_zst_csv_file_is_named_and_nothing_is_published() {
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = dir.path().join("generated");
    let out = generated.to_str().expect("path");
    tickflow(&["generate", "--out", out, "--ticks", "30000", "--symbols", "8", "--days", "2", "--format", "csv"]);
    // Explicit files, compressed as the zstd tool does (with the frame's checksum).
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).expect("archive");
    let mut csvs = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for day in ["2026-01-05", "2026-01-06"] {
        let csv = std::fs::read(generated.join(format!("date={day}/part-00000.csv"))).expect("csv");
        let mut encoder = zstd::Encoder::new(Vec::new(), 3).expect("encoder");
        encoder.include_checksum(true).expect("checksum");
        std::io::Write::write_all(&mut encoder, &csv).expect("compress");
        files.push(archive.join(format!("trades-{day}.csv.zst")));
        std::fs::write(files.last().expect("file"), encoder.finish().expect("compressed")).expect("write");
        csvs.push(String::from_utf8(csv).expect("utf-8"));
    }
    let pristine = std::fs::read(&files[1]).expect("read");
    let store = sqlite(dir.path(), "views.db");

    truncate(&files[1]);
    assert_refused(&batch(&archive, &store), &files[1], "incomplete frame", &store, &[vec![], vec![], vec![]]);
    std::fs::write(&files[1], &pristine).expect("restore");
    corrupt(&files[1]);
    assert_refused(&batch(&archive, &store), &files[1], "corruption", &store, &[vec![], vec![], vec![]]);

    std::fs::write(&files[1], &pristine).expect("restore");
    let repaired = batch(&archive, &store);
    assert!(repaired.status.success(), "{}", String::from_utf8_lossy(&repaired.stderr));
    let mut trades: Vec<Trade> = Vec::new();
    for (n, csv) in csvs.iter().enumerate() {
        let mut part = reference::read_csv(csv);
        part.iter_mut().for_each(|t| t.line += (n as u64) << 32);
        trades.extend(part);
    }
    let seconds = [60, 3600, 86_400];
    for ((label, seconds), actual) in INTERVALS.iter().zip(seconds).zip(batch_view(&store)) {
        assert_eq!(actual, reference::bars(&trades, seconds, label, "batch"), "{label} bars after the repair");
    }
}
