//! What a replay reads: every split of the input, grouped for the scan of
//! their time ranges (files outside `date=` directories first, then one
//! group per day), and the scan itself.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use tickflow_shared::codec::{CodecError, Split, TimeRange, data_format, plan_splits_sized, time_range};
use tickflow_shared::time::{NANOS_PER_DAY, parse_day};

/// A split and where it sits in the order of ties.
pub(super) struct Part {
    pub split: Split,
    /// The file's index in path order.
    pub file: u32,
    /// The split's index within its file.
    pub index: u32,
}

/// Files scanned together: those outside `date=` directories, or one day's.
pub(super) struct Group {
    /// No trade of the group is earlier (before its scan).
    pub start: i64,
    /// Indexes into [`Plan::parts`].
    pub parts: Vec<usize>,
}

/// Every split of the input, grouped for scanning.
pub(super) struct Plan {
    pub parts: Vec<Part>,
    /// In scan order: files outside `date=` directories first, then days ascending.
    pub groups: Vec<Group>,
}

impl Plan {
    /// Plans every data file under `paths`, plain CSV cut into splits of about `csv_split_bytes`.
    pub fn new(paths: &[PathBuf], csv_split_bytes: u64) -> Result<Self, CodecError> {
        let mut files = Vec::new();
        for path in paths {
            collect_files(path, &mut files)?;
        }
        let mut parts = Vec::new();
        let mut loose = Group { start: i64::MIN, parts: Vec::new() };
        let mut days: std::collections::BTreeMap<i64, Vec<usize>> = std::collections::BTreeMap::new();
        for (file, path) in files.iter().enumerate() {
            let group = match day_of_dir(path) {
                Some(day) => days.entry(day).or_default(),
                None => &mut loose.parts,
            };
            for (index, split) in plan_splits_sized(path, csv_split_bytes)?.into_iter().enumerate() {
                group.push(parts.len());
                parts.push(Part { split, file: file as u32, index: index as u32 });
            }
        }
        let mut groups = vec![loose];
        groups.extend(days.into_iter().map(|(day, parts)| Group { start: day.saturating_mul(NANOS_PER_DAY), parts }));
        groups.retain(|group| !group.parts.is_empty());
        Ok(Self { parts, groups })
    }
}

/// The day of a file in a `date=YYYY-MM-DD` directory.
fn day_of_dir(path: &Path) -> Option<i64> {
    parse_day(path.parent()?.file_name()?.to_str()?.strip_prefix("date=")?)
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

/// Scans the groups in order, each on all cores, and sends each group's
/// ranges (in the group's order of parts) as soon as it is done.
pub(super) fn scan(plan: &Plan, stop: &AtomicBool, ranges: &SyncSender<Vec<Result<TimeRange, CodecError>>>) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for group in &plan.groups {
        let next = AtomicUsize::new(0);
        let scanned = std::sync::Mutex::new((0..group.parts.len()).map(|_| Ok(None)).collect::<Vec<_>>());
        std::thread::scope(|scope| {
            for _ in 0..threads.min(group.parts.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= group.parts.len() || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let result = time_range(&plan.parts[group.parts[i]].split);
                        if let Ok(mut scanned) = scanned.lock() {
                            scanned[i] = result;
                        }
                    }
                });
            }
        });
        let Ok(scanned) = scanned.into_inner() else { return };
        if ranges.send(scanned).is_err() || stop.load(Ordering::Relaxed) {
            return;
        }
    }
}
