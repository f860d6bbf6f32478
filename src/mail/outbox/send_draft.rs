//! Sending a saved draft: the draft is read from its folder (with the caller's
//! `uid_validity` check), made ready ([`crate::mail::compose::draft`]: Bcc out, Date now),
//! handed to SMTP as those exact bytes, filed in Sent as a send does, then expunged from
//! Drafts (by UID only). A draft whose Message-ID is already in Sent is not sent again, so
//! a retry after a failed removal only removes it.

use lettre::address::Envelope;
use schemars::JsonSchema;
use serde::Serialize;

use super::{
    MessageRef, Outbox, SendError, SendReport, copy_failed, file_in_sent, filed_by_smtp,
    find_in_sent,
};
use crate::mail::account::MailAccount;
use crate::mail::blocking::run_blocking;
use crate::mail::compose::draft::{ReadyDraft, ready_to_send};
use crate::mail::error::MailError;
use crate::mail::imap::{ImapSession, MessageSelection, SelectedFolder, delete_messages};

/// What sending a draft did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DraftSendReport {
    #[serde(flatten)]
    pub sent: SendReport,
    /// Whether the draft is gone from its folder.
    pub removed_from_drafts: bool,
    /// Only when removing the draft failed: the message WAS sent; delete the draft
    /// rather than sending it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drafts_error: Option<String>,
}

impl Outbox {
    /// Sends the draft `draft` names, files it in Sent and removes it from its folder.
    pub async fn send_draft(
        &self,
        account: &MailAccount,
        draft: &MessageRef,
    ) -> Result<DraftSendReport, SendError> {
        let mut session = self.session(account).await?;
        let result = self.send_draft_in(&mut session, account, draft).await;
        session.logout().await;
        result
    }

    /// The draft [`send_draft`](Self::send_draft) would send now, as it will go out (an
    /// approval's preview), without sending it.
    pub async fn prepare_draft(
        &self,
        account: &MailAccount,
        draft: &MessageRef,
    ) -> Result<ReadyDraft, MailError> {
        let mut session = self.imap.session(&account.imap).await?;
        let loaded = load_draft(&mut session, account, draft).await;
        session.logout().await;
        loaded.map(|(_, ready)| ready)
    }

    async fn send_draft_in(
        &self,
        session: &mut ImapSession,
        account: &MailAccount,
        draft: &MessageRef,
    ) -> Result<DraftSendReport, SendError> {
        let (folder, ready) = load_draft(session, account, draft)
            .await
            .map_err(SendError::NotSent)?;
        let already = find_in_sent(session, &ready.message_id)
            .await
            .map_err(SendError::NotSent)?;
        let sent = match already {
            Some(earlier) => already_sent(&ready, earlier),
            None => self.deliver_draft(session, account, &ready).await?,
        };
        let removed = remove_draft(session, &folder, draft.uid).await;
        Ok(DraftSendReport {
            sent,
            removed_from_drafts: removed.is_ok(),
            drafts_error: removed.err().map(|err| {
                format!(
                    "the draft WAS sent, but removing it from \"{}\" failed: {err}. Delete the \
                     draft; do not send it again",
                    folder.name
                )
            }),
        })
    }

    /// Hands the draft's bytes to SMTP and files the same bytes in Sent.
    async fn deliver_draft(
        &self,
        session: &mut ImapSession,
        account: &MailAccount,
        ready: &ReadyDraft,
    ) -> Result<SendReport, SendError> {
        let from = ready.sender.parse().map_err(|_| {
            SendError::NotSent(MailError::InvalidInput(format!(
                "the draft's sender {} cannot be used as a sender",
                ready.sender
            )))
        })?;
        let envelope = Envelope::new(Some(from), ready.recipients.clone())
            .map_err(|e| SendError::NotSent(MailError::InvalidInput(e.to_string())))?;
        self.smtp
            .send(&account.smtp, &envelope, &ready.bytes)
            .await
            .map_err(|err| SendError::of_delivery(err, &ready.message_id))?;
        tracing::info!(
            recipients = ready.recipients.len(),
            size = ready.bytes.len(),
            "draft sent"
        );
        let accepted: Vec<String> = ready.recipients.iter().map(|a| a.to_string()).collect();
        if self.smtp_files_sent(account) {
            return Ok(filed_by_smtp(session, &ready.message_id, accepted).await);
        }
        let (saved_to, copy_error) =
            match file_in_sent(session, &ready.bytes, &ready.message_id).await {
                Ok(stored) => (Some(stored), None),
                Err(err) => {
                    tracing::warn!(error = %err, "draft sent, but storing the copy in Sent failed");
                    (None, Some(copy_failed(&ready.message_id, &err)))
                }
            };
        Ok(SendReport {
            message_id: ready.message_id.clone(),
            accepted_recipients: accepted,
            already_sent: false,
            saved_to,
            copy_error,
            sent_copy_note: None,
        })
    }
}

/// Reads the draft from its folder (checking its UIDVALIDITY) and makes it ready to send;
/// parsing runs off the async threads.
async fn load_draft(
    session: &mut ImapSession,
    account: &MailAccount,
    draft: &MessageRef,
) -> Result<(SelectedFolder, ReadyDraft), MailError> {
    let folder = session
        .select_checked(&draft.folder, draft.uid_validity)
        .await?;
    let raw = session.fetch_raw(&folder, draft.uid).await?;
    let addresses = account.sending_addresses();
    let date = chrono::Utc::now().to_rfc2822();
    let ready = run_blocking("reading the draft failed", move || {
        ready_to_send(&raw, &addresses, &date)
    })
    .await??;
    Ok((folder, ready))
}

/// The report of a draft found in Sent already: it is not sent again.
fn already_sent(ready: &ReadyDraft, earlier: crate::mail::imap::StoredMessage) -> SendReport {
    SendReport {
        message_id: ready.message_id.clone(),
        accepted_recipients: ready.recipients.iter().map(|a| a.to_string()).collect(),
        already_sent: true,
        saved_to: Some(earlier),
        copy_error: None,
        sent_copy_note: None,
    }
}

/// Expunges the draft, and only it, from its folder.
async fn remove_draft(
    session: &mut ImapSession,
    folder: &SelectedFolder,
    uid: u32,
) -> Result<(), MailError> {
    let selection = MessageSelection {
        folder: folder.name.clone(),
        uids: vec![uid],
        uid_validity: Some(folder.uid_validity),
    };
    delete_messages(session, &selection, true).await.map(drop)
}
