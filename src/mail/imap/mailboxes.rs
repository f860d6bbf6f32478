//! Folders: listing them with their special use (Sent, Drafts, Trash, ...) and optional
//! message counts, checking that a named folder exists, and finding the folder for a
//! special use with fallbacks to the names common servers use. Only reads; creating,
//! renaming and deleting folders live elsewhere.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use async_imap::types::{Name, NameAttribute, StatusAttribute, UnsolicitedResponse};
use futures::TryStreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::session::ImapSession;
use crate::mail::error::MailError;

/// A folder's special use (RFC 6154), written as IMAP writes it: `"\\Sent"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SpecialUse {
    /// Every message of the account (a virtual folder).
    #[serde(rename = "\\All")]
    All,
    /// Where archived messages go.
    #[serde(rename = "\\Archive")]
    Archive,
    /// Where drafts are kept.
    #[serde(rename = "\\Drafts")]
    Drafts,
    /// Flagged messages (a virtual folder).
    #[serde(rename = "\\Flagged")]
    Flagged,
    /// Spam.
    #[serde(rename = "\\Junk")]
    Junk,
    /// Copies of sent messages.
    #[serde(rename = "\\Sent")]
    Sent,
    /// Deleted messages.
    #[serde(rename = "\\Trash")]
    Trash,
}

impl SpecialUse {
    pub const ALL: [SpecialUse; 7] = [
        SpecialUse::All,
        SpecialUse::Archive,
        SpecialUse::Drafts,
        SpecialUse::Flagged,
        SpecialUse::Junk,
        SpecialUse::Sent,
        SpecialUse::Trash,
    ];

    /// The attribute as IMAP writes it, e.g. `\Sent`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// Folder names servers commonly use for this purpose when they do not mark it.
    pub fn fallback_names(self) -> &'static [&'static str] {
        match self {
            SpecialUse::Sent => &[
                "Sent",
                "Sent Items",
                "Sent Messages",
                "Sent Mail",
                "INBOX.Sent",
                "[Gmail]/Sent Mail",
            ],
            SpecialUse::Drafts => &["Drafts", "INBOX.Drafts", "[Gmail]/Drafts"],
            SpecialUse::Trash => &[
                "Trash",
                "Deleted Items",
                "Deleted Messages",
                "INBOX.Trash",
                "[Gmail]/Trash",
                "[Gmail]/Bin",
            ],
            SpecialUse::Junk => &[
                "Junk",
                "Spam",
                "Junk E-mail",
                "Junk Email",
                "INBOX.Junk",
                "INBOX.Spam",
                "[Gmail]/Spam",
            ],
            SpecialUse::Archive => &["Archive", "Archives", "INBOX.Archive"],
            SpecialUse::All => &["[Gmail]/All Mail", "All Mail"],
            SpecialUse::Flagged => &["[Gmail]/Starred", "Flagged", "Starred"],
        }
    }
}

impl fmt::Display for SpecialUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpecialUse {
    type Err = String;

    /// Accepts `\Sent`, `Sent` or `sent`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bare = s.trim().trim_start_matches('\\');
        SpecialUse::ALL
            .into_iter()
            .find(|u| u.as_str()[1..].eq_ignore_ascii_case(bare))
            .ok_or_else(|| {
                format!("unknown special use '{s}': use \\All, \\Archive, \\Drafts, \\Flagged, \\Junk, \\Sent or \\Trash")
            })
    }
}

/// One folder of the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MailboxInfo {
    /// The folder's full name; pass it unchanged to other tools.
    pub name: String,
    /// The name as a person reads it, when it differs from `name` (non-ASCII names travel
    /// in IMAP's modified UTF-7). Tools accept either form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The character separating levels of the hierarchy (e.g. "/" or "."), if any.
    pub delimiter: Option<String>,
    /// The server's attributes for the folder, e.g. "\\HasNoChildren", "\\Noselect".
    pub attributes: Vec<String>,
    /// What the folder is for, when the server says so (Sent, Drafts, Trash, ...).
    pub special_use: Option<SpecialUse>,
    /// Number of messages, when counts were asked for.
    pub messages: Option<u32>,
    /// Number of unread messages, when counts were asked for.
    pub unseen: Option<u32>,
}

impl MailboxInfo {
    /// Whether the folder can be opened (it is not just a level of the hierarchy).
    pub fn is_selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }

    /// A selectable folder named `name`, for unit tests of code that picks folders.
    #[cfg(test)]
    pub(crate) fn example(name: &str, special_use: Option<SpecialUse>) -> Self {
        MailboxInfo {
            name: name.into(),
            display_name: None,
            delimiter: Some("/".into()),
            attributes: vec!["\\HasNoChildren".into()],
            special_use,
            messages: None,
            unseen: None,
        }
    }

    fn from_name(name: &Name) -> Self {
        let special_use = name.attributes().iter().find_map(special_use_of);
        let display = super::names::from_wire(name.name());
        MailboxInfo {
            display_name: (display != name.name()).then_some(display),
            name: name.name().to_owned(),
            delimiter: name.delimiter().map(str::to_owned),
            attributes: name.attributes().iter().map(attribute_text).collect(),
            special_use,
            messages: None,
            unseen: None,
        }
    }
}

/// Lists every folder, with message and unread counts when `with_counts`.
pub async fn list_mailboxes(
    session: &mut ImapSession,
    with_counts: bool,
) -> Result<Vec<MailboxInfo>, MailError> {
    let mut mailboxes = list_all(session, with_counts).await?;
    if with_counts {
        add_missing_counts(session, &mut mailboxes).await?;
    }
    Ok(mailboxes)
}

/// The server's spelling of folder `name`, or `MailError::UnknownFolder` listing the
/// folders that do exist.
pub async fn resolve_folder(session: &mut ImapSession, name: &str) -> Result<String, MailError> {
    let mailboxes = list_all(session, false).await?;
    match matching_folder(&mailboxes, name) {
        Some(found) => Ok(found.name.clone()),
        None => Err(unknown_folder_error(name, &mailboxes)),
    }
}

/// The folder marked with `special_use`, else the first folder with a common name for it.
pub async fn find_special_use(
    session: &mut ImapSession,
    special_use: SpecialUse,
) -> Result<Option<String>, MailError> {
    let mailboxes = list_all(session, false).await?;
    Ok(pick_special_use(&mailboxes, special_use).map(str::to_owned))
}

/// The folder marked with `special_use`, else the first selectable folder whose name is one
/// of [`SpecialUse::fallback_names`] (compared without regard to case).
pub fn pick_special_use(mailboxes: &[MailboxInfo], special_use: SpecialUse) -> Option<&str> {
    let marked = mailboxes
        .iter()
        .find(|m| m.special_use == Some(special_use));
    let by_name = || {
        special_use.fallback_names().iter().find_map(|wanted| {
            mailboxes
                .iter()
                .filter(|m| m.is_selectable())
                .find(|m| m.name.eq_ignore_ascii_case(wanted))
        })
    };
    marked.or_else(by_name).map(|m| m.name.as_str())
}

/// `Some(UnknownFolder)` when `name` is not a folder of the account, `None` when it is.
pub(crate) async fn unknown_folder(
    session: &mut ImapSession,
    name: &str,
) -> Result<Option<MailError>, MailError> {
    let mailboxes = list_all(session, false).await?;
    Ok(match matching_folder(&mailboxes, name) {
        Some(_) => None,
        None => Some(unknown_folder_error(name, &mailboxes)),
    })
}

fn unknown_folder_error(name: &str, mailboxes: &[MailboxInfo]) -> MailError {
    MailError::UnknownFolder {
        name: name.to_owned(),
        existing: mailboxes
            .iter()
            .filter(|m| m.is_selectable())
            .map(|m| m.name.clone())
            .collect(),
    }
}

/// The folder called `name`; INBOX is matched without regard to case, as IMAP demands.
fn matching_folder<'a>(mailboxes: &'a [MailboxInfo], name: &str) -> Option<&'a MailboxInfo> {
    let is_inbox = name.eq_ignore_ascii_case("INBOX");
    mailboxes
        .iter()
        .filter(|m| m.is_selectable())
        .find(|m| m.name == name || (is_inbox && m.name.eq_ignore_ascii_case("INBOX")))
}

/// One LIST of every folder. Asks for special-use attributes where the server needs
/// asking, and for counts in the same command where it supports LIST-STATUS.
async fn list_all(
    session: &mut ImapSession,
    with_counts: bool,
) -> Result<Vec<MailboxInfo>, MailError> {
    let extended = session.has_capability("LIST-EXTENDED").await?;
    let special_use = extended && session.has_capability("SPECIAL-USE").await?;
    let status = with_counts && session.has_capability("LIST-STATUS").await?;
    let pattern = list_pattern(special_use, status);
    let (names, statuses) = session
        .command("listing folders", |s| async move {
            let updates = s.unsolicited_responses.clone();
            let _stale = drain_statuses(|| updates.try_recv().ok());
            let mut names = Vec::new();
            let mut statuses = HashMap::new();
            let mut stream = s.list(Some(""), Some(&pattern)).await?;
            while let Some(name) = stream.try_next().await? {
                names.push(MailboxInfo::from_name(&name));
                statuses.extend(drain_statuses(|| updates.try_recv().ok()));
            }
            drop(stream);
            statuses.extend(drain_statuses(|| updates.try_recv().ok()));
            Ok((names, statuses))
        })
        .await?;
    let mut mailboxes = with_statuses(names, statuses);
    mailboxes.sort_by_cached_key(|m| sort_key(&m.name));
    Ok(mailboxes)
}

/// INBOX first, then by name without regard to case.
fn sort_key(name: &str) -> (bool, String) {
    (!name.eq_ignore_ascii_case("INBOX"), name.to_lowercase())
}

/// The LIST arguments after the reference name.
fn list_pattern(special_use: bool, status: bool) -> String {
    match (special_use, status) {
        (false, false) => "\"*\"".into(),
        (true, false) => "\"*\" RETURN (SPECIAL-USE)".into(),
        (false, true) => "\"*\" RETURN (STATUS (MESSAGES UNSEEN))".into(),
        (true, true) => "\"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))".into(),
    }
}

type Counts = (Option<u32>, Option<u32>);

/// Takes the STATUS answers that arrived as unsolicited responses (`next` reads the
/// session's queue of them without waiting).
fn drain_statuses(next: impl FnMut() -> Option<UnsolicitedResponse>) -> Vec<(String, Counts)> {
    std::iter::from_fn(next)
        .filter_map(|update| match update {
            UnsolicitedResponse::Status {
                mailbox,
                attributes,
            } => Some((mailbox, counts_of(&attributes))),
            _ => None,
        })
        .collect()
}

fn with_statuses(
    mut names: Vec<MailboxInfo>,
    statuses: HashMap<String, Counts>,
) -> Vec<MailboxInfo> {
    for mailbox in &mut names {
        if let Some((messages, unseen)) = statuses.get(&mailbox.name) {
            mailbox.messages = *messages;
            mailbox.unseen = *unseen;
        }
    }
    names
}

fn counts_of(attributes: &[StatusAttribute]) -> Counts {
    let mut counts = (None, None);
    for attribute in attributes {
        match attribute {
            StatusAttribute::Messages(n) => counts.0 = Some(*n),
            StatusAttribute::Unseen(n) => counts.1 = Some(*n),
            _ => {}
        }
    }
    counts
}

/// STATUS for each selectable folder that LIST did not already count. A folder the
/// server refuses to count keeps `None`; a timeout or lost connection fails the listing.
async fn add_missing_counts(
    session: &mut ImapSession,
    mailboxes: &mut [MailboxInfo],
) -> Result<(), MailError> {
    for mailbox in mailboxes
        .iter_mut()
        .filter(|m| m.is_selectable() && m.messages.is_none())
    {
        let name = mailbox.name.clone();
        let status = session
            .command("counting messages", |s| {
                s.status(&name, "(MESSAGES UNSEEN)")
            })
            .await;
        match status {
            Ok(status) => {
                mailbox.messages = Some(status.exists);
                mailbox.unseen = status.unseen;
            }
            Err(MailError::ServerSaid { text, .. }) => {
                tracing::debug!(folder = %name, %text, "STATUS refused");
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

fn special_use_of(attribute: &NameAttribute<'_>) -> Option<SpecialUse> {
    Some(match attribute {
        NameAttribute::All => SpecialUse::All,
        NameAttribute::Archive => SpecialUse::Archive,
        NameAttribute::Drafts => SpecialUse::Drafts,
        NameAttribute::Flagged => SpecialUse::Flagged,
        NameAttribute::Junk => SpecialUse::Junk,
        NameAttribute::Sent => SpecialUse::Sent,
        NameAttribute::Trash => SpecialUse::Trash,
        _ => return None,
    })
}

fn attribute_text(attribute: &NameAttribute<'_>) -> String {
    if let Some(special) = special_use_of(attribute) {
        return special.as_str().to_owned();
    }
    match attribute {
        NameAttribute::NoInferiors => "\\Noinferiors".into(),
        NameAttribute::NoSelect => "\\Noselect".into(),
        NameAttribute::Marked => "\\Marked".into(),
        NameAttribute::Unmarked => "\\Unmarked".into(),
        NameAttribute::Extension(text) => text.to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, special_use: Option<SpecialUse>) -> MailboxInfo {
        MailboxInfo::example(name, special_use)
    }

    #[test]
    fn the_marked_folder_wins_over_common_names() {
        let boxes = [
            folder("Sent", None),
            folder("Gesendet", Some(SpecialUse::Sent)),
        ];
        assert_eq!(pick_special_use(&boxes, SpecialUse::Sent), Some("Gesendet"));
    }

    #[test]
    fn common_names_are_the_fallback() {
        let cases: [(&[&str], SpecialUse, Option<&str>); 6] = [
            (
                &["INBOX", "Sent Items"],
                SpecialUse::Sent,
                Some("Sent Items"),
            ),
            (
                &["INBOX", "INBOX.Sent"],
                SpecialUse::Sent,
                Some("INBOX.Sent"),
            ),
            (
                &["INBOX", "[Gmail]/Sent Mail"],
                SpecialUse::Sent,
                Some("[Gmail]/Sent Mail"),
            ),
            (
                &["INBOX", "sent messages"],
                SpecialUse::Sent,
                Some("sent messages"),
            ),
            (
                &["INBOX", "Deleted Items"],
                SpecialUse::Trash,
                Some("Deleted Items"),
            ),
            (&["INBOX", "Archive"], SpecialUse::Sent, None),
        ];
        for (names, wanted, found) in cases {
            let boxes: Vec<_> = names.iter().map(|n| folder(n, None)).collect();
            assert_eq!(pick_special_use(&boxes, wanted), found, "{names:?}");
        }
    }

    #[test]
    fn a_noselect_folder_is_no_fallback() {
        let mut parent = folder("Sent", None);
        parent.attributes.push("\\Noselect".into());
        assert!(!parent.is_selectable());
        assert_eq!(pick_special_use(&[parent], SpecialUse::Sent), None);
    }

    #[test]
    fn inbox_matches_in_any_case_other_names_exactly() {
        let boxes = [folder("INBOX", None), folder("Work", None)];
        assert_eq!(matching_folder(&boxes, "inbox").unwrap().name, "INBOX");
        assert!(matching_folder(&boxes, "work").is_none());
        assert_eq!(matching_folder(&boxes, "Work").unwrap().name, "Work");
    }

    #[test]
    fn special_use_reads_and_writes_imap_spelling() {
        assert_eq!("\\Sent".parse::<SpecialUse>(), Ok(SpecialUse::Sent));
        assert_eq!("trash".parse::<SpecialUse>(), Ok(SpecialUse::Trash));
        assert!("\\Outbox".parse::<SpecialUse>().is_err());
        assert_eq!(
            serde_json::to_string(&SpecialUse::Junk).unwrap(),
            r#""\\Junk""#
        );
    }

    #[test]
    fn inbox_comes_first_then_names_in_order() {
        let mut names = vec!["Sent", "archive", "INBOX", "Drafts", "INBOX/Sub"];
        names.sort_by_cached_key(|n| sort_key(n));
        assert_eq!(names, ["INBOX", "archive", "Drafts", "INBOX/Sub", "Sent"]);
    }

    #[test]
    fn list_asks_for_what_the_server_supports() {
        assert_eq!(list_pattern(false, false), "\"*\"");
        assert_eq!(
            list_pattern(true, true),
            "\"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))"
        );
    }

    #[test]
    fn statuses_fill_in_counts_by_name() {
        let statuses = HashMap::from([("INBOX".to_owned(), (Some(3), Some(1)))]);
        let boxes = with_statuses(vec![folder("INBOX", None), folder("Sent", None)], statuses);
        assert_eq!((boxes[0].messages, boxes[0].unseen), (Some(3), Some(1)));
        assert_eq!(boxes[1].messages, None);
    }
}
