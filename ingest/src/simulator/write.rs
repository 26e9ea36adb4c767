//! Writing a simulation as a day-partitioned, sealed data set.

use super::{SimConfig, SimError, Trades};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use tickflow_shared::Tick;
use tickflow_shared::codec::SEALED_MARKER;
use tickflow_shared::codec::csv::CsvTickWriter;
use tickflow_shared::codec::parquet::ParquetTickWriter;
use tickflow_shared::time::{NANOS_PER_DAY, day_of, format_day};

/// Most rows in one part file.
pub const MAX_PART_ROWS: u64 = 4_194_304;

/// The file format of a generated data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CSV with the header `timestamp,symbol,price,volume` (epoch milliseconds).
    Csv,
    /// Parquet in [`tickflow_shared::codec::parquet::tick_schema`].
    Parquet,
}

impl Format {
    /// The file name extension, without the dot.
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Trades written.
    pub ticks: u64,
    /// Day directories written (and sealed).
    pub days: usize,
    /// The data files, in the order they were completed.
    pub files: Vec<PathBuf>,
    /// Symbols that traded at least once.
    pub symbols: usize,
}

/// Writes `ticks` simulated trades under `out`, one directory per UTC day of
/// event time: `out/date=YYYY-MM-DD/part-00000.csv` (or `.parquet`), a new
/// part every [`MAX_PART_ROWS`] rows, each file in arrival order with `seq`
/// its 0-based row index.
///
/// A file appears under its name only once complete (it is written under a
/// hidden name and renamed), and a day directory gets its [`SEALED_MARKER`]
/// once all its files are there. Rewriting a day first removes its marker,
/// then replaces its part files and removes part files left from an earlier,
/// larger run. Memory stays bounded by one part per open day plus the
/// disorder window. The same arguments give byte-identical files.
///
/// ```
/// use tickflow_ingest::simulator::{Format, SimConfig, generate};
///
/// let out = tempfile::tempdir()?;
/// let summary = generate(out.path(), 1_000, &SimConfig::default(), Format::Parquet)?;
/// let day = out.path().join("date=2026-01-05");
/// assert_eq!(summary.files, [day.join("part-00000.parquet")]);
/// assert!(day.join("_SEALED").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate(out: &Path, ticks: u64, config: &SimConfig, format: Format) -> Result<GenerateSummary, SimError> {
    generate_parts(out, ticks, config, format, MAX_PART_ROWS)
}

/// [`generate`] with parts of at most `part_rows` rows.
fn generate_parts(
    out: &Path,
    ticks: u64,
    config: &SimConfig,
    format: Format,
    part_rows: u64,
) -> Result<GenerateSummary, SimError> {
    let mut trades = Trades::new(config, ticks)?;
    let mut open: BTreeMap<i64, DayWriter> = BTreeMap::new();
    let mut summary = GenerateSummary { ticks: 0, days: 0, files: Vec::new(), symbols: 0 };
    // The end of the earliest open day: checked per trade, so kept at hand.
    let mut first_end = i64::MAX;
    while let Some(mut tick) = trades.next() {
        let day = day_of(tick.ts);
        let writer = match open.entry(day) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                first_end = first_end.min((day + 1) * NANOS_PER_DAY);
                e.insert(DayWriter::open(out, day, format, part_rows)?)
            }
        };
        writer.write(&mut tick, &mut summary.files)?;
        summary.ticks += 1;
        if trades.low_watermark() >= first_end {
            while let Some(entry) = open.first_entry() {
                if (entry.key() + 1) * NANOS_PER_DAY > trades.low_watermark() {
                    break;
                }
                entry.remove().seal(&mut summary.files)?;
                summary.days += 1;
            }
            first_end = open.first_key_value().map_or(i64::MAX, |(day, _)| (day + 1) * NANOS_PER_DAY);
        }
    }
    for (_, writer) in open {
        writer.seal(&mut summary.files)?;
        summary.days += 1;
    }
    summary.symbols = trades.market().traded_symbols();
    tracing::debug!(ticks = summary.ticks, days = summary.days, files = summary.files.len(), "Generated trades.");
    Ok(summary)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io { path: path.to_owned(), source }
}

/// The part file being written: its writer, hidden name and final name.
struct Part {
    writer: PartWriter,
    temp: PathBuf,
    path: PathBuf,
    rows: u64,
}

enum PartWriter {
    Csv(CsvTickWriter),
    Parquet(Box<ParquetTickWriter>),
}

/// The files of one day directory.
struct DayWriter {
    dir: PathBuf,
    format: Format,
    /// Most rows in one part.
    part_rows: u64,
    /// Index of the next part to open.
    next_part: u32,
    part: Option<Part>,
    /// File names written, to tell stale parts from new ones.
    written: Vec<std::ffi::OsString>,
}

impl DayWriter {
    /// Creates the directory and unseals it if a former run sealed it.
    fn open(out: &Path, day: i64, format: Format, part_rows: u64) -> Result<Self, SimError> {
        let dir = out.join(format!("date={}", format_day(day)));
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let marker = dir.join(SEALED_MARKER);
        match fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(&marker)(e)),
            _ => {}
        }
        Ok(Self { dir, format, part_rows, next_part: 0, part: None, written: Vec::new() })
    }

    fn write(&mut self, tick: &mut Tick, files: &mut Vec<PathBuf>) -> Result<(), SimError> {
        let part = match &mut self.part {
            Some(part) if part.rows < self.part_rows => part,
            _ => {
                self.finish_part(files)?;
                let part = self.open_part()?;
                self.part.insert(part)
            }
        };
        tick.seq = part.rows;
        match &mut part.writer {
            PartWriter::Csv(w) => w.write(tick)?,
            PartWriter::Parquet(w) => w.write(tick)?,
        }
        part.rows += 1;
        Ok(())
    }

    fn open_part(&mut self) -> Result<Part, SimError> {
        let name = format!("part-{:05}.{}", self.next_part, self.format.extension());
        self.next_part += 1;
        // A leading dot hides the file from every tickflow reader.
        let temp = self.dir.join(format!(".{name}.inprogress"));
        let writer = match self.format {
            Format::Csv => PartWriter::Csv(CsvTickWriter::create(&temp)?),
            Format::Parquet => PartWriter::Parquet(Box::new(ParquetTickWriter::create(&temp)?)),
        };
        self.written.push(name.clone().into());
        Ok(Part { writer, temp, path: self.dir.join(name), rows: 0 })
    }

    fn finish_part(&mut self, files: &mut Vec<PathBuf>) -> Result<(), SimError> {
        let Some(part) = self.part.take() else {
            return Ok(());
        };
        match part.writer {
            PartWriter::Csv(w) => w.finish()?,
            PartWriter::Parquet(w) => w.finish()?,
        }
        fs::rename(&part.temp, &part.path).map_err(io_error(&part.path))?;
        files.push(part.path);
        Ok(())
    }

    /// Finishes the last part, removes stale parts and writes the marker.
    fn seal(mut self, files: &mut Vec<PathBuf>) -> Result<(), SimError> {
        self.finish_part(files)?;
        for entry in fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let entry = entry.map_err(io_error(&self.dir))?;
            let name = entry.file_name();
            let stale = name.to_str().is_some_and(|n| n.starts_with("part-")) && !self.written.contains(&name);
            if stale {
                fs::remove_file(entry.path()).map_err(io_error(&entry.path()))?;
            }
        }
        let marker = self.dir.join(SEALED_MARKER);
        fs::File::create(&marker).and_then(|f| f.sync_all()).map_err(io_error(&marker))?;
        // Make the renames and the marker durable together.
        fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_error(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::session_opens;
    use tickflow_shared::codec::{Collect, plan_splits, read_split};
    use tickflow_shared::time::{NANOS_PER_MILLI, NANOS_PER_SECOND};

    fn config(days: u32, disorder_ms: u64) -> SimConfig {
        SimConfig { symbols: 40, seed: 3, days, disorder_ms, ..SimConfig::default() }
    }

    fn read_back(files: &[PathBuf]) -> Vec<Collect> {
        files
            .iter()
            .map(|file| {
                let mut sink = Collect::default();
                for split in plan_splits(file).expect("plan") {
                    read_split(&split, &mut sink).expect("read");
                }
                sink
            })
            .collect()
    }

    /// The files as trades, in file order.
    fn generated(config: &SimConfig, ticks: u64) -> Vec<Tick> {
        Trades::new(config, ticks).expect("config").collect()
    }

    #[test]
    fn same_arguments_same_bytes() {
        for format in [Format::Csv, Format::Parquet] {
            let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
            let sa = generate(a.path(), 30_000, &config(2, 100), format).expect("generate");
            let sb = generate(b.path(), 30_000, &config(2, 100), format).expect("generate");
            assert_eq!(sa.files.len(), sb.files.len());
            for (fa, fb) in sa.files.iter().zip(&sb.files) {
                assert_eq!(fa.strip_prefix(a.path()).ok(), fb.strip_prefix(b.path()).ok());
                assert_eq!(fs::read(fa).expect("read"), fs::read(fb).expect("read"), "{}", fa.display());
            }
        }
    }

    #[test]
    fn days_are_partitioned_and_sealed() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 2026-01-09 is a Friday: the sessions are Fri, Mon, Tue.
        let start = tickflow_shared::time::days_from_civil(2026, 1, 9) * NANOS_PER_DAY + 52_200 * NANOS_PER_SECOND;
        let config = SimConfig { start, ..config(3, 0) };
        let summary = generate(dir.path(), 10_000, &config, Format::Csv).expect("generate");
        assert_eq!((summary.ticks, summary.days, summary.symbols), (10_000, 3, 40));
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["date=2026-01-09", "date=2026-01-12", "date=2026-01-13"]);
        for name in &names {
            let day = dir.path().join(name);
            let mut files: Vec<String> = fs::read_dir(&day)
                .expect("ls")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            assert_eq!(files, [SEALED_MARKER, "part-00000.csv"]);
            assert_eq!(fs::metadata(day.join(SEALED_MARKER)).expect("marker").len(), 0);
        }
        let opens: Vec<i64> = session_opens(&config).collect();
        let session = i64::from(config.session_seconds) * NANOS_PER_SECOND;
        for (file, open) in summary.files.iter().zip(opens) {
            let read = &read_back(std::slice::from_ref(file))[0];
            assert!(read.rejects.is_empty());
            assert!((3333..=3334).contains(&read.ticks.len()));
            for t in &read.ticks {
                assert!(t.price.0 > 0 && t.size.0 > 0);
                assert!((open..open + session).contains(&t.ts), "{t:?} outside the session at {open}");
            }
        }
    }

    #[test]
    fn large_days_split_into_parts_and_reruns_replace_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = generate_parts(dir.path(), 2_005, &config(1, 0), Format::Csv, 1_000).expect("generate");
        let day = dir.path().join("date=2026-01-05");
        let parts = ["part-00000.csv", "part-00001.csv", "part-00002.csv"].map(|p| day.join(p));
        assert_eq!(summary.files, parts);
        let counts: Vec<usize> = read_back(&summary.files).iter().map(|c| c.ticks.len()).collect();
        assert_eq!(counts, [1_000, 1_000, 5]);
        // A smaller run into the same place leaves no stale part behind.
        generate_parts(dir.path(), 10, &config(1, 0), Format::Csv, 1_000).expect("generate");
        assert!(!parts[1].exists() && !parts[2].exists());
        assert!(day.join(SEALED_MARKER).exists());
        assert_eq!(read_back(&parts[..1])[0].ticks.len(), 10);
    }

    #[test]
    fn files_hold_exactly_the_trades() {
        for format in [Format::Csv, Format::Parquet] {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = config(2, 250);
            let summary = generate(dir.path(), 50_001, &config, format).expect("generate");
            let expected = generated(&config, 50_001);
            let read = read_back(&summary.files);
            assert!(read.iter().all(|c| c.rejects.is_empty()));
            let mut at = 0;
            for file in &read {
                for (row, t) in file.ticks.iter().enumerate() {
                    let e = &expected[at];
                    assert_eq!(
                        (&t.symbol, t.ts, t.price, t.size),
                        (&e.symbol, e.ts, e.price, e.size),
                        "{format:?} row {row}"
                    );
                    match format {
                        // Parquet stores `seq`, the row index in the file.
                        Format::Parquet => assert_eq!(t.seq, row as u64),
                        // CSV has no `seq` column: readers use the row's byte
                        // offset, which orders rows the same way.
                        Format::Csv => assert!(row == 0 || t.seq > file.ticks[row - 1].seq),
                    }
                    at += 1;
                }
            }
            assert_eq!(at, expected.len());
            // File order is arrival order: the disorder bound holds in it.
            let bound = config.disorder_ms as i64 * NANOS_PER_MILLI;
            for file in &read {
                let mut latest = i64::MIN;
                for t in &file.ticks {
                    assert!(t.ts >= latest.saturating_sub(bound));
                    latest = latest.max(t.ts);
                }
            }
        }
    }

    #[test]
    fn no_disorder_means_sorted_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = generate(dir.path(), 200_000, &config(1, 0), Format::Parquet).expect("generate");
        let read = read_back(&summary.files);
        assert!(read[0].ticks.windows(2).all(|w| w[0].ts <= w[1].ts));
        // Millisecond stamps: busy moments share them.
        let shared = read[0].ticks.windows(2).filter(|w| w[0].ts == w[1].ts).count();
        assert!(shared > 100, "{shared} trades share a millisecond with the one before");
    }

    #[test]
    fn trading_is_u_shaped() {
        let config = config(1, 0);
        let open = config.start;
        let minute = 60 * NANOS_PER_SECOND;
        let mut per_minute = [0u32; 390];
        for t in generated(&config, 200_000) {
            per_minute[((t.ts - open) / minute) as usize] += 1;
        }
        let rate = |r: std::ops::Range<usize>| f64::from(per_minute[r.clone()].iter().sum::<u32>()) / r.len() as f64;
        let (first, middle, last) = (rate(0..30), rate(30..360), rate(360..390));
        assert!(first > 2.0 * middle && last > 2.0 * middle, "per minute: open {first}, middle {middle}, close {last}");
    }
}
