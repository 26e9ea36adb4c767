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

impl StoreError {
    /// The message with every cause after it, `: `-separated (a PostgreSQL
    /// error's own message says only "db error"; its cause says what the
    /// server said): what a log line shows of an error.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        text
    }

    /// Whether the same call may succeed if made again later: the
    /// connection to the server was lost, or the server is shutting down,
    /// starting up or refusing connections for now. A caller that retries
    /// needs no new store (the PostgreSQL engine connects again). Errors of
    /// the data, the schema or the configuration are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Postgres(error) => postgres_transient(error),
            Self::Open { source, .. } => source.is_transient(),
            _ => false,
        }
    }
}

/// A lost connection (closed, or an I/O error reaching the server) or a
/// server-side state that passes: SQLSTATE class 08 (connection exception),
/// 57P01–57P03 (shutting down, crashed, starting up), 53300 (too many
/// connections), 40001 and 40P01 (serialization failure, deadlock: the
/// transaction was rolled back and may be run again).
fn postgres_transient(error: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
            ]
            .contains(code);
    }
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}
