//! The speed layer's Prometheus metrics: what a user of Flink or Arroyo
//! watches on a streaming job — input lag per partition, how far event time
//! trails the wall clock, late and rejected trades, what the sink writes and
//! how long its transactions take.
//!
//! One [`SpeedMetrics`] is shared (cheaply cloned) by the sources, which set
//! the lag, and the committer, which counts what each commit wrote. Built
//! unregistered it still counts (the status line reads it); registered with
//! [`SpeedMetrics::register`] it is exported by `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use tickflow_shared::watermark::Partition;

/// The label of a per-partition metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    /// The Kafka partition (or in-process bus partition).
    pub partition: i32,
}

/// The speed layer's metrics; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct SpeedMetrics {
    /// Trades read from the input (replayed ones included).
    pub trades: Counter,
    /// Messages in a partition not read yet: its end offset minus the next offset to read.
    pub lag: Family<PartitionLabel, Gauge>,
    /// The committed watermark, in seconds since the Unix epoch.
    pub watermark: Gauge<f64, AtomicU64>,
    /// Wall-clock time minus the committed watermark, in seconds.
    pub watermark_delay: Gauge<f64, AtomicU64>,
    /// Trades refused as later than the allowed lateness (written to the late table).
    pub late: Counter,
    /// Messages that were not valid trades (written to the rejects table).
    pub rejects: Counter,
    /// Bar upserts written (a bar written twice counts twice).
    pub bars: Counter,
    /// Sink transactions committed.
    pub commits: Counter,
    /// Sink transaction attempts that failed: retried while the store is
    /// unreachable, else the job stops (a restart resumes).
    pub commit_failures: Counter,
    /// Time one sink transaction takes, in seconds.
    pub commit_seconds: Histogram,
    /// Every partition's `(end offset, lag)`, for [`total_lag`](Self::total_lag)
    /// and the end offsets a commit records.
    lags: Arc<Mutex<BTreeMap<Partition, (u64, u64)>>>,
}

impl Default for SpeedMetrics {
    fn default() -> Self {
        Self {
            trades: Counter::default(),
            lag: Family::default(),
            watermark: Gauge::default(),
            watermark_delay: Gauge::default(),
            late: Counter::default(),
            rejects: Counter::default(),
            bars: Counter::default(),
            commits: Counter::default(),
            commit_failures: Counter::default(),
            // 100 µs to ~13 s.
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            lags: Arc::default(),
        }
    }
}

impl SpeedMetrics {
    /// New metrics, registered in `registry` as `tickflow_speed_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let speed = registry.sub_registry_with_prefix("tickflow_speed");
        speed.register("trades", "Trades read from the input", metrics.trades.clone());
        speed.register("partition_lag_messages", "Messages of a partition not read yet", metrics.lag.clone());
        speed.register("watermark_seconds", "Committed watermark, seconds since the epoch", metrics.watermark.clone());
        speed.register(
            "watermark_delay_seconds",
            "Wall-clock time minus the committed watermark",
            metrics.watermark_delay.clone(),
        );
        speed.register("late_trades", "Trades later than the allowed lateness", metrics.late.clone());
        speed.register("rejected_trades", "Messages that were not valid trades", metrics.rejects.clone());
        speed.register("bars_written", "Bar upserts written", metrics.bars.clone());
        speed.register("commits", "Sink transactions committed", metrics.commits.clone());
        speed.register(
            "commit_failures",
            "Sink transaction attempts that failed (retried while the store is unreachable)",
            metrics.commit_failures.clone(),
        );
        speed.register("commit_duration_seconds", "Time of one sink transaction", metrics.commit_seconds.clone());
        metrics
    }

    /// Records where a partition's log ends and the next offset the job reads.
    pub fn set_position(&self, partition: Partition, end: u64, next: u64) {
        let lag = end.saturating_sub(next);
        self.lag.get_or_create(&PartitionLabel { partition }).set(i64::try_from(lag).unwrap_or(i64::MAX));
        self.lags.lock().unwrap_or_else(PoisonError::into_inner).insert(partition, (end, lag));
    }

    /// Where a partition's log ended when last seen, if it was.
    pub fn end_offset(&self, partition: Partition) -> Option<u64> {
        self.lags.lock().unwrap_or_else(PoisonError::into_inner).get(&partition).map(|&(end, _)| end)
    }

    /// Records the committed watermark (ns since the epoch) at wall-clock time `now_ns`.
    pub fn set_watermark(&self, watermark: i64, now_ns: i64) {
        self.watermark.set(watermark as f64 / 1e9);
        self.watermark_delay.set(now_ns.saturating_sub(watermark) as f64 / 1e9);
    }

    /// The sum of every partition's lag.
    pub fn total_lag(&self) -> u64 {
        let lags = self.lags.lock().unwrap_or_else(PoisonError::into_inner);
        lags.values().fold(0u64, |total, (_, lag)| total.saturating_add(*lag))
    }
}

/// The input reports each partition's lag to the metrics.
impl tickflow_shared::input::Positions for SpeedMetrics {
    fn set_position(&self, partition: Partition, end: u64, next: u64) {
        SpeedMetrics::set_position(self, partition, end, next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_are_exported_with_the_layer_prefix() {
        let mut registry = Registry::default();
        let metrics = SpeedMetrics::register(&mut registry);
        metrics.trades.inc_by(5);
        metrics.set_position(0, 17, 10);
        metrics.set_position(1, 3, 0);
        metrics.set_watermark(2_000_000_000, 3_500_000_000);
        metrics.commit_seconds.observe(0.002);
        let text = tickflow_shared::telemetry::encode(&registry);
        for line in [
            "tickflow_speed_trades_total 5",
            "tickflow_speed_partition_lag_messages{partition=\"1\"} 3",
            "tickflow_speed_watermark_delay_seconds 1.5",
            "tickflow_speed_commit_duration_seconds_count 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert_eq!(metrics.total_lag(), 10);
        assert_eq!((metrics.end_offset(0), metrics.end_offset(2)), (Some(17), None));
    }
}
