//! `http::mcp`: the MCP endpoint.
//!
//! - [`tools`]: every tool through MCP calls.
//! - [`drafts_only`]: the Drafts only policy: sends become drafts, the rest is refused.
//! - [`protocol`]: the protocol versions (2026-07-28 without `initialize`, the older ones
//!   with it) and their errors, over raw HTTP.

mod drafts_only;
mod protocol;
mod tools;
