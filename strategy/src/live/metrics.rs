//! The bot's Prometheus metrics (`tickflow_bot_*`); no symbol is a label.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// What the bot counts.
#[derive(Clone, Default)]
pub struct Metrics {
    /// Final bars fed to the strategies after the warm-up.
    pub bars: Counter,
    /// Signals written.
    pub signals: Counter,
    /// Paper fills written.
    pub fills: Counter,
    /// Final bars changed after the bot had consumed them.
    pub revisions: Counter,
    /// Commits of signals and progress.
    pub commits: Counter,
    /// Signals put on Kafka.
    pub published: Counter,
    /// Event time between the newest final bar seen and the newest bar consumed, seconds.
    pub lag_seconds: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// Metrics registered into `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let bot = registry.sub_registry_with_prefix("tickflow_bot");
        bot.register("bars", "Final bars fed to the strategies after the warm-up", metrics.bars.clone());
        bot.register("signals", "Signals written to the store", metrics.signals.clone());
        bot.register("fills", "Paper fills written to the store", metrics.fills.clone());
        bot.register("revisions", "Final bars that changed after the bot consumed them", metrics.revisions.clone());
        bot.register("commits", "Transactions of signals, fills, positions and progress", metrics.commits.clone());
        bot.register("published", "Signals put on the Kafka signals topic", metrics.published.clone());
        bot.register(
            "lag_seconds",
            "Event time between the newest final bar seen and the newest bar consumed",
            metrics.lag_seconds.clone(),
        );
        metrics
    }
}
