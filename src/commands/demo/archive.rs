//! The demo's archiver: the in-process bus kept as the same day-partitioned
//! Parquet archive that `tickflow archive` keeps of Kafka, so `tickflow
//! batch` reads both alike.
//!
//! It reads every partition of the bus, as the speed layer does, writes rolls
//! with the Kafka archiver's files ([`Roll`]) and seals days by its rule
//! ([`Sealer`]). The bus's offsets start at 0 in every process, so they are
//! shifted past the largest offset any file of the archive is named after: a
//! rerun's files never replace an earlier run's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tickflow_ingest::archive::files::{self, Roll};
use tickflow_ingest::archive::sealer::Sealer;
use tickflow_shared::codec::Reject;
use tickflow_shared::watermark::WatermarkConfig;
use tickflow_speed::input::{Inputs, Payload};
use tickflow_speed::memory::MemoryBus;
use tickflow_speed::metrics::SpeedMetrics;

/// Where and how often the archive is written.
pub struct ArchiveSettings {
    /// The archive directory.
    pub out: PathBuf,
    /// Open files are finished and made visible this often.
    pub roll_interval: Duration,
    /// The speed layer's watermark parameters.
    pub watermark: WatermarkConfig,
    /// A day is sealed once the watermark is this far (ns) past its end.
    pub allowed_lateness: i64,
}

/// What the archiver did.
#[derive(Debug, Default)]
pub struct ArchiveReport {
    /// Trades written.
    pub trades: u64,
    /// Rolls made durable.
    pub rolls: u64,
    /// Days sealed.
    pub sealed: Vec<i64>,
}

/// Archives `bus` until it is closed and read to its end, then makes the
/// last roll durable.
pub fn run(bus: &MemoryBus, settings: &ArchiveSettings) -> anyhow::Result<ArchiveReport> {
    let out = &settings.out;
    files::remove_unfinished(out)?;
    let base = next_offset(out);
    let partitions = bus.partitions().map_err(anyhow::Error::msg)?;
    let owned = partitions.iter().map(|p| (*p, 0)).collect();
    let mut input = bus.open(&owned, &SpeedMetrics::default()).map_err(anyhow::Error::msg)?;
    let mut sealer = Sealer::new(out, settings.watermark, settings.allowed_lateness);
    let mut roll = Roll::new(out);
    let mut roll_started = Instant::now();
    let mut pending = Vec::new();
    let mut report = ArchiveReport::default();
    let (mut records, mut at_end) = (Vec::new(), Vec::new());
    loop {
        records.clear();
        at_end.clear();
        input.poll(&mut records, 10_000, &mut at_end).map_err(anyhow::Error::msg)?;
        if roll.is_empty() {
            roll_started = Instant::now();
        }
        for record in &records {
            let offset = base + record.offset;
            match &record.payload {
                Payload::Trade(tick) => {
                    roll.write(record.partition, offset, tick)?;
                    pending.push((record.partition, tick.ts));
                }
                Payload::Invalid { reason, raw } => {
                    let source = format!("{}/{}", bus.topic(), record.partition);
                    roll.reject(record.partition, Reject::new(&source, offset, reason.clone(), raw));
                }
            }
        }
        // Read to the end of every partition of a closed bus: nothing more comes.
        let done = at_end.len() == partitions.len() && input.complete();
        if !roll.is_empty() && (done || roll_started.elapsed() >= settings.roll_interval) {
            let finished = std::mem::replace(&mut roll, Roll::new(out));
            report.trades += finished.trades();
            report.rolls += 1;
            sealer.written(finished.finish()?, pending.drain(..));
            report.sealed.extend(sealer.seal()?);
        }
        if done {
            return Ok(report);
        }
        if records.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One past the largest offset an archive file is named after
/// (`date=…/part-<partition>-<offset>.parquet`), 0 for a new archive.
fn next_offset(out: &Path) -> u64 {
    let offsets = std::fs::read_dir(out).into_iter().flatten().flatten().flat_map(|day| {
        std::fs::read_dir(day.path()).into_iter().flatten().flatten().filter_map(|file| {
            let name = file.file_name();
            let (_, offset) = name.to_str()?.strip_prefix("part-")?.strip_suffix(".parquet")?.split_once('-')?;
            offset.parse::<u64>().ok()
        })
    });
    offsets.max().map_or(0, |offset| offset + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_ingest::simulator::{Market, SimConfig};
    use tickflow_shared::codec::{Collect, plan_splits, read_split};

    fn settings(out: &Path) -> ArchiveSettings {
        ArchiveSettings {
            out: out.to_owned(),
            roll_interval: Duration::from_secs(60),
            watermark: WatermarkConfig::default(),
            allowed_lateness: 0,
        }
    }

    /// Every trade lands in its day's file; a second run on the same archive
    /// (its offsets start at 0 again) adds files instead of replacing them.
    #[test]
    fn reruns_add_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        // On a bus of two partitions, AAPL goes to the first and MSFT to the second.
        let names = vec!["AAPL".to_owned(), "MSFT".to_owned()];
        let mut market = Market::new(&SimConfig { symbols: 2, names, ..SimConfig::default() }).expect("market");
        let day_dir = files::day_dir(dir.path(), 20_000);
        let day = 20_000 * tickflow_shared::time::NANOS_PER_DAY;
        let mut names = Vec::new();
        for run in 0..2 {
            let bus = MemoryBus::new(2);
            bus.publish((0..100).map(|i| market.next_trade(day + (run * 100 + i) * 1_000_000)));
            bus.close();
            let report = super::run(&bus, &settings(dir.path())).expect("archive");
            assert_eq!((report.trades, report.rolls), (100, 1));
            names = std::fs::read_dir(&day_dir)
                .expect("day directory")
                .map(|f| f.expect("entry").file_name().into_string().expect("name"))
                .collect();
            assert_eq!(names.len(), 2 * (run as usize + 1), "{names:?}");
        }
        let mut rows = 0;
        for name in names {
            let path = day_dir.join(name);
            let mut sink = Collect::default();
            for split in plan_splits(&path).expect("splits") {
                read_split(&split, &mut sink).expect("read");
            }
            rows += sink.ticks.len();
        }
        assert_eq!(rows, 200);
    }
}
