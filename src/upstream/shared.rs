//! The upstream token cache shared between instances through the shared store (Redis,
//! with `REDIS_URL`): each sign-in's access token, until when it is fresh, and its latest
//! refresh token, encrypted (JWE `dir`/A256GCM under a key derived from ENCRYPTION_KEYS)
//! and filed under the same HMAC of a refresh token as in memory. So an instance that
//! did not refresh a sign-in uses the token another one got, and the refresh token a
//! rotating provider handed to that other instance. Best effort: a store that does not
//! answer is logged and the instance goes on with its own cache. Refreshes of one sign-in
//! on two instances at the same moment are not prevented.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use josekit::jwe::{Dir, JweHeader};
use serde::{Deserialize, Serialize};

use crate::shared_store::SharedStore;

/// A sign-in's tokens as other instances see them.
#[derive(Serialize, Deserialize)]
pub(crate) struct SharedTokens {
    /// The store key this record was put under (a record moved to another key is refused).
    key: String,
    pub access_token: String,
    /// Unix milliseconds until which `access_token` is used.
    fresh_until_ms: u64,
    pub refresh_token: String,
}

impl SharedTokens {
    pub fn fresh_until(&self) -> Option<Instant> {
        let until = UNIX_EPOCH + Duration::from_millis(self.fresh_until_ms);
        let left = until.duration_since(SystemTime::now()).ok()?;
        Some(Instant::now() + left)
    }
}

/// The shared half of the cache.
pub struct SharedCache {
    store: Arc<dyn SharedStore>,
    seal_key: [u8; 32],
    /// How long a record is kept: the provider's refresh tokens outlive their access tokens.
    ttl: Duration,
}

impl SharedCache {
    pub fn new(store: Arc<dyn SharedStore>, seal_key: [u8; 32], ttl: Duration) -> Self {
        SharedCache {
            store,
            seal_key,
            ttl,
        }
    }

    fn store_key(key: &[u8; 32]) -> String {
        format!("upstream:{}", hex(key))
    }

    /// The record filed under `key`, if any and readable.
    pub(crate) async fn load(&self, key: &[u8; 32]) -> Option<SharedTokens> {
        let name = Self::store_key(key);
        let sealed = match self.store.get_shared(&name).await {
            Ok(found) => found?,
            Err(error) => {
                tracing::warn!(%error, "the shared store did not give the upstream token cache");
                return None;
            }
        };
        self.open(&name, &sealed)
    }

    /// The record `sealed` under the store key `name`: refused when it does not decrypt
    /// with this deployment's key or was sealed for another key.
    fn open(&self, name: &str, sealed: &str) -> Option<SharedTokens> {
        let decrypter = Dir.decrypter_from_bytes(self.seal_key).ok()?;
        let (payload, _) = josekit::jwe::deserialize_compact(sealed, &decrypter).ok()?;
        let record: SharedTokens = serde_json::from_slice(&payload).ok()?;
        (record.key == name).then_some(record)
    }

    /// Files the tokens under each of `keys`.
    pub(crate) async fn save(
        &self,
        keys: &[[u8; 32]],
        access_token: &str,
        fresh_until: Instant,
        refresh_token: &str,
    ) {
        let left = fresh_until.saturating_duration_since(Instant::now());
        let fresh_until_ms = (SystemTime::now() + left)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        for key in keys {
            let record = SharedTokens {
                key: Self::store_key(key),
                access_token: access_token.to_string(),
                fresh_until_ms,
                refresh_token: refresh_token.to_string(),
            };
            let Some(sealed) = self.seal(&record) else {
                return;
            };
            if let Err(error) = self.store.put_shared(&record.key, &sealed, self.ttl).await {
                tracing::warn!(%error, "the shared store did not keep the upstream token cache");
                return;
            }
        }
    }

    fn seal(&self, record: &SharedTokens) -> Option<String> {
        let payload = serde_json::to_vec(record).ok()?;
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        let encrypter = Dir.encrypter_from_bytes(self.seal_key).ok()?;
        josekit::jwe::serialize_compact(&payload, &header, &encrypter).ok()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(seal_key: u8) -> SharedCache {
        let store = crate::shared_store::memory::MemoryStore::default();
        SharedCache::new(Arc::new(store), [seal_key; 32], Duration::from_secs(60))
    }

    fn record(key: &[u8; 32]) -> SharedTokens {
        SharedTokens {
            key: SharedCache::store_key(key),
            access_token: "at-1".into(),
            fresh_until_ms: 4_000_000_000_000,
            refresh_token: "rt-2".into(),
        }
    }

    /// A record opens under its own key with the deployment's key, and under no other
    /// store key nor with another deployment's key; its text holds no token in clear.
    #[test]
    fn records_open_only_where_and_by_whom_they_were_sealed() {
        let (ours, theirs) = (cache(1), cache(2));
        let key = [7u8; 32];
        let sealed = ours.seal(&record(&key)).unwrap();
        assert!(!sealed.contains("at-1") && !sealed.contains("rt-2"));
        let name = SharedCache::store_key(&key);
        let opened = ours.open(&name, &sealed).unwrap();
        assert_eq!(
            (opened.access_token.as_str(), opened.refresh_token.as_str()),
            ("at-1", "rt-2")
        );
        assert!(opened.fresh_until().is_some());
        assert!(
            ours.open(&SharedCache::store_key(&[8u8; 32]), &sealed)
                .is_none()
        );
        assert!(theirs.open(&name, &sealed).is_none());
    }
}
