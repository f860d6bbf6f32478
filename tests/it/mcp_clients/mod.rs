//! Real MCP clients (the programs under `tests/mcp_clients/`) against the real server.

mod real;
