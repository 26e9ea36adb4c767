//! The SQLite engine (skeleton).

use super::{BarQuery, Bars, BatchPublish, BatchRun, FileManifest, StoreError, ViewStore};
use crate::codec::Reject;
use std::path::Path;

/// A view store in one SQLite file.
pub struct SqliteStore {}

impl SqliteStore {
    /// Opens (creating and migrating) the store at `path`.
    pub fn open(_path: &Path) -> Result<Self, StoreError> {
        Err(StoreError::Corrupt("SQLite store not implemented yet".into()))
    }
}

#[async_trait::async_trait]
impl ViewStore for SqliteStore {
    async fn publish_batch(&self, _publish: BatchPublish<'_>) -> Result<BatchRun, StoreError> {
        Err(StoreError::Corrupt("not implemented yet".into()))
    }
    async fn bars(&self, _query: &BarQuery) -> Result<Bars, StoreError> {
        Err(StoreError::Corrupt("not implemented yet".into()))
    }
    async fn batch_manifest(&self) -> Result<Vec<FileManifest>, StoreError> {
        Err(StoreError::Corrupt("not implemented yet".into()))
    }
    async fn batch_runs(&self, _limit: usize) -> Result<Vec<BatchRun>, StoreError> {
        Err(StoreError::Corrupt("not implemented yet".into()))
    }
    async fn rejects(&self, _limit: usize) -> Result<Vec<Reject>, StoreError> {
        Err(StoreError::Corrupt("not implemented yet".into()))
    }
}
