//! The argument fields the writing tools share, each defined (and described to the model)
//! once and `#[serde(flatten)]`ed into the tools' parameter structs: the message a call is
//! about, the copy recipients, the body and the attachments. Fields whose required-ness
//! differs between tools (`to`, `subject`) stay in each tool's own struct.

use rmcp::schemars;
use serde::Deserialize;

use super::attachments::AttachmentParam;
use crate::mail::MailAccount;
use crate::mail::compose::{AddressList, Author};
use crate::mail::outbox::MessageRef;

/// A message in the mailbox that a reply, a forward or a reply draft is about.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct MessageAt {
    /// The folder holding the message, e.g. "INBOX".
    pub folder: String,
    /// The message's UID in that folder.
    pub uid: u32,
    /// The folder's uid_validity as last reported; when given and the folder changed since,
    /// the call is refused instead of acting on another message.
    #[serde(default)]
    pub uid_validity: Option<u32>,
}

impl From<MessageAt> for MessageRef {
    fn from(message: MessageAt) -> MessageRef {
        MessageRef {
            folder: message.folder,
            uid: message.uid,
            uid_validity: message.uid_validity,
        }
    }
}

/// Copy and blind-copy recipients.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CopyRecipients {
    /// Copy recipients, in the same forms as `to`.
    #[serde(default)]
    pub cc: AddressList,
    /// Blind-copy recipients, in the same forms as `to`: they receive the message but no
    /// header of the sent message shows them (a draft keeps them, so they are not forgotten).
    #[serde(default)]
    pub bcc: AddressList,
}

/// The body of a new message or draft.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct MessageBody {
    /// The plain-text body.
    #[serde(default)]
    pub text_body: Option<String>,
    /// An HTML body; it goes with the text body as multipart/alternative (a text version is
    /// made from the HTML when no text_body is given).
    #[serde(default)]
    pub html_body: Option<String>,
}

/// Files attached to an outgoing message or draft.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AttachedFiles {
    /// Files to attach (25 MB in all unless the server says otherwise), each as a URL from
    /// get_mail_message/get_mail_attachment, as {folder, uid, part} of a message in this
    /// mailbox, or inline as {filename, content_type, content_base64}.
    #[serde(default)]
    pub attachments: Vec<AttachmentParam>,
}

/// The address a message goes out from.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct SendingAs {
    /// Send from this address ("addr@example.com" or "Name <addr@example.com>"): the
    /// account's own address or one of the addresses confirmed at sign-in under "Also send
    /// as" (any other is refused and nothing is sent). Default: the account's address; for
    /// a reply, the address the original was sent to when it is one of those.
    #[serde(default)]
    pub from: Option<String>,
}

impl SendingAs {
    /// The author a `from` names, with its confirmed display name; `None` when no `from`
    /// was given. An address the account may not send from is an error listing the allowed.
    pub fn sender(&self, account: &MailAccount) -> Result<Option<Author>, String> {
        let Some(from) = self.from.as_deref().filter(|f| !f.trim().is_empty()) else {
            return Ok(None);
        };
        let chosen = account.sending_as(Some(from))?;
        Ok(Some(Author {
            email: chosen.email,
            display_name: chosen.display_name,
        }))
    }
}
