//! One MIME part of a message, fetched alone by its IMAP part id (the section number that
//! `get_mail_message` reports for each attachment): `UID FETCH <uid> (BODY.PEEK[<part>.MIME]
//! BODY.PEEK[<part>])` brings the part's own header and its body as stored, without the
//! rest of the message and without setting \Seen. The body is decoded from its transfer
//! encoding (base64, quoted-printable) the way mail-parser decodes it when it reads a whole
//! message, so the bytes are the file the sender attached. A part larger than [`CHUNK`] is
//! fetched in pieces (`BODY.PEEK[<part>]<offset.length>`) and decoded piece by piece
//! ([`PartReader`]), so that at most one piece of the encoded part is held; a caller that
//! passes the decoded pieces on (the attachment store) never holds the whole file, and
//! [`fetch_part`], which collects them, holds the decoded file plus one piece. Decoding
//! runs on a blocking thread.
//!
//! Part ids are checked before they reach the server: numbers from 1, separated by dots.
//! The part's content is untrusted third-party data; nothing here interprets it.

use std::fmt;

use async_imap::imap_proto::{BodyStructure, MessageSection, SectionPath};
use async_imap::types::Fetch;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Message, MessageParser, MimeHeaders};

use super::session::{ImapSession, SelectedFolder};
use crate::mail::blocking::run_blocking;
use crate::mail::error::{MailError, first_line_capped};

/// How a UID FETCH of this module is named in errors.
const FETCHING: &str = "fetching an attachment";

/// The error when decoding on the blocking pool fails.
const DECODE_FAILED: &str = "an attachment could not be decoded";

/// The deepest part id accepted (levels of nesting).
const MAX_PART_DEPTH: usize = 32;

/// How much of a part one FETCH brings: the piece size of big parts.
pub const CHUNK: usize = 2 * 1024 * 1024;

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
/// no longer matches) and fetches part `part` of message `uid`, at most `max_bytes` of it.
pub async fn read_part(
    session: &mut ImapSession,
    folder: &str,
    uid: u32,
    uid_validity: Option<u32>,
    part: &str,
    max_bytes: usize,
) -> Result<(SelectedFolder, MessagePart), MailError> {
    parse_part_id(part)?;
    let selected = session.examine_checked(folder, uid_validity).await?;
    let fetched = fetch_part(session, &selected, uid, part, max_bytes).await?;
    Ok((selected, fetched))
}

/// Part `part` of message `uid` in `folder`, which must be the folder open in `session`,
/// whole in memory (see [`PartReader`] for the errors and the read limit).
pub async fn fetch_part(
    session: &mut ImapSession,
    folder: &SelectedFolder,
    uid: u32,
    part: &str,
    max_bytes: usize,
) -> Result<MessagePart, MailError> {
    let mut reader = PartReader::open(session, folder, uid, part, max_bytes).await?;
    let mut bytes = Vec::with_capacity(reader.expected_size().min(max_bytes));
    loop {
        match reader.next_piece().await? {
            Piece::Data(data) => bytes.extend_from_slice(&data),
            Piece::End => break,
            Piece::Restart(whole) => return Ok(whole),
        }
    }
    Ok(MessagePart {
        bytes,
        filename: reader.filename.take(),
        content_type: std::mem::take(&mut reader.content_type),
    })
}

/// What [`PartReader::next_piece`] gives.
#[derive(Debug)]
pub enum Piece {
    /// The next decoded bytes of the file.
    Data(Vec<u8>),
    /// The file is complete.
    End,
    /// The part does not decode piece by piece (invalid base64, or padding inside):
    /// discard the pieces so far; this is the whole part, decoded at once as mail-parser
    /// does (kept as stored when it does not decode).
    Restart(MessagePart),
}

/// One part of a message being fetched: its name and type known from the first FETCH,
/// its decoded bytes handed out piece by piece, so that a caller who passes them on (to
/// the attachment store) holds one piece at a time, never the whole file.
///
/// The first FETCH brings the part's MIME header, the message's structure and the first
/// [`CHUNK`] bytes of the part (`UnknownMessage` when no message has that UID,
/// `InvalidInput` when it has no such part); a bigger part is fetched in further pieces. A
/// server that sends more than `max_bytes` of decoded file (whatever its structure
/// announced) is cut off with an error.
pub struct PartReader<'s> {
    session: &'s mut ImapSession,
    uid: u32,
    part: String,
    path: Vec<u32>,
    header: Vec<u8>,
    decoder: Decoder,
    /// The first piece, decoded when the reader opened (it names attached messages).
    ready: Option<Vec<u8>>,
    /// Encoded bytes fetched so far.
    offset: usize,
    /// The encoded size the structure announced, when it did.
    octets: Option<usize>,
    done: bool,
    max_bytes: usize,
    /// The file name (as [`MessagePart::filename`]).
    pub filename: Option<String>,
    /// The type (as [`MessagePart::content_type`]).
    pub content_type: String,
}

impl<'s> PartReader<'s> {
    /// Fetches the header and the first piece of part `part` of message `uid` in `folder`
    /// (open in `session`).
    pub async fn open(
        session: &'s mut ImapSession,
        folder: &SelectedFolder,
        uid: u32,
        part: &str,
        max_bytes: usize,
    ) -> Result<PartReader<'s>, MailError> {
        let path = parse_part_id(part)?;
        let items =
            format!("(UID BODYSTRUCTURE BODY.PEEK[{part}.MIME] BODY.PEEK[{part}]<0.{CHUNK}>)");
        let fetches = session.uid_fetch(FETCHING, uid, &items).await?;
        let first = first_piece(&fetches, uid, &path)
            .map_err(|missing| missing_error(missing, folder, uid, part))?;
        drop(fetches);
        let mut reader = PartReader {
            session,
            uid,
            part: part.to_owned(),
            path,
            decoder: Decoder::new(&first.header),
            header: first.header,
            ready: None,
            offset: 0,
            octets: first.octets,
            done: false,
            max_bytes,
            filename: None,
            content_type: String::new(),
        };
        let decoded = reader.decode(first.body).await?;
        let header = reader.header.clone();
        let (filename, content_type, decoded) = run_blocking(DECODE_FAILED, move || {
            let (filename, content_type) = description(&header, &decoded);
            (filename, content_type, decoded)
        })
        .await?;
        reader.filename = filename;
        reader.content_type = content_type;
        reader.ready = Some(decoded);
        Ok(reader)
    }

    /// The decoded size to expect, from the structure (0 when unknown).
    pub fn expected_size(&self) -> usize {
        let octets = self.octets.unwrap_or(0);
        match self.decoder.encoding {
            Encoding::Base64 => octets / 4 * 3 + 3,
            _ => octets,
        }
    }

    /// The next decoded piece of the file, or its end, or the whole part when it does
    /// not decode in pieces.
    pub async fn next_piece(&mut self) -> Result<Piece, MailError> {
        if let Some(ready) = self.ready.take() {
            return Ok(Piece::Data(ready));
        }
        if self.decoder.failed() {
            return self.whole().await.map(Piece::Restart);
        }
        if self.done {
            return Ok(Piece::End);
        }
        let items = format!("(UID BODY.PEEK[{}]<{}.{CHUNK}>)", self.part, self.offset);
        let fetches = self.session.uid_fetch(FETCHING, self.uid, &items).await?;
        let piece = section(
            &fetches,
            self.uid,
            &SectionPath::Part(self.path.clone(), None),
        )
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
        drop(fetches);
        let decoded = self.decode(piece).await?;
        if self.decoder.failed() {
            return self.whole().await.map(Piece::Restart);
        }
        Ok(Piece::Data(decoded))
    }

    /// Decodes one encoded piece (on a blocking thread), counting against the limit.
    async fn decode(&mut self, piece: Vec<u8>) -> Result<Vec<u8>, MailError> {
        let last = piece.len() < CHUNK;
        self.offset += piece.len();
        self.done = last;
        let mut decoder = std::mem::take(&mut self.decoder);
        let (decoder, decoded) = run_blocking(DECODE_FAILED, move || {
            let decoded = decoder.feed(piece, last);
            (decoder, decoded)
        })
        .await?;
        self.decoder = decoder;
        if self.decoder.total > self.max_bytes {
            return Err(over_read_limit(self.decoder.total, self.max_bytes));
        }
        if self.offset > encoded_limit(self.max_bytes) {
            // Pieces that decode to (almost) nothing, e.g. endless whitespace in base64:
            // the loop must end even when the decoded size stays under the limit.
            return Err(over_read_limit(self.offset, encoded_limit(self.max_bytes)));
        }
        Ok(decoded)
    }

    /// The whole part fetched again and decoded at once, within the limit.
    async fn whole(&mut self) -> Result<MessagePart, MailError> {
        let items = format!("(UID BODY.PEEK[{}])", self.part);
        let fetches = self.session.uid_fetch(FETCHING, self.uid, &items).await?;
        let header = self.header.clone();
        let (uid, path) = (self.uid, self.path.clone());
        let decoded = run_blocking(DECODE_FAILED, move || {
            let body = section(&fetches, uid, &SectionPath::Part(path, None)).unwrap_or_default();
            decode_part(&header, body)
        })
        .await?;
        if decoded.bytes.len() > self.max_bytes {
            return Err(over_read_limit(decoded.bytes.len(), self.max_bytes));
        }
        Ok(decoded)
    }
}

/// The most encoded bytes fetched for a part whose decoded size may be `max_bytes`:
/// quoted-printable at its worst (3 bytes for each, plus soft line breaks), and a piece.
fn encoded_limit(max_bytes: usize) -> usize {
    max_bytes.saturating_mul(4).saturating_add(CHUNK)
}

/// The refusal of a part whose server sent more than the read limit.
fn over_read_limit(received: usize, limit: usize) -> MailError {
    MailError::Protocol(format!(
        "the mail server sent more than {limit} bytes of the attachment (at least \
         {received}), more than its structure announced or the read limit allows; the \
         attachment was not kept"
    ))
}

/// Checks that message `uid` in `folder` (open in `session`) has a part `part`, from its
/// BODYSTRUCTURE alone: `UnknownMessage` or `InvalidInput` as [`fetch_part`] says them.
/// Returns the part's decoded size as the structure announces it (base64 estimated from
/// its encoded size), when the structure gives one.
pub async fn confirm_part(
    session: &mut ImapSession,
    folder: &SelectedFolder,
    uid: u32,
    part: &str,
) -> Result<Option<u64>, MailError> {
    let path = parse_part_id(part)?;
    let fetches = session
        .uid_fetch(FETCHING, uid, "(UID BODYSTRUCTURE)")
        .await?;
    let fetch = fetches
        .iter()
        .find(|f| f.uid == Some(uid))
        .ok_or_else(|| missing_error(Missing::Message, folder, uid, part))?;
    let structure = fetch
        .bodystructure()
        .and_then(|s| part_in(s, &path))
        .ok_or_else(|| missing_error(Missing::Part, folder, uid, part))?;
    Ok(announced_size(structure))
}

/// The decoded size a part's structure announces: its octets, for base64 without the
/// line breaks (76 characters and CRLF a line) and times 3/4.
fn announced_size(part: &BodyStructure<'_>) -> Option<u64> {
    let octets = octets(part)? as u64;
    let base64 = match part {
        BodyStructure::Basic { other, .. }
        | BodyStructure::Text { other, .. }
        | BodyStructure::Message { other, .. } => {
            other.transfer_encoding == async_imap::imap_proto::ContentEncoding::Base64
        }
        BodyStructure::Multipart { .. } => false,
    };
    Some(if base64 {
        octets * 76 / 78 * 3 / 4
    } else {
        octets
    })
}

fn missing_error(missing: Missing, folder: &SelectedFolder, uid: u32, part: &str) -> MailError {
    match missing {
        Missing::Message => MailError::UnknownMessage {
            folder: folder.name.clone(),
            uid,
        },
        Missing::Part => MailError::InvalidInput(format!(
            "message {uid} in \"{}\" has no part \"{part}\"; use a part_id that \
             get_mail_message lists under attachments",
            folder.name
        )),
    }
}

/// What the first FETCH brought.
struct FirstPiece {
    header: Vec<u8>,
    body: Vec<u8>,
    /// The encoded size of the part, from the structure, when it could be found there.
    octets: Option<usize>,
}

fn section<'a>(fetches: &'a [Fetch], uid: u32, path: &SectionPath) -> Option<&'a [u8]> {
    fetches
        .iter()
        .filter(|f| f.uid == Some(uid))
        .find_map(|f| f.section(path))
}

/// The MIME header, the first piece and the size of the part. A part that does not exist
/// comes back as NIL or as an empty header and body.
fn first_piece(fetches: &[Fetch], uid: u32, path: &[u32]) -> Result<FirstPiece, Missing> {
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
        (Some(header), Some(body)) if !(header.is_empty() && body.is_empty()) => Ok(FirstPiece {
            header: header.to_vec(),
            body: body.to_vec(),
            octets: fetch
                .bodystructure()
                .and_then(|s| part_in(s, path))
                .and_then(octets),
        }),
        _ => Err(Missing::Part),
    }
}

/// The structure of part `path` of a message whose structure is `root`.
fn part_in<'a>(root: &'a BodyStructure<'a>, path: &[u32]) -> Option<&'a BodyStructure<'a>> {
    let (&first, rest) = path.split_first()?;
    let child = match root {
        BodyStructure::Multipart { bodies, .. } => bodies.get(first.checked_sub(1)? as usize)?,
        // The body of a message that is not multipart is its part 1.
        single => (first == 1).then_some(single)?,
    };
    if rest.is_empty() {
        return Some(child);
    }
    match child {
        BodyStructure::Message { body, .. } => part_in(body, rest),
        BodyStructure::Multipart { .. } => part_in(child, rest),
        _ => None,
    }
}

fn octets(part: &BodyStructure<'_>) -> Option<usize> {
    match part {
        BodyStructure::Basic { other, .. }
        | BodyStructure::Text { other, .. }
        | BodyStructure::Message { other, .. } => Some(other.octets as usize),
        BodyStructure::Multipart { .. } => None,
    }
}

/// Transfer-decodes a part fed in pieces, as mail-parser decodes it whole.
#[derive(Default)]
struct Decoder {
    encoding: Encoding,
    /// Decoded bytes handed out so far.
    total: usize,
    /// Encoded bytes not decoded yet (an incomplete base64 group or QP line).
    pending: Vec<u8>,
    failed: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Encoding {
    Base64,
    QuotedPrintable,
    #[default]
    Identity,
}

impl Decoder {
    fn new(header: &[u8]) -> Decoder {
        let encoding = match transfer_encoding(header).as_deref() {
            Some("base64") => Encoding::Base64,
            Some("quoted-printable") => Encoding::QuotedPrintable,
            _ => Encoding::Identity,
        };
        Decoder {
            encoding,
            ..Decoder::default()
        }
    }

    fn failed(&self) -> bool {
        self.failed
    }

    /// Decodes `piece` (after what was pending) up to a point where decoding can stop:
    /// a whole number of base64 groups, the end of a QP line; `last` decodes the rest.
    /// Returns the decoded bytes (none once decoding failed).
    fn feed(&mut self, piece: Vec<u8>, last: bool) -> Vec<u8> {
        let decoded = self.decode(piece, last);
        self.total += decoded.len();
        decoded
    }

    fn decode(&mut self, piece: Vec<u8>, last: bool) -> Vec<u8> {
        if self.failed {
            return Vec::new();
        }
        if self.encoding == Encoding::Identity {
            return piece;
        }
        let mut data = std::mem::take(&mut self.pending);
        if data.is_empty() {
            data = piece;
        } else {
            data.extend_from_slice(&piece);
        }
        let cut = match (last, self.encoding) {
            (true, _) => data.len(),
            (false, Encoding::Base64) => base64_cut(&data),
            (false, _) => data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1),
        };
        if !last && self.encoding == Encoding::Base64 && data[..cut].contains(&b'=') {
            // Padding before the end: left to the whole-part decoder.
            self.failed = true;
            return Vec::new();
        }
        let decoded = match (cut, self.encoding) {
            (0, _) => Some(Vec::new()),
            (_, Encoding::Base64) => base64_decode(&data[..cut]),
            _ => quoted_printable_decode(&data[..cut]),
        };
        let Some(decoded) = decoded else {
            self.failed = true;
            return Vec::new();
        };
        self.pending = data.split_off(cut);
        decoded
    }
}

/// Where `data` holds a whole number of base64 groups (whitespace does not count).
fn base64_cut(data: &[u8]) -> usize {
    let significant = data.iter().filter(|b| !b.is_ascii_whitespace()).count();
    let mut keep = significant - significant % 4;
    if keep == significant {
        return data.len();
    }
    for (i, b) in data.iter().enumerate() {
        if !b.is_ascii_whitespace() {
            if keep == 0 {
                return i;
            }
            keep -= 1;
        }
    }
    data.len()
}

fn transfer_encoding(header: &[u8]) -> Option<String> {
    let headers = MessageParser::default().parse_headers(header)?;
    headers
        .content_transfer_encoding()
        .map(|e| e.trim().to_ascii_lowercase())
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
            first_line_capped(part)
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

/// A part from its MIME header and its body as stored: the body transfer-decoded (kept
/// as it is when it does not decode, as mail-parser does), the file name and the type.
pub fn decode_part(header: &[u8], body: &[u8]) -> MessagePart {
    let bytes = match transfer_encoding(header).as_deref() {
        Some("base64") => base64_decode(body),
        Some("quoted-printable") => quoted_printable_decode(body),
        _ => None,
    }
    .unwrap_or_else(|| body.to_vec());
    described(header, bytes)
}

/// A part from its MIME header and its decoded bytes: the file name and the type.
fn described(header: &[u8], bytes: Vec<u8>) -> MessagePart {
    let (filename, content_type) = description(header, &bytes);
    MessagePart {
        bytes,
        filename,
        content_type,
    }
}

/// The file name and type of a part from its MIME header and the start of its decoded
/// bytes (enough for the header of an attached message).
fn description(header: &[u8], start: &[u8]) -> (Option<String>, String) {
    let headers = MessageParser::default().parse_headers(header);
    let content_type = headers
        .as_ref()
        .map_or_else(|| DEFAULT_CONTENT_TYPE.to_owned(), content_type);
    let filename = headers
        .as_ref()
        .and_then(|h| h.attachment_name())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .or_else(|| attached_message_name(&content_type, start));
    (filename, content_type)
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

    /// Decoding in pieces of any size gives what decoding the whole part gives, for base64
    /// with CRLF or LF lines and quoted-printable with soft breaks and escapes.
    #[test]
    fn pieces_decode_like_the_whole() {
        use base64::Engine;
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
        let lines = |eol: &str| {
            encoded
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(eol)
        };
        let qp = "caf=C3=A9 au lait =\r\nsoft break, tr=C3=A8s bien=3D\r\n".repeat(300);
        let cases = [
            ("Content-Transfer-Encoding: base64\r\n\r\n", lines("\r\n")),
            ("Content-Transfer-Encoding: base64\r\n\r\n", lines("\n")),
            ("Content-Transfer-Encoding: quoted-printable\r\n\r\n", qp),
            ("Content-Type: text/plain\r\n\r\n", "plain text".repeat(500)),
        ];
        for (header, body) in cases {
            let whole = decode_part(header.as_bytes(), body.as_bytes()).bytes;
            for size in [1, 3, 77, 1000, 4096, body.len()] {
                let mut decoder = Decoder::new(header.as_bytes());
                let pieces: Vec<&[u8]> = body.as_bytes().chunks(size).collect();
                let mut out = Vec::new();
                for (i, piece) in pieces.iter().enumerate() {
                    out.extend(decoder.feed(piece.to_vec(), i + 1 == pieces.len()));
                }
                assert!(!decoder.failed(), "{header:?} in pieces of {size}");
                assert_eq!(out, whole, "{header:?} in pieces of {size}");
                assert_eq!(decoder.total, whole.len());
            }
        }
    }

    /// Base64 that does not decode in pieces (invalid, or padding inside) is left to the
    /// whole-part decoder.
    #[test]
    fn odd_base64_falls_back_to_the_whole_part() {
        let header = b"Content-Transfer-Encoding: base64\r\n\r\n";
        for body in [&b"aGk=aGk=aGk=aGk="[..], b"not*base64 at all"] {
            let mut decoder = Decoder::new(header);
            decoder.feed(body[..8].to_vec(), false);
            decoder.feed(body[8..].to_vec(), true);
            assert!(decoder.failed(), "{:?}", String::from_utf8_lossy(body));
        }
    }

    /// The structure of a part is found by its id, through multiparts and attached messages.
    #[test]
    fn parts_are_found_in_the_structure() {
        use async_imap::imap_proto::{AttributeValue, Response};
        let text = r#"("text" "plain" NIL NIL NIL "7bit" 5 1 NIL NIL NIL NIL)"#;
        let pdf = r#"("application" "pdf" NIL NIL NIL "base64" 400 NIL NIL NIL NIL)"#;
        let inner = format!(
            r#"("message" "rfc822" NIL NIL NIL "7bit" 900 (NIL "s" NIL NIL NIL NIL NIL NIL NIL NIL) ({text}{pdf} "mixed" ("boundary" "i") NIL NIL NIL) 20 NIL NIL NIL NIL)"#
        );
        let line = format!(
            "* 1 FETCH (BODYSTRUCTURE (({text}{pdf} \"alternative\" (\"boundary\" \"a\") NIL NIL NIL){inner} \"mixed\" (\"boundary\" \"m\") NIL NIL NIL))\r\n"
        );
        let (_, response) = Response::parse(line.as_bytes()).unwrap();
        let Response::Fetch(_, attributes) = response else {
            panic!("not a FETCH")
        };
        let Some(AttributeValue::BodyStructure(root)) = attributes.first() else {
            panic!("no BODYSTRUCTURE")
        };
        let size = |path: &[u32]| part_in(root, path).and_then(octets);
        assert_eq!(size(&[1, 1]), Some(5));
        assert_eq!(size(&[1, 2]), Some(400));
        assert_eq!(size(&[2]), Some(900));
        assert_eq!(size(&[2, 2]), Some(400));
        assert_eq!(size(&[1]), None, "a multipart has no size of its own");
        assert_eq!(size(&[3]), None);
        assert_eq!(size(&[0]), None);
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
