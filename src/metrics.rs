//! The server's Prometheus metrics: one [`Metrics`] (a registry of its own, no global
//! recorder) held in `AppState`, written in the OpenMetrics text format by `GET /metrics`
//! (`http::metrics`). What it counts: HTTP requests by route template and status, MCP tool
//! calls by tool and outcome, mail round trips (IMAP and SMTP logins, IMAP commands, SMTP
//! sends) as latency histograms, sign-ins by outcome, the sizes of the warm pools and the
//! process's memory and open files (read at scrape time).
//!
//! Every label value comes from a fixed set the code names (a route template, a tool name
//! the server offers, an outcome): never a raw path, an address, a host or anything else a
//! caller chose, which would leak and let a caller grow the series without bound. This
//! module knows nothing of HTTP or MCP; it implements the mail layer's timing hook
//! ([`MailTimings`]) so that `mail/` stays free of it.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::mail::Protocol;
use crate::mail::timings::{MailTimings, Step, Timings};

/// The label of a request that matched no route (its path is never recorded).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The label of a tool call naming a tool this server does not offer.
pub const UNKNOWN_TOOL: &str = "unknown";

/// How a tool call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToolOutcome {
    /// A result without `isError`.
    Ok,
    /// A result with `isError` (the mail server said no, bad arguments, ...).
    ToolError,
    /// A JSON-RPC error instead of a result.
    ProtocolError,
    /// The tool panicked (the caller still got an `isError` result).
    Panic,
}

impl ToolOutcome {
    fn as_str(self) -> &'static str {
        match self {
            ToolOutcome::Ok => "ok",
            ToolOutcome::ToolError => "tool_error",
            ToolOutcome::ProtocolError => "protocol_error",
            ToolOutcome::Panic => "panic",
        }
    }
}

/// How a sign-in (the login form or a provider's callback) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    /// Both logins worked; a code was issued.
    Ok,
    /// A mail server refused the credentials.
    Refused,
    /// Refused by the sign-in limits before any mail server was asked.
    Limited,
    /// A mail server could not be reached or answered wrongly, or the store failed.
    Error,
}

impl LoginOutcome {
    fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Ok => "ok",
            LoginOutcome::Refused => "refused",
            LoginOutcome::Limited => "limited",
            LoginOutcome::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailLabels {
    protocol: &'static str,
    step: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Mail latencies from 5 ms to about 80 s.
fn mail_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// What the pools hold at scrape time, read by the caller (which owns the pools).
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolSizes {
    pub imap_idle: usize,
    pub imap_accounts: usize,
    pub smtp_idle: usize,
}

/// The metrics of this process; cheap to clone (clones share the series).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    mail_seconds: HistogramFamily<MailLabels>,
    logins: Family<OutcomeLabels, Counter>,
    pool_idle: Family<PoolLabels, Gauge>,
    pool_accounts: Family<PoolLabels, Gauge>,
    resident_bytes: Gauge,
    open_fds: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every series of this server, prefixed `mail_mcp_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mail_mcp");
        let metrics = Metrics {
            registry: Arc::new(Registry::default()),
            requests: Family::default(),
            tool_calls: Family::default(),
            mail_seconds: Family::new_with_constructor(mail_histogram),
            logins: Family::default(),
            pool_idle: Family::default(),
            pool_accounts: Family::default(),
            resident_bytes: Gauge::default(),
            open_fds: Gauge::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            metrics.requests.clone(),
        );
        registry.register(
            "tool_calls",
            "MCP tool calls, by tool and outcome (ok, tool_error, protocol_error, panic)",
            metrics.tool_calls.clone(),
        );
        registry.register(
            "mail_seconds",
            "Mail round trips in seconds: IMAP/SMTP login (connect+TLS+auth), IMAP command, SMTP send",
            metrics.mail_seconds.clone(),
        );
        registry.register(
            "logins",
            "Sign-ins by outcome (ok, refused, limited, error)",
            metrics.logins.clone(),
        );
        registry.register(
            "pool_idle_connections",
            "Warm mail connections idle in the pool now",
            metrics.pool_idle.clone(),
        );
        registry.register(
            "pool_accounts",
            "Accounts the IMAP pool knows now (idle sessions or calls running)",
            metrics.pool_accounts.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of this process (Linux)",
            metrics.resident_bytes.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors of this process (Linux)",
            metrics.open_fds.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// One answered HTTP request; `route` is the matched template (or [`UNMATCHED_ROUTE`]).
    pub fn http_request(&self, route: &str, status: u16) {
        let labels = RequestLabels {
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// One finished tool call; `tool` must be a name this server offers (else pass
    /// [`UNKNOWN_TOOL`]).
    pub fn tool_call(&self, tool: &str, outcome: ToolOutcome) {
        let labels = ToolLabels {
            tool: tool.to_owned(),
            outcome: outcome.as_str(),
        };
        self.tool_calls.get_or_create(&labels).inc();
    }

    /// One finished sign-in.
    pub fn login(&self, outcome: LoginOutcome) {
        let labels = OutcomeLabels {
            outcome: outcome.as_str(),
        };
        self.logins.get_or_create(&labels).inc();
    }

    /// The mail layer's timing hook, recording into this registry.
    pub fn mail_timings(&self) -> Timings {
        Timings::new(Arc::new(self.clone()))
    }

    /// The whole exposition in the OpenMetrics text format, with the pool sizes and the
    /// process figures read now.
    pub fn render(&self, pools: PoolSizes) -> String {
        let gauge = |value: usize| i64::try_from(value).unwrap_or(i64::MAX);
        self.pool_idle
            .get_or_create(&PoolLabels { pool: "imap" })
            .set(gauge(pools.imap_idle));
        self.pool_idle
            .get_or_create(&PoolLabels { pool: "smtp" })
            .set(gauge(pools.smtp_idle));
        self.pool_accounts
            .get_or_create(&PoolLabels { pool: "imap" })
            .set(gauge(pools.imap_accounts));
        if let Some(bytes) = process::resident_bytes() {
            self.resident_bytes.set(gauge(bytes));
        }
        if let Some(fds) = process::open_fds() {
            self.open_fds.set(gauge(fds));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl MailTimings for Metrics {
    fn observe(&self, protocol: Protocol, step: Step, seconds: f64, ok: bool) {
        let labels = MailLabels {
            protocol: match protocol {
                Protocol::Imap => "imap",
                Protocol::Smtp => "smtp",
            },
            step: step.as_str(),
            outcome: if ok { "ok" } else { "error" },
        };
        self.mail_seconds.get_or_create(&labels).observe(seconds);
    }
}

/// Process figures from `/proc` (Linux); `None` elsewhere or when unreadable.
mod process {
    /// Resident set size in bytes: the second field of `/proc/self/statm`, in pages.
    pub fn resident_bytes() -> Option<usize> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * page_size())
    }

    /// Entries of `/proc/self/fd` (the directory handle itself included: off by one at most).
    pub fn open_fds() -> Option<usize> {
        Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
    }

    /// 4 KiB: the page size of every Linux this runs on (x86-64, most arm64).
    fn page_size() -> usize {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family appears in the exposition once something was counted, with the
    /// labels given, and the exposition ends as OpenMetrics requires.
    #[test]
    fn render_shows_each_series_with_its_labels() {
        let metrics = Metrics::new();
        metrics.http_request("/mcp", 200);
        metrics.tool_call("list_mailboxes", ToolOutcome::Ok);
        metrics.login(LoginOutcome::Refused);
        metrics.observe(Protocol::Imap, Step::Login, 0.02, true);
        let text = metrics.render(PoolSizes {
            imap_idle: 2,
            imap_accounts: 1,
            smtp_idle: 0,
        });
        for want in [
            r#"mail_mcp_http_requests_total{route="/mcp",status="200"} 1"#,
            r#"mail_mcp_tool_calls_total{tool="list_mailboxes",outcome="ok"} 1"#,
            r#"mail_mcp_logins_total{outcome="refused"} 1"#,
            r#"mail_mcp_mail_seconds_count{protocol="imap",step="login",outcome="ok"} 1"#,
            r#"mail_mcp_pool_idle_connections{pool="imap"} 2"#,
            "mail_mcp_process_open_fds ",
        ] {
            assert!(text.contains(want), "missing {want} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
