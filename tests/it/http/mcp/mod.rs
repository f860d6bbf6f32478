//! `http::mcp`: the MCP endpoint.
//!
//! - [`tools`]: every tool through MCP calls.
//! - [`approval`], [`approval_page`], [`approval_sdk`]: the Ask policy: input requests, the
//!   confirmation page in Chromium, the Python SDK accepting and declining.
//! - [`drafts_only`]: the Drafts only policy: sends become drafts, the rest is refused.
//! - [`tasks`]: long bulk runs as tasks (the Tasks extension) for 2026-07-28 clients.
//! - [`protocol`]: the protocol versions (2026-07-28 without `initialize`, the older ones
//!   with it) and their errors, over raw HTTP.

mod approval;
mod approval_page;
mod approval_sdk;
mod drafts_only;
mod protocol;
mod tasks;
mod tools;
