//! Real MCP clients (the programs under `tests/clients/`) against the real server.

mod real;
