//! Kafka client properties reach librdkafka (issue 21, item 2): a bad one
//! stops a command at start with librdkafka's message and the key; the
//! file, the environment and the flags override each other in that order;
//! and produce, archive and speed work against a broker that requires SASL
//! SCRAM, while a wrong password fails at once with a clear error that
//! shows no password.

use crate::support::kafka::SaslBroker;
use std::process::{Command, Output};

/// Runs `tickflow` with `env` added to the environment.
fn run(args: &[impl AsRef<std::ffi::OsStr>], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickflow"));
    command.args(args).env_remove("TICKFLOW_CONFIG");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("tickflow runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Runs `tickflow`, asserts failure and returns what it printed.
fn fails(args: &[impl AsRef<std::ffi::OsStr> + std::fmt::Debug], env: &[(&str, &str)]) -> String {
    let output = run(args, env);
    assert!(!output.status.success(), "tickflow {args:?} succeeded:\n{}", text(&output));
    text(&output)
}

/// Runs `tickflow`, asserts success and returns what it printed.
fn succeeds(args: &[impl AsRef<std::ffi::OsStr> + std::fmt::Debug], env: &[(&str, &str)]) -> String {
    let output = run(args, env);
    assert!(output.status.success(), "tickflow {args:?} failed:\n{}", text(&output));
    text(&output)
}

#[test]
fn a_bad_property_stops_every_kafka_command_at_start_with_librdkafkas_message_and_the_key() {
    let bootstrap = format!("127.0.0.1:{}", crate::support::free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let out = dir.path().join("archive").display().to_string();
    let commands: [Vec<&str>; 4] = [
        vec!["produce", "--brokers", &bootstrap, "--simulate", "--ticks", "10"],
        vec!["archive", "--brokers", &bootstrap, "--out", &out],
        vec!["speed", "--brokers", &bootstrap, "--store", &store],
        vec!["bot", "--store", &store, "--strategy", "sma-cross", "--brokers", &bootstrap, "--signals-topic", "s"],
    ];
    for command in &commands {
        let invalid = fails(&[&command[..], &["--kafka-property", "linger.ms=soon"]].concat(), &[]);
        assert!(invalid.contains("Kafka property linger.ms: Invalid value"), "{command:?}: {invalid}");
        let unknown = fails(command, &[("TICKFLOW_KAFKA_LINGER_MSS", "5")]);
        assert!(unknown.contains("Kafka property linger.mss: No such configuration property"), "{unknown}");
        let malformed = fails(&[&command[..], &["--kafka-property", "linger.ms"]].concat(), &[]);
        assert!(malformed.contains("KEY=VALUE"), "{malformed}");
        let reserved = fails(&[&command[..], &["--kafka-property", "enable.auto.commit=true"]].concat(), &[]);
        assert!(reserved.contains("Kafka property enable.auto.commit is set by tickflow"), "{reserved}");
        let secret = fails(&[&command[..], &["--kafka-property", "sasl.password=flag-pw-1"]].concat(), &[]);
        assert!(secret.contains("TICKFLOW_KAFKA_SASL_PASSWORD") && !secret.contains("flag-pw-1"), "{secret}");
    }
    assert!(!dir.path().join("views.db").exists() && !dir.path().join("archive").exists(), "no work was done");
}

#[test]
fn produce_archive_and_speed_work_over_sasl_scram_and_a_wrong_password_fails_clearly() {
    const PASSWORD: &str = "kafka-pw-5f3a9c";
    let broker = SaslBroker::start("tickflow", PASSWORD);
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let password_file = dir.path().join("kafka-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("write");
    let sasl = |mechanism: &'static str| {
        [
            ("TICKFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("TICKFLOW_KAFKA_SASL_MECHANISMS", mechanism),
            ("TICKFLOW_KAFKA_SASL_USERNAME", "tickflow"),
        ]
    };

    let file_env =
        [&sasl("SCRAM-SHA-512")[..], &[("TICKFLOW_KAFKA_SASL_PASSWORD_FILE", password_file.to_str().expect("path"))]]
            .concat();
    let produce =
        ["produce", "--brokers", &bootstrap, "--simulate", "--symbols", "5", "--ticks", "300", "--partitions", "2"];
    let produced = succeeds(&produce, &file_env);
    assert!(produced.contains("Produced 300 trades"), "{produced}");

    let env = [&sasl("SCRAM-SHA-256")[..], &[("TICKFLOW_KAFKA_SASL_PASSWORD", PASSWORD)]].concat();

    // The file < the environment < a flag, observed through sasl.username.
    let file = dir.path().join("tickflow.toml");
    std::fs::write(&file, "[kafka]\nsasl.username = \"nobody\"\n").expect("write");
    let config = ["--config", file.to_str().expect("path")];
    let no_username = [env[0], env[1], env[3]];
    let from_file = fails(&[&produce[..], &config].concat(), &no_username);
    assert!(from_file.contains("SASL authentication error"), "the file's user name reaches the client: {from_file}");
    let from_env = succeeds(&[&produce[..], &config].concat(), &env);
    assert!(from_env.contains("Produced 300 trades"), "the environment beats the file: {from_env}");
    let flag = ["--kafka-property", "sasl.username=nobody"];
    let from_flag = fails(&[&produce[..], &config, &flag].concat(), &env);
    assert!(from_flag.contains("SASL authentication error"), "a flag beats the environment: {from_flag}");

    let out = dir.path().join("archive");
    let archive = ["archive", "--brokers", &bootstrap, "--out", out.to_str().expect("path"), "--stop-at-end"];
    let archived = succeeds(&archive, &env);
    assert!(archived.contains("Archived 600 trades"), "{archived}");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let speed = ["speed", "--brokers", &bootstrap, "--store", &store, "--stop-at-end", "--workers", "1"];
    let sped = succeeds(&speed, &env);
    assert!(sped.contains("Speed layer wrote"), "{sped}");

    let wrong = [&sasl("SCRAM-SHA-256")[..], &[("TICKFLOW_KAFKA_SASL_PASSWORD", "not-the-password")]].concat();
    for args in [&produce[..], &archive[..], &speed[..]] {
        let error = fails(args, &wrong);
        assert!(error.contains("SASL authentication error"), "{args:?}: {error}");
        assert!(error.contains("TICKFLOW_KAFKA_SASL_PASSWORD"), "the error says where the password goes: {error}");
        assert!(!error.contains("not-the-password") && !error.contains(PASSWORD), "{args:?} shows a password: {error}");
    }
}
