//! `http::mcp`: the MCP endpoint.

mod approval;
mod tools;
