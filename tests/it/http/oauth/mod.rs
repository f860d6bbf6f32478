//! `http::oauth`: discovery, registration, the login page, the token endpoint.
//!
//! - [`flow`]: the whole sign-in, end to end, and an MCP call with its token.
//! - [`clients`]: any MCP client (DCR, metadata documents, providers, limits, replay).
//! - [`provider`]: sign-in with an OAuth mail provider (XOAUTH2 / OAUTHBEARER).

mod clients;
mod flow;
mod provider;
