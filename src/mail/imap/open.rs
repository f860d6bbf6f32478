//! Opening a folder as callers see it: [`ImapSession::select`] (read-write) and
//! [`ImapSession::examine`] (read-only), each also with the caller's `uid_validity` check
//! (`FolderChanged` when the folder was rebuilt). The session's folder memory and the
//! SELECT itself stay in `session.rs`; this module adds what needs the folder list: a
//! refused open is `UnknownFolder` (naming the folders that exist) when no such folder
//! exists, else the server's words. Keeping that here keeps `session.rs` free of
//! `mailboxes.rs`, which itself works on sessions.

use super::mailboxes::unknown_folder;
use super::session::{ImapSession, SelectedFolder};
use crate::mail::error::{MailError, Protocol};

impl ImapSession {
    /// Opens `folder` read-write; an unknown folder is `MailError::UnknownFolder`. Costs
    /// nothing when the session has it open read-write and nothing changed since.
    pub async fn select(&mut self, folder: &str) -> Result<SelectedFolder, MailError> {
        let opened = self.open(folder, true).await;
        self.unknown_if_refused(folder, opened).await
    }

    /// Opens `folder` read-only; an unknown folder is `MailError::UnknownFolder`. Costs
    /// nothing when the session has it open (read-only or read-write: reading here never
    /// sets flags) and nothing changed since.
    pub async fn examine(&mut self, folder: &str) -> Result<SelectedFolder, MailError> {
        let opened = self.open(folder, false).await;
        self.unknown_if_refused(folder, opened).await
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

    /// A refused SELECT or EXAMINE: `UnknownFolder` when no such folder exists, else the
    /// server's words. Other outcomes pass unchanged.
    async fn unknown_if_refused(
        &mut self,
        folder: &str,
        opened: Result<SelectedFolder, MailError>,
    ) -> Result<SelectedFolder, MailError> {
        let Err(MailError::ServerSaid { text, .. }) = opened else {
            return opened;
        };
        match unknown_folder(self, folder).await {
            Ok(Some(unknown)) => Err(unknown),
            _ => Err(MailError::ServerSaid {
                protocol: Protocol::Imap,
                text,
            }),
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
