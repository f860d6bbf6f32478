//! Warm IMAP sessions: a bounded, in-memory pool of logged-in connections that
//! [`super::Imap::session`] takes from and [`super::ImapSession::logout`] gives back to, so
//! that a stateless server does not pay TCP + TLS + LOGIN (+ SELECT) on every call.
//!
//! What it owns, and the rules it keeps:
//! - Sessions are keyed by an HMAC-SHA-256 (with a random per-process secret) of host, port,
//!   security, whether the host must be public, username and password: the password is
//!   never kept in clear as a key, the key cannot be tested offline, and two tokens share
//!   sessions only when every one of those fields matches (a host a person typed, checked
//!   to be public on every connection, never gets a session opened without that check). Nothing is written anywhere; a restart loses only speed.
//! - A session serves one call at a time (it is moved out of the pool while in use).
//! - Per account, at most `per_account` calls run at once, which also bounds that account's
//!   connections (idle + in use); further calls wait for one to finish. In total at most
//!   `max` connections are open; the oldest idle one is closed to make room.
//! - A call that finds no idle session of its account waits to log in (for a connection
//!   and a login permit), but takes a session of its account parked meanwhile when that
//!   comes first: in a burst of cold calls, an account's later calls share the sessions of
//!   its first instead of each queueing for a login of its own.
//! - Every session taken from the pool is checked with NOOP first (which also shows new
//!   mail): one that fails is dropped and another, or a fresh one, is used instead.
//! - Broken sessions are never given back; nor are sessions older than [`MAX_SESSION_AGE`].
//! - An authentication failure for a key evicts every session of that key, idle or in use:
//!   a changed password stops working at once for all warm sessions.
//! - A reaper task closes sessions idle longer than `idle`; [`Pool::shutdown`] stops it
//!   and logs out every idle session.
//!
//! This module does not connect or speak IMAP itself beyond closing sessions: opening
//! connections stays in `connect.rs`, the folder state of a session in `session.rs`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::session::ImapSession;
use crate::mail::account::ServerLogin;
use crate::mail::error::{MailError, Protocol};
pub use crate::mail::reuse::{KeyMaker, MAX_SESSION_AGE, PoolKey, PoolSettings};

/// How long closing one session (LOGOUT) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the pool has done so far; for tests, the benchmark and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// New connections logged in.
    pub logins: u64,
    /// Calls served by a warm session.
    pub reused: u64,
    /// Warm sessions that failed their NOOP check and were replaced.
    pub failed_checks: u64,
    /// Sessions closed because their key failed to authenticate.
    pub evicted: u64,
    /// Sessions closed by the reaper (idle too long or too old) or to make room.
    pub expired: u64,
    /// Sessions idle in the pool now.
    pub idle: usize,
    /// Accounts the pool knows now (idle sessions or calls running).
    pub accounts: usize,
}

#[derive(Default)]
struct Counters {
    logins: AtomicU64,
    reused: AtomicU64,
    failed_checks: AtomicU64,
    evicted: AtomicU64,
    expired: AtomicU64,
}

/// A session's tie to the pool: which key it serves, its permits, its age.
pub(crate) struct Lease {
    pool: Weak<Shared>,
    key: PoolKey,
    generation: u64,
    /// Held while a call uses the session: the per-account bound.
    call: Option<OwnedSemaphorePermit>,
    /// Held for the connection's whole life: the global bound.
    connection: Option<OwnedSemaphorePermit>,
    /// Counts the session among its account's, for as long as it lives.
    _counted: SessionCount,
    born: Instant,
    idle_since: Instant,
}

/// A call's right to run for an account: the per-account permit, taken before a session.
pub(crate) struct CallSlot {
    key: PoolKey,
    generation: u64,
    permit: OwnedSemaphorePermit,
}

/// The pool. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    settings: PoolSettings,
    keys: KeyMaker,
    state: Mutex<State>,
    connections: Arc<Semaphore>,
    counters: Counters,
    shutdown: CancellationToken,
    reaper_started: AtomicBool,
}

#[derive(Default)]
struct State {
    accounts: HashMap<PoolKey, Account>,
    closed: bool,
}

struct Account {
    calls: Arc<Semaphore>,
    /// Idle sessions, the most recently used last.
    idle: Vec<ImapSession>,
    /// Bumped when the key fails to authenticate: sessions of older generations are closed.
    generation: u64,
    /// What calls waiting to log in watch: sessions parked, sessions alive.
    watch: AccountWatch,
}

/// What a call waiting to log in watches of its account: a signal each time one of its
/// sessions is parked (to take it instead), and how many of its sessions are alive or
/// logging in (an account that has one need not jump the login queue for another).
#[derive(Clone, Default)]
pub(crate) struct AccountWatch {
    parked: Arc<Notify>,
    sessions: Arc<AtomicUsize>,
}

impl AccountWatch {
    pub(crate) fn parked(&self) -> &Notify {
        &self.parked
    }

    /// Whether the account has a session, in use, idle or logging in.
    pub(crate) fn has_session(&self) -> bool {
        self.sessions.load(Ordering::Acquire) > 0
    }

    /// Counts a login of the account from now until the returned count is dropped.
    pub(crate) fn count_login(&self) -> SessionCount {
        self.sessions.fetch_add(1, Ordering::AcqRel);
        SessionCount(Arc::clone(&self.sessions))
    }
}

/// One session (or login in progress) of an account, counted until dropped.
pub(crate) struct SessionCount(Arc<AtomicUsize>);

impl Drop for SessionCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("settings", &self.shared.settings)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pool {
    pub fn new(settings: PoolSettings) -> Self {
        let settings = PoolSettings {
            per_account: settings.per_account.max(1),
            max: settings.max.max(1),
            ..settings
        };
        Pool {
            shared: Arc::new(Shared {
                settings,
                keys: KeyMaker::new(),
                state: Mutex::new(State::default()),
                connections: Arc::new(Semaphore::new(settings.max)),
                counters: Counters::default(),
                shutdown: CancellationToken::new(),
                reaper_started: AtomicBool::new(false),
            }),
        }
    }

    pub fn settings(&self) -> PoolSettings {
        self.shared.settings
    }

    pub(crate) fn key(&self, login: &ServerLogin) -> PoolKey {
        self.shared.keys.key(login)
    }

    pub fn stats(&self) -> PoolStats {
        let c = &self.shared.counters;
        let (idle, accounts) = {
            let state = self.shared.lock();
            let idle = state.accounts.values().map(|a| a.idle.len()).sum();
            (idle, state.accounts.len())
        };
        PoolStats {
            logins: c.logins.load(Ordering::Relaxed),
            reused: c.reused.load(Ordering::Relaxed),
            failed_checks: c.failed_checks.load(Ordering::Relaxed),
            evicted: c.evicted.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            idle,
            accounts,
        }
    }

    /// Waits (at most `wait`) until a call of `key` may run.
    pub(crate) async fn call_slot(
        &self,
        key: PoolKey,
        wait: Duration,
        server: &str,
    ) -> Result<CallSlot, MailError> {
        let calls = {
            let mut state = self.shared.lock();
            let per_account = self.shared.settings.per_account;
            Arc::clone(
                &state
                    .accounts
                    .entry(key)
                    .or_insert_with(|| Account {
                        calls: Arc::new(Semaphore::new(per_account)),
                        idle: Vec::new(),
                        generation: 0,
                        watch: AccountWatch::default(),
                    })
                    .calls,
            )
        };
        let permit = match calls.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => tokio::time::timeout(wait, calls.acquire_owned())
                .await
                .map_err(|_| {
                    MailError::busy(
                        Protocol::Imap,
                        server,
                        wait,
                        &format!(
                            "one of this account's {} connections to be free",
                            self.shared.settings.per_account
                        ),
                    )
                })?
                .map_err(|_| MailError::Protocol("the server is shutting down".into()))?,
        };
        let generation = self.shared.generation(&key);
        Ok(CallSlot {
            key,
            generation,
            permit,
        })
    }

    /// The most recently used idle session of the slot's key, now leased to the slot's call.
    /// The caller still has to check it (NOOP) before use. Gives the slot back when there
    /// is none.
    pub(crate) fn take_idle(&self, slot: CallSlot) -> Result<ImapSession, CallSlot> {
        let found = {
            let mut state = self.shared.lock();
            state
                .accounts
                .get_mut(&slot.key)
                .and_then(|account| account.idle.pop())
        };
        match found {
            Some(mut session) => {
                if let Some(lease) = session.lease_mut() {
                    lease.call = Some(slot.permit);
                }
                Ok(session)
            }
            None => Err(slot),
        }
    }

    /// What a call holding `slot` watches of its account while it waits to log in.
    pub(crate) fn watch(&self, slot: &CallSlot) -> AccountWatch {
        let state = self.shared.lock();
        match state.accounts.get(&slot.key) {
            Some(account) => account.watch.clone(),
            // The slot keeps its account in the map; a lone watch just never fires.
            None => AccountWatch::default(),
        }
    }

    /// Takes the call permit back from a session that failed its check, and closes it.
    pub(crate) fn discard_checked_out(&self, mut session: ImapSession) -> Option<CallSlot> {
        self.shared
            .counters
            .failed_checks
            .fetch_add(1, Ordering::Relaxed);
        let lease = session.lease_mut()?;
        let permit = lease.call.take()?;
        let slot = CallSlot {
            key: lease.key,
            generation: lease.generation,
            permit,
        };
        drop(session);
        Some(slot)
    }

    /// Counts a warm session handed out.
    pub(crate) fn note_reused(&self) {
        self.shared.counters.reused.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection permit (global bound), closing the oldest idle session of any account
    /// when none is free; waits at most `wait` when every connection is in use.
    pub(crate) async fn connection_permit(
        &self,
        wait: Duration,
        server: &str,
    ) -> Result<OwnedSemaphorePermit, MailError> {
        loop {
            if let Ok(permit) = self.shared.connections.clone().try_acquire_owned() {
                return Ok(permit);
            }
            match self.shared.take_oldest_idle() {
                Some(mut oldest) => {
                    self.shared.counters.expired.fetch_add(1, Ordering::Relaxed);
                    // Free the permit now; the LOGOUT may take a while.
                    if let Some(lease) = oldest.lease_mut() {
                        lease.connection = None;
                    }
                    spawn_close(vec![oldest]);
                }
                None => {
                    let connections = self.shared.connections.clone();
                    return tokio::time::timeout(wait, connections.acquire_owned())
                        .await
                        .map_err(|_| {
                            MailError::busy(
                                Protocol::Imap,
                                server,
                                wait,
                                "a free connection (this service's limit of open IMAP \
                                 connections is reached)",
                            )
                        })?
                        .map_err(|_| MailError::Protocol("the server is shutting down".into()));
                }
            }
        }
    }

    /// The lease of a newly logged-in session.
    pub(crate) fn lease(&self, slot: CallSlot, connection: OwnedSemaphorePermit) -> Lease {
        self.shared.counters.logins.fetch_add(1, Ordering::Relaxed);
        let counted = self.watch(&slot).count_login();
        let now = Instant::now();
        Lease {
            _counted: counted,
            pool: Arc::downgrade(&self.shared),
            key: slot.key,
            generation: slot.generation,
            call: Some(slot.permit),
            connection: Some(connection),
            born: now,
            idle_since: now,
        }
    }

    /// The key failed to authenticate: closes its idle sessions and makes sure those in
    /// use are closed when given back.
    pub(crate) fn auth_failed(&self, key: PoolKey) {
        let evicted = {
            let mut state = self.shared.lock();
            match state.accounts.get_mut(&key) {
                Some(account) => {
                    account.generation += 1;
                    std::mem::take(&mut account.idle)
                }
                None => Vec::new(),
            }
        };
        if !evicted.is_empty() {
            self.shared
                .counters
                .evicted
                .fetch_add(evicted.len() as u64, Ordering::Relaxed);
            tracing::debug!(
                sessions = evicted.len(),
                "IMAP login refused: warm sessions closed"
            );
            spawn_close(evicted);
        }
    }

    /// Stops the reaper and logs out every idle session; sessions in use are closed when
    /// given back.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        let idle: Vec<ImapSession> = {
            let mut state = self.shared.lock();
            state.closed = true;
            state
                .accounts
                .values_mut()
                .flat_map(|a| std::mem::take(&mut a.idle))
                .collect()
        };
        close_all(idle).await;
    }

    /// Closes every idle session that expired by `now`; what the reaper does each round.
    pub async fn reap(&self, now: Instant) {
        let expired = self.shared.take_expired(now);
        self.shared
            .counters
            .expired
            .fetch_add(expired.len() as u64, Ordering::Relaxed);
        close_all(expired).await;
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn generation(&self, key: &PoolKey) -> u64 {
        self.lock()
            .accounts
            .get(key)
            .map_or(0, |account| account.generation)
    }

    fn take_oldest_idle(&self) -> Option<ImapSession> {
        let mut state = self.lock();
        let (key, index) = state
            .accounts
            .iter()
            .flat_map(|(key, account)| {
                account
                    .idle
                    .iter()
                    .enumerate()
                    .map(move |(i, s)| (*key, i, s.idle_since()))
            })
            .min_by_key(|(_, _, since)| *since)
            .map(|(key, i, _)| (key, i))?;
        Some(state.accounts.get_mut(&key)?.idle.remove(index))
    }

    /// Removes idle sessions past their idle time or age, and accounts with nothing left.
    fn take_expired(&self, now: Instant) -> Vec<ImapSession> {
        let idle_limit = self.settings.idle;
        let mut state = self.lock();
        let mut expired = Vec::new();
        state.accounts.retain(|_, account| {
            let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut account.idle)
                .into_iter()
                .partition(|s| {
                    now.saturating_duration_since(s.idle_since()) < idle_limit
                        && now.saturating_duration_since(s.born()) < MAX_SESSION_AGE
                });
            account.idle = keep;
            expired.extend(gone);
            // Only the map holds the semaphore: no call runs or waits for this account.
            !account.idle.is_empty() || Arc::strong_count(&account.calls) > 1
        });
        expired
    }

    /// Parks a healthy session; hands it back (to be closed) when it is not wanted.
    fn park(&self, mut session: ImapSession) -> Option<ImapSession> {
        let now = Instant::now();
        let Some(lease) = session.lease_mut() else {
            return Some(session);
        };
        if !self.settings.reuse() || now.saturating_duration_since(lease.born) >= MAX_SESSION_AGE {
            return Some(session);
        }
        let key = lease.key;
        let generation = lease.generation;
        let mut state = self.lock();
        if state.closed {
            return Some(session);
        }
        let Some(account) = state.accounts.get_mut(&key) else {
            return Some(session);
        };
        if account.generation != generation || account.idle.len() >= self.settings.per_account {
            return Some(session);
        }
        let call = session.lease_mut().and_then(|lease| {
            lease.idle_since = now;
            lease.call.take()
        });
        account.idle.push(session);
        let parked = Arc::clone(&account.watch.parked);
        drop(state);
        // Only now, with the session parked, may the next call of this account come in.
        drop(call);
        // Every waiter of the account wakes; the first takes it, the rest wait on.
        parked.notify_waiters();
        None
    }
}

impl Lease {
    pub(crate) fn born(&self) -> Instant {
        self.born
    }

    pub(crate) fn idle_since(&self) -> Instant {
        self.idle_since
    }
}

/// Gives a session back after a call: parked when healthy and still wanted, else logged out.
pub(crate) async fn give_back(mut session: ImapSession) {
    let pool = session
        .lease_mut()
        .and_then(|lease| lease.pool.upgrade())
        .map(|shared| Pool { shared });
    let Some(pool) = pool else {
        session.close().await;
        return;
    };
    match pool.shared.park(session) {
        None => pool.start_reaper(),
        Some(unwanted) => unwanted.close().await,
    }
}

impl Pool {
    /// Starts the reaper once, on the first parked session (which runs inside tokio).
    fn start_reaper(&self) {
        if self.shared.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let period = (self.shared.settings.idle / 6)
            .clamp(Duration::from_millis(100), Duration::from_secs(10));
        let weak = Arc::downgrade(&self.shared);
        let stop = self.shared.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
                let Some(shared) = weak.upgrade() else { return };
                Pool { shared }.reap(Instant::now()).await;
            }
        });
    }
}

/// Logs the sessions out concurrently, each within [`CLOSE_TIMEOUT`].
async fn close_all(sessions: Vec<ImapSession>) {
    futures::future::join_all(sessions.into_iter().map(|s| async move {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, s.close()).await;
    }))
    .await;
}

/// Closes sessions in the background (or just drops them outside a runtime).
fn spawn_close(sessions: Vec<ImapSession>) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(close_all(sessions));
        }
        Err(_) => drop(sessions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::account::Security;
    use crate::mail::reuse::tests::login;

    /// Zero idle time turns reuse off; bounds below one are raised to one.
    #[test]
    fn settings_bounds() {
        assert!(PoolSettings::default().reuse());
        let off = PoolSettings {
            idle: Duration::ZERO,
            per_account: 0,
            max: 0,
        };
        assert!(!off.reuse());
        let pool = Pool::new(off);
        assert_eq!(pool.settings().per_account, 1);
        assert_eq!(pool.settings().max, 1);
    }

    /// A call slot is limited per account: the cap is reached, the next call waits and
    /// gives up after the wait with a "too busy" error naming the cap; another account is not held up.
    #[tokio::test(start_paused = true)]
    async fn calls_per_account_are_capped() {
        let pool = Pool::new(PoolSettings {
            per_account: 2,
            ..PoolSettings::default()
        });
        let a = pool.key(&login("h", 993, Security::Tls, "a", "p"));
        let b = pool.key(&login("h", 993, Security::Tls, "b", "p"));
        let wait = Duration::from_secs(1);
        let first = pool.call_slot(a, wait, "h:993").await.unwrap();
        let _second = pool.call_slot(a, wait, "h:993").await.unwrap();
        let third = pool.call_slot(a, wait, "h:993").await;
        assert!(
            matches!(third, Err(MailError::Busy { .. })),
            "{:?}",
            third.err()
        );
        assert!(pool.call_slot(b, wait, "h:993").await.is_ok());
        drop(first);
        assert!(pool.call_slot(a, wait, "h:993").await.is_ok());
    }

    /// Accounts with no idle session and no call are forgotten by the reaper.
    #[tokio::test]
    async fn unused_accounts_are_forgotten() {
        let pool = Pool::new(PoolSettings::default());
        let a = pool.key(&login("h", 993, Security::Tls, "a", "p"));
        let slot = pool
            .call_slot(a, Duration::from_secs(1), "h")
            .await
            .unwrap();
        pool.reap(Instant::now()).await;
        assert_eq!(pool.stats().accounts, 1, "a running call keeps the account");
        drop(slot);
        pool.reap(Instant::now()).await;
        assert_eq!(pool.stats().accounts, 0);
    }
}
