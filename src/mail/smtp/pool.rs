//! The SMTP connections kept per account between sends, under the same bounds as the IMAP
//! pool ([`PoolSettings`]) and named by the same kind of key ([`PoolKey`]): idle at most
//! `idle` (a reaper closes them with QUIT), at most `per_account` sends of one account at
//! once, none older than [`MAX_SESSION_AGE`]; a kept connection is checked with NOOP before
//! reuse. This module holds connections; it never opens one (that is [`super::connect`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use lettre::transport::smtp::client::AsyncSmtpConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{CHECK_TIMEOUT, Smtp};
use crate::mail::error::{MailError, Protocol};
use crate::mail::reuse::{KeyMaker, MAX_SESSION_AGE, PoolKey, PoolSettings};

/// Idle connections kept per account.
pub(super) struct SmtpPool {
    pub(super) settings: PoolSettings,
    pub(super) keys: KeyMaker,
    pub(super) accounts: Mutex<HashMap<PoolKey, Account>>,
    pub(super) shutdown: CancellationToken,
    pub(super) reaper_started: AtomicBool,
}

#[derive(Default)]
pub(super) struct Account {
    pub(super) sends: Option<Arc<Semaphore>>,
    /// Idle connections, the most recently used last.
    pub(super) idle: Vec<Parked>,
}

pub(super) struct Parked {
    pub(super) connection: AsyncSmtpConnection,
    pub(super) born: Instant,
    pub(super) since: Instant,
}

impl std::fmt::Debug for SmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpPool")
            .field("settings", &self.settings)
            .field("accounts", &self.lock().len())
            .finish()
    }
}

impl SmtpPool {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, Account>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn sends(&self, key: PoolKey) -> Arc<Semaphore> {
        let per_account = self.settings.per_account;
        Arc::clone(
            self.lock()
                .entry(key)
                .or_default()
                .sends
                .get_or_insert_with(|| Arc::new(Semaphore::new(per_account))),
        )
    }

    /// The most recently used idle connection of `key` that is not too old.
    pub(super) fn take(&self, key: &PoolKey) -> Option<Parked> {
        let mut accounts = self.lock();
        let idle = &mut accounts.get_mut(key)?.idle;
        while let Some(parked) = idle.pop() {
            if parked.born.elapsed() < MAX_SESSION_AGE {
                return Some(parked);
            }
        }
        None
    }

    /// Keeps a healthy connection for the account's next send; gives it back when unwanted.
    pub(super) fn park(&self, key: PoolKey, parked: Parked) -> Option<Parked> {
        if self.shutdown.is_cancelled() {
            return Some(parked);
        }
        let mut accounts = self.lock();
        let account = accounts.entry(key).or_default();
        if account.idle.len() >= self.settings.per_account {
            return Some(parked);
        }
        account.idle.push(parked);
        None
    }

    /// Forgets an account with no idle connection and no send running.
    pub(super) fn forget_if_unused(&self, key: &PoolKey) {
        let mut accounts = self.lock();
        let unused = accounts.get(key).is_some_and(|a| {
            a.idle.is_empty() && a.sends.as_ref().is_none_or(|s| Arc::strong_count(s) == 1)
        });
        if unused {
            accounts.remove(key);
        }
    }

    /// Closes the idle connections of `key` (its login was refused).
    pub(super) fn evict(&self, key: &PoolKey) -> Vec<Parked> {
        self.lock()
            .get_mut(key)
            .map(|a| std::mem::take(&mut a.idle))
            .unwrap_or_default()
    }

    /// Idle connections past their time, and accounts with nothing left.
    fn take_expired(&self) -> Vec<Parked> {
        let idle = self.settings.idle;
        let mut expired = Vec::new();
        self.lock().retain(|_, account| {
            let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut account.idle)
                .into_iter()
                .partition(|p| p.since.elapsed() < idle && p.born.elapsed() < MAX_SESSION_AGE);
            account.idle = keep;
            expired.extend(gone);
            let busy = account
                .sends
                .as_ref()
                .is_some_and(|s| Arc::strong_count(s) > 1);
            !account.idle.is_empty() || busy
        });
        expired
    }

    pub(super) fn start_reaper(self: &Arc<Self>) {
        if self.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let period =
            (self.settings.idle / 6).clamp(Duration::from_millis(100), Duration::from_secs(10));
        let weak: Weak<SmtpPool> = Arc::downgrade(self);
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
                let Some(pool) = weak.upgrade() else { return };
                let expired = pool.take_expired();
                drop(pool);
                quit_all(expired).await;
            }
        });
    }
}

/// Says QUIT on each connection (best effort, concurrently, each within a few seconds).
pub(super) async fn quit_all(parked: Vec<Parked>) {
    futures::future::join_all(parked.into_iter().map(|mut p| async move {
        let _ = tokio::time::timeout(CHECK_TIMEOUT, p.connection.quit()).await;
    }))
    .await;
}

pub(super) fn spawn_quit(parked: Vec<Parked>) {
    if !parked.is_empty()
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        handle.spawn(quit_all(parked));
    }
}

impl Smtp {
    /// Waits (at most the command time limit) until the account may send once more.
    pub(super) async fn send_permit(
        &self,
        key: PoolKey,
        server: &str,
    ) -> Result<OwnedSemaphorePermit, MailError> {
        let wait = self.settings.command_timeout;
        match tokio::time::timeout(wait, self.pool.sends(key).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(MailError::busy(
                Protocol::Smtp,
                server,
                wait,
                &format!(
                    "one of this account's {} sends to finish",
                    self.pool.settings.per_account
                ),
            )),
        }
    }

    /// A kept connection of the account that still answers NOOP.
    pub(super) async fn warm_connection(
        &self,
        key: &PoolKey,
    ) -> Option<(AsyncSmtpConnection, Instant)> {
        while let Some(mut parked) = self.pool.take(key) {
            let alive =
                tokio::time::timeout(CHECK_TIMEOUT, parked.connection.test_connected()).await;
            if alive == Ok(true) {
                return Some((parked.connection, parked.born));
            }
        }
        None
    }
}
