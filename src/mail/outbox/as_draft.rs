//! A send, reply or forward saved to Drafts instead of being sent (a drafts-only
//! connection): the message is composed exactly as the send would have composed it (the
//! same recipients, Bcc kept in the draft, subject, body, attachments, threading, quoting,
//! re-attached originals) and checked as a send is, then stored in Drafts flagged \Draft.
//! No SMTP connection is made, and the original is not flagged \Answered or $Forwarded:
//! nothing was answered or forwarded yet.

use schemars::JsonSchema;
use serde::Serialize;

use super::{
    MessageRef, Outbox, Recipients, check_idempotency_key, compose_forward, compose_reply,
    store_draft,
};
use crate::mail::account::MailAccount;
use crate::mail::compose::{
    Attachment, Outgoing, ReplyText, idempotent_message_id, new_message_id,
};
use crate::mail::error::MailError;
use crate::mail::imap::{
    ImapSession, SpecialUse, StoredMessage, find_by_message_id, find_special_use,
};

/// A message saved in Drafts where it would have been sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SavedInstead {
    /// The draft's Message-ID, with angle brackets.
    pub message_id: String,
    /// Every recipient the draft names (To, Cc and Bcc); none of them was sent anything.
    pub recipients: Vec<String>,
    /// Where the draft is: its folder, uid and uid_validity.
    pub draft: StoredMessage,
    /// True when an earlier call with the same idempotency_key had already saved this
    /// draft: it was not saved again.
    pub already_saved: bool,
}

impl Outbox {
    /// Saves the message [`Outbox::send`] would send as a draft. With `idempotency_key`,
    /// a draft already saved with the same key (found in Drafts by its derived Message-ID)
    /// is reported and not saved again.
    pub async fn send_as_draft(
        &self,
        account: &MailAccount,
        outgoing: &Outgoing,
        idempotency_key: Option<&str>,
    ) -> Result<SavedInstead, MailError> {
        outgoing.check_sendable(self.attachment_limit)?;
        let message_id = match idempotency_key {
            Some(key) => {
                check_idempotency_key(key)?;
                idempotent_message_id(key, super::sending_address(account, outgoing))
            }
            None => new_message_id(super::sending_address(account, outgoing)),
        };
        let mut session = self.imap.session(&account.imap).await?;
        let result = async {
            if idempotency_key.is_some()
                && let Some(earlier) = find_in_drafts(&mut session, &message_id).await?
            {
                return Ok(saved(outgoing, message_id, earlier, true));
            }
            let stored = store_draft(&mut session, account, outgoing, &message_id).await?;
            Ok(saved(outgoing, message_id, stored, false))
        }
        .await;
        session.logout().await;
        result
    }

    /// Saves the reply [`Outbox::reply`] would send as a draft; the parent is not flagged.
    pub async fn reply_as_draft(
        &self,
        account: &MailAccount,
        parent: &MessageRef,
        reply_all: bool,
        text: ReplyText,
        attachments: Vec<Attachment>,
    ) -> Result<SavedInstead, MailError> {
        let mut session = self.imap.session(&account.imap).await?;
        let result = async {
            let (_, outgoing) =
                compose_reply(&mut session, account, parent, reply_all, text, attachments).await?;
            self.store_checked(&mut session, account, &outgoing).await
        }
        .await;
        session.logout().await;
        result
    }

    /// Saves the forward [`Outbox::forward`] would send as a draft (with the original's
    /// attachments when `include_attachments`); the original is not flagged.
    pub async fn forward_as_draft(
        &self,
        account: &MailAccount,
        original: &MessageRef,
        recipients: Recipients,
        note: Option<&str>,
        include_attachments: bool,
    ) -> Result<SavedInstead, MailError> {
        let mut session = self.imap.session(&account.imap).await?;
        let result = async {
            let (_, outgoing) = compose_forward(
                &mut session,
                original,
                recipients,
                note,
                include_attachments,
            )
            .await?;
            self.store_checked(&mut session, account, &outgoing).await
        }
        .await;
        session.logout().await;
        result
    }

    /// Checks `outgoing` as a send would be checked, then stores it in Drafts.
    async fn store_checked(
        &self,
        session: &mut ImapSession,
        account: &MailAccount,
        outgoing: &Outgoing,
    ) -> Result<SavedInstead, MailError> {
        outgoing.check_sendable(self.attachment_limit)?;
        let message_id = new_message_id(super::sending_address(account, outgoing));
        let stored = store_draft(session, account, outgoing, &message_id).await?;
        Ok(saved(outgoing, message_id, stored, false))
    }
}

fn saved(
    outgoing: &Outgoing,
    message_id: String,
    draft: StoredMessage,
    already_saved: bool,
) -> SavedInstead {
    SavedInstead {
        message_id,
        recipients: outgoing.recipient_addresses(),
        draft,
        already_saved,
    }
}

/// The draft with `message_id` in Drafts, if there is one.
async fn find_in_drafts(
    session: &mut ImapSession,
    message_id: &str,
) -> Result<Option<StoredMessage>, MailError> {
    let Some(folder) = find_special_use(session, SpecialUse::Drafts).await? else {
        return Ok(None);
    };
    let selected = session.examine(&folder).await?;
    let found = find_by_message_id(session, message_id).await?;
    Ok(found.map(|uid| StoredMessage {
        folder,
        uid,
        uid_validity: selected.uid_validity,
        note: None,
    }))
}
