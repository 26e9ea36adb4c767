//! `/api/v1/features/manifests`: the feature export's quarters with their
//! lineage (DESIGN.md, contract 9), for the dashboard and for auditors.
//!
//! `tickflow features` writes `DIR/interval=I/year=Y/quarter=Q/part-0.parquet`
//! with a `_manifest.json` beside each file: the feature definitions, the
//! batch runs and archive files read, row and null counts and the data
//! file's SHA-256. This route lists those manifests as they are on disk,
//! under the directory `serve --features-dir` names; the serving layer reads
//! them as JSON and does not interpret them, so it never disagrees with the
//! export that wrote them.

use crate::State;
use crate::encoding::Body;
use crate::error::ApiError;
use std::path::{Path, PathBuf};
use warp::http::StatusCode;
use warp::reply::Response;

/// The file beside each quarter's data file.
const MANIFEST: &str = "_manifest.json";

/// `GET /api/v1/features/manifests`: every quarter's manifest, by path;
/// `configured` is false (and the list empty) without `--features-dir`.
pub(crate) async fn manifests(state: &State, gzip: bool) -> Result<Response, ApiError> {
    let Some(dir) = state.config.features_dir.clone() else {
        // No export configured: an empty list that says so, not an error.
        return Ok(Body::new(r#"{"configured":false,"quarters":[]}"#).reply(StatusCode::OK, gzip));
    };
    let found = tokio::task::spawn_blocking(move || read_all(&dir))
        .await
        .map_err(|e| ApiError::unavailable(format!("reading the feature manifests stopped: {e}")))??;
    let quarters: Vec<serde_json::Value> =
        found.into_iter().map(|(path, manifest)| serde_json::json!({ "path": path, "manifest": manifest })).collect();
    let body = serde_json::json!({ "configured": true, "quarters": quarters }).to_string();
    Ok(Body::new(body).reply(StatusCode::OK, gzip))
}

/// Every `_manifest.json` under `dir` as `(its directory relative to dir, its JSON)`, sorted by path.
fn read_all(dir: &Path) -> Result<Vec<(String, serde_json::Value)>, ApiError> {
    let unreadable = |path: &Path, e: &dyn std::fmt::Display| {
        ApiError::unavailable(format!(
            "the feature export under {} is not readable at {}: {e}; check --features-dir and the files' permissions",
            dir.display(),
            path.display()
        ))
    };
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).map_err(|e| unreadable(&at, &e))? {
            let path = entry.map_err(|e| unreadable(&at, &e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == MANIFEST) {
                let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, &e))?;
                let json = serde_json::from_str(&text).map_err(|e| unreadable(&path, &e))?;
                let relative = path.parent().and_then(|p| p.strip_prefix(dir).ok()).unwrap_or(Path::new(""));
                found.push((relative.display().to_string(), json));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_is_found_with_its_quarter_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (quarter, rows) in [("interval=1d/year=2014/quarter=1", 7), ("interval=1d/year=2013/quarter=4", 3)] {
            let at = dir.path().join(quarter);
            std::fs::create_dir_all(&at).expect("mkdir");
            std::fs::write(at.join(MANIFEST), format!(r#"{{"rows":{rows}}}"#)).expect("write");
            std::fs::write(at.join("part-0.parquet"), b"PAR1").expect("write");
        }
        let found = read_all(dir.path()).expect("read");
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["interval=1d/year=2013/quarter=4", "interval=1d/year=2014/quarter=1"]);
        assert_eq!(found[1].1["rows"], 7);

        std::fs::write(dir.path().join("interval=1d/year=2014/quarter=1").join(MANIFEST), "{not json").expect("write");
        let error = read_all(dir.path()).expect_err("a broken manifest is an error");
        assert!(error.message.contains("quarter=1"), "{}", error.message);
    }
}
