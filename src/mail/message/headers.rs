//! The headers a mail client shows, decoded from a parsed message or from a bare header
//! block (as `BODY.PEEK[HEADER.FIELDS (...)]` returns it): addresses, subject (RFC 2047
//! decoded), date as RFC 3339, and the ids that link a conversation, written with their
//! angle brackets as they appear in mail.

use chrono::{DateTime, FixedOffset};
use mail_parser::{HeaderValue, Message, MessageParser};
use schemars::JsonSchema;
use serde::Serialize;

use super::address::{Address, addresses};

/// The header fields a summary fetch asks for, in IMAP's spelling.
pub const SUMMARY_FIELDS: &str = "DATE FROM TO CC SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES";

/// The identifying and addressing headers of a message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HeaderFields {
    /// Message-ID, with angle brackets.
    pub message_id: Option<String>,
    /// The Message-IDs this message replies to (In-Reply-To), with angle brackets.
    pub in_reply_to: Vec<String>,
    /// The Message-IDs of the conversation so far (References), oldest first.
    pub references: Vec<String>,
    /// Author(s).
    pub from: Vec<Address>,
    /// The mailbox that actually sent it, when it differs from From.
    pub sender: Option<Address>,
    /// Where replies should go, when it differs from From.
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// The Date header in RFC 3339, when it is present and valid.
    pub date: Option<String>,
    /// The subject, decoded.
    pub subject: Option<String>,
}

impl HeaderFields {
    /// The fields of a parsed message's top-level header.
    pub fn of(message: &Message<'_>) -> Self {
        HeaderFields {
            message_id: message.message_id().map(bracketed),
            in_reply_to: ids(message.in_reply_to()),
            references: ids(message.references()),
            from: addresses(message.from()),
            sender: addresses(message.sender()).into_iter().next(),
            reply_to: addresses(message.reply_to()),
            to: addresses(message.to()),
            cc: addresses(message.cc()),
            date: message.date().and_then(rfc3339),
            subject: message.subject().map(str::to_owned),
        }
    }

    /// The fields of a header block (`Name: value` lines ending with an empty line).
    pub fn parse_block(raw: &[u8]) -> Self {
        MessageParser::default()
            .parse_headers(raw)
            .map(|message| HeaderFields::of(&message))
            .unwrap_or_default()
    }

    /// Every id that links this message to others: its own, In-Reply-To, References.
    pub fn linked_ids(&self) -> impl Iterator<Item = &String> {
        self.message_id
            .iter()
            .chain(&self.in_reply_to)
            .chain(&self.references)
    }
}

/// `id` with angle brackets.
pub fn bracketed(id: &str) -> String {
    let bare = id.trim().trim_start_matches('<').trim_end_matches('>');
    format!("<{bare}>")
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![bracketed(id)],
        HeaderValue::TextList(list) => list.iter().map(|id| bracketed(id)).collect(),
        _ => Vec::new(),
    }
}

/// A valid mail date as RFC 3339 with its original offset.
pub fn rfc3339(date: &mail_parser::DateTime) -> Option<String> {
    parse_mail_date(date).map(|d| d.to_rfc3339())
}

fn parse_mail_date(date: &mail_parser::DateTime) -> Option<DateTime<FixedOffset>> {
    if !date.is_valid() {
        return None;
    }
    let offset_secs = i32::from(date.tz_hour) * 3600 + i32::from(date.tz_minute) * 60;
    let offset = match date.tz_before_gmt {
        true => FixedOffset::west_opt(offset_secs)?,
        false => FixedOffset::east_opt(offset_secs)?,
    };
    let local = chrono::NaiveDate::from_ymd_opt(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )?
    .and_hms_opt(
        u32::from(date.hour),
        u32::from(date.minute),
        u32::from(date.second),
    )?;
    local.and_local_timezone(offset).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_block_is_decoded() {
        let raw = b"Subject: =?UTF-8?B?R3LDvMOfZQ==?= aus Z\xc3\xbcrich\r\n\
From: =?ISO-8859-1?Q?Andr=E9?= <andre@x.fr>\r\n\
To: a@x.com, B <b@x.com>\r\n\
Cc: c@x.com\r\n\
Date: Tue, 5 Mar 2024 14:03:09 -0500\r\n\
Message-ID: <m1@x.fr>\r\n\
In-Reply-To: <m0@x.fr>\r\n\
References: <r1@x.fr> <m0@x.fr>\r\n\r\n";
        let fields = HeaderFields::parse_block(raw);
        assert_eq!(fields.subject.as_deref(), Some("Grüße aus Zürich"));
        assert_eq!(fields.from[0].name.as_deref(), Some("André"));
        assert_eq!(fields.to.len(), 2);
        assert_eq!(fields.cc[0].email, "c@x.com");
        assert_eq!(fields.date.as_deref(), Some("2024-03-05T14:03:09-05:00"));
        assert_eq!(fields.message_id.as_deref(), Some("<m1@x.fr>"));
        assert_eq!(fields.in_reply_to, ["<m0@x.fr>"]);
        assert_eq!(fields.references, ["<r1@x.fr>", "<m0@x.fr>"]);
        let linked: Vec<_> = fields.linked_ids().cloned().collect();
        assert_eq!(linked, ["<m1@x.fr>", "<m0@x.fr>", "<r1@x.fr>", "<m0@x.fr>"]);
    }

    #[test]
    fn dates_are_rfc3339_or_absent() {
        let cases = [
            (
                "Date: Mon, 1 Jan 2024 10:00:00 +0000",
                Some("2024-01-01T10:00:00+00:00"),
            ),
            (
                "Date: 1 Jan 2024 10:00:00 +0530",
                Some("2024-01-01T10:00:00+05:30"),
            ),
            ("Date: Fri, 30 Feb 2024 10:00:00 +0000", None),
            ("Date: yesterday", None),
            ("X-Other: 1", None),
        ];
        for (line, want) in cases {
            let fields = HeaderFields::parse_block(format!("{line}\r\n\r\n").as_bytes());
            assert_eq!(fields.date.as_deref(), want, "{line}");
        }
    }

    #[test]
    fn missing_headers_are_empty() {
        let fields = HeaderFields::parse_block(b"\r\n");
        assert_eq!(fields, HeaderFields::default());
        assert_eq!(bracketed("a@b"), "<a@b>");
        assert_eq!(bracketed(" <a@b> "), "<a@b>");
    }
}
