//! A child process that is killed and reaped when dropped, so that a
//! benchmark or test that fails half-way leaves no service running.

use crate::BenchError;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running child process; dropping it kills and reaps it.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child process run to its end.
pub struct Finished {
    /// What it printed on stdout.
    pub stdout: String,
    /// Wall seconds from its start to its exit.
    pub seconds: f64,
    /// Its peak resident memory, bytes.
    pub peak_rss_bytes: u64,
}

/// Runs `command` to its end: its output, wall time and peak resident
/// memory, the kernel's high-water mark of the child's own program
/// (`VmHWM`), read every 10 ms while it runs. `getrusage` would not do here:
/// a child spawned by a large process starts with that process's maximum.
/// A child that fails is an error with what it printed on stderr.
pub fn run_to_end(command: &mut Command) -> Result<Finished, BenchError> {
    let clock = Instant::now();
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let status = format!("/proc/{}/status", child.id());
    let waiting = std::thread::spawn(move || child.wait_with_output());
    let mut peak_rss_bytes = 0;
    while !waiting.is_finished() {
        peak_rss_bytes = peak_rss_bytes.max(high_water(&status).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = waiting.join().map_err(|_| std::io::Error::other("the waiting thread panicked"))??;
    let seconds = clock.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(BenchError::Run(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    Ok(Finished { stdout: String::from_utf8_lossy(&output.stdout).into_owned(), seconds, peak_rss_bytes })
}

/// `VmHWM` of a `/proc/<pid>/status` file, in bytes.
fn high_water(status: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    Some(line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()? * 1024)
}
