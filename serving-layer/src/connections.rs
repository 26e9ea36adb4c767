//! The HTTP/1.1 server under the routes: accepting connections, TLS, and
//! the limits that keep the server up under abuse.
//!
//! warp's own server has no limits, so [`serve`] runs the warp filter (as a
//! hyper service) on hyper's HTTP/1 connections itself:
//!
//! - a permit of `max_connections` is taken before each accept: beyond it,
//!   new connections wait in the kernel's listen backlog until one closes,
//!   so file descriptors and memory stay bounded;
//! - the TLS handshake, and each request's line and headers, must arrive
//!   within `header_read_timeout` of the connection (or of the previous
//!   answer on a kept-alive one), or the connection is closed (slowloris);
//! - a request line and headers over `max_header_bytes` are answered 431 by
//!   hyper, and no connection buffers more than that while it reads them;
//! - on an HTTPS port, a plain-HTTP request gets a 400 that says to use HTTPS.
//!
//! Shutdown stops accepting and waits for open requests: hyper's graceful
//! shutdown closes idle kept-alive connections at once.

use crate::ServeConfig;
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::metrics::gauge::Gauge;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// hyper's smallest read buffer; `max_header_bytes` below it still caps headers.
const MIN_BUFFER: usize = 8192;
/// How long accepting pauses when the process is out of file descriptors.
const STARVED_PAUSE: Duration = Duration::from_millis(250);

type BoxError = Box<dyn StdError + Send + Sync>;

/// Serves `service` on `listener` with `config`'s limits and TLS until
/// `shutdown` resolves, then waits for the open connections to finish.
/// `open` counts the connections open.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    service: S,
    config: &ServeConfig,
    open: Gauge,
    shutdown: impl Future<Output = ()>,
) where
    S: HttpService<Incoming> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    S::ResBody: Send + 'static,
    <S::ResBody as Body>::Data: Send,
    <S::ResBody as Body>::Error: Into<BoxError>,
{
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(config.max_header_bytes)
        .max_buf_size(config.max_header_bytes.max(MIN_BUFFER));
    let tls = config.tls.as_ref().map(crate::TlsConfig::acceptor);
    let timeout = config.header_read_timeout;
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut starved = false;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, permit) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &permits, &mut starved) => match accepted {
                Some(accepted) => accepted,
                None => continue,
            },
        };
        let (http, service, tls, watcher) = (http.clone(), service.clone(), tls.clone(), graceful.watcher());
        let counted = Open::new(&open);
        tokio::spawn(async move {
            // The connection holds its permit, and counts as open, until it closes.
            let (_permit, _counted) = (permit, counted);
            let _ = stream.set_nodelay(true);
            let served = match tls {
                None => watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await,
                Some(acceptor) => match tokio::time::timeout(timeout, handshake(acceptor, stream)).await {
                    Ok(Some(stream)) => watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await,
                    Ok(None) => return,
                    Err(_) => return tracing::debug!("A TLS handshake did not finish in time."),
                },
            };
            // Clients that time out, send garbage or leave: theirs to fix, not the server's.
            if let Err(error) = served {
                tracing::debug!(%error, "A connection ended with an error.");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The TLS side of a new connection, or `None` when the handshake fails or
/// the client speaks plain HTTP (answered 400, saying to use HTTPS).
async fn handshake(acceptor: TlsAcceptor, mut stream: TcpStream) -> Option<TlsStream<TcpStream>> {
    // A TLS client opens with a handshake record (0x16), an HTTP one with its method.
    let mut first = [0u8; 1];
    if matches!(stream.peek(&mut first).await, Ok(1)) && first[0].is_ascii_uppercase() {
        // Read what came (the request line and headers) so closing does not reset the answer.
        let mut request = [0u8; MIN_BUFFER];
        let _ = stream.read(&mut request).await;
        let body = r#"{"error":"this port serves HTTPS, not plain HTTP: use an https:// URL"}"#;
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
        return None;
    }
    match acceptor.accept(stream).await {
        Ok(stream) => Some(stream),
        Err(error) => {
            tracing::debug!(%error, "A TLS handshake failed.");
            None
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct Open(Gauge);

impl Open {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The next connection, with its permit; `None` after an accept error
/// (paused, when the process is out of file descriptors).
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
    starved: &mut bool,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    // The semaphore is never closed.
    let permit = Arc::clone(permits).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => {
            *starved = false;
            Some((stream, permit))
        }
        Err(error) if is_connection_error(&error) => None,
        Err(error) => {
            if !*starved {
                tracing::warn!(
                    %error,
                    "Cannot accept connections; raise the open-file limit (ulimit -n) or lower --max-connections."
                );
                *starved = true;
            }
            tokio::time::sleep(STARVED_PAUSE).await;
            None
        }
    }
}

/// Errors of one connection that surface at accept and concern only it.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset)
}
