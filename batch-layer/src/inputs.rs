//! Which archive files a batch run reads, and which days it recomputes.
//!
//! Discovery turns the paths a user names into data files: a file named
//! explicitly is complete; a `date=YYYY-MM-DD` partition directory counts only
//! once it holds the `_SEALED` marker. Planning compares what is on disk with
//! the manifest of earlier runs (path, size, modification time, days): a day
//! is *dirty* when a file that holds it appeared, changed or vanished, and
//! only dirty days are read and published again.

use crate::BatchError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tickflow_shared::codec::{SEALED_MARKER, data_format};
use tickflow_shared::store::FileManifest;
use tickflow_shared::time::{format_day, parse_day};

/// A data file found under the archive paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Canonical path: the key of the manifest.
    pub path: PathBuf,
    /// The day of its partition directory, or `None` for a file named explicitly.
    pub partition: Option<i64>,
    /// Size in bytes.
    pub bytes: u64,
    /// Modification time, nanoseconds since the epoch.
    pub modified_ns: i64,
}

impl InputFile {
    /// The manifest key.
    pub fn key(&self) -> String {
        self.path.display().to_string()
    }
}

/// What the archive paths hold.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// Data files, in path order.
    pub files: Vec<InputFile>,
    /// Partition directories skipped because they are not sealed.
    pub unsealed: Vec<PathBuf>,
    /// The canonical paths named, for telling vanished files from unnamed ones.
    pub roots: Vec<PathBuf>,
}

/// Finds the data files under `paths`.
pub fn discover(paths: &[PathBuf]) -> Result<Discovery, BatchError> {
    let mut found = Discovery::default();
    for path in paths {
        let root =
            std::fs::canonicalize(path).map_err(|e| BatchError::archive(path, format!("cannot be read ({e})")))?;
        if root.is_file() {
            if data_format(&root).is_none() {
                return Err(BatchError::archive(path, "is not a .csv, .csv.zst, .csv.gz or .parquet file".into()));
            }
            found.files.push(input(&root, None)?);
        } else if let Some(day) = partition_day(&root) {
            partition(&root, day, &mut found)?;
        } else {
            let mut partitions = Vec::new();
            for entry in list(&root)? {
                match partition_day(&entry) {
                    Some(day) if entry.is_dir() => partitions.push((entry, day)),
                    _ => {}
                }
            }
            if partitions.is_empty() {
                explicit_tree(&root, &mut found)?;
            }
            for (dir, day) in partitions {
                partition(&dir, day, &mut found)?;
            }
        }
        found.roots.push(root);
    }
    found.files.sort_by(|a, b| a.path.cmp(&b.path));
    found.files.dedup_by(|a, b| a.path == b.path);
    Ok(found)
}

fn partition_day(dir: &Path) -> Option<i64> {
    dir.file_name()?.to_str()?.strip_prefix("date=").and_then(parse_day)
}

fn partition(dir: &Path, day: i64, found: &mut Discovery) -> Result<(), BatchError> {
    if !dir.join(SEALED_MARKER).exists() {
        found.unsealed.push(dir.to_owned());
        return Ok(());
    }
    for entry in list(dir)? {
        if entry.is_file() && data_format(&entry).is_some() {
            found.files.push(input(&entry, Some(day))?);
        }
    }
    Ok(())
}

fn explicit_tree(dir: &Path, found: &mut Discovery) -> Result<(), BatchError> {
    for entry in list(dir)? {
        if entry.is_dir() {
            explicit_tree(&entry, found)?;
        } else if data_format(&entry).is_some() {
            found.files.push(input(&entry, None)?);
        }
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, BatchError> {
    let entries = std::fs::read_dir(dir).map_err(|e| BatchError::archive(dir, format!("cannot be listed ({e})")))?;
    let mut paths = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BatchError::archive(dir, format!("cannot be listed ({e})")))?;
    paths.sort();
    Ok(paths)
}

fn input(path: &Path, partition: Option<i64>) -> Result<InputFile, BatchError> {
    let meta = std::fs::metadata(path).map_err(|e| BatchError::archive(path, format!("cannot be read ({e})")))?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Ok(InputFile { path: path.to_owned(), partition, bytes: meta.len(), modified_ns })
}

/// Which trades of a file a run takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DayFilter {
    /// Every trade (a new or changed file named explicitly); its days are learned.
    All,
    /// Every trade, which must lie on this day (a sealed partition).
    Partition(i64),
    /// Only trades of these days (an unchanged file that shares a dirty day).
    Days(Arc<BTreeSet<i64>>),
}

/// One file to read and the trades to take from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileTask {
    /// Index into [`Discovery::files`].
    pub file: usize,
    /// Which trades.
    pub filter: DayFilter,
}

/// What one pass reads and replaces.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Files to read.
    pub tasks: Vec<FileTask>,
    /// Days to replace, as far as known before reading.
    pub dirty: BTreeSet<i64>,
    /// Indices of files that are new or changed since the manifest.
    pub changed: Vec<usize>,
    /// Manifest entries whose files are gone.
    pub forget: Vec<String>,
}

/// Plans a pass: `extra` are days found dirty by an earlier pass.
pub fn plan(found: &Discovery, manifest: &[FileManifest], extra: &BTreeSet<i64>) -> Plan {
    let known: BTreeMap<&str, &FileManifest> = manifest.iter().map(|m| (m.path.as_str(), m)).collect();
    let mut plan = Plan { dirty: extra.clone(), ..Plan::default() };
    for (i, file) in found.files.iter().enumerate() {
        let key = file.key();
        match known.get(key.as_str()) {
            Some(m) if m.bytes == file.bytes && m.modified_ns == file.modified_ns => {}
            earlier => {
                plan.changed.push(i);
                plan.dirty.extend(earlier.map(|m| m.days.clone()).unwrap_or_default());
                plan.dirty.extend(file.partition);
            }
        }
    }
    for m in manifest {
        let path = Path::new(&m.path);
        if found.roots.iter().any(|r| path.starts_with(r)) && !path.exists() {
            plan.forget.push(m.path.clone());
            plan.dirty.extend(&m.days);
        }
    }
    let dirty = Arc::new(plan.dirty.clone());
    for (i, file) in found.files.iter().enumerate() {
        let filter = match (file.partition, plan.changed.contains(&i)) {
            (Some(day), _) if dirty.contains(&day) => Some(DayFilter::Partition(day)),
            (Some(_), _) => None,
            (None, true) => Some(DayFilter::All),
            (None, false) => {
                let days = known.get(file.key().as_str()).map(|m| m.days.as_slice()).unwrap_or_default();
                days.iter().any(|d| dirty.contains(d)).then(|| DayFilter::Days(dirty.clone()))
            }
        };
        plan.tasks.extend(filter.map(|filter| FileTask { file: i, filter }));
    }
    plan
}

impl Plan {
    /// Whether days first seen while reading (`new`) are held by files this
    /// pass did not read for them, so that another pass is needed.
    pub fn misses(&self, found: &Discovery, manifest: &[FileManifest], new: &BTreeSet<i64>) -> bool {
        let known: BTreeMap<&str, &FileManifest> = manifest.iter().map(|m| (m.path.as_str(), m)).collect();
        found.files.iter().enumerate().any(|(i, file)| {
            if self.changed.contains(&i) && file.partition.is_none() {
                return false;
            }
            let days = match file.partition {
                Some(day) => vec![day],
                None => known.get(file.key().as_str()).map(|m| m.days.clone()).unwrap_or_default(),
            };
            days.iter().any(|d| new.contains(d))
        })
    }
}

impl Plan {
    /// This plan cut into plans of consecutive days, oldest first, each
    /// holding days until their files pass `budget` bytes (at least one day),
    /// to be computed and published one after another. `None` when the days
    /// cannot be told apart before reading: a file named explicitly (its days
    /// are learned by reading it, or it may hold several), or a vanished file
    /// whose days fall in two groups.
    pub fn by_days(&self, found: &Discovery, manifest: &[FileManifest], budget: u64) -> Option<Vec<Plan>> {
        let mut bytes: BTreeMap<i64, u64> = self.dirty.iter().map(|&d| (d, 0)).collect();
        for task in &self.tasks {
            let DayFilter::Partition(day) = task.filter else { return None };
            *bytes.get_mut(&day)? += found.files[task.file].bytes;
        }
        let (mut groups, mut group_of, mut filled) = (Vec::<Plan>::new(), BTreeMap::new(), budget);
        for (day, day_bytes) in bytes {
            if filled >= budget {
                groups.push(Plan::default());
                filled = 0;
            }
            filled += day_bytes;
            group_of.insert(day, groups.len() - 1);
            groups.last_mut()?.dirty.insert(day);
        }
        for task in &self.tasks {
            let DayFilter::Partition(day) = task.filter else { return None };
            groups[*group_of.get(&day)?].tasks.push(task.clone());
        }
        for &i in &self.changed {
            groups[*group_of.get(&found.files[i].partition?)?].changed.push(i);
        }
        let known: BTreeMap<&str, &FileManifest> = manifest.iter().map(|m| (m.path.as_str(), m)).collect();
        for path in &self.forget {
            let days = known.get(path.as_str()).map(|m| m.days.as_slice()).unwrap_or_default();
            let of: BTreeSet<usize> = days.iter().map(|d| group_of.get(d).copied()).collect::<Option<_>>()?;
            let group = match of.len() {
                0 => 0,
                1 => of.first().copied()?,
                _ => return None,
            };
            groups.get_mut(group)?.forget.push(path.clone());
        }
        Some(groups)
    }
}

/// `YYYY-MM-DD` names of days, for messages.
pub fn day_names(days: &BTreeSet<i64>) -> String {
    days.iter().map(|d| format_day(*d)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(day: Option<i64>, bytes: u64) -> InputFile {
        let name = format!("/archive/{}/part-{bytes}.csv", day.map_or_else(|| "loose".to_owned(), format_day));
        InputFile { path: PathBuf::from(name), partition: day, bytes, modified_ns: 1 }
    }

    fn found(files: Vec<InputFile>) -> Discovery {
        Discovery { files, unsealed: Vec::new(), roots: vec![PathBuf::from("/archive")] }
    }

    #[test]
    fn partitioned_days_are_grouped_oldest_first_until_the_budget() {
        let found =
            found(vec![file(Some(1), 60), file(Some(1), 50), file(Some(2), 30), file(Some(3), 10), file(Some(4), 200)]);
        let plan = plan(&found, &[], &BTreeSet::new());
        let groups = plan.by_days(&found, &[], 100).expect("partitioned");
        let days: Vec<Vec<i64>> = groups.iter().map(|g| g.dirty.iter().copied().collect()).collect();
        assert_eq!(days, [vec![1], vec![2, 3, 4]], "a day over the budget stands alone; small days share a group");
        let files: Vec<Vec<usize>> = groups.iter().map(|g| g.tasks.iter().map(|t| t.file).collect()).collect();
        assert_eq!(files, [vec![0, 1], vec![2, 3, 4]]);
        assert_eq!(groups.iter().map(|g| g.changed.len()).sum::<usize>(), 5, "every new file is recorded once");
        let all = plan.by_days(&found, &[], u64::MAX).expect("partitioned");
        assert_eq!(all.len(), 1, "small archives are published in one transaction");
    }

    #[test]
    fn files_named_explicitly_and_vanished_files_of_two_groups_are_not_split() {
        let loose = found(vec![file(Some(1), 10), file(None, 10)]);
        assert!(plan(&loose, &[], &BTreeSet::new()).by_days(&loose, &[], 1).is_none(), "its days are unknown");
        let found = found(vec![file(Some(1), 10), file(Some(2), 10)]);
        let gone = FileManifest { path: "/archive/gone.csv".into(), bytes: 1, modified_ns: 1, days: vec![1, 2] };
        let manifest = [gone];
        let plan = plan(&found, &manifest, &BTreeSet::new());
        assert_eq!(plan.forget, ["/archive/gone.csv"]);
        assert!(plan.by_days(&found, &manifest, 1).is_none(), "its two days are replaced together");
        assert_eq!(plan.by_days(&found, &manifest, 100).expect("one group")[0].forget, ["/archive/gone.csv"]);
    }
}
