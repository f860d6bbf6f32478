//! Filenames and content types of hostile attachments, made safe to store, to put in a
//! header and to serve: no path separators or control characters in names, only
//! well-formed `type/subtype` media types, and nothing a browser would render as a page
//! (HTML, SVG, XML, scripts) when served from our own origin. Pure functions, no I/O.

/// The name used when an attachment has none (or nothing of it survives).
pub const DEFAULT_FILENAME: &str = "attachment";
/// The media type used when the given one is missing or malformed.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Longest filename kept, in characters.
const MAX_FILENAME_CHARS: usize = 200;

/// Media types never served as themselves from our origin, matched as substrings of the
/// lower-cased essence: anything a browser could render or run.
const ACTIVE_TYPE_MARKERS: [&str; 7] = [
    "html",
    "xml",
    "svg",
    "javascript",
    "ecmascript",
    "xsl",
    "x-shockwave-flash",
];

/// The filename without directories, control characters or surrounding dots and spaces,
/// at most 200 characters; [`DEFAULT_FILENAME`] when nothing is left.
pub fn safe_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        DEFAULT_FILENAME.to_string()
    } else {
        trimmed.to_string()
    }
}

/// The lower-cased `type/subtype` of a media type, parameters dropped; both halves must
/// be RFC 2045 tokens, otherwise [`DEFAULT_CONTENT_TYPE`].
pub fn safe_content_type(content_type: &str) -> String {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some((kind, subtype)) if is_token(kind) && is_token(subtype) => essence,
        _ => DEFAULT_CONTENT_TYPE.to_string(),
    }
}

/// The type to serve an attachment with from our origin: its safe type, except anything
/// renderable or scriptable (HTML, SVG, XML, JavaScript, ...) which becomes
/// `application/octet-stream`.
pub fn served_content_type(content_type: &str) -> String {
    let safe = safe_content_type(content_type);
    if ACTIVE_TYPE_MARKERS
        .iter()
        .any(|marker| safe.contains(marker))
    {
        DEFAULT_CONTENT_TYPE.to_string()
    } else {
        safe
    }
}

/// `attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>` (RFC 6266): an
/// ASCII fallback with quotes, backslashes and non-ASCII replaced by `_`, and the exact
/// (safe) name for clients that read `filename*`. Always ASCII, always a download.
pub fn content_disposition(filename: &str) -> String {
    let name = safe_filename(filename);
    format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_fallback(&name),
        percent_encode_attr(&name)
    )
}

/// RFC 8187 `attr-char` percent-encoding of the UTF-8 bytes.
pub fn percent_encode_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if is_attr_char(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (the inverse of [`percent_encode_attr`]); `None` when malformed
/// or not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn ascii_fallback(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect()
}

fn is_attr_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte)
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_directories_controls_and_edges() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\x\\evil.exe", "evil.exe"),
            ("a\r\nContent-Type: text.txt", "aContent-Type: text.txt"),
            ("  .hidden  ", "hidden"),
            ("", DEFAULT_FILENAME),
            ("..", DEFAULT_FILENAME),
            ("dir/", DEFAULT_FILENAME),
            ("Grüße 📎.txt", "Grüße 📎.txt"),
        ];
        for (input, expected) in cases {
            assert_eq!(safe_filename(input), expected, "{input:?}");
        }
        assert_eq!(safe_filename(&"x".repeat(500)).chars().count(), 200);
    }

    #[test]
    fn content_types_keep_only_a_well_formed_essence() {
        let cases = [
            ("application/pdf", "application/pdf"),
            ("Text/Plain; charset=utf-8", "text/plain"),
            ("image/svg+xml", "image/svg+xml"),
            ("", DEFAULT_CONTENT_TYPE),
            ("pdf", DEFAULT_CONTENT_TYPE),
            ("text/plain\r\nX-Evil: 1", DEFAULT_CONTENT_TYPE),
            ("text/ plain", DEFAULT_CONTENT_TYPE),
            ("a/b/c", DEFAULT_CONTENT_TYPE),
        ];
        for (input, expected) in cases {
            assert_eq!(safe_content_type(input), expected, "{input:?}");
        }
    }

    #[test]
    fn renderable_types_are_served_as_octet_stream() {
        let cases = [
            ("text/html", DEFAULT_CONTENT_TYPE),
            ("TEXT/HTML; charset=utf-8", DEFAULT_CONTENT_TYPE),
            ("application/xhtml+xml", DEFAULT_CONTENT_TYPE),
            ("image/svg+xml", DEFAULT_CONTENT_TYPE),
            ("text/xml", DEFAULT_CONTENT_TYPE),
            ("application/javascript", DEFAULT_CONTENT_TYPE),
            ("text/xsl", DEFAULT_CONTENT_TYPE),
            ("application/pdf", "application/pdf"),
            ("image/png", "image/png"),
            ("text/plain", "text/plain"),
        ];
        for (input, expected) in cases {
            assert_eq!(served_content_type(input), expected, "{input:?}");
        }
    }

    #[test]
    fn content_disposition_is_ascii_with_an_exact_utf8_name() {
        let cases = [
            (
                "report.pdf",
                "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf",
            ),
            (
                "Grüße \"x\".txt",
                "attachment; filename=\"Gr__e _x_.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22x%22.txt",
            ),
            (
                "a;b=c\"d.txt",
                "attachment; filename=\"a;b=c_d.txt\"; filename*=UTF-8''a%3Bb%3Dc%22d.txt",
            ),
            (
                "",
                "attachment; filename=\"attachment\"; filename*=UTF-8''attachment",
            ),
        ];
        for (input, expected) in cases {
            let header = content_disposition(input);
            assert_eq!(header, expected, "{input:?}");
            assert!(header.is_ascii());
        }
    }

    #[test]
    fn percent_decoding_inverts_encoding_and_refuses_malformed_input() {
        for text in ["plain", "Grüße 📎.txt", "100%"] {
            assert_eq!(
                percent_decode(&percent_encode_attr(text)).as_deref(),
                Some(text)
            );
        }
        for bad in ["%", "%4", "%zz", "%FF"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
