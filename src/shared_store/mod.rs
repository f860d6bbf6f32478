//! The small shared store behind the OAuth layer's replay and brute-force protection: single
//! use of authorization codes, refresh-token rotation with family revocation, and fixed-window
//! counters for rate limiting (logins, the token endpoint). Its size is bounded by logins,
//! never by refreshes: a code's marker lives only as long as the code, and a refresh family
//! (every refresh token descended from one sign-in) is one record holding the id of its one
//! current refresh token, replaced on each rotation (compare-and-set), or its revocation,
//! which the MCP endpoint looks up for every access token of the family. It holds no mail data and no secrets, only opaque ids
//! and hashed keys with an expiry. One interface, [`SharedStore`], two backends: [`memory`]
//! (one instance, the default) and [`redis`] (several instances behind a load balancer,
//! `REDIS_URL`). Every operation is atomic in both. A store that cannot answer returns a
//! [`StoreError`], never panics; the HTTP layer turns it into a 503.
//!
//! - [`memory`]: `Mutex` + `HashMap`s with lazy expiry and a size bound per kind of record.
//! - [`redis`]: the `redis` crate over a reconnecting `ConnectionManager`, keys prefixed.
//! - [`limiter`]: [`LoginLimiter`], sign-in attempts per client IP and per mail account.
//! - [`request_limits`]: [`RequestLimiter`], token requests per client IP and per client.
//! - [`send_attempts`]: [`StoredSendAttempts`], the outbox's record of sends begun with an
//!   idempotency key (so a retry after an uncertain outcome is not sent twice).

pub mod limiter;
pub mod memory;
pub mod redis;
pub mod request_limits;
pub mod send_attempts;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use limiter::{Accounts, Attempt, LimitError, LoginLimiter, LoginLimits, Outcome};
pub use memory::{Capacities, MemoryStore};
pub use redis::RedisStore;
pub use request_limits::{RequestLimiter, RequestLimits};
pub use send_attempts::StoredSendAttempts;

/// What [`SharedStore::rotate_refresh`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshVerdict {
    /// The presented token was the family's current one (or the store no longer knew the
    /// family): the next token is now current; issue it.
    Fresh,
    /// The presented token is not the family's current one: it was rotated already, so it
    /// was stolen or replayed. The store has revoked the whole family; the caller refuses.
    Reused,
    /// The family was revoked earlier; the caller refuses the grant.
    FamilyRevoked,
}

/// The state of one fixed-window counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Hits counted in the current window.
    pub count: u64,
    /// Time until the window ends and the count starts again from zero.
    pub resets_in: Duration,
}

/// Why the store could not answer. The message is for logs, not for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis at {addr} is unavailable: {reason}")]
    Unavailable { addr: String, reason: String },
    #[error("REDIS_URL is not a usable redis URL: {0}")]
    BadUrl(String),
    #[error(
        "the in-memory store is full ({0} live entries); new entries are refused until some expire"
    )]
    Full(usize),
}

/// The operations the OAuth layer needs from a store shared by every instance of the server.
/// Ids and keys are opaque strings; `ttl`/`window` are how long the store remembers them.
#[async_trait]
pub trait SharedStore: Send + Sync + 'static {
    /// Checks that the store answers (start-up check).
    async fn ping(&self) -> Result<(), StoreError>;

    /// True the first time `id` is seen, false on every later call within `ttl`. Used for
    /// authorization codes (their `jti`): `ttl` is the code's remaining lifetime. A full
    /// memory store may forget the oldest markers, but then answers false for every code
    /// expiring no later than those (see [`memory`]): a used code is never accepted again.
    async fn consume_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Takes the single-use mark `id` for `outcome` (an approval's `jti`, approved or
    /// cancelled): `None` when this call took it, `Some(outcome)` of the call that took it
    /// first, within `ttl`. Atomic, so of racing calls exactly one gets `None`. A full
    /// memory store refuses ([`StoreError::Full`]) rather than forget a mark: a used
    /// approval must never run again.
    async fn take_once(
        &self,
        id: &str,
        outcome: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError>;

    /// Starts refresh family `family` with `current` as its current refresh token. False
    /// when the family exists already: it was revoked (its code was replayed) before the
    /// first exchange got here; the caller refuses the grant.
    async fn start_family(
        &self,
        family: &str,
        current: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Compare-and-set of `family`'s current refresh token: when `presented` is current,
    /// `next` becomes current ([`RefreshVerdict::Fresh`]); when another token is current, the
    /// family is revoked ([`RefreshVerdict::Reused`]); a revoked family stays revoked
    /// ([`RefreshVerdict::FamilyRevoked`]). A family the store does not know (a restarted
    /// memory store, a flushed Redis) is adopted: `next` becomes current. `ttl` (the
    /// refresh token lifetime) is how long the record is kept from now.
    async fn rotate_refresh(
        &self,
        family: &str,
        presented: &str,
        next: &str,
        ttl: Duration,
    ) -> Result<RefreshVerdict, StoreError>;

    /// Revokes `family` (a replayed authorization code), if the store holds it: every later
    /// refresh is refused. A family the store does not hold is left alone, so refused
    /// codes cannot fill the store with records (a replay racing the first exchange's
    /// [`start_family`](Self::start_family) may therefore not revoke it).
    async fn revoke_family(&self, family: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Whether `family` was revoked (a replayed code, a stale refresh token): the access
    /// tokens issued from it are refused. One lookup; a family the store does not hold
    /// (never stored, expired, or forgotten by a full memory store) is not revoked.
    async fn family_revoked(&self, family: &str) -> Result<bool, StoreError>;

    /// Counts one hit on `key` and returns the counter after it. The first hit starts a
    /// window of length `window`; the count resets when it ends.
    async fn hit(&self, key: &str, window: Duration) -> Result<Window, StoreError>;

    /// The counter of `key` without counting, or `None` when no window is running.
    async fn peek(&self, key: &str) -> Result<Option<Window>, StoreError>;

    /// Takes back one hit of `key` (an attempt that did not happen, or succeeded): the count
    /// goes down by one, never below zero, and the window keeps its end. Nothing happens
    /// when no window is running.
    async fn unhit(&self, key: &str) -> Result<(), StoreError>;

    /// A value other instances put with [`put_shared`](Self::put_shared), or `None`. Its
    /// owner encrypts it (the OAuth providers' access tokens). The memory store shares
    /// nothing: one process has its own cache, so it always answers `None`.
    async fn get_shared(&self, key: &str) -> Result<Option<String>, StoreError> {
        let _ = key;
        Ok(None)
    }

    /// Puts `value` under `key` for `ttl`, replacing any; the memory store keeps nothing.
    async fn put_shared(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let _ = (key, value, ttl);
        Ok(())
    }

    /// A small record put with [`put_record`](Self::put_record) (on any instance sharing
    /// this store), or `None` when absent or expired. Unlike [`get_shared`](Self::get_shared)
    /// both backends keep records: they are state, not a cache (the MCP tasks' status).
    async fn get_record(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Puts `value` under `key` for `ttl`, replacing any. A full memory store refuses a new
    /// key ([`StoreError::Full`]) rather than forget a live record.
    async fn put_record(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Puts `value` under `key` for `ttl` only when no live record is there: `None` when
    /// this call put it, `Some(value)` of the record already there (left unchanged).
    /// Atomic, so of racing calls exactly one gets `None` (the outbox's sends begun).
    async fn claim_record(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError>;

    /// Removes the record under `key`, if any.
    async fn remove_record(&self, key: &str) -> Result<(), StoreError>;
}

/// The prefix of every Redis key this server writes.
pub const DEFAULT_PREFIX: &str = "mail_mcp:";

/// The store for `REDIS_URL`: Redis (connected and pinged) when set, memory otherwise.
pub async fn open(redis_url: Option<&str>) -> Result<Arc<dyn SharedStore>, StoreError> {
    open_with(
        redis_url,
        memory::Capacities::default(),
        redis::DEFAULT_TIMEOUT,
    )
    .await
}

/// [`open`], with the bounds of a memory store (MEMORY_STORE_MAX_ENTRIES) and the time
/// allowed for one Redis operation (REDIS_TIMEOUT).
pub async fn open_with(
    redis_url: Option<&str>,
    capacities: memory::Capacities,
    redis_timeout: Duration,
) -> Result<Arc<dyn SharedStore>, StoreError> {
    match redis_url {
        Some(url) => Ok(Arc::new(
            RedisStore::connect_with_timeout(url, DEFAULT_PREFIX, redis_timeout).await?,
        )),
        None => Ok(Arc::new(MemoryStore::with_capacities(capacities))),
    }
}

/// Key names shared by both backends, so that both hold the same layout. The family sits in
/// a Redis hash tag (`{...}`), as it did when a family had several keys.
mod keys {
    pub fn once(id: &str) -> String {
        format!("once:{id}")
    }

    /// The one record of a refresh family: its current token id, or [`REVOKED`].
    pub fn family(family: &str) -> String {
        format!("refresh:{{{family}}}")
    }

    /// The value of a revoked family's record (no token id looks like it).
    pub const REVOKED: &str = "!revoked";

    /// A single-use mark of [`SharedStore::take_once`]; its value is the outcome.
    pub fn mark(id: &str) -> String {
        format!("mark:{id}")
    }

    pub fn hits(key: &str) -> String {
        format!("hits:{key}")
    }

    pub fn shared(key: &str) -> String {
        format!("shared:{key}")
    }

    pub fn record(key: &str) -> String {
        format!("record:{key}")
    }
}

/// A duration in whole milliseconds, at least 1 (Redis refuses an expiry of 0) and at most
/// about 35 years (Redis refuses one that overflows its clock).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, 1 << 40)
}
