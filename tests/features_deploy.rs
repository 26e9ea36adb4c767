//! The feature export as it is scheduled: the Airflow DAG's three commands
//! run against a real store, and `tickflow features --every` surviving a
//! failed run and stopping on SIGTERM.

use crate::support::process::Service;
use crate::support::tickflow;
use crate::support::tools::{repo, run_ok, tool};
use std::path::Path;
use std::process::Command;

/// The DAG's commands and task order, read by running it with stand-ins for
/// Airflow's classes (no Airflow needed).
const READ_DAG: &str = r#"
import json, runpy, sys, types
tasks, edges = {}, []
class Op:
    def __init__(self, task_id, bash_command):
        self.task_id = task_id
        tasks[task_id] = bash_command
    def __rshift__(self, other):
        edges.append([self.task_id, other.task_id])
        return other
class Dag:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
    def __enter__(self):
        return self
    def __exit__(self, *args):
        return False
airflow = types.ModuleType("airflow"); airflow.DAG = Dag
operators = types.ModuleType("airflow.operators")
bash = types.ModuleType("airflow.operators.bash"); bash.BashOperator = Op
sys.modules.update({"airflow": airflow, "airflow.operators": operators, "airflow.operators.bash": bash})
module = runpy.run_path(sys.argv[1])
print(json.dumps({"tasks": tasks, "edges": edges, "schedule": module["dag"].kwargs["schedule"]}))
"#;

#[test]
fn the_quarterly_dag_runs_batch_then_features_then_verify_on_a_real_store() {
    let dag = repo().join("orchestration/airflow/tickflow_quarterly_features.py");
    let cache = tempfile::tempdir().expect("tempdir");
    run_ok(Command::new(tool("python3")).args(["-m", "py_compile"]).arg(&dag).env("PYTHONPYCACHEPREFIX", cache.path()));
    let output =
        run_ok(Command::new(tool("python3")).args(["-c", READ_DAG]).arg(&dag).env("PYTHONDONTWRITEBYTECODE", "1"));
    let parsed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(parsed["schedule"], "0 6 1 1,4,7,10 *", "the first day of each quarter");
    assert_eq!(parsed["edges"], serde_json::json!([["batch", "features"], ["features", "verify"]]));

    let dir = tempfile::tempdir().expect("tempdir");
    let archive = crate::support::shared_data().join("real");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let bin = Path::new(env!("CARGO_BIN_EXE_tickflow")).parent().expect("bin dir");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut outputs = Vec::new();
    for task in ["batch", "features", "verify"] {
        // Airflow renders the data interval's end; a run on 2014-01-01 exports 2013-Q4.
        let command =
            parsed["tasks"][task].as_str().expect("command").replace("{{ data_interval_end | ds }}", "2014-01-01");
        let output = run_ok(
            Command::new("bash")
                .args(["-c", &command])
                .env("PATH", &path)
                .env("TICKFLOW_ARCHIVE", &archive)
                .env("TICKFLOW_STORE", &store)
                .env("TICKFLOW_FEATURES_OUT", dir.path().join("features"))
                .env("TICKFLOW_FEATURES_FROM", "2013-07-01")
                .env_remove("TICKFLOW_CONFIG"),
        );
        outputs.push(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    assert!(outputs[0].contains("Published batch run 1"), "{}", outputs[0]);
    assert!(outputs[1].contains("quarter=4/part-0.parquet"), "{}", outputs[1]);
    assert!(outputs[2].contains("Verified 1 data file(s)"), "{}", outputs[2]);
}

#[test]
fn features_every_survives_a_failed_run_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let out = dir.path().join("features");
    let args: Vec<String> =
        ["features", "--store", &store, "--interval", "1d", "--from", "2013-10-01", "--every", "1s"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain(["--out".to_owned(), out.display().to_string()])
            .collect();
    let mut service = Service::tickflow("features --every", &args, &[]);
    service.wait_for_log("a failed run", |log| log.contains("Feature export failed").then_some(()));

    let archive = crate::support::shared_data().join("real");
    tickflow(&["batch", "--archive", archive.to_str().expect("path"), "--store", &store, "--intervals", "1d"]);
    service.wait_for_log("an export after the batch run", |log| {
        log.lines().any(|l| l.contains("Feature export finished") && l.contains("written=1")).then_some(())
    });
    assert!(out.join("interval=1d/year=2013/quarter=4/part-0.parquet").exists());
    service.wait_for_log("a run that writes nothing", |log| {
        log.lines().any(|l| l.contains("Feature export finished") && l.contains("written=0")).then_some(())
    });
    let status = service.terminate();
    assert!(status.success(), "SIGTERM ends the schedule cleanly: {status}\n{}", service.log());
    assert!(service.log().contains("Feature export schedule stopped"), "{}", service.log());
}
