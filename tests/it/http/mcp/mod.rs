//! `http::mcp`: the MCP endpoint.

mod approval;
mod approval_page;
mod tools;
