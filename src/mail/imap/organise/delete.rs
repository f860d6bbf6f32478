//! Deleting messages: a move to Trash, or (with `permanent`, or for messages already in
//! Trash) \Deleted on exactly the named UIDs and an expunge of only those. The expunge plan
//! lives here: UID EXPUNGE with UIDPLUS; without it a plain EXPUNGE only when no other
//! message is flagged \Deleted, else the named ones are left flagged and the caller told.

use futures::TryStreamExt;
use schemars::JsonSchema;
use serde::Serialize;

use super::move_::{MovedMessage, move_messages};
use super::selection::{MessageSelection, existing_messages, missing};
use super::{flag_deleted, join_notes, same_folder};
use crate::mail::error::MailError;
use crate::mail::imap::folders::ensure_special_use;
use crate::mail::imap::mailboxes::SpecialUse;
use crate::mail::imap::names::to_wire;
use crate::mail::imap::session::ImapSession;
use crate::mail::imap::uidset::uid_set;

/// What a delete did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DeleteOutcome {
    /// The folder the messages were deleted from, as the server spells it.
    pub folder: String,
    /// That folder's uid_validity.
    pub uid_validity: u32,
    /// True when the messages are gone for good (expunged), false when moved to Trash.
    pub permanent: bool,
    /// UIDs removed from the folder.
    pub deleted: Vec<u32>,
    /// Named UIDs that are not in the folder; nothing was done with them.
    pub not_found: Vec<u32>,
    /// The Trash folder they were moved to, when not permanent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trash: Option<String>,
    /// The Trash folder's uid_validity, when they were moved there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trash_uid_validity: Option<u32>,
    /// For a move to Trash: old UID → UID in Trash (to restore a message from there).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved_to_trash: Vec<MovedMessage>,
    /// Anything the caller should know, e.g. that deleting in Trash is permanent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Deletes the selected messages: moves them to Trash, or with `permanent` (or when they
/// already are in Trash) flags them \Deleted and expunges exactly those UIDs.
pub async fn delete_messages(
    session: &mut ImapSession,
    selection: &MessageSelection,
    permanent: bool,
) -> Result<DeleteOutcome, MailError> {
    if permanent {
        return expunge_messages(session, selection, None).await;
    }
    let (trash, created) = ensure_special_use(session, SpecialUse::Trash).await?;
    if same_folder(&to_wire(&selection.folder), &trash) {
        let note = format!(
            "the messages were already in the Trash folder \"{trash}\", so deleting them there \
             removed them permanently"
        );
        return expunge_messages(session, selection, Some(note)).await;
    }
    let moved = move_messages(session, selection, &trash).await?;
    let created_note = created.then(|| {
        format!("the account had no Trash folder, so \"{trash}\" was created for this delete")
    });
    Ok(DeleteOutcome {
        folder: moved.folder,
        uid_validity: moved.uid_validity,
        permanent: false,
        deleted: moved.moved.iter().map(|m| m.uid).collect(),
        not_found: moved.not_found,
        trash: Some(moved.destination),
        trash_uid_validity: moved.destination_uid_validity,
        moved_to_trash: moved.moved,
        note: join_notes(created_note, moved.note),
    })
}

/// Flags the selected messages \Deleted and expunges exactly those UIDs.
async fn expunge_messages(
    session: &mut ImapSession,
    selection: &MessageSelection,
    note: Option<String>,
) -> Result<DeleteOutcome, MailError> {
    let folder = session
        .select_checked(&to_wire(&selection.folder), selection.uid_validity)
        .await?;
    let found = existing_messages(session, &folder, &selection.uids, false).await?;
    let uids: Vec<u32> = found.iter().map(|m| m.uid).collect();
    let set = uid_set(&uids);
    let plan = expunge_plan(session, &uids).await?;
    flag_deleted(session, &set).await?;
    let left_flagged = run_expunge(session, &set, plan).await?;
    Ok(DeleteOutcome {
        not_found: missing(&selection.uids, &found),
        folder: folder.name,
        uid_validity: folder.uid_validity,
        permanent: true,
        deleted: uids,
        trash: None,
        trash_uid_validity: None,
        moved_to_trash: Vec::new(),
        note: join_notes(note, left_flagged),
    })
}

/// How to expunge the named messages.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ExpungePlan {
    /// UID EXPUNGE of the named UIDs (UIDPLUS).
    ByUid,
    /// A plain EXPUNGE, safe only because no other message is flagged \Deleted.
    Plain,
    /// No expunge: `others` other messages are flagged \Deleted (by another client) and a
    /// plain EXPUNGE would remove them too; the named ones stay flagged \Deleted.
    LeaveFlagged { others: usize },
}

/// How to expunge `named` in the selected folder: by UID where the server has UIDPLUS,
/// else as [`plan_without_uidplus`] decides from the messages flagged \Deleted now.
pub(super) async fn expunge_plan(
    session: &mut ImapSession,
    named: &[u32],
) -> Result<ExpungePlan, MailError> {
    match session.has_capability("UIDPLUS").await? {
        true => Ok(ExpungePlan::ByUid),
        false => Ok(plan_without_uidplus(
            named,
            &deleted_in_folder(session).await?,
        )),
    }
}

/// Without UIDPLUS a plain EXPUNGE removes every \Deleted message: allowed only when the
/// named messages are the only ones flagged.
/// (A client that flags a message between our SEARCH and EXPUNGE could still lose it; IMAP
/// without UIDPLUS offers no way to close that window, which lasts one round trip.)
fn plan_without_uidplus(named: &[u32], flagged_deleted: &[u32]) -> ExpungePlan {
    let others = flagged_deleted
        .iter()
        .filter(|uid| !named.contains(uid))
        .count();
    match others {
        0 => ExpungePlan::Plain,
        others => ExpungePlan::LeaveFlagged { others },
    }
}

/// Carries out `plan` for the UIDs in `set` (already flagged \Deleted); the note says when
/// they were left flagged instead of expunged.
pub(super) async fn run_expunge(
    session: &mut ImapSession,
    set: &str,
    plan: ExpungePlan,
) -> Result<Option<String>, MailError> {
    match plan {
        ExpungePlan::ByUid => uid_expunge(session, set).await.map(|()| None),
        ExpungePlan::Plain => plain_expunge(session).await.map(|()| None),
        ExpungePlan::LeaveFlagged { others } => Ok(Some(left_flagged_note(set, others))),
    }
}

fn left_flagged_note(set: &str, others: usize) -> String {
    format!(
        "this server cannot expunge single messages (no UIDPLUS) and {others} other message(s) \
         in the folder are flagged \\Deleted by someone else, which an EXPUNGE would remove \
         too; so the message(s) {set} were not expunged but left flagged \\Deleted in the \
         source folder (list_mail_messages and most mail clients hide them; they go at the \
         next expunge)"
    )
}

/// UIDs in the selected folder flagged \Deleted.
async fn deleted_in_folder(session: &mut ImapSession) -> Result<Vec<u32>, MailError> {
    let found = session
        .command("searching for deleted messages", |s| {
            s.uid_search("DELETED")
        })
        .await?;
    Ok(found.into_iter().collect())
}

async fn uid_expunge(session: &mut ImapSession, set: &str) -> Result<(), MailError> {
    session
        .command("expunging messages", |s| async move {
            let _gone: Vec<u32> = s.uid_expunge(set).await?.try_collect().await?;
            Ok(())
        })
        .await
}

async fn plain_expunge(session: &mut ImapSession) -> Result<(), MailError> {
    session
        .command("expunging messages", |s| async move {
            let _gone: Vec<u32> = s.expunge().await?.try_collect().await?;
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_expunge_only_when_no_one_else_flagged_deleted() {
        assert_eq!(plan_without_uidplus(&[3], &[]), ExpungePlan::Plain);
        assert_eq!(plan_without_uidplus(&[3, 4], &[3]), ExpungePlan::Plain);
        assert_eq!(
            plan_without_uidplus(&[3], &[3, 8, 9]),
            ExpungePlan::LeaveFlagged { others: 2 }
        );
        let note = left_flagged_note("3", 2);
        assert!(note.contains("2 other message(s)") && note.contains("left flagged"));
    }
}
