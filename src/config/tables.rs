//! The two tables of the config file that are not a subcommand's section:
//! `[strategy]` (the strategy's name and `--param`s) and `[kafka]` (every
//! Kafka client's `--kafka-property`s), and the `TICKFLOW_KAFKA_<NAME>`
//! variables that feed the same flag.

use super::{KAFKA, KAFKA_ARG, STRATEGY, Setting, flatten, scalar};
use clap::Command;
use std::ffi::OsString;
use tickflow_shared::kafka;

/// The `[strategy]` table: `name = "sma-cross"` and the strategy's
/// parameters (`fast = 10`), checked when the strategy is built.
pub(super) fn strategy_table(body: &toml::Value, file: &str) -> anyhow::Result<Vec<Setting>> {
    let toml::Value::Table(body) = body else {
        anyhow::bail!("config file {file}: {STRATEGY} must be a section ([{STRATEGY}]), not a value");
    };
    let mut settings = Vec::new();
    for (key, value) in body {
        let value = scalar(value).map_err(|why| anyhow::anyhow!("config file {file}: [{STRATEGY}] {key}: {why}"))?;
        let (id, values) =
            if key == "name" { ("strategy", vec![value]) } else { ("param", vec![format!("{key}={value}")]) };
        let (section, key, id) = (STRATEGY.to_owned(), key.clone(), id.to_owned());
        settings.push(Setting { section, key, id, values, flag: false });
    }
    Ok(settings)
}

/// The `[kafka]` table: each key a librdkafka property (`"security.protocol"
/// = "SASL_SSL"`, or dotted: `sasl.mechanisms = "SCRAM-SHA-512"`), checked
/// by librdkafka when a command builds its clients. Secrets are refused.
pub(super) fn kafka_table(body: &toml::Value, file: &str) -> anyhow::Result<Vec<Setting>> {
    let toml::Value::Table(body) = body else {
        anyhow::bail!("config file {file}: {KAFKA} must be a section ([{KAFKA}]), not a value");
    };
    let mut settings = Vec::new();
    for (key, value) in flatten(body) {
        if kafka::is_secret(&key) {
            return Err(kafka_secret(file, KAFKA, &key));
        }
        let value = scalar(&value).map_err(|why| anyhow::anyhow!("config file {file}: [{KAFKA}] {key}: {why}"))?;
        let values = vec![format!("{key}={value}")];
        settings.push(Setting { section: KAFKA.to_owned(), key, id: KAFKA_ARG.to_owned(), values, flag: false });
    }
    Ok(settings)
}

/// The error for a Kafka secret in the file, naming where it belongs.
pub(super) fn kafka_secret(file: &str, section: &str, key: &str) -> anyhow::Error {
    let env = kafka::env_name(key);
    anyhow::anyhow!(
        "config file {file}: [{section}] {key} is a secret; secrets never go in the config file: set {env} or \
         {env}_FILE (a file whose first line is the value)"
    )
}

/// Inserts a `--kafka-property` argument for each `TICKFLOW_KAFKA_<NAME>`
/// variable at `at` (after the file's settings, before the user's), if
/// `sub` has the flag. Secrets stay in the environment, where the command
/// reads them itself.
pub(super) fn insert_kafka_env(sub: &Command, args: &mut Vec<OsString>, at: usize) {
    if !sub.get_arguments().any(|a| a.get_id() == KAFKA_ARG) {
        return;
    }
    let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let tokens =
        kafka::properties_from_env(vars).into_iter().map(|(k, v)| OsString::from(format!("--kafka-property={k}={v}")));
    args.splice(at..at, tokens);
}
