//! The SQLite engine: one file, WAL mode, money as integers of 10^-8.
//!
//! Every call runs on the store's own threads ([`threads`]): a publish or a
//! speed commit is one `BEGIN IMMEDIATE` transaction on the write thread's
//! connection; a read is one deferred transaction on whichever read thread
//! is free, which in WAL mode is a snapshot that a concurrent publish does
//! not disturb. Each role is implemented in its own module: [`batch`],
//! [`speed`] and [`read`].

mod batch;
mod insert;
mod read;
mod retention;
mod serving;
mod signals;
mod speed;
mod threads;

use super::common::to_u64;
use super::{Access, BatchRun, Progress, SpeedStatus, StoreError, migrations, redact};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;
use threads::Threads;

/// Read connections: enough for both cores of a small server, each with its
/// own page cache.
const READERS: usize = 4;

/// A view store in one SQLite file.
pub struct SqliteStore {
    /// `None` when opened for reading only.
    writer: Option<Threads>,
    readers: Threads,
}

/// Opens a connection to an existing file (`create`: or a new one) with the
/// settings every connection shares.
fn connection(path: &Path, create: bool, cache_kib: i64) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    if create {
        // Large pages take effect only for a new file, before WAL is switched on.
        conn.pragma_update(None, "page_size", 16_384)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens the store at `path`. A writer creates its directory and file and
    /// applies missing migrations; a reader needs a migrated store there and
    /// creates nothing.
    pub fn open(path: &Path, access: Access) -> Result<Self, StoreError> {
        let writer = match access {
            Access::Write => {
                if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|source| StoreError::Io { path: dir.display().to_string(), source })?;
                }
                // 64 MiB of page cache: a publish appends many rows in one transaction.
                let mut write = connection(path, true, 65_536)?;
                migrations::run_sqlite(&mut write)?;
                Some(Threads::start("writer", vec![write])?)
            }
            Access::Read => {
                check_migrated(path)?;
                None
            }
        };
        let readers = (0..READERS).map(|_| connection(path, false, 16_384)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { writer, readers: Threads::start("reader", readers)? })
    }

    /// Runs `job` on the write connection.
    async fn write<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| StoreError::Stopped("write connection (the store was opened for reading only)".into()))?;
        writer.run(job).await
    }

    /// Runs `job` on a free read connection.
    async fn read<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.readers.run(job).await
    }
}

/// Applies missing migrations to the file at `path` (creating it) and
/// reports the store's state.
pub(crate) fn migrate(path: &Path) -> Result<super::MigrateReport, StoreError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.display().to_string(), source })?;
    }
    let mut conn = connection(path, true, 2_048)?;
    let applied = migrations::run_sqlite(&mut conn)?;
    let schema_version = conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0))?;
    Ok(super::MigrateReport {
        engine: format!("SQLite {}", rusqlite::version()),
        schema_version,
        applied,
        timescale: None,
    })
}

/// Fails with [`StoreError::Missing`] unless `path` is a SQLite file with
/// every migration this tickflow knows applied.
fn check_migrated(path: &Path) -> Result<(), StoreError> {
    let missing =
        |problem: String| StoreError::Missing { url: redact(&format!("sqlite://{}", path.display())), problem };
    if !path.is_file() {
        return Err(missing("there is no such file".into()));
    }
    let conn = connection(path, false, 2_048).map_err(|e| missing(format!("cannot be opened ({e})")))?;
    let applied: Result<i64, _> =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0));
    let latest = migrations::latest();
    match applied {
        Ok(version) if version >= latest => Ok(()),
        Ok(version) => Err(missing(format!("the store is at migration {version} of {latest}"))),
        Err(e) => Err(missing(format!("it is not a tickflow store ({e})"))),
    }
}

#[async_trait::async_trait]
impl Progress for SqliteStore {
    async fn batch_runs(&self, limit: usize) -> Result<Vec<BatchRun>, StoreError> {
        self.read(move |conn| runs(conn, limit)).await
    }

    async fn speed_status(&self) -> Result<SpeedStatus, StoreError> {
        self.read(speed::status).await
    }
}

fn runs(conn: &mut Connection, limit: usize) -> Result<Vec<BatchRun>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT version, started_at, published_at, boundary, days, trades, bars, rejects
         FROM batch_runs ORDER BY version DESC LIMIT ?1",
    )?;
    let mut rows = stmt.query([i64::try_from(limit).unwrap_or(i64::MAX)])?;
    let mut runs = Vec::new();
    while let Some(r) = rows.next()? {
        runs.push(BatchRun {
            version: r.get(0)?,
            started_at: r.get(1)?,
            published_at: r.get(2)?,
            boundary: r.get(3)?,
            days: to_u64(r.get(4)?, "days")?,
            trades: to_u64(r.get(5)?, "trades")?,
            bars: to_u64(r.get(6)?, "bars")?,
            rejects: to_u64(r.get(7)?, "rejects")?,
        });
    }
    Ok(runs)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod speed_tests;
