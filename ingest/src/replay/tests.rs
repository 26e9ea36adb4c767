//! The replay against its definition: a stable sort of every file read whole.

use super::*;
use proptest::prelude::*;
use std::path::Path;
use tickflow_shared::codec::{Collect, plan_splits};
use tickflow_shared::time::{NANOS_PER_DAY, NANOS_PER_MILLI};

/// 2026-01-05, the simulator's first day.
const DAY: i64 = 20_458;

/// The definition: every file read whole, in path order, then a stable
/// sort by event time.
fn oracle(files: &[PathBuf]) -> (Vec<Tick>, Vec<Reject>) {
    let mut sink = Collect::default();
    for file in files {
        for split in plan_splits(file).unwrap() {
            read_split(&split, &mut sink).unwrap();
        }
    }
    sink.ticks.sort_by_key(|tick| tick.ts);
    (sink.ticks, sink.rejects)
}

fn replayed(paths: &[PathBuf], split_bytes: u64) -> (Vec<Tick>, Vec<Reject>) {
    let mut all = Chunk::default();
    for chunk in Replay::start_sized(paths, split_bytes, |chunk| chunk).unwrap() {
        let chunk = chunk.unwrap();
        assert!(chunk.ticks.len() <= CHUNK_TICKS);
        all.ticks.extend(chunk.ticks);
        all.rejects.extend(chunk.rejects);
    }
    (all.ticks, all.rejects)
}

/// A file's home and rows: `None` outside `date=` directories, else the
/// day (from `DAY`); rows as (day from `DAY`, milliseconds into it, symbol, valid).
type File = (Option<i64>, Vec<(i64, i64, usize, bool)>);

fn file() -> impl Strategy<Value = File> {
    let ms = prop_oneof![0i64..20, Just(86_399_999), 0i64..86_400_000];
    prop_oneof![Just(None), (0i64..3).prop_map(Some)].prop_flat_map(move |home| {
        let day = match home {
            Some(day) => Just(day).boxed(),
            None => (0i64..3).boxed(),
        };
        let row = (day, ms.clone(), 0usize..4, prop::bool::weighted(0.95));
        (Just(home), prop::collection::vec(row, 0..60))
    })
}

/// Writes the files (each sorted by time or not, as generated) and returns their paths.
fn write(dir: &Path, files: &[File]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for (i, (home, rows)) in files.iter().enumerate() {
        let parent = match home {
            Some(day) => dir.join(format!("date={}", tickflow_shared::time::format_day(DAY + day))),
            None => dir.join("loose"),
        };
        std::fs::create_dir_all(&parent).unwrap();
        let mut text = String::from("timestamp,symbol,price,volume\n");
        for &(day, ms, symbol, valid) in rows {
            let day = home.unwrap_or(day);
            let ts = (DAY + day) * NANOS_PER_DAY / NANOS_PER_MILLI + ms;
            let price = if valid { "12.5" } else { "-1" };
            text.push_str(&format!("{ts},{},{price},{}\n", ["AAPL", "MSFT", "SPY", "BAC"][symbol], i + 1));
        }
        let path = parent.join(format!("part-{i:03}.csv"));
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    paths.sort();
    paths
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The streamed order is the stable sort of everything, for files in
    /// and out of `date=` directories, in time order or not, cut into
    /// splits of any size; every reject comes out once.
    #[test]
    fn streams_the_stable_sort_of_everything(
        files in prop::collection::vec(file(), 0..6),
        sorted in prop::collection::vec(any::<bool>(), 6),
        split_bytes in prop_oneof![16u64..200, Just(8u64 << 20)],
    ) {
        let mut files = files;
        for (file, sorted) in files.iter_mut().zip(sorted) {
            if sorted {
                file.1.sort_by_key(|&(day, ms, _, _)| (file.0.unwrap_or(day), ms));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let paths = write(dir.path(), &files);
        let (want, mut want_rejects) = oracle(&paths);
        let (got, mut got_rejects) = replayed(&[dir.path().to_owned()], split_bytes);
        prop_assert_eq!(got, want);
        let key = |r: &Reject| (r.source.clone(), r.position);
        want_rejects.sort_by_key(key);
        got_rejects.sort_by_key(key);
        prop_assert_eq!(got_rejects, want_rejects);
    }
}

#[test]
fn a_missing_path_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let error = Replay::start(&[dir.path().join("nope")], |chunk| chunk).err().expect("an error");
    assert!(error.to_string().contains("no such file"), "{error}");
}

#[test]
fn dropping_the_replay_early_stops_its_threads() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<_> = (0..50_000).map(|i| (0, i, (i % 4) as usize, true)).collect();
    let paths = write(dir.path(), &[(Some(0), rows.clone()), (Some(1), rows)]);
    let mut replay = Replay::start_sized(&paths, 4096, |chunk| chunk).unwrap();
    assert_eq!(replay.next().unwrap().unwrap().ticks.len(), CHUNK_TICKS);
    drop(replay);
}
