//! A child process that is killed and reaped when dropped, so that a
//! benchmark or test that fails half-way leaves no service running.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A running child process; dropping it kills and reaps it.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` to its end, capturing its output, with its peak resident
/// memory: the kernel's high-water mark of the child's own program
/// (`VmHWM`), read every 10 ms while it runs. `getrusage` would not do here:
/// a child spawned by a large process starts with that process's maximum.
pub fn output_with_peak(command: &mut Command) -> std::io::Result<(Output, u64)> {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let status = format!("/proc/{}/status", child.id());
    let waiting = std::thread::spawn(move || child.wait_with_output());
    let mut peak = 0;
    while !waiting.is_finished() {
        peak = peak.max(high_water(&status).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = waiting.join().map_err(|_| std::io::Error::other("the waiting thread panicked"))??;
    Ok((output, peak))
}

/// `VmHWM` of a `/proc/<pid>/status` file, in bytes.
fn high_water(status: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    Some(line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()? * 1024)
}
