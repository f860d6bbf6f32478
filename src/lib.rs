//! mail_mcp: a hosted, stateless mail server for the Model Context Protocol.
//!
//! # Layout
//! - [`mail`]: IMAP sessions, SMTP, MIME parsing and composing; no HTTP, no MCP.
pub mod mail;
