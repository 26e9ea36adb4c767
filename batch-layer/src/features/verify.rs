//! `tickflow features --verify DIR`: the governance check before a model is
//! retrained. Every quarter's data file must hash to what its manifest says,
//! and recomputing the quarter from the store now must give the same bytes.

use super::manifest::{DATA_FILE, MANIFEST, Manifest};
use super::{FeatureConfig, FeatureError, compute};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tickflow_shared::Symbol;
use tickflow_shared::store::ReadStore;
use tickflow_shared::time::parse_timestamp;

/// The quarters of one recorded export: its parameters and each data file with its manifest.
type Groups = BTreeMap<String, (FeatureConfig, Vec<(PathBuf, Manifest)>)>;

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The data files checked, in order.
    pub checked: Vec<PathBuf>,
    /// One sentence per file that failed, naming it.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether every file passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every quarter exported under `out` against its manifest and the store.
pub async fn verify(out: &Path, store: &dyn ReadStore) -> Result<VerifyReport, FeatureError> {
    let mut report = VerifyReport::default();
    let mut groups = Groups::new();
    for path in manifests(out)? {
        let manifest =
            Manifest::read(&path)?.ok_or_else(|| FeatureError::io(&path, std::io::ErrorKind::NotFound.into()))?;
        let dir = path.parent().unwrap_or(out).to_owned();
        let data = dir.join(DATA_FILE);
        report.checked.push(data.clone());
        match super::file::sha256_of(&data) {
            Ok(sha) if sha == manifest.file.sha256 => {}
            Ok(sha) => report.problems.push(format!(
                "{}: its SHA-256 is {sha}, the manifest records {}: the file changed after the export",
                data.display(),
                manifest.file.sha256
            )),
            Err(error) => report.problems.push(format!("{}: cannot be read ({error})", data.display())),
        }
        let config = config_of(&manifest, &path)?;
        let key = format!("{config:?}");
        groups.entry(key).or_insert_with(|| (config, Vec::new())).1.push((data, manifest));
    }
    let scratch = std::env::temp_dir().join(format!("tickflow-verify-{}", std::process::id()));
    let result = recompute_all(&groups, store, &scratch, &mut report).await;
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(|e| FeatureError::io(&scratch, e))?;
    }
    result.map(|()| report)
}

async fn recompute_all(
    groups: &Groups,
    store: &dyn ReadStore,
    scratch: &Path,
    report: &mut VerifyReport,
) -> Result<(), FeatureError> {
    for (config, files) in groups.values() {
        let computed = compute(config, store, scratch).await?;
        for (data, manifest) in files {
            let now = computed.quarters.iter().find(|(q, _)| q.to_string() == manifest.quarter).map(|(_, (_, m))| m);
            match now {
                Some(now) if now.file.sha256 == manifest.file.sha256 => {}
                Some(now) => report.problems.push(format!(
                    "{}: the store's bars now give SHA-256 {}, the manifest records {}: the batch view changed since \
                     the export; run `tickflow features` again to refresh it",
                    data.display(),
                    now.file.sha256,
                    manifest.file.sha256
                )),
                None => report.problems.push(format!(
                    "{}: the store no longer has any bar of quarter {}; run `tickflow features` again or remove it",
                    data.display(),
                    manifest.quarter
                )),
            }
        }
    }
    Ok(())
}

/// The export a manifest records; a complete quarter is recomputed up to the boundary.
fn config_of(manifest: &Manifest, path: &Path) -> Result<FeatureConfig, FeatureError> {
    let bad = |problem: String| FeatureError::Manifest { path: path.display().to_string(), problem };
    let time = |text: &str| parse_timestamp(text.as_bytes()).map_err(|e| bad(format!("time {text:?}: {e}")));
    let symbols = match &manifest.symbols {
        Some(list) => Some(
            list.iter()
                .map(|s| Symbol::new(s).map_err(|e| bad(format!("symbol {s:?}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    Ok(FeatureConfig {
        interval: manifest.interval.parse().map_err(|e| bad(format!("interval: {e}")))?,
        from: time(&manifest.from)?,
        to: manifest.to.as_deref().map(time).transpose()?,
        symbols,
        horizons: manifest.horizons.clone(),
    })
}

/// The manifests under `out` (`interval=*/year=*/quarter=*/_manifest.json`), in path order.
fn manifests(out: &Path) -> Result<Vec<PathBuf>, FeatureError> {
    let mut found = Vec::new();
    let mut dirs = vec![out.to_owned()];
    for prefix in ["interval=", "year=", "quarter="] {
        let mut next = Vec::new();
        for dir in &dirs {
            for entry in std::fs::read_dir(dir).map_err(|e| FeatureError::io(dir, e))? {
                let path = entry.map_err(|e| FeatureError::io(dir, e))?.path();
                if path.is_dir() && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)) {
                    next.push(path);
                }
            }
        }
        dirs = next;
    }
    for dir in dirs {
        let manifest = dir.join(MANIFEST);
        if manifest.exists() {
            found.push(manifest);
        }
    }
    found.sort();
    Ok(found)
}
