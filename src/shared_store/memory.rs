//! The in-memory [`SharedStore`]: right for one instance (the default without `REDIS_URL`),
//! wrong for several (each would keep its own view). One `std::sync::Mutex` around the
//! records makes every operation atomic; the lock is never held across an `.await`.
//! Expired records are dropped lazily. Each kind of record has its own bound, so that one
//! kind cannot crowd out another, and the whole store is bounded:
//!
//! - code markers ([`Capacities::codes`]): when full, the marker that was stored first is
//!   forgotten and every code expiring no later than it is refused from then on (a
//!   "floor"), so a flood of codes can shorten how long an unused code stays usable but
//!   can never make a used code usable again, and never makes the store refuse.
//! - refresh families ([`Capacities::families`]): one record per sign-in, rotated in
//!   place. When full, the family refreshed least recently is forgotten; it is adopted
//!   again at its next refresh (nobody is signed out; only reuse detection for that family
//!   starts over). Revoked families are never forgotten before they expire; a map full of
//!   revoked families refuses new sign-ins ([`StoreError::Full`]).
//! - single-use marks ([`Capacities::marks`]): when full of live marks, new ones are
//!   refused (the approval is refused, never run twice).
//! - records ([`Capacities::records`], the MCP tasks' state): when full of live records,
//!   new ones are refused (no task is started rather than one forgotten while it runs).
//! - counters ([`Capacities::counters`]): when full of live windows, new ones are refused;
//!   a scan for expired ones runs at most once per soonest expiry, so a flood costs one
//!   scan, not one per request.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{RefreshVerdict, SharedStore, StoreError, Window, keys};

/// How many records of each kind the store keeps at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacities {
    /// Markers of used authorization codes (each lives for its code's remaining lifetime).
    pub codes: usize,
    /// Refresh families (one per sign-in, kept for the refresh token lifetime).
    pub families: usize,
    /// Rate-limit windows (logins, token requests).
    pub counters: usize,
    /// Single-use marks of approvals (each lives for its approval's remaining lifetime).
    pub marks: usize,
    /// Small records read back by key (the MCP tasks' state, each for its task's TTL).
    pub records: usize,
}

impl Capacities {
    /// The same bound for every kind.
    pub fn all(n: usize) -> Capacities {
        Capacities {
            codes: n,
            families: n,
            counters: n,
            marks: n,
            records: n,
        }
    }
}

/// Records of each kind kept at most by default (MEMORY_STORE_MAX_ENTRIES).
pub const DEFAULT_CAPACITY: usize = 100_000;

impl Default for Capacities {
    fn default() -> Self {
        Capacities::all(DEFAULT_CAPACITY)
    }
}

/// Margin added to the code floor: a replayed code's expiry is recomputed from its
/// remaining lifetime, and the wall clock that lifetime comes from may drift a little
/// against this store's monotonic clock between the two computations.
const FLOOR_MARGIN: Duration = Duration::from_secs(1);

/// The in-memory store. Uses Tokio's clock, so tests can pause and advance time.
pub struct MemoryStore {
    inner: Mutex<Records>,
}

struct Entry<V> {
    value: V,
    expires: Instant,
}

struct Records {
    codes: CodeMarkers,
    families: Bounded<String>,
    counters: Bounded<u64>,
    marks: Bounded<String>,
    records: Bounded<String>,
}

/// A map of live entries with a capacity; refuses new keys when full of live entries.
struct Bounded<V> {
    map: HashMap<String, Entry<V>>,
    capacity: usize,
    /// Set when a scan found the map full of live entries: no room before this instant.
    full_until: Option<Instant>,
}

/// Used-code markers in the order they were stored, forgetting the oldest when full.
struct CodeMarkers {
    expiry: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
    capacity: usize,
    /// Codes expiring no later than this are refused: their marker may have been forgotten.
    floor: Option<Instant>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::with_capacities(Capacities::default())
    }

    /// A store that holds at most `capacity` records of each kind.
    pub fn with_capacity(capacity: usize) -> MemoryStore {
        MemoryStore::with_capacities(Capacities::all(capacity))
    }

    pub fn with_capacities(capacities: Capacities) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Records {
                codes: CodeMarkers {
                    expiry: HashMap::new(),
                    order: VecDeque::new(),
                    capacity: capacities.codes.max(1),
                    floor: None,
                },
                families: Bounded::new(capacities.families),
                counters: Bounded::new(capacities.counters),
                marks: Bounded::new(capacities.marks),
                records: Bounded::new(capacities.records),
            }),
        }
    }

    /// Records held now, live or expired but not yet dropped, over every kind.
    pub fn len(&self) -> usize {
        self.with(|r, _| {
            r.codes.expiry.len()
                + r.families.map.len()
                + r.counters.map.len()
                + r.marks.map.len()
                + r.records.map.len()
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` on the records under the lock, with the current time.
    fn with<T>(&self, f: impl FnOnce(&mut Records, Instant) -> T) -> T {
        let mut records = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut records, Instant::now())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl<V> Bounded<V> {
    fn new(capacity: usize) -> Bounded<V> {
        Bounded {
            map: HashMap::new(),
            capacity: capacity.max(1),
            full_until: None,
        }
    }

    /// The live entry for `key`; an expired one is removed.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry<V>> {
        if self.map.get(key).is_some_and(|e| e.expires <= now) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    /// Stores `key`, making room first if it is new.
    fn insert(&mut self, key: String, entry: Entry<V>, now: Instant) -> Result<(), StoreError> {
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
}

impl CodeMarkers {
    fn consume_once(&mut self, id: &str, ttl: Duration, now: Instant) -> bool {
        let expires = now + ttl.max(Duration::from_millis(1));
        if self.floor.is_some_and(|floor| expires <= floor) {
            return false;
        }
        if self.expiry.get(id).is_some_and(|&e| e > now) {
            return false;
        }
        self.drop_expired_front(now);
        while self.expiry.len() >= self.capacity {
            self.forget_oldest();
        }
        self.expiry.insert(id.to_string(), expires);
        self.order.push_back((expires, id.to_string()));
        true
    }

    /// Drops markers from the front of the order while they have expired.
    fn drop_expired_front(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(e, _)| *e <= now) {
            self.pop_front();
        }
    }

    /// Forgets the oldest marker and raises the floor above its expiry.
    fn forget_oldest(&mut self) {
        if let Some(expires) = self.pop_front() {
            let raised = expires + FLOOR_MARGIN;
            self.floor = Some(self.floor.map_or(raised, |f| f.max(raised)));
        }
    }

    /// Removes the front of the order (and its marker, unless the id was stored again).
    fn pop_front(&mut self) -> Option<Instant> {
        let (expires, id) = self.order.pop_front()?;
        if self.expiry.get(&id) == Some(&expires) {
            self.expiry.remove(&id);
        }
        Some(expires)
    }
}

impl Records {
    fn start_family(
        &mut self,
        family: &str,
        current: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<bool, StoreError> {
        let key = keys::family(family);
        if self.families.live(&key, now).is_some() {
            return Ok(false);
        }
        self.insert_family(key, entry(current.to_string(), now, ttl), now)?;
        Ok(true)
    }

    /// Stores a family record, forgetting the least recently refreshed live family (never
    /// a revoked one) when the map is full.
    fn insert_family(
        &mut self,
        key: String,
        record: Entry<String>,
        now: Instant,
    ) -> Result<(), StoreError> {
        let families = &mut self.families;
        if families.map.contains_key(&key) || families.make_room(now).is_ok() {
            families.map.insert(key, record);
            return Ok(());
        }
        let oldest = families
            .map
            .iter()
            .filter(|(_, e)| e.value != keys::REVOKED)
            .min_by_key(|(_, e)| e.expires)
            .map(|(k, _)| k.clone());
        let Some(oldest) = oldest else {
            return Err(StoreError::Full(families.map.len()));
        };
        families.map.remove(&oldest);
        families.full_until = None;
        families.map.insert(key, record);
        Ok(())
    }

    fn rotate_refresh(
        &mut self,
        family: &str,
        presented: &str,
        next: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<RefreshVerdict, StoreError> {
        let key = keys::family(family);
        let (verdict, value) = match self.families.live(&key, now) {
            Some(e) if e.value == keys::REVOKED => return Ok(RefreshVerdict::FamilyRevoked),
            Some(e) if e.value != presented => (RefreshVerdict::Reused, keys::REVOKED),
            _ => (RefreshVerdict::Fresh, next),
        };
        self.insert_family(key, entry(value.to_string(), now, ttl), now)?;
        Ok(verdict)
    }

    fn revoke_family(
        &mut self,
        family: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<(), StoreError> {
        let key = keys::family(family);
        if self.families.live(&key, now).is_none() {
            return Ok(());
        }
        let revoked = entry(keys::REVOKED.to_string(), now, ttl);
        self.insert_family(key, revoked, now)
    }

    fn hit(&mut self, key: &str, window: Duration, now: Instant) -> Result<Window, StoreError> {
        let key = keys::hits(key);
        if let Some(e) = self.counters.live(&key, now) {
            e.value += 1;
            return Ok(window_of(e, now));
        }
        let e = entry(1, now, window);
        let result = window_of(&e, now);
        self.counters.insert(key, e, now)?;
        Ok(result)
    }

    fn take_once(
        &mut self,
        id: &str,
        outcome: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<Option<String>, StoreError> {
        let key = keys::mark(id);
        if let Some(taken) = self.marks.live(&key, now) {
            return Ok(Some(taken.value.clone()));
        }
        self.marks
            .insert(key, entry(outcome.to_string(), now, ttl), now)?;
        Ok(None)
    }

    fn peek(&mut self, key: &str, now: Instant) -> Option<Window> {
        self.counters
            .live(&keys::hits(key), now)
            .map(|e| window_of(e, now))
    }

    fn unhit(&mut self, key: &str, now: Instant) {
        if let Some(e) = self.counters.live(&keys::hits(key), now) {
            e.value = e.value.saturating_sub(1);
        }
    }
}

fn entry<V>(value: V, now: Instant, ttl: Duration) -> Entry<V> {
    Entry {
        value,
        expires: now + ttl.max(Duration::from_millis(1)),
    }
}

fn window_of(e: &Entry<u64>, now: Instant) -> Window {
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
        Ok(self.with(|r, now| r.codes.consume_once(&keys::once(id), ttl, now)))
    }

    async fn take_once(
        &self,
        id: &str,
        outcome: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        self.with(|r, now| r.take_once(id, outcome, ttl, now))
    }

    async fn start_family(
        &self,
        family: &str,
        current: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.with(|r, now| r.start_family(family, current, ttl, now))
    }

    async fn rotate_refresh(
        &self,
        family: &str,
        presented: &str,
        next: &str,
        ttl: Duration,
    ) -> Result<RefreshVerdict, StoreError> {
        self.with(|r, now| r.rotate_refresh(family, presented, next, ttl, now))
    }

    async fn revoke_family(&self, family: &str, ttl: Duration) -> Result<(), StoreError> {
        self.with(|r, now| r.revoke_family(family, ttl, now))
    }

    async fn get_record(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.with(|r, now| {
            r.records
                .live(&keys::record(key), now)
                .map(|e| e.value.clone())
        }))
    }

    async fn put_record(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.with(|r, now| {
            r.records
                .insert(keys::record(key), entry(value.to_string(), now, ttl), now)
        })
    }

    async fn claim_record(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        self.with(|r, now| {
            let key = keys::record(key);
            if let Some(held) = r.records.live(&key, now) {
                return Ok(Some(held.value.clone()));
            }
            r.records
                .insert(key, entry(value.to_string(), now, ttl), now)
                .map(|()| None)
        })
    }

    async fn remove_record(&self, key: &str) -> Result<(), StoreError> {
        self.with(|r, _| {
            r.records.map.remove(&keys::record(key));
        });
        Ok(())
    }

    async fn family_revoked(&self, family: &str) -> Result<bool, StoreError> {
        Ok(self.with(|r, now| {
            r.families
                .live(&keys::family(family), now)
                .is_some_and(|e| e.value == keys::REVOKED)
        }))
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<Window, StoreError> {
        self.with(|r, now| r.hit(key, window, now))
    }

    async fn peek(&self, key: &str) -> Result<Option<Window>, StoreError> {
        Ok(self.with(|r, now| r.peek(key, now)))
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

    /// Compare-and-set: only the current token rotates; a stale one revokes the family.
    #[tokio::test]
    async fn a_stale_refresh_token_revokes_its_family() {
        let store = MemoryStore::new();
        assert!(store.start_family("fam", "r1", MINUTE).await.unwrap());
        let rotate = |presented, next| store.rotate_refresh("fam", presented, next, MINUTE);
        assert_eq!(rotate("r1", "r2").await.unwrap(), RefreshVerdict::Fresh);
        assert_eq!(rotate("r2", "r3").await.unwrap(), RefreshVerdict::Fresh);
        assert_eq!(rotate("r1", "x").await.unwrap(), RefreshVerdict::Reused);
        assert_eq!(
            rotate("r3", "r4").await.unwrap(),
            RefreshVerdict::FamilyRevoked
        );
        assert_eq!(
            rotate("x", "y").await.unwrap(),
            RefreshVerdict::FamilyRevoked
        );
        let other = store.rotate_refresh("other", "r1", "r2", MINUTE).await;
        assert_eq!(
            other.unwrap(),
            RefreshVerdict::Fresh,
            "an unknown family is adopted"
        );
    }

    /// Thousands of rotations keep one record: refreshing does not grow the store.
    #[tokio::test]
    async fn rotations_keep_one_record_per_family() {
        let store = MemoryStore::with_capacity(1);
        assert!(store.start_family("fam", "0", MINUTE).await.unwrap());
        for n in 0..5000u32 {
            let (presented, next) = (n.to_string(), (n + 1).to_string());
            let verdict = store.rotate_refresh("fam", &presented, &next, MINUTE).await;
            assert_eq!(verdict.unwrap(), RefreshVerdict::Fresh);
        }
        assert_eq!(store.len(), 1);
    }

    /// Revoking stops every later refresh and start; revoking an unknown family stores nothing.
    #[tokio::test]
    async fn a_revoked_family_stays_revoked_and_unknown_ones_are_not_stored() {
        let store = MemoryStore::new();
        store.revoke_family("unknown", MINUTE).await.unwrap();
        assert!(store.is_empty());
        store.start_family("fam", "r1", MINUTE).await.unwrap();
        store.revoke_family("fam", MINUTE).await.unwrap();
        assert!(!store.start_family("fam", "r1", MINUTE).await.unwrap());
        let verdict = store.rotate_refresh("fam", "r1", "r2", MINUTE).await;
        assert_eq!(verdict.unwrap(), RefreshVerdict::FamilyRevoked);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_uses_of_one_refresh_token_yield_one_fresh() {
        let store = Arc::new(MemoryStore::new());
        store.start_family("fam", "r1", MINUTE).await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let next = format!("next-{n}");
                    store.rotate_refresh("fam", "r1", &next, MINUTE).await
                })
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
    async fn full_counters_refuse_new_windows_until_some_expire() {
        tokio::time::pause();
        let store = MemoryStore::with_capacity(2);
        store.hit("a", MINUTE).await.unwrap();
        store.hit("k", 2 * MINUTE).await.unwrap();
        let full = store.hit("c", MINUTE).await;
        assert!(matches!(full, Err(StoreError::Full(2))), "{full:?}");
        // Known windows still count.
        assert_eq!(store.hit("k", 2 * MINUTE).await.unwrap().count, 2);
        tokio::time::advance(MINUTE).await;
        assert_eq!(store.hit("c", MINUTE).await.unwrap().count, 1);
    }

    /// Records are kept up to their bound: a full store refuses a new key (never forgets a
    /// live record), still replaces a known one, and takes new ones once some expired.
    #[tokio::test]
    async fn full_records_refuse_new_keys_until_some_expire() {
        tokio::time::pause();
        let store = MemoryStore::with_capacity(2);
        store.put_record("a", "1", MINUTE).await.unwrap();
        store.put_record("b", "2", 2 * MINUTE).await.unwrap();
        let full = store.put_record("c", "3", MINUTE).await;
        assert!(matches!(full, Err(StoreError::Full(2))), "{full:?}");
        store.put_record("a", "1+", MINUTE).await.unwrap();
        assert_eq!(store.get_record("a").await.unwrap().as_deref(), Some("1+"));
        tokio::time::advance(MINUTE).await;
        assert_eq!(store.get_record("a").await.unwrap(), None);
        store.put_record("c", "3", MINUTE).await.unwrap();
        assert_eq!(store.get_record("b").await.unwrap().as_deref(), Some("2"));
    }

    /// A flood of codes never makes the store refuse, and never makes a used code usable:
    /// forgetting the oldest marker refuses every code expiring no later than it.
    #[tokio::test]
    async fn a_flood_of_codes_forgets_markers_but_never_accepts_a_used_code_again() {
        tokio::time::pause();
        let store = MemoryStore::with_capacity(10);
        assert!(store.consume_once("victim", 5 * MINUTE).await.unwrap());
        let step = Duration::from_millis(200);
        for n in 0..1000 {
            tokio::time::advance(step).await;
            let id = format!("flood-{n}");
            assert!(store.consume_once(&id, 5 * MINUTE).await.unwrap(), "{id}");
        }
        assert!(store.len() <= 10);
        // The victim's marker is gone, yet its code (expiring at the same instant) is refused.
        let replay = store.consume_once("victim", 5 * MINUTE - 1000 * step);
        assert!(!replay.await.unwrap());
        let flood_0 = store.consume_once("flood-0", 5 * MINUTE - 999 * step);
        assert!(!flood_0.await.unwrap());
        // A code exchanged as it is issued still works during the flood.
        assert!(store.consume_once("late", 5 * MINUTE).await.unwrap());
        assert!(!store.consume_once("late", 5 * MINUTE).await.unwrap());
    }

    /// A full family map forgets the least recently refreshed family, whose next refresh
    /// adopts it again; revoked families stay revoked, and only they can fill the map.
    #[tokio::test]
    async fn a_full_family_map_forgets_the_idlest_family_but_never_a_revoked_one() {
        tokio::time::pause();
        let store = MemoryStore::with_capacity(2);
        assert!(store.start_family("idle", "i1", MINUTE).await.unwrap());
        assert!(store.start_family("bad", "b1", MINUTE).await.unwrap());
        store.revoke_family("bad", MINUTE).await.unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(store.start_family("new", "n1", MINUTE).await.unwrap());
        assert_eq!(store.len(), 2);
        let bad = store.rotate_refresh("bad", "x", "y", MINUTE).await.unwrap();
        assert_eq!(bad, RefreshVerdict::FamilyRevoked);
        let idle = store
            .rotate_refresh("idle", "i1", "i2", MINUTE)
            .await
            .unwrap();
        assert_eq!(
            idle,
            RefreshVerdict::Fresh,
            "the forgotten family is adopted"
        );
        assert!(store.start_family("worse", "w1", MINUTE).await.unwrap());
        store.revoke_family("worse", MINUTE).await.unwrap();
        let full = store.start_family("more", "m1", MINUTE).await;
        assert!(matches!(full, Err(StoreError::Full(2))), "{full:?}");
    }
}
