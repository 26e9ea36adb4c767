//! Archive files as trades in event-time order, paced like the market was.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tickflow_shared::Tick;
use tickflow_shared::codec::{CodecError, Collect, Reject, data_format, plan_splits, read_split};

/// Reads every data file under `paths` (files, or directories searched
/// recursively) and returns their valid trades ordered by event time; trades
/// that share a timestamp keep their order in the files (files in path order).
pub fn read_in_event_order(paths: &[PathBuf]) -> Result<(Vec<Tick>, Vec<Reject>), CodecError> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files)?;
    }
    let mut sink = Collect::default();
    for file in &files {
        for split in plan_splits(file)? {
            read_split(&split, &mut sink)?;
        }
    }
    sink.ticks.sort_by_key(|tick| tick.ts);
    Ok((sink.ticks, sink.rejects))
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), CodecError> {
    let io = |e| CodecError::Io { path: path.display().to_string(), source: e };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path).map_err(io)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for entry in entries {
            collect_files(&entry, files)?;
        }
        Ok(())
    } else if data_format(path).is_some() {
        files.push(path.to_owned());
        Ok(())
    } else if path.exists() {
        Ok(())
    } else {
        Err(io(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory")))
    }
}

/// Paces a replay: at `speed` 1 trades leave as far apart as their event
/// times; at 10, ten times faster; at 0, as fast as possible.
pub struct Pacer {
    speed: f64,
    started: Instant,
    first_ts: Option<i64>,
}

impl Pacer {
    /// A pacer starting now.
    pub fn new(speed: f64) -> Self {
        Self { speed, started: Instant::now(), first_ts: None }
    }

    /// Sleeps until the trade at event time `ts` is due.
    pub fn wait(&mut self, ts: i64) {
        if self.speed <= 0.0 {
            return;
        }
        let first = *self.first_ts.get_or_insert(ts);
        let due = Duration::from_secs_f64((ts - first).max(0) as f64 / 1e9 / self.speed);
        let elapsed = self.started.elapsed();
        if due > elapsed + Duration::from_millis(1) {
            std::thread::sleep(due - elapsed);
        }
    }
}
