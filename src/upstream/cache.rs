//! Upstream access tokens in memory: a bounded map keyed by an HMAC-SHA-256 (under a
//! random per-process secret) of the upstream refresh token, so that no refresh token is
//! kept as a key in clear. One entry (a *slot*) per sign-in holds the access token, when
//! it stops being fresh, and the latest refresh token: a provider that rotates refresh
//! tokens (Microsoft) hands out a new one on every refresh, and the slot keeps it, also
//! under the key of the new token, so tokens sealed before the rotation still find it.
//!
//! Single flight: a slot's lock is held while it refreshes, so however many requests of
//! one sign-in find the token stale, one refresh goes out and the others wait for it.
//! When full, the entries of stale slots go first, then any (a lost entry costs one
//! refresh, except with a rotating provider whose old refresh token is then spent).
//! With a shared store ([`super::shared`], Redis) the slots are also kept there, so that
//! instances (and a restarted one) find each other's tokens.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::shared::SharedCache;
use super::{TokenAnswer, UpstreamError};

/// The most a token is treated as fresh before its expiry is this much earlier.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

type Key = [u8; 32];

/// One sign-in's tokens.
struct Tokens {
    access: Option<(String, Instant)>,
    refresh_token: String,
}

impl Tokens {
    fn fresh_access(&self) -> Option<String> {
        self.access
            .as_ref()
            .filter(|(_, fresh_until)| Instant::now() < *fresh_until)
            .map(|(token, _)| token.clone())
    }

    fn store(&mut self, answer: TokenAnswer) {
        self.access = Some((answer.access_token.clone(), fresh_until(answer.lifetime())));
        if let Some(rotated) = answer.refresh_token.filter(|t| !t.is_empty()) {
            self.refresh_token = rotated;
        }
    }

    /// Takes what another instance got: its latest refresh token, and its access token
    /// while fresh.
    fn adopt(&mut self, shared: super::shared::SharedTokens) {
        if let Some(until) = shared.fresh_until() {
            self.access = Some((shared.access_token.clone(), until));
        }
        self.refresh_token = shared.refresh_token;
    }
}

/// Until when a token of `lifetime` is used: a quarter of its life (at most a minute)
/// before it expires, so that a request never starts with a token about to lapse.
fn fresh_until(lifetime: Duration) -> Instant {
    Instant::now() + lifetime - (lifetime / 4).min(EXPIRY_MARGIN)
}

type Slot = Arc<tokio::sync::Mutex<Tokens>>;

/// The cache; see the module documentation.
pub struct AccessTokenCache {
    secret: [u8; 32],
    max_entries: usize,
    slots: Mutex<HashMap<Key, Slot>>,
    shared: Option<SharedCache>,
}

impl AccessTokenCache {
    /// A cache of this process only, keyed under a random secret.
    pub fn new(max_entries: usize) -> Self {
        AccessTokenCache {
            secret: rand::random(),
            max_entries: max_entries.max(1),
            slots: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// A cache also shared through `shared`; `secret` (the key of the HMAC) must be the
    /// same on every instance.
    pub fn shared(max_entries: usize, secret: [u8; 32], shared: SharedCache) -> Self {
        AccessTokenCache {
            secret,
            shared: Some(shared),
            ..Self::new(max_entries)
        }
    }

    /// Before refreshing: what other instances got for this sign-in (its fresh access
    /// token, or at least its latest refresh token).
    async fn adopt_shared(&self, refresh_token: &str, tokens: &mut Tokens) {
        let Some(shared) = &self.shared else {
            return;
        };
        if let Some(record) = shared.load(&self.key(refresh_token)).await {
            tokens.adopt(record);
        }
    }

    /// After refreshing: files the tokens for other instances under the presented and
    /// the latest refresh token.
    async fn save_shared(&self, presented: &str, tokens: &Tokens) {
        let (Some(shared), Some((access, until))) = (&self.shared, &tokens.access) else {
            return;
        };
        let mut keys = vec![self.key(presented)];
        if tokens.refresh_token != presented {
            keys.push(self.key(&tokens.refresh_token));
        }
        shared
            .save(&keys, access, *until, &tokens.refresh_token)
            .await;
    }

    fn key(&self, refresh_token: &str) -> Key {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes a key of any size");
        mac.update(refresh_token.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The slot of `refresh_token`, made (empty) when there is none.
    fn slot(&self, refresh_token: &str) -> Slot {
        let key = self.key(refresh_token);
        let mut slots = self.slots.lock().expect("cache lock");
        if let Some(slot) = slots.get(&key) {
            return slot.clone();
        }
        let slot = Arc::new(tokio::sync::Mutex::new(Tokens {
            access: None,
            refresh_token: refresh_token.to_string(),
        }));
        self.insert(&mut slots, key, slot.clone());
        slot
    }

    fn insert(&self, slots: &mut HashMap<Key, Slot>, key: Key, slot: Slot) {
        if slots.len() >= self.max_entries && !slots.contains_key(&key) {
            make_room(slots, self.max_entries);
        }
        slots.insert(key, slot);
    }

    /// Files `slot` under `refresh_token` too (a rotated token of the same sign-in).
    fn alias(&self, refresh_token: &str, slot: &Slot) {
        let key = self.key(refresh_token);
        let mut slots = self.slots.lock().expect("cache lock");
        self.insert(&mut slots, key, slot.clone());
    }

    /// Keeps the access token of a sign-in that just happened (for other instances too).
    pub async fn remember(&self, refresh_token: &str, access_token: &str, lifetime: Duration) {
        let tokens = Tokens {
            access: Some((access_token.to_string(), fresh_until(lifetime))),
            refresh_token: refresh_token.to_string(),
        };
        self.save_shared(refresh_token, &tokens).await;
        let slot = Arc::new(tokio::sync::Mutex::new(tokens));
        self.alias(refresh_token, &slot);
    }

    /// The fresh access token of the sign-in of `refresh_token`, refreshing it with
    /// `refresh` (given the latest refresh token) when it is stale or unknown.
    pub async fn access_token<F, Fut>(
        &self,
        refresh_token: &str,
        refresh: F,
    ) -> Result<String, UpstreamError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<TokenAnswer, UpstreamError>>,
    {
        let slot = self.slot(refresh_token);
        let mut tokens = slot.lock().await;
        if let Some(access) = tokens.fresh_access() {
            return Ok(access);
        }
        self.adopt_shared(refresh_token, &mut tokens).await;
        if let Some(access) = tokens.fresh_access() {
            let latest = tokens.refresh_token.clone();
            drop(tokens);
            self.alias(&latest, &slot);
            return Ok(access);
        }
        let answer = refresh(tokens.refresh_token.clone()).await?;
        let access = answer.access_token.clone();
        tokens.store(answer);
        self.save_shared(refresh_token, &tokens).await;
        let latest = tokens.refresh_token.clone();
        drop(tokens);
        self.alias(&latest, &slot);
        Ok(access)
    }

    /// Refreshes the sign-in of `refresh_token` now, whatever the cached token's age,
    /// and gives its latest refresh token (filed under it too).
    pub async fn rotate<F, Fut>(
        &self,
        refresh_token: &str,
        refresh: F,
    ) -> Result<String, UpstreamError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<TokenAnswer, UpstreamError>>,
    {
        let slot = self.slot(refresh_token);
        let mut tokens = slot.lock().await;
        self.adopt_shared(refresh_token, &mut tokens).await;
        let answer = refresh(tokens.refresh_token.clone()).await?;
        tokens.store(answer);
        self.save_shared(refresh_token, &tokens).await;
        let latest = tokens.refresh_token.clone();
        drop(tokens);
        self.alias(&latest, &slot);
        Ok(latest)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().expect("cache lock").len()
    }
}

/// Drops entries until one more fits: stale or idle slots first, then any.
fn make_room(slots: &mut HashMap<Key, Slot>, max_entries: usize) {
    let stale: Vec<Key> = slots
        .iter()
        .filter(|(_, slot)| {
            slot.try_lock()
                .map(|tokens| tokens.fresh_access().is_none())
                .unwrap_or(false)
        })
        .map(|(key, _)| *key)
        .collect();
    for key in stale {
        if slots.len() < max_entries {
            return;
        }
        slots.remove(&key);
    }
    while slots.len() >= max_entries {
        let Some(key) = slots.keys().next().copied() else {
            return;
        };
        slots.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn answer(access: &str, refresh: Option<&str>, expires_in: u64) -> TokenAnswer {
        TokenAnswer {
            access_token: access.into(),
            refresh_token: refresh.map(str::to_string),
            id_token: None,
            expires_in: Some(expires_in),
        }
    }

    /// Many requests of one sign-in with a stale token make one refresh, and all get
    /// its token; the next request uses the cache.
    #[tokio::test]
    async fn one_refresh_is_in_flight_per_sign_in() {
        let cache = Arc::new(AccessTokenCache::new(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut waiting = Vec::new();
        for _ in 0..8 {
            let (cache, calls) = (cache.clone(), calls.clone());
            waiting.push(tokio::spawn(async move {
                cache
                    .access_token("rt-1", |_| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(answer("at-1", None, 3600))
                    })
                    .await
            }));
        }
        for task in waiting {
            assert_eq!(task.await.unwrap().unwrap(), "at-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let cached = cache
            .access_token("rt-1", |_| async { panic!("no second refresh") })
            .await;
        assert_eq!(cached.unwrap(), "at-1");
    }

    /// A rotated refresh token is used for the next refresh, and tokens sealed with
    /// either the old or the new one find the same sign-in.
    #[tokio::test]
    async fn rotated_refresh_tokens_are_kept_and_found_under_both() {
        let cache = AccessTokenCache::new(10);
        let latest = cache
            .rotate("rt-1", |rt| {
                assert_eq!(rt, "rt-1");
                async { Ok(answer("at-2", Some("rt-2"), 0)) }
            })
            .await
            .unwrap();
        assert_eq!(latest, "rt-2");
        // A zero lifetime is stale at once: the next request refreshes with rt-2.
        let token = cache
            .access_token("rt-1", |rt| {
                assert_eq!(rt, "rt-2", "the latest refresh token is used");
                async { Ok(answer("at-3", Some("rt-3"), 3600)) }
            })
            .await
            .unwrap();
        assert_eq!(token, "at-3");
        let by_new = cache
            .access_token("rt-3", |_| async { panic!("found under the new token") })
            .await;
        assert_eq!(by_new.unwrap(), "at-3");
    }

    /// A refused refresh is passed on and caches nothing.
    #[tokio::test]
    async fn a_refused_refresh_is_an_error_and_not_cached() {
        let cache = AccessTokenCache::new(10);
        let refused = cache
            .access_token("rt", |_| async {
                Err(UpstreamError::InvalidGrant("invalid_grant".into()))
            })
            .await;
        assert_eq!(
            refused,
            Err(UpstreamError::InvalidGrant("invalid_grant".into()))
        );
        let next = cache
            .access_token("rt", |_| async { Ok(answer("at", None, 3600)) })
            .await;
        assert_eq!(next.unwrap(), "at");
    }

    /// The cache never holds more entries than its bound.
    #[tokio::test]
    async fn the_cache_is_bounded() {
        let cache = AccessTokenCache::new(3);
        for i in 0..10 {
            cache
                .remember(&format!("rt-{i}"), "at", Duration::from_secs(3600))
                .await;
        }
        assert_eq!(cache.len(), 3);
    }
}
