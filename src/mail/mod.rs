//! The mail layer: IMAP sessions, SMTP, message parsing and composing, TLS settings.
//! It knows nothing of HTTP, MCP or tokens; callers hand it a [`MailAccount`] (or one of
//! its [`ServerLogin`]s) and get `MailError`s written for a person to act on.
//!
//! # Layout
//! - [`account`]: who the mail belongs to and how to reach the servers.
//! - [`error`]: [`MailError`], the one error type of this layer.
//! - [`timings`]: a hook that times logins and commands (metrics live above this layer).
//! - [`tls`]: whom to trust ([`TlsSettings`]); [`settings`]: TLS plus time limits.
//! - [`imap`]: [`Imap`] hands out logged-in [`ImapSession`]s; folder listing.
//! - [`smtp`]: [`Smtp`] sends over kept connections and checks logins.
//! - [`reuse`]: what the IMAP and SMTP pools share: bounds, the key of an account.
//! - [`compose`]: building messages (new, reply, forward, draft) without I/O.
//! - [`outbox`]: [`Outbox`] sends (SMTP, then the copy in Sent), replies, forwards, saves drafts.
//! - [`blocking`]: `run_blocking`, slow parsing and decoding off the async threads.
//! - [`extract`]: attachment text (PDF, DOCX, PPTX, spreadsheets, CSV, HTML, ICS) within limits.
//! - [`sasl`]: XOAUTH2 / OAUTHBEARER messages and an IMAP authenticator for bearer tokens.
//! - [`check`]: [`verify_login`], IMAP then SMTP, within a [`LoginBudget`], for the login form.

pub mod account;
mod blocking;
pub mod check;
pub mod compose;
pub mod error;
pub mod extract;
pub mod flags;
pub mod imap;
pub mod message;
pub mod outbox;
mod resolve;
pub mod reuse;
pub mod sasl;
pub mod search;
pub mod settings;
pub mod smtp;
pub mod timings;
pub mod tls;

pub use account::{Endpoint, Identity, MailAccount, Security, ServerLogin, parse_identities};
pub use check::{BudgetSpent, LoginBudget, LoginCheck, verify_login};
pub use error::{MailError, Protocol};
pub use imap::{Imap, ImapSession, MailboxInfo, SelectedFolder, SpecialUse, StoredMessage};
pub use outbox::Outbox;
pub use settings::MailSettings;
pub use smtp::Smtp;
pub use tls::{TlsConfigError, TlsSettings};
