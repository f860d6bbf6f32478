//! The small shared store behind the OAuth layer's replay and brute-force protection: single
//! use of authorization codes, refresh-token rotation with family revocation, and fixed-window
//! counters for login rate limiting. It holds no mail data and no secrets, only opaque ids
//! and hashed keys with an expiry. One interface, [`SharedStore`], two backends: [`memory`]
//! (one instance, the default) and [`redis`] (several instances behind a load balancer,
//! `REDIS_URL`). Every operation is atomic in both. A store that cannot answer returns a
//! [`StoreError`], never panics; the HTTP layer turns it into a 503.
//!
//! - [`memory`]: `Mutex` + `HashMap` with lazy expiry and a size bound.
//! - [`redis`]: the `redis` crate over a reconnecting `ConnectionManager`, keys prefixed.
//! - [`limiter`]: [`LoginLimiter`], sign-in attempts per client IP and per mail account.

pub mod limiter;
pub mod memory;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use limiter::{Accounts, Attempt, LimitError, LoginLimiter, LoginLimits, Outcome};
pub use memory::MemoryStore;
pub use redis::RedisStore;

/// What [`SharedStore::rotate_refresh`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshVerdict {
    /// First use of this refresh token: issue the next one.
    Fresh,
    /// This refresh token was used before: it was stolen or replayed. The store has revoked
    /// the whole family; the caller refuses the grant.
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
    /// authorization codes (their `jti`): `ttl` at least the code's remaining lifetime.
    async fn consume_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Records the use of refresh token `jti` of `family`. The first use is
    /// [`RefreshVerdict::Fresh`]; a second use revokes the family and is
    /// [`RefreshVerdict::Reused`]; any use after that is [`RefreshVerdict::FamilyRevoked`].
    /// `ttl` must cover the remaining lifetime of every token of the family (the refresh
    /// token lifetime always does).
    async fn rotate_refresh(
        &self,
        family: &str,
        jti: &str,
        ttl: Duration,
    ) -> Result<RefreshVerdict, StoreError>;

    /// Counts one hit on `key` and returns the counter after it. The first hit starts a
    /// window of length `window`; the count resets when it ends.
    async fn hit(&self, key: &str, window: Duration) -> Result<Window, StoreError>;

    /// The counter of `key` without counting, or `None` when no window is running.
    async fn peek(&self, key: &str) -> Result<Option<Window>, StoreError>;

    /// Takes back one hit of `key` (an attempt that did not happen, or succeeded): the count
    /// goes down by one, never below zero, and the window keeps its end. Nothing happens
    /// when no window is running.
    async fn unhit(&self, key: &str) -> Result<(), StoreError>;
}

/// The prefix of every Redis key this server writes.
pub const DEFAULT_PREFIX: &str = "mail_mcp:";

/// The store for `REDIS_URL`: Redis (connected and pinged) when set, memory otherwise.
pub async fn open(redis_url: Option<&str>) -> Result<Arc<dyn SharedStore>, StoreError> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisStore::connect(url, DEFAULT_PREFIX).await?)),
        None => Ok(Arc::new(MemoryStore::new())),
    }
}

/// Key names shared by both backends, so that both hold the same layout. The family sits in
/// a Redis hash tag (`{...}`) so that a family's keys live in one cluster slot.
mod keys {
    pub fn once(id: &str) -> String {
        format!("once:{id}")
    }

    pub fn revoked(family: &str) -> String {
        format!("refresh:{{{family}}}:revoked")
    }

    pub fn used(family: &str, jti: &str) -> String {
        format!("refresh:{{{family}}}:used:{jti}")
    }

    pub fn hits(key: &str) -> String {
        format!("hits:{key}")
    }
}

/// A duration in whole milliseconds, at least 1 (Redis refuses an expiry of 0) and at most
/// about 35 years (Redis refuses one that overflows its clock).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, 1 << 40)
}
