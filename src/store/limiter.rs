//! Login rate limiting on top of a [`SharedStore`]: failed logins are counted in fixed
//! windows per client IP and per mail account (mail host + username), and a login is
//! refused, with the time to wait, once either count reaches its limit. Counter keys are
//! SHA-256 hashes, so neither usernames nor addresses are stored in clear (in Redis).
//! Usernames and hosts are compared without case, and IPv6 clients are counted per /64
//! (one host usually owns a whole /64), so neither can be varied to dodge a limit.
//! Only failures count; a successful login does not reset anything (an attacker with one
//! valid account would otherwise reset their IP's count).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{SharedStore, StoreError, Window};

/// How many failed logins are allowed in one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins per client IP (IPv6: per /64).
    pub per_ip: u64,
    /// Failed logins per (mail host, username).
    pub per_account: u64,
    /// The window's length; counting starts with the first failure.
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_ip: 20,
            per_account: 5,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a login may not be attempted now.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Too many failed logins: try again after this long.
    #[error("too many failed logins; retry in {} s", .0.as_secs().max(1))]
    RetryAfter(Duration),
    /// The store did not answer (the caller answers 503).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts failed logins in the shared store. Cheap to clone.
#[derive(Clone)]
pub struct LoginLimiter {
    store: Arc<dyn SharedStore>,
    limits: LoginLimits,
}

impl LoginLimiter {
    pub fn new(store: Arc<dyn SharedStore>, limits: LoginLimits) -> LoginLimiter {
        LoginLimiter { store, limits }
    }

    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    /// Before a login: `Ok` when it may be tried, [`LimitError::RetryAfter`] when the IP or
    /// the account has used up its failures in the current window.
    pub async fn check(&self, ip: IpAddr, host: &str, username: &str) -> Result<(), LimitError> {
        let by_ip = self.store.peek(&ip_key(ip)).await?;
        let by_account = self.store.peek(&account_key(host, username)).await?;
        self.verdict(by_ip, by_account)
    }

    /// After a failed login: counts it for the IP and the account. Returns
    /// [`LimitError::RetryAfter`] when this failure used up an allowance, so the page can say
    /// at once when to retry.
    pub async fn record_failure(
        &self,
        ip: IpAddr,
        host: &str,
        username: &str,
    ) -> Result<(), LimitError> {
        let window = self.limits.window;
        let by_ip = self.store.hit(&ip_key(ip), window).await?;
        let by_account = self.store.hit(&account_key(host, username), window).await?;
        self.verdict(Some(by_ip), Some(by_account))
    }

    /// The longer wait of the two counters that have reached their limit, if any.
    fn verdict(&self, by_ip: Option<Window>, by_account: Option<Window>) -> Result<(), LimitError> {
        let blocked = |w: Option<Window>, limit: u64| w.filter(|w| w.count >= limit);
        let wait = [
            blocked(by_ip, self.limits.per_ip),
            blocked(by_account, self.limits.per_account),
        ]
        .into_iter()
        .flatten()
        .map(|w| w.resets_in)
        .max();
        match wait {
            Some(wait) => Err(LimitError::RetryAfter(wait)),
            None => Ok(()),
        }
    }
}

/// The counter key of a client address: IPv4 (also IPv4-mapped IPv6) whole, IPv6 per /64.
fn ip_key(ip: IpAddr) -> String {
    let subject = match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    };
    format!("login:ip:{}", digest(&["ip", &subject]))
}

/// The counter key of a mail account: host and username, both without case or spaces around.
fn account_key(host: &str, username: &str) -> String {
    let host = host.trim().to_lowercase();
    let username = username.trim().to_lowercase();
    format!("login:account:{}", digest(&["account", &host, &username]))
}

/// Hex SHA-256 of the parts, each length-prefixed so that no two part lists collide.
fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    const V4: &str = "198.51.100.7";

    fn limiter(per_ip: u64, per_account: u64) -> LoginLimiter {
        let limits = LoginLimits {
            per_ip,
            per_account,
            window: Duration::from_secs(900),
        };
        LoginLimiter::new(Arc::new(MemoryStore::new()), limits)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn retry_after(result: Result<(), LimitError>) -> Duration {
        match result {
            Err(LimitError::RetryAfter(wait)) => wait,
            other => panic!("expected RetryAfter, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_account_is_blocked_after_its_failures_until_the_window_ends() {
        tokio::time::pause();
        let limiter = limiter(100, 3);
        for _ in 0..2 {
            limiter
                .check(ip(V4), "imap.example.com", "ann")
                .await
                .unwrap();
            limiter
                .record_failure(ip(V4), "imap.example.com", "ann")
                .await
                .unwrap();
        }
        tokio::time::advance(Duration::from_secs(100)).await;
        let third = limiter
            .record_failure(ip(V4), "imap.example.com", "ann")
            .await;
        assert_eq!(retry_after(third), Duration::from_secs(800));
        // The same account under another case and from another address is still blocked.
        let other_ip = limiter
            .check(ip("203.0.113.9"), "IMAP.example.com", " Ann")
            .await;
        assert_eq!(retry_after(other_ip), Duration::from_secs(800));
        // Another account on the same host is not.
        limiter
            .check(ip(V4), "imap.example.com", "bob")
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(800)).await;
        limiter
            .check(ip(V4), "imap.example.com", "ann")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_ip_is_blocked_across_accounts_and_ipv6_counts_per_64() {
        let limiter = limiter(2, 100);
        limiter
            .record_failure(ip("2001:db8:1:2::1"), "h", "a")
            .await
            .unwrap();
        let second = limiter
            .record_failure(ip("2001:db8:1:2::ffff"), "h", "b")
            .await;
        retry_after(second);
        retry_after(limiter.check(ip("2001:db8:1:2:abcd::9"), "h", "c").await);
        limiter
            .check(ip("2001:db8:1:3::1"), "h", "c")
            .await
            .unwrap();
        limiter.check(ip(V4), "h", "c").await.unwrap();
    }

    #[test]
    fn keys_hide_usernames_and_addresses() {
        let key = account_key("imap.example.com", "ann@example.com");
        assert!(!key.contains("ann") && !key.contains("example"), "{key}");
        assert_eq!(key, account_key("Imap.Example.com ", "ANN@example.com"));
        assert_ne!(account_key("a", "bc"), account_key("ab", "c"));
        let key = ip_key(ip(V4));
        assert!(!key.contains("198"), "{key}");
        assert_eq!(key, ip_key(ip("::ffff:198.51.100.7")));
    }
}
