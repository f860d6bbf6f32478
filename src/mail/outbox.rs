//! Sending and saving mail: the flows behind send, reply, forward and draft. A send builds
//! the message ([`crate::mail::compose`]), hands its exact bytes to the account's SMTP
//! server, then stores those same bytes in the Sent folder flagged \Seen. Failures before
//! the SMTP server took the message say that nothing was sent; a failure to store the copy
//! afterwards is reported in the result, never as an error, so nobody sends twice. With an
//! idempotency key the Message-ID is derived from the key and Sent is searched for it
//! first. A reply flags its parent \Answered, a forward its original $Forwarded; a draft
//! goes to Drafts flagged \Draft.
//!
//! A send with an idempotency key is also recorded as begun before it goes out
//! ([`attempts`], in the store every instance shares): a retry of one whose outcome was
//! never learnt (the connection cut during DATA) is answered, not sent again, unless the
//! caller asks to resend ([`Outbox::resend_uncertain`]).
//!
//! The IMAP session is opened before anything is sent (a reply needs its parent, an
//! idempotent send needs Sent), so an IMAP server that refuses the login stops the send
//! before it happens rather than leaving a sent message without its copy.

mod as_draft;
pub mod attempts;
mod recheck;
mod send_draft;

pub use as_draft::SavedInstead;
pub use attempts::{AttemptsUnavailable, EarlierAttempt, SendAttempts, Settled};
pub use send_draft::DraftSendReport;

use std::sync::Arc;

use lettre::message::Mailbox;
use schemars::JsonSchema;
use serde::Serialize;

use crate::mail::account::MailAccount;
use crate::mail::blocking::run_blocking;
use crate::mail::compose::{
    self, Attachment, Author, Original, Outgoing, Purpose, ReplyText, idempotent_message_id,
    new_message_id,
};
use crate::mail::error::MailError;
use crate::mail::imap::{
    Imap, ImapSession, SelectedFolder, SpecialUse, StoredMessage, append_message,
    ensure_special_use, find_by_message_id, find_special_use,
};
use crate::mail::smtp::Smtp;

/// The longest idempotency key accepted, in bytes.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// A message in the mailbox, as the caller names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRef {
    pub folder: String,
    pub uid: u32,
    /// When given, the folder must still have this UIDVALIDITY.
    pub uid_validity: Option<u32>,
}

/// What a send did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SendReport {
    /// The sent message's Message-ID, with angle brackets.
    pub message_id: String,
    /// Every recipient the SMTP server accepted (To, Cc and Bcc).
    pub accepted_recipients: Vec<String>,
    /// True when an earlier call with the same idempotency_key had already sent this
    /// message: it was not sent again.
    pub already_sent: bool,
    /// Where the copy of the sent message is stored (the Sent folder).
    pub saved_to: Option<StoredMessage>,
    /// Only when storing the copy failed: the message WAS sent all the same; do not send
    /// it again.
    pub copy_error: Option<String>,
    /// Anything else about the Sent copy, e.g. that the provider files it itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_copy_note: Option<String>,
}

/// What a reply did: the send, and the parent's \Answered flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReplyReport {
    #[serde(flatten)]
    pub sent: SendReport,
    /// Whether the message replied to is now flagged \Answered.
    pub parent_flagged_answered: bool,
    /// Only when flagging the parent failed (the reply was sent all the same).
    pub flag_error: Option<String>,
}

/// Why a send failed, and whether anything left.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Refused before the SMTP server took the message: nothing was sent.
    #[error("nothing was sent: {0}")]
    NotSent(MailError),
    /// The SMTP server stopped answering, or the connection broke, while it was taking the
    /// message: it may have gone or not. Says how to find out and how to retry safely.
    #[error("{error}: the message may not have been sent (or it may have been). {}", retry_advice(.message_id, .idempotency_key.as_deref()))]
    Uncertain {
        error: MailError,
        /// The Message-ID the message was sent with, to look for.
        message_id: String,
        /// The caller's idempotency key, to retry with.
        idempotency_key: Option<String>,
    },
    /// An earlier call with the same idempotency key began this send and its outcome was
    /// never learnt (or it is still running): it may have gone, so it is not sent again.
    #[error(
        "not sent again: an earlier attempt with idempotency_key \"{idempotency_key}\" \
         (Message-ID {message_id}) may have been sent; its outcome was never confirmed, or it \
         is still in progress. Look for {message_id} in the recipient's mailbox or ask; to \
         send it anyway, call again with the same idempotency_key and resend_uncertain = true."
    )]
    EarlierAttemptUncertain {
        message_id: String,
        idempotency_key: String,
    },
}

impl SendError {
    /// The underlying mail error, if a mail server failed.
    pub fn mail_error(&self) -> Option<&MailError> {
        match self {
            SendError::NotSent(e) | SendError::Uncertain { error: e, .. } => Some(e),
            SendError::EarlierAttemptUncertain { .. } => None,
        }
    }

    /// The outcome of handing `message_id` to SMTP: a timeout or a lost connection leaves
    /// it uncertain, any other failure means it was not sent.
    fn of_delivery(error: MailError, message_id: &str) -> SendError {
        match error {
            MailError::Timeout { .. } | MailError::ConnectionLost { .. } => SendError::Uncertain {
                error,
                message_id: message_id.to_owned(),
                idempotency_key: None,
            },
            other => SendError::NotSent(other),
        }
    }

    /// The same error, naming the idempotency key the caller sent (to retry with).
    fn with_idempotency_key(self, key: Option<&str>) -> SendError {
        match self {
            SendError::Uncertain {
                error, message_id, ..
            } => SendError::Uncertain {
                error,
                message_id,
                idempotency_key: key.map(str::to_owned),
            },
            not_sent => not_sent,
        }
    }
}

/// What to do after an uncertain send: look for it by Message-ID, and retry with the same
/// idempotency key (which keeps the Message-ID, and finds a copy already in Sent).
fn retry_advice(message_id: &str, idempotency_key: Option<&str>) -> String {
    match idempotency_key {
        Some(key) => format!(
            "A retry with the same idempotency_key \"{key}\" is not sent again: it reports \
             this send as possibly sent (or as sent, once a copy of {message_id} is in Sent). \
             Look for {message_id} in the recipient's mailbox or ask; if it did not arrive, \
             call again with the same idempotency_key and resend_uncertain = true."
        ),
        None => format!(
            "Before sending again, look for Message-ID {message_id} in the recipient's mailbox \
             or ask; pass an idempotency_key with a send to make retries safe."
        ),
    }
}

/// Sends and saves mail for accounts; cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    imap: Imap,
    smtp: Smtp,
    /// The most attachment bytes one message may carry.
    attachment_limit: usize,
    /// IMAP hosts whose provider's SMTP server files the Sent copy itself (Gmail, Outlook:
    /// `smtp_saves_sent` in the provider table); no copy is stored for them over IMAP.
    smtp_saves_sent: Vec<String>,
    /// Where sends with an idempotency key are recorded as begun, when wired in.
    attempts: Option<Arc<dyn SendAttempts>>,
}

impl Outbox {
    /// An outbox with the default attachment limit (25 MB).
    pub fn new(imap: Imap, smtp: Smtp) -> Self {
        Outbox {
            imap,
            smtp,
            attachment_limit: compose::DEFAULT_MAX_ATTACHMENT_BYTES,
            smtp_saves_sent: Vec::new(),
            attempts: None,
        }
    }

    /// The same outbox recording sends with an idempotency key in `attempts`, so that a
    /// retry after an uncertain outcome is answered instead of sent again.
    pub fn with_send_attempts(self, attempts: Arc<dyn SendAttempts>) -> Self {
        Outbox {
            attempts: Some(attempts),
            ..self
        }
    }

    /// The same outbox storing no Sent copy for accounts on these IMAP hosts, whose SMTP
    /// servers file one themselves.
    pub fn with_smtp_saving_sent(self, imap_hosts: Vec<String>) -> Self {
        Outbox {
            smtp_saves_sent: imap_hosts,
            ..self
        }
    }

    fn smtp_files_sent(&self, account: &MailAccount) -> bool {
        let host = &account.imap.endpoint.host;
        self.smtp_saves_sent
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The same outbox refusing messages whose attachments add up to more than `bytes`
    /// (forwarded originals included).
    pub fn with_attachment_limit(self, bytes: usize) -> Self {
        Outbox {
            attachment_limit: bytes,
            ..self
        }
    }

    /// Sends a new message. With `idempotency_key`, a message already sent with the same
    /// key (found in Sent by its derived Message-ID, or recorded as sent) is reported and
    /// not sent again, and one whose earlier attempt may have gone is refused
    /// ([`SendError::EarlierAttemptUncertain`]).
    pub async fn send(
        &self,
        account: &MailAccount,
        outgoing: &Outgoing,
        idempotency_key: Option<&str>,
    ) -> Result<SendReport, SendError> {
        let keyed = idempotency_key.map(|key| Keyed { key, resend: false });
        self.send_keyed(account, outgoing, keyed).await
    }

    /// Sends the message of `idempotency_key` although an earlier attempt with that key may
    /// have gone (the caller looked and found it did not arrive). One already in Sent, or
    /// recorded as accepted, is still not sent again.
    pub async fn resend_uncertain(
        &self,
        account: &MailAccount,
        outgoing: &Outgoing,
        idempotency_key: &str,
    ) -> Result<SendReport, SendError> {
        let keyed = Keyed {
            key: idempotency_key,
            resend: true,
        };
        self.send_keyed(account, outgoing, Some(keyed)).await
    }

    async fn send_keyed(
        &self,
        account: &MailAccount,
        outgoing: &Outgoing,
        keyed: Option<Keyed<'_>>,
    ) -> Result<SendReport, SendError> {
        let idempotency_key = keyed.map(|k| k.key);
        outgoing
            .check_sendable(self.attachment_limit)
            .map_err(SendError::NotSent)?;
        let message_id = match idempotency_key {
            Some(key) => {
                check_idempotency_key(key).map_err(SendError::NotSent)?;
                idempotent_message_id(key, sending_address(account, outgoing))
            }
            None => new_message_id(sending_address(account, outgoing)),
        };
        let mut session = self.session(account).await?;
        let result = self
            .send_in(&mut session, account, outgoing, &message_id, keyed)
            .await;
        session.logout().await;
        result.map_err(|e| e.with_idempotency_key(idempotency_key))
    }

    /// Replies to `parent` (to its Reply-To or From; with `reply_all` also its To and Cc),
    /// quoting it, then flags it \Answered.
    pub async fn reply(
        &self,
        account: &MailAccount,
        parent: &MessageRef,
        reply_all: bool,
        text: ReplyText,
        attachments: Vec<Attachment>,
    ) -> Result<ReplyReport, SendError> {
        let mut session = self.session(account).await?;
        let result = self
            .reply_in(&mut session, account, parent, reply_all, text, attachments)
            .await;
        session.logout().await;
        result
    }

    /// Forwards `original` to the recipients of `outgoing`, whose text is the note above
    /// the forwarded message; its attachments go along when `include_attachments`.
    pub async fn forward(
        &self,
        account: &MailAccount,
        original: &MessageRef,
        recipients: Recipients,
        note: Option<&str>,
        include_attachments: bool,
    ) -> Result<SendReport, SendError> {
        let mut session = self.session(account).await?;
        let result = self
            .forward_in(
                &mut session,
                account,
                original,
                recipients,
                note,
                include_attachments,
            )
            .await;
        session.logout().await;
        result
    }

    /// Stores `draft` in the Drafts folder flagged \Draft and \Seen (Bcc kept). With
    /// `reply_to`, the draft answers that message: threaded, quoted, and addressed and
    /// titled like a reply where the draft leaves recipients or subject empty.
    pub async fn save_draft(
        &self,
        account: &MailAccount,
        draft: Outgoing,
        reply_to: Option<&MessageRef>,
    ) -> Result<StoredMessage, MailError> {
        draft.check_savable(self.attachment_limit)?;
        let message_id = new_message_id(sending_address(account, &draft));
        let mut session = self.imap.session(&account.imap).await?;
        let result = save_draft_in(&mut session, account, draft, reply_to, &message_id).await;
        session.logout().await;
        match result {
            Err(lost @ MailError::ConnectionLost { .. }) => {
                recheck::after_lost_draft(&self.imap, account, &message_id, lost).await
            }
            other => other,
        }
    }

    async fn session(&self, account: &MailAccount) -> Result<ImapSession, SendError> {
        self.imap
            .session(&account.imap)
            .await
            .map_err(SendError::NotSent)
    }

    /// The send itself, on an open session: the idempotency checks, SMTP, the Sent copy.
    async fn send_in(
        &self,
        session: &mut ImapSession,
        account: &MailAccount,
        outgoing: &Outgoing,
        message_id: &str,
        keyed: Option<Keyed<'_>>,
    ) -> Result<SendReport, SendError> {
        let accepted_recipients = outgoing.recipient_addresses();
        if let Some(keyed) = keyed {
            if let Some(earlier) = find_in_sent(session, message_id)
                .await
                .map_err(SendError::NotSent)?
            {
                return Ok(already_sent(message_id, accepted_recipients, Some(earlier)));
            }
            if let Some(EarlierAttempt::Sent) = self.begin_attempt(message_id, keyed).await? {
                return Ok(already_sent(message_id, accepted_recipients, None));
            }
        }
        let delivered = self.deliver(account, outgoing, message_id).await;
        if keyed.is_some() {
            self.settle_attempt(message_id, &delivered).await;
        }
        let bytes = delivered?;
        if self.smtp_files_sent(account) {
            return Ok(filed_by_smtp(session, message_id, accepted_recipients).await);
        }
        let (saved_to, copy_error) = match file_in_sent(session, &bytes, message_id).await {
            Ok(stored) => (Some(stored), None),
            Err(err) => {
                tracing::warn!(error = %err, "sent, but storing the copy in Sent failed");
                (None, Some(copy_failed(message_id, &err)))
            }
        };
        Ok(SendReport {
            message_id: message_id.to_owned(),
            accepted_recipients,
            already_sent: false,
            saved_to,
            copy_error,
            sent_copy_note: None,
        })
    }

    /// Records the send of `message_id` as begun; what an earlier attempt came to when one
    /// was recorded and may not be repeated ([`EarlierAttempt::Sent`]). An earlier attempt
    /// of unknown outcome refuses the send unless the caller asked to resend.
    async fn begin_attempt(
        &self,
        message_id: &str,
        keyed: Keyed<'_>,
    ) -> Result<Option<EarlierAttempt>, SendError> {
        let Some(attempts) = &self.attempts else {
            return Ok(None);
        };
        let earlier = attempts.begin(message_id).await.map_err(attempts_down)?;
        match earlier {
            Some(EarlierAttempt::Unsettled) if keyed.resend => {
                attempts
                    .begin_again(message_id)
                    .await
                    .map_err(attempts_down)?;
                Ok(None)
            }
            Some(EarlierAttempt::Unsettled) => Err(SendError::EarlierAttemptUncertain {
                message_id: message_id.to_owned(),
                idempotency_key: keyed.key.to_owned(),
            }),
            other => Ok(other),
        }
    }

    /// Records what the SMTP server made of `message_id`; an uncertain outcome stays begun.
    async fn settle_attempt(&self, message_id: &str, delivered: &Result<Vec<u8>, SendError>) {
        let Some(attempts) = &self.attempts else {
            return;
        };
        match delivered {
            Ok(_) => attempts.settle(message_id, Settled::Sent).await,
            Err(SendError::NotSent(_)) => attempts.settle(message_id, Settled::NotSent).await,
            Err(_) => {}
        }
    }

    /// Builds the message and hands it to SMTP; returns the exact bytes sent.
    async fn deliver(
        &self,
        account: &MailAccount,
        outgoing: &Outgoing,
        message_id: &str,
    ) -> Result<Vec<u8>, SendError> {
        let message = compose::build(
            &author(account, outgoing),
            outgoing,
            message_id,
            Purpose::Delivery,
        )
        .map_err(SendError::NotSent)?;
        let bytes = ending_with_crlf(message.formatted());
        self.smtp
            .send(&account.smtp, message.envelope(), &bytes)
            .await
            .map_err(|err| SendError::of_delivery(err, message_id))?;
        tracing::info!(
            recipients = message.envelope().to().len(),
            size = bytes.len(),
            "message sent"
        );
        Ok(bytes)
    }

    async fn reply_in(
        &self,
        session: &mut ImapSession,
        account: &MailAccount,
        parent: &MessageRef,
        reply_all: bool,
        text: ReplyText,
        attachments: Vec<Attachment>,
    ) -> Result<ReplyReport, SendError> {
        let (selected, outgoing) =
            compose_reply(session, account, parent, reply_all, text, attachments)
                .await
                .map_err(SendError::NotSent)?;
        outgoing
            .check_sendable(self.attachment_limit)
            .map_err(SendError::NotSent)?;
        let message_id = new_message_id(sending_address(account, &outgoing));
        let sent = self
            .send_in(session, account, &outgoing, &message_id, None)
            .await?;
        let flagged = add_flag(session, parent, selected.uid_validity, "\\Answered").await;
        Ok(ReplyReport {
            sent,
            parent_flagged_answered: flagged.is_ok(),
            flag_error: flagged.err().map(|err| {
                format!("the reply WAS sent, but flagging the original \\Answered failed: {err}")
            }),
        })
    }

    async fn forward_in(
        &self,
        session: &mut ImapSession,
        account: &MailAccount,
        original_ref: &MessageRef,
        recipients: Recipients,
        note: Option<&str>,
        include_attachments: bool,
    ) -> Result<SendReport, SendError> {
        let (selected, outgoing) =
            compose_forward(session, original_ref, recipients, note, include_attachments)
                .await
                .map_err(SendError::NotSent)?;
        outgoing
            .check_sendable(self.attachment_limit)
            .map_err(SendError::NotSent)?;
        let message_id = new_message_id(sending_address(account, &outgoing));
        let sent = self
            .send_in(session, account, &outgoing, &message_id, None)
            .await?;
        // Mail clients show forwarded messages by this keyword; failing to set it (a server
        // without keywords) does not undo or hide the forward.
        if let Err(error) =
            add_flag(session, original_ref, selected.uid_validity, "$Forwarded").await
        {
            tracing::debug!(%error, "could not flag the forwarded original $Forwarded");
        }
        Ok(sent)
    }
}

impl Outbox {
    /// The reply [`reply`](Self::reply) would send now, without sending it (an approval's
    /// preview): the same original, recipients, subject, quote and attachments.
    pub async fn prepare_reply(
        &self,
        account: &MailAccount,
        parent: &MessageRef,
        reply_all: bool,
        text: ReplyText,
        attachments: Vec<Attachment>,
    ) -> Result<Outgoing, MailError> {
        let mut session = self.imap.session(&account.imap).await?;
        let loaded = load_original(&mut session, parent).await;
        session.logout().await;
        let (_, original) = loaded?;
        reply_message(&original, account, reply_all, text, attachments)
    }

    /// The message [`forward`](Self::forward) would send now, without sending it.
    pub async fn prepare_forward(
        &self,
        account: &MailAccount,
        original: &MessageRef,
        recipients: Recipients,
        note: Option<&str>,
        include_attachments: bool,
    ) -> Result<Outgoing, MailError> {
        let mut session = self.imap.session(&account.imap).await?;
        let loaded = load_original(&mut session, original).await;
        session.logout().await;
        let (_, original) = loaded?;
        Ok(forward_message(
            &original,
            recipients,
            note,
            include_attachments,
        ))
    }
}

/// The reply to `original` (recipients resolved from its Reply-To/From, with `reply_all`
/// its To and Cc), with `attachments`.
fn reply_message(
    original: &Original,
    account: &MailAccount,
    reply_all: bool,
    text: ReplyText,
    attachments: Vec<Attachment>,
) -> Result<Outgoing, MailError> {
    let mut text = text;
    if text.from.is_none() {
        text.from =
            compose::reply::addressed_identity(original, &identity_authors(account)).cloned();
    }
    let mut outgoing = compose::reply_to(original, &account.sending_addresses(), reply_all, text)?;
    outgoing.attachments = attachments;
    Ok(outgoing)
}

/// The forward of `original` to `recipients`.
fn forward_message(
    original: &Original,
    recipients: Recipients,
    note: Option<&str>,
    include_attachments: bool,
) -> Outgoing {
    let mut outgoing = compose::forward(original, note, include_attachments);
    (outgoing.to, outgoing.cc, outgoing.bcc) = (recipients.to, recipients.cc, recipients.bcc);
    outgoing.sender = recipients.from;
    outgoing
}

/// The To, Cc and Bcc of a forward.
#[derive(Clone, Debug, Default)]
pub struct Recipients {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    /// The identity the forward is sent from; `None`: the account's main address.
    pub from: Option<Author>,
}

async fn save_draft_in(
    session: &mut ImapSession,
    account: &MailAccount,
    draft: Outgoing,
    reply_to: Option<&MessageRef>,
    message_id: &str,
) -> Result<StoredMessage, MailError> {
    let draft = match reply_to {
        Some(parent) => {
            let (_, original) = load_original(session, parent).await?;
            compose::reply::draft_reply(&original, &account.sending_addresses(), draft)
        }
        None => draft,
    };
    store_draft(session, account, &draft, message_id).await
}

/// Builds `draft` as a draft (Bcc kept) with `message_id` and stores it in Drafts flagged
/// \Draft and \Seen; creates Drafts when the account has none.
async fn store_draft(
    session: &mut ImapSession,
    account: &MailAccount,
    draft: &Outgoing,
    message_id: &str,
) -> Result<StoredMessage, MailError> {
    let (drafts, created) = ensure_special_use(session, SpecialUse::Drafts).await?;
    let message = compose::build(&author(account, draft), draft, message_id, Purpose::Draft)?;
    let bytes = ending_with_crlf(message.formatted());
    let stored =
        append_message(session, &drafts, &["\\Draft", "\\Seen"], &bytes, message_id).await?;
    Ok(with_created_note(stored, created, "Drafts"))
}

/// The reply to `parent` as it would be sent: addressed, titled, threaded and quoted, with
/// `attachments`; and the parent's folder as it was read.
async fn compose_reply(
    session: &mut ImapSession,
    account: &MailAccount,
    parent: &MessageRef,
    reply_all: bool,
    text: ReplyText,
    attachments: Vec<Attachment>,
) -> Result<(SelectedFolder, Outgoing), MailError> {
    let (selected, original) = load_original(session, parent).await?;
    let outgoing = reply_message(&original, account, reply_all, text, attachments)?;
    Ok((selected, outgoing))
}

/// The forward of `original_ref` to `recipients` as it would be sent (`Fwd:`, the note,
/// the original's headers and text, its attachments when `include_attachments`); and the
/// original's folder as it was read.
async fn compose_forward(
    session: &mut ImapSession,
    original_ref: &MessageRef,
    recipients: Recipients,
    note: Option<&str>,
    include_attachments: bool,
) -> Result<(SelectedFolder, Outgoing), MailError> {
    let (selected, original) = load_original(session, original_ref).await?;
    let outgoing = forward_message(&original, recipients, note, include_attachments);
    Ok((selected, outgoing))
}

/// Says in `stored` that its folder was created for it, when it was.
fn with_created_note(mut stored: StoredMessage, created: bool, what: &str) -> StoredMessage {
    if created {
        stored.note = Some(format!(
            "the account had no {what} folder, so \"{}\" was created for this message",
            stored.folder
        ));
    }
    stored
}

/// Opens the folder of `message` (checking its UIDVALIDITY when given) and reads the
/// message without marking it seen; parsing runs off the async threads.
async fn load_original(
    session: &mut ImapSession,
    message: &MessageRef,
) -> Result<(SelectedFolder, Original), MailError> {
    let selected = session
        .select_checked(&message.folder, message.uid_validity)
        .await?;
    let raw = session.fetch_raw(&selected, message.uid).await?;
    let original =
        run_blocking("reading the message failed", move || Original::parse(&raw)).await??;
    Ok((selected, original))
}

/// Adds `flag` (`\Answered`, `$Forwarded`) to `message`, in the folder as it was when it
/// was read.
async fn add_flag(
    session: &mut ImapSession,
    message: &MessageRef,
    uid_validity: u32,
    flag: &str,
) -> Result<(), MailError> {
    use futures::TryStreamExt;
    session
        .select_checked(&message.folder, Some(uid_validity))
        .await?;
    let uid = message.uid.to_string();
    let query = format!("+FLAGS.SILENT ({flag})");
    let _: Vec<_> = session
        .command("flagging a message", |s| async move {
            s.uid_store(uid, query).await?.try_collect().await
        })
        .await?;
    Ok(())
}

/// An idempotency key given with a send, and whether the caller asked to resend a message
/// whose earlier attempt may have gone.
#[derive(Clone, Copy, Debug)]
struct Keyed<'a> {
    key: &'a str,
    resend: bool,
}

/// The report of a send not repeated: an earlier call with the same key sent it (its copy
/// in Sent at `saved_to`, when found there).
fn already_sent(
    message_id: &str,
    accepted_recipients: Vec<String>,
    saved_to: Option<StoredMessage>,
) -> SendReport {
    let sent_copy_note = saved_to.is_none().then(|| {
        "an earlier call with this idempotency_key sent it; its copy is not in Sent".to_owned()
    });
    SendReport {
        message_id: message_id.to_owned(),
        accepted_recipients,
        already_sent: true,
        saved_to,
        copy_error: None,
        sent_copy_note,
    }
}

/// The record of sends begun could not be used: nothing is sent (a retry could not be
/// told from a first attempt).
fn attempts_down(err: AttemptsUnavailable) -> SendError {
    tracing::warn!(error = %err, "the record of sends begun is unavailable");
    SendError::NotSent(MailError::Interrupted(
        "the record of sends begun (the shared store) is unavailable, so this send with an \
         idempotency_key could not be told from a retry; try again in a moment"
            .to_owned(),
    ))
}

/// The Sent folder, or an error saying there is none.
async fn sent_folder(session: &mut ImapSession) -> Result<Option<String>, MailError> {
    find_special_use(session, SpecialUse::Sent).await
}

/// The copy of a message with `message_id` in Sent, if there is one.
async fn find_in_sent(
    session: &mut ImapSession,
    message_id: &str,
) -> Result<Option<StoredMessage>, MailError> {
    let Some(folder) = sent_folder(session).await? else {
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

/// Stores the exact bytes that were sent in Sent, flagged \Seen; creates Sent (in the
/// personal namespace, e.g. `INBOX.Sent`) when the account has none.
async fn file_in_sent(
    session: &mut ImapSession,
    bytes: &[u8],
    message_id: &str,
) -> Result<StoredMessage, MailError> {
    let (folder, created) = ensure_special_use(session, SpecialUse::Sent).await?;
    let stored = append_message(session, &folder, &["\\Seen"], bytes, message_id).await?;
    Ok(with_created_note(stored, created, "Sent"))
}

/// The report of a message whose provider files the Sent copy itself: where it is, when
/// it is there already.
async fn filed_by_smtp(
    session: &mut ImapSession,
    message_id: &str,
    accepted_recipients: Vec<String>,
) -> SendReport {
    let saved_to = find_in_sent(session, message_id).await.ok().flatten();
    let sent_copy_note = saved_to.is_none().then(|| {
        "this provider's SMTP server files the copy in Sent itself, so none was stored here; \
         it may take a moment to appear"
            .to_owned()
    });
    SendReport {
        message_id: message_id.to_owned(),
        accepted_recipients,
        already_sent: false,
        saved_to,
        copy_error: None,
        sent_copy_note,
    }
}

/// The sentence that reports a sent message whose copy could not be stored.
fn copy_failed(message_id: &str, err: &MailError) -> String {
    let reason = err.to_string();
    format!(
        "the message WAS sent (Message-ID {message_id}) and reached the mail server; only \
         saving a copy in the Sent folder failed: {}. Do not send it again.",
        reason.trim_end_matches('.')
    )
}

fn check_idempotency_key(key: &str) -> Result<(), MailError> {
    if key.trim().is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(MailError::InvalidInput(format!(
            "idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY} characters; use the same key \
             when retrying the same message"
        )));
    }
    Ok(())
}

/// Who `outgoing` is from: its chosen identity, else the account's main address.
fn author(account: &MailAccount, outgoing: &Outgoing) -> Author {
    outgoing
        .sender
        .clone()
        .unwrap_or_else(|| main_author(account))
}

fn main_author(account: &MailAccount) -> Author {
    Author {
        email: account.email.clone(),
        display_name: account.display_name.clone(),
    }
}

/// The address `outgoing` is sent from (Message-IDs live in its domain).
fn sending_address<'a>(account: &'a MailAccount, outgoing: &'a Outgoing) -> &'a str {
    outgoing
        .sender
        .as_ref()
        .map_or(account.email.as_str(), |a| a.email.as_str())
}

/// The account's identities as authors (a display name falls back to the account's).
fn identity_authors(account: &MailAccount) -> Vec<Author> {
    account
        .identities
        .iter()
        .map(|i| Author {
            email: i.email.clone(),
            display_name: i.display_name.clone().or(account.display_name.clone()),
        })
        .collect()
}

/// The message bytes ending with CRLF, as recipients will store them.
fn ending_with_crlf(mut bytes: Vec<u8>) -> Vec<u8> {
    if !bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Protocol;

    /// A wait in this service's own queue that ran out means nothing reached SMTP: not
    /// sent. A timeout while the server took the message leaves it uncertain.
    #[test]
    fn a_busy_refusal_is_not_sent_a_timeout_is_uncertain() {
        let wait = std::time::Duration::from_secs(30);
        let busy = MailError::busy(Protocol::Smtp, "smtp:587", wait, "a turn to connect");
        assert!(matches!(
            SendError::of_delivery(busy, "<m@x>"),
            SendError::NotSent(MailError::Busy { .. })
        ));
        let cut = MailError::timeout(Protocol::Smtp, "smtp:587", wait, "taking the message");
        assert!(matches!(
            SendError::of_delivery(cut, "<m@x>"),
            SendError::Uncertain { .. }
        ));
    }

    #[test]
    fn messages_end_with_one_line_break() {
        assert_eq!(ending_with_crlf(b"a\r\n".to_vec()), b"a\r\n");
        assert_eq!(ending_with_crlf(b"a".to_vec()), b"a\r\n");
    }

    #[test]
    fn idempotency_keys_must_be_short_and_not_blank() {
        assert!(check_idempotency_key("order-42").is_ok());
        assert!(check_idempotency_key(" ").is_err());
        assert!(check_idempotency_key(&"k".repeat(201)).is_err());
    }

    #[test]
    fn send_errors_say_whether_anything_left() {
        let auth = SendError::NotSent(MailError::AuthFailed {
            protocol: crate::mail::Protocol::Smtp,
        });
        assert!(auth.to_string().starts_with("nothing was sent: "));
        assert!(auth.to_string().contains("reconnect"));
        let copy = copy_failed("<a@b>", &MailError::Protocol("x".into()));
        assert!(copy.contains("WAS sent") && copy.contains("Do not send it again"));
    }

    fn assert_send<T: Send>(_: &T) {}

    /// Tools run on a multi-threaded runtime: every flow's future must be `Send`.
    #[test]
    fn futures_are_send() {
        let settings = crate::mail::MailSettings::new(crate::mail::TlsSettings::public_roots());
        let outbox = Outbox::new(Imap::new(settings.clone()), Smtp::new(settings));
        let login = crate::mail::ServerLogin {
            endpoint: crate::mail::Endpoint::new("h", 993, crate::mail::Security::Tls),
            username: "u".into(),
            password: "p".into(),
        };
        let account = MailAccount {
            email: "a@example.com".into(),
            display_name: None,
            identities: Vec::new(),
            imap: login.clone(),
            smtp: login,
        };
        let parent = MessageRef {
            folder: "INBOX".into(),
            uid: 1,
            uid_validity: None,
        };
        let outgoing = Outgoing::default();
        assert_send(&outbox.send(&account, &outgoing, None));
        assert_send(&outbox.reply(&account, &parent, true, ReplyText::default(), vec![]));
        assert_send(&outbox.forward(&account, &parent, Recipients::default(), None, true));
        assert_send(&outbox.save_draft(&account, Outgoing::default(), Some(&parent)));
    }
}
