//! Which messages a call names ([`MessageSelection`]: a folder, 1 to [`MAX_UIDS`] UIDs, the
//! folder's `uid_validity` when known) and which of them exist in the open folder
//! ([`existing_messages`], with their flags and Message-IDs). Moving, deleting and flagging
//! all start here, so that each acts only on named UIDs that exist and reports the others.

use std::collections::HashSet;

use async_imap::types::{Fetch, Flag as ImapFlag};

use super::invalid;
use crate::mail::error::MailError;
use crate::mail::imap::session::{ImapSession, SelectedFolder};
use crate::mail::imap::uidset::uid_set;

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

/// One message as found in the selected folder.
pub(super) struct FoundMessage {
    pub(super) uid: u32,
    pub(super) flags: Vec<String>,
    pub(super) message_id: Option<String>,
}

/// The messages among `uids` that exist in the selected `folder`, with their flags (and
/// Message-IDs when asked). Refuses when none exists: nothing would be done.
pub(super) async fn existing_messages(
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
pub(crate) fn flag_name(flag: &ImapFlag<'_>) -> Option<String> {
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

/// Named UIDs not among those found.
pub(super) fn missing(named: &[u32], found: &[FoundMessage]) -> Vec<u32> {
    let found: HashSet<u32> = found.iter().map(|m| m.uid).collect();
    named
        .iter()
        .copied()
        .filter(|uid| !found.contains(uid))
        .collect()
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
}
