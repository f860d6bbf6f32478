//! A hook for timing mail round trips, so that the layer above can keep latency
//! histograms without the mail layer knowing how they are kept (it imports nothing of
//! `http/` or of the metrics crate). [`Timings`] sits in [`super::MailSettings`]; by default
//! it records nothing. Only fixed labels go through it (protocol, step, outcome), never a
//! host, an address or anything a caller chose.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::error::Protocol;

/// Which kind of round trip was timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Opening a connection and logging in (TCP, TLS, greeting, STARTTLS, LOGIN/AUTH).
    Login,
    /// One IMAP command and its answer (SELECT, FETCH, SEARCH, NOOP, APPEND, ...).
    Command,
    /// Handing one message to SMTP (MAIL FROM to the reply after DATA).
    Send,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Login => "login",
            Step::Command => "command",
            Step::Send => "send",
        }
    }
}

/// Receives the timings; implemented by the application's metrics.
pub trait MailTimings: Send + Sync {
    /// One round trip of `step` over `protocol` took `seconds`; `ok` when it succeeded.
    fn observe(&self, protocol: Protocol, step: Step, seconds: f64, ok: bool);
}

/// Where timings go: nowhere by default. Cheap to clone.
#[derive(Clone, Default)]
pub struct Timings(Option<Arc<dyn MailTimings>>);

impl Timings {
    pub fn new(sink: Arc<dyn MailTimings>) -> Self {
        Timings(Some(sink))
    }

    /// Records a round trip that began at `started`.
    pub fn record(&self, protocol: Protocol, step: Step, started: Instant, ok: bool) {
        if let Some(sink) = &self.0 {
            sink.observe(protocol, step, started.elapsed().as_secs_f64(), ok);
        }
    }
}

impl fmt::Debug for Timings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Timings(recording)"
        } else {
            "Timings(off)"
        })
    }
}
