//! The in-memory [`SharedStore`]: right for one instance (the default without `REDIS_URL`),
//! wrong for several (each would keep its own view). One `std::sync::Mutex` around one map
//! of keys with expiry makes every operation atomic; the lock is never held across an
//! `.await`. Expired entries are dropped lazily: when read, and all at once when the map
//! reaches its capacity. A map full of live entries refuses new ones ([`StoreError::Full`])
//! rather than grow without bound or forget a used code; it does not rescan before the
//! soonest entry expires, so a flood costs one scan, not one per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{RefreshVerdict, SharedStore, StoreError, Window, keys};

/// Entries kept at most, live or expired, unless [`MemoryStore::with_capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The in-memory store. Uses Tokio's clock, so tests can pause and advance time.
pub struct MemoryStore {
    inner: Mutex<Entries>,
}

struct Entry {
    value: u64,
    expires: Instant,
}

struct Entries {
    map: HashMap<String, Entry>,
    capacity: usize,
    /// Set when a scan found the map full of live entries: no room before this instant.
    full_until: Option<Instant>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store that holds at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                capacity: capacity.max(1),
                full_until: None,
            }),
        }
    }

    /// Runs `f` on the entries under the lock, with the current time.
    fn with<T>(&self, f: impl FnOnce(&mut Entries, Instant) -> T) -> T {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut entries, Instant::now())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl Entries {
    /// The live entry for `key`; an expired one is removed.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.map.get(key).is_some_and(|e| e.expires <= now) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    /// Stores `key`, making room first if it is new.
    fn insert(&mut self, key: String, entry: Entry, now: Instant) -> Result<(), StoreError> {
        if !self.map.contains_key(&key) {
            self.make_room(now)?;
        }
        self.map.insert(key, entry);
        Ok(())
    }

    /// Drops expired entries when at capacity; refuses when every entry is still live.
    fn make_room(&mut self, now: Instant) -> Result<(), StoreError> {
        if self.map.len() < self.capacity {
            return Ok(());
        }
        if self.full_until.is_some_and(|until| now < until) {
            return Err(StoreError::Full(self.map.len()));
        }
        self.map.retain(|_, e| e.expires > now);
        if self.map.len() < self.capacity {
            self.full_until = None;
            return Ok(());
        }
        self.full_until = self.map.values().map(|e| e.expires).min();
        Err(StoreError::Full(self.map.len()))
    }

    fn consume_once(&mut self, id: &str, ttl: Duration, now: Instant) -> Result<bool, StoreError> {
        let key = keys::once(id);
        if self.live(&key, now).is_some() {
            return Ok(false);
        }
        self.insert(key, entry(1, now, ttl), now)?;
        Ok(true)
    }

    fn rotate_refresh(
        &mut self,
        family: &str,
        jti: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<RefreshVerdict, StoreError> {
        let revoked = keys::revoked(family);
        if self.live(&revoked, now).is_some() {
            return Ok(RefreshVerdict::FamilyRevoked);
        }
        let used = keys::used(family, jti);
        if self.live(&used, now).is_some() {
            // The revocation marker replaces the used marker, so it always finds room.
            self.map.remove(&used);
            self.insert(revoked, entry(1, now, ttl), now)?;
            return Ok(RefreshVerdict::Reused);
        }
        self.insert(used, entry(1, now, ttl), now)?;
        Ok(RefreshVerdict::Fresh)
    }

    fn hit(&mut self, key: &str, window: Duration, now: Instant) -> Result<Window, StoreError> {
        let key = keys::hits(key);
        if let Some(e) = self.live(&key, now) {
            e.value += 1;
            return Ok(window_of(e, now));
        }
        let e = entry(1, now, window);
        let result = window_of(&e, now);
        self.insert(key, e, now)?;
        Ok(result)
    }

    fn peek(&mut self, key: &str, now: Instant) -> Option<Window> {
        self.live(&keys::hits(key), now).map(|e| window_of(e, now))
    }

    fn unhit(&mut self, key: &str, now: Instant) {
        if let Some(e) = self.live(&keys::hits(key), now) {
            e.value = e.value.saturating_sub(1);
        }
    }
}

fn entry(value: u64, now: Instant, ttl: Duration) -> Entry {
    Entry {
        value,
        expires: now + ttl.max(Duration::from_millis(1)),
    }
}

fn window_of(e: &Entry, now: Instant) -> Window {
    Window {
        count: e.value,
        resets_in: e.expires.saturating_duration_since(now),
    }
}

#[async_trait]
impl SharedStore for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn consume_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.with(|e, now| e.consume_once(id, ttl, now))
    }

    async fn rotate_refresh(
        &self,
        family: &str,
        jti: &str,
        ttl: Duration,
    ) -> Result<RefreshVerdict, StoreError> {
        self.with(|e, now| e.rotate_refresh(family, jti, ttl, now))
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<Window, StoreError> {
        self.with(|e, now| e.hit(key, window, now))
    }

    async fn peek(&self, key: &str) -> Result<Option<Window>, StoreError> {
        Ok(self.with(|e, now| e.peek(key, now)))
    }

    async fn unhit(&self, key: &str) -> Result<(), StoreError> {
        self.with(|e, now| e.unhit(key, now));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn an_id_is_consumed_once_until_its_ttl_passes() {
        tokio::time::pause();
        let store = MemoryStore::new();
        assert!(store.consume_once("code-1", MINUTE).await.unwrap());
        assert!(!store.consume_once("code-1", MINUTE).await.unwrap());
        assert!(store.consume_once("code-2", MINUTE).await.unwrap());
        tokio::time::advance(MINUTE).await;
        assert!(store.consume_once("code-1", MINUTE).await.unwrap());
    }

    #[tokio::test]
    async fn a_reused_refresh_token_revokes_its_family() {
        let store = MemoryStore::new();
        let rotate = |jti| store.rotate_refresh("fam", jti, MINUTE);
        assert_eq!(rotate("r1").await.unwrap(), RefreshVerdict::Fresh);
        assert_eq!(rotate("r2").await.unwrap(), RefreshVerdict::Fresh);
        assert_eq!(rotate("r1").await.unwrap(), RefreshVerdict::Reused);
        assert_eq!(rotate("r3").await.unwrap(), RefreshVerdict::FamilyRevoked);
        assert_eq!(rotate("r1").await.unwrap(), RefreshVerdict::FamilyRevoked);
        let other = store.rotate_refresh("other", "r1", MINUTE).await.unwrap();
        assert_eq!(other, RefreshVerdict::Fresh);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_uses_of_one_refresh_token_yield_one_fresh() {
        let store = Arc::new(MemoryStore::new());
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.rotate_refresh("fam", "r1", MINUTE).await })
            })
            .collect();
        let mut verdicts = Vec::new();
        for task in tasks {
            verdicts.push(task.await.unwrap().unwrap());
        }
        let count = |v| verdicts.iter().filter(|&&x| x == v).count();
        assert_eq!(count(RefreshVerdict::Fresh), 1);
        assert_eq!(count(RefreshVerdict::Reused), 1);
        assert_eq!(count(RefreshVerdict::FamilyRevoked), 62);
    }

    #[tokio::test]
    async fn a_window_counts_hits_and_resets_when_it_ends() {
        tokio::time::pause();
        let store = MemoryStore::new();
        assert_eq!(store.peek("k").await.unwrap(), None);
        let first = store.hit("k", MINUTE).await.unwrap();
        assert_eq!(
            first,
            Window {
                count: 1,
                resets_in: MINUTE
            }
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        let second = store.hit("k", MINUTE).await.unwrap();
        assert_eq!(second.count, 2);
        assert_eq!(second.resets_in, Duration::from_secs(40));
        assert_eq!(store.peek("k").await.unwrap(), Some(second));
        tokio::time::advance(Duration::from_secs(40)).await;
        assert_eq!(store.peek("k").await.unwrap(), None);
        assert_eq!(store.hit("k", MINUTE).await.unwrap().count, 1);
    }

    #[tokio::test]
    async fn an_unhit_takes_one_back_never_below_zero_and_keeps_the_window_end() {
        tokio::time::pause();
        let store = MemoryStore::new();
        store.unhit("k").await.unwrap();
        assert_eq!(store.peek("k").await.unwrap(), None);
        store.hit("k", MINUTE).await.unwrap();
        store.hit("k", MINUTE).await.unwrap();
        tokio::time::advance(Duration::from_secs(20)).await;
        store.unhit("k").await.unwrap();
        let after = store.peek("k").await.unwrap().unwrap();
        assert_eq!(after.count, 1);
        assert_eq!(after.resets_in, Duration::from_secs(40));
        store.unhit("k").await.unwrap();
        store.unhit("k").await.unwrap();
        assert_eq!(store.peek("k").await.unwrap().unwrap().count, 0);
        assert_eq!(store.hit("k", MINUTE).await.unwrap().count, 1);
    }

    #[tokio::test]
    async fn a_full_store_refuses_new_entries_until_some_expire() {
        tokio::time::pause();
        let store = MemoryStore::with_capacity(3);
        for id in ["a", "b"] {
            assert!(store.consume_once(id, MINUTE).await.unwrap());
        }
        store.hit("k", 2 * MINUTE).await.unwrap();
        let full = store.consume_once("c", MINUTE).await;
        assert!(matches!(full, Err(StoreError::Full(3))), "{full:?}");
        // Known entries still answer: a used code stays used, a counter still counts.
        assert!(!store.consume_once("a", MINUTE).await.unwrap());
        assert_eq!(store.hit("k", 2 * MINUTE).await.unwrap().count, 2);
        tokio::time::advance(MINUTE).await;
        assert!(store.consume_once("c", MINUTE).await.unwrap());
        assert_eq!(store.inner.lock().unwrap().map.len(), 2);
    }

    #[tokio::test]
    async fn revoking_a_family_in_a_full_store_still_succeeds() {
        let store = MemoryStore::with_capacity(1);
        assert_eq!(
            store.rotate_refresh("fam", "r1", MINUTE).await.unwrap(),
            RefreshVerdict::Fresh
        );
        assert_eq!(
            store.rotate_refresh("fam", "r1", MINUTE).await.unwrap(),
            RefreshVerdict::Reused
        );
        assert_eq!(
            store.rotate_refresh("fam", "r2", MINUTE).await.unwrap(),
            RefreshVerdict::FamilyRevoked
        );
    }
}
