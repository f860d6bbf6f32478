//! Login rate limiting on top of a [`SharedStore`]. Every sign-in attempt is counted
//! *before* anything connects, and the increment itself decides (no peek-then-count, so
//! parallel posts cannot all slip through): per client IP, per IMAP account (host +
//! username) and per SMTP account, in fixed windows. An attempt that is refused, or whose
//! side logged in, is taken back ([`SharedStore::unhit`]), so the counts hold failures
//! (wrong passwords, time-outs, unreachable servers) and a person's own successful
//! sign-ins never use up their allowance. A success does not reset anything either (an
//! attacker with one valid account would otherwise reset their IP's count).
//!
//! Like careful providers, an attacker's failures do not lock the owner out for good: an
//! address that signed in to an account successfully is remembered for [`KNOWN_FOR`]
//! (a hashed marker), and from there the account's failures (IMAP and SMTP) are counted per
//! (account, address) instead of for the whole account, so strangers' failures do not
//! block it; and every count ends with its window. A new device of the owner is still
//! blocked while strangers keep the account's count full: that is the price of bounding
//! guesses from everywhere else.
//!
//! Sign-ins in flight are capped too, per account and per IP, in this process
//! ([`InFlight`]): a burst of posts of one form waits for nothing and reaches nothing.
//! Counter keys are SHA-256 hashes, so neither usernames nor addresses are stored in
//! clear (in Redis). Usernames and hosts are compared without case, and IPv6 clients are
//! counted per /64 (one host usually owns a whole /64), so neither can be varied to dodge
//! a limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{SharedStore, StoreError};

/// How long an address that signed in successfully is remembered for its account.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// How many failed logins are allowed in one window, and how many may run at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins per client IP (IPv6: per /64).
    pub per_ip: u64,
    /// Failed logins per (mail host, username), IMAP and SMTP each.
    pub per_account: u64,
    /// The window's length; counting starts with the first attempt.
    pub window: Duration,
    /// Sign-ins being checked at once for one account (this process).
    pub in_flight_per_account: usize,
    /// Sign-ins being checked at once from one client IP (this process).
    pub in_flight_per_ip: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_ip: 20,
            per_account: 5,
            window: Duration::from_secs(15 * 60),
            in_flight_per_account: 2,
            in_flight_per_ip: 4,
        }
    }
}

/// Why a login may not be attempted now.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Too many failed logins: try again after this long.
    #[error("too many failed logins; retry in {} s", .0.as_secs().max(1))]
    RetryAfter(Duration),
    /// Another sign-in of this account or from this address is still being checked.
    #[error("too many sign-ins in progress")]
    Busy,
    /// The store did not answer (the caller answers 503).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The mail accounts one sign-in logs in to.
#[derive(Clone, Copy, Debug)]
pub struct Accounts<'a> {
    /// IMAP host and username.
    pub imap: (&'a str, &'a str),
    /// SMTP host and username.
    pub smtp: (&'a str, &'a str),
}

/// What a counted sign-in did, for [`Attempt::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub imap_ok: bool,
    /// `None` when SMTP was not tried (IMAP failed first).
    pub smtp_ok: Option<bool>,
}

/// Counts sign-in attempts in the shared store and caps those in flight. Cheap to clone;
/// clones share the in-flight counts.
#[derive(Clone)]
pub struct LoginLimiter {
    store: Arc<dyn SharedStore>,
    limits: LoginLimits,
    in_flight: Arc<InFlight>,
}

/// One counted sign-in: holds its in-flight places until dropped. Call
/// [`Attempt::finish`] with what happened.
pub struct Attempt {
    limiter: LoginLimiter,
    keys: AttemptKeys,
    /// When this attempt used up an allowance: how long until it is back.
    last_allowed: Option<Duration>,
    _places: Places,
}

struct AttemptKeys {
    ip: String,
    imap: String,
    smtp: String,
    known: String,
}

impl LoginLimiter {
    pub fn new(store: Arc<dyn SharedStore>, limits: LoginLimits) -> LoginLimiter {
        LoginLimiter {
            store,
            limits,
            in_flight: Arc::new(InFlight::default()),
        }
    }

    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    /// Before connecting: takes the in-flight places and counts the attempt for the IP and
    /// both accounts. [`LimitError::Busy`] when too many are in flight,
    /// [`LimitError::RetryAfter`] when a count is over its limit (nothing is counted then).
    pub async fn begin(&self, ip: IpAddr, accounts: Accounts<'_>) -> Result<Attempt, LimitError> {
        let (imap_host, imap_user) = accounts.imap;
        let (smtp_host, smtp_user) = accounts.smtp;
        let ip_key = ip_key(ip);
        let imap_key = account_key("imap", imap_host, imap_user);
        let smtp_key = account_key("smtp", smtp_host, smtp_user);
        let per_account = self.limits.in_flight_per_account;
        let places = self
            .in_flight
            .take(&[
                (ip_key.clone(), self.limits.in_flight_per_ip),
                (imap_key.clone(), per_account),
                (smtp_key.clone(), per_account),
            ])
            .ok_or(LimitError::Busy)?;
        let known = known_key(&imap_key, &ip_key);
        let (imap, smtp) = match self.store.peek(&known).await? {
            Some(_) => (pair_key(&imap_key, &ip_key), pair_key(&smtp_key, &ip_key)),
            None => (imap_key, smtp_key),
        };
        let keys = AttemptKeys {
            ip: ip_key,
            imap,
            smtp,
            known,
        };
        let last_allowed = self.count(&keys).await?;
        Ok(Attempt {
            limiter: self.clone(),
            keys,
            last_allowed,
            _places: places,
        })
    }

    /// Counts one hit on each counter; over a limit, takes them all back and refuses.
    /// `Ok(Some(wait))` when this hit used up a limit exactly.
    async fn count(&self, keys: &AttemptKeys) -> Result<Option<Duration>, LimitError> {
        let counters = [
            (&keys.ip, self.limits.per_ip),
            (&keys.imap, self.limits.per_account),
            (&keys.smtp, self.limits.per_account),
        ];
        let mut counted = Vec::new();
        let (mut over, mut exhausted) = (None::<Duration>, None::<Duration>);
        for (key, limit) in counters {
            let window = match self.store.hit(key, self.limits.window).await {
                Ok(window) => window,
                Err(error) => {
                    self.take_back(&counted).await;
                    return Err(error.into());
                }
            };
            counted.push(key.as_str());
            if window.count > limit {
                over = over.max(Some(window.resets_in));
            } else if window.count == limit {
                exhausted = exhausted.max(Some(window.resets_in));
            }
        }
        match over {
            Some(wait) => {
                self.take_back(&counted).await;
                Err(LimitError::RetryAfter(wait))
            }
            None => Ok(exhausted),
        }
    }

    /// Takes back one hit of each key (best effort: a store error only costs an allowance).
    async fn take_back(&self, keys: &[&str]) {
        for key in keys {
            if let Err(error) = self.store.unhit(key).await {
                tracing::warn!(%error, "could not take back a login attempt");
            }
        }
    }
}

impl Attempt {
    /// Nothing was tried after all (no connection budget): takes back every count.
    pub async fn untried(self) {
        let keys = &self.keys;
        let all = [keys.ip.as_str(), keys.imap.as_str(), keys.smtp.as_str()];
        self.limiter.take_back(&all).await;
    }

    /// After the check: takes back the counts of the sides that logged in (and of SMTP when
    /// it was not tried), remembers the address for the account when IMAP logged in, and
    /// says when to retry if this failure used up an allowance.
    pub async fn finish(self, outcome: Outcome) -> Option<LimitError> {
        let keys = &self.keys;
        let smtp_untouched = outcome.smtp_ok != Some(false);
        let all_ok = outcome.imap_ok && outcome.smtp_ok == Some(true);
        let mut back = Vec::new();
        if outcome.imap_ok {
            back.push(keys.imap.as_str());
        }
        if smtp_untouched {
            back.push(keys.smtp.as_str());
        }
        if all_ok {
            back.push(keys.ip.as_str());
        }
        self.limiter.take_back(&back).await;
        if outcome.imap_ok {
            let store = &self.limiter.store;
            if let Err(error) = store.hit(&keys.known, KNOWN_FOR).await {
                tracing::warn!(%error, "could not remember a signed-in address");
            }
        }
        match (all_ok, self.last_allowed) {
            (false, Some(wait)) => Some(LimitError::RetryAfter(wait)),
            _ => None,
        }
    }
}

/// Sign-ins in flight per key, in this process.
#[derive(Default)]
struct InFlight {
    counts: Mutex<HashMap<String, usize>>,
}

/// Places taken in [`InFlight`]; given back when dropped.
struct Places {
    owner: Arc<InFlight>,
    keys: Vec<String>,
}

impl InFlight {
    /// One place for each key, all or none: `None` when a key is at its cap.
    fn take(self: &Arc<Self>, wanted: &[(String, usize)]) -> Option<Places> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<String> = wanted.iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        let cap_of = |key: &str| {
            wanted
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, cap)| *cap)
                .min()
                .unwrap_or(1)
        };
        if keys
            .iter()
            .any(|k| counts.get(k).copied().unwrap_or(0) >= cap_of(k))
        {
            return None;
        }
        for key in &keys {
            *counts.entry(key.clone()).or_default() += 1;
        }
        Some(Places {
            owner: Arc::clone(self),
            keys,
        })
    }
}

impl Drop for Places {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|e| e.into_inner());
        for key in &self.keys {
            if let Some(count) = counts.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(key);
                }
            }
        }
    }
}

/// The counter key of a client address (see [`address_subject`]).
fn ip_key(ip: IpAddr) -> String {
    format!("login:ip:{}", digest(&["ip", &address_subject(ip)]))
}

/// What one client address counts as: IPv4 (also IPv4-mapped IPv6) whole, IPv6 per /64
/// (one subscriber's prefix).
pub(crate) fn address_subject(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The counter key of a mail account (`side` is imap or smtp): host and username, both
/// without case or spaces around.
fn account_key(side: &str, host: &str, username: &str) -> String {
    let host = host.trim().to_lowercase();
    let username = username.trim().to_lowercase();
    format!("login:account:{}", digest(&[side, &host, &username]))
}

/// The marker of an address that signed in to an account.
fn known_key(account: &str, ip: &str) -> String {
    format!("login:known:{}", digest(&["known", account, ip]))
}

/// The counter of an account's failures from one known address.
fn pair_key(account: &str, ip: &str) -> String {
    format!("login:pair:{}", digest(&["pair", account, ip]))
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
    use crate::shared_store::MemoryStore;

    const V4: &str = "198.51.100.7";

    fn limiter(per_ip: u64, per_account: u64) -> LoginLimiter {
        let limits = LoginLimits {
            per_ip,
            per_account,
            window: Duration::from_secs(900),
            in_flight_per_account: 2,
            in_flight_per_ip: 3,
        };
        LoginLimiter::new(Arc::new(MemoryStore::new()), limits)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn accounts<'a>(host: &'a str, user: &'a str) -> Accounts<'a> {
        Accounts {
            imap: (host, user),
            smtp: (host, user),
        }
    }

    const FAILED: Outcome = Outcome {
        imap_ok: false,
        smtp_ok: None,
    };
    const SIGNED_IN: Outcome = Outcome {
        imap_ok: true,
        smtp_ok: Some(true),
    };

    fn retry_after(result: Result<Attempt, LimitError>) -> Duration {
        match result {
            Err(LimitError::RetryAfter(wait)) => wait,
            Err(other) => panic!("expected RetryAfter, got {other:?}"),
            Ok(_) => panic!("expected RetryAfter, got an attempt"),
        }
    }

    async fn fail(
        limiter: &LoginLimiter,
        from: &str,
        host: &str,
        user: &str,
    ) -> Option<LimitError> {
        let attempt = limiter.begin(ip(from), accounts(host, user)).await.unwrap();
        attempt.finish(FAILED).await
    }

    #[tokio::test]
    async fn an_account_is_blocked_after_its_failures_until_the_window_ends() {
        tokio::time::pause();
        let limiter = limiter(100, 3);
        for _ in 0..2 {
            assert!(
                fail(&limiter, V4, "imap.example.com", "ann")
                    .await
                    .is_none()
            );
        }
        tokio::time::advance(Duration::from_secs(100)).await;
        let third = fail(&limiter, V4, "imap.example.com", "ann").await;
        assert!(matches!(third, Some(LimitError::RetryAfter(w)) if w == Duration::from_secs(800)));
        // The same account under another case and from another address is still blocked.
        let other_ip = limiter
            .begin(ip("203.0.113.9"), accounts("IMAP.example.com", " Ann"))
            .await;
        assert_eq!(retry_after(other_ip), Duration::from_secs(800));
        // Another account on the same host is not.
        assert!(
            fail(&limiter, V4, "imap.example.com", "bob")
                .await
                .is_none()
        );
        tokio::time::advance(Duration::from_secs(800)).await;
        assert!(
            fail(&limiter, V4, "imap.example.com", "ann")
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_ip_is_blocked_across_accounts_and_ipv6_counts_per_64() {
        let limiter = limiter(2, 100);
        assert!(fail(&limiter, "2001:db8:1:2::1", "h", "a").await.is_none());
        assert!(
            fail(&limiter, "2001:db8:1:2::ffff", "h", "b")
                .await
                .is_some()
        );
        retry_after(
            limiter
                .begin(ip("2001:db8:1:2:abcd::9"), accounts("h", "c"))
                .await,
        );
        assert!(fail(&limiter, "2001:db8:1:3::1", "h", "c").await.is_none());
        assert!(fail(&limiter, V4, "h", "c").await.is_none());
    }

    /// Parallel attempts are counted as they start: no more than the limit get through.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_attempts_never_exceed_the_limit() {
        let limits = LoginLimits {
            in_flight_per_account: 100,
            in_flight_per_ip: 100,
            ..LoginLimits::default()
        };
        let limiter = LoginLimiter::new(Arc::new(MemoryStore::new()), limits);
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    let attempt = limiter.begin(ip(V4), accounts("h", "ann")).await;
                    tokio::task::yield_now().await;
                    attempt.is_ok()
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += usize::from(task.await.unwrap());
        }
        assert_eq!(allowed, 5);
    }

    #[tokio::test]
    async fn in_flight_sign_ins_are_capped_per_account_and_per_ip() {
        let limiter = limiter(100, 100);
        let first = limiter.begin(ip(V4), accounts("h", "ann")).await.unwrap();
        let _second = limiter.begin(ip(V4), accounts("h", "ann")).await.unwrap();
        let third = limiter.begin(ip("192.0.2.1"), accounts("h", "ann")).await;
        assert!(matches!(third, Err(LimitError::Busy)));
        let _other = limiter.begin(ip(V4), accounts("h", "bob")).await.unwrap();
        let by_ip = limiter.begin(ip(V4), accounts("h", "cy")).await;
        assert!(matches!(by_ip, Err(LimitError::Busy)));
        drop(first);
        limiter.begin(ip(V4), accounts("h", "cy")).await.unwrap();
    }

    #[tokio::test]
    async fn successes_are_taken_back_and_a_known_address_outlives_strangers_failures() {
        let limiter = limiter(100, 2);
        for _ in 0..5 {
            let attempt = limiter.begin(ip(V4), accounts("h", "ann")).await.unwrap();
            assert!(attempt.finish(SIGNED_IN).await.is_none());
        }
        // Strangers use up the account's failures...
        fail(&limiter, "203.0.113.1", "h", "ann").await;
        fail(&limiter, "203.0.113.2", "h", "ann").await;
        retry_after(limiter.begin(ip("203.0.113.3"), accounts("h", "ann")).await);
        // ...and the owner's address still signs in.
        let owner = limiter.begin(ip(V4), accounts("h", "ann")).await.unwrap();
        assert!(owner.finish(SIGNED_IN).await.is_none());
    }

    #[test]
    fn keys_hide_usernames_and_addresses() {
        let key = account_key("imap", "imap.example.com", "ann@example.com");
        assert!(!key.contains("ann") && !key.contains("example"), "{key}");
        assert_eq!(
            key,
            account_key("imap", "Imap.Example.com ", "ANN@example.com")
        );
        assert_ne!(
            key,
            account_key("smtp", "imap.example.com", "ann@example.com")
        );
        assert_ne!(
            account_key("imap", "a", "bc"),
            account_key("imap", "ab", "c")
        );
        let key = ip_key(ip(V4));
        assert!(!key.contains("198"), "{key}");
        assert_eq!(key, ip_key(ip("::ffff:198.51.100.7")));
    }
}
