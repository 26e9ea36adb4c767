//! The metrics of the two ingest services, `tickflow produce` and
//! `tickflow archive`: one struct each, registered into the service's
//! registry at start (see `tickflow_shared::telemetry`).
//!
//! The structs are cheap handles (every metric is an `Arc` inside), so the
//! producer's delivery callback on librdkafka's thread and the command's loop
//! count into the same metrics. Unregistered (`Default`) metrics count all
//! the same, for callers that serve no `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The metrics of `tickflow produce`.
#[derive(Clone, Debug, Default)]
pub struct ProduceMetrics {
    /// Trades handed to the Kafka client.
    pub trades: Counter,
    /// Trades the broker acknowledged.
    pub delivered: Counter,
    /// Trades whose delivery failed for good, after librdkafka's retries.
    pub delivery_errors: Counter,
    /// Source rows or quotes that were not valid trades.
    pub rejects: Counter,
    /// The simulator's configured rate (0 for a replay as fast as possible or the quote API).
    pub target_rate: Gauge<f64, AtomicU64>,
}

impl ProduceMetrics {
    /// Registers the metrics as `tickflow_produce_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register("tickflow_produce_trades", "Trades handed to the Kafka client.", metrics.trades.clone());
        registry.register(
            "tickflow_produce_delivered_trades",
            "Trades the broker acknowledged.",
            metrics.delivered.clone(),
        );
        registry.register(
            "tickflow_produce_delivery_errors",
            "Trades whose delivery to Kafka failed for good.",
            metrics.delivery_errors.clone(),
        );
        registry.register(
            "tickflow_produce_rejects",
            "Source rows or quotes that were not valid trades.",
            metrics.rejects.clone(),
        );
        registry.register(
            "tickflow_produce_target_rate_trades_per_second",
            "The simulator's configured rate; 0 when the source sets the pace.",
            metrics.target_rate.clone(),
        );
        metrics
    }
}

/// The metrics of `tickflow archive`.
#[derive(Clone, Debug, Default)]
pub struct ArchiveMetrics {
    /// Trades made durable and committed.
    pub trades: Counter,
    /// Parquet files written.
    pub files: Counter,
    /// Rolls committed.
    pub rolls: Counter,
    /// Days sealed.
    pub sealed_days: Counter,
    /// Trades that reached an already sealed day.
    pub late_trades: Counter,
    /// Messages that were not trades.
    pub rejects: Counter,
    /// Messages on the topic beyond the committed offsets, from the Kafka client's statistics.
    pub commit_lag: Gauge,
}

impl ArchiveMetrics {
    /// Registers the metrics as `tickflow_archive_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register("tickflow_archive_trades", "Trades archived and committed.", metrics.trades.clone());
        registry.register("tickflow_archive_files", "Parquet files written.", metrics.files.clone());
        registry.register("tickflow_archive_rolls", "Rolls made durable and committed.", metrics.rolls.clone());
        registry.register(
            "tickflow_archive_sealed_days",
            "Archive days sealed for the batch layer.",
            metrics.sealed_days.clone(),
        );
        registry.register(
            "tickflow_archive_late_trades",
            "Trades that reached an already sealed day.",
            metrics.late_trades.clone(),
        );
        registry.register("tickflow_archive_rejects", "Messages that were not trades.", metrics.rejects.clone());
        registry.register(
            "tickflow_archive_commit_lag_messages",
            "Messages on the topic beyond the archiver's committed offsets.",
            metrics.commit_lag.clone(),
        );
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention() {
        let mut registry = Registry::default();
        let produce = ProduceMetrics::register(&mut registry);
        let archive = ArchiveMetrics::register(&mut registry);
        produce.trades.inc_by(2);
        archive.commit_lag.set(7);
        let text = tickflow_shared::telemetry::encode(&registry);
        assert!(text.contains("tickflow_produce_trades_total 2"), "{text}");
        assert!(text.contains("tickflow_archive_commit_lag_messages 7"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("tickflow_produce_") || line.starts_with("tickflow_archive_"), "{line}");
        }
    }
}
