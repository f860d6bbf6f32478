//! Reading a folder page by page and reading one message. A page is fetched by the
//! sequence numbers computed from the folder's message count (EXISTS), so its cost does
//! not grow with the folder. A message is read with `BODY.PEEK`, which leaves it unread;
//! it is marked \Seen only when the caller asks. One FETCH brings flags, size, structure
//! and the first [`FIRST_FETCH`] bytes: all of most messages. A message up to
//! [`WHOLE_MESSAGE_LIMIT`] gets the rest in a second FETCH. Of a larger one, the second
//! FETCH brings only the header, the MIME headers, the text parts and small parts
//! ([`super::sections`]): its attachments are described, not downloaded. Messages are
//! parsed on a blocking thread. On a server without UIDPLUS, where a move or delete may
//! leave messages flagged \Deleted rather than expunge another client's, a page lists only
//! the messages not flagged \Deleted (found by `UID SEARCH UNDELETED`).

use std::ops::{Range, RangeInclusive};

use futures::TryStreamExt;
use schemars::JsonSchema;
use serde::Serialize;

use super::gmail;
use super::sections::{Plan, Skeleton};
use super::session::{ImapSession, SelectedFolder};
use super::summary::{MessageSummary, fetch_by_sequence, fetch_by_uid, flag_names};
use crate::mail::blocking::run_blocking;
use crate::mail::error::MailError;
use crate::mail::message::{MessageContent, ReadOptions, read_message};

/// The most messages one page may hold.
pub const MAX_PER_PAGE: u32 = 100;

/// How much of a message the first FETCH brings: all of most mails.
pub const FIRST_FETCH: u32 = 64 * 1024;

/// Messages up to this size are read whole; larger ones part by part.
pub const WHOLE_MESSAGE_LIMIT: u32 = 256 * 1024;

/// Which page of a newest-first list to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    per_page: u32,
}

impl PageRequest {
    /// Page `page` (from 1) of `per_page` messages (1 to [`MAX_PER_PAGE`]).
    pub fn new(page: u32, per_page: u32) -> Result<Self, MailError> {
        if page == 0 {
            return Err(MailError::InvalidInput(
                "page starts at 1 (the newest messages)".into(),
            ));
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(MailError::InvalidInput(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}, not {per_page}"
            )));
        }
        Ok(PageRequest { page, per_page })
    }

    pub fn page(&self) -> u32 {
        self.page
    }

    pub fn per_page(&self) -> u32 {
        self.per_page
    }

    /// How many newer messages come before this page.
    fn skipped(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    /// The sequence numbers of this page in a folder of `exists` messages (sequence
    /// number `exists` is the newest); `None` past the end.
    pub fn sequence_range(&self, exists: u32) -> Option<RangeInclusive<u32>> {
        let newest = u64::from(exists).checked_sub(self.skipped())?;
        if newest == 0 {
            return None;
        }
        let oldest = newest.saturating_sub(u64::from(self.per_page) - 1).max(1);
        Some(oldest as u32..=newest as u32)
    }

    /// The indexes of this page in a newest-first list of `total` items.
    pub fn index_range(&self, total: usize) -> Range<usize> {
        let start = usize::try_from(self.skipped())
            .unwrap_or(usize::MAX)
            .min(total);
        let end = start.saturating_add(self.per_page as usize).min(total);
        start..end
    }

    /// Whether older messages follow this page in a list of `total`.
    pub fn has_more(&self, total: u64) -> bool {
        self.skipped() + u64::from(self.per_page) < total
    }
}

/// One page of messages of a folder, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MessagePage {
    /// The folder, as the server names it.
    pub folder: String,
    /// The folder's UIDVALIDITY: pass it back with a uid to be sure it names the same message.
    pub uid_validity: u32,
    /// How many messages there are in all (in the folder, or matching the search).
    pub total: u32,
    /// This page's number, from 1.
    pub page: u32,
    /// Messages per page.
    pub per_page: u32,
    /// Whether older messages follow: ask for page + 1.
    pub has_more: bool,
    /// The messages of this page, newest first.
    pub messages: Vec<MessageSummary>,
}

impl MessagePage {
    pub(crate) fn new(
        folder: &SelectedFolder,
        total: u32,
        page: PageRequest,
        messages: Vec<MessageSummary>,
    ) -> Self {
        MessagePage {
            folder: folder.name.clone(),
            uid_validity: folder.uid_validity,
            total,
            page: page.page,
            per_page: page.per_page,
            has_more: page.has_more(u64::from(total)),
            messages,
        }
    }
}

/// A page of `folder`, newest first, fetched by sequence range.
pub async fn list_messages(
    session: &mut ImapSession,
    folder: &str,
    page: PageRequest,
) -> Result<MessagePage, MailError> {
    let selected = session.examine(folder).await?;
    if !session.has_capability("UIDPLUS").await? {
        return list_undeleted(session, &selected, page).await;
    }
    let messages = match page.sequence_range(selected.exists) {
        Some(range) => fetch_by_sequence(session, range).await?,
        None => Vec::new(),
    };
    let summaries = messages.into_iter().map(|m| m.summary).collect();
    Ok(MessagePage::new(
        &selected,
        selected.exists,
        page,
        summaries,
    ))
}

/// A page of the messages of the examined folder not flagged \Deleted, newest first.
async fn list_undeleted(
    session: &mut ImapSession,
    selected: &SelectedFolder,
    page: PageRequest,
) -> Result<MessagePage, MailError> {
    let found = session
        .read_command("listing messages", |s| s.uid_search("UNDELETED"))
        .await?;
    let mut uids: Vec<u32> = found.into_iter().collect();
    uids.sort_unstable_by(|a, b| b.cmp(a));
    let wanted = &uids[page.index_range(uids.len())];
    let messages = fetch_by_uid(session, wanted).await?;
    let total = u32::try_from(uids.len()).unwrap_or(u32::MAX);
    let summaries = messages.into_iter().map(|m| m.summary).collect();
    Ok(MessagePage::new(selected, total, page, summaries))
}

/// How to read a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetOptions {
    /// The folder's uid_validity as the caller knows it; refused when it changed.
    pub uid_validity: Option<u32>,
    /// The body window and whether to include the HTML.
    pub read: ReadOptions,
    /// Set \Seen on the message (reading alone never does).
    pub mark_seen: bool,
}

/// One message, read. Everything in `content` is third-party data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MailMessage {
    /// The folder, as the server names it.
    pub folder: String,
    /// The folder's UIDVALIDITY.
    pub uid_validity: u32,
    /// The message's UID.
    pub uid: u32,
    /// IMAP flags after reading, e.g. "\\Seen", "\\Flagged", "\\Answered".
    pub flags: Vec<String>,
    /// Size of the whole message in bytes.
    pub size: usize,
    #[serde(flatten)]
    pub content: MessageContent,
    /// true when this account never sent mail to the sender (From), as its Sent folder
    /// shows: a first contact, to be wary of; false when it did; absent when unknown.
    pub first_contact: Option<bool>,
    /// Gmail (X-GM-EXT-1) only: the message's labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Gmail (X-GM-EXT-1) only: the id of the message's conversation (as text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gmail_thread_id: Option<String>,
}

/// Reads message `uid` of `folder` without marking it seen, unless `options.mark_seen`.
pub async fn get_message(
    session: &mut ImapSession,
    folder: &str,
    uid: u32,
    options: GetOptions,
) -> Result<MailMessage, MailError> {
    let selected = match options.mark_seen {
        true => session.select_checked(folder, options.uid_validity).await?,
        false => {
            session
                .examine_checked(folder, options.uid_validity)
                .await?
        }
    };
    let (fetched, mut flags, size) = fetch_message(session, &selected, uid).await?;
    let read = options.read;
    let failed = format!("message {uid} could not be read");
    let content = run_blocking(&failed, move || fetched.read(&read)).await??;
    if options.mark_seen && !flags.iter().any(|f| f == "\\Seen") {
        mark_seen(session, uid).await?;
        flags.push("\\Seen".into());
    }
    let gmail = match gmail::is_gmail(session).await? {
        true => gmail::gmail_attributes(session, &[uid]).await?.remove(&uid),
        false => None,
    };
    Ok(MailMessage {
        folder: selected.name,
        uid_validity: selected.uid_validity,
        uid,
        flags,
        size,
        content,
        first_contact: None,
        labels: gmail.as_ref().map(|g| g.labels.clone()),
        gmail_thread_id: gmail.and_then(|g| g.thread_id).map(|id| id.to_string()),
    })
}

/// A message as fetched: all of it, or a skeleton of a large one.
enum Fetched {
    Whole(Vec<u8>),
    Skeleton(Skeleton),
}

impl Fetched {
    fn read(&self, options: &ReadOptions) -> Result<MessageContent, MailError> {
        match self {
            Fetched::Whole(raw) => read_message(raw, options),
            Fetched::Skeleton(skeleton) => {
                let mut content = read_message(&skeleton.raw, options)?;
                for attachment in &mut content.attachments {
                    if let Some(size) = skeleton.sizes.get(&attachment.part_id) {
                        attachment.size = *size;
                    }
                }
                Ok(content)
            }
        }
    }
}

/// Message `uid` (whole, or the sections a reader needs when it is large), its flags and
/// its size. `UnknownMessage` when no message has that UID.
async fn fetch_message(
    session: &mut ImapSession,
    folder: &SelectedFolder,
    uid: u32,
) -> Result<(Fetched, Vec<String>, usize), MailError> {
    let items = format!("(UID FLAGS RFC822.SIZE BODYSTRUCTURE BODY.PEEK[]<0.{FIRST_FETCH}>)");
    let fetches = session.uid_fetch("fetching a message", uid, &items).await?;
    let unknown = || MailError::UnknownMessage {
        folder: folder.name.clone(),
        uid,
    };
    let first = fetches
        .iter()
        .find(|f| f.uid == Some(uid) && f.body().is_some())
        .ok_or_else(unknown)?;
    let flags = flag_names(first);
    let start = first.body().unwrap_or_default();
    let size = first.size.map_or(start.len(), |s| s as usize);
    if start.len() >= size {
        return Ok((Fetched::Whole(start.to_vec()), flags, size));
    }
    if size <= WHOLE_MESSAGE_LIMIT as usize {
        let rest = format!("(UID BODY.PEEK[]<{}.{}>)", start.len(), size - start.len());
        let fetches = session.uid_fetch("fetching a message", uid, &rest).await?;
        let rest = fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body())
            .ok_or_else(unknown)?;
        return Ok((Fetched::Whole([start, rest].concat()), flags, size));
    }
    if let Some(plan) = first.bodystructure().and_then(Plan::new) {
        let fetches = session
            .uid_fetch(
                "fetching a message",
                uid,
                &format!("(UID {})", plan.items()),
            )
            .await?;
        let skeleton = fetches
            .iter()
            .filter(|f| f.uid == Some(uid))
            .find_map(|f| plan.assemble(|path| f.section(path)));
        if let Some(skeleton) = skeleton {
            return Ok((Fetched::Skeleton(skeleton), flags, size));
        }
    }
    // A structure the plan cannot rebuild: the whole message after all.
    let fetches = session
        .uid_fetch("fetching a message", uid, "(UID BODY.PEEK[])")
        .await?;
    let raw = fetches
        .iter()
        .find(|f| f.uid == Some(uid))
        .and_then(|f| f.body())
        .ok_or_else(unknown)?;
    Ok((Fetched::Whole(raw.to_vec()), flags, size))
}

async fn mark_seen(session: &mut ImapSession, uid: u32) -> Result<(), MailError> {
    session
        .command("marking a message seen", |s| async move {
            s.uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(page: u32, per_page: u32) -> PageRequest {
        PageRequest::new(page, per_page).unwrap()
    }

    #[test]
    fn pages_are_sequence_ranges_from_the_newest() {
        let cases = [
            (5000, page(1, 20), Some(4981..=5000), true),
            (5000, page(2, 20), Some(4961..=4980), true),
            (5000, page(250, 20), Some(1..=20), false),
            (5000, page(251, 20), None, false),
            (5000, page(1, 100), Some(4901..=5000), true),
            (45, page(3, 20), Some(1..=5), false),
            (40, page(2, 20), Some(1..=20), false),
            (3, page(1, 20), Some(1..=3), false),
            (0, page(1, 20), None, false),
            (10, page(u32::MAX, 100), None, false),
        ];
        for (exists, request, range, more) in cases {
            assert_eq!(
                request.sequence_range(exists),
                range,
                "{exists} {request:?}"
            );
            assert_eq!(
                request.has_more(u64::from(exists)),
                more,
                "{exists} {request:?}"
            );
        }
    }

    #[test]
    fn pages_slice_newest_first_lists() {
        assert_eq!(page(1, 20).index_range(45), 0..20);
        assert_eq!(page(3, 20).index_range(45), 40..45);
        assert_eq!(page(4, 20).index_range(45), 45..45);
        assert_eq!(page(u32::MAX, 100).index_range(5), 5..5);
    }

    #[test]
    fn bad_pages_are_refused() {
        for (p, n) in [(0, 20), (1, 0), (1, 101)] {
            assert!(
                matches!(PageRequest::new(p, n), Err(MailError::InvalidInput(_))),
                "{p} {n}"
            );
        }
    }
}
