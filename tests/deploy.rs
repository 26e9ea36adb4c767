//! The deployment files, checked with the tools that consume them:
//! `docker-compose config` for the compose file, `kubectl kustomize` and
//! `kubernetes-validate` (offline schemas) for `k8s/`, `promtool` for the
//! Prometheus config, Python for the Airflow DAG, bash for the speed layer's
//! cluster entrypoint. The running stack is `deploy_stack`'s; the Grafana
//! dashboard is `deploy_dashboard`'s.

use crate::support::tickflow;
use crate::support::tools::{repo, resolved_compose, run_ok, tool};
use serde_json::Value;
use std::process::Command;

/// The services the compose file must run, and the tickflow ones among them.
const COMPOSE_SERVICES: [&str; 10] =
    ["kafka", "timescaledb", "producer", "archiver", "speed", "batch", "serve", "bot", "prometheus", "grafana"];
const TICKFLOW_SERVICES: [&str; 6] = ["producer", "archiver", "speed", "batch", "serve", "bot"];

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
}

#[test]
fn docker_compose_accepts_the_compose_file_with_every_service() {
    let compose = resolved_compose();
    let services = &compose["services"];
    for name in COMPOSE_SERVICES {
        let service = &services[name];
        assert!(service.is_object(), "docker-compose.yml has no service {name}");
        assert!(service["healthcheck"]["test"].is_array(), "{name} has no health check");
        assert!(service["deploy"]["resources"]["limits"]["memory"].is_string(), "{name} has no memory limit");
        if let Some(depends) = service["depends_on"].as_object() {
            for (on, condition) in depends {
                let wanted =
                    if services[on]["restart"] == "no" { "service_completed_successfully" } else { "service_healthy" };
                assert_eq!(condition["condition"], wanted, "{name} depends on {on} before it is ready");
            }
        }
    }
    assert!(services["kafka"]["image"].as_str().is_some_and(|i| i.starts_with("apache/kafka:")));
    assert_eq!(services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"], "broker,controller", "KRaft mode");
    assert!(services["timescaledb"]["image"].as_str().is_some_and(|i| i.starts_with("timescale/timescaledb:")));
    for name in TICKFLOW_SERVICES {
        let command = strings(&services[name]["command"]);
        let subcommand = match name {
            "producer" => "produce",
            "archiver" => "archive",
            other => other,
        };
        assert_eq!(command.first().map(String::as_str), Some(subcommand), "{name}: {command:?}");
        assert_eq!(services[name]["environment"]["TICKFLOW_CONFIG"], "/etc/tickflow/tickflow.toml");
    }
    assert_eq!(strings(&services["batch"]["command"]), ["batch", "--every", "1h"]);
    // serve only reads: the one-shot migrate service creates the store first.
    assert_eq!(strings(&services["migrate"]["command"]), ["migrate"]);
    assert_eq!(services["serve"]["depends_on"]["migrate"]["condition"], "service_completed_successfully");
    // The bot reads final bars and writes signals: the schema first, one bot, on paper.
    assert_eq!(strings(&services["bot"]["command"]), ["bot", "--paper"]);
    assert_eq!(services["bot"]["depends_on"]["migrate"]["condition"], "service_completed_successfully");
    assert_eq!(services["bot"]["depends_on"]["timescaledb"]["condition"], "service_healthy");
    assert!(services["bot"]["environment"]["TICKFLOW_STORE_PASSWORD"].is_string(), "the bot logs in to the store");
    let ports = serde_json::to_string(&services["serve"]["ports"]).expect("json");
    assert!(ports.contains("8080"), "serve publishes 8080: {ports}");
    for name in ["archiver", "batch"] {
        let volumes = serde_json::to_string(&services[name]["volumes"]).expect("json");
        assert!(volumes.contains("archive:/var/lib/tickflow/archive"), "{name} mounts the archive volume: {volumes}");
    }
}

#[test]
fn docker_compose_refuses_to_start_without_the_secrets_in_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::tools::copy_repo_paths(dir.path(), &["docker-compose.yml", "tickflow.toml", "deploy"]);
    let output = Command::new(tool("docker-compose")).arg("config").current_dir(dir.path()).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("in .env"), "no .env must fail: {stderr}");
    let ignored = std::fs::read_to_string(repo().join(".gitignore")).expect(".gitignore");
    assert!(ignored.lines().any(|l| l.trim() == ".env"), ".env is git-ignored");
}

/// `kubectl kustomize k8s/`, one manifest per element.
fn rendered_k8s() -> Vec<Value> {
    let output = run_ok(Command::new(tool("kubectl")).arg("kustomize").arg(repo().join("k8s")));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    text.split("\n---\n").map(|doc| serde_yaml_ng::from_str(doc).expect("a manifest")).collect()
}

fn find<'a>(manifests: &'a [Value], kind: &str, name: &str) -> &'a Value {
    manifests
        .iter()
        .find(|m| m["kind"] == kind && m["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("k8s/ renders no {kind} {name}"))
}

/// Runs kubernetes-validate --strict on `files`; returns (success, output).
fn validate(files: &[std::path::PathBuf]) -> (bool, String) {
    let output = Command::new(tool("kubernetes-validate"))
        .arg("--strict")
        .args(files)
        .output()
        .expect("kubernetes-validate runs");
    (
        output.status.success(),
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

#[test]
fn k8s_renders_with_kustomize_and_every_manifest_passes_schema_validation() {
    let manifests = rendered_k8s();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<_> = manifests
        .iter()
        .enumerate()
        .map(|(i, manifest)| {
            let path = dir.path().join(format!("{i}.yaml"));
            std::fs::write(&path, serde_yaml_ng::to_string(manifest).expect("yaml")).expect("write");
            path
        })
        .collect();
    files.push(repo().join("k8s/secret.example.yaml"));
    let (ok, report) = validate(&files);
    assert!(ok, "kubernetes-validate:\n{report}");
    assert_eq!(report.matches(" passed ").count(), files.len(), "every manifest validated:\n{report}");

    // The validator does reject what is wrong.
    let mut broken = find(&manifests, "Deployment", "serve").clone();
    broken["spec"]["replicas"] = Value::from("two");
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, serde_yaml_ng::to_string(&broken).expect("yaml")).expect("write");
    let (ok, report) = validate(&[path]);
    assert!(!ok, "a string replica count must fail validation:\n{report}");
}

#[test]
fn k8s_holds_the_workloads_the_deployment_needs() {
    let manifests = rendered_k8s();
    for manifest in &manifests {
        let kind = manifest["kind"].as_str().unwrap_or_default();
        if kind != "Namespace" {
            assert_eq!(manifest["metadata"]["namespace"], "tickflow", "{kind} {}", manifest["metadata"]["name"]);
        }
    }
    let config = manifests.iter().find(|m| m["kind"] == "ConfigMap").expect("a ConfigMap");
    let committed = std::fs::read_to_string(repo().join("tickflow.toml")).expect("tickflow.toml");
    assert_eq!(config["data"]["tickflow.toml"], committed.as_str(), "the ConfigMap is the root tickflow.toml");

    let speed = find(&manifests, "StatefulSet", "speed");
    let container = &speed["spec"]["template"]["spec"]["containers"][0];
    let processes = container["env"].as_array().and_then(|env| env.iter().find(|e| e["name"] == "TICKFLOW_PROCESSES"));
    let processes = processes.expect("TICKFLOW_PROCESSES")["value"].as_str().expect("a string").parse::<u64>();
    assert_eq!(processes.ok(), speed["spec"]["replicas"].as_u64(), "--processes must equal the replicas");
    assert_eq!(find(&manifests, "Service", "speed")["spec"]["clusterIP"], "None", "a headless service names the pods");

    let serve = &find(&manifests, "Deployment", "serve")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(serve["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(serve["livenessProbe"]["httpGet"]["path"], "/healthz");
    // serve speaks HTTPS with the serve-tls Secret's files, and is probed so.
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(serve[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
    }
    let env = |name: &str| {
        let env = serve["env"].as_array().and_then(|env| env.iter().find(|e| e["name"] == name));
        env.and_then(|e| e["value"].as_str()).unwrap_or_else(|| panic!("serve has no {name}")).to_owned()
    };
    let mount =
        serve["volumeMounts"].as_array().and_then(|m| m.iter().find(|m| m["name"] == "tls")).expect("a tls mount");
    let dir = mount["mountPath"].as_str().expect("a mount path");
    assert_eq!(
        [env("TICKFLOW_TLS_CERT"), env("TICKFLOW_TLS_KEY")],
        [format!("{dir}/tls.crt"), format!("{dir}/tls.key")]
    );
    let pod = &find(&manifests, "Deployment", "serve")["spec"]["template"]["spec"];
    let volume = pod["volumes"].as_array().and_then(|v| v.iter().find(|v| v["name"] == "tls")).expect("a tls volume");
    assert_eq!(volume["secret"]["secretName"], "serve-tls");
    let help = tickflow(&["serve", "--help"]);
    for flag in ["--tls-cert", "--tls-key", "TICKFLOW_TLS_CERT", "TICKFLOW_TLS_KEY"] {
        assert!(help.contains(flag), "tickflow serve has no {flag}:\n{help}");
    }
    assert_eq!(find(&manifests, "HorizontalPodAutoscaler", "serve")["spec"]["scaleTargetRef"]["name"], "serve");
    let cron = find(&manifests, "CronJob", "batch");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let features = find(&manifests, "CronJob", "features");
    assert_eq!(features["spec"]["schedule"], "0 6 1 1,4,7,10 *", "the first day of each quarter");
    assert_eq!(features["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &features["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(strings(&pod["containers"][0]["args"]), ["features", "--verify", "/var/lib/tickflow/features"]);
    for name in ["producer", "archiver"] {
        find(&manifests, "Deployment", name);
    }
    // One bot writes its progress: never two, not even during a rollout.
    let bot = find(&manifests, "Deployment", "bot");
    assert_eq!(bot["spec"]["replicas"], 1);
    assert_eq!(bot["spec"]["strategy"]["type"], "Recreate");
    let container = &bot["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(strings(&container["args"]), ["bot", "--paper"]);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    find(&manifests, "PersistentVolumeClaim", "tickflow-archive");
    for name in ["kafka", "timescaledb"] {
        assert_eq!(find(&manifests, "Service", name)["spec"]["type"], "ExternalName", "{name} is external");
    }

    // Only the services that need it may reach the database port.
    let to_port = |port: u64| -> Vec<String> {
        let policies = manifests.iter().filter(|m| m["kind"] == "NetworkPolicy");
        let opening = policies.filter(|p| {
            let egress = serde_json::to_string(&p["spec"]["egress"]).unwrap_or_default();
            egress.contains(&format!("\"port\":{port}"))
        });
        opening.flat_map(|p| strings(&p["spec"]["podSelector"]["matchExpressions"][0]["values"])).collect()
    };
    assert_eq!(to_port(5432), ["speed", "batch", "serve", "features", "bot", "migrate"]);
    assert_eq!(to_port(9092), ["producer", "archiver", "speed"]);
    find(&manifests, "NetworkPolicy", "default-deny");
}

/// Issue 21: every store URL verifies PostgreSQL's certificate
/// (`sslmode=verify-full` against a mounted CA), and serve and features log
/// in as the read-only role that the one-shot `tickflow grant` sets up.
#[test]
fn deployments_use_tls_to_postgres_and_the_read_only_role() {
    let config: toml::Table =
        std::fs::read_to_string(repo().join("tickflow.toml")).expect("tickflow.toml").parse().expect("TOML");
    let ca = "sslmode=verify-full&sslrootcert=/run/secrets/tickflow/postgres-ca.crt";
    for (section, user) in [("global", "tickflow"), ("serve", "tickflow_reader"), ("features", "tickflow_reader")] {
        let store = config[section]["store"].as_str().expect("a store URL");
        assert!(store.starts_with(&format!("postgres://{user}@timescaledb:5432/")), "[{section}] {store}");
        assert!(store.ends_with(ca), "[{section}] {store}");
    }

    let compose = resolved_compose();
    let services = &compose["services"];
    assert_eq!(strings(&services["grant"]["command"]), ["grant", "--role", "tickflow_reader"]);
    assert_eq!(services["grant"]["depends_on"]["migrate"]["condition"], "service_completed_successfully");
    assert_eq!(services["serve"]["depends_on"]["grant"]["condition"], "service_completed_successfully");
    let password = |name: &str| services[name]["environment"]["TICKFLOW_STORE_PASSWORD"].clone();
    assert_eq!(password("serve"), services["timescaledb"]["environment"]["TICKFLOW_READER_PASSWORD"]);
    assert_ne!(password("serve"), password("speed"), "serve has the reader's password, not the owner's");
    assert!(strings(&services["timescaledb"]["command"]).contains(&"ssl=on".to_owned()));
    assert_eq!(services["timescaledb"]["depends_on"]["postgres-tls"]["condition"], "service_completed_successfully");
    for name in ["migrate", "grant", "speed", "batch", "serve", "bot"] {
        let volumes = serde_json::to_string(&services[name]["volumes"]).expect("json");
        assert!(volumes.contains("postgres-ca:/run/secrets/tickflow:ro"), "{name} mounts the CA: {volumes}");
    }

    let manifests = rendered_k8s();
    let job = &find(&manifests, "Job", "migrate")["spec"]["template"]["spec"];
    assert_eq!(strings(&job["initContainers"][0]["args"]), ["migrate"]);
    assert_eq!(strings(&job["containers"][0]["args"]), ["grant", "--role", "tickflow_reader"]);
    let serve = &find(&manifests, "Deployment", "serve")["spec"]["template"]["spec"];
    let features = &find(&manifests, "CronJob", "features")["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let batch = &find(&manifests, "CronJob", "batch")["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let pods = [
        (job, "store-password"),
        (&find(&manifests, "StatefulSet", "speed")["spec"]["template"]["spec"], "store-password"),
        (batch, "store-password"),
        (&find(&manifests, "Deployment", "bot")["spec"]["template"]["spec"], "store-password"),
        (serve, "reader-password"),
        (features, "reader-password"),
    ];
    for (pod, password) in pods {
        let secrets = pod["volumes"].as_array().and_then(|v| v.iter().find(|v| v["name"] == "secrets"));
        let items = serde_json::to_string(&secrets.expect("a secrets volume")["secret"]["items"]).expect("json");
        assert!(items.contains("postgres-ca.crt") && items.contains(password), "{items}");
        let env = serde_json::to_string(&pod["containers"][0]["env"]).expect("json");
        assert!(env.contains(&format!("/run/secrets/tickflow/{password}")), "{env}");
    }
}

/// The StatefulSet's entrypoint script, run by bash with a `tickflow` on
/// PATH that records how it was called.
#[test]
fn the_speed_entrypoint_writes_the_host_file_and_takes_the_process_from_the_ordinal() {
    let manifests = rendered_k8s();
    let speed = find(&manifests, "StatefulSet", "speed");
    let script = speed["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().expect("a script");
    let dir = tempfile::tempdir().expect("tempdir");
    let script = script.replace("/run/tickflow/hosts", &dir.path().join("hosts").display().to_string());
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let recorder = bin.join("tickflow");
    std::fs::write(&recorder, format!("#!/bin/sh\necho \"$@\" > {}\n", dir.path().join("called").display()))
        .expect("write");
    run_ok(Command::new("chmod").arg("+x").arg(&recorder));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    run_ok(
        Command::new("bash")
            .args(["-c", &script])
            .env("PATH", path)
            .env("HOSTNAME", "speed-2")
            .env("TICKFLOW_PROCESSES", "3")
            .env("POD_NAMESPACE", "prod"),
    );
    let hosts = std::fs::read_to_string(dir.path().join("hosts")).expect("host file");
    assert_eq!(
        hosts.lines().collect::<Vec<_>>(),
        (0..3).map(|i| format!("speed-{i}.speed.prod.svc.cluster.local:2101")).collect::<Vec<_>>()
    );
    let called = std::fs::read_to_string(dir.path().join("called")).expect("tickflow called");
    let hosts_path = dir.path().join("hosts");
    assert_eq!(called.trim(), format!("speed --process 2 --hostfile {}", hosts_path.display()));
    // And the real binary takes those flags (with --processes from the variable).
    let help = tickflow(&["speed", "--help"]);
    for flag in ["--process ", "--hostfile", "--processes", "TICKFLOW_PROCESSES"] {
        assert!(help.contains(flag), "tickflow speed has no {flag}:\n{help}");
    }
}

#[test]
fn the_airflow_dag_compiles_and_its_command_runs_a_real_batch() {
    let dag = repo().join("orchestration/airflow/tickflow_batch.py");
    let cache = tempfile::tempdir().expect("tempdir");
    run_ok(Command::new(tool("python3")).args(["-m", "py_compile"]).arg(&dag).env("PYTHONPYCACHEPREFIX", cache.path()));
    // The DAG's command, read from its source without importing Airflow.
    let read = "import ast, sys\nfor node in ast.parse(open(sys.argv[1]).read()).body:\n    \
                if isinstance(node, ast.Assign) and node.targets[0].id == 'BATCH_COMMAND':\n        \
                print(ast.literal_eval(node.value))";
    let output = run_ok(Command::new(tool("python3")).args(["-c", read]).arg(&dag));
    let command = String::from_utf8(output.stdout).expect("utf-8");
    assert!(command.starts_with("tickflow batch --archive "), "{command}");
    assert!(command.contains("--store "), "{command}");
    let source = std::fs::read_to_string(&dag).expect("dag");
    for expected in
        ["schedule=\"@hourly\"", "max_active_runs=1", "BashOperator(task_id=\"batch\", bash_command=BATCH_COMMAND)"]
    {
        assert!(source.contains(expected), "the DAG has no {expected}");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    tickflow(&["generate", "--out", archive.to_str().expect("path"), "--ticks", "2000", "--days", "1"]);
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tickflow")).parent().expect("bin dir");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = run_ok(
        Command::new("bash")
            .args(["-c", command.trim()])
            .env("PATH", path)
            .env("TICKFLOW_ARCHIVE", &archive)
            .env("TICKFLOW_STORE", &store)
            .env_remove("TICKFLOW_CONFIG"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Published batch run 1") && stdout.contains("2000 trades"), "{stdout}");
}

#[test]
fn promtool_accepts_the_prometheus_config_and_it_scrapes_every_tickflow_service() {
    let config = repo().join("deploy/prometheus/prometheus.yml");
    run_ok(Command::new(tool("promtool")).args(["check", "config", "--syntax-only"]).arg(&config));
    let parsed: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&config).expect("read")).expect("yaml");
    let targets: Vec<String> = parsed["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .flat_map(|job| strings(&job["static_configs"][0]["targets"]))
        .collect();
    let compose = resolved_compose();
    for name in TICKFLOW_SERVICES {
        let port = if name == "serve" { "8080" } else { "9100" };
        assert!(targets.contains(&format!("{name}:{port}")), "Prometheus does not scrape {name}:{port}: {targets:?}");
        assert!(compose["services"][name].is_object());
    }
}
