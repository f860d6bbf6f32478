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

    /// Folder names servers and mail clients commonly use for this purpose when the server
    /// marks none: English names of the big providers, Gmail's, and the localized names of
    /// common languages (German, French, Spanish, Italian, Dutch, Portuguese, Swedish,
    /// Danish/Norwegian, Polish, Russian). Compared without regard to case, inside the
    /// personal namespace (so "Sent Items" also finds "INBOX.Sent Items").
    pub fn fallback_names(self) -> &'static [&'static str] {
        match self {
            SpecialUse::Sent => &[
                "Sent",
                "Sent Items",
                "Sent Messages",
                "Sent Mail",
                "[Gmail]/Sent Mail",
                "[Google Mail]/Sent Mail",
                "Gesendet",
                "Gesendete Objekte",
                "Gesendete Elemente",
                "Envoyés",
                "Éléments envoyés",
                "Messages envoyés",
                "Enviados",
                "Elementos enviados",
                "Itens enviados",
                "Inviati",
                "Posta inviata",
                "Verzonden",
                "Verzonden items",
                "Skickat",
                "Skickade objekt",
                "Sendt",
                "Sendte elementer",
                "Wysłane",
                "Отправленные",
            ],
            SpecialUse::Drafts => &[
                "Drafts",
                "[Gmail]/Drafts",
                "[Google Mail]/Drafts",
                "Entwürfe",
                "Brouillons",
                "Borradores",
                "Rascunhos",
                "Bozze",
                "Concepten",
                "Utkast",
                "Kladder",
                "Kopie robocze",
                "Черновики",
            ],
            SpecialUse::Trash => &[
                "Trash",
                "Deleted Items",
                "Deleted Messages",
                "Bin",
                "[Gmail]/Trash",
                "[Gmail]/Bin",
                "[Google Mail]/Trash",
                "Papierkorb",
                "Gelöschte Objekte",
                "Gelöschte Elemente",
                "Corbeille",
                "Éléments supprimés",
                "Papelera",
                "Elementos eliminados",
                "Lixeira",
                "Itens excluídos",
                "Cestino",
                "Posta eliminata",
                "Prullenbak",
                "Verwijderde items",
                "Papperskorgen",
                "Borttagna objekt",
                "Papirkurv",
                "Slettede elementer",
                "Kosz",
                "Корзина",
            ],
            SpecialUse::Junk => &[
                "Junk",
                "Junk E-mail",
                "Junk Email",
                "Spam",
                "Bulk Mail",
                "[Gmail]/Spam",
                "[Google Mail]/Spam",
                "Junk-E-Mail",
                "Courrier indésirable",
                "Indésirables",
                "Correo no deseado",
                "Lixo eletrônico",
                "Posta indesiderata",
                "Ongewenste e-mail",
                "Skräppost",
                "Uønsket e-post",
                "Wiadomości-śmieci",
                "Спам",
            ],
            SpecialUse::Archive => &[
                "Archive",
                "Archives",
                "Archiv",
                "Archivo",
                "Arquivo",
                "Archivio",
                "Archief",
                "Arkiv",
                "Archiwum",
                "Архив",
            ],
            SpecialUse::All => &["[Gmail]/All Mail", "[Google Mail]/All Mail", "All Mail"],
            SpecialUse::Flagged => &[
                "[Gmail]/Starred",
                "[Google Mail]/Starred",
                "Flagged",
                "Starred",
            ],
        }
    }

    /// The name a folder for this use gets when the account has none and one is created.
    pub fn default_name(self) -> &'static str {
        match self {
            SpecialUse::All => "All Mail",
            SpecialUse::Archive => "Archive",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Flagged => "Flagged",
            SpecialUse::Junk => "Junk",
            SpecialUse::Sent => "Sent",
            SpecialUse::Trash => "Trash",
        }
    }

    /// Whether `name` (a folder's name inside the personal namespace, as a person reads
    /// it) is one of the usual names for this use, compared without regard to case.
    pub fn has_usual_name(self, name: &str) -> bool {
        let name = name.to_lowercase();
        self.fallback_names()
            .iter()
            .any(|usual| usual.to_lowercase() == name)
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

/// The folder marked with `special_use`, else the first selectable folder of the personal
/// namespace whose name is one of [`SpecialUse::fallback_names`] (compared without regard
/// to case, after the namespace prefix such as `INBOX.`; earlier names win).
pub fn pick_special_use(mailboxes: &[MailboxInfo], special_use: SpecialUse) -> Option<&str> {
    let marked = mailboxes
        .iter()
        .find(|m| m.special_use == Some(special_use));
    let namespace = PersonalNamespace::of(mailboxes);
    let by_name = || {
        special_use.fallback_names().iter().find_map(|wanted| {
            let wanted = wanted.to_lowercase();
            mailboxes.iter().filter(|m| m.is_selectable()).find(|m| {
                namespace.local_name(&m.name).to_lowercase() == wanted
                    || below_inbox_name(&m.name, &namespace).is_some_and(|n| n == wanted)
            })
        })
    };
    marked.or_else(by_name).map(|m| m.name.as_str())
}

/// `INBOX.Sent` as `sent` where the list mixes folders below INBOX with others (so the
/// prefix is not `INBOX.`): a special folder below INBOX is still found by its name.
fn below_inbox_name(wire: &str, namespace: &PersonalNamespace) -> Option<String> {
    let prefix = format!("INBOX{}", namespace.delimiter.as_deref()?);
    (namespace.prefix.is_empty() && super::names::has_prefix(wire, &prefix))
        .then(|| super::names::from_wire(&wire[prefix.len()..]).to_lowercase())
}

/// The personal namespace (RFC 2342) as the folder list shows it: its prefix (`""` on
/// most servers, `"INBOX."` on Courier, Cyrus and many hosted servers, where every folder
/// lives below INBOX) and the hierarchy delimiter. async-imap does not parse NAMESPACE
/// answers, so the prefix is read off the folders: `INBOX<delimiter>` when there are
/// folders besides INBOX and all of them lie below it. With no folder besides INBOX it is
/// unknown (`prefix_known` false); creating a folder then tries the top level first and
/// below INBOX when the server refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalNamespace {
    /// The prefix every personal folder's name starts with, e.g. `"INBOX."`, or `""`.
    pub prefix: String,
    /// The server's hierarchy delimiter, e.g. `"."` or `"/"`.
    pub delimiter: Option<String>,
    /// Whether the prefix was seen in the folder list (false: only INBOX exists).
    pub prefix_known: bool,
}

impl PersonalNamespace {
    /// The namespace the listed folders show.
    pub fn of(mailboxes: &[MailboxInfo]) -> Self {
        let inbox = mailboxes
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case("INBOX"));
        let delimiter = inbox
            .and_then(|m| m.delimiter.clone())
            .or_else(|| mailboxes.iter().find_map(|m| m.delimiter.clone()))
            .filter(|d| !d.is_empty());
        let others: Vec<&MailboxInfo> = mailboxes
            .iter()
            .filter(|m| !m.name.eq_ignore_ascii_case("INBOX"))
            .collect();
        let below_inbox = delimiter.as_ref().map(|d| format!("INBOX{d}"));
        let all_below = |prefix: &str| {
            others
                .iter()
                .all(|m| super::names::has_prefix(&m.name, prefix))
        };
        let prefix = match &below_inbox {
            Some(prefix) if !others.is_empty() && all_below(prefix) => prefix.clone(),
            _ => String::new(),
        };
        PersonalNamespace {
            prefix,
            delimiter,
            prefix_known: !others.is_empty(),
        }
    }

    /// `wire` without the namespace prefix, as a person reads it (`INBOX.Sent Items` →
    /// `Sent Items`).
    pub fn local_name(&self, wire: &str) -> String {
        let local = match super::names::has_prefix(wire, &self.prefix) {
            true => &wire[self.prefix.len()..],
            false => wire,
        };
        super::names::from_wire(local)
    }

    /// The name as a person reads and writes it: decoded, without the prefix, levels
    /// separated by `/` (`INBOX.Projects.2026` → `Projects/2026`); INBOX stays INBOX.
    pub fn display_name(&self, wire: &str) -> String {
        if wire.eq_ignore_ascii_case("INBOX") {
            return wire.to_owned();
        }
        let local = self.local_name(wire);
        match &self.delimiter {
            Some(d) if d != "/" => local.replace(d.as_str(), "/"),
            _ => local,
        }
    }

    /// Where a name a person gave goes on this server: see [`super::names::place`].
    pub fn place(&self, name: &str) -> String {
        super::names::place(name, self.delimiter.as_deref(), &self.prefix)
    }

    /// The prefix to try when the server refused a folder at the top level and the
    /// folder list could not tell: `INBOX<delimiter>`.
    pub fn prefix_to_try(&self) -> Option<String> {
        match (&self.delimiter, self.prefix_known, self.prefix.is_empty()) {
            (Some(d), false, true) => Some(format!("INBOX{d}")),
            _ => None,
        }
    }
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
/// A name without the personal namespace's prefix (`Archive` or `Projects/2026` where the
/// server has `INBOX.Archive`, `INBOX.Projects.2026`) finds the folder too.
fn matching_folder<'a>(mailboxes: &'a [MailboxInfo], name: &str) -> Option<&'a MailboxInfo> {
    let is_inbox = name.eq_ignore_ascii_case("INBOX");
    let selectable = || mailboxes.iter().filter(|m| m.is_selectable());
    let exact =
        selectable().find(|m| m.name == name || (is_inbox && m.name.eq_ignore_ascii_case("INBOX")));
    let placed = || {
        let placed = PersonalNamespace::of(mailboxes).place(name);
        selectable().find(|m| m.name == placed)
    };
    exact.or_else(placed)
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
    add_display_names(&mut mailboxes);
    Ok(mailboxes)
}

/// Each folder's name as a person reads it, where that differs from the server's:
/// decoded, and without the personal namespace's prefix (`INBOX.Sent Items` is shown as
/// `Sent Items`).
fn add_display_names(mailboxes: &mut [MailboxInfo]) {
    let namespace = PersonalNamespace::of(mailboxes);
    for mailbox in mailboxes.iter_mut() {
        let shown = namespace.display_name(&mailbox.name);
        mailbox.display_name = (shown != mailbox.name).then_some(shown);
    }
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

/// The special use an attribute names; an attribute the parser did not recognise (e.g.
/// `\sent` in another case) is compared without regard to case.
fn special_use_of(attribute: &NameAttribute<'_>) -> Option<SpecialUse> {
    Some(match attribute {
        NameAttribute::Extension(text) if text.starts_with('\\') => return text.parse().ok(),
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
        let cases: [(&[&str], SpecialUse, Option<&str>); 5] = [
            (
                &["INBOX", "Sent Items"],
                SpecialUse::Sent,
                Some("Sent Items"),
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

    /// Folders of a server that keeps them below `INBOX.` with `.` as delimiter.
    fn below_inbox(names: &[&str]) -> Vec<MailboxInfo> {
        names
            .iter()
            .map(|name| MailboxInfo {
                delimiter: Some(".".into()),
                ..folder(name, None)
            })
            .collect()
    }

    #[test]
    fn usual_names_are_found_inside_the_personal_namespace_in_any_case() {
        let boxes = below_inbox(&[
            "INBOX",
            "INBOX.Sent Items",
            "INBOX.deleted items",
            "INBOX.Drafts",
            "INBOX.Junk E-mail",
            "INBOX.Work.Archive",
        ]);
        let cases = [
            (SpecialUse::Sent, Some("INBOX.Sent Items")),
            (SpecialUse::Trash, Some("INBOX.deleted items")),
            (SpecialUse::Drafts, Some("INBOX.Drafts")),
            (SpecialUse::Junk, Some("INBOX.Junk E-mail")),
            (SpecialUse::Archive, None),
        ];
        for (wanted, found) in cases {
            assert_eq!(pick_special_use(&boxes, wanted), found, "{wanted}");
        }
        let german = below_inbox(&["INBOX", "INBOX.Gesendete Objekte", "INBOX.Entw&APw-rfe"]);
        assert_eq!(
            pick_special_use(&german, SpecialUse::Sent),
            Some("INBOX.Gesendete Objekte")
        );
        assert_eq!(
            pick_special_use(&german, SpecialUse::Drafts),
            Some("INBOX.Entw&APw-rfe")
        );
    }

    #[test]
    fn the_personal_namespace_is_read_off_the_folders() {
        let courier = PersonalNamespace::of(&below_inbox(&["INBOX", "INBOX.Sent Items"]));
        assert_eq!(courier.prefix, "INBOX.");
        assert_eq!(courier.delimiter.as_deref(), Some("."));
        assert_eq!(courier.place("Projects/2026"), "INBOX.Projects.2026");
        assert_eq!(courier.display_name("INBOX.Projects.2026"), "Projects/2026");
        assert_eq!(courier.prefix_to_try(), None);
        let dovecot = PersonalNamespace::of(&[folder("INBOX", None), folder("Sent", None)]);
        assert_eq!(dovecot.prefix, "");
        assert_eq!(dovecot.place("Projects/2026"), "Projects/2026");
        let mixed = below_inbox(&["INBOX", "INBOX.Sent", "Shared"]);
        assert_eq!(PersonalNamespace::of(&mixed).prefix, "");
        assert_eq!(
            pick_special_use(&mixed, SpecialUse::Sent),
            Some("INBOX.Sent")
        );
        let fresh = PersonalNamespace::of(&below_inbox(&["INBOX"]));
        assert_eq!((fresh.prefix.as_str(), fresh.prefix_known), ("", false));
        assert_eq!(fresh.prefix_to_try().as_deref(), Some("INBOX."));
    }

    #[test]
    fn names_without_the_prefix_find_the_folder() {
        let boxes = below_inbox(&["INBOX", "INBOX.Archive", "INBOX.Projects.2026"]);
        assert_eq!(
            matching_folder(&boxes, "Archive").unwrap().name,
            "INBOX.Archive"
        );
        assert_eq!(
            matching_folder(&boxes, "Projects/2026").unwrap().name,
            "INBOX.Projects.2026"
        );
        assert!(matching_folder(&boxes, "archive").is_none());
    }

    #[test]
    fn special_use_attributes_are_compared_without_regard_to_case() {
        let lower = NameAttribute::Extension("\\sent".into());
        assert_eq!(special_use_of(&lower), Some(SpecialUse::Sent));
        let other = NameAttribute::Extension("\\HasNoChildren".into());
        assert_eq!(special_use_of(&other), None);
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
