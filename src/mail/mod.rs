//! The mail layer: IMAP sessions, SMTP, message parsing and composing, TLS settings.
//! It knows nothing of HTTP, MCP or tokens; callers hand it a [`MailAccount`].

pub mod account;

pub use account::{Endpoint, MailAccount, Security, ServerLogin};
