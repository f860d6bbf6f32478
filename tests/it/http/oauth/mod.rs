//! `http::oauth`: discovery, registration, the login page, the token endpoint.
//!
//! - [`flow`]: the whole sign-in, end to end, and an MCP call with its token.
//! - [`clients`]: any MCP client (DCR, metadata documents, providers, limits, replay).
//! - [`provider`]: sign-in with an OAuth mail provider (XOAUTH2 / OAUTHBEARER).
//! - [`policy`]: the consent page's policy choice, sealed in the tokens.

mod clients;
mod flow;
mod policy;
mod provider;
