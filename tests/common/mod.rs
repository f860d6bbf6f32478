//! Test harness of the integration tests (`tests/it/main.rs` declares it as `common`):
//! the real mail stack of `bin/mail-stack` (Dovecot, Postfix, s3s-fs, redis on loopback),
//! a fresh mailbox per test, and helpers that check the outcome over real IMAP and SMTP.
//!
//! - [`stack()`]: the stack of the test binary, started once (or the running one named
//!   by `MAIL_STACK_ENV`); stopped by a watcher when the binary exits.
//! - [`Stack::new_user`]: a mailbox nobody else uses.
//! - [`imap_session`], [`append`], [`fetch_raw`], [`wait_for_messages`]: IMAP as a mail
//!   client sees it. [`deliver`]: incoming mail over the unauthenticated SMTP port.
//! - [`small_message`]: messages to put in. [`error_text`]: a tool error's text.
//!   [`eventually`]: waiting for what the stack does a moment later.
//!
//! Not every helper is used at every moment of a change, hence `dead_code` is allowed here.
#![allow(dead_code)]

pub mod app;
mod eventually;
pub mod hostile_imap;
mod imap;
mod messages;
mod smtp;
pub mod stack;

// A helper may be unused while a change is under way.
#[allow(unused_imports)]
pub use imap::{
    ImapSession, PlainImapSession, RawMessage, append, fetch_raw, imap_session, imap_session_plain,
    try_imap_session, wait_for_message_containing, wait_for_messages,
};
#[allow(unused_imports)]
pub use imap::{folder_names, list_folder_names};
#[allow(unused_imports)]
pub use smtp::{deliver, submission_transport, try_deliver, try_submit};
#[allow(unused_imports)]
pub use stack::{Stack, TestUser, stack};
pub mod oauth;
pub mod silent;
mod tool_results;

#[allow(unused_imports)]
pub use eventually::{eventually, eventually_within};
#[allow(unused_imports)]
pub use messages::{small_message, small_message_with_id, unique_message_id};
#[allow(unused_imports)]
pub use tool_results::{error_text, unwrap_mail};
pub mod bad_tls;
pub mod basic_imap;
pub mod conversation;
pub mod documents;
pub mod fault_proxy;
pub mod gmail_imap;
