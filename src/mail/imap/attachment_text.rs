//! The text of an attachment, read over IMAP: the part is fetched alone ([`super::parts`],
//! without setting \Seen), refused before fetching when its structure announces more than
//! the read limit (MAX_ATTACHMENT_READ_BYTES) and cut off when the server sends more, then
//! turned into text by [`crate::mail::extract`] on the blocking pool within its limits.
//! [`add_text_previews`] does the same for the documents of a message just read, each
//! failure kept with its attachment.

use schemars::JsonSchema;
use serde::Serialize;

use super::parts::{confirm_part, fetch_part, parse_part_id};
use super::read::MailMessage;
use super::session::{ImapSession, SelectedFolder};
use crate::mail::error::MailError;
use crate::mail::extract::{self, Attachment, Limits, TextWindow};
use crate::mail::message::AttachmentInfo;

/// The most attachments of one message whose text [`add_text_previews`] reads.
pub const MAX_PREVIEWS: usize = 10;

/// Which attachment, and which window of its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRequest {
    pub folder: String,
    pub uid: u32,
    pub part: String,
    /// The folder's uid_validity as the caller knows it; refused when it changed.
    pub uid_validity: Option<u32>,
    /// Where the window starts, in characters.
    pub offset: usize,
    /// How many characters the window holds at most.
    pub max_chars: usize,
}

/// How much reading an attachment may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextBudget {
    /// The largest part fetched from the mailbox, in bytes (MAX_ATTACHMENT_READ_BYTES).
    pub read_limit: usize,
    /// What extraction may cost.
    pub limits: Limits,
}

/// An attachment's text (window), with what names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AttachmentText {
    /// The folder, as the server names it.
    pub folder: String,
    /// The folder's UIDVALIDITY.
    pub uid_validity: u32,
    /// The message's UID.
    pub uid: u32,
    /// The attachment's part id.
    pub part: String,
    /// The file name the sender gave, if any.
    pub filename: Option<String>,
    /// The attachment's MIME type as sent.
    pub content_type: String,
    /// Its size in bytes.
    pub size: usize,
    #[serde(flatten)]
    pub text: TextWindow,
}

/// The text window `request` asks for, of an attachment in the caller's mailbox.
pub async fn read_attachment_text(
    session: &mut ImapSession,
    request: &TextRequest,
    budget: TextBudget,
) -> Result<AttachmentText, MailError> {
    parse_part_id(&request.part)?;
    let selected = session
        .examine_checked(&request.folder, request.uid_validity)
        .await?;
    let attachment = fetch_checked(session, &selected, request.uid, &request.part, budget).await?;
    let (filename, content_type, size) = (
        attachment.filename.clone(),
        attachment.content_type.clone(),
        attachment.bytes.len(),
    );
    let extracted = extract::extract(attachment, budget.limits).await?;
    Ok(AttachmentText {
        folder: selected.name,
        uid_validity: selected.uid_validity,
        uid: request.uid,
        part: request.part.clone(),
        filename,
        content_type,
        size,
        text: extracted.window(request.offset, request.max_chars),
    })
}

/// Part `part` of message `uid` (in `folder`, open in `session`), refused before fetching
/// when its structure announces more than the read limit.
async fn fetch_checked(
    session: &mut ImapSession,
    folder: &SelectedFolder,
    uid: u32,
    part: &str,
    budget: TextBudget,
) -> Result<Attachment, MailError> {
    let announced = confirm_part(session, folder, uid, part).await?;
    let announced = usize::try_from(announced.unwrap_or(0)).unwrap_or(usize::MAX);
    if announced > budget.read_limit {
        return Err(MailError::InvalidInput(format!(
            "the attachment is about {announced} bytes by its structure, over the read limit of \
             {} bytes (MAX_ATTACHMENT_READ_BYTES); it was not fetched. Download it with \
             get_mail_attachment's link in a program that opens it, or ask the operator to \
             raise the limit",
            budget.read_limit
        )));
    }
    let fetched = fetch_part(session, folder, uid, part, budget.read_limit).await?;
    Ok(Attachment {
        bytes: fetched.bytes,
        content_type: fetched.content_type,
        filename: fetched.filename,
    })
}

/// Gives each document attached to `message` (by its type or file name; at most
/// [`MAX_PREVIEWS`]) the first `max_chars` characters of its text, or the reason it has
/// none. Images and unknown types are left as they are. The folder is opened again
/// read-only, with the message's uid_validity.
pub async fn add_text_previews(
    session: &mut ImapSession,
    message: &mut MailMessage,
    max_chars: usize,
    budget: TextBudget,
) {
    let wanted: Vec<usize> = (message.content.attachments.iter().enumerate())
        .filter(|(_, a)| is_document(a))
        .map(|(index, _)| index)
        .take(MAX_PREVIEWS)
        .collect();
    if wanted.is_empty() {
        return;
    }
    let opened = session
        .examine_checked(&message.folder, Some(message.uid_validity))
        .await;
    for index in wanted {
        let attachment = &mut message.content.attachments[index];
        let read = match &opened {
            Ok(folder) => preview(session, folder, message.uid, attachment, max_chars, budget)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match read {
            Ok(window) => attachment.text = Some(window),
            Err(reason) => attachment.text_error = Some(reason),
        }
    }
}

/// Whether `attachment`'s type or name says it is a document whose text can be read.
fn is_document(attachment: &AttachmentInfo) -> bool {
    extract::guess(&attachment.content_type, attachment.filename.as_deref())
        .is_some_and(extract::Format::is_text_bearing)
}

async fn preview(
    session: &mut ImapSession,
    folder: &SelectedFolder,
    uid: u32,
    attachment: &AttachmentInfo,
    max_chars: usize,
    budget: TextBudget,
) -> Result<TextWindow, MailError> {
    let fetched = fetch_checked(session, folder, uid, &attachment.part_id, budget).await?;
    let extracted = extract::extract(fetched, budget.limits).await?;
    Ok(extracted.window(0, max_chars))
}
