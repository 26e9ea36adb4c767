//! Where tickflow's log lines go and in what shape: readable text on a
//! terminal, or with `TICKFLOW_LOG_FORMAT=json` one JSON object a line with
//! Elastic Common Schema names, so Filebeat or Logstash ship them to
//! Elasticsearch without a parser.
//!
//! A JSON line holds `@timestamp` (RFC 3339, UTC), `log.level`,
//! `log.logger` (the module), `message`, `service.name` (`tickflow`),
//! `event.dataset` (`tickflow.<subcommand>`), then the fields of the spans
//! the event is in (outermost first) and the event's own fields, by their
//! names.

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The variable that picks the format: `text` (the default) or `json`.
pub const FORMAT_ENV: &str = "TICKFLOW_LOG_FORMAT";

/// Installs the global subscriber for `subcommand`, writing to stderr with
/// `filter`, in the format [`FORMAT_ENV`] names.
pub fn init(filter: EnvFilter, subcommand: &str) -> Result<(), String> {
    let format = std::env::var(FORMAT_ENV).unwrap_or_default();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format.as_str() {
        "" | "text" => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        "json" => {
            builder.fmt_fields(JsonFields::new()).event_format(Ecs { dataset: format!("tickflow.{subcommand}") }).init()
        }
        other => return Err(format!("{FORMAT_ENV}={other:?} is not a log format; write text or json")),
    }
    Ok(())
}

/// The ECS event formatter.
struct Ecs {
    dataset: String,
}

impl<S, N> FormatEvent<S, N> for Ecs
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let metadata = event.metadata();
        let mut object = Map::new();
        object.insert("@timestamp".into(), crate::time::format_rfc3339(crate::time::now_ns()).into());
        object.insert("log.level".into(), metadata.level().as_str().to_ascii_lowercase().into());
        object.insert("log.logger".into(), metadata.target().into());
        object.insert("service.name".into(), "tickflow".into());
        object.insert("event.dataset".into(), self.dataset.clone().into());
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            let extensions = span.extensions();
            let Some(fields) = extensions.get::<FormattedFields<N>>() else { continue };
            if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                object.extend(fields);
            }
        }
        event.record(&mut Fields(&mut object));
        writeln!(writer, "{}", Value::Object(object))
    }
}

/// Records an event's fields into the JSON object, by name.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_json_line_has_the_ecs_names_the_spans_fields_and_the_events() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(Ecs { dataset: "tickflow.batch".into() })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("run", version = 3_u64);
            let _entered = span.enter();
            tracing::warn!(days = 2_u64, path = "a b", "Published a batch run.");
        });
        let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: Value = serde_json::from_str(lines[0]).expect("one JSON object");
        assert_eq!(line["message"], "Published a batch run.");
        assert_eq!(line["log.level"], "warn");
        assert_eq!(line["service.name"], "tickflow");
        assert_eq!(line["event.dataset"], "tickflow.batch");
        assert_eq!(line["log.logger"], module_path!());
        assert_eq!(
            (line["version"].as_u64(), line["days"].as_u64(), line["path"].as_str()),
            (Some(3), Some(2), Some("a b"))
        );
        let stamp = line["@timestamp"].as_str().expect("a timestamp");
        assert!(crate::time::parse_timestamp(stamp.as_bytes()).is_ok() && stamp.ends_with('Z'), "{stamp}");
    }
}
