//! The live runner behind `tickflow bot`: the same strategies and ledger as
//! the backtest, fed final bars as they become final (DESIGN.md, contract 8).
//!
//! A [`Bot`] keeps one [`Strategy`](crate::Strategy) (and, on paper, one
//! [`Book`]) per symbol and feeds each every **final** bar once, in start
//! order: batch bars (every bar before the batch boundary is final, read
//! when the boundary moves past the symbol's cursor) and speed bars the
//! speed layer marked final (read from the store's change feed,
//! [`ReadStore::speed_changes`](tickflow_shared::store::ReadStore)). As the
//! merge rule does, a speed bar before the boundary gives way to the batch
//! view's. A step's signals, fills, positions and per-symbol cursors are one
//! transaction ([`SignalStore::commit_signals`]), so a bot killed at any
//! moment and restarted neither loses nor repeats a signal.
//!
//! On start the bot reads its cursors back and warms each symbol up on the
//! merged bars up to its cursor: the whole history, fed to a fresh strategy
//! and book with their output thrown away, so the state (indicators, whether
//! it is long, the order queued on the last bar) is the one it had. A symbol
//! without a cursor starts at its first bar, so a bot started on a store
//! gives the signals a backtest of the same bars gives; with
//! [`Config::from`], bars before it only warm the strategy up.
//!
//! A final bar that changes after the bot consumed it (a late trade within
//! the allowed lateness) does not rewrite a signal given: the bot counts it
//! in `tickflow_bot_revisions_total`, and the backtest over batch bars is
//! the corrected history. With an [`Output`], each stored signal is then put
//! on Kafka through an outbox ([`outbox`]).

mod metrics;
pub mod outbox;
mod series;

pub use metrics::Metrics;

use crate::Spec;
use crate::ledger::Book;
use series::Series;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickflow_shared::signal::Costs;
use tickflow_shared::store::{BarQuery, BotCursor, SignalCommit, SignalStore, Store, StoreError, ViewSelect};
use tickflow_shared::time::NANOS_PER_SECOND;
use tickflow_shared::{Interval, Size, Symbol};

/// Speed changes read per store query.
const PAGE: usize = 5_000;

/// How often the bot logs its status line.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// What a live bot runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The strategy and its parameters; its name keys the bot's records.
    pub spec: Spec,
    /// The bars' interval.
    pub interval: Interval,
    /// Only these symbols; every symbol in the store when `None`.
    pub symbols: Option<Vec<Symbol>>,
    /// On a symbol's first run, bars that start before this (ns) only warm
    /// the strategy up; `None`: every bar counts.
    pub from: Option<i64>,
    /// Trade on paper: write fills and positions.
    pub paper: bool,
    /// Bought at each entry.
    pub quantity: Size,
    /// Fees and slippage of paper fills.
    pub costs: Costs,
    /// How often the store is asked for new final bars.
    pub poll: Duration,
    /// Where signals also go, if anywhere.
    pub output: Option<Output>,
}

/// Kafka output of signals.
#[derive(Clone, Debug)]
pub struct Output {
    /// Bootstrap servers and client properties.
    pub kafka: tickflow_shared::kafka::KafkaConfig,
    /// The topic, e.g. `signals`.
    pub topic: String,
}

/// Why the bot stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The store failed.
    #[error("bot store: {0}")]
    Store(#[from] StoreError),
    /// Kafka failed.
    #[error("bot output to Kafka {brokers}: {message}")]
    Kafka {
        /// The brokers.
        brokers: String,
        /// What failed.
        message: String,
    },
}

/// A live bot over a store.
pub struct Bot {
    store: Arc<dyn Store>,
    config: Config,
    metrics: Metrics,
    series: BTreeMap<Symbol, Series>,
    /// The next read of the speed change feed starts after this number.
    since: i64,
    /// The batch boundary at the last step.
    boundary: Option<i64>,
    /// Set once the change feed was read to its head after start: from then
    /// on a final bar at or before a cursor is a revision.
    caught_up: bool,
    /// The newest final bar start seen, for the lag.
    newest: Option<i64>,
    outbox: Option<outbox::Outbox>,
}

impl Bot {
    /// A bot over `store`, counting into `metrics`; [`Bot::start`] readies it.
    pub fn new(store: Arc<dyn Store>, config: Config, metrics: Metrics) -> Result<Self, LiveError> {
        let outbox = match &config.output {
            Some(output) => Some(outbox::Outbox::new(output, config.spec.name())?),
            None => None,
        };
        let bot = Self {
            store,
            config,
            metrics,
            series: BTreeMap::new(),
            since: 0,
            boundary: None,
            caught_up: false,
            newest: None,
            outbox,
        };
        Ok(bot)
    }

    /// The strategy's name, which keys the bot's records.
    pub fn name(&self) -> &'static str {
        self.config.spec.name()
    }

    /// Reads the cursors back and warms every known symbol up to its own.
    pub async fn start(&mut self) -> Result<(), LiveError> {
        self.series.clear();
        (self.since, self.boundary, self.caught_up, self.newest) = (0, None, false, None);
        let cursors = self.store.bot_progress(self.name(), self.config.interval).await?;
        let stored: BTreeMap<Symbol, i64> = cursors.into_iter().map(|c| (c.symbol, c.last_start)).collect();
        let symbols = match &self.config.symbols {
            Some(symbols) => symbols.clone(),
            None => {
                let mut all = self.store.symbols().await?;
                all.extend(stored.keys().cloned());
                all.sort();
                all.dedup();
                all
            }
        };
        for symbol in symbols {
            let cursor = stored.get(&symbol).copied();
            self.add(symbol, cursor).await?;
        }
        let warmed = self.series.values().filter(|s| s.cursor.is_some()).count();
        tracing::info!(bot = self.name(), symbols = self.series.len(), warmed, "Bot warmed up.");
        Ok(())
    }

    /// Adds `symbol`, warmed up on its merged bars up to `cursor` (or up to
    /// [`Config::from`] when it has none).
    async fn add(&mut self, symbol: Symbol, cursor: Option<i64>) -> Result<(), LiveError> {
        let config = &self.config;
        let warm_to = cursor.or(config.from.map(|from| from - 1));
        let book = config.paper.then(|| Book::new(symbol.clone(), config.spec.name(), config.quantity, config.costs));
        let mut series = Series {
            strategy: config.spec.build(),
            book,
            cursor: None,
            pending: BTreeMap::new(),
            moved: false,
            batch_until: None,
        };
        if let Some(last) = warm_to {
            let query = BarQuery {
                interval: config.interval,
                symbol: Some(symbol.clone()),
                from: None,
                to: Some(last.saturating_add(1)),
                view: ViewSelect::Merged,
                limit: None,
            };
            let mut discard = SignalCommit::new(self.name(), config.interval);
            for row in self.store.bars(&query).await?.bars {
                series.feed(&row.bar, &mut discard);
                discard.signals.clear();
                discard.fills.clear();
            }
            series.cursor = Some(series.cursor.map_or(last, |fed| fed.max(last)));
        }
        series.moved = false;
        self.series.insert(symbol, series);
        Ok(())
    }

    /// Whether the bot follows `symbol`.
    fn follows(&self, symbol: &Symbol) -> bool {
        self.config.symbols.as_ref().is_none_or(|symbols| symbols.contains(symbol))
    }

    /// One round: reads what became final, feeds it, commits the signals,
    /// fills, positions and cursors in one transaction. Returns the number
    /// of bars fed.
    pub async fn step(&mut self) -> Result<u64, LiveError> {
        let store = Arc::clone(&self.store);
        let interval = self.config.interval;
        let boundary = store.batch_runs(1).await?.first().and_then(|run| run.boundary);
        if boundary != self.boundary && self.config.symbols.is_none() {
            for symbol in store.symbols().await? {
                if !self.series.contains_key(&symbol) {
                    self.add(symbol, None).await?;
                }
            }
        }
        self.boundary = boundary;

        // Final speed bars from the change feed.
        let filter = self.config.symbols.clone();
        loop {
            let changes = store.speed_changes(interval, filter.as_deref(), self.since, PAGE).await?;
            for change in &changes.changes {
                let bar = &change.bar.bar;
                if !change.bar.is_final || !self.follows(&bar.symbol) {
                    continue;
                }
                if !self.series.contains_key(&bar.symbol) {
                    self.add(bar.symbol.clone(), None).await?;
                }
                self.newest = self.newest.max(Some(bar.start));
                let Some(series) = self.series.get_mut(&bar.symbol) else { continue };
                if series.is_new(bar.start) {
                    series.pending.insert(bar.start, bar.clone());
                } else if self.caught_up {
                    self.metrics.revisions.inc();
                }
            }
            self.since = changes.next;
            if changes.changes.len() < PAGE {
                break;
            }
        }
        self.caught_up = true;

        let mut commit = SignalCommit::new(self.name(), interval);
        let mut fed = 0;
        for (symbol, series) in &mut self.series {
            let unread = series.batch_until.is_none_or(|read| boundary.is_some_and(|b| b > read));
            if let Some(boundary) = boundary
                && unread
                && series.is_new(boundary - 1)
            {
                let query = BarQuery {
                    interval,
                    symbol: Some(symbol.clone()),
                    from: series.cursor.map(|cursor| cursor + 1),
                    to: Some(boundary),
                    view: ViewSelect::Batch,
                    limit: None,
                };
                for row in store.bars(&query).await?.bars {
                    series.feed(&row.bar, &mut commit);
                    fed += 1;
                }
                series.batch_until = Some(boundary);
            }
            if let Some(boundary) = boundary {
                // Before the boundary the batch view's bars are the final ones.
                series.pending = series.pending.split_off(&boundary);
            }
            while let Some((_, bar)) = series.pending.pop_first() {
                if series.is_new(bar.start) {
                    series.feed(&bar, &mut commit);
                    fed += 1;
                }
            }
            if series.moved {
                series.moved = false;
                let last_start = series.cursor.unwrap_or_default();
                self.newest = self.newest.max(Some(last_start));
                commit.progress.push(BotCursor { symbol: symbol.clone(), last_start });
                commit.positions.extend(series.position());
            }
        }
        if !commit.is_empty() {
            store.commit_signals(&commit).await?;
            self.metrics.commits.inc();
            self.metrics.bars.inc_by(fed);
            self.metrics.signals.inc_by(commit.signals.len() as u64);
            self.metrics.fills.inc_by(commit.fills.len() as u64);
        }
        let consumed = self.series.values().filter_map(|s| s.cursor).max();
        if let (Some(newest), Some(consumed)) = (self.newest, consumed) {
            self.metrics.lag_seconds.set((newest - consumed).max(0) as f64 / NANOS_PER_SECOND as f64);
        }
        if let Some(outbox) = &mut self.outbox {
            let sent = outbox.publish(&*store as &dyn SignalStore).await?;
            self.metrics.published.inc_by(sent);
        }
        Ok(fed)
    }

    /// Starts, then steps every [`Config::poll`] until `shutdown` resolves.
    /// A failed step is logged and the bot starts over from the store (its
    /// in-memory state may be ahead of what was committed).
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), LiveError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut healthy = false;
        let mut status = Instant::now();
        loop {
            let round = async {
                if !healthy {
                    self.start().await?;
                }
                self.step().await
            };
            match round.await {
                Ok(_) => healthy = true,
                Err(error) => {
                    healthy = false;
                    tracing::warn!(bot = self.name(), %error, "Bot step failed; starting over from the store.");
                }
            }
            if status.elapsed() >= STATUS_EVERY {
                status = Instant::now();
                self.log_status();
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = &mut shutdown => break,
            }
        }
        self.log_status();
        tracing::info!(bot = self.name(), "Bot stopped.");
        Ok(())
    }

    fn log_status(&self) {
        let m = &self.metrics;
        tracing::info!(
            bot = self.name(),
            symbols = self.series.len(),
            bars = m.bars.get(),
            signals = m.signals.get(),
            fills = m.fills.get(),
            revisions = m.revisions.get(),
            lag_seconds = m.lag_seconds.get(),
            "Bot status."
        );
    }
}
