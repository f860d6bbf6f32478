//! The shared store's behaviour, written once and run against both backends: the in-memory
//! store (on a paused clock) and Redis (the stack's redis-server, a key prefix per test).
//! Also: a Redis that is down or goes away gives a clean `StoreError` quickly, comes back
//! by itself, and an unreachable `REDIS_URL` stops the server at start-up with a reason.

use crate::common;

use std::net::IpAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mail_mcp::cli::{Cli, Command};
use mail_mcp::config::Config;
use mail_mcp::shared_store::{
    Accounts, LimitError, LoginLimiter, LoginLimits, MemoryStore, Outcome, RedisStore,
    RefreshVerdict, SharedStore, StoreError,
};
use tokio_util::sync::CancellationToken;

const MINUTE: Duration = Duration::from_secs(60);
/// Short enough to wait for against a real Redis.
const SHORT: Duration = Duration::from_millis(300);

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---- the suite: one async fn per behaviour, taking any store -------------------------

async fn consume_once_is_true_once(store: &dyn SharedStore) {
    let code = id();
    assert!(store.consume_once(&code, MINUTE).await.unwrap());
    assert!(!store.consume_once(&code, MINUTE).await.unwrap());
    assert!(!store.consume_once(&code, MINUTE).await.unwrap());
    assert!(store.consume_once(&id(), MINUTE).await.unwrap());
}

/// A single-use mark is taken once; later takers learn the first outcome, and of racing
/// takers exactly one wins (an approval never runs twice).
async fn a_mark_is_taken_once_and_tells_the_first_outcome(store: Arc<dyn SharedStore>) {
    let mark = id();
    assert_eq!(
        store.take_once(&mark, "approved", MINUTE).await.unwrap(),
        None
    );
    for outcome in ["approved", "cancelled"] {
        let again = store.take_once(&mark, outcome, MINUTE).await.unwrap();
        assert_eq!(again.as_deref(), Some("approved"));
    }
    let other = id();
    assert_eq!(
        store.take_once(&other, "cancelled", SHORT).await.unwrap(),
        None
    );
    let racing = id();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, racing) = (store.clone(), racing.clone());
        tasks.push(tokio::spawn(async move {
            store.take_once(&racing, "approved", MINUTE).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap().is_none());
    }
    assert_eq!(winners, 1, "exactly one racing taker wins");
    tokio::time::sleep(SHORT * 2).await;
    assert_eq!(
        store.take_once(&other, "approved", MINUTE).await.unwrap(),
        None,
        "a mark is forgotten after its ttl"
    );
}

async fn a_stale_refresh_token_revokes_its_family(store: &dyn SharedStore) {
    let (family, first, second, third) = (id(), id(), id(), id());
    assert!(store.start_family(&family, &first, MINUTE).await.unwrap());
    assert!(
        !store.start_family(&family, &first, MINUTE).await.unwrap(),
        "a family starts once"
    );
    let expected = [
        (&first, &second, RefreshVerdict::Fresh),
        (&second, &third, RefreshVerdict::Fresh),
        (&first, &second, RefreshVerdict::Reused),
        (&third, &id(), RefreshVerdict::FamilyRevoked),
        (&first, &id(), RefreshVerdict::FamilyRevoked),
    ];
    for (presented, next, verdict) in expected {
        let got = store
            .rotate_refresh(&family, presented, next, MINUTE)
            .await
            .unwrap();
        assert_eq!(got, verdict, "{presented}");
    }
    let other = store.rotate_refresh(&id(), &first, &second, MINUTE).await;
    assert_eq!(
        other.unwrap(),
        RefreshVerdict::Fresh,
        "an unknown family is adopted"
    );
    let (revoked, unknown) = (id(), id());
    store.revoke_family(&unknown, MINUTE).await.unwrap();
    assert!(
        store.start_family(&unknown, &first, MINUTE).await.unwrap(),
        "nothing stored"
    );
    store.start_family(&revoked, &first, MINUTE).await.unwrap();
    store.revoke_family(&revoked, MINUTE).await.unwrap();
    assert!(!store.start_family(&revoked, &first, MINUTE).await.unwrap());
    let after = store
        .rotate_refresh(&revoked, &first, &second, MINUTE)
        .await;
    assert_eq!(after.unwrap(), RefreshVerdict::FamilyRevoked);
}

async fn concurrent_uses_yield_exactly_one_winner(store: Arc<dyn SharedStore>) {
    const N: usize = 50;
    let (family, jti, code) = (id(), id(), id());
    store.start_family(&family, &jti, MINUTE).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (store, family, jti, code) = (store.clone(), family.clone(), jti.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            let verdict = store
                .rotate_refresh(&family, &jti, &id(), MINUTE)
                .await
                .unwrap();
            let consumed = store.consume_once(&code, MINUTE).await.unwrap();
            (verdict, consumed)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let verdicts = |v| results.iter().filter(|(x, _)| *x == v).count();
    assert_eq!(verdicts(RefreshVerdict::Fresh), 1);
    assert_eq!(verdicts(RefreshVerdict::Reused), 1);
    assert_eq!(verdicts(RefreshVerdict::FamilyRevoked), N - 2);
    assert_eq!(results.iter().filter(|(_, c)| *c).count(), 1);
}

async fn concurrent_hits_are_all_counted(store: Arc<dyn SharedStore>) {
    let key = id();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.hit(&key, MINUTE).await.unwrap().count })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=40).collect::<Vec<u64>>());
    assert_eq!(store.peek(&key).await.unwrap().unwrap().count, 40);
}

async fn a_window_counts_then_expires(store: &dyn SharedStore) {
    let key = id();
    assert_eq!(store.peek(&key).await.unwrap(), None);
    let first = store.hit(&key, SHORT).await.unwrap();
    assert_eq!(first.count, 1);
    assert!(
        first.resets_in <= SHORT && !first.resets_in.is_zero(),
        "{first:?}"
    );
    let second = store.hit(&key, SHORT).await.unwrap();
    assert_eq!(second.count, 2);
    assert!(
        second.resets_in <= first.resets_in,
        "the window does not restart"
    );
    let peeked = store.peek(&key).await.unwrap().unwrap();
    assert_eq!(peeked.count, 2);
    tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
    assert_eq!(store.peek(&key).await.unwrap(), None);
    assert_eq!(store.hit(&key, SHORT).await.unwrap().count, 1);
}

async fn an_unhit_takes_one_back_never_below_zero(store: &dyn SharedStore) {
    let key = id();
    store.unhit(&key).await.unwrap();
    assert_eq!(
        store.peek(&key).await.unwrap(),
        None,
        "no window is started"
    );
    store.hit(&key, MINUTE).await.unwrap();
    store.hit(&key, MINUTE).await.unwrap();
    store.unhit(&key).await.unwrap();
    let after = store.peek(&key).await.unwrap().unwrap();
    assert_eq!(after.count, 1);
    assert!(!after.resets_in.is_zero(), "the window keeps its end");
    store.unhit(&key).await.unwrap();
    store.unhit(&key).await.unwrap();
    assert_eq!(store.peek(&key).await.unwrap().unwrap().count, 0);
}

async fn used_ids_and_families_are_forgotten_after_their_ttl(store: &dyn SharedStore) {
    let (code, family, jti) = (id(), id(), id());
    assert!(store.consume_once(&code, SHORT).await.unwrap());
    store.start_family(&family, &jti, SHORT).await.unwrap();
    let reused = store
        .rotate_refresh(&family, &id(), &id(), SHORT)
        .await
        .unwrap();
    assert_eq!(reused, RefreshVerdict::Reused);
    tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
    assert!(store.consume_once(&code, SHORT).await.unwrap());
    assert!(store.start_family(&family, &jti, SHORT).await.unwrap());
}

/// Records (the MCP tasks' state) are read back as put, replaced in place, and gone after
/// their TTL.
async fn records_are_read_back_replaced_and_expire(store: &dyn SharedStore) {
    let key = format!("task:{}", id());
    assert_eq!(store.get_record(&key).await.unwrap(), None);
    store.put_record(&key, "{\"n\":1}", SHORT).await.unwrap();
    store.put_record(&key, "{\"n\":2}", SHORT).await.unwrap();
    assert_eq!(
        store.get_record(&key).await.unwrap().as_deref(),
        Some("{\"n\":2}")
    );
    tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
    assert_eq!(store.get_record(&key).await.unwrap(), None);
}

/// A record is claimed by exactly one of racing calls, the others see its value; a claim
/// leaves a live record unchanged, and once it is removed (or expired) it can be claimed
/// again (the outbox's record of sends begun).
async fn a_record_is_claimed_once_until_removed(store: Arc<dyn SharedStore>) {
    let key = format!("send:{}", id());
    let claims = (0..8).map(|n| {
        let (store, key) = (store.clone(), key.clone());
        tokio::spawn(async move { store.claim_record(&key, &format!("c{n}"), MINUTE).await })
    });
    let winners = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter(|claim| claim.as_ref().unwrap().as_ref().unwrap().is_none())
        .count();
    assert_eq!(winners, 1, "exactly one claim wins");
    let held = store.get_record(&key).await.unwrap().unwrap();
    assert_eq!(
        store.claim_record(&key, "late", MINUTE).await.unwrap(),
        Some(held.clone())
    );
    assert_eq!(store.get_record(&key).await.unwrap(), Some(held));
    store.remove_record(&key).await.unwrap();
    store.remove_record(&key).await.unwrap();
    assert_eq!(store.get_record(&key).await.unwrap(), None);
    assert_eq!(
        store.claim_record(&key, "again", SHORT).await.unwrap(),
        None
    );
    tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
    assert_eq!(
        store.claim_record(&key, "later", SHORT).await.unwrap(),
        None
    );
}

async fn the_login_limiter_blocks_and_says_when_to_retry(store: Arc<dyn SharedStore>) {
    let limits = LoginLimits {
        per_ip: 3,
        per_account: 2,
        window: MINUTE,
        ..LoginLimits::default()
    };
    let limiter = LoginLimiter::new(store, limits);
    let ip: IpAddr = "192.0.2.10".parse().unwrap();
    let failed = Outcome {
        imap_ok: false,
        smtp_ok: None,
    };
    let (host, user) = (id(), id());
    let fail = async |from: IpAddr, user: &str| {
        let accounts = Accounts {
            imap: (host.as_str(), user),
            smtp: (host.as_str(), user),
        };
        let attempt = limiter.begin(from, accounts).await;
        match attempt {
            Ok(attempt) => attempt.finish(failed).await.map(Err).unwrap_or(Ok(())),
            Err(refused) => Err(refused),
        }
    };
    fail(ip, &user).await.unwrap();
    let second = fail(ip, &user).await;
    assert!(
        matches!(second, Err(LimitError::RetryAfter(w)) if w <= MINUTE),
        "{second:?}"
    );
    let third = fail(ip, &user).await;
    assert!(
        matches!(third, Err(LimitError::RetryAfter(w)) if !w.is_zero()),
        "{third:?}"
    );
    // Another account from the same IP has one failure left before the IP is blocked.
    let other = fail(ip, &id()).await;
    assert!(matches!(other, Err(LimitError::RetryAfter(_))), "{other:?}");
    let ip_blocked = fail(ip, &id()).await;
    assert!(
        matches!(ip_blocked, Err(LimitError::RetryAfter(_))),
        "{ip_blocked:?}"
    );
    let elsewhere: IpAddr = "192.0.2.11".parse().unwrap();
    fail(elsewhere, &id()).await.unwrap();
}

/// `family_revoked` is true only for a family revoked by a stale refresh token or by
/// `revoke_family` (what the MCP endpoint refuses access tokens for): not for a live
/// family, one that rotated, one ended without a refresh token, or one never stored.
async fn only_revoked_families_are_reported_revoked(store: &dyn SharedStore) {
    let (live, stale, replayed, ended) = (id(), id(), id(), id());
    let (first, second) = (id(), id());
    for family in [&live, &stale, &replayed] {
        store.start_family(family, &first, MINUTE).await.unwrap();
    }
    store.start_family(&ended, "!ended", MINUTE).await.unwrap();
    store
        .rotate_refresh(&live, &first, &second, MINUTE)
        .await
        .unwrap();
    store
        .rotate_refresh(&stale, &second, &id(), MINUTE)
        .await
        .unwrap();
    store.revoke_family(&replayed, MINUTE).await.unwrap();
    let expected = [
        (&live, false),
        (&stale, true),
        (&replayed, true),
        (&ended, false),
        (&id(), false),
    ];
    for (family, revoked) in expected {
        assert_eq!(store.family_revoked(family).await.unwrap(), revoked);
    }
}

/// Every behaviour above, against one store.
async fn suite(store: Arc<dyn SharedStore>) {
    store.ping().await.unwrap();
    consume_once_is_true_once(store.as_ref()).await;
    a_mark_is_taken_once_and_tells_the_first_outcome(store.clone()).await;
    a_stale_refresh_token_revokes_its_family(store.as_ref()).await;
    only_revoked_families_are_reported_revoked(store.as_ref()).await;
    concurrent_uses_yield_exactly_one_winner(store.clone()).await;
    concurrent_hits_are_all_counted(store.clone()).await;
    a_window_counts_then_expires(store.as_ref()).await;
    used_ids_and_families_are_forgotten_after_their_ttl(store.as_ref()).await;
    an_unhit_takes_one_back_never_below_zero(store.as_ref()).await;
    records_are_read_back_replaced_and_expire(store.as_ref()).await;
    a_record_is_claimed_once_until_removed(store.clone()).await;
    the_login_limiter_blocks_and_says_when_to_retry(store).await;
}

// ---- the backends ---------------------------------------------------------------------

async fn redis_store() -> RedisStore {
    let prefix = format!("mail_mcp_test:{}:", id());
    RedisStore::connect(&common::stack().redis_url, &prefix)
        .await
        .expect("the stack's redis answers")
}

/// The memory store on a paused clock: waiting for expiry takes no time.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn memory_store_passes_the_suite() {
    suite(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_passes_the_suite() {
    suite(Arc::new(redis_store().await)).await;
}

/// `shared_store::open` picks Redis for a URL (and writes under the `mail_mcp:` prefix).
#[tokio::test]
async fn open_with_a_url_uses_redis_under_the_mail_mcp_prefix() {
    let url = &common::stack().redis_url;
    let store = mail_mcp::shared_store::open(Some(url)).await.unwrap();
    let code = id();
    assert!(store.consume_once(&code, MINUTE).await.unwrap());
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("mail_mcp:once:{code}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "PTTL {ttl}");
}

// ---- Redis down -----------------------------------------------------------------------

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_redis_that_is_down_is_a_clean_error_at_once() {
    let port = closed_port().await;
    let started = Instant::now();
    let err = RedisStore::connect(&format!("redis://:hunter2@127.0.0.1:{port}"), "t:")
        .await
        .err()
        .expect("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password stays out: {message}"
    );
    let bad = RedisStore::connect("http://example.com", "t:").await.err();
    assert!(matches!(bad, Some(StoreError::BadUrl(_))), "{bad:?}");
}

#[tokio::test]
async fn an_unreachable_redis_url_stops_the_server_at_start_up() {
    let port = closed_port().await;
    let url = format!("redis://127.0.0.1:{port}");
    let key = mail_mcp::token::Keyring::encode_key(&mail_mcp::token::Keyring::generate_key());
    let data_dir = std::env::temp_dir().join(format!("mail_mcp-store-{}", id()));
    let argv = [
        "mail_mcp",
        "server",
        "--encryption-keys",
        &key,
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--redis-url",
        &url,
    ];
    let Command::Server(args) = Cli::parse_from(argv).command else {
        unreachable!("parsed a server command")
    };
    let config = Config::from_args(*args).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        mail_mcp::app::run(listener, config, CancellationToken::new()),
    )
    .await
    .expect("start-up fails, it does not hang");
    let message = result.expect_err("no Redis, no server").to_string();
    assert!(message.starts_with("REDIS_URL: "), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}

/// A redis-server of this test's own, on a free port.
struct OwnRedis {
    child: tokio::process::Child,
    port: u16,
}

impl OwnRedis {
    async fn start(port: u16) -> OwnRedis {
        let child = tokio::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (bin/install-deps)");
        common::eventually("redis-server listens", async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        OwnRedis { child, port }
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// A Redis that goes away mid-run gives errors, not hangs; when it is back, so is the store.
#[tokio::test]
async fn the_store_survives_redis_going_away_and_coming_back() {
    let redis = OwnRedis::start(closed_port().await).await;
    let port = redis.port;
    let store = RedisStore::connect(&format!("redis://127.0.0.1:{port}"), "t:")
        .await
        .unwrap();
    assert!(store.consume_once("a", MINUTE).await.unwrap());
    redis.stop().await;
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.consume_once("b", MINUTE).await.err();
        assert!(
            matches!(err, Some(StoreError::Unavailable { .. })),
            "{err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    let _redis = OwnRedis::start(port).await;
    let reconnected = async || store.ping().await.is_ok();
    common::eventually_within("the store reconnects", Duration::from_secs(15), reconnected).await;
    assert!(store.consume_once("b", MINUTE).await.unwrap());
}
