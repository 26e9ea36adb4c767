//! `--kafka-property KEY=VALUE`: librdkafka properties for every Kafka
//! client of a command (SSL, SASL, tuning). The config file's `[kafka]`
//! table and the `TICKFLOW_KAFKA_<NAME>` variables arrive as the same flag,
//! placed before the user's (see `config`), so a later value of a key wins:
//! file < environment < flag. Secrets come only from the environment.

use tickflow_shared::kafka::{self, KafkaConfig};

/// The Kafka client properties of a command.
#[derive(clap::Args)]
pub struct KafkaArgs {
    /// A librdkafka property for every Kafka client, KEY=VALUE (like security.protocol=SASL_SSL); repeat
    /// for more. Also the config file's [kafka] table and TICKFLOW_KAFKA_<NAME> (`.` → `_`, like
    /// TICKFLOW_KAFKA_SASL_MECHANISMS). Secrets (sasl.password, ssl.key.password, ...) only from the
    /// environment: TICKFLOW_KAFKA_SASL_PASSWORD, or TICKFLOW_KAFKA_SASL_PASSWORD_FILE naming a file.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE")]
    kafka_property: Vec<String>,
}

impl KafkaArgs {
    /// The clients' settings for `brokers`, every property checked by librdkafka.
    pub fn config(&self, brokers: &str) -> anyhow::Result<KafkaConfig> {
        let properties = self
            .kafka_property
            .iter()
            .map(|text| match text.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
                _ => Err(anyhow::anyhow!(
                    "a --kafka-property is not KEY=VALUE; write it like --kafka-property security.protocol=SASL_SSL"
                )),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let secrets = kafka::secrets_from_env(vars)?;
        Ok(KafkaConfig::new(brokers, properties, "on the command line or in the config file", secrets)?)
    }
}
