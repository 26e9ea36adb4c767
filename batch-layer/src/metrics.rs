//! The batch layer's metrics: runs by outcome, their duration, the last
//! success, what the published runs held and what retention dropped. Registered into the service's
//! registry at start (see `tickflow_shared::telemetry`).

use crate::{BatchError, BatchReport};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tickflow_shared::store::Retained;

/// How a scheduled run ended: the `outcome` label of `tickflow_batch_runs_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new version was published.
    Published,
    /// No archive file had changed; nothing to publish.
    Unchanged,
    /// The run failed; nothing was published.
    Failed,
    /// The run was due while the previous one was still in flight, so it was skipped.
    Skipped,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Published => "published",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }

    /// The outcome of a finished run.
    pub fn of(result: &Result<BatchReport, BatchError>) -> Self {
        match result {
            Ok(report) if !report.runs.is_empty() => Outcome::Published,
            Ok(_) => Outcome::Unchanged,
            Err(_) => Outcome::Failed,
        }
    }
}

type OutcomeLabel = [(&'static str, &'static str); 1];

/// The metrics of `tickflow batch`.
#[derive(Clone, Debug)]
pub struct BatchMetrics {
    /// Runs by outcome.
    pub runs: Family<OutcomeLabel, Counter>,
    /// Seconds a run took, whatever its outcome (skipped runs do not run).
    pub run_duration: Histogram,
    /// When the last run that did not fail ended, in seconds since the Unix epoch.
    pub last_success: Gauge<f64, AtomicU64>,
    /// Valid trades read by published runs.
    pub trades: Counter,
    /// Bars written by published runs.
    pub bars: Counter,
    /// Rows rejected by published runs.
    pub rejects: Counter,
    /// Rows (and TimescaleDB chunks) the retention policy dropped, by kind.
    pub retained: Family<Vec<(&'static str, &'static str)>, Counter>,
}

impl Default for BatchMetrics {
    fn default() -> Self {
        Self {
            runs: Family::default(),
            // 0.1 s to about 30 minutes.
            run_duration: Histogram::new(exponential_buckets(0.1, 2.0, 15)),
            last_success: Gauge::default(),
            trades: Counter::default(),
            bars: Counter::default(),
            rejects: Counter::default(),
            retained: Family::default(),
        }
    }
}

impl BatchMetrics {
    /// Registers the metrics as `tickflow_batch_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register("tickflow_batch_runs", "Batch runs by outcome.", metrics.runs.clone());
        registry.register(
            "tickflow_batch_run_duration_seconds",
            "Seconds a batch run took.",
            metrics.run_duration.clone(),
        );
        registry.register(
            "tickflow_batch_last_success_timestamp_seconds",
            "When the last batch run that did not fail ended (Unix seconds).",
            metrics.last_success.clone(),
        );
        registry.register("tickflow_batch_trades", "Trades read by published batch runs.", metrics.trades.clone());
        registry.register("tickflow_batch_bars", "Bars written by published batch runs.", metrics.bars.clone());
        registry.register("tickflow_batch_rejects", "Rows rejected by published batch runs.", metrics.rejects.clone());
        registry.register(
            "tickflow_batch_retention_dropped",
            "Rows the retention policy dropped after batch runs, by kind (speed_chunks counts whole chunks).",
            metrics.retained.clone(),
        );
        // Every outcome is exposed from the start, at 0, so rates and alerts
        // see a series before its first run.
        for outcome in [Outcome::Published, Outcome::Unchanged, Outcome::Failed, Outcome::Skipped] {
            metrics.count(outcome, 0);
        }
        metrics.count_retained(&Retained::default());
        metrics
    }

    /// Counts `n` runs with `outcome`.
    pub fn count(&self, outcome: Outcome, n: u64) {
        self.runs.get_or_create(&[("outcome", outcome.as_str())]).inc_by(n);
    }

    /// Counts what one application of the retention policy dropped.
    pub fn count_retained(&self, retained: &Retained) {
        for (kind, n) in [
            ("speed_bars", retained.speed_bars),
            ("speed_chunks", retained.speed_chunks),
            ("late_trades", retained.late_trades),
            ("rejects", retained.rejects),
        ] {
            self.retained.get_or_create(&vec![("kind", kind)]).inc_by(n);
        }
    }

    /// Records a finished run that took `took`; returns its outcome.
    pub fn record(&self, result: &Result<BatchReport, BatchError>, took: Duration) -> Outcome {
        let outcome = Outcome::of(result);
        self.count(outcome, 1);
        self.run_duration.observe(took.as_secs_f64());
        if let Ok(report) = result {
            self.last_success.set(tickflow_shared::time::now_ns() as f64 / 1e9);
            self.count_retained(&report.retained);
            for run in &report.runs {
                self.trades.inc_by(run.trades);
                self.bars.inc_by(run.bars);
                self.rejects.inc_by(run.rejects);
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_counts_as_failed_and_is_no_success() {
        let mut registry = Registry::default();
        let metrics = BatchMetrics::register(&mut registry);
        metrics.record(
            &Err(BatchError::Dataflow(crate::dataflow::DataflowError::Worker { reason: "worker died".into() })),
            Duration::from_millis(300),
        );
        metrics.record(&Ok(BatchReport::default()), Duration::from_millis(100));
        let text = tickflow_shared::telemetry::encode(&registry);
        assert!(text.contains(r#"tickflow_batch_runs_total{outcome="failed"} 1"#), "{text}");
        assert!(text.contains(r#"tickflow_batch_runs_total{outcome="unchanged"} 1"#), "{text}");
        assert!(text.contains(r#"tickflow_batch_runs_total{outcome="skipped"} 0"#), "{text}");
        assert!(text.contains("tickflow_batch_run_duration_seconds_count 2"), "{text}");
        assert!(metrics.last_success.get() > 0.0);
        assert_eq!(metrics.trades.get(), 0);
        assert!(text.contains(r#"tickflow_batch_retention_dropped_total{kind="rejects"} 0"#), "{text}");
    }

    #[test]
    fn what_retention_dropped_is_counted_by_kind() {
        let mut registry = Registry::default();
        let metrics = BatchMetrics::register(&mut registry);
        let retained = Retained { speed_bars: 7, speed_chunks: 2, late_trades: 3, rejects: 1 };
        metrics.record(&Ok(BatchReport { retained, ..BatchReport::default() }), Duration::from_millis(100));
        let text = tickflow_shared::telemetry::encode(&registry);
        for (kind, n) in [("speed_bars", 7), ("speed_chunks", 2), ("late_trades", 3), ("rejects", 1)] {
            assert!(text.contains(&format!("tickflow_batch_retention_dropped_total{{kind=\"{kind}\"}} {n}")), "{text}");
        }
    }
}
