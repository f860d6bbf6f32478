//! The Redis [`SharedStore`], for several instances behind a load balancer (`REDIS_URL`).
//! One reconnecting `ConnectionManager` (multiplexed, cheap to clone) serves every request;
//! every key starts with a prefix (`mail_mcp:` by default) and has a TTL; a refresh family
//! is one key. Each operation is one atomic
//! command or Lua script, and is bounded in time (REDIS_TIMEOUT, 3 s by default): a Redis that is down or stalled
//! yields a [`StoreError::Unavailable`] within it, never a hang or a panic. Error text
//! names the server's host and port only, never the URL (it may carry a password).

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};

use super::{RefreshVerdict, SharedStore, StoreError, Window, keys, millis};

/// Time allowed for a whole operation, reconnection attempts included (REDIS_TIMEOUT's
/// default); one connection attempt or one command's answer gets at most two thirds of it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Compare-and-set of a family's one key. `KEYS[1]` the family, `ARGV[1]` the presented
/// token id, `ARGV[2]` the next one, `ARGV[3]` the revoked value, `ARGV[4]` ttl in ms.
/// Returns 0 fresh (next is current; also for a family Redis no longer knows), 1 stale
/// (family now revoked), 2 revoked earlier.
const ROTATE_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current == ARGV[3] then return 2 end
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
";

/// A single-use mark: `KEYS[1]` the mark, `ARGV[1]` the outcome, `ARGV[2]` ttl in ms.
/// Returns the outcome already there, or false after setting it (one atomic script:
/// `SET NX GET` needs Redis 7).
const TAKE_SCRIPT: &str = r"
local taken = redis.call('GET', KEYS[1])
if taken then return taken end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";

/// `KEYS[1]` counter, `ARGV[1]` window in ms. Returns `{count, ms until the window ends}`.
const HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// `KEYS[1]` counter. Takes one hit back, never below zero, keeping the expiry (DECRBY
/// keeps a key's TTL); a missing key stays missing. Returns the count after it.
const UNHIT_SCRIPT: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]))
if count == nil then return 0 end
if count <= 0 then return 0 end
return redis.call('DECRBY', KEYS[1], 1)
";

/// The Redis-backed store.
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    /// `host:port` of the server, for error messages.
    addr: String,
    rotate: Script,
    take: Script,
    hit: Script,
    unhit: Script,
    /// Time allowed for one operation.
    timeout: Duration,
}

/// `SET key value NX PX ttl`: true when the key did not exist and is now set.
async fn set_new(
    mut conn: ConnectionManager,
    key: String,
    value: &str,
    ttl: Duration,
) -> Result<bool, RedisError> {
    let set: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("NX")
        .arg("PX")
        .arg(millis(ttl))
        .query_async(&mut conn)
        .await?;
    Ok(set.is_some())
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`, or `rediss://`) and checks
    /// that it answers PING. Every key gets `prefix`; operations are bounded by
    /// [`DEFAULT_TIMEOUT`].
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        Self::connect_with_timeout(url, prefix, DEFAULT_TIMEOUT).await
    }

    /// [`connect`](Self::connect) with every operation (connecting included) bounded by
    /// `timeout` (REDIS_TIMEOUT): a Redis that is down or accepts and never answers gives
    /// [`StoreError::Unavailable`] after at most that long.
    pub async fn connect_with_timeout(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<RedisStore, StoreError> {
        let client = Client::open(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
        let addr = client.get_connection_info().addr().to_string();
        let step = timeout * 2 / 3;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(step))
            .set_response_timeout(Some(step))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let unavailable = |reason: String| StoreError::Unavailable {
            addr: addr.clone(),
            reason,
        };
        let conn =
            tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| unavailable(format!("no connection within {timeout:?}")))?
                .map_err(|e| unavailable(e.to_string()))?;
        let store = RedisStore {
            conn,
            prefix: prefix.to_string(),
            addr,
            rotate: Script::new(ROTATE_SCRIPT),
            take: Script::new(TAKE_SCRIPT),
            hit: Script::new(HIT_SCRIPT),
            unhit: Script::new(UNHIT_SCRIPT),
            timeout,
        };
        store.ping().await?;
        Ok(store)
    }

    fn key(&self, name: String) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Runs one operation on a clone of the connection, bounded by the store's timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, op(self.conn.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.unavailable(e.to_string())),
            Err(_) => Err(self.unavailable(format!("no answer within {timeout:?}"))),
        }
    }

    fn unavailable(&self, reason: String) -> StoreError {
        StoreError::Unavailable {
            addr: self.addr.clone(),
            reason,
        }
    }
}

#[async_trait]
impl SharedStore for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let pong: String = self
            .run(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await?;
        match pong.as_str() {
            "PONG" => Ok(()),
            other => Err(self.unavailable(format!("PING answered {other:?}"))),
        }
    }

    async fn consume_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.key(keys::once(id));
        self.run(|c| set_new(c, key, "1", ttl)).await
    }

    async fn take_once(
        &self,
        id: &str,
        outcome: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let key = self.key(keys::mark(id));
        let script = &self.take;
        self.run(|mut c| async move {
            let mut call = script.key(key);
            call.arg(outcome).arg(millis(ttl));
            call.invoke_async(&mut c).await
        })
        .await
    }

    async fn start_family(
        &self,
        family: &str,
        current: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = self.key(keys::family(family));
        self.run(|c| set_new(c, key, current, ttl)).await
    }

    async fn rotate_refresh(
        &self,
        family: &str,
        presented: &str,
        next: &str,
        ttl: Duration,
    ) -> Result<RefreshVerdict, StoreError> {
        let key = self.key(keys::family(family));
        let code: i64 = self
            .run(|mut c| async move {
                let mut call = self.rotate.key(key);
                call.arg(presented)
                    .arg(next)
                    .arg(keys::REVOKED)
                    .arg(millis(ttl));
                call.invoke_async(&mut c).await
            })
            .await?;
        match code {
            0 => Ok(RefreshVerdict::Fresh),
            1 => Ok(RefreshVerdict::Reused),
            2 => Ok(RefreshVerdict::FamilyRevoked),
            other => Err(self.unavailable(format!("rotate script returned {other}"))),
        }
    }

    async fn revoke_family(&self, family: &str, ttl: Duration) -> Result<(), StoreError> {
        let key = self.key(keys::family(family));
        let _set: Option<String> = self
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(keys::REVOKED)
                    .arg("XX")
                    .arg("PX")
                    .arg(millis(ttl))
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn get_shared(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = self.key(keys::shared(key));
        self.run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await
    }

    async fn put_shared(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let key = self.key(keys::shared(key));
        self.run(|mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(millis(ttl))
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn get_record(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = self.key(keys::record(key));
        self.run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await
    }

    async fn put_record(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let key = self.key(keys::record(key));
        self.run(|mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(millis(ttl))
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn claim_record(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let key = self.key(keys::record(key));
        let script = &self.take;
        self.run(|mut c| async move {
            let mut call = script.key(key);
            call.arg(value).arg(millis(ttl));
            call.invoke_async(&mut c).await
        })
        .await
    }

    async fn remove_record(&self, key: &str) -> Result<(), StoreError> {
        let key = self.key(keys::record(key));
        self.run(|mut c| async move { redis::cmd("DEL").arg(key).query_async::<()>(&mut c).await })
            .await
    }

    async fn family_revoked(&self, family: &str) -> Result<bool, StoreError> {
        let key = self.key(keys::family(family));
        let value: Option<String> = self
            .run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await?;
        Ok(value.as_deref() == Some(keys::REVOKED))
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<Window, StoreError> {
        let key = self.key(keys::hits(key));
        let (count, ttl): (u64, u64) = self
            .run(|mut c| async move {
                let mut call = self.hit.key(key);
                call.arg(millis(window));
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(Window {
            count,
            resets_in: Duration::from_millis(ttl),
        })
    }

    async fn peek(&self, key: &str) -> Result<Option<Window>, StoreError> {
        let key = self.key(keys::hits(key));
        let (count, ttl): (Option<u64>, i64) = self
            .run(|mut c| async move {
                redis::pipe()
                    .atomic()
                    .get(&key)
                    .pttl(&key)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(match (count, u64::try_from(ttl)) {
            (Some(count), Ok(ms)) if ms > 0 => Some(Window {
                count,
                resets_in: Duration::from_millis(ms),
            }),
            _ => None,
        })
    }

    async fn unhit(&self, key: &str) -> Result<(), StoreError> {
        let key = self.key(keys::hits(key));
        let _: i64 = self
            .run(|mut c| async move { self.unhit.key(key).invoke_async(&mut c).await })
            .await?;
        Ok(())
    }
}
