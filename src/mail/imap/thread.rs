//! The conversation a message belongs to, gathered by Message-ID, In-Reply-To and
//! References in its folder and in the Sent folder, oldest first, with each message's
//! body ([`super::thread_bodies`]) unless only summaries are asked for.
//!
//! Each round searches both folders for messages that carry or mention an id not looked
//! for yet, then adds the ids those messages mention, until no new id turns up (at most
//! [`MAX_ROUNDS`] rounds). Where the server threads mail itself by references alone
//! (`THREAD=REFS` in its CAPABILITY, as Dovecot has), each search is wrapped in
//! `INTHREAD REFS (...)` (draft-ietf-morg-inthread, which Dovecot implements without
//! advertising `SEARCH=INTHREAD`): the server answers with every message of the threads
//! the matches belong to, in an ordinary `* SEARCH` answer, so one round finds the whole
//! of a folder's thread however long its chain of replies. `REFERENCES` (RFC 5256) is not
//! used even where offered: it also merges threads whose roots share a base subject, so
//! an unrelated "Plans" would join a "Re: Plans" conversation; `REFS` is the same
//! threading without that step. Should the server refuse the key (BAD or NO; the session
//! stays usable), or answer without the asked message itself (which every search of its
//! own ids must find), the plain header searches (`UID SEARCH HEADER ...`, which work on every
//! server) are used instead, and the result's `found_by` says which was used.
//!
//! On Gmail (X-GM-EXT-1) the conversation is Gmail's own: the messages of All Mail with
//! the asked message's `X-GM-THRID` (`UID SEARCH X-GM-THRID n`), sent ones included; the
//! rounds are not needed.
//!
//! The `UID THREAD` command itself is not used: its `* THREAD` answer cannot be read here.
//! imap-proto 0.17 has no parser for it, and async-imap 0.12 decodes every line of the
//! connection with imap-proto: an unparsable line is an I/O error whose bytes stay in the
//! stream's buffer, so the session is broken from then on. Its raw `read_response` goes
//! through the same decoder, and writing to the socket beside it would race its buffer.
//! (The unit test `imap_proto_still_cannot_parse_thread_answers` notices a release that
//! can.) THREAD also covers one folder only, which INTHREAD does as well; the Sent folder
//! is searched by the same rounds.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;

use super::gmail;
use super::mailboxes::{SpecialUse, find_special_use};
use super::search::uid_search;
use super::session::ImapSession;
use super::summary::{FetchedSummary, MessageSummary, fetch_by_uid};
use super::thread_bodies::{
    BodyRequest, BodyWanted, MAX_THREAD_BODIES, ThreadBody, fetch_starts, read_bodies,
};
use crate::mail::error::MailError;
use crate::mail::search::{SearchKey, SearchProgram};

/// Rounds of searching before the thread is returned as found so far.
pub const MAX_ROUNDS: usize = 5;

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
    /// The message's own text, when bodies were asked for and it is within the window.
    #[serde(flatten)]
    pub body: Option<ThreadBody>,
}

/// How the messages of a thread were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// The server's own threading (`SEARCH INTHREAD REFS`), plus the same rounds.
    ServerThreads,
    /// Header searches for Message-ID, In-Reply-To and References, round by round.
    Headers,
    /// Gmail's thread id (`X-GM-THRID`) in All Mail.
    GmailThreadId,
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
    /// How the messages were found.
    pub found_by: FoundBy,
    /// True when the thread had more than the messages returned (the oldest were left out).
    pub truncated: bool,
    /// Index (oldest first, from 0) of the first message with its body, when bodies were
    /// asked for; the messages before it come as summaries only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// True when later messages have no body because the character budget (or the
    /// per-call limit of bodies) ran out: call again with offset = next_offset.
    pub bodies_truncated: bool,
    /// Where the next call's bodies start, when bodies_truncated.
    pub next_offset: Option<usize>,
    /// The messages of the conversation, oldest first.
    pub messages: Vec<ThreadMessage>,
}

/// One folder taking part in the search.
struct Folder {
    name: String,
    uid_validity: u32,
    found: BTreeMap<u32, FetchedSummary>,
}

/// The conversation of message `uid` in `folder`, with the bodies `bodies` asks for
/// (`None`: summaries only).
pub async fn get_thread(
    session: &mut ImapSession,
    folder: &str,
    uid: u32,
    uid_validity: Option<u32>,
    bodies: Option<BodyRequest>,
) -> Result<MailThread, MailError> {
    let mut thread = find_thread(session, folder, uid, uid_validity).await?;
    if let Some(request) = bodies {
        add_bodies(session, &mut thread, request).await?;
    }
    Ok(thread)
}

/// The messages of the conversation, as summaries.
async fn find_thread(
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
    let gmail_thread = start
        .summary
        .gmail_thread_id
        .as_deref()
        .and_then(|id| id.parse::<u64>().ok());
    if let Some(thread_id) = gmail_thread
        && let Some(thread) = gmail_thread_of(session, &selected, uid, thread_id).await?
    {
        return Ok(thread);
    }
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
    let mut found_by = FoundBy::Headers;
    if session.has_capability("THREAD=REFS").await? {
        let before = (folders_snapshot(&folders), ids.clone());
        match gather(session, &mut folders, &mut ids, true).await {
            Ok(true) => found_by = FoundBy::ServerThreads,
            Ok(false) => {
                tracing::debug!("INTHREAD missed the asked message; searching headers");
                restore(&mut folders, before.0);
                ids = before.1;
            }
            Err(err @ MailError::ServerSaid { .. }) if !session.is_broken() => {
                tracing::debug!(error = %err, "INTHREAD refused; searching headers");
                restore(&mut folders, before.0);
                ids = before.1;
            }
            Err(err) => return Err(err),
        }
    }
    if found_by == FoundBy::Headers {
        gather(session, &mut folders, &mut ids, false).await?;
    }
    Ok(thread_of(
        &selected.name,
        selected.uid_validity,
        uid,
        folders,
        found_by,
    ))
}

/// On Gmail: the conversation `thread_id` as All Mail holds it (every message of it, sent
/// ones too), by `UID SEARCH X-GM-THRID`; `None` without an All Mail folder.
async fn gmail_thread_of(
    session: &mut ImapSession,
    selected: &super::session::SelectedFolder,
    uid: u32,
    thread_id: u64,
) -> Result<Option<MailThread>, MailError> {
    let Some((all_mail, mut uids)) = gmail::thread_in_all_mail(session, thread_id).await? else {
        return Ok(None);
    };
    let validity = session.examine(&all_mail).await?.uid_validity;
    uids.sort_unstable();
    // The newest MAX_THREAD_MESSAGES, and one more so that the cut shows.
    let keep = uids.len().saturating_sub(MAX_THREAD_MESSAGES + 1);
    let found = fetch_by_uid(session, &uids[keep..]).await?;
    let folder = Folder {
        name: all_mail,
        uid_validity: validity,
        found: found.into_iter().map(|m| (m.summary.uid, m)).collect(),
    };
    Ok(Some(thread_of(
        &selected.name,
        selected.uid_validity,
        uid,
        vec![folder],
        FoundBy::GmailThreadId,
    )))
}

/// What each folder had found, to go back to should the server refuse INTHREAD halfway.
fn folders_snapshot(folders: &[Folder]) -> Vec<BTreeMap<u32, FetchedSummary>> {
    folders.iter().map(|f| f.found.clone()).collect()
}

fn restore(folders: &mut [Folder], snapshot: Vec<BTreeMap<u32, FetchedSummary>>) {
    for (folder, found) in folders.iter_mut().zip(snapshot) {
        folder.found = found;
    }
}

/// Searches the folders round by round until no new id turns up; with `server_threads`,
/// each search asks for the whole server-side threads of its matches. False when the
/// server's threads are not to be trusted: the first search of the asked message's own
/// folder (for ids the message itself carries) did not even return that message, as a
/// server that takes INTHREAD without implementing it answers.
async fn gather(
    session: &mut ImapSession,
    folders: &mut [Folder],
    ids: &mut BTreeSet<String>,
    server_threads: bool,
) -> Result<bool, MailError> {
    let mut searched = BTreeSet::new();
    for round in 0..MAX_ROUNDS {
        let fresh: Vec<String> = ids.difference(&searched).cloned().collect();
        if fresh.is_empty() || found_count(folders) >= MAX_THREAD_MESSAGES {
            break;
        }
        for (index, folder) in folders.iter_mut().enumerate() {
            let (new, saw_known) = search_folder(session, folder, &fresh, server_threads).await?;
            if server_threads && round == 0 && index == 0 && !saw_known {
                return Ok(false);
            }
            for new in new {
                ids.extend(new.linked_ids.iter().cloned());
                folder.found.insert(new.summary.uid, new);
            }
        }
        searched.extend(fresh);
    }
    Ok(true)
}

/// The messages of `folder` not found yet that carry or mention one of `ids` (with
/// `server_threads`: that belong to a thread of such a message, as the server threads),
/// and whether the server also named a message found before.
async fn search_folder(
    session: &mut ImapSession,
    folder: &Folder,
    ids: &[String],
    server_threads: bool,
) -> Result<(Vec<FetchedSummary>, bool), MailError> {
    let selected = session.examine(&folder.name).await?;
    if selected.uid_validity != folder.uid_validity {
        return Err(MailError::FolderChanged {
            folder: folder.name.clone(),
            expected: folder.uid_validity,
            actual: selected.uid_validity,
        });
    }
    let mut new_uids = BTreeSet::new();
    let mut saw_known = false;
    for chunk in ids.chunks(IDS_PER_SEARCH) {
        let mut program = SearchProgram::mentioning_any(chunk)?;
        if server_threads {
            program = in_thread(program);
        }
        let uids = uid_search(session, &program).await?;
        saw_known |= uids.iter().any(|u| folder.found.contains_key(u));
        new_uids.extend(uids.into_iter().filter(|u| !folder.found.contains_key(u)));
    }
    let wanted: Vec<u32> = new_uids.into_iter().collect();
    Ok((fetch_by_uid(session, &wanted).await?, saw_known))
}

/// `INTHREAD REFS (program)`: every message of the threads that `program` matches.
fn in_thread(program: SearchProgram) -> SearchProgram {
    let keys = program.keys().to_vec();
    SearchProgram::new(vec![SearchKey::InThread(Box::new(SearchKey::Group(keys)))])
}

/// Reads the bodies of the thread's messages from `request.offset` on, within its budgets.
async fn add_bodies(
    session: &mut ImapSession,
    thread: &mut MailThread,
    request: BodyRequest,
) -> Result<(), MailError> {
    let start = request.offset.min(thread.messages.len());
    let end = start
        .saturating_add(MAX_THREAD_BODIES)
        .min(thread.messages.len());
    let wanted: Vec<BodyWanted> = thread.messages[start..end]
        .iter()
        .map(|m| BodyWanted {
            folder: m.folder.clone(),
            uid_validity: m.uid_validity,
            uid: m.summary.uid,
        })
        .collect();
    let mut starts = fetch_starts(session, &wanted).await?;
    let raws = wanted
        .iter()
        .map(|w| starts.remove(&(w.folder.clone(), w.uid)))
        .collect();
    let bodies = read_bodies(raws, request).await?;
    let read = bodies.len();
    for (message, body) in thread.messages[start..].iter_mut().zip(bodies) {
        message.body = body;
    }
    thread.offset = Some(start);
    let next = start + read;
    thread.bodies_truncated = next < thread.messages.len();
    thread.next_offset = thread.bodies_truncated.then_some(next);
    Ok(())
}

fn found_count(folders: &[Folder]) -> usize {
    folders.iter().map(|f| f.found.len()).sum()
}

/// The found messages, oldest first, at most [`MAX_THREAD_MESSAGES`] (the newest).
fn thread_of(
    folder: &str,
    uid_validity: u32,
    uid: u32,
    folders: Vec<Folder>,
    found_by: FoundBy,
) -> MailThread {
    let searched_folders = folders.iter().map(|f| f.name.clone()).collect();
    let mut messages: Vec<ThreadMessage> = folders
        .into_iter()
        .flat_map(|f| {
            let (name, validity) = (f.name, f.uid_validity);
            f.found.into_values().map(move |m| ThreadMessage {
                folder: name.clone(),
                uid_validity: validity,
                summary: m.summary,
                body: None,
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
        found_by,
        truncated,
        offset: None,
        bodies_truncated: false,
        next_offset: None,
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
                labels: None,
                gmail_thread_id: None,
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
        let thread = thread_of("INBOX", 7, 3, vec![inbox, sent], FoundBy::Headers);
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
        let thread = thread_of("INBOX", 7, 1, vec![folder("INBOX", many)], FoundBy::Headers);
        assert!(thread.truncated);
        assert_eq!(thread.messages.len(), MAX_THREAD_MESSAGES);
    }

    /// Why `UID THREAD` is not sent: its answer would break the session. Fails once
    /// imap-proto learns to parse it (then THREAD could be used directly).
    #[test]
    fn imap_proto_still_cannot_parse_thread_answers() {
        use async_imap::imap_proto::Response;
        let parsed = Response::parse(b"* THREAD (1 2)(3 (4)(5))\r\n");
        assert!(
            !matches!(parsed, Ok((rest, _)) if rest.is_empty()),
            "imap-proto now parses * THREAD: {parsed:?}"
        );
    }

    #[test]
    fn server_threads_wrap_the_search_in_inthread() {
        let program = in_thread(SearchProgram::mentioning_any(&["<a@x>".into()]).unwrap());
        assert_eq!(
            program.to_imap(false),
            "INTHREAD REFS (OR HEADER \"Message-ID\" \"<a@x>\" OR HEADER \"References\" \"<a@x>\" HEADER \"In-Reply-To\" \"<a@x>\")"
        );
    }
}
