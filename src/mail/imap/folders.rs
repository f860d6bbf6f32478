//! Creating, renaming and deleting folders. INBOX and the folders mail clients rely on
//! (special-use \Sent, \Drafts, \Trash, \Junk, \Archive, \All, \Flagged, or their usual
//! names where the server marks none) are never renamed or deleted; a folder holding
//! messages is deleted only with `force`, and one with subfolders not at all. Names are
//! checked before anything is sent and go to the server in modified UTF-7.

use schemars::JsonSchema;
use serde::Serialize;

use super::mailboxes::{
    MailboxInfo, PersonalNamespace, SpecialUse, list_mailboxes, pick_special_use,
};
use super::names::{from_wire, to_wire};
use super::session::ImapSession;
use crate::mail::error::MailError;

/// The longest folder name accepted (servers limit names to a few hundred bytes).
pub const MAX_NAME_LEN: usize = 255;

/// A folder that was created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CreatedMailbox {
    /// The folder's name as the server spells it (as list_mailboxes reports it).
    pub name: String,
    /// The name as a person reads it (differs for non-ASCII names).
    pub display_name: String,
    /// The server's hierarchy delimiter, which separates levels in a name.
    pub delimiter: Option<String>,
}

/// A folder that was renamed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RenamedMailbox {
    /// The old name, as the server spelt it.
    pub name: String,
    /// The new name as the server spells it.
    pub new_name: String,
    /// The new name as a person reads it.
    pub display_name: String,
    /// Subfolders that moved along, with their new names.
    pub renamed_subfolders: Vec<RenamedSubfolder>,
}

/// A subfolder renamed along with its parent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RenamedSubfolder {
    /// Its old name.
    pub from: String,
    /// Its new name.
    pub to: String,
}

/// A folder that was deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DeletedMailbox {
    /// The deleted folder's name as the server spelt it.
    pub name: String,
    /// The name as a person reads it.
    pub display_name: String,
    /// How many messages were deleted with it.
    pub messages_deleted: u32,
}

/// Creates folder `name` in the personal namespace: levels written with `/` or the
/// server's delimiter (`Projects/2026` becomes `INBOX.Projects.2026` on a server whose
/// folders live below `INBOX.`).
pub async fn create_mailbox(
    session: &mut ImapSession,
    name: &str,
) -> Result<CreatedMailbox, MailError> {
    check_name(name)?;
    let mailboxes = list_mailboxes(session, false).await?;
    let namespace = PersonalNamespace::of(&mailboxes);
    let delimiter = namespace.delimiter.clone();
    let leveled = name.replace('/', delimiter.as_deref().unwrap_or("/"));
    check_levels(&leveled, delimiter.as_deref())?;
    let wire = namespace.place(name);
    if let Some(existing) = find(&mailboxes, &wire).filter(|m| m.is_selectable()) {
        return Err(invalid(&format!(
            "a folder named \"{}\" already exists",
            from_wire(&existing.name)
        )));
    }
    let wire = create_placed(session, &namespace, name, wire).await?;
    subscribe(session, &wire, true).await;
    Ok(CreatedMailbox {
        display_name: namespace.display_name(&wire),
        name: wire,
        delimiter,
    })
}

/// The folder for `special_use`, created in the personal namespace under its usual name
/// (`Sent`, `INBOX.Sent`, ...) when the account has none. The flag says it was created.
pub async fn ensure_special_use(
    session: &mut ImapSession,
    special_use: SpecialUse,
) -> Result<(String, bool), MailError> {
    let mailboxes = list_mailboxes(session, false).await?;
    if let Some(found) = pick_special_use(&mailboxes, special_use) {
        return Ok((found.to_owned(), false));
    }
    let namespace = PersonalNamespace::of(&mailboxes);
    let name = special_use.default_name();
    let wire = create_placed(session, &namespace, name, namespace.place(name)).await?;
    subscribe(session, &wire, true).await;
    tracing::info!(folder = %wire, %special_use, "created a missing special folder");
    Ok((wire, true))
}

/// Runs CREATE for `wire`; where the folder list could not tell the namespace and the
/// server refuses the top level (no namespace there), creates it below INBOX instead.
async fn create_placed(
    session: &mut ImapSession,
    namespace: &PersonalNamespace,
    name: &str,
    wire: String,
) -> Result<String, MailError> {
    let created = session
        .command("creating a folder", |s| s.create(&wire))
        .await;
    match (created, namespace.prefix_to_try()) {
        (Ok(()), _) => Ok(wire),
        (Err(MailError::ServerSaid { .. }), Some(prefix)) => {
            let below_inbox = super::names::place(name, namespace.delimiter.as_deref(), &prefix);
            session
                .command("creating a folder", |s| s.create(&below_inbox))
                .await?;
            Ok(below_inbox)
        }
        (Err(err), _) => Err(err),
    }
}

/// Renames folder `name` to `new_name`; its subfolders move along.
pub async fn rename_mailbox(
    session: &mut ImapSession,
    name: &str,
    new_name: &str,
) -> Result<RenamedMailbox, MailError> {
    check_name(name)?;
    check_name(new_name)?;
    let mailboxes = list_mailboxes(session, false).await?;
    let delimiter = server_delimiter(&mailboxes);
    check_levels(new_name, delimiter.as_deref())?;
    let source = existing_folder(&mailboxes, name)?;
    refuse_protected(&source, &mailboxes, delimiter.as_deref(), "renamed")?;
    let target = PersonalNamespace::of(&mailboxes).place(new_name);
    check_rename_target(&source.name, &target, &mailboxes, delimiter.as_deref())?;
    session
        .command("renaming a folder", |s| s.rename(&source.name, &target))
        .await?;
    subscribe(session, &source.name, false).await;
    subscribe(session, &target, true).await;
    let renamed_subfolders = subfolders(&mailboxes, &source.name, delimiter.as_deref())
        .into_iter()
        .map(|child| RenamedSubfolder {
            to: format!("{target}{}", &child.name[source.name.len()..]),
            from: child.name.clone(),
        })
        .collect();
    Ok(RenamedMailbox {
        name: source.name,
        display_name: PersonalNamespace::of(&mailboxes).display_name(&target),
        new_name: target,
        renamed_subfolders,
    })
}

/// Deletes folder `name`. One holding messages needs `force`; one with subfolders is refused.
pub async fn delete_mailbox(
    session: &mut ImapSession,
    name: &str,
    force: bool,
) -> Result<DeletedMailbox, MailError> {
    check_name(name)?;
    let mailboxes = list_mailboxes(session, false).await?;
    let delimiter = server_delimiter(&mailboxes);
    let folder = existing_folder(&mailboxes, name)?;
    refuse_protected(&folder, &mailboxes, delimiter.as_deref(), "deleted")?;
    refuse_subfolders(&folder, &mailboxes, delimiter.as_deref())?;
    let messages = match folder.is_selectable() {
        true => message_count(session, &folder.name).await?,
        false => 0,
    };
    if messages > 0 && !force {
        return Err(invalid(&format!(
            "\"{}\" holds {messages} message(s); deleting it deletes them too. Pass force=true \
             to do that, or move them elsewhere first. Nothing was changed",
            from_wire(&folder.name)
        )));
    }
    session
        .command("deleting a folder", |s| s.delete(&folder.name))
        .await?;
    subscribe(session, &folder.name, false).await;
    Ok(DeletedMailbox {
        display_name: from_wire(&folder.name),
        name: folder.name,
        messages_deleted: messages,
    })
}

/// A name a caller gave: not empty, no control characters (CR, LF, NUL, ...), no LIST
/// wildcards, no spaces around it, not too long.
pub fn check_name(name: &str) -> Result<(), MailError> {
    if name.trim().is_empty() {
        return Err(invalid("the folder name is empty"));
    }
    if let Some(bad) = name.chars().find(|c| c.is_control()) {
        return Err(invalid(&format!(
            "the folder name {name:?} contains the control character U+{:04X} (a line break or \
             similar), which folder names cannot hold",
            bad as u32
        )));
    }
    if name.trim() != name {
        return Err(invalid(&format!(
            "the folder name {name:?} starts or ends with a space; remove it"
        )));
    }
    if let Some(bad) = name.chars().find(|c| matches!(c, '*' | '%')) {
        return Err(invalid(&format!(
            "the folder name {name:?} contains '{bad}', which IMAP reserves as a wildcard"
        )));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(invalid(&format!(
            "the folder name is longer than {MAX_NAME_LEN} characters"
        )));
    }
    Ok(())
}

/// With a hierarchy delimiter, every level of the name must be non-empty (`a//b`, `/a` and
/// `a/` are refused).
fn check_levels(name: &str, delimiter: Option<&str>) -> Result<(), MailError> {
    let Some(delimiter) = delimiter.filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    match name.split(delimiter).any(str::is_empty) {
        true => Err(invalid(&format!(
            "the folder name {name:?} has an empty level: this server separates levels with \
             \"{delimiter}\", so write e.g. \"Projects{delimiter}2026\""
        ))),
        false => Ok(()),
    }
}

/// The server's hierarchy delimiter: INBOX's, else the first folder's that has one.
fn server_delimiter(mailboxes: &[MailboxInfo]) -> Option<String> {
    let inbox = mailboxes
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case("INBOX"));
    inbox
        .and_then(|m| m.delimiter.clone())
        .or_else(|| mailboxes.iter().find_map(|m| m.delimiter.clone()))
}

/// The listed folder with this server spelling (INBOX in any case), selectable or not.
fn find<'a>(mailboxes: &'a [MailboxInfo], wire: &str) -> Option<&'a MailboxInfo> {
    let is_inbox = wire.eq_ignore_ascii_case("INBOX");
    mailboxes
        .iter()
        .find(|m| m.name == wire || (is_inbox && m.name.eq_ignore_ascii_case("INBOX")))
}

/// The folder a caller named, or `UnknownFolder` listing the folders that exist.
fn existing_folder(mailboxes: &[MailboxInfo], name: &str) -> Result<MailboxInfo, MailError> {
    let placed = || find(mailboxes, &PersonalNamespace::of(mailboxes).place(name));
    find(mailboxes, &to_wire(name))
        .or_else(placed)
        .cloned()
        .ok_or_else(|| MailError::UnknownFolder {
            name: name.to_owned(),
            existing: mailboxes
                .iter()
                .filter(|m| m.is_selectable())
                .map(|m| m.name.clone())
                .collect(),
        })
}

/// Why `folder` must not be renamed or deleted, if it must not: INBOX, a special-use
/// folder, a folder with a special use's usual name where the server marks none for that
/// use, or a folder holding one of those.
fn protection(
    folder: &MailboxInfo,
    mailboxes: &[MailboxInfo],
    delimiter: Option<&str>,
) -> Option<String> {
    if let Some(role) = role_of(folder, mailboxes) {
        return Some(role);
    }
    subfolders(mailboxes, &folder.name, delimiter)
        .into_iter()
        .find_map(|child| {
            role_of(child, mailboxes).map(|role| {
                format!(
                    "the folder that holds {role} \"{}\"",
                    from_wire(&child.name)
                )
            })
        })
}

/// "INBOX", "the account's \Sent folder", or `None` for an ordinary folder.
fn role_of(folder: &MailboxInfo, mailboxes: &[MailboxInfo]) -> Option<String> {
    if folder.name.eq_ignore_ascii_case("INBOX") {
        return Some("INBOX".into());
    }
    if let Some(use_) = folder.special_use {
        return Some(format!("the account's {use_} folder"));
    }
    SpecialUse::ALL
        .into_iter()
        .filter(|use_| !mailboxes.iter().any(|m| m.special_use == Some(*use_)))
        .find(|use_| {
            use_.has_usual_name(&PersonalNamespace::of(mailboxes).local_name(&folder.name))
        })
        .map(|use_| format!("the account's {use_} folder (by its name)"))
}

fn refuse_protected(
    folder: &MailboxInfo,
    mailboxes: &[MailboxInfo],
    delimiter: Option<&str>,
    action: &str,
) -> Result<(), MailError> {
    match protection(folder, mailboxes, delimiter) {
        None => Ok(()),
        Some(role) => Err(invalid(&format!(
            "\"{}\" is {role}; mail clients rely on it, so it cannot be {action} here. Nothing \
             was changed",
            from_wire(&folder.name)
        ))),
    }
}

fn refuse_subfolders(
    folder: &MailboxInfo,
    mailboxes: &[MailboxInfo],
    delimiter: Option<&str>,
) -> Result<(), MailError> {
    let children = subfolders(mailboxes, &folder.name, delimiter);
    if children.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = children.iter().map(|c| from_wire(&c.name)).collect();
    Err(invalid(&format!(
        "\"{}\" has {} subfolder(s): {}. Delete or move them first. Nothing was changed",
        from_wire(&folder.name),
        names.len(),
        names.join(", ")
    )))
}

/// A rename target must differ from the source, not exist, and not lie inside the source.
fn check_rename_target(
    source: &str,
    target: &str,
    mailboxes: &[MailboxInfo],
    delimiter: Option<&str>,
) -> Result<(), MailError> {
    if source == target {
        return Err(invalid("the new name is the same as the old one"));
    }
    if target.eq_ignore_ascii_case("INBOX") || find(mailboxes, target).is_some() {
        return Err(invalid(&format!(
            "a folder named \"{}\" already exists: choose another name",
            from_wire(target)
        )));
    }
    let inside = delimiter.is_some_and(|d| target.starts_with(&format!("{source}{d}")));
    match inside {
        true => Err(invalid(&format!(
            "cannot move \"{}\" inside itself",
            from_wire(source)
        ))),
        false => Ok(()),
    }
}

/// Every folder below `parent` in the hierarchy.
fn subfolders<'a>(
    mailboxes: &'a [MailboxInfo],
    parent: &str,
    delimiter: Option<&str>,
) -> Vec<&'a MailboxInfo> {
    let Some(delimiter) = delimiter.filter(|d| !d.is_empty()) else {
        return Vec::new();
    };
    let prefix = format!("{parent}{delimiter}");
    mailboxes
        .iter()
        .filter(|m| m.name.starts_with(&prefix))
        .collect()
}

async fn message_count(session: &mut ImapSession, wire: &str) -> Result<u32, MailError> {
    let status = session
        .command("counting messages", |s| s.status(wire, "(MESSAGES)"))
        .await?;
    Ok(status.exists)
}

/// Subscribes to (or unsubscribes from) a folder so that mail clients that show only
/// subscribed folders agree with the change. Best effort: a refusal is only logged.
async fn subscribe(session: &mut ImapSession, wire: &str, on: bool) {
    let result = match on {
        true => session.command("subscribing", |s| s.subscribe(wire)).await,
        false => {
            session
                .command("unsubscribing", |s| s.unsubscribe(wire))
                .await
        }
    };
    if let Err(err) = result {
        tracing::debug!(folder = %wire, subscribe = on, %err, "subscription change refused");
    }
}

fn invalid(message: &str) -> MailError {
    MailError::InvalidInput(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, special_use: Option<SpecialUse>) -> MailboxInfo {
        MailboxInfo::example(name, special_use)
    }

    fn marked_account() -> Vec<MailboxInfo> {
        vec![
            folder("INBOX", None),
            folder("Sent", Some(SpecialUse::Sent)),
            folder("Trash", Some(SpecialUse::Trash)),
            folder("Junk", None),
            folder("Work", None),
            folder("Work/Gesendet", Some(SpecialUse::Sent)),
            folder("Projects", None),
            folder("Projects/2026", None),
        ]
    }

    #[test]
    fn names_are_checked_before_anything_is_sent() {
        let cases = [
            ("", "empty"),
            ("   ", "empty"),
            (" Work", "starts or ends with a space"),
            ("Wo\r\nrk", "U+000D"),
            ("Work\0", "U+0000"),
            ("A1 DELETE INBOX\n", "U+000A"),
            ("Wo*rk", "'*'"),
            ("Wo%rk", "'%'"),
        ];
        for (name, want) in cases {
            let err = check_name(name).unwrap_err().to_string();
            assert!(err.contains(want), "{name:?}: {err}");
        }
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        for good in ["Work", "Ärger", "R&D", "Projects/2026", "[Gmail]/Sent Mail"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn every_level_needs_a_name() {
        for bad in ["/Work", "Work/", "Work//2026"] {
            let err = check_levels(bad, Some("/")).unwrap_err().to_string();
            assert!(
                err.contains("empty level") && err.contains("Projects/2026"),
                "{err}"
            );
        }
        assert!(check_levels("Work.2026", Some("/")).is_ok());
        assert!(check_levels("Work/", None).is_ok());
    }

    #[test]
    fn the_delimiter_is_inbox_s() {
        let mut boxes = vec![folder("Work", None), folder("INBOX", None)];
        boxes[1].delimiter = Some(".".into());
        assert_eq!(server_delimiter(&boxes).as_deref(), Some("."));
        boxes[1].delimiter = None;
        assert_eq!(server_delimiter(&boxes).as_deref(), Some("/"));
    }

    #[test]
    fn inbox_and_special_folders_are_protected() {
        let boxes = marked_account();
        let cases = [
            ("INBOX", Some("INBOX")),
            ("Sent", Some("the account's \\Sent folder")),
            ("Trash", Some("the account's \\Trash folder")),
            ("Junk", Some("the account's \\Junk folder (by its name)")),
            (
                "Work",
                Some("the folder that holds the account's \\Sent folder"),
            ),
            ("Projects", None),
            ("Projects/2026", None),
        ];
        for (name, want) in cases {
            let folder = find(&boxes, name).unwrap();
            let role = protection(folder, &boxes, Some("/"));
            assert_eq!(
                role.as_deref().map(|r| r.split(" \"").next().unwrap()),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn usual_names_are_protected_only_where_nothing_is_marked() {
        let unmarked = [
            folder("INBOX", None),
            folder("Sent Items", None),
            folder("sent", None),
            folder("Papierkorb", None),
            folder("Projekte", None),
        ];
        assert!(protection(&unmarked[1], &unmarked, Some("/")).is_some());
        assert!(protection(&unmarked[2], &unmarked, Some("/")).is_some());
        assert!(protection(&unmarked[3], &unmarked, Some("/")).is_some());
        assert!(protection(&unmarked[4], &unmarked, Some("/")).is_none());
        let marked = [
            folder("Gesendet", Some(SpecialUse::Sent)),
            folder("Sent", None),
        ];
        assert!(protection(&marked[1], &marked, Some("/")).is_none());
    }

    #[test]
    fn subfolders_are_found_by_the_delimiter() {
        let boxes = marked_account();
        let names: Vec<&str> = subfolders(&boxes, "Projects", Some("/"))
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["Projects/2026"]);
        assert!(subfolders(&boxes, "Project", Some("/")).is_empty());
        let err = refuse_subfolders(find(&boxes, "Projects").unwrap(), &boxes, Some("/"));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("1 subfolder(s): Projects/2026")
        );
    }

    #[test]
    fn rename_targets_must_be_new_and_outside_the_source() {
        let boxes = marked_account();
        let cases = [
            ("Projects", "Projects", Some("same as the old one")),
            ("Projects", "Work", Some("already exists")),
            ("Projects", "inbox", Some("already exists")),
            ("Projects", "Projects/Old", Some("inside itself")),
            ("Projects", "Projects-Old", None),
            ("Projects", "Archive/Projects", None),
        ];
        for (source, target, want) in cases {
            let result = check_rename_target(source, target, &boxes, Some("/"));
            match want {
                None => assert!(result.is_ok(), "{source} → {target}: {result:?}"),
                Some(want) => {
                    let err = result.unwrap_err().to_string();
                    assert!(err.contains(want), "{source} → {target}: {err}");
                }
            }
        }
    }

    #[test]
    fn unknown_folders_list_the_existing_ones() {
        let boxes = marked_account();
        let err = existing_folder(&boxes, "Nope").unwrap_err().to_string();
        assert!(err.contains("no folder named \"Nope\""), "{err}");
        assert!(err.contains("INBOX, Sent, Trash"), "{err}");
        assert_eq!(existing_folder(&boxes, "inbox").unwrap().name, "INBOX");
    }
}
