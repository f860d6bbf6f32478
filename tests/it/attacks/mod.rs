//! The attack suite: each case performs an attack a stranger could try on a hosted
//! instance, against the real server on port 0 and the real mail stack (Dovecot, Postfix,
//! s3s-fs, Redis), and asserts both the refusal and that nothing was changed or leaked.
//! Hostile mail servers are small scripted IMAP servers on loopback: a real server cannot
//! be made to misbehave on demand.
//!
//! One module per hole closed:
//! - [`tenancy`]: one tenant reading or sending another tenant's attachments.
//! - [`client_documents`]: client ID metadata documents and redirect URIs.
//! - [`hostile_imap`]: a mail server (a token's, or one typed on the login page) that answers
//!   to crash or starve the process, or to fill error messages with its bytes.
//! - [`replay_store`]: filling the replay store, replaying codes and refresh tokens,
//!   flooding the token endpoint, refresh tokens without `offline_access`, access tokens
//!   of a sign-in revoked by a replay.
//! - [`login_limits`]: racing and sidestepping the login limits, exhausting login slots.
//! - [`sizes`]: oversized attachments and request bodies, attachments that pass the read
//!   limit by their structure but not while they stream into the store.

mod client_documents;
mod hostile_imap;
mod login_limits;
mod replay_store;
mod sizes;
mod tenancy;
