//! [`Outgoing`], a message as typed fields, and [`build`], which turns it into a lettre
//! `Message`: From with the account's display name, a Message-ID in the sender's domain,
//! Date, threading headers, text and HTML as multipart/alternative, attachments in
//! multipart/mixed. Bcc is kept only in drafts. Message-IDs derived from an idempotency
//! key live here too. Pure.

use lettre::Message;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::{Attachment as LettreAttachment, Body, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use super::address::check_header_value;
use super::attachment::{Attachment, check_total_size};
use super::reply::html_to_text;
use crate::mail::error::MailError;

/// A message to send or save, as typed fields.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub subject: String,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub attachments: Vec<Attachment>,
    /// `<id>` of the message this one answers.
    pub in_reply_to: Option<String>,
    /// `<id>`s of the thread, oldest first.
    pub references: Vec<String>,
    /// Who the message is from when not the account's main address: one of its confirmed
    /// identities (the caller's `from`, or the one a reply's original was addressed to).
    pub sender: Option<Author>,
}

impl Outgoing {
    /// Every recipient address (To, Cc, Bcc), as the SMTP envelope lists them.
    pub fn recipient_addresses(&self) -> Vec<String> {
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .map(|m| m.email.to_string())
            .collect()
    }

    /// Refuses what cannot be sent: no recipient, a subject with a line break, more than
    /// `attachment_limit` attachment bytes.
    pub fn check_sendable(&self, attachment_limit: usize) -> Result<(), MailError> {
        if self.to.is_empty() && self.cc.is_empty() && self.bcc.is_empty() {
            return Err(MailError::InvalidInput(
                "the message has no recipient: give at least one address in to, cc or bcc".into(),
            ));
        }
        self.check_savable(attachment_limit)
    }

    /// Refuses what cannot be stored even as a draft: a subject with a line break, more
    /// than `attachment_limit` attachment bytes.
    pub fn check_savable(&self, attachment_limit: usize) -> Result<(), MailError> {
        check_header_value("subject", &self.subject)?;
        check_total_size(&self.attachments, attachment_limit)
    }
}

/// Who the message is from: the account, or one of its identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    pub email: String,
    pub display_name: Option<String>,
}

/// What the built message is for: a delivered message never shows Bcc; a draft keeps it
/// so the person sees whom they meant to copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Delivery,
    Draft,
}

/// A new `<uuid@domain>` Message-ID in the domain of `email`.
pub fn new_message_id(email: &str) -> String {
    format!("<{}@{}>", uuid::Uuid::new_v4().simple(), domain_of(email))
}

/// The Message-ID of a send with `idempotency_key` from `email`: the same key from the
/// same account always gives the same id, so a retried send can be recognised.
pub fn idempotent_message_id(idempotency_key: &str, email: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(email.to_ascii_lowercase().as_bytes());
    hash.update([0]);
    hash.update(idempotency_key.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("<idem.{hex}@{}>", domain_of(email))
}

/// The domain of `email` in lower case; `localhost` if it has none usable.
fn domain_of(email: &str) -> String {
    email
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_graphic() && c != '>'))
        .unwrap_or_else(|| "localhost".into())
}

/// Builds the lettre message. Validates the subject (a line break would forge headers);
/// the recipients are already `Mailbox`es, hence valid. The attachments' total size is the
/// caller's to check ([`Outgoing::check_savable`]), against the server's limit.
pub fn build(
    author: &Author,
    outgoing: &Outgoing,
    message_id: &str,
    purpose: Purpose,
) -> Result<Message, MailError> {
    check_header_value("subject", &outgoing.subject)?;
    let mut builder = Message::builder()
        .from(author_mailbox(author)?)
        .subject(outgoing.subject.clone())
        .message_id(Some(message_id.to_owned()));
    for mailbox in &outgoing.to {
        builder = builder.to(mailbox.clone());
    }
    for mailbox in &outgoing.cc {
        builder = builder.cc(mailbox.clone());
    }
    for mailbox in &outgoing.bcc {
        builder = builder.bcc(mailbox.clone());
    }
    if let Some(id) = &outgoing.in_reply_to {
        builder = builder.in_reply_to(id.clone());
    }
    if !outgoing.references.is_empty() {
        builder = builder.references(outgoing.references.join(" "));
    }
    if purpose == Purpose::Draft {
        builder = builder.keep_bcc();
    }
    if outgoing.to.is_empty() && outgoing.cc.is_empty() && outgoing.bcc.is_empty() {
        // A draft may have no recipient yet; lettre wants an envelope anyway.
        let from = author_mailbox(author)?.email;
        let envelope = lettre::address::Envelope::new(Some(from.clone()), vec![from])
            .map_err(|e| MailError::InvalidInput(format!("cannot address the draft: {e}")))?;
        builder = builder.envelope(envelope);
    }
    let built = match attach(body(outgoing)?, &outgoing.attachments) {
        Content::Single(part) => builder.singlepart(part),
        Content::Multi(part) => builder.multipart(part),
    };
    built.map_err(|e| MailError::InvalidInput(format!("the message cannot be built: {e}")))
}

/// The From mailbox: the account's address with its display name (made single-line).
fn author_mailbox(author: &Author) -> Result<Mailbox, MailError> {
    let address = author.email.parse().map_err(|_| {
        MailError::InvalidInput(format!(
            "the account's address \"{}\" is not a valid email address; reconnect with a valid one",
            author.email
        ))
    })?;
    let name = author
        .display_name
        .as_deref()
        .map(super::original::controls_to_spaces)
        .filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, address))
}

/// A MIME body: one part, or several.
enum Content {
    Single(SinglePart),
    Multi(MultiPart),
}

/// Text alone as text/plain; HTML (with the given text, or text made from the HTML) as
/// multipart/alternative.
fn body(outgoing: &Outgoing) -> Result<Content, MailError> {
    let text = outgoing.text_body.as_deref().map(str::to_owned);
    Ok(match (text, outgoing.html_body.as_deref()) {
        (text, Some(html)) => {
            let text = text.unwrap_or_else(|| html_to_text(html));
            Content::Multi(MultiPart::alternative_plain_html(text, html.to_owned()))
        }
        (text, None) => Content::Single(SinglePart::plain(text.unwrap_or_default())),
    })
}

/// The body alone, or multipart/mixed of the body and the attachments (always base64, so
/// the bytes arrive exactly as given).
fn attach(body: Content, attachments: &[Attachment]) -> Content {
    if attachments.is_empty() {
        return body;
    }
    let mixed = match body {
        Content::Single(part) => MultiPart::mixed().singlepart(part),
        Content::Multi(part) => MultiPart::mixed().multipart(part),
    };
    Content::Multi(attachments.iter().fold(mixed, |mixed, attachment| {
        mixed.singlepart(attachment_part(attachment))
    }))
}

fn attachment_part(attachment: &Attachment) -> SinglePart {
    let body =
        Body::new_with_encoding(attachment.bytes().to_vec(), ContentTransferEncoding::Base64)
            .unwrap_or_else(Body::new);
    LettreAttachment::new(attachment.filename().to_owned())
        .body(body, attachment.content_type_header())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders};

    fn author() -> Author {
        Author {
            email: "alice@example.com".into(),
            display_name: Some("Alice A.".into()),
        }
    }

    fn mailbox(text: &str) -> Mailbox {
        text.parse().unwrap()
    }

    fn outgoing() -> Outgoing {
        Outgoing {
            to: vec![mailbox("Bob <bob@example.com>")],
            cc: vec![mailbox("carol@example.com")],
            bcc: vec![mailbox("dave@example.com")],
            subject: "Hello".into(),
            text_body: Some("Hi Bob".into()),
            ..Outgoing::default()
        }
    }

    fn formatted(outgoing: &Outgoing, purpose: Purpose) -> String {
        let message = build(&author(), outgoing, "<id1@example.com>", purpose).unwrap();
        String::from_utf8(message.formatted()).unwrap()
    }

    #[test]
    fn headers_carry_from_ids_and_recipients_but_never_bcc() {
        let text = formatted(&outgoing(), Purpose::Delivery);
        let parsed = MessageParser::default().parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.message_id(), Some("id1@example.com"));
        assert_eq!(parsed.subject(), Some("Hello"));
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!(
            (from.name(), from.address()),
            (Some("Alice A."), Some("alice@example.com"))
        );
        assert!(parsed.date().is_some());
        assert!(!text.to_ascii_lowercase().contains("bcc"), "{text}");
        assert!(!text.contains("dave@"), "{text}");
        let message = build(
            &author(),
            &outgoing(),
            "<id1@example.com>",
            Purpose::Delivery,
        );
        let envelope: Vec<String> = message
            .unwrap()
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            envelope,
            ["bob@example.com", "carol@example.com", "dave@example.com"]
        );
    }

    #[test]
    fn drafts_keep_bcc() {
        let text = formatted(&outgoing(), Purpose::Draft);
        assert!(text.contains("Bcc: dave@example.com"), "{text}");
    }

    #[test]
    fn a_draft_may_have_no_recipient_yet() {
        let draft = Outgoing {
            subject: "Later".into(),
            ..Outgoing::default()
        };
        assert!(build(&author(), &draft, "<d@example.com>", Purpose::Draft).is_ok());
        assert!(draft.check_sendable(1024).is_err());
    }

    #[test]
    fn bodies_take_the_right_mime_shape() {
        let with = |text: Option<&str>, html: Option<&str>, files: usize| Outgoing {
            text_body: text.map(str::to_owned),
            html_body: html.map(str::to_owned),
            attachments: (0..files)
                .map(|i| Attachment::new(&format!("f{i}.bin"), None, vec![0, 255, 10, 13]))
                .collect(),
            ..outgoing()
        };
        let cases = [
            (with(Some("t"), None, 0), "text/plain", false),
            (with(None, None, 0), "text/plain", false),
            (
                with(Some("t"), Some("<p>h</p>"), 0),
                "multipart/alternative",
                true,
            ),
            (
                with(None, Some("<p>made</p>"), 0),
                "multipart/alternative",
                true,
            ),
            (
                with(Some("t"), Some("<p>h</p>"), 2),
                "multipart/mixed",
                true,
            ),
            (with(Some("t"), None, 1), "multipart/mixed", false),
        ];
        for (outgoing, root, has_html) in cases {
            let raw = formatted(&outgoing, Purpose::Delivery);
            let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
            let ct = parsed.content_type().unwrap();
            let shape = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default());
            assert_eq!(shape, root, "{raw}");
            assert_eq!(raw.contains("Content-Type: text/html"), has_html, "{raw}");
            assert_eq!(parsed.attachment_count(), outgoing.attachments.len());
            for attachment in parsed.attachments() {
                assert_eq!(attachment.contents(), [0, 255, 10, 13]);
            }
        }
        let made = formatted(&with(None, Some("<p>made</p>"), 0), Purpose::Delivery);
        let parsed = MessageParser::default().parse(made.as_bytes()).unwrap();
        assert_eq!(parsed.body_text(0).unwrap().trim(), "made");
    }

    #[test]
    fn threading_headers_are_written_with_brackets() {
        let reply = Outgoing {
            in_reply_to: Some("<p1@example.com>".into()),
            references: vec!["<r0@example.com>".into(), "<p1@example.com>".into()],
            ..outgoing()
        };
        let text = formatted(&reply, Purpose::Delivery);
        assert!(text.contains("In-Reply-To: <p1@example.com>\r\n"), "{text}");
        assert!(
            text.contains("References: <r0@example.com> <p1@example.com>\r\n"),
            "{text}"
        );
    }

    #[test]
    fn the_attachment_limit_is_the_callers() {
        let with_file = Outgoing {
            attachments: vec![Attachment::new("a.bin", None, vec![0; 2048])],
            ..outgoing()
        };
        assert!(with_file.check_sendable(2048).is_ok());
        let err = with_file.check_sendable(2047).unwrap_err().to_string();
        assert!(err.contains("a.bin 2 KB"), "{err}");
        assert!(with_file.check_savable(2047).is_err());
    }

    #[test]
    fn a_subject_with_a_line_break_is_refused() {
        let bad = Outgoing {
            subject: "Hi\r\nBcc: eve@example.com".into(),
            ..outgoing()
        };
        let err = build(&author(), &bad, "<x@example.com>", Purpose::Delivery).unwrap_err();
        assert!(err.to_string().contains("line break"), "{err}");
    }

    #[test]
    fn message_ids_live_in_the_senders_domain() {
        let id = new_message_id("Alice@Example.COM");
        assert!(id.starts_with('<') && id.ends_with("@example.com>"), "{id}");
        assert_ne!(id, new_message_id("alice@example.com"));
        let a = idempotent_message_id("key-1", "alice@example.com");
        assert_eq!(a, idempotent_message_id("key-1", "ALICE@example.com"));
        assert_ne!(a, idempotent_message_id("key-2", "alice@example.com"));
        assert_ne!(a, idempotent_message_id("key-1", "bob@example.com"));
        assert!(
            a.starts_with("<idem.") && a.ends_with("@example.com>"),
            "{a}"
        );
        assert_eq!(a.len(), "<idem.@example.com>".len() + 32);
    }
}
