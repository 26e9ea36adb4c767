//! The files of one roll: a Parquet file per (partition, day) plus a rejects
//! file per partition, written under hidden names and made visible together.
//!
//! A file's name records the first Kafka offset it holds:
//! `date=YYYY-MM-DD/part-<partition>-<first offset>.parquet`. A restart
//! re-reads from the committed offset and names its files the same way, so a
//! file that was renamed but whose offsets were never committed is replaced
//! by its rewrite, never duplicated: the first offset of a day in any range
//! that starts at or after the committed offset is the same offset.

use super::ArchiveError;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use tickflow_shared::Tick;
use tickflow_shared::codec::parquet::ParquetTickWriter;
use tickflow_shared::codec::{Reject, SEALED_MARKER};
use tickflow_shared::time::{day_of, format_day, parse_day};

/// The directory that holds reject files, hidden from archive readers.
pub const REJECTS_DIR: &str = "_rejects";

const IN_PROGRESS: &str = ".inprogress";

struct Part {
    writer: ParquetTickWriter,
    temp: PathBuf,
    path: PathBuf,
}

/// The open files of the current roll.
pub struct Roll {
    out: PathBuf,
    parts: BTreeMap<(i32, i64), Part>,
    rejects: BTreeMap<i32, (u64, Vec<Reject>)>,
    trades: u64,
}

impl Roll {
    /// An empty roll writing under `out`.
    pub fn new(out: &Path) -> Self {
        Self { out: out.to_owned(), parts: BTreeMap::new(), rejects: BTreeMap::new(), trades: 0 }
    }

    /// Trades written since the roll began.
    pub fn trades(&self) -> u64 {
        self.trades
    }

    /// Parquet files the roll has open.
    pub fn files(&self) -> u64 {
        self.parts.len() as u64
    }

    /// Whether nothing was written since the roll began.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.rejects.is_empty()
    }

    /// Appends a trade read at `offset` of `partition` to its day's file.
    pub fn write(&mut self, partition: i32, offset: u64, tick: &Tick) -> Result<(), ArchiveError> {
        let day = day_of(tick.ts);
        let part = match self.parts.entry((partition, day)) {
            std::collections::btree_map::Entry::Occupied(part) => part.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                let dir = day_dir(&self.out, day);
                fs::create_dir_all(&dir).map_err(|e| ArchiveError::io(&dir, e))?;
                let name = format!("part-{partition}-{offset}.parquet");
                let temp = dir.join(format!(".{name}{IN_PROGRESS}"));
                slot.insert(Part { writer: ParquetTickWriter::create(&temp)?, temp, path: dir.join(name) })
            }
        };
        part.writer.write(tick)?;
        self.trades += 1;
        Ok(())
    }

    /// Keeps a message that is not a trade, to be written with the roll.
    pub fn reject(&mut self, partition: i32, reject: Reject) {
        let (_, rejects) = self.rejects.entry(partition).or_insert_with(|| (reject.position, Vec::new()));
        rejects.push(reject);
    }

    /// Finishes and syncs every file, renames them to their visible names and
    /// syncs the directories: after this returns, the roll is durable.
    /// Returns the days written.
    pub fn finish(self) -> Result<Vec<i64>, ArchiveError> {
        let mut dirs = Vec::new();
        let mut days = Vec::new();
        for ((_, day), part) in self.parts {
            part.writer.finish()?;
            fs::rename(&part.temp, &part.path).map_err(|e| ArchiveError::io(&part.path, e))?;
            dirs.push(day_dir(&self.out, day));
            days.push(day);
        }
        for (partition, (first, rejects)) in self.rejects {
            let dir = self.out.join(REJECTS_DIR);
            write_rejects(&dir, &format!("part-{partition}-{first}.csv"), &rejects)?;
            dirs.push(dir);
        }
        dirs.sort();
        dirs.dedup();
        for dir in &dirs {
            sync_dir(dir)?;
        }
        days.sort_unstable();
        days.dedup();
        Ok(days)
    }
}

/// `out/date=YYYY-MM-DD`.
pub fn day_dir(out: &Path, day: i64) -> PathBuf {
    out.join(format!("date={}", format_day(day)))
}

/// Removes files a crashed run left unfinished.
pub fn remove_unfinished(out: &Path) -> Result<(), ArchiveError> {
    let Ok(entries) = fs::read_dir(out) else {
        return Ok(());
    };
    for entry in entries {
        let dir = entry.map_err(|e| ArchiveError::io(out, e))?.path();
        if !dir.is_dir() {
            continue;
        }
        for file in fs::read_dir(&dir).map_err(|e| ArchiveError::io(&dir, e))? {
            let file = file.map_err(|e| ArchiveError::io(&dir, e))?.path();
            if file.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(IN_PROGRESS)) {
                fs::remove_file(&file).map_err(|e| ArchiveError::io(&file, e))?;
            }
        }
    }
    Ok(())
}

/// The day directories under `out` that have no marker yet.
pub fn unsealed_days(out: &Path) -> Vec<i64> {
    let Ok(entries) = fs::read_dir(out) else {
        return Vec::new();
    };
    let mut days: Vec<i64> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            parse_day(name.to_str()?.strip_prefix("date=")?)
        })
        .filter(|day| !is_sealed(out, *day))
        .collect();
    days.sort_unstable();
    days
}

/// Writes the day's `_SEALED` marker durably.
pub fn seal(out: &Path, day: i64) -> Result<(), ArchiveError> {
    let dir = day_dir(out, day);
    fs::create_dir_all(&dir).map_err(|e| ArchiveError::io(&dir, e))?;
    let marker = dir.join(SEALED_MARKER);
    fs::File::create(&marker).and_then(|f| f.sync_all()).map_err(|e| ArchiveError::io(&marker, e))?;
    sync_dir(&dir)
}

/// Whether the day directory carries its marker.
pub fn is_sealed(out: &Path, day: i64) -> bool {
    day_dir(out, day).join(SEALED_MARKER).exists()
}

fn write_rejects(dir: &Path, name: &str, rejects: &[Reject]) -> Result<(), ArchiveError> {
    fs::create_dir_all(dir).map_err(|e| ArchiveError::io(dir, e))?;
    let temp = dir.join(format!(".{name}{IN_PROGRESS}"));
    let path = dir.join(name);
    let mut text = String::from("source,position,reason,raw\n");
    for reject in rejects {
        for (i, field) in
            [reject.source.as_str(), &reject.position.to_string(), &reject.reason, &reject.raw].into_iter().enumerate()
        {
            if i > 0 {
                text.push(',');
            }
            text.push('"');
            text.push_str(&field.replace('"', "\"\""));
            text.push('"');
        }
        text.push('\n');
    }
    let mut file = fs::File::create(&temp).map_err(|e| ArchiveError::io(&temp, e))?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| ArchiveError::io(&temp, e))?;
    fs::rename(&temp, &path).map_err(|e| ArchiveError::io(&path, e))
}

fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| ArchiveError::io(dir, e))
}
