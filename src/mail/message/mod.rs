//! Reading a message: raw RFC 5322 bytes in, a [`MessageContent`] out (decoded headers,
//! the readable text and a window of it, the HTML on request, attachments described with
//! their IMAP part ids). Pure: no I/O; callers parse large messages on a blocking thread.
//! The content is untrusted data written by third parties.

pub mod address;
pub mod auth;
pub mod body;
pub mod headers;
pub mod hidden;
pub mod parts;
pub mod quoted;

use mail_parser::MessageParser;
use schemars::JsonSchema;
use serde::Serialize;

pub use address::Address;
pub use auth::{Authentication, Verdict};
pub use body::{BodySource, BodyWindow};
pub use headers::HeaderFields;
pub use parts::AttachmentInfo;

use crate::mail::error::MailError;

/// The most characters one body window may hold.
pub const MAX_WINDOW_CHARS: usize = 200_000;

/// Which part of a message's text to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Where the body window starts, in characters.
    pub offset: usize,
    /// How many characters the window holds at most.
    pub max_chars: usize,
    /// Also return the HTML (windowed the same way).
    pub include_html: bool,
    /// Keep quoted history and the signature in the body (folded away otherwise).
    pub include_quoted: bool,
}

impl ReadOptions {
    /// A window of at most `max_chars` (1 to [`MAX_WINDOW_CHARS`]) characters from `offset`.
    pub fn new(offset: usize, max_chars: usize, include_html: bool) -> Result<Self, MailError> {
        if max_chars == 0 || max_chars > MAX_WINDOW_CHARS {
            return Err(MailError::InvalidInput(format!(
                "max_chars must be between 1 and {MAX_WINDOW_CHARS}, not {max_chars}"
            )));
        }
        Ok(ReadOptions {
            offset,
            max_chars,
            include_html,
            include_quoted: false,
        })
    }

    /// The same window, keeping quoted history and signatures in the body when `include`.
    pub fn including_quoted(self, include: bool) -> Self {
        ReadOptions {
            include_quoted: include,
            ..self
        }
    }
}

/// What a reader sees of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MessageContent {
    #[serde(flatten)]
    pub headers: HeaderFields,
    /// The text body (window): the text/plain parts, or the HTML converted to Markdown;
    /// quoted history and the signature folded into marker lines unless include_quoted.
    pub body: BodyWindow,
    /// How many lines of quoted history and signature the body leaves out (0: none, or
    /// include_quoted was asked); ask again with include_quoted: true to read them.
    pub folded_lines: usize,
    /// Where the body text came from: "text", "html" (converted) or "none".
    pub body_source: BodySource,
    /// The HTML body (window), only when asked for and present.
    pub html: Option<BodyWindow>,
    /// Attachments and inline parts, with IMAP part ids.
    pub attachments: Vec<AttachmentInfo>,
    /// The receiving server's SPF, DKIM and DMARC verdicts, from the topmost
    /// Authentication-Results header (the only one trusted); absent when the message has
    /// none (nothing about its sender was verified).
    pub authentication: Option<Authentication>,
}

/// Parses `raw` and returns what `options` asks for.
pub fn read_message(raw: &[u8], options: &ReadOptions) -> Result<MessageContent, MailError> {
    let message = MessageParser::default().parse(raw).ok_or_else(|| {
        MailError::Protocol("the message could not be parsed as MIME (it is empty)".into())
    })?;
    let (mut text, body_source) = body::readable_text(&message);
    let mut folded_lines = 0;
    if !options.include_quoted {
        let folded = quoted::fold_quoted(&text);
        (text, folded_lines) = (folded.text, folded.folded_lines);
    }
    let html = options
        .include_html
        .then(|| body::html(&message))
        .flatten()
        .map(|html| BodyWindow::of(&html, options.offset, options.max_chars));
    let headers = HeaderFields::of(&message);
    let from_domain = headers
        .from
        .first()
        .and_then(|a| a.email.rsplit_once('@'))
        .map(|(_, domain)| domain.to_owned());
    let authentication = Authentication::of(
        message
            .headers_raw()
            .filter(|(name, _)| name.eq_ignore_ascii_case(auth::HEADER))
            .map(|(_, value)| value),
        from_domain.as_deref(),
    );
    Ok(MessageContent {
        headers,
        body: BodyWindow::of(&text, options.offset, options.max_chars),
        folded_lines,
        body_source,
        html,
        attachments: parts::attachments(&message),
        authentication,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: ReadOptions = ReadOptions {
        offset: 0,
        max_chars: 20_000,
        include_html: false,
        include_quoted: false,
    };

    #[test]
    fn a_message_reads_with_headers_body_and_window() {
        let raw = b"From: Ann <ann@x.com>\r\nTo: bob@y.com\r\nSubject: Hi\r\n\
Message-ID: <1@x.com>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n0123456789";
        let content = read_message(
            raw,
            &ReadOptions {
                offset: 2,
                max_chars: 5,
                include_html: true,
                include_quoted: false,
            },
        )
        .unwrap();
        assert_eq!(content.headers.subject.as_deref(), Some("Hi"));
        assert_eq!(content.headers.from[0].email, "ann@x.com");
        assert_eq!(content.body.text, "23456");
        assert!(content.body.truncated);
        assert_eq!(content.body.total_chars, 10);
        assert_eq!(content.body_source, BodySource::Text);
        assert_eq!(content.html, None, "a text-only message has no HTML");
        assert!(content.attachments.is_empty());
    }

    #[test]
    fn html_comes_only_on_request() {
        let raw = b"Content-Type: text/html\r\n\r\n<p>Hi <b>there</b></p>";
        let plain = read_message(raw, &OPTIONS).unwrap();
        assert_eq!(plain.body_source, BodySource::Html);
        assert_eq!(plain.body.text.trim(), "Hi **there**");
        assert_eq!(plain.html, None);
        let with_html = read_message(
            raw,
            &ReadOptions {
                include_html: true,
                ..OPTIONS
            },
        )
        .unwrap();
        assert_eq!(with_html.html.unwrap().text, "<p>Hi <b>there</b></p>");
    }

    #[test]
    fn quoted_history_is_folded_unless_asked_for() {
        let raw =
            b"Subject: Re: plan\r\n\r\nYes, Tuesday.\r\n\r\nOn Mon, Bob wrote:\r\n> Tuesday?\r\n";
        let folded = read_message(raw, &OPTIONS).unwrap();
        assert!(folded.body.text.starts_with("Yes, Tuesday.\n"));
        assert!(!folded.body.text.contains("Tuesday?"));
        assert_eq!(folded.folded_lines, 2);
        let whole = read_message(raw, &OPTIONS.including_quoted(true)).unwrap();
        assert!(whole.body.text.contains("> Tuesday?"));
        assert_eq!(whole.folded_lines, 0);
    }

    #[test]
    fn a_gmail_html_reply_folds_its_quote_block() {
        let raw = "Subject: Re: plan\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<div dir=\"ltr\">Tuesday it is.</div><br><div class=\"gmail_quote\"><div dir=\"ltr\" \
class=\"gmail_attr\">On Mon, 2 Mar 2026 at 09:00, Bob Example &lt;<a href=\"mailto:bob@example.com\">\
bob@example.com</a>&gt; wrote:<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px \
0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\"><div dir=\"ltr\">Shall we say \
Tuesday?<br>Bob</div></blockquote></div>";
        let folded = read_message(raw.as_bytes(), &OPTIONS).unwrap();
        let text = &folded.body.text;
        assert!(text.starts_with("Tuesday it is."), "{text}");
        assert!(!text.contains("Shall we say"), "{text}");
        assert!(folded.folded_lines >= 3, "{text}");
        let whole = read_message(raw.as_bytes(), &OPTIONS.including_quoted(true)).unwrap();
        assert!(
            whole.body.text.contains("> Shall we say Tuesday?"),
            "{}",
            whole.body.text
        );
    }

    #[test]
    fn windows_have_limits() {
        assert!(ReadOptions::new(0, 0, false).is_err());
        assert!(ReadOptions::new(0, MAX_WINDOW_CHARS + 1, false).is_err());
        assert!(ReadOptions::new(7, MAX_WINDOW_CHARS, true).is_ok());
    }

    #[test]
    fn garbage_does_not_panic() {
        for raw in [
            &b""[..],
            b"\0\0\0",
            b"Content-Type: multipart/mixed\r\n\r\n--",
            b"\xff\xfe",
        ] {
            let _ = read_message(raw, &OPTIONS);
        }
    }
}
