//! Attachments of a parsed message and their IMAP part ids. The part id is the section
//! number IMAP gives the part in its MIME tree (RFC 3501 §6.4.5): the children of a
//! multipart are numbered from 1, nested multiparts add a level ("1.2"), and a message
//! that is not multipart has its body as part "1". `BODY.PEEK[<part id>]` fetches that
//! part alone.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use schemars::JsonSchema;
use serde::Serialize;

use crate::mail::extract::TextWindow;

/// One attachment (or inline part such as an embedded image) of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AttachmentInfo {
    /// The IMAP part id (section number), e.g. "2" or "1.2"; names this part to other tools.
    pub part_id: String,
    /// The file name the sender gave, decoded, if any.
    pub filename: Option<String>,
    /// MIME type, e.g. "application/pdf".
    pub content_type: String,
    /// Size in bytes once decoded.
    pub size: usize,
    /// Content-Disposition as sent: "attachment", "inline", or absent.
    pub disposition: Option<String>,
    /// True for parts meant to be shown inside the message (disposition inline, or a
    /// Content-ID without disposition, as embedded images have).
    pub inline: bool,
    /// The Content-ID an HTML body refers to with `cid:`, without angle brackets.
    pub content_id: Option<String>,
    /// A URL that downloads this attachment (signed, expiring); absent when URLs were not
    /// asked for or could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When `url` stops working (RFC 3339); ask again for a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_expires_at: Option<String>,
    /// Why no URL could be made for this attachment (the rest of the message is fine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_error: Option<String>,
    /// The first window of the attachment's text, when attachment_text was asked for and
    /// it is a document (read_mail_attachment pages through the rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<TextWindow>,
    /// Why the attachment's text could not be read (the rest of the message is fine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_error: Option<String>,
}

/// The attachments of `message`, in the order they appear.
pub fn attachments(message: &Message<'_>) -> Vec<AttachmentInfo> {
    let ids = imap_part_ids(message);
    message
        .attachments
        .iter()
        .filter_map(|&index| {
            let part = message.parts.get(index as usize)?;
            let part_id = ids.get(index as usize)?.clone()?;
            Some(describe(part, part_id))
        })
        .collect()
}

/// For each entry of `message.parts`, its IMAP part id (`None` for multipart containers
/// other than nested ones, which IMAP also numbers but no tool needs).
pub fn imap_part_ids(message: &Message<'_>) -> Vec<Option<String>> {
    let mut ids = vec![None; message.parts.len()];
    let mut pending = vec![(0u32, String::new())];
    while let Some((index, path)) = pending.pop() {
        let Some(part) = message.parts.get(index as usize) else {
            continue;
        };
        match &part.body {
            PartType::Multipart(children) => {
                for (n, child) in children.iter().enumerate().rev() {
                    pending.push((*child, child_path(&path, n + 1)));
                }
                if !path.is_empty() {
                    ids[index as usize] = Some(path);
                }
            }
            _ => ids[index as usize] = Some(if path.is_empty() { "1".into() } else { path }),
        }
    }
    ids
}

fn child_path(parent: &str, n: usize) -> String {
    match parent.is_empty() {
        true => n.to_string(),
        false => format!("{parent}.{n}"),
    }
}

fn describe(part: &MessagePart<'_>, part_id: String) -> AttachmentInfo {
    let disposition = part
        .content_disposition()
        .map(|d| d.ctype().to_ascii_lowercase());
    let content_id = part
        .content_id()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
        .filter(|id| !id.is_empty());
    let inline = match disposition.as_deref() {
        Some(d) => d == "inline",
        None => content_id.is_some(),
    };
    AttachmentInfo {
        part_id,
        filename: filename(part),
        content_type: content_type(part),
        size: part.len(),
        disposition,
        inline,
        content_id,
        url: None,
        url_expires_at: None,
        url_error: None,
        text: None,
        text_error: None,
    }
}

fn filename(part: &MessagePart<'_>) -> Option<String> {
    let named = part
        .attachment_name()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    named.map(str::to_owned).or_else(|| {
        part.message()
            .and_then(Message::subject)
            .map(|subject| format!("{subject}.eml"))
    })
}

fn content_type(part: &MessagePart<'_>) -> String {
    if let Some(ct) = part.content_type() {
        let subtype = ct.subtype().unwrap_or("octet-stream");
        return format!("{}/{}", ct.ctype(), subtype).to_ascii_lowercase();
    }
    match part.body {
        PartType::Text(_) => "text/plain".into(),
        PartType::Html(_) => "text/html".into(),
        PartType::Message(_) => "message/rfc822".into(),
        _ => "application/octet-stream".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    /// multipart/mixed
    ///   1   multipart/alternative
    ///   1.1   text/plain
    ///   1.2   multipart/related
    ///   1.2.1   text/html
    ///   1.2.2   image/png (inline, cid)
    ///   2   application/pdf (attachment, RFC 2231 file name)
    ///   3   message/rfc822 (multipart inside: its parts are 3.1, 3.2, not ours)
    ///   4   text/plain attachment
    const NESTED: &str = "From: a@x.com\r\nSubject: nested\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello text\r\n\
--alt\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <img src=\"cid:logo@x\"></p>\r\n\
--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
--rel--\r\n\r\n--alt--\r\n\r\n\
--outer\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename*=UTF-8''Bericht%20%C3%BC.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
--outer\r\nContent-Type: message/rfc822\r\n\r\n\
From: b@x.com\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n\
--in\r\nContent-Type: text/plain\r\n\r\ninner text\r\n\
--in\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=a.zip\r\n\r\nPK\r\n--in--\r\n\r\n\
--outer\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\nsome notes\r\n\
--outer--\r\n";

    #[test]
    fn nested_parts_get_imap_section_numbers() {
        let message = MessageParser::default().parse(NESTED.as_bytes()).unwrap();
        let found: Vec<_> = attachments(&message)
            .into_iter()
            .map(|a| (a.part_id, a.content_type, a.filename, a.size, a.inline))
            .collect();
        assert_eq!(
            found,
            [
                ("1.2.2".into(), "image/png".into(), None, 8, true),
                (
                    "2".into(),
                    "application/pdf".into(),
                    Some("Bericht ü.pdf".into()),
                    9,
                    false
                ),
                (
                    "3".into(),
                    "message/rfc822".into(),
                    Some("inner.eml".into()),
                    message.parts.iter().find(|p| p.is_message()).unwrap().len(),
                    false
                ),
                (
                    "4".into(),
                    "text/plain".into(),
                    Some("notes.txt".into()),
                    10,
                    false
                ),
            ]
        );
        let text_id = message.text_body[0] as usize;
        assert_eq!(imap_part_ids(&message)[text_id].as_deref(), Some("1.1"));
    }

    #[test]
    fn a_single_part_message_is_part_one() {
        let raw = "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF";
        let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert_eq!(imap_part_ids(&message), [Some("1".to_owned())]);
        let described = attachments(&message);
        assert_eq!(described.len(), 1);
        assert_eq!(described[0].part_id, "1");
        assert_eq!(described[0].disposition.as_deref(), Some("attachment"));
    }

    #[test]
    fn content_ids_lose_their_brackets() {
        let message = MessageParser::default().parse(NESTED.as_bytes()).unwrap();
        let image = &attachments(&message)[0];
        assert_eq!(image.content_id.as_deref(), Some("logo@x"));
        assert_eq!(image.disposition, None);
    }

    /// Outlook and Google send an invitation as a text/calendar alternative of the body:
    /// it is listed as an attachment, so read_mail_attachment can name it.
    #[test]
    fn a_calendar_alternative_is_listed_as_an_attachment() {
        let raw = "Subject: Invitation\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n\
--a\r\nContent-Type: text/plain\r\n\r\nYou are invited\r\n\
--a\r\nContent-Type: text/html\r\n\r\n<p>You are invited</p>\r\n\
--a\r\nContent-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n\
--a--\r\n";
        let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let listed = attachments(&message);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].content_type, "text/calendar");
        assert_eq!(listed[0].part_id, "3");
    }
}
