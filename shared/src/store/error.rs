//! The errors of every store engine.

/// Errors of a view store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URL is not one tickflow knows.
    #[error("store URL {0:?} is not supported; use postgres://user@host/db or sqlite://path/to/file.db")]
    Url(String),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The TLS settings of a PostgreSQL URL are wrong, or the server's
    /// certificate did not pass the checks they ask for.
    #[error("PostgreSQL TLS: {0}")]
    Tls(String),
    /// Granting a role read access failed.
    #[error("cannot grant read access: {0}")]
    Grant(String),
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A value read back is not what tickflow wrote.
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// A value does not fit the store's column.
    #[error("value does not fit the store: {0}")]
    Range(String),
    /// A command that only reads found no migrated tickflow store at the URL
    /// (it creates nothing).
    #[error(
        "{url}: {problem}; a store is created by the commands that write one (tickflow batch, speed or demo), \
         so run one of them against this URL first, or check the URL"
    )]
    Missing {
        /// The URL, without its password.
        url: String,
        /// What was found instead.
        problem: String,
    },
    /// Opening the store at a URL failed.
    #[error("cannot open the store {url}: {source}")]
    Open {
        /// The URL, without its password.
        url: String,
        /// Why.
        source: Box<StoreError>,
    },
    /// A thread or connection the store runs on has stopped.
    #[error("the store's {0} stopped; restart tickflow")]
    Stopped(String),
    /// Creating the store's directory failed.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}
