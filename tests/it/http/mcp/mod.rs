//! `http::mcp`: the MCP endpoint.

mod approval;
mod approval_page;
mod approval_sdk;
mod tools;
