//! The feature export (`tickflow features`): point-in-time features and
//! labels of published batch bars, one Parquet file and manifest per quarter
//! (DESIGN.md, contract 9).
//!
//! An export reads, symbol by symbol, the batch view's bars of one interval
//! that start in `[from, to)` and before the boundary (never a speed bar),
//! feeds each symbol's series through the indicators of `shared`
//! ([`columns`]), and appends its rows to the file of the quarter each row
//! falls in ([`file`]). The lineage of the batch view (days, runs, archive
//! files) is read before and after the bars; if a publish moved it in
//! between, the export stops rather than mix two versions.
//!
//! The design decision: a rerun recomputes every quarter but *writes* only
//! the quarters whose bytes or lineage changed. Recomputing is cheap next to
//! the reading, and it is the only way to be exact: RSI and ATR are
//! recursive, so a republished day can move values well past its own
//! quarter, and the labels of a quarter's last rows read into the next one.
//! Comparing the recomputed data file's SHA-256 and the manifest with what is
//! on disk decides; an unchanged quarter is not touched. [`verify`] runs the
//! same recomputation against an existing export and reports every file
//! whose bytes are not what the store gives now.
//!
//! Start with [`export`] and [`columns::compute`].

pub mod columns;
pub mod file;
pub mod manifest;
pub mod quarter;
mod source;
#[cfg(test)]
mod tests;
pub mod verify;

use file::{QuarterFile, Written, sha256_of};
use manifest::{ColumnCount, DATA_FILE, DataFile, Lineage, MANIFEST, Manifest, SCHEMA_VERSION};
use quarter::Quarter;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tickflow_shared::store::{ReadStore, StoreError};
use tickflow_shared::time::format_rfc3339;
use tickflow_shared::{Bar, Interval, Symbol};

pub use verify::{VerifyReport, verify};

/// Errors that stop an export; quarters already renamed into place stay valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Encoding a data file failed.
    #[error("{path}: {problem}")]
    Encode {
        /// The file.
        path: String,
        /// What failed.
        problem: String,
    },
    /// A manifest could not be read or written.
    #[error("manifest {path}: {problem}; delete the quarter's directory to export it afresh")]
    Manifest {
        /// The manifest.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The store has no batch run yet.
    #[error("the store has no published batch run, so there are no batch bars to export; run `tickflow batch` first")]
    NoBatch,
    /// `--from` is not before the end of the range.
    #[error("nothing to export: --from {from} is not before {to} (--to, or the batch boundary if earlier)")]
    EmptyRange {
        /// `--from`, RFC 3339.
        from: String,
        /// The end of the range, RFC 3339.
        to: String,
    },
    /// A batch run published while the export was reading.
    #[error("the batch view changed while the export read it (a batch run published); nothing was written, run again")]
    Moved,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FeatureError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }

    fn encode(path: &Path, error: impl std::fmt::Display) -> Self {
        Self::Encode { path: path.display().to_string(), problem: error.to_string() }
    }
}

/// What an export computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureConfig {
    /// The bar interval.
    pub interval: Interval,
    /// First bar start read (ns).
    pub from: i64,
    /// First bar start not read (ns); `None` for everything published.
    pub to: Option<i64>,
    /// The symbols, or `None` for every symbol in the store.
    pub symbols: Option<Vec<Symbol>>,
    /// Label horizons, in bars.
    pub horizons: Vec<u32>,
}

/// What happened to one quarter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarterReport {
    /// The quarter.
    pub quarter: Quarter,
    /// Its data file.
    pub path: PathBuf,
    /// Its rows.
    pub rows: u64,
    /// Whether its files were written (`false`: unchanged, left alone).
    pub written: bool,
}

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Every quarter with rows, in order.
    pub quarters: Vec<QuarterReport>,
    /// The end of the range read (ns).
    pub to: i64,
    /// Bars read.
    pub bars: u64,
}

impl ExportReport {
    /// The quarters written.
    pub fn written(&self) -> impl Iterator<Item = &QuarterReport> {
        self.quarters.iter().filter(|q| q.written)
    }
}

/// Exports `config`'s features from `store` under `out`, writing only the
/// quarters that changed.
pub async fn export(config: &FeatureConfig, store: &dyn ReadStore, out: &Path) -> Result<ExportReport, FeatureError> {
    let computed = compute(config, store, out).await?;
    let mut report = ExportReport { to: computed.to, bars: computed.bars, quarters: Vec::new() };
    for (quarter, (written, manifest)) in computed.quarters {
        let dir = quarter.dir(out, config.interval);
        let (data, manifest_path) = (dir.join(DATA_FILE), dir.join(MANIFEST));
        let same = Manifest::read(&manifest_path)?.as_ref() == Some(&manifest)
            && data.exists()
            && sha256_of(&data)? == manifest.file.sha256;
        if same {
            std::fs::remove_file(&written.temp).map_err(|e| FeatureError::io(&written.temp, e))?;
        } else {
            std::fs::rename(&written.temp, &data).map_err(|e| FeatureError::io(&data, e))?;
            let temp = dir.join(format!(".{MANIFEST}.tmp"));
            std::fs::write(&temp, manifest.to_bytes()?).map_err(|e| FeatureError::io(&temp, e))?;
            std::fs::rename(&temp, &manifest_path).map_err(|e| FeatureError::io(&manifest_path, e))?;
        }
        report.quarters.push(QuarterReport { quarter, path: data, rows: written.rows, written: !same });
    }
    Ok(report)
}

/// Every quarter recomputed: its data file under a temporary name in `out`,
/// and the manifest it would have.
pub(crate) struct Computed {
    pub quarters: BTreeMap<Quarter, (Written, Manifest)>,
    pub to: i64,
    pub bars: u64,
}

/// Recomputes every quarter of `config` into temporary files under `out`.
///
/// Two stages overlap: this task reads one symbol's bars from the store
/// while a writer thread computes and encodes the previous symbol's rows.
pub(crate) async fn compute(
    config: &FeatureConfig,
    store: &dyn ReadStore,
    out: &Path,
) -> Result<Computed, FeatureError> {
    let snapshot = source::Snapshot::take(config, store).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<(Symbol, Vec<Bar>)>(2);
    let writer = {
        let (horizons, interval, out) = (config.horizons.clone(), config.interval, out.to_owned());
        std::thread::spawn(move || write_series(receiver, &horizons, interval, &out))
    };
    let mut bars = 0;
    let read = async {
        for symbol in &snapshot.symbols {
            let series = snapshot.bars(store, symbol).await?;
            bars += series.len() as u64;
            if sender.send((symbol.clone(), series)).await.is_err() {
                break;
            }
        }
        snapshot.check_unmoved(store).await
    }
    .await;
    drop(sender);
    let (files, written) =
        writer.join().map_err(|_| FeatureError::encode(out, "the feature writer thread panicked"))?;
    let result = read.and(written);
    let mut quarters = BTreeMap::new();
    for (quarter, file) in files {
        let written = file.finish()?;
        if result.is_err() {
            std::fs::remove_file(&written.temp).map_err(|e| FeatureError::io(&written.temp, e))?;
            continue;
        }
        let manifest = manifest_of(config, &snapshot, quarter, &written)?;
        quarters.insert(quarter, (written, manifest));
    }
    result?;
    Ok(Computed { quarters, to: snapshot.to, bars })
}

/// The writer stage: each symbol's rows computed and appended to the files
/// of the quarters they fall in. Returns the files opened, and the first
/// error, after which it stops taking series.
fn write_series(
    mut receiver: tokio::sync::mpsc::Receiver<(Symbol, Vec<Bar>)>,
    horizons: &[u32],
    interval: Interval,
    out: &Path,
) -> (BTreeMap<Quarter, QuarterFile>, Result<(), FeatureError>) {
    let mut files: BTreeMap<Quarter, QuarterFile> = BTreeMap::new();
    while let Some((symbol, series)) = receiver.blocking_recv() {
        let columns = columns::compute(&series, horizons);
        let mut at = 0;
        while at < series.len() {
            let quarter = Quarter::of(series[at].start);
            let end = at + series[at..].partition_point(|b| b.start < quarter.end());
            let file = match files.entry(quarter) {
                std::collections::btree_map::Entry::Occupied(file) => file.into_mut(),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    let temp = quarter.dir(out, interval).join(format!(".{DATA_FILE}.tmp"));
                    match QuarterFile::create(temp, horizons) {
                        Ok(file) => slot.insert(file),
                        Err(error) => return (files, Err(error)),
                    }
                }
            };
            if let Err(error) = file.append(symbol.as_str(), &columns, at..end) {
                return (files, Err(error));
            }
            at = end;
        }
    }
    (files, Ok(()))
}

/// The manifest of a quarter just computed.
fn manifest_of(
    config: &FeatureConfig,
    snapshot: &source::Snapshot,
    quarter: Quarter,
    written: &Written,
) -> Result<Manifest, FeatureError> {
    let names = file::column_names(&config.horizons);
    let labels_known = names.iter().zip(&written.nulls).all(|(name, &nulls)| !name.starts_with("fwd_") || nulls == 0);
    let complete = snapshot.to >= quarter.end() && labels_known;
    let days: Vec<_> = snapshot
        .days
        .iter()
        .filter(|d| Quarter::of(d.day * tickflow_shared::time::NANOS_PER_DAY) == quarter)
        .cloned()
        .collect();
    Ok(Manifest {
        schema_version: SCHEMA_VERSION,
        tickflow_version: env!("CARGO_PKG_VERSION").to_owned(),
        interval: config.interval.to_string(),
        quarter: quarter.to_string(),
        from: format_rfc3339(config.from),
        to: (!complete).then(|| format_rfc3339(snapshot.to)),
        symbols: config.symbols.as_ref().map(|s| s.iter().map(ToString::to_string).collect()),
        horizons: config.horizons.clone(),
        features: manifest::definitions(),
        file: DataFile {
            path: DATA_FILE.to_owned(),
            sha256: sha256_of(&written.temp)?,
            bytes: std::fs::metadata(&written.temp).map_err(|e| FeatureError::io(&written.temp, e))?.len(),
            rows: written.rows,
        },
        columns: names.into_iter().zip(&written.nulls).map(|(name, &nulls)| ColumnCount { name, nulls }).collect(),
        lineage: Lineage::of(&days, &snapshot.runs),
    })
}
