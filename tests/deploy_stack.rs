//! The compose stack, run for real on loopback: the services
//! docker-compose.yml would start, as processes, with the compose file's own
//! commands and environment (as `docker-compose config` resolves them) and
//! the committed tickflow.toml, rewritten to this machine: a PostgreSQL
//! cluster of the test's own for TimescaleDB, set up as the compose file's
//! does it (TLS on, with the certificate deploy/postgres-tls/make-certs.sh
//! makes, and the roles of deploy/timescaledb/init.sh), tansu for Kafka,
//! free loopback ports for the containers' ports. Every store URL verifies
//! the server (`sslmode=verify-full`) and serve logs in as the read-only
//! role. Real Prometheus (Debian's package) scrapes them with the compose's
//! scrape config, rewritten the same way; the test waits until Prometheus
//! sees every target up and each service's tickflow metrics.

use crate::support::free_port;
use crate::support::kafka::Broker;
use crate::support::postgres::{self, Cluster};
use crate::support::process::{DEADLINE, Service, http_get};
use crate::support::tools::{repo, resolved_compose, run_ok, tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The one-shot tickflow services of the compose file, run to completion
/// before the others start (compose's `service_completed_successfully`).
const ONE_SHOT: [&str; 2] = ["migrate", "grant"];

/// The tickflow services of the compose file and the port each container listens on.
const SERVICES: [(&str, u16); 6] =
    [("producer", 9100), ("archiver", 9100), ("speed", 9100), ("batch", 9100), ("serve", 8080), ("bot", 9100)];

/// The committed tickflow.toml with the compose network's names replaced by
/// this machine's services: PostgreSQL on `localhost` (a name its
/// certificate carries) at `postgres_port`, the CA at `ca`.
fn rewritten_config(broker: &str, postgres_port: u16, ca: &Path, archive: &Path) -> String {
    let text = std::fs::read_to_string(repo().join("tickflow.toml")).expect("tickflow.toml");
    let replaced = text
        .replace("\"kafka:9092\"", &format!("{broker:?}"))
        .replace("@timescaledb:5432/", &format!("@localhost:{postgres_port}/"))
        .replace("sslrootcert=/run/secrets/tickflow/postgres-ca.crt", &format!("sslrootcert={}", ca.display()))
        .replace("\"/var/lib/tickflow/archive\"", &format!("{:?}", archive.display().to_string()));
    for original in ["kafka:9092", "timescaledb:5432", "/run/secrets", "/var/lib/tickflow/archive"] {
        let active = replaced.lines().filter(|l| !l.starts_with('#')).any(|l| l.contains(original));
        assert!(!active, "tickflow.toml names {original} in a way this test does not rewrite");
    }
    replaced
}

/// One service's command line and environment from the resolved compose
/// file, moved to loopback: the config file, `--listen` and the metrics
/// address (one container port each in compose, one free port each here).
fn command_of(service: &Value, config: &Path, port: u16) -> (Vec<String>, Vec<(String, String)>) {
    let mut args: Vec<String> = service["command"]
        .as_array()
        .expect("a command")
        .iter()
        .map(|a| a.as_str().expect("text").to_owned())
        .collect();
    for arg in &mut args {
        if arg.starts_with("0.0.0.0:") {
            *arg = format!("127.0.0.1:{port}");
        }
    }
    let mut env: Vec<(String, String)> = service["environment"]
        .as_object()
        .expect("an environment")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from)))
        .collect();
    for (key, value) in &mut env {
        if key == "TICKFLOW_CONFIG" {
            *value = config.display().to_string();
        }
    }
    if !args.iter().any(|a| a == "--listen") {
        env.push(("TICKFLOW_METRICS_LISTEN".into(), format!("127.0.0.1:{port}")));
    }
    (args, env)
}

/// The compose's Prometheus config with every target moved to its loopback port.
fn rewritten_prometheus(ports: &BTreeMap<String, u16>) -> String {
    let mut text = std::fs::read_to_string(repo().join("deploy/prometheus/prometheus.yml")).expect("prometheus.yml");
    for (name, container_port) in SERVICES {
        let target = format!("\"{name}:{container_port}\"");
        assert!(text.contains(&target), "prometheus.yml does not scrape {target}");
        text = text.replace(&target, &format!("\"127.0.0.1:{}\"", ports[name]));
    }
    // Scrape every second instead of every 15: the same config, sooner.
    text.replace("scrape_interval: 15s", "scrape_interval: 1s")
}

fn query(prometheus: SocketAddr, path: &str) -> Value {
    http_get(prometheus, path)
        .filter(|(status, _)| *status == 200)
        .and_then(|(_, body)| serde_json::from_str(&body).ok())
        .unwrap_or(Value::Null)
}

/// Waits until `check` finds what it wants in Prometheus, failing with the
/// last answer and the services' logs after the deadline.
fn wait_for(what: &str, services: &mut [Service], mut check: impl FnMut() -> Result<(), String>) {
    let started = Instant::now();
    loop {
        let last = match check() {
            Ok(()) => return,
            Err(last) => last,
        };
        for service in services.iter_mut() {
            service.assert_running();
        }
        if started.elapsed() > DEADLINE {
            let logs: Vec<String> = services.iter().map(|s| s.log()).collect();
            panic!("Prometheus did not show {what} within {DEADLINE:?}: {last}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// TimescaleDB as the compose file sets it up: the certificate of the
/// postgres-tls service in its data directory, `ssl = on`, and the database
/// and roles of its init script (with the passwords of `.env.example`).
/// Returns the cluster and the CA's file.
fn timescaledb(compose: &Value, dir: &Path) -> (Cluster, std::path::PathBuf) {
    let cluster = Cluster::new(&["ssl = on"]);
    let ca_dir = dir.join("ca");
    std::fs::create_dir(&ca_dir).expect("mkdir");
    let uid = run_ok(Command::new("id").arg("-u")).stdout;
    let gid = run_ok(Command::new("id").arg("-g")).stdout;
    let owner = format!("{}:{}", String::from_utf8_lossy(&uid).trim(), String::from_utf8_lossy(&gid).trim());
    run_ok(
        Command::new("sh")
            .arg(repo().join("deploy/postgres-tls/make-certs.sh"))
            .arg(cluster.data())
            .arg(&ca_dir)
            .env("TLS_OWNER", owner),
    );
    for file in ["server.crt", "server.key"] {
        cluster.chown(&cluster.data().join(file));
    }
    cluster.start(" -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off");
    let bin = tickflow_bench::postgres::pg_bin().expect("PostgreSQL's programs");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let env = compose["services"]["timescaledb"]["environment"].as_object().expect("environment");
    let mut init = Command::new("bash");
    init.arg(repo().join("deploy/timescaledb/init.sh"))
        .envs(env.iter().filter_map(|(k, v)| Some((k, v.as_str()?))))
        .env("PATH", path)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", cluster.port.to_string());
    run_ok(&mut init);
    (cluster, ca_dir.join("postgres-ca.crt"))
}

/// The users of the tickflow services' connections, and whether each is encrypted.
fn connections(cluster: &Cluster) -> Vec<(String, bool)> {
    let url = format!("{}?sslmode=require", cluster.url());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let client = tickflow_shared::store::connect_postgres(&url).await.expect("connect");
        let rows = client
            .query(
                "SELECT a.usename::text, s.ssl FROM pg_stat_activity AS a JOIN pg_stat_ssl AS s USING (pid)
                 WHERE a.datname = 'tickflow' ORDER BY 1",
                &[],
            )
            .await
            .expect("pg_stat_ssl");
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    })
}

#[test]
fn the_compose_services_run_on_loopback_and_prometheus_sees_them_all() {
    let compose = resolved_compose();
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, ca) = timescaledb(&compose, dir.path());
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).expect("archive dir");
    let config = dir.path().join("tickflow.toml");
    std::fs::write(&config, rewritten_config(&broker.bootstrap(), cluster.port, &ca, &archive)).expect("config");

    for name in ONE_SHOT {
        let (args, env) = command_of(&compose["services"][name], &config, free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickflow"));
        run_ok(command.args(&args).envs(env));
    }
    let ports: BTreeMap<String, u16> = SERVICES.iter().map(|(name, _)| (name.to_string(), free_port())).collect();
    let mut services: Vec<Service> = SERVICES
        .iter()
        .map(|(name, _)| {
            let (args, env) = command_of(&compose["services"][name], &config, ports[*name]);
            Service::tickflow(name, &args, &env)
        })
        .collect();

    // What compose's health checks and the probes ask.
    for (name, _) in SERVICES {
        let addr: SocketAddr = ([127, 0, 0, 1], ports[name]).into();
        let path = if name == "serve" { "/readyz" } else { "/healthz" };
        let started = Instant::now();
        while http_get(addr, path).is_none_or(|(status, _)| status != 200) {
            assert!(started.elapsed() < DEADLINE, "{name} never answered {path}");
            services.iter_mut().for_each(Service::assert_running);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let prometheus_dir = dir.path().join("prometheus");
    std::fs::create_dir(&prometheus_dir).expect("mkdir");
    let prometheus_config = prometheus_dir.join("prometheus.yml");
    std::fs::write(&prometheus_config, rewritten_prometheus(&ports)).expect("write");
    let prometheus_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut command = Command::new(tool("prometheus"));
    command
        .arg(format!("--config.file={}", prometheus_config.display()))
        .arg(format!("--storage.tsdb.path={}", prometheus_dir.join("data").display()))
        .arg(format!("--web.listen-address={prometheus_addr}"));
    services.push(Service::start("prometheus", command));

    wait_for("every target up", &mut services, || {
        let targets = query(prometheus_addr, "/api/v1/targets?state=active");
        let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        let up: Vec<&str> =
            active.iter().filter(|t| t["health"] == "up").filter_map(|t| t["labels"]["job"].as_str()).collect();
        if active.len() == SERVICES.len() && up.len() == SERVICES.len() { Ok(()) } else { Err(format!("{targets}")) }
    });

    // Each job's own metrics, as Prometheus stored them.
    let expected = [
        ("producer", "tickflow_produce_trades_total"),
        ("archiver", "tickflow_archive_commit_lag_messages"),
        ("batch", "tickflow_batch_runs_total"),
        ("speed", "tickflow_speed_trades_total"),
        ("serve", "tickflow_serve_requests_total"),
        ("bot", "tickflow_bot_commits_total"),
    ];
    wait_for("each service's tickflow metrics", &mut services, || {
        let names = query(
            prometheus_addr,
            "/api/v1/query?query=count%20by%20(job,__name__)%20(%7B__name__%3D~%22tickflow_.%2B%22%7D)",
        );
        let series = names["data"]["result"].as_array().cloned().unwrap_or_default();
        let has = |job: &str, name: &str| {
            series.iter().any(|s| {
                s["metric"]["job"] == job && s["metric"]["__name__"].as_str().is_some_and(|n| n.starts_with(name))
            })
        };
        let missing: Vec<String> =
            expected.iter().filter(|(job, name)| !has(job, name)).map(|(job, name)| format!("{job}: {name}")).collect();
        if missing.is_empty() { Ok(()) } else { Err(format!("missing {missing:?} in {names}")) }
    });
    wait_for("trades flowing", &mut services, || {
        let sent = query(prometheus_addr, "/api/v1/query?query=tickflow_produce_trades_total");
        let value = sent["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
        if value.is_some_and(|v| v > 0.0) { Ok(()) } else { Err(format!("{sent}")) }
    });
    // Every connection to the store is TLS; serve's are the read-only role's.
    let connections = connections(&cluster);
    println!("store connections (user, TLS): {connections:?}");
    assert!(connections.iter().all(|(_, ssl)| *ssl), "{connections:?}");
    assert!(connections.iter().any(|(user, _)| user == "tickflow_reader"), "{connections:?}");
    for service in &mut services {
        let status = service.terminate();
        assert!(status.success(), "exit status {status} after SIGTERM:\n{}", service.log());
    }
    // The compose file sets TICKFLOW_LOG_FORMAT=json: every log line is an ECS object.
    for service in services.iter().take(SERVICES.len()) {
        let log = service.log();
        let logged: Vec<Value> =
            log.lines().filter(|l| l.starts_with('{')).filter_map(|l| serde_json::from_str(l).ok()).collect();
        assert!(!logged.is_empty(), "no JSON log line:\n{log}");
        assert!(logged.iter().all(|l| l["service.name"] == "tickflow" && l["@timestamp"].is_string()), "{log}");
        assert!(!log.lines().any(|l| l.contains(" INFO ") || l.contains(" WARN ")), "a text log line:\n{log}");
    }
}

/// Regression: `tickflow speed --store postgres://…` failed with "connection
/// closed" at its first commit, because the store's connection tasks lived
/// on a runtime the command dropped before the job ran.
#[test]
fn speed_writes_to_postgres_through_the_cli() {
    let store = postgres::database();
    let out =
        crate::support::tickflow(&["speed", "--simulate", "--ticks", "200", "--rate", "100000", "--store", &store]);
    assert!(out.contains("Speed layer wrote") && !out.contains("wrote 0 commits"), "{out}");
}
