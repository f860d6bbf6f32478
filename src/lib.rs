//! mail_mcp: a hosted, stateless mail server for the Model Context Protocol.
//!
//! # Layout
//! - [`cli`]: the command line (`server`, `generate`, `token`, `keygen`).
//! - [`config`]: settings from flags and environment, validated at start-up.
//! - [`logging`]: the `LOG_LEVEL` filter, and the cap that keeps wire traces (passwords,
//!   tokens, mail) out of the logs.
//! - [`providers`]: the mail providers offered on the login page, from a TOML file.
//! - [`app`]: [`app::run`], which serves the router; used by `main` and the tests.
//! - [`drain`]: [`drain::Drain`], the calls in flight that a shutdown waits for.
//! - [`state`]: [`state::AppState`], the shared state built once at start-up.
//! - [`http`]: the axum router: OAuth endpoints, the MCP endpoint and its tools, pages.
//! - [`oauth_clients`]: OAuth clients without a database (redirect URIs, provisioning).
//! - [`token`]: the sealed credentials (client_ids, codes, access and refresh tokens):
//!   keyring, JWE seal/open, typed claims. No HTTP.
//! - [`mail`]: IMAP sessions, SMTP, MIME parsing and composing. No HTTP, no MCP, no tokens.
//! - [`shared_store`]: the shared store (memory or Redis): single-use codes, refresh
//!   rotation, login limits. Not the attachment stores.
//! - [`attachments`]: attachment stores (local files or S3) and their signed URLs. No HTTP.
//! - [`mail_files`]: attachments of mail as files: links of read parts, files of outgoing
//!   mail. Between `mail` and `attachments`; no HTTP, no MCP, no tokens.
//! - [`upstream`]: mail providers signed in with OAuth 2.0: their code exchange, the
//!   mailbox address they vouch for, and their cached access tokens. No HTTP serving.
//! - [`metrics`]: the Prometheus registry (`/metrics`); the mail layer's timing hook.
//! - `fuzzing` (hidden): what the fuzz targets of `fuzz/` need of crate-private code.
//! - [`net_guard`]: outbound connections to hosts a stranger named never reach private networks.

pub mod app;
pub mod attachments;
pub mod cli;
pub mod config;
pub mod drain;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod logging;
pub mod mail;
pub mod mail_files;
pub mod metrics;
pub mod net_guard;
pub mod oauth_clients;
pub mod providers;
pub mod shared_store;
pub mod state;
pub mod token;
pub mod upstream;
