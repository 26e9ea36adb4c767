//! Least privilege: a role that may read the store and nothing else, for
//! `tickflow serve` and `tickflow features` (DESIGN.md, Security).
//!
//! The role itself is the DBA's: roles belong to the whole cluster, creating
//! one needs `CREATEROLE` (which an application's owner rarely has on a
//! managed server), and its password should never pass through tickflow.
//! `tickflow grant` gives an existing role what a reader needs, run as the
//! role that owns the tables and runs the migrations: `CONNECT` on the
//! database, `USAGE` on the schema, `SELECT` on every table, and default
//! privileges so the tables later migrations create are readable too.
//! TimescaleDB gives a hypertable's grants to its chunks, those there now
//! and those made later.

use super::IoThread;
use crate::store::{StoreError, migrations};

/// What `tickflow grant` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantReport {
    /// The database.
    pub database: String,
    /// The schema of the store's tables.
    pub schema: String,
    /// The tables the role may now read.
    pub tables: Vec<String>,
    /// The role that owns the tables (and runs the migrations): the default
    /// privileges are for the tables it creates.
    pub owner: String,
}

/// Applies missing migrations to the database `url` names, then lets the
/// existing role `role` read every table of the store, and the tables later
/// migrations create, and nothing else.
pub(crate) async fn grant_read(url: &str, role: &str) -> Result<GrantReport, StoreError> {
    let io = IoThread::start()?;
    let mut client = io.client(url).await?;
    let exists = client.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role]).await?.is_some();
    if !exists {
        return Err(StoreError::Grant(format!(
            "the role {role:?} does not exist: create it first (CREATE ROLE {} LOGIN PASSWORD '…'), then run \
             tickflow grant again",
            quote(role)
        )));
    }
    migrations::run_postgres(&mut client).await?;
    let row = client
        .query_one(
            "SELECT current_database()::text, current_schema()::text, tableowner::text FROM pg_tables
             WHERE schemaname = current_schema() AND tablename = 'schema_migrations'",
            &[],
        )
        .await?;
    let (database, schema, owner): (String, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let (role_id, schema_id, owner_id) = (quote(role), quote(&schema), quote(&owner));
    client
        .batch_execute(&format!(
            "GRANT CONNECT ON DATABASE {database} TO {role_id};
             GRANT USAGE ON SCHEMA {schema_id} TO {role_id};
             GRANT SELECT ON ALL TABLES IN SCHEMA {schema_id} TO {role_id};
             ALTER DEFAULT PRIVILEGES FOR ROLE {owner_id} IN SCHEMA {schema_id} GRANT SELECT ON TABLES TO {role_id};",
            database = quote(&database),
        ))
        .await
        .map_err(|e| StoreError::Grant(format!("{e}; run tickflow grant as the role that owns the store's tables")))?;
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.role_table_grants
             WHERE grantee = $1 AND table_schema = $2 AND privilege_type = 'SELECT' ORDER BY 1",
            &[&role, &schema],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(GrantReport { database, schema, tables, owner })
}

/// `name` as an SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
