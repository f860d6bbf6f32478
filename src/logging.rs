//! Logging set-up: the `LOG_LEVEL` filter, the `LOG_FORMAT` (human-readable text, or one
//! JSON object a line for log collectors, each line of a request carrying its request id
//! from the request span), and a cap that no setting lifts on the crates whose debug and
//! trace output is the wire itself (IMAP commands with `LOGIN` passwords and bearer
//! tokens, server answers with mail content, HTTP/2 frames). Both formats print the same
//! fields, so neither shows a secret the other hides.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::prelude::*;

/// Crates (log targets) that print protocol data at debug/trace level.
const WIRE_TARGETS: [&str; 5] = ["async_imap", "imap_proto", "lettre", "h2", "hyper"];

/// The most detailed level ever printed for a [`WIRE_TARGETS`] crate.
const WIRE_MAX_LEVEL: Level = Level::INFO;

/// Whether an event or span may be printed: anything but a wire crate's debug/trace.
pub fn is_printable(metadata: &Metadata<'_>) -> bool {
    *metadata.level() <= WIRE_MAX_LEVEL || !is_wire_target(metadata.target())
}

fn is_wire_target(target: &str) -> bool {
    WIRE_TARGETS.iter().any(|crate_name| {
        target
            .strip_prefix(crate_name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// The filter from `LOG_LEVEL` (`info` when unset or invalid).
pub fn level_filter() -> EnvFilter {
    EnvFilter::try_from_env("LOG_LEVEL").unwrap_or_else(|_| EnvFilter::new("info"))
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event, its spans' fields before the message.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with
    /// `message`), `span` (the innermost span) and `spans` (all of them, outermost first).
    Json,
}

impl LogFormat {
    /// The format `LOG_FORMAT` names (`text` when unset); an error says what it may be.
    pub fn from_env() -> Result<LogFormat, String> {
        match std::env::var("LOG_FORMAT") {
            Err(_) => Ok(LogFormat::Text),
            Ok(value) => LogFormat::parse(&value),
        }
    }

    /// `text` or `json`, in any case.
    pub fn parse(value: &str) -> Result<LogFormat, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("LOG_FORMAT must be text or json, not \"{value}\"")),
        }
    }
}

/// Logs to stderr in `format` through `filter`, with the wire cap applied after it.
pub fn init(filter: EnvFilter, format: LogFormat) {
    tracing_subscriber::registry()
        .with(layer(format, std::io::stderr, filter))
        .init();
}

/// The formatting layer writing to `writer`, filtered by `filter` and the wire cap.
pub fn layer<S, W>(
    format: LogFormat,
    writer: W,
    filter: EnvFilter,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => base
            .with_filter(filter)
            .with_filter(FilterFn::new(is_printable))
            .boxed(),
        LogFormat::Json => base
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .with_filter(FilterFn::new(is_printable))
            .boxed(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer that keeps what was logged.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Even with `LOG_LEVEL=trace` (and the wire crates named explicitly), an IMAP
    /// crate's trace line (what async-imap prints for `LOGIN user password`) is not
    /// written, while its warnings and our own debug lines are.
    #[test]
    fn wire_traces_are_never_printed_whatever_the_level() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_filter(EnvFilter::new("trace,async_imap=trace,lettre=trace"))
                .with_filter(FilterFn::new(is_printable)),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "async_imap::imap_stream", "encode: A1 LOGIN bob hunter2");
            tracing::debug!(target: "lettre::transport", "AUTH PLAIN c2VjcmV0");
            tracing::warn!(target: "async_imap", "connection closed by the server");
            tracing::debug!(target: "mail_mcp::mail", "our own debug line");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(text.contains("connection closed by the server"), "{text}");
        assert!(text.contains("our own debug line"), "{text}");
    }

    /// `LOG_FORMAT=json` writes one JSON object per line with the level, the target, the
    /// message among the fields and the fields of the spans it happened in; the wire cap
    /// holds there too.
    #[test]
    fn json_lines_have_the_documented_shape_and_the_cap() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(layer(
            LogFormat::Json,
            move || writer.clone(),
            EnvFilter::new("trace"),
        ));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1", path = "/mcp");
            let _entered = span.enter();
            tracing::info!(tool = "list_mail_messages", "tool call finished");
            tracing::trace!(target: "async_imap", "encode: A1 LOGIN bob hunter2");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["fields"]["message"], "tool call finished");
        assert_eq!(line["fields"]["tool"], "list_mail_messages");
        assert_eq!(line["span"]["request_id"], "r-1");
        assert_eq!(line["spans"][0]["name"], "request");
        assert!(line["timestamp"].is_string());
    }

    /// `LOG_FORMAT` takes text or json and refuses anything else with a message naming both.
    #[test]
    fn log_format_values() {
        assert_eq!(LogFormat::parse("json"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("TEXT"), Ok(LogFormat::Text));
        let err = LogFormat::parse("xml").unwrap_err();
        assert!(err.contains("text or json"), "{err}");
    }

    /// Only the wire crates themselves are capped, not crates whose names merely start
    /// with theirs.
    #[test]
    fn the_cap_names_whole_crates() {
        assert!(is_wire_target("async_imap"));
        assert!(is_wire_target("hyper::proto::h1"));
        assert!(!is_wire_target("hyper_util_like"));
        assert!(!is_wire_target("mail_mcp::http"));
    }
}
