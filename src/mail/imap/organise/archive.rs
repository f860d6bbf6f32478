//! Archiving: a move to the account's archive folder, which is the folder marked
//! `\Archive` (or named "Archive", "Archives", ...), on Gmail (`X-GM-EXT-1`) without one its
//! All Mail folder (`\All`: moving there takes the Inbox label off), and otherwise an
//! "Archive" folder created in the personal namespace, with a note saying so.

use super::join_notes;
use super::move_::{MoveOutcome, move_messages};
use super::selection::MessageSelection;
use crate::mail::error::MailError;
use crate::mail::imap::folders::ensure_special_use;
use crate::mail::imap::mailboxes::{SpecialUse, find_special_use};
use crate::mail::imap::session::ImapSession;

/// The archive folder and a note about how it was chosen. With `create` false (a dry
/// run), a missing folder is not created: the folder is `None` and the note says what a
/// real run would do.
pub async fn archive_folder(
    session: &mut ImapSession,
    create: bool,
) -> Result<(Option<String>, Option<String>), MailError> {
    if let Some(found) = find_special_use(session, SpecialUse::Archive).await? {
        return Ok((Some(found), None));
    }
    if session.has_capability("X-GM-EXT-1").await?
        && let Some(all_mail) = find_special_use(session, SpecialUse::All).await?
    {
        let note = format!(
            "archived to \"{all_mail}\" (Gmail's All Mail): the messages lose the label of the \
             folder they were in but stay searchable"
        );
        return Ok((Some(all_mail), Some(note)));
    }
    if !create {
        let note = "the account has no Archive folder yet: a real run creates \"Archive\"";
        return Ok((None, Some(note.to_owned())));
    }
    let (folder, created) = ensure_special_use(session, SpecialUse::Archive).await?;
    let note = created.then(|| {
        format!("the account had no Archive folder, so \"{folder}\" was created for this")
    });
    Ok((Some(folder), note))
}

/// Moves the selected messages to the archive folder (see [`archive_folder`]).
pub async fn archive_messages(
    session: &mut ImapSession,
    selection: &MessageSelection,
) -> Result<MoveOutcome, MailError> {
    let (folder, note) = archive_folder(session, true).await?;
    let folder = folder.ok_or_else(|| MailError::Protocol("no archive folder".into()))?;
    let mut moved = move_messages(session, selection, &folder).await?;
    moved.note = join_notes(note, moved.note);
    Ok(moved)
}
