//! Configuration through the binary: `tickflow.toml` named by `--config` or
//! `TICKFLOW_CONFIG`, overridden by `TICKFLOW_*` variables, overridden by
//! flags; a bad file stops tickflow with an error naming file, section and key.

use crate::support::tickflow;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickflow"));
    command.args(args).env_remove("TICKFLOW_CONFIG").env_remove("TICKFLOW_STORE").env_remove("TICKFLOW_FORMAT");
    command.envs(env.iter().copied()).output().expect("tickflow runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text.trim()).is_ok()
        || text.lines().next().is_some_and(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
}

fn store_with_bars(dir: &Path) -> String {
    let archive = dir.join("archive");
    tickflow(&["generate", "--out", archive.to_str().expect("path"), "--ticks", "500", "--days", "1"]);
    let store = format!("sqlite://{}", dir.join("views.db").display());
    tickflow(&["batch", "--archive", archive.to_str().expect("path"), "--store", &store]);
    store
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_bars(dir.path());
    let file = dir.path().join("tickflow.toml");
    std::fs::write(&file, format!("[global]\nstore = \"{store}\"\n[bars]\ninterval = \"1d\"\nformat = \"json\"\n"))
        .expect("write");
    let file = file.to_str().expect("path");

    let from_file = stdout(&run(&["bars"], &[("TICKFLOW_CONFIG", file)]));
    assert!(is_json(&from_file), "the file's format = json:\n{from_file}");
    let by_flag = stdout(&run(&["--config", file, "bars"], &[]));
    assert_eq!(by_flag, from_file, "--config reads the same file");
    let from_env = stdout(&run(&["bars"], &[("TICKFLOW_CONFIG", file), ("TICKFLOW_FORMAT", "csv")]));
    assert!(from_env.starts_with("symbol,interval,start,"), "TICKFLOW_FORMAT=csv beats the file:\n{from_env}");
    assert!(from_env.lines().count() > 1, "the file's store and interval still apply:\n{from_env}");
    let from_flag =
        stdout(&run(&["bars", "--format", "json"], &[("TICKFLOW_CONFIG", file), ("TICKFLOW_FORMAT", "csv")]));
    assert_eq!(from_flag, from_file, "--format json beats TICKFLOW_FORMAT");
    let empty_env = stdout(&run(&["bars"], &[("TICKFLOW_CONFIG", file), ("TICKFLOW_FORMAT", "")]));
    assert_eq!(empty_env, from_file, "an empty variable counts as unset");
}

#[test]
fn a_bad_file_stops_tickflow_naming_file_section_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    for (text, expected) in [
        ("[bars]\nformat = \"xml\"\n", "[bars] format = \"xml\": invalid value 'xml'"),
        ("[bars]\nfromat = \"json\"\n", "[bars] has an unknown key \"fromat\""),
        ("[bras]\n", "unknown section [bras]"),
    ] {
        std::fs::write(&file, text).expect("write");
        let output = run(&["--config", file.to_str().expect("path"), "bars", "--store", "sqlite://x.db"], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{text}: {stderr}");
        assert!(
            stderr.contains(&format!("config file {}", file.display())) && stderr.contains(expected),
            "{text}: {stderr}"
        );
    }
    let missing = run(&["--config", "/nonexistent/tickflow.toml", "bars"], &[]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && stderr.contains("/nonexistent/tickflow.toml"), "{stderr}");
}
