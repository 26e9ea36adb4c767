//! The archiver fed from the in-process bus (`tickflow demo`): the same
//! rolls, seals, late trades and rejects as from Kafka, so `tickflow batch`
//! reads both archives alike.
//!
//! It reads every partition of the bus, as the speed layer does, until the
//! bus is closed and read to its end. The bus's offsets start at 0 in every
//! process and it keeps no position, so there is nothing to commit; instead
//! offsets are shifted past the largest offset any file of the archive is
//! named after: a rerun's files never replace an earlier run's.

use super::{ArchiveError, ArchiveReport, Archiver, RollConfig};
use crate::metrics::ArchiveMetrics;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tickflow_shared::input::Inputs;

/// Records asked of the bus per poll.
const POLL_BATCH: usize = 10_000;

/// How long to wait when the bus had nothing new.
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// Archives `bus` (a stream whose offsets do not outlive the process) until
/// it is closed and read to its end, then makes the last roll durable.
/// Everything it does is counted in `metrics`.
pub fn run(bus: &dyn Inputs, config: &RollConfig, metrics: &ArchiveMetrics) -> Result<ArchiveReport, ArchiveError> {
    let mut archiver = Archiver::new(config, bus.topic(), metrics.clone())?;
    let base = next_offset(&config.out);
    let partitions = bus.partitions()?;
    let owned = partitions.iter().map(|p| (*p, 0)).collect();
    let mut input = bus.open(&owned, Arc::new(()))?;
    let (mut records, mut at_end) = (Vec::new(), Vec::new());
    loop {
        records.clear();
        at_end.clear();
        input.poll(&mut records, POLL_BATCH, &mut at_end)?;
        for record in &mut records {
            record.offset += base;
            archiver.record(record)?;
        }
        // Read to the end of every partition of a closed bus: nothing more comes.
        let done = at_end.len() == partitions.len() && input.complete();
        if !archiver.is_empty() && (done || archiver.roll_due()) {
            archiver.roll(|| Ok(()))?;
        }
        if done {
            return Ok(archiver.report());
        }
        if records.is_empty() {
            std::thread::sleep(IDLE_WAIT);
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
    use crate::archive::files;
    use crate::simulator::{Market, SimConfig};
    use tickflow_shared::codec::{Collect, plan_splits, read_split};
    use tickflow_shared::input::memory::MemoryBus;
    use tickflow_shared::time::NANOS_PER_DAY;
    use tickflow_shared::watermark::WatermarkConfig;

    fn config(out: &Path) -> RollConfig {
        RollConfig {
            out: out.to_owned(),
            roll_trades: RollConfig::default_roll_trades(),
            roll_interval: Duration::from_secs(60),
            watermark: WatermarkConfig::default(),
            allowed_lateness: 0,
        }
    }

    fn market() -> Market {
        // On a bus of two partitions, AAPL goes to the first and MSFT to the second.
        let names = vec!["AAPL".to_owned(), "MSFT".to_owned()];
        Market::new(&SimConfig { symbols: 2, names, ..SimConfig::default() }).expect("market")
    }

    fn rows(path: &Path) -> usize {
        let mut sink = Collect::default();
        for split in plan_splits(path).expect("splits") {
            read_split(&split, &mut sink).expect("read");
        }
        sink.ticks.len()
    }

    /// Every trade lands in its day's file; a second run on the same archive
    /// (its offsets start at 0 again) adds files instead of replacing them.
    #[test]
    fn reruns_add_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut market = market();
        let day_dir = files::day_dir(dir.path(), 20_000);
        let day = 20_000 * NANOS_PER_DAY;
        let mut names = Vec::new();
        for run in 0..2 {
            let bus = MemoryBus::new(2);
            bus.publish((0..100).map(|i| market.next_trade(day + (run * 100 + i) * 1_000_000)));
            bus.close();
            let report = super::run(&bus, &config(dir.path()), &ArchiveMetrics::default()).expect("archive");
            assert_eq!((report.trades, report.rolls), (100, 1));
            names = std::fs::read_dir(&day_dir)
                .expect("day directory")
                .map(|f| f.expect("entry").file_name().into_string().expect("name"))
                .collect();
            assert_eq!(names.len(), 2 * (run as usize + 1), "{names:?}");
        }
        assert_eq!(names.into_iter().map(|name| rows(&day_dir.join(name))).sum::<usize>(), 200);
    }

    /// What the demo's own copy of the archiver did not do: a trade that
    /// reaches a day the bus's watermark has sealed is archived beside it
    /// and counted as late.
    #[test]
    fn a_trade_for_a_sealed_day_is_kept_and_counted_late() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut market = market();
        let (day, next_day) = (20_000 * NANOS_PER_DAY, 20_001 * NANOS_PER_DAY);
        let bus = MemoryBus::new(1);
        let metrics = ArchiveMetrics::default();
        bus.publish([market.next_trade(day + 1_000)]);
        // Well past the day's end: the watermark seals it after the first roll.
        bus.publish([market.next_trade(next_day + 3_600 * 1_000_000_000)]);
        bus.close();
        let first = super::run(&bus, &config(dir.path()), &metrics).expect("archive");
        assert_eq!(first.sealed, [20_000], "{first:?}");
        assert!(files::is_sealed(dir.path(), 20_000));
        let bus = MemoryBus::new(1);
        bus.publish([market.next_trade(day + 2_000)]);
        bus.close();
        let second = super::run(&bus, &config(dir.path()), &metrics).expect("archive");
        assert_eq!((second.trades, second.late), (1, 1), "{second:?}");
        assert_eq!(metrics.late_trades.get(), 1);
        let files = std::fs::read_dir(files::day_dir(dir.path(), 20_000)).expect("day directory");
        let parts = files.filter(|f| f.as_ref().expect("entry").file_name().to_string_lossy().ends_with(".parquet"));
        assert_eq!(parts.count(), 2, "the late trade lands beside the sealed day's file");
    }
}
