//! `http::mcp::tools`: every tool through MCP calls with real tokens, checked in the
//! mailboxes and stores themselves.
//!
//! - [`read`], [`write`], [`organise`], [`attachments`]: the tools by purpose.
//! - [`imap_servers`]: the tools against the stack's "basic" Dovecot (no MOVE, UIDPLUS,
//!   SPECIAL-USE; folders below `INBOX.`).

mod attachments;
mod imap_servers;
mod organise;
mod read;
mod write;
