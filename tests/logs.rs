//! Logs for the ELK stack: with `TICKFLOW_LOG_FORMAT=json` every line a
//! service writes to stderr is one JSON object with Elastic Common Schema
//! names; a format tickflow does not know stops it at start, saying so.

use crate::support::process::{Service, http_get};
use crate::support::{free_port, tickflow};
use serde_json::Value;

#[test]
fn serve_logs_one_ecs_object_a_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    tickflow(&["migrate", "--store", &store]);
    let port = free_port();
    let args: Vec<String> =
        ["serve", "--store", &store, "--listen", &format!("127.0.0.1:{port}")].into_iter().map(String::from).collect();
    let mut serve = Service::tickflow("serve", &args, &[("TICKFLOW_LOG_FORMAT".into(), "json".into())]);
    serve.wait_for_log("the serving line", |log| log.contains("Serving the API.").then_some(()));
    assert_eq!(http_get(([127, 0, 0, 1], port).into(), "/healthz").map(|(status, _)| status), Some(200));
    assert!(serve.terminate().success());

    let log = serve.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
        .collect();
    assert!(lines.len() >= 2, "the start and the stop: {log}");
    for line in &lines {
        for key in ["@timestamp", "log.level", "log.logger", "message", "service.name", "event.dataset"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
        assert_eq!(line["service.name"], "tickflow");
        assert_eq!(line["event.dataset"], "tickflow.serve");
    }
    let serving = lines.iter().find(|l| l["message"] == "Serving the API.").expect("the serving line");
    assert_eq!(serving["log.level"], "info");
    assert_eq!(serving["address"], format!("127.0.0.1:{port}"), "the event's fields by name: {serving}");
    assert!(lines.iter().any(|l| l["message"] == "Shutting down the API."), "{log}");
}

#[test]
fn an_unknown_log_format_stops_tickflow_and_says_which_there_are() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(["bars", "--store", "sqlite:///nonexistent/views.db", "--interval", "1m"])
        .env("TICKFLOW_LOG_FORMAT", "xml")
        .output()
        .expect("tickflow runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TICKFLOW_LOG_FORMAT=\"xml\"") && stderr.contains("text or json"), "{stderr}");
}
