//! mail_mcp: a hosted, stateless mail server for the Model Context Protocol.
//!
//! # Layout
//! - [`mail`]: IMAP sessions, SMTP, MIME parsing and composing; no HTTP, no MCP.
//! - [`token`]: keyring, JWE seal/open and the typed claims of every OAuth token; no HTTP.
pub mod mail;
pub mod token;
