//! When an archive day is complete: once the watermark over the trades made
//! durable so far is past the day's end plus the allowed lateness, the day
//! gets its `_SEALED` marker, the batch layer's signal that it may publish it.
//!
//! The watermark is the speed layer's ([`Watermarks`]), so both layers agree
//! on when a day is over. The archiver reports the days a roll wrote and the
//! event times it made durable, then asks the sealer to seal what the
//! watermark has passed.

use super::ArchiveError;
use super::files;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tickflow_shared::time::{NANOS_PER_DAY, format_day};
use tickflow_shared::watermark::{Partition, WatermarkConfig, Watermarks};

/// The open days of an archive directory and the watermark that closes them.
pub struct Sealer {
    out: PathBuf,
    allowed_lateness: i64,
    watermarks: Watermarks,
    /// The clock the watermark's idleness is measured on.
    origin: Instant,
    /// Days written and not yet sealed.
    open_days: BTreeSet<i64>,
    /// Whether a day carries its marker, as far as this run has looked.
    sealed: BTreeMap<i64, bool>,
}

impl Sealer {
    /// A sealer of the archive under `out`; days already there without a
    /// marker are open. A day is sealed once the watermark is
    /// `allowed_lateness` ns past its end.
    pub fn new(out: &Path, watermark: WatermarkConfig, allowed_lateness: i64) -> Self {
        Self {
            out: out.to_owned(),
            allowed_lateness,
            watermarks: Watermarks::new([], watermark, Duration::ZERO),
            origin: Instant::now(),
            open_days: files::unsealed_days(out).into_iter().collect(),
            sealed: BTreeMap::new(),
        }
    }

    /// Whether `day` is sealed (looked up once, then remembered).
    pub fn is_sealed(&mut self, day: i64) -> bool {
        let out = &self.out;
        *self.sealed.entry(day).or_insert_with(|| files::is_sealed(out, day))
    }

    /// Records a durable roll: the days it wrote and the `(partition, event
    /// time)` of its trades.
    pub fn written(&mut self, days: impl IntoIterator<Item = i64>, trades: impl IntoIterator<Item = (Partition, i64)>) {
        self.open_days.extend(days);
        let now = self.origin.elapsed();
        for (partition, ts) in trades {
            self.watermarks.observe(partition, ts, now);
        }
    }

    /// Says the archiver can neither read nor make rolls durable now (the
    /// broker is unreachable, the disk full): that silence turns no
    /// partition idle, as in the speed layer.
    pub fn unavailable(&mut self) {
        self.watermarks.unavailable(self.origin.elapsed());
    }

    /// Seals every open day the watermark has passed; returns them.
    pub fn seal(&mut self) -> Result<Vec<i64>, ArchiveError> {
        let Some(watermark) = self.watermarks.watermark(self.origin.elapsed()) else {
            return Ok(Vec::new());
        };
        let mut sealed = Vec::new();
        while let Some(&day) = self.open_days.first() {
            if (day + 1) * NANOS_PER_DAY + self.allowed_lateness > watermark {
                break;
            }
            files::seal(&self.out, day)?;
            tracing::info!(day = %format_day(day), "Sealed an archive day.");
            sealed.push(day);
            self.sealed.insert(day, true);
            self.open_days.pop_first();
        }
        Ok(sealed)
    }
}
