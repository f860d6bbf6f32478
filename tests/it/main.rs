//! The integration tests, one test binary: the real app on port 0 against the real mail
//! stack of `bin/mail-stack` (Dovecot, Postfix, s3s-fs, Redis), started once per run by
//! [`common::stack()`]. The modules mirror `src/`:
//!
//! - [`app`]: the whole server under mail-side faults (a TCP fault proxy) and at shutdown
//!   (the real binary and SIGTERM).
//! - [`http`]: the OAuth endpoints (`http::oauth`) and the MCP tools (`http::mcp::tools`)
//!   over real HTTP.
//! - [`mail`]: the IMAP layer (sessions, the pool, large messages) and SMTP.
//! - [`attachments`]: the S3 and local attachment stores.
//! - [`shared_store`]: the shared store (memory and Redis).
//! - [`mcp_clients`]: the MCP clients people use (SDKs, a browser), run as programs.
//! - [`attacks`]: the attack suite, one module per hole closed.
//! - [`stack`]: the harness and the stack behave as the other tests assume.

#[path = "../common/mod.rs"]
mod common;

mod app;
mod attachments;
mod attacks;
mod http;
mod mail;
mod mcp_clients;
mod shared_store;
mod stack;
