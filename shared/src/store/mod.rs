//! Where bars are kept: small traits, one per role ([`roles`]), and two
//! engines that implement them all.
//!
//! PostgreSQL (`postgres://…`) is the production store; with the TimescaleDB
//! extension present its time tables become hypertables. SQLite
//! (`sqlite://path`) is the embedded default. Both run the same versioned
//! migrations ([`migrations`]) and give the tables the same meaning; each
//! stores money the exact way its engine can (`NUMERIC` in PostgreSQL,
//! integers of 10^-8 in SQLite). Each engine implements a role in a module
//! of its own (`sqlite/batch.rs`, `postgres/speed.rs`, …).
//!
//! The batch layer publishes whole UTC days in one transaction
//! ([`BatchStore::publish_batch`]) and moves the boundary with them; readers
//! see the boundary and both views in one snapshot ([`ReadStore::bars`]).
//! The speed layer upserts bars together with the Kafka positions that
//! produced them ([`SpeedStore::commit_speed`], see [`speed`]). The signal
//! bot writes its signals, fills, positions and progress in one transaction
//! ([`SignalStore::commit_signals`], see [`signals`]).
//!
//! [`open`] hands a command the store a URL names: a writer creates and
//! migrates it, a reader ([`Access::Read`]) finds it or fails, creating
//! nothing. SQLite's calls block, so that engine runs them on threads of its
//! own, never on the async runtime's.

mod batch;
mod common;
mod error;
pub mod migrations;
mod postgres;
mod query;
pub mod retention;
pub mod roles;
pub mod serving;
pub mod signals;
pub mod speed;
mod sqlite;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use batch::{BatchDay, BatchPublish, BatchRun, DayFile, DaySummary, FileManifest};
pub use error::StoreError;
pub use postgres::timescale::Conversion;
pub use postgres::{GrantReport, PostgresStore, connect as connect_postgres};
pub use query::{BarQuery, Bars, View, ViewBar, ViewSelect};
pub use retention::{Retained, Retention};
pub use roles::{BatchStore, Progress, ReadStore, SignalStore, SpeedStore, Store};
pub use serving::{PartitionProgress, StoreStats};
pub use signals::{BotCursor, Position, SignalChange, SignalChanges, SignalCommit, SignalQuery};
pub use speed::{LateTrade, PartitionOffset, SpeedBar, SpeedChange, SpeedChanges, SpeedCommit, SpeedStatus};
pub use sqlite::SqliteStore;

use std::sync::Arc;

/// How a command opens a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only read: the store must exist and be migrated; nothing is created.
    Read,
    /// Write: create the store if it is missing and apply missing migrations.
    Write,
}

/// Opens the store a URL names, for reading or writing.
///
/// A writer gets the store created and migrated; a reader gets
/// [`StoreError::Missing`] when there is no migrated store at the URL. Every
/// error names the URL (without its password). The result serves every
/// role; a command keeps the one it needs:
///
/// ```no_run
/// # async fn example() -> Result<(), tickflow_shared::store::StoreError> {
/// use std::sync::Arc;
/// use tickflow_shared::store::{self, Access, ReadStore};
/// let reader: Arc<dyn ReadStore> = store::open("sqlite://data/views.db", Access::Read).await?;
/// println!("{} symbols", reader.symbols().await?.len());
/// # Ok(())
/// # }
/// ```
pub async fn open(url: &str, access: Access) -> Result<Arc<dyn Store>, StoreError> {
    let opened: Result<Arc<dyn Store>, StoreError> =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PostgresStore::open(url, access).await.map(|store| Arc::new(store) as _)
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            SqliteStore::open(std::path::Path::new(path), access).map(|store| Arc::new(store) as _)
        } else {
            return Err(StoreError::Url(redact(url)));
        };
    opened.map_err(|error| match error {
        StoreError::Missing { .. } => error,
        other => StoreError::Open { url: redact(url), source: Box::new(other) },
    })
}

/// What `tickflow migrate` did and found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateReport {
    /// The engine and its version, e.g. `PostgreSQL 15.18`.
    pub engine: String,
    /// The newest migration applied.
    pub schema_version: i64,
    /// How many migrations this run applied.
    pub applied: usize,
    /// TimescaleDB's state and what this run converted (PostgreSQL only).
    pub timescale: Option<Conversion>,
}

/// Applies every missing migration to the store a URL names (creating it),
/// and on PostgreSQL creates the TimescaleDB extension and turns the time
/// tables into hypertables where the server now offers it, moving their
/// rows; reports the store's state.
pub async fn migrate(url: &str) -> Result<MigrateReport, StoreError> {
    let migrated = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres::migrate(url).await
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        sqlite::migrate(std::path::Path::new(path))
    } else {
        return Err(StoreError::Url(redact(url)));
    };
    migrated.map_err(|error| StoreError::Open { url: redact(url), source: Box::new(error) })
}

/// Lets the existing PostgreSQL role `role` read the store at `url` (and the
/// tables later migrations add) and nothing else, after applying missing
/// migrations; run as the role that owns the store. See `postgres/grant.rs`.
pub async fn grant_read(url: &str, role: &str) -> Result<GrantReport, StoreError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::Grant(format!(
            "{} is not a PostgreSQL URL; roles and grants are PostgreSQL's (SQLite has none)",
            redact(url)
        )));
    }
    postgres::grant_read(url, role)
        .await
        .map_err(|error| StoreError::Open { url: redact(url), source: Box::new(error) })
}

/// `url` with its password (in the user part or a `password=` parameter)
/// replaced by `***`: what errors and logs may show of a store URL.
pub fn redact(url: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let mut out = match (base.find("://").map(|i| i + 3), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => match base[scheme_end..at].find(':') {
            Some(colon) => format!("{}:***{}", &base[..scheme_end + colon], &base[at..]),
            None => base.to_owned(),
        },
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(redact("postgres://u:s3cret@h:5432/db?x=1"), "postgres://u:***@h:5432/db?x=1");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://h/db?sslmode=require&password=x"),
            "postgres://h/db?sslmode=require&password=***"
        );
        assert_eq!(redact("sqlite://data/views.db"), "sqlite://data/views.db");
    }
}
