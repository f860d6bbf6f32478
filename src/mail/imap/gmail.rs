//! Gmail's IMAP extension (`X-GM-EXT-1`, <https://developers.google.com/gmail/imap/imap-extensions>):
//! a message's labels (`X-GM-LABELS`) and conversation id (`X-GM-THRID`), read with the
//! summaries and messages of a server that offers it, and labels added or removed with
//! `UID STORE ±X-GM-LABELS`. Other servers are never sent these items.
//!
//! imap-proto 0.17 parses both items in FETCH answers, but async-imap 0.12's `Fetch` has
//! an accessor for the labels only; so these items are fetched with a FETCH of their own,
//! sent with `run_command` and read with `read_response` (every line through the same
//! parser, so the session stays in step) up to its tagged answer. Labels are mailbox
//! names on the wire (modified UTF-7, system labels such as `\Important` as flags), and
//! are reported decoded.

use std::collections::BTreeMap;

use async_imap::error::Error as ImapError;
use async_imap::imap_proto::{AttributeValue, Response, Status};
use schemars::JsonSchema;
use serde::Serialize;

use super::connect::RawSession;
use super::mailboxes::{SpecialUse, find_special_use};
use super::names;
use super::search::uid_search;
use super::session::ImapSession;
use super::summary::{FetchedSummary, uid_set};
use crate::mail::error::MailError;
use crate::mail::search::{SearchKey, SearchProgram};

/// The capability of Gmail's extension.
pub const GMAIL_EXTENSION: &str = "X-GM-EXT-1";

/// The most labels one call adds or removes.
pub const MAX_LABELS: usize = 20;

/// The longest label accepted, in characters (Gmail's own limit is 225).
const MAX_LABEL_CHARS: usize = 225;

/// What Gmail says of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GmailAttributes {
    /// Its labels, decoded (`\Important`, `\Starred`, `Work`, ...).
    pub labels: Vec<String>,
    /// Its conversation id.
    pub thread_id: Option<u64>,
}

/// Whether the session's server offers Gmail's extension.
pub async fn is_gmail(session: &mut ImapSession) -> Result<bool, MailError> {
    session.has_capability(GMAIL_EXTENSION).await
}

/// The labels and thread ids of `uids` in the selected folder (one FETCH).
pub async fn gmail_attributes(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<BTreeMap<u32, GmailAttributes>, MailError> {
    if uids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let command = format!("UID FETCH {} (UID X-GM-LABELS X-GM-THRID)", uid_set(uids));
    session
        .command("fetching Gmail labels", |s| read_attributes(s, command))
        .await
}

/// Adds Gmail's labels and thread ids to `summaries` (of the selected folder) when the
/// server offers them; leaves them as they are otherwise.
pub async fn add_to_summaries(
    session: &mut ImapSession,
    summaries: &mut [FetchedSummary],
) -> Result<(), MailError> {
    if summaries.is_empty() || !is_gmail(session).await? {
        return Ok(());
    }
    let uids: Vec<u32> = summaries.iter().map(|s| s.summary.uid).collect();
    let mut found = gmail_attributes(session, &uids).await?;
    for summary in summaries {
        if let Some(gmail) = found.remove(&summary.summary.uid) {
            summary.summary.labels = Some(gmail.labels);
            summary.summary.gmail_thread_id = gmail.thread_id.map(|id| id.to_string());
        }
    }
    Ok(())
}

/// The messages of Gmail conversation `thread_id`: the All Mail folder (`\All`) and their
/// UIDs there, oldest first; `None` when the account has no All Mail folder.
pub async fn thread_in_all_mail(
    session: &mut ImapSession,
    thread_id: u64,
) -> Result<Option<(String, Vec<u32>)>, MailError> {
    let Some(all_mail) = find_special_use(session, SpecialUse::All).await? else {
        return Ok(None);
    };
    session.examine(&all_mail).await?;
    let program = SearchProgram::new(vec![SearchKey::GmailThread(thread_id)]);
    let mut uids = uid_search(session, &program).await?;
    uids.reverse();
    Ok(Some((all_mail, uids)))
}

/// The labels of one message after a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LabelledMessage {
    pub uid: u32,
    /// Its labels now (decoded), as Gmail reports them.
    pub labels: Vec<String>,
}

/// The outcome of a label change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LabelsOutcome {
    pub folder: String,
    pub uid_validity: u32,
    /// Each message named that exists, with its labels now.
    pub messages: Vec<LabelledMessage>,
    /// UIDs named that no message has (nothing was changed for them).
    pub missing: Vec<u32>,
}

/// The labels to add and to remove as STORE lists, once the server is known to be Gmail's
/// and at least one label is named: checked before a bulk run searches anything.
pub async fn checked_label_change(
    session: &mut ImapSession,
    (add, remove): (&[String], &[String]),
) -> Result<(Option<String>, Option<String>), MailError> {
    if !is_gmail(session).await? {
        return Err(MailError::InvalidInput(
            "labels are Gmail's, and this server does not offer Gmail's IMAP extension \
             (X-GM-EXT-1): use update_mail_message_flags with keywords, or move_mail_message"
                .into(),
        ));
    }
    let (add, remove) = (label_list(add)?, label_list(remove)?);
    if add.is_none() && remove.is_none() {
        return Err(MailError::InvalidInput(
            "name at least one label to add or remove".into(),
        ));
    }
    Ok((add, remove))
}

/// Adds the labels `add` and removes the labels `remove` on `uids` of `folder` (Gmail
/// only); returns the labels each message has afterwards.
pub async fn change_labels(
    session: &mut ImapSession,
    folder: &str,
    uids: &[u32],
    uid_validity: Option<u32>,
    (add, remove): (&[String], &[String]),
) -> Result<LabelsOutcome, MailError> {
    let (add, remove) = checked_label_change(session, (add, remove)).await?;
    let selected = session.select_checked(folder, uid_validity).await?;
    let set = uid_set(uids);
    // Gmail answers a STORE with each message's labels; removing the label of the open
    // folder (\Inbox in INBOX) takes the message out of it, so those answers are the
    // labels afterwards.
    let mut after: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (sign, list) in [('+', add), ('-', remove)] {
        if let Some(list) = list {
            let items = format!("{sign}X-GM-LABELS {list}");
            let set = set.clone();
            let answers = session
                .command("changing Gmail labels", |s| async move {
                    use futures::TryStreamExt;
                    s.uid_store(set, items).await?.try_collect::<Vec<_>>().await
                })
                .await?;
            for fetch in &answers {
                if let (Some(uid), Some(labels)) = (fetch.uid, fetch.gmail_labels()) {
                    after.insert(uid, labels.iter().map(|l| names::from_wire(l)).collect());
                }
            }
        }
    }
    let unanswered: Vec<u32> = uids
        .iter()
        .filter(|u| !after.contains_key(u))
        .copied()
        .collect();
    for (uid, gmail) in gmail_attributes(session, &unanswered).await? {
        after.insert(uid, gmail.labels);
    }
    let missing = uids
        .iter()
        .filter(|u| !after.contains_key(u))
        .copied()
        .collect();
    Ok(LabelsOutcome {
        folder: selected.name,
        uid_validity: selected.uid_validity,
        messages: after
            .into_iter()
            .map(|(uid, labels)| LabelledMessage { uid, labels })
            .collect(),
        missing,
    })
}

/// `labels` as the parenthesised list of a STORE, `None` for none; each checked.
fn label_list(labels: &[String]) -> Result<Option<String>, MailError> {
    if labels.is_empty() {
        return Ok(None);
    }
    if labels.len() > MAX_LABELS {
        return Err(MailError::InvalidInput(format!(
            "at most {MAX_LABELS} labels at once, not {}",
            labels.len()
        )));
    }
    let written: Vec<String> = labels
        .iter()
        .map(|l| label_on_wire(l))
        .collect::<Result<_, _>>()?;
    Ok(Some(format!("({})", written.join(" "))))
}

/// One label as a STORE names it: a system label (`\Important`) bare, any other quoted in
/// its modified UTF-7 form.
fn label_on_wire(label: &str) -> Result<String, MailError> {
    let trimmed = label.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_LABEL_CHARS {
        return Err(MailError::InvalidInput(format!(
            "a label has 1 to {MAX_LABEL_CHARS} characters: {label:?}"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(MailError::InvalidInput(format!(
            "a label cannot contain control characters or line breaks: {label:?}"
        )));
    }
    if let Some(system) = trimmed.strip_prefix('\\') {
        if !system.is_empty() && system.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(trimmed.to_owned());
        }
        return Err(MailError::InvalidInput(format!(
            "a system label is a backslash and letters, such as \\Important or \\Starred: {label:?}"
        )));
    }
    Ok(names::quoted(&names::to_wire(trimmed)))
}

/// Runs `command` (a UID FETCH of Gmail items) and reads every answer up to its tagged
/// completion, collecting the items per UID. Other untagged answers are passed over (the
/// caller runs this as a command that forgets the open folder).
async fn read_attributes(
    session: &mut RawSession,
    command: String,
) -> async_imap::error::Result<BTreeMap<u32, GmailAttributes>> {
    let tag = session.run_command(&command).await?;
    let mut found = BTreeMap::new();
    loop {
        let Some(response) = session.read_response().await? else {
            return Err(ImapError::ConnectionLost);
        };
        match response.parsed() {
            Response::Fetch(_, attributes) => {
                if let Some((uid, gmail)) = attributes_of(attributes) {
                    found.insert(uid, gmail);
                }
            }
            Response::Done {
                tag: done,
                status,
                outcome,
            } if *done == tag => {
                let text = outcome.information.as_deref().unwrap_or("").to_owned();
                return match status {
                    Status::Ok => Ok(found),
                    Status::No => Err(ImapError::No(text)),
                    _ => Err(ImapError::Bad(text)),
                };
            }
            _ => {}
        }
    }
}

/// The UID and Gmail items of one FETCH answer.
fn attributes_of(attributes: &[AttributeValue<'_>]) -> Option<(u32, GmailAttributes)> {
    let mut uid = None;
    let mut gmail = GmailAttributes::default();
    for attribute in attributes {
        match attribute {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::GmailLabels(labels) => {
                gmail.labels = labels.iter().map(|l| names::from_wire(l)).collect();
            }
            AttributeValue::GmailThrId(id) => gmail.thread_id = Some(*id),
            _ => {}
        }
    }
    Some((uid?, gmail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Option<(u32, GmailAttributes)> {
        let (_, response) = Response::parse(line.as_bytes()).expect("a FETCH line");
        let Response::Fetch(_, attributes) = response else {
            panic!("not a FETCH")
        };
        attributes_of(&attributes)
    }

    #[test]
    fn labels_and_thread_ids_are_read_from_fetch_answers() {
        let (uid, gmail) = parsed(
            "* 1 FETCH (X-GM-THRID 1266894439832287888 X-GM-LABELS (\\Inbox \\Sent Important \"Muy Importante\" &AMQ-rger) UID 4)\r\n",
        )
        .unwrap();
        assert_eq!(uid, 4);
        assert_eq!(gmail.thread_id, Some(1266894439832287888));
        assert_eq!(
            gmail.labels,
            ["\\Inbox", "\\Sent", "Important", "Muy Importante", "Ärger"]
        );
        assert_eq!(parsed("* 1 FETCH (X-GM-THRID 5)\r\n"), None, "no UID");
    }

    #[test]
    fn label_and_raw_searches_are_gmail_keys() {
        let criteria = crate::mail::search::SearchCriteria {
            label: Some("Ärger".into()),
            gmail_raw: Some("has:attachment older_than:1y".into()),
            ..Default::default()
        };
        let program = criteria.build().unwrap();
        assert!(program.needs_gmail());
        assert_eq!(
            program.to_imap(true),
            "X-GM-LABELS \"&AMQ-rger\" X-GM-RAW \"has:attachment older_than:1y\""
        );
        let plain = crate::mail::search::SearchCriteria {
            from: Some("ann".into()),
            ..Default::default()
        };
        assert!(!plain.build().unwrap().needs_gmail());
        let thread = SearchProgram::new(vec![SearchKey::GmailThread(1266894439832287888)]);
        assert_eq!(thread.to_imap(false), "X-GM-THRID 1266894439832287888");
    }

    #[test]
    fn labels_are_written_for_store() {
        let labels = ["Work".to_owned(), "\\Starred".into(), "Ärger \"x\"".into()];
        assert_eq!(
            label_list(&labels).unwrap().unwrap(),
            "(\"Work\" \\Starred \"&AMQ-rger \\\"x\\\"\")"
        );
        assert_eq!(label_list(&[]).unwrap(), None);
        for bad in ["", "a\r\nb", "\\Not a flag", "\\"] {
            assert!(label_on_wire(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..=MAX_LABELS).map(|n| n.to_string()).collect();
        assert!(label_list(&many).is_err());
    }
}
