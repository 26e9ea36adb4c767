//! What an export reads: the published batch bars, symbol by symbol, and the
//! lineage they came from, checked to be one version of the batch view.

use super::{FeatureConfig, FeatureError};
use tickflow_shared::store::{BarQuery, BatchDay, BatchRun, ReadStore, ViewSelect};
use tickflow_shared::time::{day_of, format_rfc3339};
use tickflow_shared::{Bar, Symbol};

/// The most batch runs a manifest's lineage looks up.
const RUNS: usize = 1_000_000;

/// The state of the batch view when an export starts.
pub(crate) struct Snapshot {
    /// The boundary: every bar read starts before it.
    pub boundary: i64,
    /// The end of the range read: `--to`, or the boundary if earlier.
    pub to: i64,
    /// First bar start read.
    pub from: i64,
    /// The published days of the range, with their files.
    pub days: Vec<BatchDay>,
    /// Every batch run, newest first.
    pub runs: Vec<BatchRun>,
    /// The symbols to read, in order.
    pub symbols: Vec<Symbol>,
    interval: tickflow_shared::Interval,
}

impl Snapshot {
    /// Reads the boundary, the lineage of `config`'s range and its symbols.
    pub async fn take(config: &FeatureConfig, store: &dyn ReadStore) -> Result<Self, FeatureError> {
        let runs = store.batch_runs(RUNS).await?;
        let boundary = runs.iter().find_map(|r| r.boundary).ok_or(FeatureError::NoBatch)?;
        let to = config.to.map_or(boundary, |to| to.min(boundary));
        if config.from >= to {
            return Err(FeatureError::EmptyRange { from: format_rfc3339(config.from), to: format_rfc3339(to) });
        }
        let days = store.batch_days(day_of(config.from), day_of(to - 1) + 1).await?;
        let mut symbols = match &config.symbols {
            Some(symbols) => symbols.clone(),
            None => store.symbols().await?,
        };
        symbols.sort();
        symbols.dedup();
        Ok(Self { boundary, to, from: config.from, days, runs, symbols, interval: config.interval })
    }

    /// One symbol's published batch bars of the range, in `start` order.
    pub async fn bars(&self, store: &dyn ReadStore, symbol: &Symbol) -> Result<Vec<Bar>, FeatureError> {
        let query = BarQuery {
            interval: self.interval,
            symbol: Some(symbol.clone()),
            from: Some(self.from),
            to: Some(self.to),
            view: ViewSelect::Batch,
            limit: None,
        };
        let read = store.bars(&query).await?;
        let boundary = read.boundary.unwrap_or(i64::MIN);
        if boundary != self.boundary {
            return Err(FeatureError::Moved);
        }
        Ok(read.bars.into_iter().map(|b| b.bar).filter(|bar| bar.start < boundary).collect())
    }

    /// Fails with [`FeatureError::Moved`] if a batch run published since [`Snapshot::take`].
    pub async fn check_unmoved(&self, store: &dyn ReadStore) -> Result<(), FeatureError> {
        let newest = store.batch_runs(1).await?;
        let days = store.batch_days(day_of(self.from), day_of(self.to - 1) + 1).await?;
        let same_run = newest.first().map(|r| r.version) == self.runs.first().map(|r| r.version);
        if same_run && days == self.days { Ok(()) } else { Err(FeatureError::Moved) }
    }
}
