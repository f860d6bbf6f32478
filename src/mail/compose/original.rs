//! The message being replied to or forwarded, read with mail-parser into the few things
//! a reply or forward needs: addresses, subject, date, ids for threading, the text to
//! quote and the attachments to pass on. Its content is untrusted: it is quoted as
//! text and escaped in HTML, never interpreted. Pure.

use lettre::message::Mailbox;
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

use super::attachment::Attachment;
use crate::mail::error::MailError;

/// What a reply or forward takes from the original message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Original {
    /// Message-ID without angle brackets, when it has a usable one.
    pub message_id: Option<String>,
    /// References without angle brackets, oldest first.
    pub references: Vec<String>,
    pub from: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    /// The Date header as RFC 5322 text, when it parses.
    pub date: Option<String>,
    /// The text body (HTML converted to text when it has no text part).
    pub text: String,
    /// Every attachment, bytes as stored (after transfer decoding).
    pub attachments: Vec<Attachment>,
}

impl Original {
    /// Parses a whole raw message (as IMAP `BODY[]` returns it).
    pub fn parse(raw: &[u8]) -> Result<Original, MailError> {
        let message = MessageParser::default().parse(raw).ok_or_else(|| {
            MailError::InvalidInput(
                "the original message could not be parsed as an email message".into(),
            )
        })?;
        Ok(Original {
            message_id: message.message_id().and_then(clean_message_id),
            references: ids_of(message.references()),
            from: mailboxes(message.from()),
            reply_to: mailboxes(message.reply_to()),
            to: mailboxes(message.to()),
            cc: mailboxes(message.cc()),
            subject: controls_to_spaces(message.subject().unwrap_or_default()),
            date: message.date().map(|d| d.to_rfc822()),
            text: message
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            attachments: message
                .attachments()
                .enumerate()
                .map(|(i, part)| {
                    let filename = part
                        .attachment_name()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("attachment-{}", i + 1));
                    let content_type = part.content_type().map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{sub}", ct.ctype()),
                        None => ct.ctype().to_owned(),
                    });
                    Attachment::new(&filename, content_type.as_deref(), part.contents().to_vec())
                })
                .collect(),
        })
    }

    /// The first From address as text, for "On <date>, <from> wrote:".
    pub fn author(&self) -> String {
        self.from
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "an unknown sender".into())
    }
}

/// Message ids from a header value (one id or a list), cleaned.
fn ids_of(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => clean_message_id(id).into_iter().collect(),
        HeaderValue::TextList(ids) => ids.iter().filter_map(|id| clean_message_id(id)).collect(),
        _ => Vec::new(),
    }
}

/// An id without brackets, refused when it holds characters that do not belong in a
/// Message-ID (space, control, brackets): it would break the headers built from it.
pub fn clean_message_id(id: &str) -> Option<String> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let usable = !id.is_empty()
        && id.len() <= 250
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
    usable.then(|| id.to_owned())
}

/// The addresses of a header that parse as mailboxes; groups are flattened, names made
/// single-line, unusable addresses skipped.
fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|addr| {
            let email = addr.address()?.trim().parse().ok()?;
            let name = addr
                .name()
                .map(controls_to_spaces)
                .filter(|n| !n.is_empty());
            Some(Mailbox::new(name, email))
        })
        .collect()
}

/// `text` with every run of control characters (line breaks included) made one space.
pub fn controls_to_spaces(text: &str) -> String {
    text.split(char::is_control)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &[u8] = b"From: \"Bob B.\" <bob@example.com>\r\n\
Reply-To: lists@example.com\r\n\
To: alice@example.com, Carol <carol@example.com>\r\n\
Cc: dave@example.com\r\n\
Subject: =?utf-8?q?Caf=C3=A9?= plans\r\n\
Date: Tue, 1 Jul 2025 10:00:00 +0000\r\n\
Message-ID: <p1@example.com>\r\n\
References: <r0@example.com> <r1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Line one\r\nLine two\r\n\
--b\r\n\
Content-Type: application/pdf; name=plan.pdf\r\n\
Content-Disposition: attachment; filename=plan.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAw==\r\n\
--b--\r\n";

    #[test]
    fn a_parent_yields_what_replies_and_forwards_need() {
        let original = Original::parse(PARENT).unwrap();
        assert_eq!(original.message_id.as_deref(), Some("p1@example.com"));
        assert_eq!(original.references, ["r0@example.com", "r1@example.com"]);
        assert_eq!(original.author(), "\"Bob B.\" <bob@example.com>");
        assert_eq!(original.reply_to[0].email.to_string(), "lists@example.com");
        assert_eq!(original.to.len(), 2);
        assert_eq!(original.cc[0].email.to_string(), "dave@example.com");
        assert_eq!(original.subject, "Café plans");
        assert_eq!(
            original.date.as_deref(),
            Some("Tue, 1 Jul 2025 10:00:00 +0000")
        );
        assert_eq!(original.text.trim_end(), "Line one\r\nLine two");
        let pdf = &original.attachments[0];
        assert_eq!(
            (pdf.filename(), pdf.bytes()),
            ("plan.pdf", &[0u8, 1, 2, 3][..])
        );
    }

    #[test]
    fn message_ids_with_unsafe_characters_are_dropped() {
        let cases = [
            ("<a@b>", Some("a@b")),
            ("a@b", Some("a@b")),
            ("<a b@c>", None),
            ("<a@b>\r\nBcc: x", None),
            ("<>", None),
            ("<a\"@b>", None),
        ];
        for (given, want) in cases {
            assert_eq!(clean_message_id(given).as_deref(), want, "{given:?}");
        }
    }

    #[test]
    fn a_message_without_headers_still_parses() {
        let original = Original::parse(b"\r\njust a body\r\n").unwrap();
        assert!(original.from.is_empty());
        assert_eq!(original.author(), "an unknown sender");
    }
}
