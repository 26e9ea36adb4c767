//! The serving layer: the HTTP API over the merged view, live bars, metrics.
//!
//! A [`ServeConfig`] is built into a [`Server`] over an opened view store
//! ([`ServeConfig::build`], which also registers the server's metrics), and
//! [`run`] serves it on a bound listener until a shutdown future resolves,
//! mini-redis style: the binary (`tickflow serve`) binds and waits for
//! Ctrl-C; `tickflow demo` runs the same server in-process, sharing its store
//! and its metrics registry with the other layers.
//!
//! ```no_run
//! # async fn example(store: std::sync::Arc<dyn tickflow_shared::store::ReadStore>) -> Result<(), tickflow_serve::ServeError> {
//! let mut registry = prometheus_client::registry::Registry::default();
//! let server = tickflow_serve::ServeConfig::default().build(store, &mut registry)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(tickflow_serve::ServeError::Listener)?;
//! tickflow_serve::run(listener, server, std::sync::Arc::new(registry), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! The design decision that matters is that the merge rule (DESIGN.md,
//! contract 6) is not here: `/bars` asks the store for
//! [`ViewSelect::Merged`](tickflow_shared::store::ViewSelect), which reads the
//! boundary and both views in one snapshot, so a response is never torn by a
//! concurrent batch publish, and every bar says which view it came from.
//!
//! Every route is one row of a table (`routes.rs`): its path, its query
//! parameters, whether it needs the API token. One warp filter dispatches on
//! the table, so unknown routes and parameters get JSON errors that list what
//! is served, each route is counted under its path in
//! `tickflow_serve_requests_total` and `tickflow_serve_request_duration_seconds`,
//! and a test holds the table against the OpenAPI document (`openapi.json`,
//! served at `/api/v1/openapi.json`). Start reading at `routes.rs`, then
//! `api.rs` (the query routes) and `stream.rs` (the one change poller behind
//! every `/stream` client). The signal bot's records are served from a
//! [`SignalStore`] given with [`Server::with_signals`] (`signals.rs`, and
//! `signal` events on the stream); `indicators.rs` computes indicators on
//! the merged bars with the shared indicator code; `features.rs` lists the
//! feature export's quarter manifests (`--features-dir`).
//!
//! Under the routes, `connections.rs` serves HTTP/1.1 itself rather than
//! through warp's server, which has no limits: it bounds open connections,
//! cuts off clients slow to send their headers, caps header size, and
//! speaks HTTPS with a [`TlsConfig`] (`tls.rs`); `stream.rs` bounds the
//! live streams.

mod api;
mod cache;
mod config;
mod connections;
pub mod dashboard;
mod encoding;
mod error;
mod features;
mod indicators;
mod metrics;
mod params;
mod routes;
mod signals;
mod stream;
mod tls;

pub use config::{ApiToken, ServeConfig};
pub use error::ServeError;
pub use tls::TlsConfig;

use prometheus_client::registry::Registry;
use std::future::Future;
use std::sync::Arc;
use tickflow_shared::store::{ReadStore, SignalChanges, SignalCommit, SignalStore, StoreError};
use tokio::sync::watch;

/// What every request handler shares.
pub(crate) struct State {
    config: ServeConfig,
    store: Arc<dyn ReadStore>,
    /// The signal bot's records; none until [`Server::with_signals`].
    signals: Arc<dyn SignalStore>,
    metrics: metrics::Metrics,
    hub: stream::Hub,
    cache: cache::Cache,
    /// Turns `true` when the server shuts down; live streams end then.
    shutdown: watch::Receiver<bool>,
}

/// A server ready to [`run`]: its configuration, store and metrics.
pub struct Server {
    state: Arc<State>,
    stop: watch::Sender<bool>,
}

impl ServeConfig {
    /// Checks the configuration and builds a server over `store`, registering
    /// the server's metrics (`tickflow_serve_*`) into `registry`.
    pub fn build(self, store: Arc<dyn ReadStore>, registry: &mut Registry) -> Result<Server, ServeError> {
        self.check()?;
        let (stop, shutdown) = watch::channel(false);
        let hub = stream::Hub::new(&self.intervals, self.stream_buffer, self.max_streams);
        let metrics = metrics::Metrics::register(registry);
        let cache = cache::Cache::new(self.cache_entries);
        let signals: Arc<dyn SignalStore> = Arc::new(NoSignals);
        let state = State { config: self, store, signals, metrics, hub, cache, shutdown };
        Ok(Server { state: Arc::new(state), stop })
    }

    /// Checks the configuration, as [`build`](Self::build) does: a command
    /// calls it before it opens the store, so a bad flag is reported first.
    pub fn check(&self) -> Result<(), ServeError> {
        if self.intervals.is_empty() {
            return Err(ServeError::Config("no interval to serve; give at least one, like 1m".into()));
        }
        if self.point_limit == 0 || self.symbol_limit == 0 {
            return Err(ServeError::Config("the point and symbol limits must be at least 1".into()));
        }
        if self.poll_interval.is_zero() || self.keep_alive.is_zero() || self.header_read_timeout.is_zero() {
            return Err(ServeError::Config(
                "the poll and keep-alive intervals and the header read timeout must be positive".into(),
            ));
        }
        if !(1024..=1024 * 1024).contains(&self.max_header_bytes) {
            let message = format!("the most header bytes is {}; give 1024 to 1048576", self.max_header_bytes);
            return Err(ServeError::Config(message));
        }
        if self.max_connections == 0 || self.max_streams == 0 {
            return Err(ServeError::Config("the most connections and streams must be at least 1".into()));
        }
        Ok(())
    }
}

impl Server {
    /// Serves the signal bot's records from `signals` too (`/api/v1/signals`,
    /// `signal` events on `/api/v1/stream`); without it there are none.
    /// Usually the same store as the bars':
    /// `config.build(store.clone(), &mut registry)?.with_signals(store)`.
    pub fn with_signals(mut self, signals: Arc<dyn SignalStore>) -> Self {
        // Only the server holds its state until `run`.
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.signals = signals;
        }
        self
    }
}

/// A signal store with nothing in it, for a server given none.
struct NoSignals;

impl tickflow_shared::store::Progress for NoSignals {}

#[async_trait::async_trait]
impl SignalStore for NoSignals {
    async fn commit_signals(&self, _: &SignalCommit) -> Result<(), StoreError> {
        Err(StoreError::Stopped("signal store (the server only reads)".into()))
    }

    async fn signal_changes(&self, _: Option<&str>, since: i64, _: usize) -> Result<SignalChanges, StoreError> {
        Ok(SignalChanges { signals: Vec::new(), head: since, next: since })
    }
}

/// Serves `server` on `listener` until `shutdown` resolves, then stops
/// taking connections, ends every live stream and waits for open requests.
/// It speaks HTTPS when the configuration has [`TlsConfig`], and keeps to
/// its limits (`connections.rs`) either way.
///
/// `registry` is what `/metrics` shows: the one `build` registered the
/// server's metrics into, frozen, possibly with other layers' metrics.
pub async fn run(
    listener: tokio::net::TcpListener,
    server: Server,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let address = listener.local_addr().map_err(ServeError::Listener)?;
    let Server { state, stop } = server;
    let poller = tokio::spawn(stream::poll(Arc::clone(&state)));
    let auth = if state.config.api_token.is_some() { "bearer token" } else { "none" };
    let tls = state.config.tls.as_ref().map(|tls| tls.cert().display().to_string());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let tls = tls.unwrap_or_else(|| "off".into());
    tracing::info!(%address, %scheme, %tls, auth, max_connections = state.config.max_connections, "Serving the API.");
    let graceful = async move {
        shutdown.await;
        tracing::info!("Shutting down the API.");
        // Live streams end on this, so the server can drain.
        let _ = stop.send(true);
    };
    let api = routes::routes(Arc::clone(&state), registry);
    let service = warp::service(warp::Filter::or(dashboard::routes(), api));
    let service = hyper_util::service::TowerToHyperService::new(service);
    connections::serve(listener, service, &state.config, state.metrics.connections.clone(), graceful).await;
    let _ = poller.await;
    Ok(())
}
