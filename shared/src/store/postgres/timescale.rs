//! TimescaleDB when the server has it, plain tables when it has not.
//!
//! The time tables (`batch_bars`, `speed_bars`) become hypertables in daily
//! chunks, with exactly the indexes tickflow defines (`create_default_indexes
//! => false`: TimescaleDB's default `start DESC` index would cost every
//! speed upsert). A server without the extension installed, without it in
//! `shared_preload_libraries`, or a user who may not create it, gets one
//! warning that says why and how to enable it, and the store works on plain
//! tables: the check happens before `CREATE EXTENSION`, because that
//! statement ends the session (`FATAL`) on a server that did not preload
//! the library. When the extension becomes available, `tickflow migrate`
//! ([`convert`]) creates it and turns the existing tables into hypertables,
//! moving their rows.

use crate::store::StoreError;
use tokio_postgres::{Client, GenericClient};

/// The tables that become hypertables, and their time column.
pub(crate) const HYPERTABLES: [(&str, &str); 2] = [("batch_bars", "start"), ("speed_bars", "start")];

/// What a server offers of TimescaleDB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Support {
    /// The extension exists in this database, at this version.
    Created(String),
    /// It can be created here.
    Available,
    /// It cannot; why, and what to do about it.
    Unavailable(String),
}

/// What the server offers, without changing anything. Whether the library is
/// preloaded is told by the setting its loader defines (any user may read
/// `pg_settings`; `shared_preload_libraries` itself only a superuser).
pub(crate) async fn support(client: &impl GenericClient) -> Result<Support, StoreError> {
    let row = client
        .query_one(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),
                    EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),
                    EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.disable_load')",
            &[],
        )
        .await?;
    if let Some(version) = row.try_get::<_, Option<String>>(0)? {
        return Ok(Support::Created(version));
    }
    let (installed, preloaded): (bool, bool) = (row.try_get(1)?, row.try_get(2)?);
    Ok(if !installed {
        Support::Unavailable(
            "TimescaleDB is not installed on this PostgreSQL server; install it, add it to \
             shared_preload_libraries, restart the server and run `tickflow migrate`"
                .into(),
        )
    } else if !preloaded {
        Support::Unavailable(
            "TimescaleDB is installed but not preloaded; set shared_preload_libraries = 'timescaledb' \
             in postgresql.conf, restart the server and run `tickflow migrate`"
                .into(),
        )
    } else {
        Support::Available
    })
}

/// Migration 2 of a new store: creates the extension and the hypertables
/// when the server can, else warns once and leaves the tables plain.
pub(crate) async fn enable(tx: &mut tokio_postgres::Transaction<'_>) -> Result<(), StoreError> {
    match support(&*tx).await? {
        Support::Unavailable(why) => {
            tracing::warn!("{why}. The store works on plain tables until then.");
            return Ok(());
        }
        Support::Created(_) => {}
        Support::Available => {
            let savepoint = tx.savepoint("timescaledb").await?;
            match savepoint.batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb").await {
                Ok(()) => savepoint.commit().await?,
                Err(error) => {
                    savepoint.rollback().await?;
                    tracing::warn!(
                        %error,
                        "TimescaleDB is available but this user cannot create it; a superuser can run \
                         CREATE EXTENSION timescaledb in this database, then `tickflow migrate`. The store \
                         works on plain tables until then."
                    );
                    return Ok(());
                }
            }
        }
    }
    for (table, column) in HYPERTABLES {
        hypertable(&*tx, table, column).await?;
    }
    Ok(())
}

/// Warns a writer whose server offers TimescaleDB while time tables are
/// still plain (a store made before the extension was there).
pub(crate) async fn advise(client: &Client) -> Result<(), StoreError> {
    if matches!(support(client).await?, Support::Unavailable(_)) {
        return Ok(());
    }
    let mut plain = Vec::new();
    for (table, _) in HYPERTABLES {
        if !is_hypertable(client, table).await? {
            plain.push(table);
        }
    }
    if !plain.is_empty() {
        tracing::warn!(
            tables = %plain.join(", "),
            "TimescaleDB is available but these tables are plain; run `tickflow migrate --store URL` to make them hypertables."
        );
    }
    Ok(())
}

/// Makes `table` a hypertable in daily chunks of `column`, moving any rows
/// it holds; nothing if it is one already. Returns whether it converted.
async fn hypertable(client: &impl GenericClient, table: &str, column: &str) -> Result<bool, StoreError> {
    if is_hypertable(client, table).await? {
        return Ok(false);
    }
    client
        .execute(
            "SELECT create_hypertable($1::text::regclass, $2::name, chunk_time_interval => INTERVAL '1 day',
                 create_default_indexes => FALSE, migrate_data => TRUE)",
            &[&table, &column],
        )
        .await?;
    Ok(true)
}

/// Whether `table` is a hypertable (so the extension is created).
pub(crate) async fn is_hypertable(client: &impl GenericClient, table: &str) -> Result<bool, StoreError> {
    if !matches!(support(client).await?, Support::Created(_)) {
        return Ok(false);
    }
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = $1)",
            &[&table],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// What `tickflow migrate` did to the time tables, and their state after.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conversion {
    /// The extension's version, if it is created.
    pub timescaledb: Option<String>,
    /// Why it is not, if it is not.
    pub unavailable: Option<String>,
    /// Whether this run created the extension.
    pub created: bool,
    /// Tables this run turned into hypertables.
    pub converted: Vec<String>,
    /// Every hypertable and its chunks.
    pub hypertables: Vec<(String, i64)>,
}

/// Creates the extension if the server can and turns every time table that
/// is not yet a hypertable into one; then reports the state.
pub(crate) async fn convert(client: &mut Client) -> Result<Conversion, StoreError> {
    let mut conversion = Conversion::default();
    match support(&*client).await? {
        Support::Unavailable(why) => {
            conversion.unavailable = Some(why);
            return Ok(conversion);
        }
        Support::Available => {
            client.batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb").await?;
            conversion.created = true;
        }
        Support::Created(_) => {}
    }
    for (table, column) in HYPERTABLES {
        // One transaction per table: moving a large table's rows takes a while.
        let tx = client.transaction().await?;
        if hypertable(&tx, table, column).await? {
            conversion.converted.push(table.to_owned());
        }
        tx.commit().await?;
    }
    if let Support::Created(version) = support(&*client).await? {
        conversion.timescaledb = Some(version);
    }
    let rows = client
        .query(
            "SELECT hypertable_name::text, num_chunks::bigint FROM timescaledb_information.hypertables
             ORDER BY hypertable_name",
            &[],
        )
        .await?;
    conversion.hypertables =
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, StoreError>>()?;
    Ok(conversion)
}
