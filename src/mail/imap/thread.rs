//! The conversation a message belongs to, gathered by Message-ID, In-Reply-To and
//! References in its folder and in the Sent folder, oldest first.
//!
//! Each round searches both folders (`UID SEARCH HEADER ...`) for messages that carry or
//! mention an id not looked for yet, then adds the ids those messages mention, until no new
//! id turns up. `THREAD=REFERENCES` is not used: it covers one folder only, and async-imap
//! cannot read `* THREAD` answers (imap-proto has no parser for them, and an unparsable
//! answer breaks the session). Header searches work on every server.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;

use super::mailboxes::{SpecialUse, find_special_use};
use super::search::uid_search;
use super::session::ImapSession;
use super::summary::{FetchedSummary, MessageSummary, fetch_by_uid};
use crate::mail::error::MailError;
use crate::mail::search::SearchProgram;

/// Rounds of searching before the thread is returned as found so far.
const MAX_ROUNDS: usize = 5;

/// The most messages a thread returns (the newest are kept).
pub const MAX_THREAD_MESSAGES: usize = 200;

/// How many ids one search names.
const IDS_PER_SEARCH: usize = 25;

/// A message of a thread, with the folder it is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ThreadMessage {
    /// The folder holding this message.
    pub folder: String,
    /// That folder's UIDVALIDITY.
    pub uid_validity: u32,
    #[serde(flatten)]
    pub summary: MessageSummary,
}

/// A conversation, oldest message first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MailThread {
    /// The folder of the message asked about.
    pub folder: String,
    /// That folder's UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID of the message asked about.
    pub uid: u32,
    /// Folders searched: the message's own and the Sent folder.
    pub searched_folders: Vec<String>,
    /// True when the thread had more than the messages returned (the oldest were left out).
    pub truncated: bool,
    /// The messages of the conversation, oldest first.
    pub messages: Vec<ThreadMessage>,
}

/// One folder taking part in the search.
struct Folder {
    name: String,
    uid_validity: u32,
    found: BTreeMap<u32, FetchedSummary>,
}

/// The conversation of message `uid` in `folder`.
pub async fn get_thread(
    session: &mut ImapSession,
    folder: &str,
    uid: u32,
    uid_validity: Option<u32>,
) -> Result<MailThread, MailError> {
    let selected = session.examine_checked(folder, uid_validity).await?;
    let start = fetch_by_uid(session, &[uid])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| MailError::UnknownMessage {
            folder: selected.name.clone(),
            uid,
        })?;
    let mut folders = vec![Folder {
        name: selected.name.clone(),
        uid_validity: selected.uid_validity,
        found: BTreeMap::new(),
    }];
    if let Some(sent) = find_special_use(session, SpecialUse::Sent).await?
        && sent != selected.name
    {
        let sent_folder = session.examine(&sent).await?;
        folders.push(Folder {
            name: sent,
            uid_validity: sent_folder.uid_validity,
            found: BTreeMap::new(),
        });
    }
    let mut ids: BTreeSet<String> = start.linked_ids.iter().cloned().collect();
    folders[0].found.insert(uid, start);
    gather(session, &mut folders, &mut ids).await?;
    Ok(thread_of(
        &selected.name,
        selected.uid_validity,
        uid,
        folders,
    ))
}

/// Searches the folders round by round until no new id turns up.
async fn gather(
    session: &mut ImapSession,
    folders: &mut [Folder],
    ids: &mut BTreeSet<String>,
) -> Result<(), MailError> {
    let mut searched = BTreeSet::new();
    for _ in 0..MAX_ROUNDS {
        let fresh: Vec<String> = ids.difference(&searched).cloned().collect();
        if fresh.is_empty() || found_count(folders) >= MAX_THREAD_MESSAGES {
            break;
        }
        for folder in folders.iter_mut() {
            for new in search_folder(session, folder, &fresh).await? {
                ids.extend(new.linked_ids.iter().cloned());
                folder.found.insert(new.summary.uid, new);
            }
        }
        searched.extend(fresh);
    }
    Ok(())
}

/// The messages of `folder` not found yet that carry or mention one of `ids`.
async fn search_folder(
    session: &mut ImapSession,
    folder: &Folder,
    ids: &[String],
) -> Result<Vec<FetchedSummary>, MailError> {
    let selected = session.examine(&folder.name).await?;
    if selected.uid_validity != folder.uid_validity {
        return Err(MailError::FolderChanged {
            folder: folder.name.clone(),
            expected: folder.uid_validity,
            actual: selected.uid_validity,
        });
    }
    let mut new_uids = BTreeSet::new();
    for chunk in ids.chunks(IDS_PER_SEARCH) {
        let program = SearchProgram::mentioning_any(chunk)?;
        let uids = uid_search(session, &program).await?;
        new_uids.extend(uids.into_iter().filter(|u| !folder.found.contains_key(u)));
    }
    let wanted: Vec<u32> = new_uids.into_iter().collect();
    fetch_by_uid(session, &wanted).await
}

fn found_count(folders: &[Folder]) -> usize {
    folders.iter().map(|f| f.found.len()).sum()
}

/// The found messages, oldest first, at most [`MAX_THREAD_MESSAGES`] (the newest).
fn thread_of(folder: &str, uid_validity: u32, uid: u32, folders: Vec<Folder>) -> MailThread {
    let searched_folders = folders.iter().map(|f| f.name.clone()).collect();
    let mut messages: Vec<ThreadMessage> = folders
        .into_iter()
        .flat_map(|f| {
            let (name, validity) = (f.name, f.uid_validity);
            f.found.into_values().map(move |m| ThreadMessage {
                folder: name.clone(),
                uid_validity: validity,
                summary: m.summary,
            })
        })
        .collect();
    messages.sort_by_cached_key(|m| (sort_time(&m.summary), m.folder.clone(), m.summary.uid));
    let truncated = messages.len() > MAX_THREAD_MESSAGES;
    if truncated {
        messages.drain(..messages.len() - MAX_THREAD_MESSAGES);
    }
    MailThread {
        folder: folder.to_owned(),
        uid_validity,
        uid,
        searched_folders,
        truncated,
        messages,
    }
}

/// Seconds since the epoch of the summary's date; undated messages sort first.
fn sort_time(summary: &MessageSummary) -> i64 {
    summary
        .date
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map_or(i64::MIN, |d| d.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(uid: u32, date: Option<&str>) -> FetchedSummary {
        FetchedSummary {
            summary: MessageSummary {
                uid,
                message_id: None,
                subject: None,
                from: vec![],
                to: vec![],
                cc: vec![],
                date: date.map(str::to_owned),
                flags: vec![],
                size: None,
                has_attachments: false,
            },
            linked_ids: vec![],
        }
    }

    fn folder(name: &str, found: Vec<FetchedSummary>) -> Folder {
        Folder {
            name: name.into(),
            uid_validity: 7,
            found: found.into_iter().map(|m| (m.summary.uid, m)).collect(),
        }
    }

    #[test]
    fn threads_are_oldest_first_across_folders() {
        let inbox = folder(
            "INBOX",
            vec![
                summary(3, Some("2024-01-03T10:00:00+00:00")),
                summary(1, Some("2024-01-01T10:00:00+00:00")),
            ],
        );
        // 09:00 -05:00 is 14:00 UTC, after INBOX's 10:00 UTC on the 2nd.
        let sent = folder("Sent", vec![summary(9, Some("2024-01-02T09:00:00-05:00"))]);
        let thread = thread_of("INBOX", 7, 3, vec![inbox, sent]);
        let order: Vec<_> = thread
            .messages
            .iter()
            .map(|m| (m.folder.as_str(), m.summary.uid))
            .collect();
        assert_eq!(order, [("INBOX", 1), ("Sent", 9), ("INBOX", 3)]);
        assert_eq!(thread.searched_folders, ["INBOX", "Sent"]);
        assert!(!thread.truncated);
    }

    #[test]
    fn long_threads_keep_the_newest() {
        let many = (1..=(MAX_THREAD_MESSAGES as u32 + 5))
            .map(|uid| {
                summary(
                    uid,
                    Some(&format!("2024-01-01T00:00:{:02}+00:00", uid % 60)),
                )
            })
            .collect();
        let thread = thread_of("INBOX", 7, 1, vec![folder("INBOX", many)]);
        assert!(thread.truncated);
        assert_eq!(thread.messages.len(), MAX_THREAD_MESSAGES);
    }
}
