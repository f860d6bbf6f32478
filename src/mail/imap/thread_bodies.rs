//! The bodies of a thread's messages, so that a conversation reads once from top to
//! bottom: each message's text (HTML as Markdown, as `get_mail_message` renders it) with
//! the quoted history and signature folded away unless asked for, so that what a reply
//! quotes from the message above it is not repeated. Bounded twice: each body is a window
//! of at most `max_chars_per_message`, and the thread's bodies together hold at most
//! `max_chars`; the messages after the budget ran out come as summaries only, and
//! `next_offset` says where to go on. At most [`MAX_THREAD_BODIES`] bodies are read per
//! call, with one `UID FETCH` per folder of the first [`FIRST_FETCH`] bytes of each (all of
//! nearly every mail; a larger message is read from that start, and says so).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::read::FIRST_FETCH;
use super::session::ImapSession;
use super::summary::uid_set;
use crate::mail::blocking::run_blocking;
use crate::mail::error::MailError;
use crate::mail::message::{BodySource, BodyWindow, MAX_WINDOW_CHARS, ReadOptions, read_message};

/// The most bodies one call reads (the rest of a longer thread: call again with offset).
pub const MAX_THREAD_BODIES: usize = 50;

/// How a thread's bodies are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyRequest {
    /// Index (oldest first, from 0) of the first message whose body is returned.
    pub offset: usize,
    /// The most characters of one message's body.
    pub max_chars_per_message: usize,
    /// The most characters of all bodies together.
    pub max_chars: usize,
    /// Keep quoted history and signatures (folded away otherwise).
    pub include_quoted: bool,
}

impl BodyRequest {
    /// Checked limits: both budgets 1 to [`MAX_WINDOW_CHARS`], the message's at most the
    /// thread's.
    pub fn new(
        offset: usize,
        max_chars_per_message: usize,
        max_chars: usize,
        include_quoted: bool,
    ) -> Result<Self, MailError> {
        for (name, value) in [
            ("max_chars_per_message", max_chars_per_message),
            ("max_chars", max_chars),
        ] {
            if value == 0 || value > MAX_WINDOW_CHARS {
                return Err(MailError::InvalidInput(format!(
                    "{name} must be between 1 and {MAX_WINDOW_CHARS}, not {value}"
                )));
            }
        }
        Ok(BodyRequest {
            offset,
            max_chars_per_message: max_chars_per_message.min(max_chars),
            max_chars,
            include_quoted,
        })
    }
}

/// What a thread view shows of one message's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ThreadBody {
    /// The message's own text (window from 0): text/plain, or HTML as Markdown, with
    /// quoted history and the signature folded into marker lines unless include_quoted.
    /// truncated/next_offset: get_mail_message with that offset reads on.
    pub body: BodyWindow,
    /// Lines of quoted history and signature left out (0 with include_quoted).
    pub folded_lines: usize,
    /// Where the text came from: "text", "html" (converted) or "none".
    pub body_source: BodySource,
    /// Set when the text was read from the start of a large message only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_note: Option<String>,
}

/// One message whose body is wanted: where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyWanted {
    pub folder: String,
    pub uid_validity: u32,
    pub uid: u32,
}

/// The start (at most [`FIRST_FETCH`] bytes) of each wanted message and its size, keyed
/// by (folder, uid): one `UID FETCH` per folder. The caller's folders were checked for
/// their UIDVALIDITY when the thread was gathered; it is checked again here.
pub async fn fetch_starts(
    session: &mut ImapSession,
    wanted: &[BodyWanted],
) -> Result<BTreeMap<(String, u32), (Vec<u8>, usize)>, MailError> {
    let mut by_folder: BTreeMap<(&str, u32), Vec<u32>> = BTreeMap::new();
    for message in wanted {
        by_folder
            .entry((&message.folder, message.uid_validity))
            .or_default()
            .push(message.uid);
    }
    let items = format!("(UID RFC822.SIZE BODY.PEEK[]<0.{FIRST_FETCH}>)");
    let mut starts = BTreeMap::new();
    for ((folder, validity), uids) in by_folder {
        session.examine_checked(folder, Some(validity)).await?;
        let fetches = session
            .uid_fetch("fetching thread bodies", uid_set(&uids), &items)
            .await?;
        for fetch in &fetches {
            let (Some(uid), Some(raw)) = (fetch.uid, fetch.body()) else {
                continue;
            };
            if uids.contains(&uid) {
                let size = fetch.size.map_or(raw.len(), |s| s as usize);
                starts.insert((folder.to_owned(), uid), (raw.to_vec(), size));
            }
        }
    }
    Ok(starts)
}

/// The bodies of `raws` (oldest first; `None` where the server sent nothing) within the
/// budgets of `request`: one entry per message read, and how many were read before the
/// thread's budget ran out. Runs on the blocking pool.
pub async fn read_bodies(
    raws: Vec<Option<(Vec<u8>, usize)>>,
    request: BodyRequest,
) -> Result<Vec<Option<ThreadBody>>, MailError> {
    run_blocking("the thread's messages could not be read", move || {
        let mut left = request.max_chars;
        let mut bodies = Vec::with_capacity(raws.len());
        for raw in raws {
            if left == 0 {
                break;
            }
            let body = raw.and_then(|(raw, size)| {
                let options = ReadOptions {
                    offset: 0,
                    max_chars: request.max_chars_per_message.min(left),
                    include_html: false,
                    include_quoted: request.include_quoted,
                };
                let content = read_message(&raw, &options).ok()?;
                let body_note = (raw.len() < size).then(|| {
                    format!(
                        "read from the first {} KiB of this {size}-byte message: \
                         get_mail_message reads it whole",
                        FIRST_FETCH / 1024
                    )
                });
                Some(ThreadBody {
                    body: content.body,
                    folded_lines: content.folded_lines,
                    body_source: content.body_source,
                    body_note,
                })
            });
            if let Some(body) = &body {
                left -= body.body.text.chars().count().min(left);
            }
            bodies.push(body);
        }
        bodies
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Option<(Vec<u8>, usize)> {
        let raw = format!("Subject: x\r\n\r\n{text}\r\n").into_bytes();
        let size = raw.len();
        Some((raw, size))
    }

    #[tokio::test]
    async fn the_thread_budget_stops_the_bodies() {
        let request = BodyRequest::new(0, 6, 10, false).unwrap();
        let bodies = read_bodies(vec![raw("abcdefgh"), raw("ijklmnop"), raw("q")], request)
            .await
            .unwrap();
        assert_eq!(bodies.len(), 2, "the budget ran out in the second message");
        let first = bodies[0].as_ref().unwrap();
        assert_eq!(first.body.text, "abcdef");
        assert!(first.body.truncated);
        assert_eq!(bodies[1].as_ref().unwrap().body.text, "ijkl");
    }

    #[tokio::test]
    async fn a_large_message_read_from_its_start_says_so() {
        let (bytes, _) = raw("hello").unwrap();
        let request = BodyRequest::new(0, 100, 100, false).unwrap();
        let bodies = read_bodies(vec![Some((bytes, 1_000_000)), None], request)
            .await
            .unwrap();
        let note = bodies[0].as_ref().unwrap().body_note.as_deref().unwrap();
        assert!(note.contains("get_mail_message"), "{note}");
        assert_eq!(bodies[1], None);
    }

    #[test]
    fn budgets_have_limits() {
        assert!(BodyRequest::new(0, 0, 10, false).is_err());
        assert!(BodyRequest::new(0, 10, MAX_WINDOW_CHARS + 1, false).is_err());
        let clamped = BodyRequest::new(3, 500, 100, true).unwrap();
        assert_eq!(clamped.max_chars_per_message, 100);
    }
}
