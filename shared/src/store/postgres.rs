//! The PostgreSQL engine (skeleton).

use super::{BarQuery, Bars, BatchPublish, BatchRun, FileManifest, StoreError, ViewStore};
use crate::codec::Reject;

/// A view store in PostgreSQL.
pub struct PostgresStore {}

impl PostgresStore {
    /// Connects to `url` and migrates.
    pub async fn connect(_url: &str) -> Result<Self, StoreError> {
        Err(StoreError::Corrupt("PostgreSQL store not implemented yet".into()))
    }
}

#[async_trait::async_trait]
impl ViewStore for PostgresStore {
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
