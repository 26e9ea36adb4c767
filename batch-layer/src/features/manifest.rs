//! `_manifest.json`: what a quarter's data file holds and where it came from.
//!
//! A manifest is a pure function of the export's parameters, the batch view's
//! lineage and the data file, with no wall-clock of its own: an unchanged
//! quarter gives the same manifest bytes, which is how a rerun knows to leave
//! it alone. Its lineage lists the batch runs that published the quarter's
//! days (with the boundary each moved to) and the archive files of those days
//! as the batch manifest recorded them; the features also carry state from
//! the bars before the quarter (windows, Wilder smoothing), whose lineage is
//! in the earlier quarters' manifests, and the labels read up to `h` bars
//! past it. The hash catches a change in any of them.

use super::FeatureError;
use super::columns::{Definition, FEATURES};
use std::path::Path;
use tickflow_shared::store::{BatchDay, BatchRun};
use tickflow_shared::time::{format_day, format_rfc3339};

/// The manifest's schema version; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// The name of the manifest beside each data file.
pub const MANIFEST: &str = "_manifest.json";

/// The name of each quarter's data file.
pub const DATA_FILE: &str = "part-0.parquet";

/// A quarter's manifest.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The tickflow version that wrote it.
    pub tickflow_version: String,
    /// The bar interval, like `1d`.
    pub interval: String,
    /// The quarter, like `2013-Q4`.
    pub quarter: String,
    /// The bars read: starts in `[from, to)`, RFC 3339; `to` is `None` once the
    /// quarter is complete (reading further would change none of its rows).
    pub from: String,
    /// See [`Manifest::from`].
    pub to: Option<String>,
    /// The symbols asked for, or `None` for all.
    pub symbols: Option<Vec<String>>,
    /// The label horizons, in bars.
    pub horizons: Vec<u32>,
    /// The feature definitions.
    pub features: Vec<FeatureDef>,
    /// The data file.
    pub file: DataFile,
    /// Rows and nulls per column, in column order.
    pub columns: Vec<ColumnCount>,
    /// The batch view this quarter's rows were read from.
    pub lineage: Lineage,
}

/// A feature definition as written down.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDef {
    /// The column (`h` stands for each horizon).
    pub name: String,
    /// Its formula.
    pub formula: String,
    /// The bars it looks at (0: the series from its first bar, or forward for a label).
    pub window: u32,
}

impl From<&Definition> for FeatureDef {
    fn from(d: &Definition) -> Self {
        Self { name: d.name.to_owned(), formula: d.formula.to_owned(), window: d.window }
    }
}

/// The data file a manifest describes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFile {
    /// Its name, beside the manifest.
    pub path: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// Its rows.
    pub rows: u64,
}

/// Nulls of one column.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnCount {
    /// The column.
    pub name: String,
    /// Its null values.
    pub nulls: u64,
}

/// Where the rows came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    /// The batch runs that published the quarter's days, by version.
    pub runs: Vec<RunRef>,
    /// The quarter's published days, each with its archive files.
    pub days: Vec<DayRef>,
}

/// A batch run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRef {
    /// Its version.
    pub version: i64,
    /// The boundary it moved to, RFC 3339.
    pub boundary: Option<String>,
    /// When it was published, RFC 3339.
    pub published_at: String,
}

/// A published day.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayRef {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The run that published it last.
    pub version: i64,
    /// Its trades.
    pub trades: u64,
    /// Its archive files.
    pub files: Vec<FileRef>,
}

/// An archive file as the batch manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Its path.
    pub path: String,
    /// Its size when read.
    pub bytes: u64,
    /// Its modification time when read, ns since the epoch.
    pub modified_ns: i64,
    /// The run that read it last.
    pub version: i64,
}

/// The definitions every manifest lists.
pub fn definitions() -> Vec<FeatureDef> {
    FEATURES.iter().map(FeatureDef::from).collect()
}

impl Lineage {
    /// The lineage of `days` (those of one quarter), given every run for its boundary.
    pub fn of(days: &[BatchDay], runs: &[BatchRun]) -> Self {
        let mut versions: Vec<i64> = days.iter().map(|d| d.version).collect();
        versions.sort_unstable();
        versions.dedup();
        let runs = versions
            .into_iter()
            .map(|version| {
                let run = runs.iter().find(|r| r.version == version);
                let published_at = days.iter().find(|d| d.version == version).map_or(0, |d| d.published_at);
                RunRef {
                    version,
                    boundary: run.and_then(|r| r.boundary).map(format_rfc3339),
                    published_at: format_rfc3339(published_at),
                }
            })
            .collect();
        let days = days
            .iter()
            .map(|d| DayRef {
                day: format_day(d.day),
                version: d.version,
                trades: d.trades,
                files: d
                    .files
                    .iter()
                    .map(|f| FileRef {
                        path: f.path.clone(),
                        bytes: f.bytes,
                        modified_ns: f.modified_ns,
                        version: f.version,
                    })
                    .collect(),
            })
            .collect();
        Self { runs, days }
    }
}

impl Manifest {
    /// The manifest's bytes: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FeatureError> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| FeatureError::Manifest { path: self.quarter.clone(), problem: e.to_string() })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Reads the manifest at `path`; `None` if there is none.
    pub fn read(path: &Path) -> Result<Option<Self>, FeatureError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FeatureError::io(path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| FeatureError::Manifest { path: path.display().to_string(), problem: e.to_string() })
    }
}
