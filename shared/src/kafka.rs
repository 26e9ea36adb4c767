//! Kafka client settings: the bootstrap servers and the librdkafka
//! properties a deployment adds (SSL, SASL, tuning), turned into an rdkafka
//! [`ClientConfig`] in one place, so every client a process makes
//! (consumers, producers, admin clients) connects the same way.
//!
//! The binary gathers the properties from `--kafka-property KEY=VALUE`, the
//! `[kafka]` table of `tickflow.toml` and `TICKFLOW_KAFKA_<NAME>` variables
//! ([`env_name`] spells the mapping); secrets ([`is_secret`]) come only from
//! the environment ([`secrets_from_env`]). [`KafkaConfig::new`] hands every
//! property to librdkafka's own parser at once, so a typo or a bad value fails
//! at start with librdkafka's message and the key, before any work. A client
//! gets tickflow's settings first and the deployment's properties after them,
//! so a property overrides a tuning default (`linger.ms`) but never a setting
//! tickflow's guarantees rest on ([`RESERVED`] refuses those). Nothing here
//! prints a secret: [`KafkaConfig`]'s `Debug` masks it and errors name the
//! key, never the value. A wrong password or certificate fails a command at
//! start with librdkafka's reason ([`Security`]) instead of a time-out.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::BaseProducer;

mod security;

pub use security::Security;

/// The prefix of the environment variables that carry Kafka properties.
pub const ENV_PREFIX: &str = "TICKFLOW_KAFKA_";

/// Properties tickflow sets itself, with why: a deployment may not change them.
pub const RESERVED: [(&str, &str); 9] = [
    ("bootstrap.servers", "give the brokers with --brokers"),
    ("metadata.broker.list", "give the brokers with --brokers"),
    ("group.id", "the archiver's group is --group; the speed layer keeps its offsets in the store"),
    ("enable.auto.commit", "offsets are committed only once the data is durable"),
    ("enable.auto.offset.store", "offsets are committed only once the data is durable"),
    ("auto.offset.reset", "a new consumer reads the topic from its start, so nothing is skipped"),
    ("enable.partition.eof", "--stop-at-end depends on it"),
    ("enable.idempotence", "it keeps producer retries from duplicating a trade"),
    ("statistics.interval.ms", "the lag metrics depend on it"),
];

/// Errors of the Kafka settings; none shows a secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaConfigError {
    /// librdkafka refused a property (unknown name or invalid value).
    #[error("Kafka property {key}: {message}; see librdkafka's CONFIGURATION.md for the properties and their values")]
    Invalid {
        /// The property's name.
        key: String,
        /// librdkafka's message, the value masked if it is a secret.
        message: String,
    },
    /// A secret was given where secrets may not be.
    #[error(
        "Kafka property {key} is a secret and never goes {place}: set {env} or {env}_FILE (a file whose first line \
         is the value) instead"
    )]
    Secret {
        /// The property's name.
        key: String,
        /// Where it was given: "on the command line", "in the config file".
        place: String,
        /// The environment variable that may carry it.
        env: String,
    },
    /// A property tickflow sets itself.
    #[error("Kafka property {key} is set by tickflow ({why}); remove it")]
    Reserved {
        /// The property's name.
        key: String,
        /// Why tickflow keeps it.
        why: &'static str,
    },
    /// A `*_FILE` variable names a file that cannot be read.
    #[error("{variable}: cannot read {path} ({source}); point it at a readable file whose first line is the secret")]
    SecretFile {
        /// The variable.
        variable: String,
        /// The file it names.
        path: String,
        /// The read error.
        source: std::io::Error,
    },
}

/// Whether the property holds a secret: its name ends in `password` or
/// contains `secret` or `passphrase` (`sasl.password`, `ssl.key.password`,
/// `sasl.oauthbearer.client.secret`), or it is a private key (`ssl.key.pem`).
pub fn is_secret(key: &str) -> bool {
    key.ends_with("password") || key.contains("secret") || key.contains("passphrase") || key == "ssl.key.pem"
}

/// The environment variable of a property, as Confluent's images spell
/// them: upper case, `.` → `_`, `_` → `__`, `-` → `___`
/// (`sasl.mechanisms` → `TICKFLOW_KAFKA_SASL_MECHANISMS`).
pub fn env_name(key: &str) -> String {
    let mut name = String::from(ENV_PREFIX);
    for c in key.chars() {
        match c {
            '.' => name.push('_'),
            '_' => name.push_str("__"),
            '-' => name.push_str("___"),
            c => name.push(c.to_ascii_uppercase()),
        }
    }
    name
}

/// The property a `TICKFLOW_KAFKA_<NAME>` variable names, the inverse of [`env_name`].
pub fn property_of(variable: &str) -> Option<String> {
    let name = variable.strip_prefix(ENV_PREFIX).filter(|n| !n.is_empty())?;
    let mut key = String::with_capacity(name.len());
    let mut underscores = 0;
    for c in name.chars().chain(std::iter::once('\0')) {
        if c == '_' {
            underscores += 1;
            continue;
        }
        key.push_str(match underscores {
            0 => "",
            1 => ".",
            2 => "_",
            _ => "-",
        });
        underscores = 0;
        if c != '\0' {
            key.push(c.to_ascii_lowercase());
        }
    }
    Some(key)
}

/// The properties in the environment `vars` that are no secret:
/// `TICKFLOW_KAFKA_<NAME>` for each (empty values and secrets left out).
pub fn properties_from_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut properties: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(variable, value)| {
            !value.is_empty() && !variable.strip_suffix("_FILE").and_then(property_of).is_some_and(|k| is_secret(&k))
        })
        .filter_map(|(variable, value)| Some((property_of(&variable)?, value)))
        .filter(|(key, _)| !is_secret(key))
        .collect();
    properties.sort();
    properties
}

/// The secret properties in the environment `vars`: `TICKFLOW_KAFKA_<NAME>`
/// for a secret property, else the first line of the file
/// `TICKFLOW_KAFKA_<NAME>_FILE` names (a Docker or Kubernetes secret).
pub fn secrets_from_env(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(String, String)>, KafkaConfigError> {
    let mut direct = Vec::new();
    let mut files = Vec::new();
    for (variable, value) in vars {
        if value.is_empty() {
            continue;
        }
        if let Some(key) = variable.strip_suffix("_FILE").and_then(property_of).filter(|k| is_secret(k)) {
            files.push((key, variable, value));
        } else if let Some(key) = property_of(&variable).filter(|k| is_secret(k)) {
            direct.push((key, value));
        }
    }
    for (key, variable, path) in files {
        if direct.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| KafkaConfigError::SecretFile {
            variable,
            path: path.clone(),
            source,
        })?;
        direct.push((key, text.lines().next().unwrap_or_default().to_owned()));
    }
    Ok(direct)
}

/// The brokers and the properties of every Kafka client of a process.
#[derive(Clone)]
pub struct KafkaConfig {
    brokers: String,
    /// Checked by librdkafka; secrets among them.
    properties: Vec<(String, String)>,
}

impl KafkaConfig {
    /// The brokers with no properties: a plaintext connection.
    pub fn plain(brokers: &str) -> Self {
        Self { brokers: brokers.to_owned(), properties: Vec::new() }
    }

    /// The brokers with the deployment's `properties` (a later value of a
    /// key wins; none may be a secret, `given` says where they came from)
    /// and the `secrets` from the environment, each checked by librdkafka.
    pub fn new(
        brokers: &str,
        properties: Vec<(String, String)>,
        given: &str,
        secrets: Vec<(String, String)>,
    ) -> Result<Self, KafkaConfigError> {
        if let Some((key, _)) = properties.iter().find(|(key, _)| is_secret(key)) {
            return Err(KafkaConfigError::Secret { key: key.clone(), place: given.to_owned(), env: env_name(key) });
        }
        let mut merged: Vec<(String, String)> = Vec::new();
        for (key, value) in properties.into_iter().chain(secrets) {
            if let Some((_, why)) = RESERVED.iter().find(|(reserved, _)| *reserved == key) {
                return Err(KafkaConfigError::Reserved { key, why });
            }
            check(&key, &value)?;
            merged.retain(|(k, _)| *k != key);
            merged.push((key, value));
        }
        let config = Self { brokers: brokers.to_owned(), properties: merged };
        config.check_together()?;
        Ok(config)
    }

    /// Creates (and drops) a client with every property, for librdkafka's
    /// checks of properties together (`sasl.username` without a password,
    /// an `ssl.ca.location` it cannot read); its message names the key.
    fn check_together(&self) -> Result<(), KafkaConfigError> {
        match self.client(&[]).create::<BaseProducer>() {
            Ok(client) => {
                // Dropping a client joins librdkafka's threads: not on the caller's.
                std::thread::spawn(move || drop(client));
                Ok(())
            }
            Err(error) => {
                let message = match error {
                    KafkaError::ClientCreation(message) => message,
                    error => error.to_string(),
                };
                let key =
                    message.split([' ', ':']).next().filter(|k| k.contains('.')).unwrap_or("(together)").to_owned();
                let message = if message.contains("sasl.password") {
                    format!(
                        "{message} (the password goes in {} or {}_FILE)",
                        env_name("sasl.password"),
                        env_name("sasl.password")
                    )
                } else {
                    message
                };
                Err(KafkaConfigError::Invalid { key, message })
            }
        }
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// A client configuration: the brokers, then tickflow's `settings` for
    /// this client, then the deployment's properties.
    pub fn client(&self, settings: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in settings {
            config.set(*key, *value);
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

impl std::fmt::Debug for KafkaConfig {
    /// The brokers and the properties, every secret's value masked.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: Vec<(&str, &str)> =
            self.properties.iter().map(|(k, v)| (k.as_str(), if is_secret(k) { "***" } else { v.as_str() })).collect();
        f.debug_struct("KafkaConfig").field("brokers", &self.brokers).field("properties", &properties).finish()
    }
}

/// Hands one property to librdkafka's parser; its message names the key.
fn check(key: &str, value: &str) -> Result<(), KafkaConfigError> {
    let message = match ClientConfig::new().set(key, value).create_native_config() {
        Ok(_) => return Ok(()),
        Err(KafkaError::ClientConfig(_, message, _, _)) => message,
        Err(_) => "a name or value with a NUL byte".to_owned(),
    };
    let message = if is_secret(key) && !value.is_empty() { message.replace(value, "***") } else { message };
    Err(KafkaConfigError::Invalid { key: key.to_owned(), message })
}

#[cfg(test)]
mod tests;
