//! The PostgreSQL engine: `NUMERIC` money, `TIMESTAMPTZ` bar starts,
//! TimescaleDB hypertables when the extension is available.
//!
//! One connection writes (a publish holds it from the `COPY` into staging to
//! the commit); a few others read, each read being one `REPEATABLE READ READ
//! ONLY` transaction, so it sees the boundary and both views of one commit.
//! Each role is implemented in its own module: [`batch`], [`speed`] and
//! [`read`] (with [`serving`] and [`speed_read`]).
//!
//! A connection the server dropped (a restart, a failover) is replaced the
//! next time it is taken: the store connects again with the URL it was
//! opened with, so a caller that retries a failed call after an outage
//! ([`StoreError::is_transient`]) needs no new store.

mod batch;
mod connect;
mod copy;
mod grant;
mod numeric;
mod password;
mod read;
mod retention;
mod serving;
mod signals;
mod speed;
mod speed_read;
pub(crate) mod timescale;
mod tls;

pub use connect::connect;
pub use grant::GrantReport;
pub(crate) use grant::grant_read;

use super::{Access, BatchRun, Progress, SpeedStatus, StoreError, migrations, redact};
use bytes::{BufMut, BytesMut};
use std::collections::HashMap;
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};
use tokio_postgres::{Client, GenericClient, Statement};

/// How many connections serve reads: a bounded pool, enough to keep both
/// cores of a small server busy while other reads wait on the network.
const READERS: usize = 6;

/// Statements one read connection keeps prepared, at most.
const PREPARED: usize = 64;

/// A view store in a PostgreSQL database.
pub struct PostgresStore {
    /// The URL it was opened with, for connecting again; never shown, it may hold a password.
    url: String,
    /// `None` when opened for reading only.
    write: Option<Mutex<Client>>,
    readers: Pool,
    /// Drives the connections; declared last, so it stops after the clients.
    io: IoThread,
}

/// The read connections: one queue of waiting reads, first come first
/// served, each taking whichever connection is free.
struct Pool {
    free: std::sync::Mutex<Vec<Reader>>,
    permits: Semaphore,
}

/// A read connection taken from the pool; back in it on drop.
struct Lease<'a> {
    free: &'a std::sync::Mutex<Vec<Reader>>,
    reader: Option<Reader>,
    _permit: SemaphorePermit<'a>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        self.reader.as_ref().unwrap_or_else(|| unreachable!("a lease holds its reader until dropped"))
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Reader {
        self.reader.as_mut().unwrap_or_else(|| unreachable!("a lease holds its reader until dropped"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Before the permit goes: the next read finds the connection free.
        if let Some(reader) = self.reader.take() {
            free_list(self.free).push(reader);
        }
    }
}

fn free_list(free: &std::sync::Mutex<Vec<Reader>>) -> std::sync::MutexGuard<'_, Vec<Reader>> {
    // Pushing or popping cannot leave the list half-changed: a poisoned lock is still whole.
    free.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A read connection and the statements prepared on it, by SQL text: a
/// read's SQL depends only on the shape of its query, so after the first
/// few reads every statement is parsed and planned once per connection.
pub(crate) struct Reader {
    client: Client,
    statements: HashMap<String, Statement>,
    /// The batch boundary of this connection's last bars read (`None`
    /// before the first), the guess of its next one.
    boundary: Option<Option<i64>>,
    /// Whether `batch_bars` is a hypertable, learned by this connection's
    /// first `/latest` read (`None` before it).
    chunked: Option<bool>,
}

/// The prepared statement of `sql` on `client`'s connection.
pub(crate) async fn prepared(
    statements: &mut HashMap<String, Statement>,
    client: &impl GenericClient,
    sql: &str,
) -> Result<Statement, StoreError> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql).await?;
    if statements.len() < PREPARED {
        statements.insert(sql.to_owned(), statement.clone());
    }
    Ok(statement)
}

/// A runtime of the store's own that drives its connections, so the store
/// works from any runtime: one that is only driven now and then (a
/// current-thread runtime between `block_on` calls) or one dropped after
/// opening the store.
struct IoThread {
    handle: tokio::runtime::Handle,
    /// Taken on drop.
    runtime: Option<tokio::runtime::Runtime>,
}

impl IoThread {
    fn start() -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres-io")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io { path: "the PostgreSQL connection thread".into(), source })?;
        Ok(Self { handle: runtime.handle().clone(), runtime: Some(runtime) })
    }

    /// Connects on the store's runtime, which then drives the connection.
    async fn client(&self, url: &str) -> Result<Client, StoreError> {
        let url = url.to_owned();
        let connect = self.handle.spawn(async move { connect::connect(&url).await });
        connect.await.map_err(|e| StoreError::Corrupt(format!("the PostgreSQL connection task failed: {e}")))?
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Connects to the database `url` names. A writer applies missing
    /// migrations; a reader needs a migrated database and changes nothing.
    /// A URL without a password takes it from `TICKFLOW_STORE_PASSWORD` or
    /// `TICKFLOW_STORE_PASSWORD_FILE`.
    pub async fn open(url: &str, access: Access) -> Result<Self, StoreError> {
        let io = IoThread::start()?;
        let write = match access {
            Access::Write => {
                let mut write = io.client(url).await?;
                migrations::run_postgres(&mut write).await?;
                timescale::advise(&write).await?;
                speed::create_staging(&write).await?;
                Some(Mutex::new(write))
            }
            Access::Read => {
                check_migrated(url, &io.client(url).await.map_err(|e| missing(url, e))?).await?;
                None
            }
        };
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(Reader {
                client: io.client(url).await?,
                statements: HashMap::new(),
                boundary: None,
                chunked: None,
            });
        }
        let readers = Pool { free: std::sync::Mutex::new(readers), permits: Semaphore::new(READERS) };
        Ok(Self { url: url.to_owned(), write, readers, io })
    }

    /// The write connection, waiting for the writer before it; connected
    /// again (with its session's staging table) if the server dropped it.
    async fn writer(&self) -> Result<tokio::sync::MutexGuard<'_, Client>, StoreError> {
        let write = self
            .write
            .as_ref()
            .ok_or_else(|| StoreError::Stopped("write connection (the store was opened for reading only)".into()))?;
        let mut client = write.lock().await;
        if client.is_closed() {
            let fresh = self.io.client(&self.url).await?;
            speed::create_staging(&fresh).await?;
            *client = fresh;
        }
        Ok(client)
    }

    /// A free read connection, waiting in line for one if all are busy;
    /// connected again if the server dropped it.
    async fn reader(&self) -> Result<Lease<'_>, StoreError> {
        let closed = || StoreError::Stopped("pool of PostgreSQL read connections".into());
        let permit = self.readers.permits.acquire().await.map_err(|_| closed())?;
        // A permit per free connection: one is there.
        let reader = free_list(&self.readers.free).pop().ok_or_else(closed)?;
        let mut lease = Lease { free: &self.readers.free, reader: Some(reader), _permit: permit };
        if lease.client.is_closed() {
            // On failure the lease puts the closed connection back, to be tried again next time.
            lease.client = self.io.client(&self.url).await?;
            lease.statements.clear();
            lease.chunked = None;
        }
        Ok(lease)
    }
}

/// Applies missing migrations to the database `url` names, creates the
/// TimescaleDB extension and hypertables where the server now can, and
/// reports the store's state.
pub(crate) async fn migrate(url: &str) -> Result<super::MigrateReport, StoreError> {
    let io = IoThread::start()?;
    let mut client = io.client(url).await?;
    let applied = migrations::run_postgres(&mut client).await?;
    let timescale = timescale::convert(&mut client).await?;
    let row = client
        .query_one("SELECT current_setting('server_version'), (SELECT MAX(version) FROM schema_migrations)", &[])
        .await?;
    Ok(super::MigrateReport {
        engine: format!("PostgreSQL {}", row.try_get::<_, String>(0)?),
        schema_version: row.try_get(1)?,
        applied,
        timescale: Some(timescale),
    })
}

/// A reader's error for a database it cannot use.
fn missing(url: &str, problem: impl std::fmt::Display) -> StoreError {
    StoreError::Missing { url: redact(url), problem: problem.to_string() }
}

/// Fails with [`StoreError::Missing`] unless every migration this tickflow
/// knows is applied to the database.
async fn check_migrated(url: &str, client: &Client) -> Result<(), StoreError> {
    let row = client
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await
        .map_err(|_| missing(url, "the database has no tickflow tables"))?;
    let applied = row.try_get::<_, Option<i64>>(0)?.unwrap_or(0);
    let latest = migrations::latest();
    if applied < latest {
        return Err(missing(url, format!("the store is at migration {applied} of {latest}")));
    }
    Ok(())
}

#[async_trait::async_trait]
impl Progress for PostgresStore {
    async fn batch_runs(&self, limit: usize) -> Result<Vec<BatchRun>, StoreError> {
        batch::runs(&self.reader().await?.client, limit).await
    }

    async fn speed_status(&self) -> Result<SpeedStatus, StoreError> {
        speed_read::status(&mut self.reader().await?.client).await
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's epoch (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Event time in nanoseconds as a `TIMESTAMPTZ` (microseconds).
///
/// Written rounded *up* to a whole microsecond, so that `start >= from` and
/// `start < to` mean the same for bar starts (whole seconds) as they do in
/// nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PgTime(pub i64);

impl PgTime {
    /// The value PostgreSQL's binary format holds: microseconds since 2000-01-01.
    fn micros(self) -> i64 {
        let micros = self.0.div_euclid(1000) + i64::from(self.0.rem_euclid(1000) != 0);
        micros - PG_EPOCH_MICROS
    }
}

impl ToSql for PgTime {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_i64(self.micros());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }

    tokio_postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for PgTime {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into().map_err(|_| "a TIMESTAMPTZ is 8 bytes")?;
        let micros = i64::from_be_bytes(bytes) + PG_EPOCH_MICROS;
        Ok(PgTime(micros.checked_mul(1000).ok_or("timestamp out of the nanosecond range")?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}
