//! Message summaries, the one-line view lists, searches and threads return: fetched in
//! one FETCH by sequence range or by UID set, with flags, size, whether the message has
//! attachments (from BODYSTRUCTURE) and its decoded headers (from
//! `BODY.PEEK[HEADER.FIELDS (...)]`, so nothing is marked seen and RFC 2047 subjects and
//! names come out decoded). On Gmail (X-GM-EXT-1) they also carry labels and the thread
//! id ([`super::gmail`]).

use std::ops::RangeInclusive;

use async_imap::imap_proto::{BodyContentCommon, BodyStructure};
use async_imap::types::{Fetch, Flag};
use futures::TryStreamExt;
use schemars::JsonSchema;
use serde::Serialize;

use super::gmail;
use super::session::ImapSession;
use crate::mail::error::MailError;
use crate::mail::message::headers::SUMMARY_FIELDS;
use crate::mail::message::{Address, HeaderFields};

/// One message as a list shows it. Subjects and names are third-party data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MessageSummary {
    /// The message's UID in its folder; with the folder's uid_validity it names the message.
    pub uid: u32,
    /// Message-ID, with angle brackets.
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// RFC 3339: the Date header, or when the server received it if that is missing.
    pub date: Option<String>,
    /// IMAP flags, e.g. "\\Seen", "\\Flagged", "\\Answered", or keywords such as "$Label1"
    /// (\\Recent is left out).
    pub flags: Vec<String>,
    /// Size of the whole message in bytes.
    pub size: Option<u32>,
    /// Whether any part is an attachment (a disposition of attachment, a file name, or an
    /// attached message).
    pub has_attachments: bool,
    /// Gmail (X-GM-EXT-1) only: the message's labels, e.g. "\\Inbox", "\\Important",
    /// "Work"; usable as the label search criterion and with label_mail_messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Gmail (X-GM-EXT-1) only: the id of the conversation the message belongs to (a
    /// 64-bit number, as text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gmail_thread_id: Option<String>,
}

/// A summary and the ids that link the message into a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedSummary {
    pub summary: MessageSummary,
    /// The message's own Message-ID, its In-Reply-To and its References.
    pub linked_ids: Vec<String>,
}

/// The FETCH items of a summary.
fn summary_items() -> String {
    format!(
        "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS ({SUMMARY_FIELDS})])"
    )
}

/// Summaries of the messages with sequence numbers in `range` of the selected folder,
/// highest sequence number (newest) first.
pub async fn fetch_by_sequence(
    session: &mut ImapSession,
    range: RangeInclusive<u32>,
) -> Result<Vec<FetchedSummary>, MailError> {
    let set = format!("{}:{}", range.start(), range.end());
    let items = summary_items();
    let fetches: Vec<Fetch> = session
        .read_command("fetching message summaries", |s| async move {
            s.fetch(set, items).await?.try_collect().await
        })
        .await?;
    let mut found: Vec<(u32, FetchedSummary)> = fetches
        .iter()
        .filter(|f| range.contains(&f.message))
        .filter_map(|f| Some((f.message, summary_of(f)?)))
        .collect();
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    let mut found: Vec<FetchedSummary> = found.into_iter().map(|(_, s)| s).collect();
    gmail::add_to_summaries(session, &mut found).await?;
    Ok(found)
}

/// Summaries of the messages with `uids` in the selected folder, highest UID (newest)
/// first; UIDs no message has are left out.
pub async fn fetch_by_uid(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<Vec<FetchedSummary>, MailError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let items = summary_items();
    let fetches = session
        .uid_fetch("fetching message summaries", set, &items)
        .await?;
    let mut found: Vec<FetchedSummary> = fetches
        .iter()
        .filter(|f| f.uid.is_some_and(|uid| uids.contains(&uid)))
        .filter_map(summary_of)
        .collect();
    found.sort_by_key(|s| std::cmp::Reverse(s.summary.uid));
    found.dedup_by_key(|s| s.summary.uid);
    gmail::add_to_summaries(session, &mut found).await?;
    Ok(found)
}

/// The summary in one FETCH answer; `None` for an answer without UID (an unsolicited flag
/// update, say).
fn summary_of(fetch: &Fetch) -> Option<FetchedSummary> {
    let uid = fetch.uid?;
    let headers = fetch
        .header()
        .map(HeaderFields::parse_block)
        .unwrap_or_default();
    let received = fetch.internal_date().map(|d| d.to_rfc3339());
    let linked_ids = headers.linked_ids().cloned().collect();
    let summary = MessageSummary {
        uid,
        message_id: headers.message_id,
        subject: headers.subject,
        from: headers.from,
        to: headers.to,
        cc: headers.cc,
        date: headers.date.or(received),
        flags: flag_names(fetch),
        size: fetch.size,
        has_attachments: fetch.bodystructure().is_some_and(has_attachments),
        labels: None,
        gmail_thread_id: None,
    };
    Some(FetchedSummary {
        summary,
        linked_ids,
    })
}

/// The flags of a FETCH answer, without `\Recent`: it only tells whether this session was
/// the first to see the message, which means nothing to a caller (IMAP4rev2 dropped it).
pub fn flag_names(fetch: &Fetch) -> Vec<String> {
    fetch
        .flags()
        .filter(|f| !matches!(f, Flag::Recent))
        .map(|f| flag_name(&f))
        .collect()
}

/// A flag as IMAP writes it: `\Seen`, or a keyword as it is.
pub fn flag_name(flag: &Flag<'_>) -> String {
    match flag {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(name) => name.to_string(),
    }
}

/// Whether any part of the structure is an attachment: a disposition of attachment, a
/// non-text part with a file name, or an attached message.
pub fn has_attachments(structure: &BodyStructure<'_>) -> bool {
    match structure {
        BodyStructure::Multipart { bodies, .. } => bodies.iter().any(has_attachments),
        BodyStructure::Message { .. } => true,
        BodyStructure::Text { common, .. } => disposed_as_attachment(common),
        BodyStructure::Basic { common, .. } => {
            disposed_as_attachment(common) || has_file_name(common)
        }
    }
}

fn disposed_as_attachment(common: &BodyContentCommon<'_>) -> bool {
    common
        .disposition
        .as_ref()
        .is_some_and(|d| d.ty.eq_ignore_ascii_case("attachment"))
}

fn has_file_name(common: &BodyContentCommon<'_>) -> bool {
    let named = |params: &Option<Vec<(_, _)>>, names: &[&str]| {
        params
            .as_ref()
            .is_some_and(|params: &Vec<(std::borrow::Cow<'_, str>, _)>| {
                params
                    .iter()
                    .any(|(key, _)| names.iter().any(|n| key.eq_ignore_ascii_case(n)))
            })
    };
    named(&common.ty.params, &["name", "name*"])
        || common
            .disposition
            .as_ref()
            .is_some_and(|d| named(&d.params, &["filename", "filename*"]))
}

/// A compact UID set: `1:3,7,9:10` for 1, 2, 3, 7, 9, 10.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for uid in sorted {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(uid) => *end = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    ranges
        .iter()
        .map(|&(start, end)| match start == end {
            true => start.to_string(),
            false => format!("{start}:{end}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::imap_proto::{AttributeValue, Response};

    fn structure_has_attachments(bodystructure: &str) -> bool {
        let line = format!("* 1 FETCH (BODYSTRUCTURE {bodystructure})\r\n");
        let (_, response) = Response::parse(line.as_bytes()).expect("a FETCH line");
        let Response::Fetch(_, attributes) = response else {
            panic!("not a FETCH")
        };
        let Some(AttributeValue::BodyStructure(structure)) = attributes.first() else {
            panic!("no BODYSTRUCTURE")
        };
        has_attachments(structure)
    }

    #[test]
    fn attachments_are_seen_in_the_body_structure() {
        let text = r#"("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 1 NIL NIL NIL NIL)"#;
        let html = r#"("text" "html" ("charset" "utf-8") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)"#;
        let pdf = r#"("application" "pdf" NIL NIL NIL "base64" 12 NIL ("attachment" ("filename" "a.pdf")) NIL NIL)"#;
        let named_image =
            r#"("image" "png" ("name" "logo.png") "<logo@x>" NIL "base64" 8 NIL NIL NIL NIL)"#;
        let text_attachment = r#"("text" "plain" NIL NIL NIL "7bit" 5 1 NIL ("attachment" ("filename" "n.txt")) NIL NIL)"#;
        let cases = [
            (text.to_owned(), false),
            (
                format!(r#"({text}{html} "alternative" ("boundary" "b") NIL NIL NIL)"#),
                false,
            ),
            (
                format!(r#"({text}{pdf} "mixed" ("boundary" "b") NIL NIL NIL)"#),
                true,
            ),
            (
                format!(
                    r#"(({text}({html}{named_image} "related" ("boundary" "r") NIL NIL NIL) "alternative" ("boundary" "a") NIL NIL NIL) "mixed" ("boundary" "m") NIL NIL NIL)"#
                ),
                true,
            ),
            (
                format!(r#"({text}{text_attachment} "mixed" ("boundary" "b") NIL NIL NIL)"#),
                true,
            ),
        ];
        for (structure, want) in cases {
            assert_eq!(structure_has_attachments(&structure), want, "{structure}");
        }
    }

    #[test]
    fn uid_sets_are_compact() {
        let cases: [(&[u32], &str); 5] = [
            (&[5], "5"),
            (&[1, 2, 3, 7, 9, 10], "1:3,7,9:10"),
            (&[10, 9, 1, 3, 2, 2], "1:3,9:10"),
            (&[4, 6, 8], "4,6,8"),
            (&[u32::MAX - 1, u32::MAX], "4294967294:4294967295"),
        ];
        for (uids, want) in cases {
            assert_eq!(uid_set(uids), want, "{uids:?}");
        }
    }

    #[test]
    fn flags_are_written_as_imap_writes_them() {
        assert_eq!(flag_name(&Flag::Seen), "\\Seen");
        assert_eq!(flag_name(&Flag::Custom("$Label1".into())), "$Label1");
    }
}
