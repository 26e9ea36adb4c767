//! The loader against the real command line, and the committed
//! `tickflow.toml` against the flags it documents.

use super::*;

/// The subcommands that run as services and read the deployment's file.
const SERVICES: [&str; 6] = ["produce", "archive", "speed", "batch", "serve", "bot"];

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn strings(prepared: &Prepared) -> Vec<String> {
    prepared.args.iter().map(|a| a.to_string_lossy().into_owned()).collect()
}

fn load(text: &str, args: &[&str]) -> anyhow::Result<Vec<String>> {
    apply(&crate::command(), os(args), text, "test.toml").map(|p| strings(&p))
}

#[test]
fn settings_go_before_the_users_arguments_and_yield_to_them() {
    let text =
        "[global]\nstore = \"sqlite://g.db\"\n[batch]\narchive = [\"a\", \"b\"]\nshow-rejects = 3\nworkers = 2\n";
    let args = load(text, &["tickflow", "batch", "--workers", "5"]).expect("loads");
    assert_eq!(args[..2], ["tickflow", "batch"]);
    assert_eq!(args.last().map(String::as_str), Some("5"), "the user's arguments come last: {args:?}");
    for expected in ["--store=sqlite://g.db", "--archive=a", "--archive=b", "--show-rejects=3"] {
        assert!(args.iter().any(|a| a == expected), "{expected} missing from {args:?}");
    }
    assert!(!args.iter().any(|a| a.starts_with("--workers=")), "the flag wins over the file: {args:?}");
}

#[test]
fn a_section_wins_over_global_and_the_users_choice_excludes_what_conflicts() {
    let text = "[global]\nbrokers = \"kafka:9092\"\nstore = \"sqlite://g.db\"\n[speed]\nstore = \"sqlite://s.db\"\n";
    let args = load(text, &["tickflow", "speed", "--simulate"]).expect("loads");
    assert!(args.contains(&"--store=sqlite://s.db".to_owned()), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--brokers")), "--simulate excludes the file's brokers: {args:?}");
    let text = "[global]\nbrokers = \"kafka:9092\"\n[speed]\nsimulate = true\nstore = \"sqlite://s.db\"\n";
    let args = load(text, &["tickflow", "speed"]).expect("loads");
    assert!(args.contains(&"--simulate".to_owned()), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--brokers")), "the section's switch excludes global brokers: {args:?}");
    let matches = crate::command().try_get_matches_from(&args);
    assert!(matches.is_ok(), "{args:?}: {matches:?}");
}

#[test]
fn switches_take_booleans() {
    let on = load("[archive]\nstop_at_end = true\n", &["tickflow", "archive"]).expect("loads");
    assert!(on.contains(&"--stop-at-end".to_owned()), "{on:?}");
    let off = load("[archive]\nstop_at_end = false\n", &["tickflow", "archive"]).expect("loads");
    assert_eq!(off, ["tickflow", "archive"]);
    let bad = load("[archive]\nstop_at_end = \"yes\"\n", &["tickflow", "archive"]).expect_err("not a boolean");
    assert!(bad.to_string().contains("[archive] stop_at_end"), "{bad}");
}

#[test]
fn errors_name_the_file_the_section_and_the_key() {
    let cases = [
        ("[speeed]\n", "unknown section [speeed]"),
        ("[speed]\nworkerz = 2\n", "[speed] has an unknown key \"workerz\""),
        ("[global]\nnothing = 1\n", "[global] has an unknown key \"nothing\""),
        ("[speed]\nworkers = \"many\"\n", "[speed] workers = \"many\": invalid value 'many'"),
        ("[archive]\nroll_interval = \"soon\"\n", "[archive] roll_interval = \"soon\""),
        ("[speed]\nintervals = [\"1s\"]\n", "[speed] intervals = [\"1s\"]: takes one value"),
        ("speed = 1\n", "speed must be a section"),
        ("[speed\n", "test.toml"),
        ("[global]\nstore = \"postgres://u:hunter2@db/x\"\n", "[global] store holds a password"),
    ];
    for (text, expected) in cases {
        // Overriding a bad value with a flag does not hide it.
        let error = load(text, &["tickflow", "speed", "--workers", "1"]).expect_err(text).to_string();
        assert!(error.starts_with("config file test.toml"), "{text}: {error}");
        assert!(error.contains(expected), "{text}: {error}");
    }
}

#[test]
fn a_password_in_a_url_is_refused_and_never_shown() {
    let error = load("[speed]\nstore = \"postgres://tickflow:hunter2@db:5432/x\"\n", &["tickflow", "speed"]);
    let error = error.expect_err("a password in the file").to_string();
    assert!(!error.contains("hunter2"), "the error shows the secret: {error}");
    assert!(error.contains("TICKFLOW_STORE_PASSWORD"), "{error}");
    for fine in ["postgres://tickflow@db:5432/x", "sqlite:///var/lib/x.db", "http://host:80/a:b@c"] {
        assert!(!has_password(fine), "{fine}");
    }
}

#[test]
fn without_a_subcommand_nothing_is_inserted() {
    assert_eq!(load("[speed]\nworkers = 2\n", &["tickflow", "--help"]).expect("loads"), ["tickflow", "--help"]);
}

/// The committed file, for the tests below.
fn committed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tickflow.toml");
    std::fs::read_to_string(path).expect("tickflow.toml at the repository root")
}

#[test]
fn the_committed_file_loads_for_every_service() {
    let command = crate::command();
    for name in SERVICES {
        let prepared = apply(&command, os(&["tickflow", name]), &committed(), "tickflow.toml").expect(name);
        let args = strings(&prepared);
        let parsed = command.clone().try_get_matches_from(&args);
        assert!(parsed.is_ok(), "tickflow {name} with tickflow.toml: {args:?}: {parsed:?}");
    }
}

/// One documented key: its section, whether it is set, and the text after `# Default:`.
struct Documented {
    section: String,
    key: String,
    default: Option<String>,
}

fn documented(text: &str) -> Vec<Documented> {
    let mut out = Vec::new();
    let (mut section, mut prefix, mut default) = (String::new(), String::new(), None);
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            // A sub-table's keys are its flags' names after the prefix: [batch.retention] rejects.
            let (outer, inner) = name.split_once('.').unwrap_or((name, ""));
            section = outer.to_owned();
            prefix = if inner.is_empty() { String::new() } else { format!("{}_", inner.replace('.', "_")) };
        } else if let Some(value) = line.strip_prefix("# Default: ") {
            default = Some(value.trim_end_matches('.').to_owned());
        } else if let Some((key, _)) = line.trim_start_matches("# ").split_once(" = ")
            && !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            out.push(Documented { section: section.clone(), key: format!("{prefix}{key}"), default: default.take() });
        }
    }
    out
}

/// What the file must say an argument's default is.
fn expected_default(arg: &Arg) -> String {
    let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    match defaults.as_slice() {
        [] if matches!(arg.get_action(), ArgAction::SetTrue) => "false".into(),
        [] => "none".into(),
        // Machine-dependent: the help says so, the file says so.
        [n] if arg.get_id() == "workers" && *n == crate::commands::default_workers().to_string() => {
            "one per core".into()
        }
        [one] if matches!(arg.get_action(), ArgAction::SetTrue) => one.clone(),
        values => values.join(","),
    }
}

/// The file's default text as the value the loader would pass.
fn file_default(text: &str) -> String {
    let text = text.split(" (").next().unwrap_or(text);
    match format!("v = {text}").parse::<toml::Table>().ok().and_then(|t| t.get("v").cloned()) {
        Some(value) => scalar(&value).unwrap_or_else(|_| text.to_owned()),
        None => text.to_owned(),
    }
}

#[test]
fn the_committed_file_documents_every_flag_of_every_service_with_its_default() {
    let command = crate::command();
    let keys = documented(&committed());
    for name in SERVICES {
        let sub = command.find_subcommand(name).expect("a subcommand");
        for arg in sub.get_arguments().filter(|a| a.get_long().is_some() && a.get_id() != CONFIG_ARG) {
            let id = arg.get_id().as_str();
            let doc = keys
                .iter()
                .find(|d| d.section == name && d.key == id)
                .or_else(|| keys.iter().find(|d| d.section == GLOBAL && d.key == id))
                .unwrap_or_else(|| panic!("tickflow.toml does not document [{name}] {id}"));
            let default = doc.default.as_deref().unwrap_or_else(|| panic!("[{name}] {id}: no `# Default:` line"));
            assert_eq!(file_default(default), expected_default(arg), "[{}] {id}: the documented default", doc.section);
        }
    }
    // The [strategy] table's keys are a strategy's parameters, checked when it is built.
    for doc in keys.iter().filter(|d| d.section != STRATEGY) {
        let known = if doc.section == GLOBAL {
            command.get_subcommands().any(|s| s.get_arguments().any(|a| a.get_id() == doc.key.as_str()))
        } else {
            command
                .find_subcommand(&doc.section)
                .is_some_and(|s| s.get_arguments().any(|a| a.get_id() == doc.key.as_str()))
        };
        assert!(known, "tickflow.toml documents [{}] {}, which is no flag", doc.section, doc.key);
    }
}

#[test]
fn the_strategy_table_becomes_strategy_and_param_flags_that_flags_override() {
    let text = "[strategy]\nname = \"sma-cross\"\nfast = 5\n";
    let args = load(text, &["tickflow", "backtest", "--param", "slow=20", "--out", "x"]).expect("loads");
    let at = |token: &str| args.iter().position(|a| a == token);
    assert!(at("--strategy=sma-cross").is_some(), "{args:?}");
    assert!(at("--param=fast=5") < at("slow=20"), "the table's parameters come before the flags: {args:?}");
    let other = load(text, &["tickflow", "backtest", "--strategy", "rsi", "--out", "x"]).expect("loads");
    assert!(!other.iter().any(|a| a.starts_with("--param") || a.starts_with("--strategy=")), "{other:?}");
    // The committed file's example builds.
    let keys = documented(&committed());
    let example: Vec<String> =
        keys.iter().filter(|d| d.section == STRATEGY && d.key != "name").map(|d| d.key.clone()).collect();
    assert_eq!(example, ["fast", "slow"]);
}

#[test]
fn the_kafka_table_becomes_kafka_property_flags_before_the_users() {
    let text = "[kafka]\n\"security.protocol\" = \"SASL_SSL\"\nsasl.mechanisms = \"SCRAM-SHA-512\"\nlinger.ms = 20\n";
    let args = load(text, &["tickflow", "archive", "--kafka-property", "linger.ms=50", "--out", "x"]).expect("loads");
    let at = |token: &str| args.iter().position(|a| a == token);
    for expected in [
        "--kafka-property=security.protocol=SASL_SSL",
        "--kafka-property=sasl.mechanisms=SCRAM-SHA-512",
        "--kafka-property=linger.ms=20",
    ] {
        assert!(at(expected) < at("linger.ms=50"), "{expected} before the user's flag: {args:?}");
    }
    // Commands without Kafka clients ignore the table.
    let serve = load(text, &["tickflow", "serve"]).expect("loads");
    assert!(!serve.iter().any(|a| a.contains("kafka")), "{serve:?}");
}

#[test]
fn a_kafka_secret_in_the_file_is_refused_and_never_shown() {
    for text in [
        "[kafka]\n\"sasl.password\" = \"hunter2\"\n",
        "[kafka]\nssl.key.password = \"hunter2\"\n",
        "[produce]\nkafka_property = [\"sasl.password=hunter2\"]\n",
    ] {
        let error = load(text, &["tickflow", "produce"]).expect_err(text).to_string();
        assert!(!error.contains("hunter2"), "the error shows the secret: {error}");
        assert!(error.contains("TICKFLOW_KAFKA_") && error.contains("_PASSWORD_FILE"), "{error}");
    }
}
