//! `http/`: the OAuth authorization server and the MCP endpoint over real HTTP.

mod mcp;
mod metrics;
mod oauth;
