//! `http::mcp`: the MCP endpoint.
//!
//! - [`tools`]: every tool through MCP calls.
//! - [`protocol`]: the protocol versions (2026-07-28 without `initialize`, the older ones
//!   with it) and their errors, over raw HTTP.

mod protocol;
mod tools;
