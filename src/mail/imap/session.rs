//! `ImapSession`: a logged-in IMAP connection as the rest of the mail layer sees it.
//! Every command runs under the command time limit and comes back as a `MailError`; a
//! session that timed out or lost its connection is marked broken so it is never reused.
//! Callers get sessions only from [`super::Imap`] and give them back with
//! [`ImapSession::logout`], which is where a connection pool will take them back later.

use std::future::Future;
use std::time::Duration;

use async_imap::types::{Capabilities, Mailbox};

use super::connect::{LoggedIn, RawSession};
use super::errors::command_error;
use super::mailboxes::unknown_folder;
use crate::mail::error::{MailError, Protocol};

/// The longest a best-effort LOGOUT may take.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// A logged-in IMAP session.
pub struct ImapSession {
    session: RawSession,
    server: String,
    command_timeout: Duration,
    capabilities: Option<Capabilities>,
    broken: bool,
}

impl std::fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSession")
            .field("server", &self.server)
            .field("broken", &self.broken)
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
    pub(crate) fn new(logged_in: LoggedIn, server: String, command_timeout: Duration) -> Self {
        ImapSession {
            session: logged_in.session,
            server,
            command_timeout,
            capabilities: logged_in.capabilities,
            broken: false,
        }
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
    pub(crate) async fn command<'a, T, F>(
        &'a mut self,
        what: &str,
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
        let limit = self.command_timeout;
        let outcome = tokio::time::timeout(limit, run(&mut self.session)).await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                self.broken |= breaks_the_session(&err);
                Err(command_error(&self.server, err))
            }
            Err(_) => {
                self.broken = true;
                Err(MailError::timeout(
                    Protocol::Imap,
                    &self.server,
                    limit,
                    what,
                ))
            }
        }
    }

    /// Whether the server announced `capability` (e.g. `"MOVE"`, `"SPECIAL-USE"`).
    pub async fn has_capability(&mut self, capability: &str) -> Result<bool, MailError> {
        if self.capabilities.is_none() {
            let caps = self
                .command("asking for capabilities", |s| s.capabilities())
                .await?;
            self.capabilities = Some(caps);
        }
        Ok(self
            .capabilities
            .as_ref()
            .is_some_and(|caps| caps.has_str(capability)))
    }

    /// Opens `folder` read-write; an unknown folder is `MailError::UnknownFolder`.
    pub async fn select(&mut self, folder: &str) -> Result<SelectedFolder, MailError> {
        let wire = super::names::to_wire(folder);
        let result = self.command("opening a folder", |s| s.select(&wire)).await;
        self.opened(folder, result).await
    }

    /// Opens `folder` read-only; an unknown folder is `MailError::UnknownFolder`.
    pub async fn examine(&mut self, folder: &str) -> Result<SelectedFolder, MailError> {
        let wire = super::names::to_wire(folder);
        let result = self.command("opening a folder", |s| s.examine(&wire)).await;
        self.opened(folder, result).await
    }

    /// Opens `folder` read-write and, when the caller passed the `uid_validity` it knows,
    /// refuses with `FolderChanged` if the folder was rebuilt since.
    pub async fn select_checked(
        &mut self,
        folder: &str,
        expected_uid_validity: Option<u32>,
    ) -> Result<SelectedFolder, MailError> {
        let selected = self.select(folder).await?;
        check_uid_validity(selected, expected_uid_validity)
    }

    /// Opens `folder` read-only, with the same `uid_validity` check as [`Self::select_checked`].
    pub async fn examine_checked(
        &mut self,
        folder: &str,
        expected_uid_validity: Option<u32>,
    ) -> Result<SelectedFolder, MailError> {
        let selected = self.examine(folder).await?;
        check_uid_validity(selected, expected_uid_validity)
    }

    /// The whole raw message with `uid` in the selected folder, without setting \Seen
    /// (BODY.PEEK[]); `UnknownMessage` when no message has that UID.
    pub async fn fetch_raw(
        &mut self,
        folder: &SelectedFolder,
        uid: u32,
    ) -> Result<Vec<u8>, MailError> {
        use futures::TryStreamExt;
        let fetches: Vec<_> = self
            .command("fetching a message", |s| async move {
                s.uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                    .await?
                    .try_collect()
                    .await
            })
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

    /// Ends the session politely (best effort, never fails). When a connection pool
    /// exists this is where a healthy session goes back to it.
    pub async fn logout(mut self) {
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

    async fn opened(
        &mut self,
        folder: &str,
        result: Result<Mailbox, MailError>,
    ) -> Result<SelectedFolder, MailError> {
        match result {
            Ok(mailbox) => self.selected_folder(folder, mailbox),
            Err(MailError::ServerSaid { text, .. }) => Err(self.open_failed(folder, text).await),
            Err(other) => Err(other),
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

    /// A refused SELECT: `UnknownFolder` when no such folder exists, else the server's words.
    async fn open_failed(&mut self, folder: &str, text: String) -> MailError {
        match unknown_folder(self, folder).await {
            Ok(Some(unknown)) => unknown,
            _ => MailError::ServerSaid {
                protocol: Protocol::Imap,
                text,
            },
        }
    }
}

fn check_uid_validity(
    selected: SelectedFolder,
    expected: Option<u32>,
) -> Result<SelectedFolder, MailError> {
    match expected {
        Some(expected) if expected != selected.uid_validity => Err(MailError::FolderChanged {
            folder: selected.name,
            expected,
            actual: selected.uid_validity,
        }),
        _ => Ok(selected),
    }
}

/// Whether an error leaves the connection in an unknown state.
fn breaks_the_session(err: &async_imap::error::Error) -> bool {
    use async_imap::error::Error as E;
    matches!(err, E::Io(_) | E::ConnectionLost | E::Parse(_))
}
