//! What changed in a folder since an earlier look: new messages, changed flags, messages
//! gone. The earlier look is a [`FolderSnapshot`] the caller hands back as a sealed cursor
//! (HMAC-SHA256 under a key the app derives from its keyring, bound to the account), so
//! the server keeps no state and a forged or altered cursor is refused. With CONDSTORE the
//! snapshot holds HIGHESTMODSEQ and changed flags come from `CHANGEDSINCE`; without it, a
//! digest of every message's flags says only whether some flags changed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::names::to_wire;
use super::organise::selection::flag_name;
use super::session::ImapSession;
use super::summary::fetch_by_uid;
use crate::mail::error::MailError;

/// The most new messages one answer lists with their subjects (the others by UID only).
const MAX_NEW_SUMMARIES: usize = 50;

/// A folder as it was: enough to tell what is new, changed and gone since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderSnapshot {
    folder: String,
    uid_validity: u32,
    uid_next: u32,
    modseq: Option<u64>,
    /// The UIDs present, as inclusive ranges.
    uids: Vec<(u32, u32)>,
    /// SHA-256 (hex) of every UID and its flags, where there is no modseq.
    flags_digest: Option<String>,
}

/// A new message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NewMessage {
    pub uid: u32,
    pub subject: Option<String>,
}

/// A message whose flags changed, with its flags now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ChangedFlags {
    pub uid: u32,
    pub flags: Vec<String>,
}

/// What changed since the cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FolderChanges {
    pub folder: String,
    pub uid_validity: u32,
    /// Messages that arrived (lowest UID first; subjects for the first 50).
    pub new: Vec<NewMessage>,
    /// Messages that were there before and whose flags changed (with CONDSTORE).
    pub changed: Vec<ChangedFlags>,
    /// UIDs that were there before and are gone (moved, deleted).
    pub gone: Vec<u32>,
    /// Without CONDSTORE: true when some message's flags changed (which one is unknown:
    /// list the folder); null when that cannot be told (see the note) and with CONDSTORE,
    /// where `changed` says exactly.
    pub flags_changed: Option<bool>,
    /// Pass this back as `cursor` next time.
    pub cursor: String,
    /// E.g. that this is a first look, or that the folder was rebuilt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What changed in `folder` since `since` (none: a first look that only makes a cursor).
/// `seal` turns the new snapshot into the cursor returned.
pub async fn changes_since(
    session: &mut ImapSession,
    folder: &str,
    since: Option<FolderSnapshot>,
    seal: impl FnOnce(&FolderSnapshot) -> String,
) -> Result<FolderChanges, MailError> {
    let wire = to_wire(folder);
    let condstore = session.has_capability("CONDSTORE").await?;
    let modseq = match condstore {
        true => highest_modseq(session, &wire).await?,
        false => None,
    };
    let selected = session.examine(&wire).await?;
    let uids = all_uids(session).await?;
    let flags_digest = match modseq {
        Some(_) => None,
        None => Some(flags_digest(session, &uids).await?),
    };
    let now = FolderSnapshot {
        folder: selected.name.clone(),
        uid_validity: selected.uid_validity,
        uid_next: selected
            .uid_next
            .unwrap_or_else(|| uids.last().map_or(1, |u| u + 1)),
        modseq,
        uids: ranges(&uids),
        flags_digest,
    };
    let mut changes = FolderChanges {
        folder: selected.name.clone(),
        uid_validity: selected.uid_validity,
        new: Vec::new(),
        changed: Vec::new(),
        gone: Vec::new(),
        flags_changed: None,
        cursor: seal(&now),
        note: None,
    };
    let Some(before) = since else {
        changes.note = Some("first look: pass the cursor next time to see what changed".into());
        return Ok(changes);
    };
    if before.folder != now.folder {
        return Err(MailError::InvalidInput(format!(
            "this cursor is for the folder \"{}\", not \"{}\": pass the cursor of this \
             folder, or none for a first look",
            before.folder, now.folder
        )));
    }
    if before.uid_validity != now.uid_validity {
        changes.note = Some(
            "the folder was rebuilt (new uid_validity): its old UIDs mean nothing now; list \
             it again"
                .into(),
        );
        return Ok(changes);
    }
    let old = expand(&before.uids);
    changes.gone = old
        .iter()
        .copied()
        .filter(|u| uids.binary_search(u).is_err())
        .collect();
    let new: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|u| *u >= before.uid_next)
        .collect();
    changes.new = new_messages(session, &new).await?;
    let kept: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|u| *u < before.uid_next)
        .collect();
    match (before.modseq, now.modseq) {
        (Some(then), Some(_)) => changes.changed = changed_since(session, &kept, then).await?,
        _ if changes.new.is_empty() && changes.gone.is_empty() => {
            changes.flags_changed = Some(before.flags_digest != now.flags_digest);
        }
        // The digest covers every message, so with messages come or gone it cannot tell
        // whether the others' flags changed too.
        _ => {
            changes.note = Some(
                "this server has no CONDSTORE, and with messages new or gone it cannot be told                  whether other messages' flags changed: list the folder to see them"
                    .into(),
            );
        }
    }
    Ok(changes)
}

async fn highest_modseq(session: &mut ImapSession, folder: &str) -> Result<Option<u64>, MailError> {
    let status = session
        .read_command("reading the folder's state", |s| {
            s.status(folder, "(HIGHESTMODSEQ)")
        })
        .await?;
    Ok(status.highest_modseq)
}

async fn all_uids(session: &mut ImapSession) -> Result<Vec<u32>, MailError> {
    let found = session
        .read_command("listing the folder", |s| s.uid_search("ALL"))
        .await?;
    let mut uids: Vec<u32> = found.into_iter().collect();
    uids.sort_unstable();
    Ok(uids)
}

async fn flags_digest(session: &mut ImapSession, uids: &[u32]) -> Result<String, MailError> {
    let mut hasher = Sha256::new();
    if !uids.is_empty() {
        let mut entries: Vec<(u32, Vec<String>)> = session
            .uid_fetch("reading flags", "1:*", "(UID FLAGS)")
            .await?
            .iter()
            .filter_map(|f| Some((f.uid?, flag_names(f))))
            .collect();
        entries.sort();
        for (uid, flags) in entries {
            hasher.update(format!("{uid}:{};", flags.join(" ")));
        }
    }
    Ok(hex(&hasher.finalize()))
}

async fn changed_since(
    session: &mut ImapSession,
    uids: &[u32],
    modseq: u64,
) -> Result<Vec<ChangedFlags>, MailError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = super::uidset::uid_set(uids);
    let query = format!("(UID FLAGS) (CHANGEDSINCE {modseq})");
    let fetches = session
        .uid_fetch("reading changed flags", set, &query)
        .await?;
    let mut changed: Vec<ChangedFlags> = fetches
        .iter()
        .filter_map(|f| {
            let uid = f.uid.filter(|u| uids.binary_search(u).is_ok())?;
            Some(ChangedFlags {
                uid,
                flags: flag_names(f),
            })
        })
        .collect();
    changed.sort_by_key(|c| c.uid);
    changed.dedup_by_key(|c| c.uid);
    Ok(changed)
}

async fn new_messages(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<Vec<NewMessage>, MailError> {
    let first = &uids[..uids.len().min(MAX_NEW_SUMMARIES)];
    let mut subjects: Vec<(u32, Option<String>)> = fetch_by_uid(session, first)
        .await?
        .into_iter()
        .map(|m| (m.summary.uid, m.summary.subject))
        .collect();
    subjects.sort();
    Ok(uids
        .iter()
        .map(|&uid| NewMessage {
            uid,
            subject: subjects
                .iter()
                .find(|(u, _)| *u == uid)
                .and_then(|(_, s)| s.clone()),
        })
        .collect())
}

fn flag_names(fetch: &async_imap::types::Fetch) -> Vec<String> {
    let mut flags: Vec<String> = fetch.flags().filter_map(|f| flag_name(&f)).collect();
    flags.sort();
    flags
}

/// Sorted UIDs as inclusive ranges.
fn ranges(uids: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &uid in uids {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == uid => *end = uid,
            _ => out.push((uid, uid)),
        }
    }
    out
}

fn expand(ranges: &[(u32, u32)]) -> Vec<u32> {
    ranges.iter().flat_map(|&(a, b)| a..=b).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type HmacSha256 = Hmac<Sha256>;

impl FolderSnapshot {
    /// The snapshot as a cursor: base64url JSON, a dot, and its HMAC under `key` bound to
    /// `account`.
    pub fn seal(&self, key: &[u8; 32], account: &str) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(&json);
        let tag = URL_SAFE_NO_PAD.encode(mac(key, account, body.as_bytes()));
        format!("{body}.{tag}")
    }

    /// The snapshot in `cursor`, if it was sealed by [`Self::seal`] with this key and account.
    pub fn open(cursor: &str, key: &[u8; 32], account: &str) -> Result<Self, MailError> {
        let refused = || {
            MailError::InvalidInput(
                "this cursor was not made by list_changes for this account (or was altered): \
                 call list_changes without a cursor to get a new one"
                    .into(),
            )
        };
        let (body, tag) = cursor.split_once('.').ok_or_else(refused)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| refused())?;
        let mut check = HmacSha256::new_from_slice(key).map_err(|_| refused())?;
        check.update(account.as_bytes());
        check.update(b"\n");
        check.update(body.as_bytes());
        check.verify_slice(&tag).map_err(|_| refused())?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| refused())?;
        serde_json::from_slice(&json).map_err(|_| refused())
    }
}

fn mac(key: &[u8; 32], account: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(account.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> FolderSnapshot {
        FolderSnapshot {
            folder: "INBOX".into(),
            uid_validity: 7,
            uid_next: 10,
            modseq: Some(42),
            uids: ranges(&[1, 2, 3, 5, 9]),
            flags_digest: None,
        }
    }

    #[test]
    fn uid_ranges_round_trip() {
        assert_eq!(ranges(&[1, 2, 3, 5, 9]), vec![(1, 3), (5, 5), (9, 9)]);
        assert_eq!(expand(&ranges(&[1, 2, 3, 5, 9])), vec![1, 2, 3, 5, 9]);
    }

    #[test]
    fn a_cursor_opens_only_with_its_key_and_account_unaltered() {
        let key = [7u8; 32];
        let cursor = snapshot().seal(&key, "a@example.com");
        assert_eq!(
            FolderSnapshot::open(&cursor, &key, "a@example.com").unwrap(),
            snapshot()
        );
        assert!(FolderSnapshot::open(&cursor, &[8u8; 32], "a@example.com").is_err());
        assert!(FolderSnapshot::open(&cursor, &key, "b@example.com").is_err());
        let mut forged = snapshot();
        forged.uid_next = 1;
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tag = cursor.split_once('.').unwrap().1;
        assert!(FolderSnapshot::open(&format!("{body}.{tag}"), &key, "a@example.com").is_err());
        assert!(FolderSnapshot::open("garbage", &key, "a@example.com").is_err());
    }
}
