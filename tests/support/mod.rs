//! Helpers shared by the integration tests: the binary, data, services.

pub mod browser;
pub mod demo;
pub mod http;
pub mod kafka;
pub mod postgres;
pub mod process;
pub mod tools;

use std::path::PathBuf;
use std::process::{Command, Output};

/// `../shared/data`, beside the repository.
pub fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// Runs the `tickflow` binary and returns its output, whatever its exit status.
pub fn tickflow_output(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickflow")).args(args).output().expect("tickflow runs")
}

/// Runs the `tickflow` binary, asserts success and returns its stdout.
pub fn tickflow(args: &[&str]) -> String {
    let output = tickflow_output(args);
    assert!(
        output.status.success(),
        "tickflow {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Rows of `tickflow bars` output without the header.
pub fn bar_rows(store: &str, interval: &str, view: &str) -> Vec<String> {
    let out = tickflow(&["bars", "--store", store, "--interval", interval, "--view", view]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("symbol,interval,start,open,high,low,close,volume,vwap,trades,view"));
    lines.map(str::to_owned).collect()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    tickflow_bench::free_port().expect("a free port")
}
