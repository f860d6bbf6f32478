//! `http::oauth`: discovery, registration, the login page, the token endpoint.
//!
//! - [`flow`]: the whole sign-in, end to end, and an MCP call with its token.
//! - [`clients`]: any MCP client (DCR, metadata documents, providers, limits, replay).

mod clients;
mod flow;
