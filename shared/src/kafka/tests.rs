use super::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn variable_names_map_both_ways_as_confluents_images_spell_them() {
    for (key, variable) in [
        ("security.protocol", "TICKFLOW_KAFKA_SECURITY_PROTOCOL"),
        ("sasl.password", "TICKFLOW_KAFKA_SASL_PASSWORD"),
        ("ssl.endpoint.identification.algorithm", "TICKFLOW_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM"),
        ("enable_sasl_queue", "TICKFLOW_KAFKA_ENABLE__SASL__QUEUE"),
        ("a-b.c", "TICKFLOW_KAFKA_A___B_C"),
    ] {
        assert_eq!(env_name(key), variable);
        assert_eq!(property_of(variable).as_deref(), Some(key));
    }
    assert_eq!(property_of("TICKFLOW_STORE"), None);
    assert_eq!(property_of("TICKFLOW_KAFKA_"), None);
}

#[test]
fn secrets_are_recognised_by_name() {
    for secret in ["sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret"] {
        assert!(is_secret(secret), "{secret}");
    }
    for plain in ["sasl.username", "security.protocol", "ssl.ca.location"] {
        assert!(!is_secret(plain), "{plain}");
    }
}

#[test]
fn secrets_come_from_the_variable_or_the_file_it_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("password");
    std::fs::write(&file, "from-file\nsecond line\n").expect("write");
    let file = file.display().to_string();
    let vars = pairs(&[
        ("TICKFLOW_KAFKA_SASL_PASSWORD_FILE", &file),
        ("TICKFLOW_KAFKA_SSL_KEY_PASSWORD", "direct"),
        ("TICKFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        ("HOME", "/root"),
    ]);
    let mut secrets = secrets_from_env(vars).expect("secrets");
    secrets.sort();
    assert_eq!(secrets, pairs(&[("sasl.password", "from-file"), ("ssl.key.password", "direct")]));
    let missing = secrets_from_env(pairs(&[("TICKFLOW_KAFKA_SASL_PASSWORD_FILE", "/nonexistent/kafka-password")]));
    let error = missing.expect_err("no such file").to_string();
    assert!(error.contains("TICKFLOW_KAFKA_SASL_PASSWORD_FILE") && error.contains("/nonexistent/kafka-password"));
}

#[test]
fn a_secret_given_as_a_property_is_refused_without_showing_it() {
    let error = KafkaConfig::new("k:9092", pairs(&[("sasl.password", "hunter2")]), "on the command line", Vec::new())
        .expect_err("a secret on the command line")
        .to_string();
    assert!(!error.contains("hunter2"), "{error}");
    assert!(error.contains("TICKFLOW_KAFKA_SASL_PASSWORD"), "{error}");
}

#[test]
fn librdkafka_checks_every_property_and_the_error_names_the_key() {
    let unknown = KafkaConfig::new("k:9092", pairs(&[("no.such.property", "1")]), "", Vec::new());
    let unknown = unknown.expect_err("unknown").to_string();
    assert!(unknown.starts_with("Kafka property no.such.property:") && unknown.contains("No such configuration"));
    let invalid = KafkaConfig::new("k:9092", pairs(&[("linger.ms", "soon")]), "", Vec::new());
    let invalid = invalid.expect_err("invalid").to_string();
    assert!(invalid.contains("linger.ms") && invalid.contains("Invalid value"), "{invalid}");
    let reserved = KafkaConfig::new("k:9092", pairs(&[("enable.auto.commit", "true")]), "", Vec::new());
    assert!(reserved.expect_err("reserved").to_string().contains("set by tickflow"));
}

#[test]
fn properties_come_after_tickflows_settings_and_the_debug_view_masks_secrets() {
    let config = KafkaConfig::new(
        "k:9092",
        pairs(&[("linger.ms", "50"), ("sasl.username", "u"), ("linger.ms", "20")]),
        "",
        pairs(&[("sasl.password", "hunter2")]),
    )
    .expect("valid");
    let client = config.client(&[("linger.ms", "5"), ("acks", "all")]);
    assert_eq!(client.get("bootstrap.servers"), Some("k:9092"));
    assert_eq!(client.get("linger.ms"), Some("20"), "the last value of a property wins over tickflow's");
    assert_eq!(client.get("acks"), Some("all"));
    assert_eq!(client.get("sasl.password"), Some("hunter2"));
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2") && shown.contains("sasl.username"), "{shown}");
}

#[test]
fn the_environment_gives_properties_without_its_secrets() {
    let vars = pairs(&[
        ("TICKFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        ("TICKFLOW_KAFKA_SASL_PASSWORD", "hunter2"),
        ("TICKFLOW_KAFKA_SASL_PASSWORD_FILE", "/run/secrets/kafka"),
        ("TICKFLOW_KAFKA_LINGER_MS", ""),
        ("TICKFLOW_BROKERS", "k:9092"),
    ]);
    assert_eq!(properties_from_env(vars), pairs(&[("security.protocol", "SASL_SSL")]));
}

#[test]
fn librdkafka_checks_the_properties_together_at_start() {
    let unreadable = pairs(&[("security.protocol", "SSL"), ("ssl.ca.location", "/nonexistent/ca.pem")]);
    let error = KafkaConfig::new("k:9092", unreadable, "", Vec::new()).expect_err("no such CA file").to_string();
    assert!(error.starts_with("Kafka property ssl.ca.location: ssl.ca.location failed"), "{error}");
    let no_password = pairs(&[("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanisms", "SCRAM-SHA-512")]);
    let error = KafkaConfig::new("k:9092", no_password, "", Vec::new()).expect_err("no password").to_string();
    assert!(error.contains("sasl.password must be set") && error.contains("TICKFLOW_KAFKA_SASL_PASSWORD"), "{error}");
}
