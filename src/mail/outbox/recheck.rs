//! After the connection broke while a draft was being stored (its APPEND under way): a
//! new connection looks for the draft by its Message-ID, so the caller learns whether it
//! was saved (then it is reported as saved, once) or not (then saving again is safe),
//! instead of guessing; when even that check fails, the error says the draft may exist.

use crate::mail::account::MailAccount;
use crate::mail::error::MailError;
use crate::mail::imap::{Imap, SpecialUse, StoredMessage, find_by_message_id, find_special_use};

/// The outcome of a draft whose APPEND lost its connection (`lost`), checked on a new one.
pub(super) async fn after_lost_draft(
    imap: &Imap,
    account: &MailAccount,
    message_id: &str,
    lost: MailError,
) -> Result<StoredMessage, MailError> {
    match look_for_draft(imap, account, message_id).await {
        Ok((_, Some(mut stored))) => {
            stored.note = Some(
                "the connection broke while the draft was being stored, but it was found \
                 saved (once) when checked on a new connection"
                    .to_owned(),
            );
            Ok(stored)
        }
        Ok((folder, None)) => Err(MailError::Interrupted(format!(
            "{}: the draft was not saved (it is not in \"{folder}\", checked on a new \
             connection by its Message-ID), so saving it again is safe",
            sentence(&lost)
        ))),
        Err(check) => Err(MailError::Interrupted(format!(
            "{}: the draft may or may not have been saved, and checking failed ({}); look in \
             the Drafts folder before saving it again",
            sentence(&lost),
            sentence(&check)
        ))),
    }
}

/// Drafts' name and the draft with `message_id` in it, if there.
async fn look_for_draft(
    imap: &Imap,
    account: &MailAccount,
    message_id: &str,
) -> Result<(String, Option<StoredMessage>), MailError> {
    let mut session = imap.session(&account.imap).await?;
    let found = async {
        let folder = find_special_use(&mut session, SpecialUse::Drafts)
            .await?
            .unwrap_or_else(|| "Drafts".to_owned());
        let selected = session.examine(&folder).await?;
        let uid = find_by_message_id(&mut session, message_id).await?;
        let stored = uid.map(|uid| StoredMessage {
            folder: folder.clone(),
            uid,
            uid_validity: selected.uid_validity,
            note: None,
        });
        Ok((folder, stored))
    }
    .await;
    session.logout().await;
    found
}

/// An error's text without a final full stop, to go inside a longer sentence.
fn sentence(error: &MailError) -> String {
    error.to_string().trim_end_matches('.').to_owned()
}
