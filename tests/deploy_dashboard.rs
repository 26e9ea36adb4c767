//! The provisioned Grafana dashboard asks only for what tickflow has: every
//! SQL query names tables the migrations create, every PromQL query names
//! metrics the layers register (their registries are built here and
//! encoded, so a renamed metric fails this test).

use crate::support::http::Server;
use crate::support::tools::repo;
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::collections::BTreeSet;
use tickflow_shared::store::Access;

/// Every sample name the services can expose.
fn metric_names() -> BTreeSet<String> {
    let mut registry = Registry::default();
    tickflow_ingest::metrics::ProduceMetrics::register(&mut registry);
    tickflow_ingest::metrics::ArchiveMetrics::register(&mut registry);
    tickflow_batch::metrics::BatchMetrics::register(&mut registry);
    tickflow_strategy::live::Metrics::register(&mut registry);
    // A labelled family shows once a label set exists: one partition's lag.
    tickflow_speed::metrics::SpeedMetrics::register(&mut registry).set_position(0, 0, 0);
    let mut text = tickflow_shared::telemetry::encode(&registry);
    text.push_str(&serve_metrics());
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    names
}

/// The serving layer's /metrics, from a real server after one request (its
/// families are labelled by route, so they show once a route was asked).
fn serve_metrics() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("views.db").display());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = tickflow_shared::store::open(&url, Access::Write).await.expect("store");
        let server = Server::start(store, tickflow_serve::ServeConfig::default()).await;
        assert_eq!(server.get("/api/v1/status", &[]).await.status, 200, "GET /api/v1/status");
        let metrics = server.get("/metrics", &[]).await;
        server.stop().await;
        metrics.body
    })
}

/// Every table the PostgreSQL migrations create.
fn tables() -> BTreeSet<String> {
    let mut tables = BTreeSet::new();
    for migration in tickflow_shared::store::migrations::MIGRATIONS {
        let words: Vec<&str> = migration.postgres.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            if *word == "TABLE" && i > 0 && matches!(words[i - 1], "CREATE" | "UNLOGGED") {
                let name = if words.get(i + 1) == Some(&"IF") { words.get(i + 4) } else { words.get(i + 1) };
                tables.extend(name.map(|n| n.trim_matches(|c: char| !c.is_alphanumeric() && c != '_').to_owned()));
            }
        }
    }
    tables
}

/// Identifiers that follow FROM or JOIN, and are not function calls.
fn sql_tables(sql: &str) -> Vec<String> {
    let mut found = Vec::new();
    let lower = sql.to_lowercase();
    for keyword in ["from", "join"] {
        let mut rest = lower.as_str();
        while let Some(at) = rest.find(keyword) {
            let before = rest[..at].chars().next_back();
            let after = &rest[at + keyword.len()..];
            rest = after;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') || !after.starts_with(char::is_whitespace) {
                continue;
            }
            let after = after.trim_start();
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && !after[name.len()..].trim_start().starts_with('(') {
                found.push(name);
            }
        }
    }
    found
}

/// The `tickflow_*` names in a PromQL expression.
fn promql_metrics(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("tickflow_") {
        let name: String = rest[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        found.push(name);
    }
    found
}

fn dashboard() -> Value {
    let path = repo().join("deploy/grafana/dashboards/tickflow.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("the dashboard is JSON")
}

#[test]
fn every_dashboard_query_names_a_real_table_or_metric() {
    let (metrics, tables) = (metric_names(), tables());
    assert!(tables.contains("speed_bars") && tables.contains("late_trades"), "{tables:?}");
    let dashboard = dashboard();
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queries = 0;
    let mut check = |where_: &str, target: &Value| {
        if let Some(sql) =
            target["rawSql"].as_str().or_else(|| target["query"].as_str().filter(|q| q.contains("SELECT")))
        {
            let named = sql_tables(sql);
            assert!(!named.is_empty(), "{where_}: no table in {sql}");
            for table in named {
                assert!(tables.contains(&table), "{where_}: no table {table} in the migrations ({tables:?})");
            }
            queries += 1;
        }
        if let Some(expr) = target["expr"].as_str() {
            let named = promql_metrics(expr);
            assert!(!named.is_empty(), "{where_}: no tickflow metric in {expr}");
            for metric in named {
                assert!(metrics.contains(&metric), "{where_}: no metric {metric} is registered ({metrics:?})");
            }
            queries += 1;
        }
    };
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or_default();
        for target in panel["targets"].as_array().expect("targets") {
            check(title, target);
        }
    }
    for variable in dashboard["templating"]["list"].as_array().expect("variables") {
        check(&format!("variable {}", variable["name"]), variable);
    }
    assert!(queries >= panels.len(), "every panel queries something");
}

#[test]
fn the_dashboard_shows_what_the_issue_asks_for() {
    let dashboard = dashboard();
    let panels = dashboard["panels"].as_array().expect("panels");
    let text = |panel: &Value| serde_json::to_string(panel).expect("json");
    let candles = panels.iter().find(|p| p["type"] == "candlestick").expect("a candlestick panel");
    for merged in ["batch_bars", "speed_bars", "batch_boundary"] {
        assert!(text(candles).contains(merged), "candles come from the merged view: no {merged}");
    }
    for title in ["Kafka lag", "Watermark delay", "Throughput", "Late trades", "Rejected trades", "Bot lag"] {
        assert!(panels.iter().any(|p| p["title"] == title), "no panel {title}");
    }
    let ids: BTreeSet<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let datasources = std::fs::read_to_string(repo().join("deploy/grafana/provisioning/datasources/tickflow.yml"))
        .expect("datasources");
    for uid in ["uid: prometheus", "uid: timescaledb"] {
        assert!(datasources.contains(uid), "no provisioned datasource {uid}");
    }
}

#[test]
fn the_name_readers_find_what_they_should() {
    let sql = "SELECT EXTRACT(EPOCH FROM now()) - x FROM speed_status s JOIN late_trades USING (id) WHERE fromage = 1";
    assert_eq!(sql_tables(sql), ["speed_status", "late_trades"]);
    assert_eq!(promql_metrics("rate(tickflow_a_total[1m]) / tickflow_b"), ["tickflow_a_total", "tickflow_b"]);
}
