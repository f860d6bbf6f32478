//! IMAP access. [`Imap`] is the one place that hands out logged-in sessions
//! ([`ImapSession`]); every other IMAP operation takes a session from it. Sessions are
//! reused: `Imap::session` takes a warm one from the [`pool`] (checked with NOOP) or logs
//! in, and `ImapSession::logout` gives it back; callers never see the difference. New
//! logins (TCP, TLS, greeting, LOGIN) in progress at once are capped over all accounts
//! ([`Imap::with_max_connecting`]), so a burst of cold calls queues instead of starting
//! hundreds of TLS handshakes together and timing every one of them out; a queued call
//! takes a session its account gives back meanwhile rather than waiting for a login.

pub mod append;
pub mod attachment_text;
pub mod changes;
mod connect;
pub mod contacts;
mod errors;
pub mod folders;
pub mod gmail;
pub(crate) mod guard;
pub mod mailboxes;
pub mod names;
mod open;
pub mod organise;
pub mod parts;
pub mod pool;
pub mod read;
pub mod search;
pub mod sections;
mod session;
pub mod summary;
pub mod thread;
pub mod thread_bodies;
pub mod uidset;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tracing::Instrument;

pub use append::{StoredMessage, append_message, find_by_message_id};
pub use attachment_text::{
    AttachmentText, TextBudget, TextRequest, add_text_previews, read_attachment_text,
};
pub use connect::{BoxedStream, ImapStream, RawSession};
pub use contacts::{first_contact, written_to};
pub use folders::{
    CreatedMailbox, DeletedMailbox, RenamedMailbox, create_mailbox, delete_mailbox,
    ensure_special_use, rename_mailbox,
};
pub use gmail::{LabelsOutcome, change_labels};
pub use mailboxes::{
    MailboxInfo, PersonalNamespace, SpecialUse, find_special_use, list_mailboxes, pick_special_use,
    resolve_folder,
};
pub use organise::{
    BATCH_SIZE, BatchGate, BulkAction, BulkOutcome, BulkSelection, DeleteOutcome, FlagsOutcome,
    MessageSelection, MoveMethod, MoveOutcome, NoGate, archive_messages, bulk_organise,
    delete_messages, move_messages, move_messages_by, update_flags,
};
pub use pool::{PoolSettings, PoolStats};
pub use read::{GetOptions, MailMessage, MessagePage, PageRequest, get_message, list_messages};
pub use search::search_messages;
pub use session::{ImapSession, SelectedFolder};
pub use summary::MessageSummary;
pub use thread::{FoundBy, MailThread, ThreadMessage, get_thread};
pub use thread_bodies::{BodyRequest, ThreadBody};

use crate::mail::account::ServerLogin;
use crate::mail::error::MailError;
use crate::mail::settings::MailSettings;
use pool::{AccountWatch, CallSlot, Pool};

/// How often a call whose account has a session looks for a spare login permit.
const SPARE_LOGIN_POLL: Duration = Duration::from_millis(200);

/// What a call that found no idle session got: a new login, or a warm session of its
/// account given back while it waited (still to be checked).
enum Turn {
    LoggedIn(ImapSession),
    Warm(ImapSession),
}

/// The end of one wait: the permit (with the slot back), or a warm session that came first.
enum Waited<P> {
    Done(P, CallSlot),
    Parked(Box<ImapSession>),
}

/// Hands out logged-in IMAP sessions, warm ones first; cheap to clone (clones share the
/// pool).
#[derive(Clone, Debug)]
pub struct Imap {
    settings: MailSettings,
    pool: Pool,
    /// Permits for logins in progress (IMAP_MAX_CONNECTING), shared by every account.
    connecting: Arc<Semaphore>,
}

/// IMAP logins in progress at once unless [`Imap::with_max_connecting`] says otherwise.
pub const DEFAULT_MAX_CONNECTING: usize = 32;

impl Imap {
    /// IMAP with the default pool bounds ([`PoolSettings::default`]).
    pub fn new(settings: MailSettings) -> Self {
        Self::with_pool(settings, PoolSettings::default())
    }

    /// IMAP with the given pool bounds (`idle` zero: every call logs in and out).
    pub fn with_pool(settings: MailSettings, pool: PoolSettings) -> Self {
        Imap {
            settings,
            pool: Pool::new(pool),
            connecting: Arc::new(Semaphore::new(DEFAULT_MAX_CONNECTING)),
        }
    }

    /// The same IMAP allowing at most `max` logins in progress at once; more wait (up to
    /// the command time limit) for one to finish, or for a session of their account.
    pub fn with_max_connecting(mut self, max: usize) -> Self {
        self.connecting = Arc::new(Semaphore::new(max.max(1)));
        self
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// What the pool has done so far and holds now.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// A logged-in session for `login`: a warm one of the same account when the pool has
    /// one that passes a NOOP, else a new login. Give it back with [`ImapSession::logout`].
    /// Waits while the account already has its cap of calls running; a call waiting for its
    /// turn to log in takes a session of its account given back meanwhile instead. Every
    /// wait in this service's own queues is bounded by the command time limit.
    pub async fn session(&self, login: &ServerLogin) -> Result<ImapSession, MailError> {
        let server = format!("{}:{}", login.endpoint.host, login.endpoint.port);
        let key = self.pool.key(login);
        let wait = self.settings.command_timeout;
        let mut slot = self.pool.call_slot(key, wait, &server).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut warm = match self
                .log_in_unless_parked(slot, login, &server, deadline)
                .await?
            {
                Turn::LoggedIn(session) => return Ok(session),
                Turn::Warm(warm) => warm,
            };
            match warm.refresh().await {
                Ok(()) => {
                    self.pool.note_reused();
                    return Ok(warm);
                }
                Err(err) => {
                    tracing::debug!(%server, error = %err, "warm IMAP session failed its check");
                    slot = match self.pool.discard_checked_out(warm) {
                        Some(back) => back,
                        None => self.pool.call_slot(key, wait, &server).await?,
                    };
                }
            }
        }
    }

    /// An idle session of the slot's account when there is one, else a new login, waiting
    /// (until `deadline`) for a connection and a login permit unless a session of the
    /// account is parked first.
    async fn log_in_unless_parked(
        &self,
        slot: CallSlot,
        login: &ServerLogin,
        server: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Turn, MailError> {
        let watch = self.pool.watch(&slot);
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let connection = self.pool.connection_permit(left(), server);
        let (connection, slot) = match self.wait_unless_parked(slot, &watch, connection).await? {
            Waited::Done(permit, slot) => (permit, slot),
            Waited::Parked(warm) => return Ok(Turn::Warm(*warm)),
        };
        let connecting = self.connecting_permit(left(), server, &watch);
        let (connecting, slot) = match self.wait_unless_parked(slot, &watch, connecting).await? {
            Waited::Done(permit, slot) => (permit, slot),
            Waited::Parked(warm) => return Ok(Turn::Warm(*warm)),
        };
        let key = self.pool.key(login);
        let _logging_in = watch.count_login();
        let span = tracing::debug_span!("imap_login", %server, security = %login.endpoint.security);
        let opened = connect::open(&self.settings, login).instrument(span).await;
        drop(connecting);
        match opened {
            Ok(logged_in) => Ok(Turn::LoggedIn(
                ImapSession::new(
                    logged_in,
                    server.to_owned(),
                    self.settings.command_timeout,
                    Some(self.pool.lease(slot, connection)),
                )
                .timed(self.settings.timings.clone()),
            )),
            Err(err) => {
                if err.is_auth_failure() {
                    self.pool.auth_failed(key);
                }
                Err(err)
            }
        }
    }

    /// Awaits `permit`, but takes an idle session of the slot's account instead whenever
    /// there is one, now or parked (the watch signals it) before the permit comes. The
    /// permit's place in its queue is kept across sessions that another call took first.
    async fn wait_unless_parked<P>(
        &self,
        mut slot: CallSlot,
        watch: &AccountWatch,
        permit: impl std::future::Future<Output = Result<P, MailError>>,
    ) -> Result<Waited<P>, MailError> {
        let mut permit = std::pin::pin!(permit);
        loop {
            let mut parked = std::pin::pin!(watch.parked().notified());
            // Listen before looking, so that a session parked right after is not missed.
            parked.as_mut().enable();
            slot = match self.pool.take_idle(slot) {
                Ok(warm) => return Ok(Waited::Parked(Box::new(warm))),
                Err(back) => back,
            };
            tokio::select! {
                got = permit.as_mut() => return Ok(Waited::Done(got?, slot)),
                () = parked => {}
            }
        }
    }

    /// A permit to start a login, waited for up to `wait`. An account that already has a
    /// session (its calls can share it) does not queue: it takes a permit only when one is
    /// spare, looking again every [`SPARE_LOGIN_POLL`], so that in a burst the accounts
    /// with none log in first.
    async fn connecting_permit(
        &self,
        wait: Duration,
        server: &str,
        watch: &AccountWatch,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, MailError> {
        let shutting_down = || MailError::Protocol("the server is shutting down".into());
        let turn = async {
            loop {
                match self.connecting.try_acquire() {
                    Ok(permit) => return Ok(permit),
                    Err(tokio::sync::TryAcquireError::Closed) => return Err(shutting_down()),
                    Err(tokio::sync::TryAcquireError::NoPermits) => {}
                }
                if !watch.has_session() {
                    return self.connecting.acquire().await.map_err(|_| shutting_down());
                }
                tokio::time::sleep(SPARE_LOGIN_POLL).await;
            }
        };
        match tokio::time::timeout(wait, turn).await {
            Ok(result) => result,
            Err(_) => Err(MailError::busy(
                crate::mail::error::Protocol::Imap,
                server,
                self.settings.command_timeout,
                "a turn to log in (this service's limit of IMAP logins at once is reached)",
            )),
        }
    }

    /// Opens a session, runs `work` on it and gives it back, whether `work` succeeded or
    /// not: `imap.with_session(login, |s| Box::pin(list_mailboxes(s, true)))`. (`work`
    /// returns a boxed future because an async closure's future cannot yet be proven `Send`.)
    pub async fn with_session<T>(
        &self,
        login: &ServerLogin,
        work: impl for<'s> FnOnce(&'s mut ImapSession) -> BoxFuture<'s, Result<T, MailError>>,
    ) -> Result<T, MailError> {
        let mut session = self.session(login).await?;
        let result = work(&mut session).await;
        session.logout().await;
        result
    }

    /// Logs in anew (never a warm session: this proves the password works now) without
    /// holding any of the pool's connections or call slots while it waits (login checks
    /// have their own budget, [`crate::mail::LoginBudget`]). A session that logged in goes
    /// to the pool when it has room at once, so that the account's first call finds it
    /// warm, and is logged out otherwise. A refused login closes the account's warm sessions.
    pub async fn check_login(&self, login: &ServerLogin) -> Result<(), MailError> {
        let server = format!("{}:{}", login.endpoint.host, login.endpoint.port);
        let key = self.pool.key(login);
        let span = tracing::debug_span!("imap_login_check", %server);
        let logged_in = match connect::open(&self.settings, login).instrument(span).await {
            Ok(logged_in) => logged_in,
            Err(err) => {
                if err.is_auth_failure() {
                    self.pool.auth_failed(key);
                }
                return Err(err);
            }
        };
        let lease = match self.pool.call_slot(key, Duration::ZERO, &server).await {
            Ok(slot) => match self.pool.connection_permit(Duration::ZERO, &server).await {
                Ok(connection) => Some(self.pool.lease(slot, connection)),
                Err(_) => None,
            },
            Err(_) => None,
        };
        let timeout = self.settings.command_timeout;
        ImapSession::new(logged_in, server, timeout, lease)
            .timed(self.settings.timings.clone())
            .logout()
            .await;
        Ok(())
    }

    /// Stops the pool's reaper and logs out every idle session (at server shutdown).
    pub async fn shutdown(&self) {
        self.pool.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Handlers run on a multi-threaded runtime: every future here must be `Send`.
    #[test]
    fn futures_are_send() {
        let imap = Imap::new(MailSettings::new(crate::mail::TlsSettings::public_roots()));
        let login = ServerLogin {
            endpoint: crate::mail::Endpoint::new(
                "imap.example.com",
                993,
                crate::mail::Security::Tls,
            ),
            username: "u".into(),
            password: "p".into(),
        };
        assert_send(&imap.session(&login));
        assert_send(&imap.check_login(&login));
        assert_send(&async {
            let mut s = imap.session(&login).await?;
            let sent = find_special_use(&mut s, SpecialUse::Sent).await?;
            let inbox = s.select("INBOX").await?;
            let all = list_mailboxes(&mut s, true).await?;
            s.logout().await;
            Ok::<_, MailError>((sent, inbox, all))
        });
        assert_send(&imap.with_session(&login, |s| {
            Box::pin(async move {
                let folder = resolve_folder(s, "inbox").await?;
                s.examine(&folder).await
            })
        }));
    }
}
