//! Moving, deleting and flagging messages named by (folder, UIDs). Every operation opens
//! the folder with the caller's `uid_validity` check, acts only on the named UIDs that
//! exist (reporting the others as `not_found`), and never runs a plain EXPUNGE that could
//! remove messages someone else flagged \Deleted. Moves report the new UIDs from the
//! server's COPYUID answer, or, from a server that gives none, by finding the copies by
//! Message-ID. No MCP or HTTP here: tools call these functions and shape the outcome.

use std::collections::HashSet;

use async_imap::error::Error as ImapError;
use async_imap::imap_proto::{Response, ResponseCode, Status};
use async_imap::types::{Fetch, Flag as ImapFlag};
use futures::TryStreamExt;
use schemars::JsonSchema;
use serde::Serialize;

use super::folders::ensure_special_use;
use super::mailboxes::{SpecialUse, resolve_folder};
use super::names::{quoted, to_wire};
use super::session::{ImapSession, SelectedFolder};
use super::uidset::{copy_uid_pairs, uid_set};
use crate::mail::error::MailError;
use crate::mail::flags::{FlagChange, flag_list};

/// The most UIDs one call may name.
pub const MAX_UIDS: usize = 1000;

/// The messages a caller named: a folder, its UIDs (sorted, each once) and, when the caller
/// knows it, the folder's `uid_validity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSelection {
    pub folder: String,
    pub uids: Vec<u32>,
    pub uid_validity: Option<u32>,
}

impl MessageSelection {
    /// Checks a caller's choice of exactly one of `uid` and `uids` (1 to [`MAX_UIDS`] UIDs,
    /// none of them 0) and a non-empty folder name.
    pub fn new(
        folder: &str,
        uid: Option<u32>,
        uids: Option<Vec<u32>>,
        uid_validity: Option<u32>,
    ) -> Result<Self, MailError> {
        if folder.trim().is_empty() {
            return Err(invalid(
                "name the folder the messages are in, e.g. \"INBOX\"",
            ));
        }
        let mut uids = match (uid, uids) {
            (Some(uid), None) => vec![uid],
            (None, Some(uids)) => uids,
            (Some(_), Some(_)) => return Err(invalid("give either uid or uids, not both")),
            (None, None) => {
                return Err(invalid("name the message: give uid (or uids for several)"));
            }
        };
        if uids.is_empty() {
            return Err(invalid("uids is empty: name at least one message"));
        }
        if uids.len() > MAX_UIDS {
            return Err(invalid(&format!(
                "uids names {} messages; at most {MAX_UIDS} per call: split the work",
                uids.len()
            )));
        }
        if uids.contains(&0) {
            return Err(invalid("0 is not a UID: UIDs start at 1"));
        }
        uids.sort_unstable();
        uids.dedup();
        Ok(MessageSelection {
            folder: folder.to_owned(),
            uids,
            uid_validity,
        })
    }
}

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

/// One message as found in the selected folder.
struct FoundMessage {
    uid: u32,
    flags: Vec<String>,
    message_id: Option<String>,
}

/// The messages among `uids` that exist in the selected `folder`, with their flags (and
/// Message-IDs when asked). Refuses when none exists: nothing would be done.
async fn existing_messages(
    session: &mut ImapSession,
    folder: &SelectedFolder,
    uids: &[u32],
    with_message_id: bool,
) -> Result<Vec<FoundMessage>, MailError> {
    let set = uid_set(uids);
    let query = match with_message_id {
        true => "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
        false => "(UID FLAGS)",
    };
    let fetches = session
        .uid_fetch("looking up the messages", set, query)
        .await?;
    let wanted: HashSet<u32> = uids.iter().copied().collect();
    let mut found: Vec<FoundMessage> = fetches
        .iter()
        .filter_map(|f| found_message(f, &wanted))
        .collect();
    found.sort_by_key(|m| m.uid);
    found.dedup_by_key(|m| m.uid);
    match found.is_empty() {
        true => Err(nothing_found(&folder.name, uids)),
        false => Ok(found),
    }
}

/// A FETCH answer for one of the `wanted` UIDs (servers may add answers for others).
fn found_message(fetch: &Fetch, wanted: &HashSet<u32>) -> Option<FoundMessage> {
    let uid = fetch.uid.filter(|uid| wanted.contains(uid))?;
    Some(FoundMessage {
        uid,
        flags: fetch.flags().filter_map(|flag| flag_name(&flag)).collect(),
        message_id: fetch.header().and_then(message_id_of),
    })
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
        store(
            session,
            &set,
            "+FLAGS.SILENT (\\Deleted)",
            "flagging messages",
        )
        .await?;
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
    store(
        session,
        &set,
        "+FLAGS.SILENT (\\Deleted)",
        "flagging messages",
    )
    .await?;
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
enum ExpungePlan {
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
async fn expunge_plan(session: &mut ImapSession, named: &[u32]) -> Result<ExpungePlan, MailError> {
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
async fn run_expunge(
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

/// Two optional notes as one.
fn join_notes(first: Option<String>, second: Option<String>) -> Option<String> {
    match (first, second) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
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

/// The Message-ID in a `BODY[HEADER.FIELDS (MESSAGE-ID)]` answer, unfolded and trimmed.
fn message_id_of(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let unfolded = text.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        (name.trim().eq_ignore_ascii_case("Message-ID") && !value.is_empty())
            .then(|| value.to_owned())
    })
}

/// A stored flag as IMAP writes it; `None` for \Recent, which only says which session saw
/// the message first and means nothing to a caller of a stateless server.
fn flag_name(flag: &ImapFlag<'_>) -> Option<String> {
    Some(match flag {
        ImapFlag::Seen => "\\Seen".into(),
        ImapFlag::Answered => "\\Answered".into(),
        ImapFlag::Flagged => "\\Flagged".into(),
        ImapFlag::Deleted => "\\Deleted".into(),
        ImapFlag::Draft => "\\Draft".into(),
        ImapFlag::Recent | ImapFlag::MayCreate => return None,
        ImapFlag::Custom(name) => name.to_string(),
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

/// Named UIDs not among those found.
fn missing(named: &[u32], found: &[FoundMessage]) -> Vec<u32> {
    let found: HashSet<u32> = found.iter().map(|m| m.uid).collect();
    named
        .iter()
        .copied()
        .filter(|uid| !found.contains(uid))
        .collect()
}

/// Whether two server spellings name the same folder (INBOX in any case).
fn same_folder(a: &str, b: &str) -> bool {
    a == b || (a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX"))
}

fn nothing_found(folder: &str, uids: &[u32]) -> MailError {
    match uids {
        [uid] => MailError::UnknownMessage {
            folder: folder.to_owned(),
            uid: *uid,
        },
        _ => invalid(&format!(
            "none of the UIDs {} is in \"{folder}\"; they may have been moved or deleted: list \
             the folder again. Nothing was changed",
            uid_set(uids)
        )),
    }
}

fn invalid(message: &str) -> MailError {
    MailError::InvalidInput(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_names_one_or_more_uids_exactly_once() {
        let one = MessageSelection::new("INBOX", Some(4), None, Some(7)).unwrap();
        assert_eq!((one.uids, one.uid_validity), (vec![4], Some(7)));
        let many = MessageSelection::new("INBOX", None, Some(vec![9, 2, 9]), None).unwrap();
        assert_eq!(many.uids, vec![2, 9]);
        let limit = MessageSelection::new("INBOX", None, Some((1..=1000).collect()), None);
        assert!(limit.is_ok());
    }

    #[test]
    fn a_bad_selection_says_what_to_fix() {
        type Case = (&'static str, Option<u32>, Option<Vec<u32>>, &'static str);
        let cases: [Case; 6] = [
            (
                "INBOX",
                Some(1),
                Some(vec![2]),
                "either uid or uids, not both",
            ),
            ("INBOX", None, None, "give uid"),
            ("INBOX", None, Some(vec![]), "uids is empty"),
            ("INBOX", None, Some((1..=1001).collect()), "at most 1000"),
            ("INBOX", Some(0), None, "0 is not a UID"),
            (" ", Some(1), None, "name the folder"),
        ];
        for (folder, uid, uids, want) in cases {
            let err = MessageSelection::new(folder, uid, uids, None).unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
    }

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

    #[test]
    fn message_ids_are_read_from_header_fields() {
        let cases: [(&[u8], Option<&str>); 5] = [
            (b"Message-ID: <a@b.test>\r\n\r\n", Some("<a@b.test>")),
            (b"message-id:   <x@y>  \r\n\r\n", Some("<x@y>")),
            (b"Message-ID:\r\n <folded@z>\r\n\r\n", Some("<folded@z>")),
            (b"\r\n", None),
            (b"Message-ID: \r\n\r\n", None),
        ];
        for (header, want) in cases {
            assert_eq!(message_id_of(header).as_deref(), want, "{header:?}");
        }
    }

    #[test]
    fn only_printable_message_ids_become_search_keys() {
        assert_eq!(search_key("<a\"b@c>").as_deref(), Some(r#""<a\"b@c>""#));
        assert_eq!(search_key("<a\r\nb>"), None);
        assert_eq!(search_key("<ä@b>"), None);
        assert_eq!(search_key(""), None);
    }

    #[test]
    fn inbox_is_the_same_folder_in_any_case() {
        assert!(same_folder("INBOX", "inbox"));
        assert!(same_folder("Work", "Work"));
        assert!(!same_folder("Work", "work"));
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
