//! Moving, deleting and flagging messages named by (folder, UIDs), one operation a file:
//! [`move_`], [`archive`], [`delete`] (with the expunge plan), [`flags`]; [`selection`] checks what a call
//! names and finds which of those messages exist. Every operation opens the folder with the
//! caller's `uid_validity` check, acts only on the named UIDs that exist (reporting the
//! others as `not_found`), and never runs a plain EXPUNGE that could remove messages
//! someone else flagged \Deleted. [`bulk`] runs the same operations on the messages a
//! search finds, in bounded batches, or counts them for a dry run. No MCP or HTTP here:
//! tools call these functions and shape the outcome. (Creating, renaming and deleting folders live in `imap/folders.rs`.)

use async_imap::types::Fetch;
use futures::TryStreamExt;

use crate::mail::error::MailError;
use crate::mail::imap::session::ImapSession;

pub mod archive;
pub mod bulk;
pub mod delete;
pub mod flags;
pub mod move_;
pub mod selection;

pub use archive::{archive_folder, archive_messages};
pub use bulk::{
    BATCH_SIZE, BatchGate, BulkAction, BulkOutcome, BulkSelection, NoGate, SampleMessage,
    bulk_organise,
};
pub use delete::{DeleteOutcome, delete_messages};
pub use flags::{FlagsOutcome, MessageFlags, update_flags};
pub use move_::{
    MoveMethod, MoveOutcome, MovedMessage, find_copies_by_message_id, move_messages,
    move_messages_by,
};
pub use selection::{MAX_UIDS, MessageSelection};

/// Flags the UIDs in `set` \Deleted (the first half of every expunge).
async fn flag_deleted(session: &mut ImapSession, set: &str) -> Result<(), MailError> {
    store(
        session,
        set,
        "+FLAGS.SILENT (\\Deleted)",
        "flagging messages",
    )
    .await
}

/// Two optional notes as one.
fn join_notes(first: Option<String>, second: Option<String>) -> Option<String> {
    match (first, second) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

/// UID STORE `query` (e.g. `+FLAGS.SILENT (\Seen)`) on the UIDs in `set`; `what` names
/// the step in errors.
async fn store(
    session: &mut ImapSession,
    set: &str,
    query: &str,
    what: &str,
) -> Result<(), MailError> {
    session
        .command(what, |s| async move {
            let _updates: Vec<Fetch> = s.uid_store(set, query).await?.try_collect().await?;
            Ok(())
        })
        .await
}

/// Whether two server spellings name the same folder (INBOX in any case).
fn same_folder(a: &str, b: &str) -> bool {
    a == b || (a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX"))
}

fn invalid(message: &str) -> MailError {
    MailError::InvalidInput(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_the_same_folder_in_any_case() {
        assert!(same_folder("INBOX", "inbox"));
        assert!(same_folder("Work", "Work"));
        assert!(!same_folder("Work", "work"));
    }
}
