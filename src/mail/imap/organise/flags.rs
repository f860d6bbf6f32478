//! Changing flags: adds and removes flags on exactly the named UIDs (UID STORE .SILENT),
//! then reports each message's flags as the server keeps them, noting added keywords the
//! folder did not keep.

use schemars::JsonSchema;
use serde::Serialize;

use super::selection::{MessageSelection, existing_messages, missing};
use super::store;
use crate::mail::error::MailError;
use crate::mail::flags::{FlagChange, flag_list};
use crate::mail::imap::names::to_wire;
use crate::mail::imap::session::ImapSession;
use crate::mail::imap::uidset::uid_set;

/// One message's flags after a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MessageFlags {
    /// The message's UID.
    pub uid: u32,
    /// Every flag it now has: system flags with a backslash (\Seen), keywords as they are.
    pub flags: Vec<String>,
}

/// What a flag change did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FlagsOutcome {
    /// The folder, as the server spells it.
    pub folder: String,
    /// The folder's uid_validity.
    pub uid_validity: u32,
    /// Each changed message with the flags it has now.
    pub messages: Vec<MessageFlags>,
    /// Named UIDs that are not in the folder; nothing was done with them.
    pub not_found: Vec<u32>,
    /// Anything the caller should know, e.g. a keyword the folder does not keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Adds and removes flags on the selected messages and reports each one's flags after.
pub async fn update_flags(
    session: &mut ImapSession,
    selection: &MessageSelection,
    change: &FlagChange,
) -> Result<FlagsOutcome, MailError> {
    let folder = session
        .select_checked(&to_wire(&selection.folder), selection.uid_validity)
        .await?;
    let found = existing_messages(session, &folder, &selection.uids, false).await?;
    let uids: Vec<u32> = found.iter().map(|m| m.uid).collect();
    let set = uid_set(&uids);
    if !change.add.is_empty() {
        let query = format!("+FLAGS.SILENT {}", flag_list(&change.add));
        store(session, &set, &query, "adding flags").await?;
    }
    if !change.remove.is_empty() {
        let query = format!("-FLAGS.SILENT {}", flag_list(&change.remove));
        store(session, &set, &query, "removing flags").await?;
    }
    let after = existing_messages(session, &folder, &uids, false).await?;
    let messages: Vec<MessageFlags> = after
        .into_iter()
        .map(|m| MessageFlags {
            uid: m.uid,
            flags: m.flags,
        })
        .collect();
    Ok(FlagsOutcome {
        note: unkept_flags_note(change, &messages),
        not_found: missing(&selection.uids, &found),
        folder: folder.name,
        uid_validity: folder.uid_validity,
        messages,
    })
}

/// A note naming added flags that some message does not show afterwards (a folder whose
/// PERMANENTFLAGS lacks `\*` does not keep new keywords).
fn unkept_flags_note(change: &FlagChange, messages: &[MessageFlags]) -> Option<String> {
    let unkept: Vec<&str> = change
        .add
        .iter()
        .map(|flag| flag.as_imap())
        .filter(|wanted| {
            messages
                .iter()
                .any(|m| !m.flags.iter().any(|have| have.eq_ignore_ascii_case(wanted)))
        })
        .collect();
    (!unkept.is_empty()).then(|| {
        format!(
            "the server did not keep {} on every message (the folder may not allow new keywords)",
            unkept.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unkept_keywords_are_noted() {
        let change = FlagChange::parse(&["$Kept".into(), "$Lost".into()], &[]).unwrap();
        let messages = [MessageFlags {
            uid: 1,
            flags: vec!["$kept".into()],
        }];
        let note = unkept_flags_note(&change, &messages).unwrap();
        assert!(note.contains("$Lost") && !note.contains("$Kept"), "{note}");
    }
}
