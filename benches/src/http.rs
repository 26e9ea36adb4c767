//! The benchmarks' HTTP client: raw HTTP/1.1 keep-alive connections over
//! tokio, so the load generator measures the server and not a client library.

use crate::BenchError;
use std::process::Child;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Waits until `tickflow serve` at `addr` answers `/readyz` (30 s at most).
pub async fn wait_ready(addr: &str, server: &mut Child) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = server.try_wait()? {
            return Err(BenchError::Run(format!("tickflow serve exited: {status}")));
        }
        if let Ok(stream) = TcpStream::connect(addr).await {
            let mut connection = Connection::new(stream);
            if let Ok((200, _)) = connection.get("/readyz", false).await {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(BenchError::Run("tickflow serve was not ready within 30 s".into()))
}

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Connection {
    /// A connection over `stream`.
    pub fn new(stream: TcpStream) -> Self {
        Self { stream: BufReader::with_capacity(256 * 1024, stream), line: String::new() }
    }

    /// `GET path`: the status and the body (as sent: compressed if `gzip` asked for it).
    pub async fn get(&mut self, path: &str, gzip: bool) -> Result<(u16, Vec<u8>), BenchError> {
        let accept = if gzip { "accept-encoding: gzip\r\n" } else { "" };
        let request = format!("GET {path} HTTP/1.1\r\nhost: bench\r\n{accept}\r\n");
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let (mut status, mut length) = (0u16, 0usize);
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                return Err(BenchError::Run("the server closed the connection".into()));
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(code) = line.strip_prefix("HTTP/1.1 ") {
                status = code.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}
