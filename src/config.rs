//! Configuration: `tickflow.toml`, `TICKFLOW_*` environment variables and
//! flags, in that order of increasing precedence, over the built-in defaults.
//!
//! Every subcommand's clap arguments stay the one definition of a setting:
//! its name, meaning, type and default. The config file has a section per
//! subcommand (`[speed]`, `[batch]`, ...) plus `[global]` for settings many
//! share (`brokers`, `store`); a key is an argument's name (`idle_timeout`
//! or `idle-timeout`). Loading maps each key to its argument by
//! introspection, rejects unknown sections and keys, and turns the values
//! of the running subcommand into `--key value` arguments placed before the
//! user's own, for every argument the user did not pass and whose
//! environment variable is not set. Clap then parses as usual, so a bad
//! value fails exactly as a bad flag would; [`Prepared::explain`] names the
//! file, section and key it came from.
//!
//! Every long argument of a subcommand also reads `TICKFLOW_<NAME>` (like
//! `TICKFLOW_IDLE_TIMEOUT`) unless it names another variable itself. The
//! file is the one `--config PATH` or `TICKFLOW_CONFIG` names; no file is
//! read otherwise, so running tickflow in a checkout never picks up the
//! deployment's settings. Secrets (the database password, API tokens) have
//! no key: they come only from the environment or from files it names.
//!
//! Kafka client properties are the exception to one-variable-per-flag: the
//! `[kafka]` table (`"security.protocol" = "SASL_SSL"`) and every
//! `TICKFLOW_KAFKA_<NAME>` variable become `--kafka-property KEY=VALUE`
//! arguments, the file's first, then the environment's, then the user's,
//! so a later value of a key wins.

use anyhow::Context;
use clap::error::{ContextKind, ContextValue};
use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;
use std::path::PathBuf;

/// The variable naming the config file, like `--config`.
pub const CONFIG_ENV: &str = "TICKFLOW_CONFIG";
/// The section whose keys apply to every subcommand that has the argument.
pub const GLOBAL: &str = "global";
/// The strategy's table: `name` is `--strategy`, every other key a
/// `--param key=value` of the subcommands that run a strategy.
pub const STRATEGY: &str = "strategy";
/// The Kafka client properties' table: each key a `--kafka-property key=value`.
pub const KAFKA: &str = "kafka";
const CONFIG_ARG: &str = "config";
/// The argument the `[kafka]` table and the `TICKFLOW_KAFKA_<NAME>` variables feed.
const KAFKA_ARG: &str = "kafka_property";

/// Gives every long argument of every subcommand a `TICKFLOW_<NAME>`
/// environment variable unless it has one already. A variable that is set
/// but empty counts as unset (as compose passes `FOO=` from an `.env`).
pub fn with_env(command: Command) -> Command {
    command.mut_subcommands(|sub| {
        sub.mut_args(|arg| {
            // --kafka-property reads one variable per property instead (see `insert_kafka_env`).
            if arg.get_long().is_none() || arg.get_id() == CONFIG_ARG || arg.get_id() == KAFKA_ARG {
                return arg;
            }
            let name = match arg.get_env() {
                Some(name) => name.to_owned(),
                None => format!("TICKFLOW_{}", arg.get_id().as_str().to_uppercase().replace('-', "_")).into(),
            };
            let empty = std::env::var_os(&name).is_some_and(|v| v.is_empty());
            if empty { arg.env(clap::builder::Resettable::Reset) } else { arg.env(name) }
        })
    })
}

/// Where a setting came from in the config file.
#[derive(Clone, Debug)]
struct Origin {
    /// The argument's long name.
    long: String,
    section: String,
    key: String,
    value: String,
}

/// The command line with the config file's settings in it.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The arguments to parse: the program name, the subcommand, the
    /// settings from the file, then the user's arguments.
    pub args: Vec<OsString>,
    file: Option<PathBuf>,
    origins: Vec<Origin>,
}

/// Reads the config file (if one is named) and puts its settings for the
/// subcommand in `args` into the command line.
pub fn prepare(command: &Command, args: Vec<OsString>) -> anyhow::Result<Prepared> {
    let Some(file) = config_path(&args) else {
        let mut args = args;
        if let Some(position) = subcommand_position(command, &args) {
            let sub =
                command.find_subcommand(args[position].to_string_lossy().as_ref()).context("a known subcommand")?;
            tables::insert_kafka_env(sub, &mut args, position + 1);
        }
        return Ok(Prepared { args, ..Prepared::default() });
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("config file {}: cannot read it; check --config or {CONFIG_ENV}", file.display()))?;
    let mut prepared = apply(command, args, &text, &file.display().to_string())?;
    prepared.file = Some(file);
    Ok(prepared)
}

/// `--config PATH` (or `--config=PATH`) from the arguments, else `TICKFLOW_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy()).take_while(|a| a != "--");
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(|p| PathBuf::from(p.as_ref()));
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Validates the config `text` (named `file` in errors) against `command`
/// and inserts the settings of the subcommand in `args`.
pub fn apply(command: &Command, args: Vec<OsString>, text: &str, file: &str) -> anyhow::Result<Prepared> {
    let table: toml::Table = text.parse().map_err(|error| anyhow::anyhow!("config file {file}: {error}"))?;
    let settings = validate(command, &table, file)?;
    for sub in command.get_subcommands() {
        check_values(command, sub, &settings, file)?;
    }
    let Some(position) = subcommand_position(command, &args) else {
        return Ok(Prepared { args, ..Prepared::default() });
    };
    let sub = command.find_subcommand(args[position].to_string_lossy().as_ref()).context("a known subcommand")?;
    // Arguments on the command line or in the environment beat the file,
    // and so do the ones they exclude (`--replay` from the environment
    // turns the file's `simulate = true` off).
    let given =
        |arg: &Arg| passed(arg, &args[position + 1..]) || arg.get_env().is_some_and(|e| std::env::var_os(e).is_some());
    let user: Vec<&Arg> = sub.get_arguments().filter(|arg| given(arg)).collect();
    let other_strategy = other_strategy(&settings, &args[position + 1..]);
    let chosen = chosen(sub, &settings).into_iter().filter(|(arg, setting)| {
        if setting.section == STRATEGY && arg.get_id() == "param" {
            // The table's parameters come before the user's --param flags,
            // and a later value of a name wins, so flags override them one by one.
            return !other_strategy;
        }
        if setting.section == KAFKA {
            // The same: the environment's and the user's properties come after.
            return true;
        }
        !user.iter().any(|u| u.get_id() == arg.get_id() || conflict(sub, arg, u))
    });
    let (inserted, origins) = tokens(chosen.collect());
    let after_file = position + 1 + inserted.len();
    let mut out = args;
    out.splice(position + 1..position + 1, inserted);
    tables::insert_kafka_env(sub, &mut out, after_file);
    Ok(Prepared { args: out, file: None, origins })
}

/// Whether the user names a strategy (`--strategy` or `TICKFLOW_STRATEGY`)
/// other than the `[strategy]` table's `name`: then the table's parameters
/// belong to another strategy and are left out.
fn other_strategy(settings: &[Setting], args: &[OsString]) -> bool {
    let Some(name) = settings.iter().find(|s| s.section == STRATEGY && s.id == "strategy") else {
        return false;
    };
    let mut tokens = args.iter().map(|a| a.to_string_lossy()).take_while(|a| a != "--");
    let mut given = None;
    while let Some(token) = tokens.next() {
        if token == "--strategy" {
            given = tokens.next().map(|t| t.into_owned());
        } else if let Some(value) = token.strip_prefix("--strategy=") {
            given = Some(value.to_owned());
        }
    }
    let given = given.or_else(|| std::env::var("TICKFLOW_STRATEGY").ok().filter(|v| !v.is_empty()));
    given.is_some_and(|given| name.values.first() != Some(&given))
}

/// The settings for `sub` with their arguments: its own section's, then
/// those of `[global]` and `[strategy]` that it has and that its own section
/// does not override or exclude.
fn chosen<'a>(sub: &'a Command, settings: &'a [Setting]) -> Vec<(&'a Arg, &'a Setting)> {
    let arg = |s: &Setting| sub.get_arguments().find(|a| a.get_id() == s.id.as_str());
    let own: Vec<(&Arg, &Setting)> =
        settings.iter().filter(|s| s.section == sub.get_name()).filter_map(|s| Some((arg(s)?, s))).collect();
    let global = settings
        .iter()
        .filter(|s| s.section == GLOBAL || s.section == STRATEGY || s.section == KAFKA)
        .filter_map(|s| Some((arg(s)?, s)))
        .filter(|(a, s)| {
            s.section == KAFKA || !own.iter().any(|(o, _)| o.get_id() == a.get_id() || conflict(sub, a, o))
        });
    let global: Vec<_> = global.collect();
    own.into_iter().chain(global).collect()
}

/// The `--key=value` arguments of `chosen` and where each came from.
fn tokens(chosen: Vec<(&Arg, &Setting)>) -> (Vec<OsString>, Vec<Origin>) {
    let mut tokens = Vec::new();
    let mut origins = Vec::new();
    for (arg, setting) in chosen {
        let Some(long) = arg.get_long() else { continue };
        tokens.extend(setting.values.iter().map(|v| OsString::from(format!("--{long}={v}"))));
        if setting.flag {
            tokens.push(OsString::from(format!("--{long}")));
        }
        let value = setting.values.join(",");
        origins.push(Origin {
            long: long.to_owned(),
            section: setting.section.clone(),
            key: setting.key.clone(),
            value,
        });
    }
    (tokens, origins)
}

/// Parses every value the file gives `sub` with the argument's own parser,
/// so a bad value fails at load even when a flag or variable overrides it.
fn check_values(command: &Command, sub: &Command, settings: &[Setting], file: &str) -> anyhow::Result<()> {
    use clap::error::ErrorKind;
    let (tokens, origins) = tokens(chosen(sub, settings));
    if tokens.is_empty() {
        return Ok(());
    }
    let args = [OsString::from(command.get_name()), OsString::from(sub.get_name())].into_iter().chain(tokens);
    match command.clone().try_get_matches_from(args) {
        Err(error) if !matches!(error.kind(), ErrorKind::MissingRequiredArgument | ErrorKind::ArgumentConflict) => {
            match explain(file, &origins, &error) {
                Some(explained) => Err(explained),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// One key of the file, mapped to its argument.
struct Setting {
    section: String,
    key: String,
    /// The argument's id.
    id: String,
    /// The values to pass, one `--key=value` each.
    values: Vec<String>,
    /// A switch that is on: passed as `--key` alone.
    flag: bool,
}

/// Checks every section and key of the file; returns the settings.
fn validate(command: &Command, table: &toml::Table, file: &str) -> anyhow::Result<Vec<Setting>> {
    let mut settings = Vec::new();
    for (section, body) in table {
        if section == STRATEGY {
            settings.extend(tables::strategy_table(body, file)?);
            continue;
        }
        if section == KAFKA {
            settings.extend(tables::kafka_table(body, file)?);
            continue;
        }
        let subs: Vec<&Command> = if section == GLOBAL {
            command.get_subcommands().collect()
        } else {
            let sub = command.find_subcommand(section).with_context(|| {
                let known: Vec<&str> = command.get_subcommands().map(Command::get_name).collect();
                format!(
                    "config file {file}: unknown section [{section}]; sections are [{GLOBAL}], [{STRATEGY}], [{KAFKA}] and [{}]",
                    known.join("], [")
                )
            })?;
            vec![sub]
        };
        let toml::Value::Table(body) = body else {
            anyhow::bail!("config file {file}: {section} must be a section ([{section}]), not a value");
        };
        for (key, value) in flatten(body) {
            let id = key.replace(['-', '.'], "_");
            let arg = subs
                .iter()
                .flat_map(|s| s.get_arguments())
                .find(|a| a.get_id() == id.as_str() && a.get_long().is_some() && a.get_id() != CONFIG_ARG);
            let Some(arg) = arg else {
                anyhow::bail!(
                    "config file {file}: [{section}] has an unknown key {key:?}; keys are the flags of {} \
                     (see `tickflow {} --help`)",
                    if section == GLOBAL { "any subcommand".to_owned() } else { format!("`tickflow {section}`") },
                    if section == GLOBAL { "<subcommand>" } else { section }
                );
            };
            let bad = |why: &str| anyhow::anyhow!("config file {file}: [{section}] {key} = {value}: {why}");
            let (values, flag) = values(arg, &value).map_err(|why| bad(&why))?;
            if values.iter().any(|v| has_password(v)) {
                anyhow::bail!(
                    "config file {file}: [{section}] {key} holds a password; secrets never go in the config file: \
                     remove it from the URL and set TICKFLOW_STORE_PASSWORD or TICKFLOW_STORE_PASSWORD_FILE"
                );
            }
            if id == KAFKA_ARG
                && let Some(secret) = values
                    .iter()
                    .filter_map(|v| v.split_once('='))
                    .find(|(k, _)| tickflow_shared::kafka::is_secret(k.trim()))
            {
                return Err(tables::kafka_secret(file, section, secret.0.trim()));
            }
            settings.push(Setting { section: section.clone(), key, id, values, flag });
        }
    }
    Ok(settings)
}

/// The keys of a section with its sub-tables spelled out: `[batch.retention]
/// rejects = "30d"` is the key `retention.rejects`, the flag `--retention-rejects`.
fn flatten(body: &toml::Table) -> Vec<(String, toml::Value)> {
    body.iter()
        .flat_map(|(key, value)| match value {
            toml::Value::Table(inner) => {
                flatten(inner).into_iter().map(|(sub, value)| (format!("{key}.{sub}"), value)).collect()
            }
            value => vec![(key.clone(), value.clone())],
        })
        .collect()
}

/// The command-line values of a TOML value for `arg`, and whether it is a
/// switch that is on.
fn values(arg: &Arg, value: &toml::Value) -> Result<(Vec<String>, bool), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match value {
            toml::Value::Boolean(on) => Ok((Vec::new(), *on)),
            _ => Err("is a switch; write true or false".into()),
        };
    }
    let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1) || matches!(arg.get_action(), ArgAction::Append);
    match value {
        toml::Value::Array(items) if many => {
            items.iter().map(scalar).collect::<Result<Vec<_>, _>>().map(|v| (v, false))
        }
        toml::Value::Array(_) => Err("takes one value, not a list".into()),
        value => scalar(value).map(|v| (vec![v], false)),
    }
}

fn scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(x) => Ok(x.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err("must be a string, a number or true/false".into()),
    }
}

/// Whether `value` is a URL with a password in it (`scheme://user:secret@host`).
fn has_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The index of the subcommand's name in `args`, if there is one.
fn subcommand_position(command: &Command, args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        if arg == "--config" {
            i += 2;
            continue;
        }
        if arg.starts_with('-') {
            i += 1;
            continue;
        }
        return command.find_subcommand(arg.as_ref()).map(|_| i);
    }
    None
}

/// Whether the user's arguments name `arg` (by long name, alias or short).
fn passed(arg: &Arg, args: &[OsString]) -> bool {
    let longs: Vec<&str> = arg.get_long().into_iter().chain(arg.get_all_aliases().into_iter().flatten()).collect();
    let shorts: Vec<char> =
        arg.get_short().into_iter().chain(arg.get_all_short_aliases().into_iter().flatten()).collect();
    args.iter().map(|a| a.to_string_lossy()).take_while(|a| a != "--").any(|token| {
        if let Some(name) = token.strip_prefix("--") {
            let name = name.split('=').next().unwrap_or_default();
            longs.contains(&name)
        } else if let Some(rest) = token.strip_prefix('-') {
            rest.chars().next().is_some_and(|c| shorts.contains(&c))
        } else {
            false
        }
    })
}

/// Whether `a` and `b` exclude each other (declared on either side).
fn conflict(sub: &Command, a: &Arg, b: &Arg) -> bool {
    sub.get_arg_conflicts_with(a).iter().any(|c| c.get_id() == b.get_id())
        || sub.get_arg_conflicts_with(b).iter().any(|c| c.get_id() == a.get_id())
}

impl Prepared {
    /// A clap error, with the file, section and key named when the bad value came from the file.
    pub fn explain(&self, error: clap::Error) -> Result<clap::Error, anyhow::Error> {
        let file = self.file.as_ref().map(|f| f.display().to_string());
        match file.and_then(|file| explain(&file, &self.origins, &error)) {
            Some(explained) => Err(explained),
            None => Ok(error),
        }
    }
}

/// The error naming the file, section and key, if a setting of the file is the bad one.
fn explain(file: &str, origins: &[Origin], error: &clap::Error) -> Option<anyhow::Error> {
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.trim_start_matches('-').split([' ', '=']).next().unwrap_or_default();
    let origin = origins.iter().find(|o| o.long == long)?;
    let message = error.render().to_string();
    let message = message.trim_start_matches("error: ").lines().next().unwrap_or_default().to_owned();
    Some(anyhow::anyhow!("config file {file}: [{}] {} = {:?}: {message}", origin.section, origin.key, origin.value))
}

mod tables;
#[cfg(test)]
mod tests;
