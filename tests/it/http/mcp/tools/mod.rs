//! `http::mcp::tools`: every tool through MCP calls with real tokens, checked in the
//! mailboxes and stores themselves.
//!
//! - [`read`], [`write`], [`organise`], [`attachments`]: the tools by purpose.
//! - [`archive`]: archive_mail_message, by uid and by search.
//! - [`send_draft`]: a saved draft sent, filed in Sent, removed from Drafts.
//! - [`changes`]: list_changes sees another client's changes; cursors cannot be forged.
//! - [`bulk`]: the organising tools by search (`where`, `dry_run`).
//! - [`attachment_text`]: attachments read as text; [`bodies`]: bodies as Markdown, quotes folded.
//! - [`hostile`]: mail text wrapped in per-call markers, hidden HTML dropped, auth verdicts, first contact.
//! - [`gmail`]: labels, label searches, threads by X-GM-THRID, label_mail_messages on a
//!   scripted Gmail stand-in.
//! - [`thread`]: get_mail_thread as a conversation read once (quotes folded, budgets,
//!   server threading and header rounds).
//! - [`imap_servers`]: the tools against the stack's "basic" Dovecot (no MOVE, UIDPLUS,
//!   SPECIAL-USE; folders below `INBOX.`).

mod archive;
mod attachment_text;
mod attachments;
mod bodies;
mod bulk;
mod changes;
mod gmail;
mod hostile;
mod identities;
mod imap_servers;
mod organise;
mod read;
mod send_draft;
mod thread;
mod write;
