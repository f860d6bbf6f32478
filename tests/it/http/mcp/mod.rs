//! `http::mcp`: the MCP endpoint.

mod drafts_only;
mod tools;
