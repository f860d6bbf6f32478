//! Organising by search instead of UIDs: the messages of a folder that match a
//! [`SearchProgram`] are moved, deleted, flagged or labelled (Gmail) in batches of [`BATCH_SIZE`] UIDs, each
//! batch by the same operation (and expunge plan) as a call naming UIDs. A dry run only
//! counts the matches and shows a sample. Re-running the same search after a partial run
//! finds only what is left (moved or deleted messages no longer match in the folder), so a
//! retry finishes the work and never touches other messages. A [`BatchGate`] is asked after
//! every batch whether to go on: a run in the background reports its progress there and
//! stops between batches when cancelled or at shutdown (the outcome then says `stopped`).

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;

use super::archive::archive_folder;
use super::selection::MessageSelection;
use super::{delete_messages, move_messages, update_flags};
use crate::mail::error::MailError;
use crate::mail::flags::FlagChange;
use crate::mail::imap::gmail::{change_labels, checked_label_change};
use crate::mail::imap::mailboxes::resolve_folder;
use crate::mail::imap::names::to_wire;
use crate::mail::imap::search::listed_matches;
use crate::mail::imap::session::{ImapSession, SelectedFolder};
use crate::mail::imap::summary::fetch_by_uid;
use crate::mail::search::SearchProgram;

/// The most UIDs one IMAP command of a bulk operation names.
pub const BATCH_SIZE: usize = 500;

/// How many matching messages a dry run shows.
pub const SAMPLE_SIZE: usize = 10;

/// Asked after every batch of a bulk run, with the outcome so far, whether to go on: `false`
/// stops the run before the next batch. Implemented above this layer (a task's progress
/// and its cancel flag); [`NoGate`] always goes on.
pub trait BatchGate: Send + Sync {
    fn after_batch<'a>(&'a self, so_far: &'a BulkOutcome) -> BoxFuture<'a, bool>;
}

/// The gate of a call that runs to the end.
pub struct NoGate;

impl BatchGate for NoGate {
    fn after_batch<'a>(&'a self, _so_far: &'a BulkOutcome) -> BoxFuture<'a, bool> {
        Box::pin(std::future::ready(true))
    }
}

/// The messages a bulk call names: those of `folder` matching `program`.
#[derive(Clone, Debug)]
pub struct BulkSelection {
    pub folder: String,
    pub program: SearchProgram,
    pub uid_validity: Option<u32>,
}

/// What to do with every matching message.
#[derive(Clone, Copy, Debug)]
pub enum BulkAction<'a> {
    Move {
        destination: &'a str,
    },
    /// A move to the archive folder ([`super::archive::archive_folder`]).
    Archive,
    Delete {
        permanent: bool,
    },
    Flags(&'a FlagChange),
    /// Gmail's labels added and removed ([`change_labels`]).
    Labels {
        add: &'a [String],
        remove: &'a [String],
    },
}

/// One matching message as a dry run shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SampleMessage {
    pub uid: u32,
    pub subject: Option<String>,
}

/// What a bulk call found and did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BulkOutcome {
    /// The folder searched, as the server spells it.
    pub folder: String,
    /// The folder's uid_validity.
    pub uid_validity: u32,
    /// True when nothing was changed: `matched` and `sample` show what a real run would
    /// act on.
    pub dry_run: bool,
    /// How many messages matched `where` when the call started.
    pub matched: u32,
    /// How many of them were moved, deleted or changed (0 for a dry run).
    pub done: u32,
    /// How many IMAP batches (of at most 500 UIDs) were run.
    pub batches: u32,
    /// True when the run stopped between batches (cancelled, or the server shut down)
    /// before every match was done; the same call again finishes the rest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
    /// The first matching messages (lowest UIDs), for a dry run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<SampleMessage>,
    /// Where the messages went: a move's destination, or the Trash folder of a delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Anything the caller should know (a created Trash folder, messages left flagged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Runs `action` on every message of the selection's folder matching its search, or with
/// `dry_run` only counts them and shows a sample. `gate` is asked after every batch.
pub async fn bulk_organise(
    session: &mut ImapSession,
    selection: &BulkSelection,
    action: BulkAction<'_>,
    dry_run: bool,
    gate: &dyn BatchGate,
) -> Result<BulkOutcome, MailError> {
    let (destination, first_note) = match action {
        BulkAction::Move { destination } => {
            (Some(checked_destination(session, destination).await?), None)
        }
        BulkAction::Archive => archive_folder(session, !dry_run).await?,
        BulkAction::Labels { add, remove } => {
            checked_label_change(session, (add, remove)).await?;
            (None, None)
        }
        _ => (None, None),
    };
    let (folder, uids) = matches(session, selection, dry_run).await?;
    let mut outcome = BulkOutcome {
        folder: folder.name.clone(),
        uid_validity: folder.uid_validity,
        dry_run,
        matched: count(uids.len()),
        done: 0,
        batches: 0,
        stopped: false,
        sample: Vec::new(),
        destination,
        note: first_note,
    };
    if dry_run {
        outcome.sample = sample(session, &uids).await?;
        return Ok(outcome);
    }
    let mut notes: Vec<String> = outcome.note.take().into_iter().collect();
    let batches = uids.len().div_ceil(BATCH_SIZE);
    for (index, batch) in uids.chunks(BATCH_SIZE).enumerate() {
        let named = MessageSelection {
            folder: folder.name.clone(),
            uids: batch.to_vec(),
            uid_validity: Some(folder.uid_validity),
        };
        let done = run_batch(session, &named, action, outcome.destination.as_deref())
            .await
            .map_err(|err| interrupted(&outcome, err))?;
        outcome.done += done.count;
        outcome.batches += 1;
        outcome.destination = done.destination.or(outcome.destination);
        notes.extend(done.note.filter(|note| !notes.contains(note)));
        let more = index + 1 < batches;
        if !gate.after_batch(&outcome).await && more {
            outcome.stopped = true;
            notes.push(stopped_note(&outcome));
            break;
        }
    }
    outcome.note = notes.into_iter().reduce(|a, b| format!("{a}; {b}"));
    Ok(outcome)
}

/// The destination as the server spells it, checked before anything is searched.
async fn checked_destination(
    session: &mut ImapSession,
    destination: &str,
) -> Result<String, MailError> {
    if destination.trim().is_empty() {
        return Err(MailError::InvalidInput(
            "name the destination folder, e.g. \"Archive\"".to_owned(),
        ));
    }
    resolve_folder(session, &to_wire(destination)).await
}

/// The open folder and its matching UIDs, lowest first (read-only for a dry run).
async fn matches(
    session: &mut ImapSession,
    selection: &BulkSelection,
    dry_run: bool,
) -> Result<(SelectedFolder, Vec<u32>), MailError> {
    let name = to_wire(&selection.folder);
    let folder = match dry_run {
        true => {
            session
                .examine_checked(&name, selection.uid_validity)
                .await?
        }
        false => {
            session
                .select_checked(&name, selection.uid_validity)
                .await?
        }
    };
    let mut uids = listed_matches(session, &selection.program).await?;
    uids.sort_unstable();
    Ok((folder, uids))
}

/// The first [`SAMPLE_SIZE`] of `uids` with their subjects.
async fn sample(session: &mut ImapSession, uids: &[u32]) -> Result<Vec<SampleMessage>, MailError> {
    let first = &uids[..uids.len().min(SAMPLE_SIZE)];
    let mut messages: Vec<SampleMessage> = fetch_by_uid(session, first)
        .await?
        .into_iter()
        .map(|m| SampleMessage {
            uid: m.summary.uid,
            subject: m.summary.subject,
        })
        .collect();
    messages.sort_by_key(|m| m.uid);
    Ok(messages)
}

/// What one batch did.
struct BatchDone {
    count: u32,
    destination: Option<String>,
    note: Option<String>,
}

/// One batch by the operation a call naming these UIDs runs.
async fn run_batch(
    session: &mut ImapSession,
    named: &MessageSelection,
    action: BulkAction<'_>,
    destination: Option<&str>,
) -> Result<BatchDone, MailError> {
    Ok(match (action, destination) {
        (BulkAction::Move { .. } | BulkAction::Archive, Some(destination)) => {
            let moved = move_messages(session, named, destination).await?;
            BatchDone {
                count: count(moved.moved.len()),
                destination: Some(moved.destination),
                note: moved.note,
            }
        }
        (BulkAction::Move { .. } | BulkAction::Archive, None) => {
            return Err(MailError::Protocol("no destination folder".into()));
        }
        (BulkAction::Delete { permanent }, _) => {
            let deleted = delete_messages(session, named, permanent).await?;
            BatchDone {
                count: count(deleted.deleted.len()),
                destination: deleted.trash,
                note: deleted.note,
            }
        }
        (BulkAction::Labels { add, remove }, _) => {
            let labelled = change_labels(
                session,
                &named.folder,
                &named.uids,
                named.uid_validity,
                (add, remove),
            )
            .await?;
            BatchDone {
                count: count(labelled.messages.len()),
                destination: None,
                note: None,
            }
        }
        (BulkAction::Flags(change), _) => {
            let changed = update_flags(session, named, change).await?;
            BatchDone {
                count: count(changed.messages.len()),
                destination: None,
                note: changed.note,
            }
        }
    })
}

/// What a stopped run tells the caller.
fn stopped_note(so_far: &BulkOutcome) -> String {
    format!(
        "stopped after {} of {} matching messages ({} batch(es)); the rest were not touched: \
         run the same call again to finish them",
        so_far.done, so_far.matched, so_far.batches
    )
}

/// A batch's failure, saying how far the run got and that re-running finishes it.
fn interrupted(so_far: &BulkOutcome, err: MailError) -> MailError {
    MailError::InvalidInput(format!(
        "stopped after {} of {} matching messages ({} batch(es) done): {err}. Run the same call \
         again to finish the rest: only messages that still match are touched",
        so_far.done, so_far.matched, so_far.batches
    ))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
