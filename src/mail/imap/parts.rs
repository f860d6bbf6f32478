//! One MIME part of a message, fetched alone by its IMAP part id (the section number that
//! `get_mail_message` reports for each attachment): `UID FETCH <uid> (BODY.PEEK[<part>.MIME]
//! BODY.PEEK[<part>])` brings the part's own header and its body as stored, without the
//! rest of the message and without setting \Seen. The body is decoded from its transfer
//! encoding (base64, quoted-printable) the way mail-parser decodes it when it reads a whole
//! message, so the bytes are the file the sender attached. At most the server's answer
//! (the encoded part) and one decoded copy are held; decoding runs on a blocking thread.
//!
//! Part ids are checked before they reach the server: numbers from 1, separated by dots.
//! The part's content is untrusted third-party data; nothing here interprets it.

use std::fmt;

use async_imap::imap_proto::{MessageSection, SectionPath};
use async_imap::types::Fetch;
use futures::TryStreamExt;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Message, MessageParser, MimeHeaders};

use super::session::{ImapSession, SelectedFolder};
use crate::mail::error::{MailError, one_line};

/// The deepest part id accepted (levels of nesting).
const MAX_PART_DEPTH: usize = 32;

/// The type of a part whose header names none (RFC 2045).
const DEFAULT_CONTENT_TYPE: &str = "text/plain";

/// One part of a message, decoded: the attached file.
#[derive(Clone, PartialEq, Eq)]
pub struct MessagePart {
    /// The bytes after transfer decoding, exactly as the sender attached them.
    pub bytes: Vec<u8>,
    /// The file name the sender gave (decoded), or for an attached message without one its
    /// subject plus ".eml"; `None` when there is neither.
    pub filename: Option<String>,
    /// `type/subtype` in lower case, with the charset when the header gives one.
    pub content_type: String,
}

impl fmt::Debug for MessagePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessagePart")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Opens `folder` read-only (refused with `FolderChanged` when `uid_validity` is given and
/// no longer matches) and fetches part `part` of message `uid`.
pub async fn read_part(
    session: &mut ImapSession,
    folder: &str,
    uid: u32,
    uid_validity: Option<u32>,
    part: &str,
) -> Result<(SelectedFolder, MessagePart), MailError> {
    parse_part_id(part)?;
    let selected = session.examine_checked(folder, uid_validity).await?;
    let fetched = fetch_part(session, &selected, uid, part).await?;
    Ok((selected, fetched))
}

/// Part `part` of message `uid` in `folder`, which must be the folder open in `session`:
/// `UnknownMessage` when no message has that UID, `InvalidInput` when it has no such part.
pub async fn fetch_part(
    session: &mut ImapSession,
    folder: &SelectedFolder,
    uid: u32,
    part: &str,
) -> Result<MessagePart, MailError> {
    let path = parse_part_id(part)?;
    let items = format!("(UID BODY.PEEK[{part}.MIME] BODY.PEEK[{part}])");
    let fetches: Vec<Fetch> = session
        .command("fetching an attachment", |s| async move {
            s.uid_fetch(uid.to_string(), items)
                .await?
                .try_collect()
                .await
        })
        .await?;
    let found = tokio::task::spawn_blocking(move || part_of(&fetches, uid, &path))
        .await
        .map_err(|_| {
            MailError::Protocol(format!("part {part} of message {uid} could not be read"))
        })?;
    found.map_err(|missing| match missing {
        Missing::Message => MailError::UnknownMessage {
            folder: folder.name.clone(),
            uid,
        },
        Missing::Part => MailError::InvalidInput(format!(
            "message {uid} in \"{}\" has no part \"{part}\"; use a part_id that \
             get_mail_message lists under attachments",
            folder.name
        )),
    })
}

/// The numbers of a part id such as `2` or `1.2.3`; refused unless it is numbers from 1
/// (no leading zeros) separated by single dots, at most 32 levels deep.
pub fn parse_part_id(part: &str) -> Result<Vec<u32>, MailError> {
    let numbers: Option<Vec<u32>> = part.split('.').map(part_number).collect();
    match numbers {
        Some(numbers) if numbers.len() <= MAX_PART_DEPTH => Ok(numbers),
        _ => Err(MailError::InvalidInput(format!(
            "\"{}\" is not an IMAP part id: give the part_id that get_mail_message lists for \
             the attachment, such as \"2\" or \"1.2\"",
            one_line(part)
        ))),
    }
}

fn part_number(text: &str) -> Option<u32> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    (digits && !text.starts_with('0'))
        .then(|| text.parse().ok())
        .flatten()
}

/// What the server's answer lacked.
enum Missing {
    Message,
    Part,
}

/// The decoded part from the FETCH answers. A part that does not exist comes back as NIL
/// or as an empty header and body.
fn part_of(fetches: &[Fetch], uid: u32, path: &[u32]) -> Result<MessagePart, Missing> {
    let fetch = fetches
        .iter()
        .find(|f| f.uid == Some(uid))
        .ok_or(Missing::Message)?;
    let header = fetch.section(&SectionPath::Part(
        path.to_vec(),
        Some(MessageSection::Mime),
    ));
    let body = fetch.section(&SectionPath::Part(path.to_vec(), None));
    match (header, body) {
        (Some(header), Some(body)) if !(header.is_empty() && body.is_empty()) => {
            Ok(decode_part(header, body))
        }
        _ => Err(Missing::Part),
    }
}

/// A part from its MIME header and its body as stored: the body transfer-decoded (kept
/// as it is when it does not decode, as mail-parser does), the file name and the type.
pub fn decode_part(header: &[u8], body: &[u8]) -> MessagePart {
    let headers = MessageParser::default().parse_headers(header);
    let encoding = headers
        .as_ref()
        .and_then(|h| h.content_transfer_encoding())
        .map(|e| e.trim().to_ascii_lowercase());
    let bytes = match encoding.as_deref() {
        Some("base64") => base64_decode(body),
        Some("quoted-printable") => quoted_printable_decode(body),
        _ => None,
    }
    .unwrap_or_else(|| body.to_vec());
    let content_type = headers
        .as_ref()
        .map_or_else(|| DEFAULT_CONTENT_TYPE.to_owned(), content_type);
    let filename = headers
        .as_ref()
        .and_then(|h| h.attachment_name())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .or_else(|| attached_message_name(&content_type, &bytes));
    MessagePart {
        bytes,
        filename,
        content_type,
    }
}

/// `type/subtype` in lower case, plus `; charset=<charset>` when the header names a
/// charset made of token characters (text needs it to be read right).
fn content_type(headers: &Message<'_>) -> String {
    let Some(ct) = headers.content_type() else {
        return DEFAULT_CONTENT_TYPE.to_owned();
    };
    let essence =
        format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")).to_ascii_lowercase();
    let charset = ct.attribute("charset").map(str::trim).filter(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    });
    match charset {
        Some(charset) => format!("{essence}; charset={charset}"),
        None => essence,
    }
}

/// "<subject>.eml" for an attached message (message/rfc822) that carries no file name.
fn attached_message_name(content_type: &str, bytes: &[u8]) -> Option<String> {
    if !content_type.starts_with("message/rfc822") {
        return None;
    }
    let inner = MessageParser::default().parse_headers(bytes)?;
    let subject = inner.subject().map(str::trim).filter(|s| !s.is_empty())?;
    Some(format!("{subject}.eml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_ids_are_dotted_numbers_from_one() {
        let good: [(&str, &[u32]); 4] = [
            ("1", &[1]),
            ("2", &[2]),
            ("1.2.3", &[1, 2, 3]),
            ("10.4294967295", &[10, u32::MAX]),
        ];
        for (id, numbers) in good {
            assert_eq!(parse_part_id(id).unwrap(), numbers, "{id}");
        }
        let deep = vec!["1"; 33].join(".");
        let bad = [
            "",
            "0",
            "01",
            "1.",
            ".1",
            "1..2",
            "1.0",
            "2.MIME",
            "1 2",
            "1]",
            "-1",
            "+1",
            "4294967296",
            "1)\r\nA1 LOGOUT",
            "١",
            deep.as_str(),
        ];
        for id in bad {
            let err = parse_part_id(id).unwrap_err().to_string();
            assert!(err.contains("is not an IMAP part id"), "{id:?}: {err}");
        }
    }

    #[test]
    fn bodies_are_transfer_decoded_as_mail_parser_does() {
        let cases: [(&str, &[u8], &[u8]); 6] = [
            (
                "Content-Transfer-Encoding: base64\r\n\r\n",
                b"AAEC\r\n/w==",
                &[0, 1, 2, 255],
            ),
            ("Content-Transfer-Encoding: BASE64 \r\n\r\n", b"aGk=", b"hi"),
            (
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                b"caf=C3=A9 =\r\nsoft",
                "café soft".as_bytes(),
            ),
            (
                "Content-Transfer-Encoding: 8bit\r\n\r\n",
                b"raw \xff",
                b"raw \xff",
            ),
            ("\r\n", b"no header", b"no header"),
            (
                "Content-Transfer-Encoding: base64\r\n\r\n",
                b"not*base64",
                b"not*base64",
            ),
        ];
        for (header, body, want) in cases {
            assert_eq!(
                decode_part(header.as_bytes(), body).bytes,
                want,
                "{header:?}"
            );
        }
    }

    #[test]
    fn names_and_types_come_from_the_part_header() {
        let cases = [
            (
                "Content-Type: Application/PDF; name=\"x.pdf\"\r\n\r\n",
                &b""[..],
                Some("x.pdf"),
                "application/pdf",
            ),
            (
                "Content-Type: text/plain; charset=ISO-8859-1\r\n\
                 Content-Disposition: attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt\r\n\r\n",
                b"",
                Some("Grüße.txt"),
                "text/plain; charset=ISO-8859-1",
            ),
            (
                "Content-Type: text/plain; charset=\"a b\"\r\n\r\n",
                b"",
                None,
                "text/plain",
            ),
            ("\r\n", b"", None, "text/plain"),
            (
                "Content-Type: message/rfc822\r\n\r\n",
                b"Subject: Inner one\r\nFrom: a@x.test\r\n\r\nbody",
                Some("Inner one.eml"),
                "message/rfc822",
            ),
            (
                "Content-Type: image/png\r\nContent-Disposition: inline; filename=\"  \"\r\n\r\n",
                b"",
                None,
                "image/png",
            ),
        ];
        for (header, body, filename, content_type) in cases {
            let part = decode_part(header.as_bytes(), body);
            assert_eq!(part.filename.as_deref(), filename, "{header:?}");
            assert_eq!(part.content_type, content_type, "{header:?}");
        }
    }

    #[test]
    fn debug_output_shows_the_size_not_the_bytes() {
        let part = decode_part(b"\r\n", b"secret words");
        let shown = format!("{part:?}");
        assert!(
            shown.contains("size: 12") && !shown.contains("secret"),
            "{shown}"
        );
    }
}
