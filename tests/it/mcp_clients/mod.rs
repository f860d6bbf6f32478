//! Real MCP clients (the programs under `tests/mcp_clients/`) against the real server.
//!
//! - [`real`]: the Python and TypeScript SDKs, Chromium on the login page, `mail_mcp token`.
//! - [`inspector`]: MCP Inspector's CLI; [`mcp_remote`]: a stdio client through mcp-remote;
//!   both run by Node 22 ([`node22`]).

mod inspector;
mod mcp_remote;
mod node22;
mod real;
