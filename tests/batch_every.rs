//! `tickflow batch --every`: the long-running schedule through the CLI. A
//! run that fails (an unreadable archive file) is logged and counted and the
//! schedule goes on; fixed and extended archives are published by later runs
//! (seen in the store); SIGTERM ends it with exit status 0.

use crate::support::process::{DEADLINE, Service, http_get, metric};
use crate::support::tickflow;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;
use tickflow_shared::store::Access;

fn metrics(addr: SocketAddr) -> String {
    http_get(addr, "/metrics").map(|(_, body)| body).unwrap_or_default()
}

fn wait_until(service: &mut Service, what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        service.assert_running();
        assert!(started.elapsed() < DEADLINE, "no {what} within {DEADLINE:?}:\n{}", service.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn published_runs(store: &str) -> usize {
    let store = store.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let store = tickflow_shared::store::open(&store, Access::Read).await.expect("store");
            store.batch_runs(100).await.expect("batch runs").len()
        })
    })
    .join()
    .expect("store query")
}

fn generate(archive: &Path, start: &str) {
    let out = archive.to_str().expect("path");
    tickflow(&["generate", "--out", out, "--ticks", "3000", "--days", "1", "--start", start]);
}

#[test]
fn survives_a_failed_run_publishes_later_runs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    generate(&archive, "2026-01-05T14:30:00Z");
    let broken = archive.join("date=2026-01-05/broken.parquet");
    std::fs::write(&broken, b"not parquet").expect("write");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let args = ["batch", "--archive", archive.to_str().expect("path"), "--store", &store, "--every", "1s"]
        .map(String::from)
        .into_iter()
        .chain(["--metrics-listen".into(), "127.0.0.1:0".into()])
        .collect::<Vec<_>>();
    let mut batch = Service::tickflow("batch --every", &args, &[]);
    let addr = batch.metrics_address();

    let failed = r#"tickflow_batch_runs_total{outcome="failed"}"#;
    wait_until(&mut batch, "failed run", || metric(&metrics(addr), failed).is_some_and(|n| n >= 1.0));
    assert!(batch.log().lines().any(|l| l.contains("ERROR") && l.contains("broken.parquet")), "{}", batch.log());
    assert_eq!(published_runs(&store), 0, "a failed run publishes nothing");

    std::fs::remove_file(&broken).expect("remove");
    wait_until(&mut batch, "first published run", || published_runs(&store) >= 1);
    generate(&archive, "2026-01-06T14:30:00Z");
    wait_until(&mut batch, "second published run", || published_runs(&store) >= 2);

    let text = metrics(addr);
    assert!(metric(&text, r#"tickflow_batch_runs_total{outcome="published"}"#).is_some_and(|n| n >= 2.0), "{text}");
    assert!(metric(&text, "tickflow_batch_trades_total").is_some_and(|n| n >= 6000.0), "{text}");
    assert!(metric(&text, "tickflow_batch_last_success_timestamp_seconds").is_some_and(|t| t > 1.7e9), "{text}");
    let status = batch.terminate();
    assert!(status.success(), "exit status {status} after SIGTERM:\n{}", batch.log());
    assert!(batch.log().contains("Batch schedule stopped."), "{}", batch.log());
}
