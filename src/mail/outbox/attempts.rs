//! The record of sends begun with an idempotency key, kept where every instance of the
//! server sees it (the app wires in the shared store; this module knows only the
//! [`SendAttempts`] interface). A send is recorded as begun just before its message goes to
//! the SMTP server, and settled by what the server answered: accepted marks it sent, a
//! refusal (nothing was sent) removes the record so a retry sends. A send whose outcome
//! was never learnt (the connection cut during DATA, the server gone silent, the process
//! killed) stays begun: a retry with the same key then answers that the earlier attempt
//! may have gone instead of sending a possible duplicate, until the caller explicitly asks
//! to send anyway. The Sent folder is still searched first, so a send whose copy was
//! stored is reported as already sent without looking here.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

/// How long a send begun is remembered: a retry later than this is not recognised by this
/// record (the Sent folder is still searched for the key's Message-ID).
pub const SEND_ATTEMPT_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What the record knew of an earlier send with the same Message-ID (the same key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EarlierAttempt {
    /// Begun, and its outcome never learnt (or it is still running): it may have gone.
    Unsettled,
    /// The SMTP server accepted it.
    Sent,
}

/// How a send begun ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The SMTP server accepted the message.
    Sent,
    /// Refused before the SMTP server took it: nothing was sent, a retry may send.
    NotSent,
}

/// The record could not be read or written (the shared store is down): the send does not
/// start, since a retry could not be told from a first attempt. The text is for logs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AttemptsUnavailable(pub String);

/// Where sends begun are recorded, by the Message-ID the idempotency key derives (unique
/// per account and key).
#[async_trait]
pub trait SendAttempts: Send + Sync + Debug + 'static {
    /// Records the send of `message_id` as begun, unless one is recorded already: `None`
    /// when this call began it, else what the earlier one came to (left unchanged).
    /// Atomic: of racing calls with one key exactly one begins.
    async fn begin(&self, message_id: &str) -> Result<Option<EarlierAttempt>, AttemptsUnavailable>;

    /// Records the send of `message_id` as begun again, whatever was recorded: the caller
    /// asked to send it although an earlier attempt may have gone.
    async fn begin_again(&self, message_id: &str) -> Result<(), AttemptsUnavailable>;

    /// Records how the send of `message_id` ended. A failure is logged by the
    /// implementation, not returned: the send has happened (or not) either way.
    async fn settle(&self, message_id: &str, outcome: Settled);
}
