//! Versioned schema migrations, one list for both engines.
//!
//! Each [`Migration`] has a version, a name and the SQL of each engine; the
//! tables have the same names, columns and meaning in both. A store applies
//! every migration missing from `schema_migrations` at open, each in its own
//! transaction. PostgreSQL holds a transaction-level advisory lock
//! ([`ADVISORY_LOCK`]) while it checks and applies, so two processes that
//! start at once migrate one after the other; SQLite gets the same from
//! `BEGIN IMMEDIATE`.
//!
//! Money is `NUMERIC` in PostgreSQL and integers of 10^-8 in SQLite; times are
//! `TIMESTAMPTZ` in PostgreSQL and integer nanoseconds in SQLite. Columns that
//! hold raw event times (`first_ts_ns`, `last_ts_ns`) are nanoseconds in both.

use super::StoreError;

mod bot;

use bot::{PG_7, SQLITE_7};

/// One schema change.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Applied in increasing order; recorded in `schema_migrations`.
    pub version: i64,
    /// What it does, in a few words.
    pub name: &'static str,
    /// The PostgreSQL statements.
    pub postgres: &'static str,
    /// The SQLite statements.
    pub sqlite: &'static str,
}

/// The key of the PostgreSQL advisory lock held while migrating ("tickflow" in ASCII).
pub const ADVISORY_LOCK: i64 = 0x7469_636b_666c_6f77;

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "views, batch runs and rejects", postgres: PG_1, sqlite: SQLITE_1 },
    // Run by `postgres::timescale::enable`, not as SQL: the server must be asked first.
    Migration { version: TIMESCALE, name: "timescaledb hypertables when available", postgres: "", sqlite: "" },
    Migration { version: 3, name: "speed offsets, late trades, change sequence", postgres: PG_3, sqlite: SQLITE_3 },
    Migration { version: 4, name: "no speed index by interval and start", postgres: PG_4, sqlite: "" },
    Migration { version: 5, name: "log end offsets of speed partitions", postgres: PG_5, sqlite: SQLITE_5 },
    Migration { version: 6, name: "only tickflow's indexes on hypertables", postgres: PG_6, sqlite: "" },
    Migration {
        version: 7,
        name: "bot signals, paper fills, positions and progress",
        postgres: PG_7,
        sqlite: SQLITE_7,
    },
    Migration { version: 8, name: "the symbols of the bar tables", postgres: PG_8, sqlite: "" },
    Migration { version: 9, name: "no batch staging table", postgres: PG_9, sqlite: "" },
];

/// The migration that makes the time tables hypertables when TimescaleDB is there.
pub const TIMESCALE: i64 = 2;

const PG_1: &str = r#"
CREATE TABLE batch_bars (
    symbol TEXT COLLATE "C" NOT NULL,
    "interval" TEXT NOT NULL,
    start TIMESTAMPTZ NOT NULL,
    open NUMERIC(20,8) NOT NULL,
    high NUMERIC(20,8) NOT NULL,
    low NUMERIC(20,8) NOT NULL,
    close NUMERIC(20,8) NOT NULL,
    volume NUMERIC(38,8) NOT NULL,
    vwap NUMERIC(20,8) NOT NULL,
    trades BIGINT NOT NULL,
    first_ts_ns BIGINT NOT NULL,
    last_ts_ns BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (symbol, "interval", start)
);
CREATE INDEX batch_bars_interval_start ON batch_bars ("interval", start);

CREATE UNLOGGED TABLE batch_bars_staging (
    symbol TEXT COLLATE "C" NOT NULL,
    "interval" TEXT NOT NULL,
    start TIMESTAMPTZ NOT NULL,
    open NUMERIC(20,8) NOT NULL,
    high NUMERIC(20,8) NOT NULL,
    low NUMERIC(20,8) NOT NULL,
    close NUMERIC(20,8) NOT NULL,
    volume NUMERIC(38,8) NOT NULL,
    vwap NUMERIC(20,8) NOT NULL,
    trades BIGINT NOT NULL,
    first_ts_ns BIGINT NOT NULL,
    last_ts_ns BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX batch_bars_staging_version ON batch_bars_staging (version);
-- Tags staging rows before the publish transaction allocates the run's version.
CREATE SEQUENCE batch_bars_staging_tag;

CREATE TABLE speed_bars (
    symbol TEXT COLLATE "C" NOT NULL,
    "interval" TEXT NOT NULL,
    start TIMESTAMPTZ NOT NULL,
    open NUMERIC(20,8) NOT NULL,
    high NUMERIC(20,8) NOT NULL,
    low NUMERIC(20,8) NOT NULL,
    close NUMERIC(20,8) NOT NULL,
    volume NUMERIC(38,8) NOT NULL,
    vwap NUMERIC(20,8) NOT NULL,
    trades BIGINT NOT NULL,
    first_ts_ns BIGINT NOT NULL,
    last_ts_ns BIGINT NOT NULL,
    "final" BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, "interval", start)
);
CREATE INDEX speed_bars_interval_start ON speed_bars ("interval", start);

CREATE TABLE batch_runs (
    version BIGINT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    boundary TIMESTAMPTZ,
    days BIGINT NOT NULL,
    trades BIGINT NOT NULL,
    bars BIGINT NOT NULL,
    rejects BIGINT NOT NULL
);

CREATE TABLE batch_days (
    day BIGINT PRIMARY KEY,
    version BIGINT NOT NULL,
    trades BIGINT NOT NULL,
    bars BIGINT NOT NULL,
    published_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE batch_boundary (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    boundary TIMESTAMPTZ,
    version BIGINT NOT NULL
);
INSERT INTO batch_boundary (id, boundary, version) VALUES (1, NULL, 0);

CREATE TABLE batch_files (
    path TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL,
    modified_ns BIGINT NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE batch_file_days (
    path TEXT NOT NULL,
    day BIGINT NOT NULL,
    PRIMARY KEY (path, day)
);

CREATE TABLE rejects (
    source TEXT NOT NULL,
    "position" BIGINT NOT NULL,
    layer TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, "position")
);
CREATE INDEX rejects_seen_at ON rejects (seen_at);
"#;

// Stores made by an older tickflow on TimescaleDB have the default index
// `create_hypertable` adds (`start DESC`): no query uses it, and every
// speed upsert paid for it.
/// Every symbol that has had a bar, kept by the publish and the speed
/// commit: `/api/v1/symbols` reads it instead of a loose index scan of the
/// bar tables, which on a hypertable probes every chunk for every symbol
/// (a year of daily chunks is 250 probes a symbol). SQLite's scan stays: its
/// tables are single B-trees.
const PG_8: &str = r#"
CREATE TABLE bar_symbols (symbol TEXT COLLATE "C" PRIMARY KEY);
INSERT INTO bar_symbols (symbol) SELECT symbol FROM batch_bars UNION SELECT symbol FROM speed_bars;
"#;

/// A publish copies its bars straight into `batch_bars` inside its
/// transaction (binary `COPY`): the staging table and its tags are unused.
const PG_9: &str = "DROP TABLE IF EXISTS batch_bars_staging; DROP SEQUENCE IF EXISTS batch_bars_staging_tag;";

const PG_6: &str = "DROP INDEX IF EXISTS batch_bars_start_idx; DROP INDEX IF EXISTS speed_bars_start_idx;";

// Speed bars get the number of their last change (bars that exist already
// are numbered in the order they were written); `speed_status` holds the
// newest number, and the commit that takes its row lock numbers its bars, so
// numbers become visible in commit order. Late trades are keyed like rejects,
// by where they were read.
const PG_3: &str = r#"
ALTER TABLE speed_bars ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
UPDATE speed_bars AS b SET change_seq = n.seq
FROM (SELECT symbol, "interval", start,
          row_number() OVER (ORDER BY updated_at, "interval", symbol, start) AS seq
      FROM speed_bars) AS n
WHERE b.symbol = n.symbol AND b."interval" = n."interval" AND b.start = n.start;
CREATE INDEX speed_bars_changes ON speed_bars ("interval", change_seq);

CREATE TABLE speed_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    change_seq BIGINT NOT NULL,
    watermark_ns BIGINT,
    updated_at TIMESTAMPTZ
);
INSERT INTO speed_status (id, change_seq) SELECT 1, COUNT(*) FROM speed_bars;

CREATE TABLE speed_offsets (
    topic TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    replay_from BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, "partition"),
    CHECK (0 <= replay_from AND replay_from <= next_offset)
);

CREATE TABLE late_trades (
    source TEXT NOT NULL,
    "position" BIGINT NOT NULL,
    symbol TEXT COLLATE "C" NOT NULL,
    ts_ns BIGINT NOT NULL,
    price NUMERIC(20,8) NOT NULL,
    size NUMERIC(20,8) NOT NULL,
    seq BIGINT NOT NULL,
    reason TEXT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, "position")
);
CREATE INDEX late_trades_seen_at ON late_trades (seen_at);
"#;

// No query reads speed bars by interval and start without the symbol (the
// key serves those that do), yet every speed write paid for the index:
// an upsert changes `change_seq`, so no update is HOT and each one adds an
// entry to every index. Dropping it takes a sixth off the upsert's time.
const PG_4: &str = "DROP INDEX IF EXISTS speed_bars_interval_start;";

// Where each partition's log ended when the speed job committed, so that
// `/status` can say how many messages were waiting (NULL: not known).
const PG_5: &str = "ALTER TABLE speed_offsets ADD COLUMN end_offset BIGINT;";

// Bar tables are keyed interval first: every query names one interval, and a
// publish inserts in key order, so one B-tree serves reads and writes.
const SQLITE_1: &str = r#"
CREATE TABLE batch_bars (
    symbol TEXT NOT NULL,
    "interval" TEXT NOT NULL,
    start INTEGER NOT NULL,
    open INTEGER NOT NULL,
    high INTEGER NOT NULL,
    low INTEGER NOT NULL,
    close INTEGER NOT NULL,
    volume INTEGER NOT NULL,
    vwap INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    first_ts_ns INTEGER NOT NULL,
    last_ts_ns INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY ("interval", symbol, start)
) WITHOUT ROWID;

CREATE TABLE speed_bars (
    symbol TEXT NOT NULL,
    "interval" TEXT NOT NULL,
    start INTEGER NOT NULL,
    open INTEGER NOT NULL,
    high INTEGER NOT NULL,
    low INTEGER NOT NULL,
    close INTEGER NOT NULL,
    volume INTEGER NOT NULL,
    vwap INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    first_ts_ns INTEGER NOT NULL,
    last_ts_ns INTEGER NOT NULL,
    "final" INTEGER NOT NULL CHECK ("final" IN (0, 1)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY ("interval", symbol, start)
) WITHOUT ROWID;

CREATE TABLE batch_runs (
    version INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    boundary INTEGER,
    days INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    bars INTEGER NOT NULL,
    rejects INTEGER NOT NULL
);

CREATE TABLE batch_days (
    day INTEGER PRIMARY KEY,
    version INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    bars INTEGER NOT NULL,
    published_at INTEGER NOT NULL
);

CREATE TABLE batch_boundary (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    boundary INTEGER,
    version INTEGER NOT NULL
);
INSERT INTO batch_boundary (id, boundary, version) VALUES (1, NULL, 0);

CREATE TABLE batch_files (
    path TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL,
    modified_ns INTEGER NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE batch_file_days (
    path TEXT NOT NULL,
    day INTEGER NOT NULL,
    PRIMARY KEY (path, day)
) WITHOUT ROWID;

CREATE TABLE rejects (
    source TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    layer TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (source, "position")
);
CREATE INDEX rejects_seen_at ON rejects (seen_at);
"#;

const SQLITE_3: &str = r#"
ALTER TABLE speed_bars ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
UPDATE speed_bars SET change_seq = n.seq
FROM (SELECT symbol, "interval", start,
          row_number() OVER (ORDER BY updated_at, "interval", symbol, start) AS seq
      FROM speed_bars) AS n
WHERE speed_bars.symbol = n.symbol AND speed_bars."interval" = n."interval" AND speed_bars.start = n.start;
CREATE INDEX speed_bars_changes ON speed_bars ("interval", change_seq);

CREATE TABLE speed_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    change_seq INTEGER NOT NULL,
    watermark_ns INTEGER,
    updated_at INTEGER
);
INSERT INTO speed_status (id, change_seq) SELECT 1, COUNT(*) FROM speed_bars;

CREATE TABLE speed_offsets (
    topic TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    replay_from INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (topic, "partition"),
    CHECK (0 <= replay_from AND replay_from <= next_offset)
) WITHOUT ROWID;

CREATE TABLE late_trades (
    source TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    price INTEGER NOT NULL,
    size INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (source, "position")
);
CREATE INDEX late_trades_seen_at ON late_trades (seen_at);
"#;

const SQLITE_5: &str = "ALTER TABLE speed_offsets ADD COLUMN end_offset INTEGER;";

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)";

/// The newest migration's version: a store this tickflow can use has it applied.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies every missing migration to a SQLite database; returns how many ran.
pub(crate) fn run_sqlite(conn: &mut rusqlite::Connection) -> Result<usize, StoreError> {
    run_sqlite_to(conn, i64::MAX)
}

/// Applies the missing migrations up to version `last` to a SQLite database.
pub(crate) fn run_sqlite_to(conn: &mut rusqlite::Connection, last: i64) -> Result<usize, StoreError> {
    let mut applied = 0;
    for migration in MIGRATIONS.iter().filter(|m| m.version <= last) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(CREATE_TABLE)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [migration.version],
            |row| row.get(0),
        )?;
        if !done {
            tx.execute_batch(migration.sqlite)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                rusqlite::params![migration.version, migration.name],
            )?;
            applied += 1;
        }
        tx.commit()?;
    }
    Ok(applied)
}

/// Applies every missing migration to a PostgreSQL database; returns how many ran.
pub(crate) async fn run_postgres(client: &mut tokio_postgres::Client) -> Result<usize, StoreError> {
    run_postgres_to(client, i64::MAX).await
}

/// Applies the missing migrations up to version `last` to a PostgreSQL database.
pub(crate) async fn run_postgres_to(client: &mut tokio_postgres::Client, last: i64) -> Result<usize, StoreError> {
    let mut applied = 0;
    for migration in MIGRATIONS.iter().filter(|m| m.version <= last) {
        let mut tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADVISORY_LOCK]).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let done: bool = tx
            .query_one("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", &[&migration.version])
            .await?
            .try_get(0)?;
        if !done {
            if migration.version == TIMESCALE {
                super::postgres::timescale::enable(&mut tx).await?;
            } else {
                tx.batch_execute(migration.postgres).await?;
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await?;
            applied += 1;
        }
        tx.commit().await?;
    }
    Ok(applied)
}
