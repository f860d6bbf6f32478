//! Moving messages: UID MOVE where the server has MOVE, else UID COPY and the expunge of
//! exactly the copied UIDs ([`super::delete`]'s plan). The new UIDs come from the server's
//! COPYUID answer or, from a server that gives none, by finding the copies by Message-ID.

use std::collections::HashSet;

use async_imap::error::Error as ImapError;
use async_imap::imap_proto::{Response, ResponseCode, Status};
use schemars::JsonSchema;
use serde::Serialize;

use super::delete::{expunge_plan, run_expunge};
use super::selection::{MAX_UIDS, MessageSelection, existing_messages, missing};
use super::{flag_deleted, invalid, join_notes, same_folder};
use crate::mail::error::MailError;
use crate::mail::imap::mailboxes::resolve_folder;
use crate::mail::imap::names::{quoted, to_wire};
use crate::mail::imap::session::{ImapSession, SelectedFolder};
use crate::mail::imap::uidset::{copy_uid_pairs, uid_set};

/// How a move is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoveMethod {
    /// One UID MOVE (RFC 6851).
    Move,
    /// UID COPY, then \Deleted on exactly those UIDs and UID EXPUNGE of them (UIDPLUS), or,
    /// without UIDPLUS, a plain EXPUNGE only when no other message is flagged \Deleted.
    CopyExpunge,
}

/// A message that was moved: its old UID and its UID in the destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MovedMessage {
    /// The UID it had in the source folder (no longer valid there).
    pub uid: u32,
    /// Its UID in the destination folder; null when the server did not say and the copy
    /// could not be found by Message-ID.
    pub new_uid: Option<u32>,
}

/// What a move did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MoveOutcome {
    /// The source folder, as the server spells it.
    pub folder: String,
    /// The source folder's uid_validity.
    pub uid_validity: u32,
    /// The destination folder, as the server spells it.
    pub destination: String,
    /// The destination's uid_validity: pass it with the new UIDs.
    pub destination_uid_validity: Option<u32>,
    /// Each moved message: old UID → new UID in the destination.
    pub moved: Vec<MovedMessage>,
    /// Named UIDs that are not in the source folder; nothing was done with them.
    pub not_found: Vec<u32>,
    /// How the server moved them.
    pub method: MoveMethod,
    /// Anything the caller should know, e.g. why some new UIDs are unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Moves the selected messages to `destination`: UID MOVE where the server has MOVE,
/// else UID COPY + \Deleted + UID EXPUNGE of exactly those UIDs.
pub async fn move_messages(
    session: &mut ImapSession,
    selection: &MessageSelection,
    destination: &str,
) -> Result<MoveOutcome, MailError> {
    let method = match session.has_capability("MOVE").await? {
        true => MoveMethod::Move,
        false => MoveMethod::CopyExpunge,
    };
    move_messages_by(session, selection, destination, method).await
}

/// [`move_messages`] with the method forced (the copy fallback can then be exercised
/// against a server that has MOVE).
pub async fn move_messages_by(
    session: &mut ImapSession,
    selection: &MessageSelection,
    destination: &str,
    method: MoveMethod,
) -> Result<MoveOutcome, MailError> {
    if destination.trim().is_empty() {
        return Err(invalid("name the destination folder, e.g. \"Archive\""));
    }
    let destination = resolve_folder(session, &to_wire(destination)).await?;
    let source_name = to_wire(&selection.folder);
    if same_folder(&source_name, &destination) {
        return Err(invalid(&format!(
            "the messages are already in \"{destination}\": name another destination"
        )));
    }
    let source = session
        .select_checked(&source_name, selection.uid_validity)
        .await?;
    let found = existing_messages(session, &source, &selection.uids, true).await?;
    let originals: Vec<(u32, Option<String>)> = found
        .iter()
        .map(|m| (m.uid, m.message_id.clone()))
        .collect();
    let moved = transfer(session, &originals, &destination, method).await?;
    Ok(MoveOutcome {
        not_found: missing(&selection.uids, &found),
        folder: source.name,
        uid_validity: source.uid_validity,
        destination,
        destination_uid_validity: moved.uid_validity,
        moved: moved.messages,
        method,
        note: moved.note,
    })
}

/// Finds, in `destination`, the copies of messages moved there by a server that did not
/// report COPYUID: for each (old UID, Message-ID), the highest UID carrying that Message-ID
/// and not already claimed. Opens `destination` read-only.
pub async fn find_copies_by_message_id(
    session: &mut ImapSession,
    destination: &str,
    originals: &[(u32, Option<String>)],
) -> Result<(SelectedFolder, Vec<MovedMessage>), MailError> {
    let folder = session.examine(destination).await?;
    let mut claimed: HashSet<u32> = HashSet::new();
    let mut moved = Vec::with_capacity(originals.len());
    for (uid, message_id) in originals {
        let new_uid = match message_id.as_deref().and_then(search_key) {
            Some(key) => newest_unclaimed(session, &key, &mut claimed).await?,
            None => None,
        };
        moved.push(MovedMessage { uid: *uid, new_uid });
    }
    Ok((folder, moved))
}

/// The result of moving or copying: the new UIDs and the destination's uid_validity.
struct Transferred {
    messages: Vec<MovedMessage>,
    uid_validity: Option<u32>,
    note: Option<String>,
}

/// Moves the messages already known to exist in the selected folder to `destination`.
async fn transfer(
    session: &mut ImapSession,
    originals: &[(u32, Option<String>)],
    destination: &str,
    method: MoveMethod,
) -> Result<Transferred, MailError> {
    let uids: Vec<u32> = originals.iter().map(|(uid, _)| *uid).collect();
    let set = uid_set(&uids);
    let target = quoted(destination);
    let mut left_flagged = None;
    let copy_uid = match method {
        MoveMethod::Move => {
            let command = format!("UID MOVE {set} {target}");
            copying_command(session, "moving messages", command).await?
        }
        MoveMethod::CopyExpunge => {
            let command = format!("UID COPY {set} {target}");
            let copy_uid = copying_command(session, "copying messages", command).await?;
            left_flagged = remove_copied(session, &uids, destination).await?;
            copy_uid
        }
    };
    // COPYUID belongs to UIDPLUS: from a server that does not announce it, the new UIDs
    // are looked up by Message-ID instead of trusting a code it need not keep right.
    let copy_uid = match session.has_capability("UIDPLUS").await? {
        true => copy_uid,
        false => None,
    };
    let mut moved = match copy_uid {
        Some(copy_uid) => from_copy_uid(&uids, copy_uid),
        None => after_search(session, destination, originals).await,
    };
    moved.note = join_notes(left_flagged, moved.note);
    Ok(moved)
}

/// The second half of a copy-based move: \Deleted on the copied UIDs, then UID EXPUNGE of
/// them (UIDPLUS) or a plain EXPUNGE when no other message is flagged \Deleted. When
/// another is, the originals stay flagged \Deleted and the returned note says so. A
/// failure here leaves the messages in both folders, and says so.
async fn remove_copied(
    session: &mut ImapSession,
    uids: &[u32],
    destination: &str,
) -> Result<Option<String>, MailError> {
    let set = uid_set(uids);
    let removed = async {
        let plan = expunge_plan(session, uids).await?;
        flag_deleted(session, &set).await?;
        run_expunge(session, &set, plan).await
    }
    .await;
    removed.map_err(|err| {
        MailError::InvalidInput(format!(
            "the messages were copied to \"{destination}\" but could not be removed from the \
             source folder, so they are now in both: {err}"
        ))
    })
}

/// New UIDs from a COPYUID answer, keeping only pairs for UIDs that were moved.
fn from_copy_uid(uids: &[u32], copy_uid: CopyUid) -> Transferred {
    let messages = uids
        .iter()
        .map(|&uid| MovedMessage {
            uid,
            new_uid: copy_uid
                .pairs
                .iter()
                .find(|(source, _)| *source == uid)
                .map(|(_, copy)| *copy),
        })
        .collect();
    Transferred {
        messages,
        uid_validity: Some(copy_uid.uid_validity),
        note: None,
    }
}

/// New UIDs found by Message-ID. The messages have moved already, so a failure to find
/// them is a note, not an error.
async fn after_search(
    session: &mut ImapSession,
    destination: &str,
    originals: &[(u32, Option<String>)],
) -> Transferred {
    match find_copies_by_message_id(session, destination, originals).await {
        Ok((folder, messages)) => {
            let note = messages.iter().any(|m| m.new_uid.is_none()).then(|| {
                "the server did not report the new UIDs and some messages have no Message-ID \
                 to find them by: list the destination folder to see them"
                    .to_owned()
            });
            Transferred {
                messages,
                uid_validity: Some(folder.uid_validity),
                note,
            }
        }
        Err(err) => Transferred {
            messages: originals
                .iter()
                .map(|(uid, _)| MovedMessage {
                    uid: *uid,
                    new_uid: None,
                })
                .collect(),
            uid_validity: None,
            note: Some(format!(
                "the messages were moved, but their new UIDs could not be looked up ({err}): \
                 list the destination folder to see them"
            )),
        },
    }
}

/// What a COPYUID response code reports.
#[derive(Debug, PartialEq, Eq)]
struct CopyUid {
    uid_validity: u32,
    pairs: Vec<(u32, u32)>,
}

/// Runs UID MOVE or UID COPY and reads its answers itself, because async-imap drops the
/// response codes: COPYUID comes in an untagged OK (MOVE) or in the tagged OK (COPY).
async fn copying_command(
    session: &mut ImapSession,
    what: &str,
    command: String,
) -> Result<Option<CopyUid>, MailError> {
    session
        .command(what, |s| async move {
            let tag = s.run_command(&command).await?;
            let mut copy_uid = None;
            loop {
                let response = s.read_response().await?.ok_or(ImapError::ConnectionLost)?;
                let (outcome, done) = match response.parsed() {
                    Response::Done {
                        tag: done,
                        status,
                        outcome,
                    } if *done == tag => (outcome, Some(status)),
                    Response::Data { outcome, .. } => (outcome, None),
                    _ => continue,
                };
                copy_uid = outcome.code.as_ref().and_then(copy_uid_of).or(copy_uid);
                if let Some(status) = done {
                    let info = outcome.information.as_deref();
                    return finished(status, outcome.code.as_ref(), info).map(|()| copy_uid);
                }
            }
        })
        .await
}

fn copy_uid_of(code: &ResponseCode<'_>) -> Option<CopyUid> {
    match code {
        ResponseCode::CopyUid(uid_validity, sources, copies) => Some(CopyUid {
            uid_validity: *uid_validity,
            pairs: copy_uid_pairs(sources, copies, MAX_UIDS)?,
        }),
        _ => None,
    }
}

/// A tagged answer as async-imap reports it, so that the usual error mapping applies.
fn finished(
    status: &Status,
    code: Option<&ResponseCode<'_>>,
    information: Option<&str>,
) -> Result<(), ImapError> {
    let text = || format!("code: {code:?}, info: {information:?}");
    match status {
        Status::Ok => Ok(()),
        Status::No => Err(ImapError::No(text())),
        Status::Bad => Err(ImapError::Bad(text())),
        _ => Err(ImapError::Bad(text())),
    }
}

/// The highest UID matching `key` in the examined folder that is not yet claimed.
async fn newest_unclaimed(
    session: &mut ImapSession,
    key: &str,
    claimed: &mut HashSet<u32>,
) -> Result<Option<u32>, MailError> {
    let query = format!("HEADER Message-ID {key}");
    let hits = session
        .command("finding moved messages", |s| s.uid_search(&query))
        .await?;
    let newest = hits.into_iter().filter(|uid| !claimed.contains(uid)).max();
    if let Some(uid) = newest {
        claimed.insert(uid);
    }
    Ok(newest)
}

/// A Message-ID as a quoted SEARCH string, or `None` when it cannot be sent safely.
fn search_key(message_id: &str) -> Option<String> {
    let printable = !message_id.is_empty() && message_id.chars().all(|c| (' '..='~').contains(&c));
    printable.then(|| quoted(message_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_printable_message_ids_become_search_keys() {
        assert_eq!(search_key("<a\"b@c>").as_deref(), Some(r#""<a\"b@c>""#));
        assert_eq!(search_key("<a\r\nb>"), None);
        assert_eq!(search_key("<ä@b>"), None);
        assert_eq!(search_key(""), None);
    }

    #[test]
    fn copyuid_maps_only_the_moved_uids() {
        let copy_uid = CopyUid {
            uid_validity: 42,
            pairs: vec![(3, 10), (5, 11)],
        };
        let moved = from_copy_uid(&[3, 5, 6], copy_uid);
        assert_eq!(moved.uid_validity, Some(42));
        let new: Vec<_> = moved.messages.iter().map(|m| (m.uid, m.new_uid)).collect();
        assert_eq!(new, vec![(3, Some(10)), (5, Some(11)), (6, None)]);
    }
}
