//! `http::mcp`: the MCP endpoint.

mod tools;
