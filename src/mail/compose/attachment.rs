//! Files to attach: decoded from base64, with a filename that cannot name a path or break
//! a header and a content type that parses as MIME (else `application/octet-stream`), and
//! the total size limit. Where the bytes come from (inline, a store URL, another
//! message) is the caller's business; here they are only checked and kept. Names and
//! types are made safe with the attachment store's rules ([`crate::attachments::naming`]),
//! so a file is named the same whether it is downloaded or sent. Pure.

use base64::Engine;
use lettre::message::header::ContentType;

use crate::attachments::naming::{DEFAULT_CONTENT_TYPE, safe_content_type, safe_filename};
use crate::mail::error::MailError;

/// The default limit of attachment bytes one message may carry (before base64 encoding);
/// the server's is configurable (MAX_ATTACHMENT_BYTES).
pub const DEFAULT_MAX_ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;

/// The content type of anything whose own type is missing or unusable.
const OCTET_STREAM: &str = DEFAULT_CONTENT_TYPE;

/// One file to attach, sanitised; its bytes are sent exactly as given.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    filename: String,
    /// A MIME type that lettre's `ContentType` parses.
    content_type: String,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("size", &self.bytes.len())
            .finish()
    }
}

impl Attachment {
    /// An attachment of `bytes`, with `filename` and `content_type` made safe.
    pub fn new(filename: &str, content_type: Option<&str>, bytes: Vec<u8>) -> Self {
        Attachment {
            filename: sanitise_filename(filename),
            content_type: sanitise_content_type(content_type),
            bytes,
        }
    }

    /// An attachment given inline as base64 (standard alphabet; line breaks and spaces
    /// are ignored, padding optional).
    pub fn from_base64(
        filename: &str,
        content_type: Option<&str>,
        content_base64: &str,
    ) -> Result<Self, MailError> {
        let compact: String = content_base64
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(compact.trim_end_matches('='))
            .map_err(|err| {
                MailError::InvalidInput(format!(
                    "the content_base64 of attachment \"{}\" is not valid base64 ({err}); \
                     encode the file's bytes with standard base64",
                    sanitise_filename(filename)
                ))
            })?;
        Ok(Attachment::new(filename, content_type, bytes))
    }

    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// The MIME type, e.g. `application/pdf`.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The MIME type as a lettre header.
    pub fn content_type_header(&self) -> ContentType {
        ContentType::parse(&self.content_type).unwrap_or_else(|_| octet_stream())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn size(&self) -> usize {
        self.bytes.len()
    }
}

/// Refuses attachments whose sizes add up to more than `limit` bytes, naming the sizes.
pub fn check_total_size(attachments: &[Attachment], limit: usize) -> Result<(), MailError> {
    let total: usize = attachments.iter().map(Attachment::size).sum();
    if total <= limit {
        return Ok(());
    }
    let sizes: Vec<String> = attachments
        .iter()
        .map(|a| format!("{} {}", a.filename, human_size(a.size())))
        .collect();
    Err(MailError::InvalidInput(format!(
        "the attachments add up to {} ({}), more than the limit of {}; send fewer or smaller \
         files",
        human_size(total),
        sizes.join(", "),
        human_size(limit)
    )))
}

/// The store's safe filename ([`safe_filename`]: the last path component, no control
/// characters, no surrounding dots or spaces, at most 200 characters, "attachment" when
/// nothing is left), without double quotes, which some mail clients mis-read in headers.
pub fn sanitise_filename(filename: &str) -> String {
    safe_filename(&filename.replace('"', ""))
}

/// The given type, parameters included, when its `type/subtype` is well-formed by the
/// store's rules ([`safe_content_type`]) and the whole parses as a single-part MIME type;
/// just the `type/subtype` when only that is usable; else `application/octet-stream`.
/// (A multipart type would need a boundary this part does not have.)
pub fn sanitise_content_type(content_type: Option<&str>) -> String {
    let given = content_type.map(str::trim).unwrap_or_default();
    let essence = safe_content_type(given);
    if essence == OCTET_STREAM || essence.starts_with("multipart/") {
        return OCTET_STREAM.to_owned();
    }
    let whole_usable = !given.chars().any(char::is_control) && ContentType::parse(given).is_ok();
    if whole_usable {
        given.to_owned()
    } else {
        essence
    }
}

fn octet_stream() -> ContentType {
    ContentType::parse(OCTET_STREAM).expect("a valid MIME type")
}

/// "3.2 MB", "12 KB", "17 bytes" (powers of 1024).
pub fn human_size(bytes: usize) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KB * KB {
        format!("{:.1} MB", b / (KB * KB))
    } else if b >= KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_and_control_characters() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\x\\evil.exe", "evil.exe"),
            ("a\r\nb.txt", "ab.txt"),
            ("say \"hi\".txt", "say hi.txt"),
            ("..", "attachment"),
            (".hidden", "hidden"),
            ("", "attachment"),
            ("dir/", "attachment"),
            ("Résumé ✓.pdf", "Résumé ✓.pdf"),
        ];
        for (given, want) in cases {
            assert_eq!(sanitise_filename(given), want, "{given:?}");
        }
        assert_eq!(sanitise_filename(&"x".repeat(500)).chars().count(), 200);
    }

    #[test]
    fn content_types_must_parse_as_single_part_mime() {
        let shown = sanitise_content_type;
        let cases = [
            (Some("application/pdf"), "application/pdf"),
            (
                Some("text/plain; charset=utf-8"),
                "text/plain; charset=utf-8",
            ),
            (Some("not a type"), OCTET_STREAM),
            (Some(" Image/PNG "), "Image/PNG"),
            (Some("text/plain; charset=\"a\r\nb\""), "text/plain"),
            (Some("text/plain\r\nBcc: x@example.com"), OCTET_STREAM),
            (Some("multipart/mixed"), OCTET_STREAM),
            (Some(""), OCTET_STREAM),
            (None, OCTET_STREAM),
        ];
        for (given, want) in cases {
            assert_eq!(shown(given), want, "{given:?}");
        }
    }

    #[test]
    fn base64_is_decoded_or_refused_clearly() {
        let ok = Attachment::from_base64("a.bin", None, "AAEC\r\n/w==").unwrap();
        assert_eq!(ok.bytes(), [0, 1, 2, 255]);
        let unpadded = Attachment::from_base64("a.bin", None, "AAEC/w").unwrap();
        assert_eq!(unpadded.bytes(), [0, 1, 2, 255]);
        let err = Attachment::from_base64("a.bin", None, "not base64!").unwrap_err();
        assert!(err.to_string().contains("not valid base64"), "{err}");
    }

    #[test]
    fn the_total_size_limit_names_the_sizes() {
        let files = [
            Attachment::new("a.bin", None, vec![0; 2048]),
            Attachment::new("b.bin", None, vec![0; 2048]),
        ];
        assert!(check_total_size(&files, 4096).is_ok());
        let err = check_total_size(&files, 3000).unwrap_err().to_string();
        assert_eq!(
            err,
            "the attachments add up to 4 KB (a.bin 2 KB, b.bin 2 KB), more than the limit of \
             3 KB; send fewer or smaller files"
        );
    }
}
