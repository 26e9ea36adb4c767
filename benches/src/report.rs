//! Figures of one benchmark run, printed as a table row and a JSON line.

use serde_json::{Map, Value, json};
use std::process::{Command, Stdio};

/// Figures of one scenario run.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Scenario name.
    pub scenario: String,
    /// Parameters, in print order.
    pub params: Vec<(String, Value)>,
    /// Items processed (trades, requests, ...).
    pub items: u64,
    /// Wall time of the measured part, seconds.
    pub wall_seconds: f64,
    /// Peak resident memory of the measured process, bytes.
    pub peak_rss_bytes: u64,
}

impl Figures {
    /// Items per second.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.wall_seconds.max(1e-9)
    }

    /// Prints the table row (with a header) and the JSON line.
    pub fn print(&self) {
        let cores = crate::cores();
        let mut header = vec!["scenario".to_owned()];
        let mut row = vec![self.scenario.clone()];
        for (name, value) in &self.params {
            header.push(name.clone());
            row.push(value.as_str().map_or_else(|| value.to_string(), str::to_owned));
        }
        header.extend(["wall_s", "items_per_s", "peak_rss_mib", "cores"].map(String::from));
        row.extend([
            format!("{:.3}", self.wall_seconds),
            format!("{:.0}", self.rate()),
            format!("{:.0}", self.peak_rss_bytes as f64 / (1 << 20) as f64),
            cores.to_string(),
        ]);
        println!("{}", header.join("\t"));
        println!("{}", row.join("\t"));
        let mut line = Map::new();
        line.insert("scenario".into(), json!(self.scenario));
        for (name, value) in &self.params {
            line.insert(name.clone(), value.clone());
        }
        line.insert("items".into(), json!(self.items));
        line.insert("wall_seconds".into(), json!(self.wall_seconds));
        line.insert("items_per_second".into(), json!(self.rate().round()));
        line.insert("peak_rss_bytes".into(), json!(self.peak_rss_bytes));
        line.insert("cores".into(), json!(cores));
        line.insert("versions".into(), versions());
        println!("{}", Value::Object(line));
    }
}

fn versions() -> Value {
    let output = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    json!({
        "tickflow": env!("CARGO_PKG_VERSION"),
        "git": output("git", &["rev-parse", "--short", "HEAD"]),
        "rustc": output("rustc", &["--version"]),
    })
}

/// Peak resident memory of the largest child process waited for, in bytes.
pub fn children_peak_rss() -> u64 {
    peak_rss(libc::RUSAGE_CHILDREN)
}

/// Peak resident memory of this process, in bytes.
pub fn self_peak_rss() -> u64 {
    peak_rss(libc::RUSAGE_SELF)
}

/// CPU time (user and system) of every thread of this process so far, in seconds.
pub fn self_cpu_seconds() -> f64 {
    let usage = usage(libc::RUSAGE_SELF);
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn peak_rss(who: libc::c_int) -> u64 {
    (usage(who).ru_maxrss.max(0) as u64) * 1024
}

#[allow(unsafe_code)]
fn usage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    }
}
