//! Rate limits of the token endpoint on top of a [`SharedStore`]: every request is counted
//! in fixed windows per client IP (IPv6: per /64) and per client, and refused, with the
//! time to wait, once either count is over its limit. Unlike logins, successes count too:
//! each code exchange leaves a marker, so the rate of exchanges is what bounds the store.
//! Counter keys are SHA-256 hashes (no address or client id in clear in Redis). A memory
//! store with no room for another window lets the request through (logged): a limit that
//! refused everyone once its counters were full would itself be the denial of service.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::limiter::address_subject;
use super::{LimitError, SharedStore, StoreError, Window};

/// How many token requests are allowed in one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Requests per client IP (IPv6: per /64).
    pub per_ip: u64,
    /// Requests per client (client_id).
    pub per_client: u64,
    /// The window's length; counting starts with the first request.
    pub window: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            per_ip: 120,
            per_client: 600,
            window: Duration::from_secs(60),
        }
    }
}

/// Counts token requests in the shared store. Cheap to clone.
#[derive(Clone)]
pub struct RequestLimiter {
    store: Arc<dyn SharedStore>,
    limits: RequestLimits,
}

impl RequestLimiter {
    pub fn new(store: Arc<dyn SharedStore>, limits: RequestLimits) -> RequestLimiter {
        RequestLimiter { store, limits }
    }

    /// Counts one request from `ip`; [`LimitError::RetryAfter`] when it is over the limit.
    pub async fn count_ip(&self, ip: IpAddr) -> Result<(), LimitError> {
        self.count(&ip_key(ip), self.limits.per_ip).await
    }

    /// Counts one request of `client_id`; [`LimitError::RetryAfter`] when over the limit.
    pub async fn count_client(&self, client_id: &str) -> Result<(), LimitError> {
        let key = format!("token:client:{}", digest(&["client", client_id]));
        self.count(&key, self.limits.per_client).await
    }

    async fn count(&self, key: &str, limit: u64) -> Result<(), LimitError> {
        match self.store.hit(key, self.limits.window).await {
            Ok(window) => over(window, limit),
            Err(StoreError::Full(held)) => {
                tracing::warn!(
                    held,
                    "no room for another rate-limit window: request let through"
                );
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }
}

fn over(window: Window, limit: u64) -> Result<(), LimitError> {
    if window.count > limit {
        return Err(LimitError::RetryAfter(window.resets_in));
    }
    Ok(())
}

/// The counter key of a client address, counted as sign-ins are.
fn ip_key(ip: IpAddr) -> String {
    format!("token:ip:{}", digest(&["ip", &address_subject(ip)]))
}

/// Hex SHA-256 of the parts, each length-prefixed so that no two part lists collide.
fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_store::MemoryStore;

    fn limiter(per_ip: u64, per_client: u64) -> RequestLimiter {
        let limits = RequestLimits {
            per_ip,
            per_client,
            window: Duration::from_secs(60),
        };
        RequestLimiter::new(Arc::new(MemoryStore::new()), limits)
    }

    #[tokio::test]
    async fn an_ip_is_limited_per_64_and_others_are_not() {
        let limiter = limiter(2, 100);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        limiter.count_ip(ip("2001:db8::1")).await.unwrap();
        limiter.count_ip(ip("2001:db8::2")).await.unwrap();
        let third = limiter.count_ip(ip("2001:db8::3")).await;
        assert!(matches!(third, Err(LimitError::RetryAfter(w)) if !w.is_zero()));
        limiter.count_ip(ip("2001:db8:0:1::1")).await.unwrap();
        limiter.count_ip(ip("192.0.2.1")).await.unwrap();
    }

    #[tokio::test]
    async fn a_client_is_limited_and_others_are_not() {
        let limiter = limiter(100, 1);
        limiter.count_client("a").await.unwrap();
        assert!(limiter.count_client("a").await.is_err());
        limiter.count_client("b").await.unwrap();
        assert!(!ip_key("198.51.100.7".parse().unwrap()).contains("198"));
    }

    #[tokio::test]
    async fn full_counters_let_requests_through() {
        let limits = RequestLimits {
            per_ip: 1,
            per_client: 1,
            window: Duration::from_secs(60),
        };
        let limiter = RequestLimiter::new(Arc::new(MemoryStore::with_capacity(1)), limits);
        limiter.count_client("a").await.unwrap();
        assert!(
            limiter.count_client("a").await.is_err(),
            "a known window counts"
        );
        limiter.count_client("b").await.unwrap();
        limiter.count_client("b").await.unwrap();
    }
}
