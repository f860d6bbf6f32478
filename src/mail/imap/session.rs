//! `ImapSession`: a logged-in IMAP connection as the rest of the mail layer sees it.
//! Every command runs under the command time limit and comes back as a `MailError`; a
//! session that timed out or lost its connection is marked broken so it is never reused.
//! Callers get sessions only from [`super::Imap`] and give them back with
//! [`ImapSession::logout`], which returns a healthy session to the pool (`pool.rs`).
//!
//! A session remembers the folder it has open (name, UIDVALIDITY, EXISTS, read-write or
//! not), so that SELECT/EXAMINE of that folder again costs nothing. The memory is trusted
//! only while nothing could have changed it unseen: [`ImapSession::refresh`] (a NOOP, run
//! whenever the pool hands the session out) reads what the server reported since, and any
//! change of the message count, any EXPUNGE or any response it does not understand makes
//! the next SELECT go to the server again. Commands that may change the folder or swallow
//! the server's reports run through [`ImapSession::command`], which forgets the folder;
//! only FETCH, SEARCH, NOOP and CAPABILITY use [`ImapSession::read_command`], which keeps it.
//! The public SELECT/EXAMINE calls, which tell an unknown folder from a refusal by listing
//! the folders, are in `open.rs`, so that this module needs nothing of `mailboxes.rs`.

use std::future::Future;
use std::time::Duration;

use std::time::Instant;

use async_imap::imap_proto::{Response, Status};
use async_imap::types::{Capabilities, Fetch, Mailbox, UnsolicitedResponse};
use futures::TryStreamExt;

use super::connect::{LoggedIn, RawSession};
use super::errors::command_error;
use super::pool::{self, Lease};
use crate::mail::error::{MailError, Protocol};
use crate::mail::timings::{Step, Timings};

/// The longest a best-effort LOGOUT may take.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest the NOOP that checks a warm session may take before another is used.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// A logged-in IMAP session.
pub struct ImapSession {
    session: RawSession,
    server: String,
    command_timeout: Duration,
    capabilities: Option<Capabilities>,
    broken: bool,
    /// The folder open on the server, while it can be trusted without asking again.
    selected: Option<Selection>,
    /// The pool this session goes back to; `None` for a session that is only logged out.
    lease: Option<Lease>,
    /// Where command round trips are timed.
    timings: Timings,
}

/// The open folder as the session last knew it.
#[derive(Clone, Debug)]
struct Selection {
    folder: SelectedFolder,
    /// Opened with SELECT (read-write) rather than EXAMINE.
    writable: bool,
}

impl std::fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSession")
            .field("server", &self.server)
            .field("broken", &self.broken)
            .field("selected", &self.selected.as_ref().map(|s| &s.folder.name))
            .finish_non_exhaustive()
    }
}

/// What SELECT or EXAMINE reports about a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedFolder {
    /// The folder's name as the server spells it.
    pub name: String,
    /// How many messages it holds.
    pub exists: u32,
    /// Changes when the folder is rebuilt; UIDs of another validity name other messages.
    pub uid_validity: u32,
    /// The UID the next new message will get, if the server said.
    pub uid_next: Option<u32>,
}

impl ImapSession {
    pub(crate) fn new(
        logged_in: LoggedIn,
        server: String,
        command_timeout: Duration,
        lease: Option<Lease>,
    ) -> Self {
        ImapSession {
            session: logged_in.session,
            server,
            command_timeout,
            capabilities: logged_in.capabilities,
            broken: false,
            selected: None,
            lease,
            timings: Timings::default(),
        }
    }

    /// The same session, its commands timed into `timings`.
    pub(crate) fn timed(self, timings: Timings) -> Self {
        ImapSession { timings, ..self }
    }

    pub(crate) fn lease_mut(&mut self) -> Option<&mut Lease> {
        self.lease.as_mut()
    }

    /// When the session was logged in.
    pub(crate) fn born(&self) -> Instant {
        self.lease.as_ref().map_or_else(Instant::now, Lease::born)
    }

    /// When the session was last given back to the pool.
    pub(crate) fn idle_since(&self) -> Instant {
        self.lease
            .as_ref()
            .map_or_else(Instant::now, Lease::idle_since)
    }

    /// The folder this session has open, as far as it can be trusted without asking.
    pub fn open_folder(&self) -> Option<&SelectedFolder> {
        self.selected.as_ref().map(|s| &s.folder)
    }

    /// `host:port` of the server, for messages and logs.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// True once a command timed out or the connection failed.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Runs one command on the raw async-imap session under the command time limit; the
    /// way other mail modules issue IMAP commands. `what` completes "did not answer within
    /// 30 s while ...". Streams that borrow the session must be collected inside `run`.
    /// The session forgets which folder is open (the command may change it, or take the
    /// server's reports about it), so the next SELECT or EXAMINE goes to the server.
    pub(crate) async fn command<'a, T, F>(
        &'a mut self,
        what: &str,
        run: impl FnOnce(&'a mut RawSession) -> F,
    ) -> Result<T, MailError>
    where
        F: Future<Output = async_imap::error::Result<T>>,
    {
        self.selected = None;
        let limit = self.command_timeout;
        self.run(what, limit, run).await
    }

    /// Like [`Self::command`] for commands that change nothing on the server and leave its
    /// reports (EXISTS, EXPUNGE, ...) in the session's queue: FETCH, SEARCH, NOOP,
    /// CAPABILITY. The open folder stays remembered.
    pub(crate) async fn read_command<'a, T, F>(
        &'a mut self,
        what: &str,
        run: impl FnOnce(&'a mut RawSession) -> F,
    ) -> Result<T, MailError>
    where
        F: Future<Output = async_imap::error::Result<T>>,
    {
        let limit = self.command_timeout;
        self.run(what, limit, run).await
    }

    async fn run<'a, T, F>(
        &'a mut self,
        what: &str,
        limit: Duration,
        run: impl FnOnce(&'a mut RawSession) -> F,
    ) -> Result<T, MailError>
    where
        F: Future<Output = async_imap::error::Result<T>>,
    {
        if self.broken {
            return Err(MailError::Protocol(format!(
                "the connection to the IMAP server {} is no longer usable",
                self.server
            )));
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(limit, run(&mut self.session)).await;
        let ok = matches!(outcome, Ok(Ok(_)));
        self.timings
            .record(Protocol::Imap, Step::Command, started, ok);
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                if breaks_the_session(&err) {
                    self.broken = true;
                    self.selected = None;
                }
                Err(command_error(&self.server, err))
            }
            Err(_) => {
                self.broken = true;
                self.selected = None;
                Err(MailError::timeout(
                    Protocol::Imap,
                    &self.server,
                    limit,
                    what,
                ))
            }
        }
    }

    /// Checks that a warm session still works and catches up with what the server
    /// reported since it was last used (new or expunged messages): a NOOP within a few
    /// seconds. An error means the session must not be used.
    pub(crate) async fn refresh(&mut self) -> Result<(), MailError> {
        let limit = CHECK_TIMEOUT.min(self.command_timeout);
        self.run("checking the connection", limit, |s| s.noop())
            .await?;
        self.catch_up();
        Ok(())
    }

    /// Reads the server's queued reports and forgets the open folder unless they show that
    /// nothing changed in it.
    fn catch_up(&mut self) {
        let queue = &self.session.unsolicited_responses;
        // The queue drops what does not fit: a full queue may have lost a report.
        let overflowed = queue.is_full();
        let updates: Vec<Update> = std::iter::from_fn(|| queue.try_recv().ok())
            .map(|r| Update::of(&r))
            .collect();
        if let Some(selection) = &self.selected
            && !unchanged(selection.folder.exists, overflowed, &updates)
        {
            self.selected = None;
        }
    }

    /// Whether the server announced `capability` (e.g. `"MOVE"`, `"SPECIAL-USE"`).
    pub async fn has_capability(&mut self, capability: &str) -> Result<bool, MailError> {
        if self.capabilities.is_none() {
            let caps = self
                .read_command("asking for capabilities", |s| s.capabilities())
                .await?;
            self.capabilities = Some(caps);
        }
        Ok(self
            .capabilities
            .as_ref()
            .is_some_and(|caps| caps.has_str(capability)))
    }

    /// SELECT (`writable`) or EXAMINE `folder`; costs nothing when the session has it open
    /// (read-write when `writable` is asked) and nothing changed since. A refused open comes
    /// back as the server's words (`ServerSaid`): the public `select`/`examine` (`open.rs`)
    /// tell an unknown folder from that.
    pub(super) async fn open(
        &mut self,
        folder: &str,
        writable: bool,
    ) -> Result<SelectedFolder, MailError> {
        if let Some(open) = self.remembered(folder, writable) {
            return Ok(open);
        }
        let wire = super::names::to_wire(folder);
        let result = match writable {
            true => self.command("opening a folder", |s| s.select(&wire)).await,
            false => self.command("opening a folder", |s| s.examine(&wire)).await,
        };
        self.opened(folder, result, writable)
    }

    /// The remembered `folder`, if it is open (read-write when `writable` is asked) and the
    /// server's reports since show no change.
    fn remembered(&mut self, folder: &str, writable: bool) -> Option<SelectedFolder> {
        self.catch_up();
        let selection = self.selected.as_ref()?;
        (selection.folder.name == folder && (selection.writable || !writable))
            .then(|| selection.folder.clone())
    }

    /// `UID FETCH <uids> <items>` with every answer collected; `what` names the step in
    /// errors ("fetching a message"). Every UID FETCH of the mail layer goes through here.
    /// Callers ask only for what changes nothing (BODY.PEEK, never BODY), so it runs as a
    /// [`Self::read_command`] and the open folder stays remembered.
    pub(crate) async fn uid_fetch(
        &mut self,
        what: &str,
        uids: impl std::fmt::Display,
        items: &str,
    ) -> Result<Vec<Fetch>, MailError> {
        let uids = uids.to_string();
        self.read_command(what, |s| async move {
            s.uid_fetch(uids, items).await?.try_collect().await
        })
        .await
    }

    /// The whole raw message with `uid` in the selected folder, without setting \Seen
    /// (BODY.PEEK[]); `UnknownMessage` when no message has that UID.
    pub async fn fetch_raw(
        &mut self,
        folder: &SelectedFolder,
        uid: u32,
    ) -> Result<Vec<u8>, MailError> {
        let fetches = self
            .uid_fetch("fetching a message", uid, "(UID BODY.PEEK[])")
            .await?;
        fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body().map(<[u8]>::to_vec))
            .ok_or_else(|| MailError::UnknownMessage {
                folder: folder.name.clone(),
                uid,
            })
    }

    /// Ends the call's use of the session (never fails): a healthy session goes back to the
    /// pool for the next call of the same account; any other is logged out (best effort)
    /// or, when broken, just dropped.
    pub async fn logout(self) {
        if self.broken {
            return;
        }
        pool::give_back(self).await;
    }

    /// Logs out for good (best effort, within a few seconds).
    pub(crate) async fn close(mut self) {
        if self.broken {
            return;
        }
        let limit = LOGOUT_TIMEOUT.min(self.command_timeout);
        if tokio::time::timeout(limit, self.session.logout())
            .await
            .is_err()
        {
            tracing::debug!(server = %self.server, "IMAP logout timed out");
        }
    }

    fn opened(
        &mut self,
        folder: &str,
        result: Result<Mailbox, MailError>,
        writable: bool,
    ) -> Result<SelectedFolder, MailError> {
        // The SELECT's own EXISTS came with it: older reports in the queue are stale.
        let queue = &self.session.unsolicited_responses;
        while queue.try_recv().is_ok() {}
        match result {
            Ok(mailbox) => {
                let folder = self.selected_folder(folder, mailbox)?;
                self.selected = Some(Selection {
                    folder: folder.clone(),
                    writable,
                });
                Ok(folder)
            }
            // A refused SELECT leaves no folder open (RFC 3501 6.3.1).
            Err(err) => Err(err),
        }
    }

    fn selected_folder(&self, folder: &str, mailbox: Mailbox) -> Result<SelectedFolder, MailError> {
        let uid_validity = mailbox.uid_validity.ok_or_else(|| {
            MailError::Protocol(format!(
                "the IMAP server {} reported no UIDVALIDITY for \"{folder}\"",
                self.server
            ))
        })?;
        Ok(SelectedFolder {
            name: folder.to_owned(),
            exists: mailbox.exists,
            uid_validity,
            uid_next: mailbox.uid_next,
        })
    }
}

/// Whether an error leaves the connection in an unknown state.
fn breaks_the_session(err: &async_imap::error::Error) -> bool {
    use async_imap::error::Error as E;
    matches!(err, E::Io(_) | E::ConnectionLost | E::Parse(_))
}

/// What a report the server sent on its own means for the remembered folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Update {
    /// The folder holds this many messages.
    Exists(u32),
    /// A message was removed.
    Expunge,
    /// Nothing that changes which messages exist: flag changes (FETCH), RECENT, STATUS of
    /// another folder, a plain `* OK` without response code.
    Harmless,
    /// Anything else (a new UIDVALIDITY, a warning, BYE, ...): do not trust the memory.
    Unknown,
}

impl Update {
    fn of(response: &UnsolicitedResponse) -> Update {
        match response {
            UnsolicitedResponse::Exists(n) => Update::Exists(*n),
            UnsolicitedResponse::Expunge(_) => Update::Expunge,
            UnsolicitedResponse::Recent(_) | UnsolicitedResponse::Status { .. } => Update::Harmless,
            UnsolicitedResponse::Other(data) => match data.parsed() {
                Response::Fetch(..) => Update::Harmless,
                Response::Data {
                    status: Status::Ok,
                    outcome,
                } if outcome.code.is_none() => Update::Harmless,
                _ => Update::Unknown,
            },
        }
    }
}

/// Whether a folder known to hold `exists` messages is unchanged after `updates` (and no
/// report was lost to a full queue).
fn unchanged(exists: u32, overflowed: bool, updates: &[Update]) -> bool {
    !overflowed
        && updates.iter().all(|update| match update {
            Update::Exists(n) => *n == exists,
            Update::Harmless => true,
            Update::Expunge | Update::Unknown => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The remembered folder survives only reports that show the same message count:
    /// new mail, an expunge, a lost report or anything not understood forget it.
    #[test]
    fn only_unchanged_folders_stay_remembered() {
        use Update::*;
        let cases: [(&[Update], bool, bool); 9] = [
            (&[], false, true),
            (&[Exists(10)], false, true),
            (&[Harmless, Exists(10), Harmless], false, true),
            (&[Exists(11)], false, false),
            (&[Exists(9)], false, false),
            (&[Expunge, Exists(10)], false, false),
            (&[Unknown], false, false),
            (&[], true, false),
            (&[Exists(11), Exists(10)], false, false),
        ];
        for (updates, overflowed, want) in cases {
            assert_eq!(
                unchanged(10, overflowed, updates),
                want,
                "{updates:?} overflowed={overflowed}"
            );
        }
    }
}
