//! Logging set-up: the `LOG_LEVEL` filter, and a cap that no setting lifts on the crates
//! whose debug and trace output is the wire itself (IMAP commands with `LOGIN` passwords
//! and bearer tokens, server answers with mail content, HTTP/2 frames).

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

/// Logs to stderr through `filter`, with the wire cap applied after it.
pub fn init(filter: EnvFilter) {
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter)
                .with_filter(FilterFn::new(is_printable)),
        )
        .init();
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
