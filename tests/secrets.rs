//! Secrets never leak (issue 21, item 5). Every subcommand runs with known
//! secrets in the store URL, `TICKFLOW_STORE_PASSWORD`,
//! `TICKFLOW_KAFKA_SASL_PASSWORD` and the API tokens: against a PostgreSQL
//! that checks passwords (`scram-sha-256`) and a broker that requires SASL
//! SCRAM, each once succeeding and then failing on a wrong password (in the
//! URL, in the environment) and on an unreachable server. No secret appears
//! in any stdout, stderr, `/api/v1/status` or `/metrics` answer. The log is
//! at debug level, so a secret a library logs is caught too.

use crate::support::kafka::SaslBroker;
use crate::support::postgres::Cluster;
use crate::support::process::{Service, http_get};
use std::net::SocketAddr;
use std::process::Command;

/// The database password, from the environment.
const STORE_PASSWORD: &str = "pg-pw-Q7x2";
/// A wrong database password, in a URL.
const URL_PASSWORD: &str = "url-pw-K3m9";
/// A wrong database password, from the environment.
const WRONG_PASSWORD: &str = "wrong-pw-Z5c1";
/// The Kafka SASL password, from the environment.
const KAFKA_PASSWORD: &str = "kafka-pw-R8v4";
/// A wrong Kafka SASL password.
const WRONG_KAFKA_PASSWORD: &str = "kafka-wrong-J2n6";
/// The API token of `serve` and `demo`.
const API_TOKEN: &str = "api-token-W4p8";
/// The quote API's token.
const QUOTE_TOKEN: &str = "quote-token-H6d3";
const SECRETS: [&str; 7] =
    [STORE_PASSWORD, URL_PASSWORD, WRONG_PASSWORD, KAFKA_PASSWORD, WRONG_KAFKA_PASSWORD, API_TOKEN, QUOTE_TOKEN];

/// Fails the test if `text` (what `what` printed or answered) holds a secret.
fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows the secret {secret:?}:\n{text}");
    }
}

/// Every secret set, the Kafka clients on SASL SCRAM, the log at debug level.
fn environment() -> Vec<(String, String)> {
    [
        ("TICKFLOW_STORE_PASSWORD", STORE_PASSWORD),
        ("TICKFLOW_KAFKA_SASL_PASSWORD", KAFKA_PASSWORD),
        ("TICKFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        ("TICKFLOW_KAFKA_SASL_MECHANISMS", "SCRAM-SHA-512"),
        ("TICKFLOW_KAFKA_SASL_USERNAME", "tickflow"),
        ("TICKFLOW_API_TOKEN", API_TOKEN),
        ("TICKFLOW_QUOTE_API_TOKEN", QUOTE_TOKEN),
        ("TICKFLOW_LOG", "debug"),
        ("NO_COLOR", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Runs `tickflow args` with the secrets and `overrides` in its
/// environment, checks its output for secrets; returns whether it
/// succeeded and what it printed.
fn run(args: &[&str], overrides: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickflow"));
    command.args(args).env_remove("TICKFLOW_CONFIG").envs(environment());
    command.envs(overrides.iter().copied());
    let output = command.output().expect("tickflow runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_no_secret(&format!("tickflow {args:?}"), &text);
    (output.status.success(), text)
}

fn succeeds(args: &[&str]) -> String {
    let (ok, text) = run(args, &[]);
    assert!(ok, "tickflow {args:?} failed:\n{text}");
    text
}

fn fails(args: &[&str], overrides: &[(&str, &str)]) -> String {
    let (ok, text) = run(args, overrides);
    assert!(!ok, "tickflow {args:?} succeeded:\n{text}");
    text
}

/// A private PostgreSQL whose `tickflow` role logs in with [`STORE_PASSWORD`]
/// (`scram-sha-256`) and owns the database `tickflow`.
fn password_cluster() -> Cluster {
    let cluster = Cluster::new(&["password_encryption = 'scram-sha-256'"]);
    cluster.start("");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (admin, connection) =
            tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        admin
            .batch_execute(&format!("CREATE ROLE tickflow LOGIN PASSWORD '{STORE_PASSWORD}'"))
            .await
            .expect("create the role");
        admin.batch_execute("CREATE DATABASE tickflow OWNER tickflow").await.expect("create the database");
        let hba = cluster.data().join("pg_hba.conf");
        std::fs::write(&hba, "local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n").expect("pg_hba");
        admin.batch_execute("SELECT pg_reload_conf()").await.expect("reload");
    });
    cluster
}

/// A service's address from its log line `... address=ADDR`.
fn address(service: &mut Service, what: &str) -> SocketAddr {
    service.wait_for_log(what, |log| {
        log.lines()
            .filter(|l| l.contains(what))
            .find_map(|l| l.split("address=").nth(1)?.split_whitespace().next()?.parse().ok())
    })
}

/// GETs each path of `addr` and checks the answers for secrets.
fn answers_without_secrets(addr: SocketAddr, paths: &[&str]) {
    for path in paths {
        let (status, body) = http_get(addr, path).unwrap_or_else(|| panic!("GET {path}: no answer"));
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_no_secret(&format!("GET {path}"), &body);
    }
}

#[test]
fn no_subcommand_shows_a_secret_when_it_succeeds_or_fails() {
    let cluster = password_cluster();
    let broker = SaslBroker::start("tickflow", KAFKA_PASSWORD);
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let good = format!("postgres://tickflow@127.0.0.1:{}/tickflow", cluster.port);
    let in_url = format!("postgres://tickflow:{URL_PASSWORD}@127.0.0.1:{}/tickflow", cluster.port);
    let closed = format!("postgres://tickflow:{URL_PASSWORD}@127.0.0.1:{}/tickflow", crate::support::free_port());
    let (generated, features, backtest, archive) =
        (path("generated"), path("features"), path("backtest"), path("archive"));

    succeeds(&["generate", "--out", &generated, "--ticks", "6000", "--symbols", "3", "--days", "2"]);
    succeeds(&["produce", "--brokers", &bootstrap, "--replay", &generated, "--partitions", "2"]);
    let wrong_kafka = [("TICKFLOW_KAFKA_SASL_PASSWORD", WRONG_KAFKA_PASSWORD)];
    let refused = fails(&["produce", "--brokers", &bootstrap, "--simulate", "--ticks", "10"], &wrong_kafka);
    assert!(refused.contains("SASL authentication error"), "{refused}");
    succeeds(&["archive", "--brokers", &bootstrap, "--out", &archive, "--stop-at-end"]);
    fails(&["archive", "--brokers", &bootstrap, "--out", &archive, "--stop-at-end"], &wrong_kafka);
    fails(&["speed", "--brokers", &bootstrap, "--store", &good, "--stop-at-end"], &wrong_kafka);

    // Each command on the store: it works, then a wrong password in the URL,
    // a wrong one in the environment and a closed port each fail.
    let commands: [Vec<&str>; 8] = [
        vec!["migrate"],
        vec!["speed", "--brokers", &bootstrap, "--stop-at-end", "--workers", "1"],
        vec!["batch", "--archive", &generated],
        vec!["bars", "--interval", "1h", "--limit", "3"],
        vec!["features", "--interval", "1h", "--from", "2026-01-01", "--out", &features],
        vec!["backtest", "--strategy", "sma-cross", "--interval", "1m", "--out", &backtest],
        vec!["serve", "--listen", "127.0.0.1:0"],
        vec!["bot", "--strategy", "sma-cross", "--brokers", &bootstrap, "--signals-topic", "signals"],
    ];
    for command in &commands {
        let with = |store: &str| -> Vec<String> {
            command.iter().map(|a| a.to_string()).chain(["--store".to_owned(), store.to_owned()]).collect()
        };
        if !matches!(command[0], "serve" | "bot") {
            succeeds(&with(&good).iter().map(String::as_str).collect::<Vec<_>>());
        }
        for (store, overrides) in
            [(&in_url, &[][..]), (&good, &[("TICKFLOW_STORE_PASSWORD", WRONG_PASSWORD)][..]), (&closed, &[][..])]
        {
            let args = with(store);
            fails(&args.iter().map(String::as_str).collect::<Vec<_>>(), overrides);
        }
    }

    // The long-running ones: what they log, answer and print at the end.
    let env = environment();
    let args = |list: &[&str]| -> Vec<String> { list.iter().map(|a| a.to_string()).collect() };
    let mut serve = Service::tickflow("serve", &args(&["serve", "--store", &good, "--listen", "127.0.0.1:0"]), &env);
    let addr = address(&mut serve, "address=");
    let token = format!("?token={API_TOKEN}");
    answers_without_secrets(addr, &["/healthz", &format!("/api/v1/status{token}"), &format!("/metrics{token}")]);
    serve.terminate();
    assert_no_secret("serve's log", &serve.log());

    let bot =
        ["bot", "--store", &good, "--strategy", "sma-cross", "--brokers", &bootstrap, "--signals-topic", "signals"];
    let mut bot = Service::tickflow("bot", &args(&[&bot[..], &["--metrics-listen", "127.0.0.1:0"]].concat()), &env);
    let metrics = bot.metrics_address();
    bot.wait_for_log("the bot's start", |log| log.contains("Starting the bot.").then_some(()));
    answers_without_secrets(metrics, &["/metrics"]);
    bot.terminate();
    assert_no_secret("bot's log", &bot.log());

    let api_port = crate::support::free_port().to_string();
    let closed_api = format!("http://127.0.0.1:{api_port}/api/v1");
    let quote = ["produce", "--brokers", &bootstrap, "--quote-api", &closed_api, "--symbols", "AAPL"];
    let mut quotes = Service::tickflow("produce --quote-api", &args(&quote), &env);
    quotes.wait_for_log("a failed quote request", |log| log.contains(&api_port).then_some(()));
    quotes.terminate();
    assert_no_secret("produce --quote-api's log", &quotes.log());

    let demo =
        ["demo", "--data", &path("demo"), "--listen", "127.0.0.1:0", "--symbols", "3", "--history-trades", "1000"];
    let mut demo = Service::tickflow("demo", &args(&demo), &env);
    let addr = address(&mut demo, "address=");
    answers_without_secrets(addr, &["/healthz", &format!("/api/v1/status{token}"), &format!("/metrics{token}")]);
    demo.terminate();
    assert_no_secret("demo's log", &demo.log());

    // The server gone while the deployment still points at it.
    cluster.stop_immediate();
    fails(&["bars", "--store", &in_url, "--interval", "1h"], &[]);
}
