//! Plain-text and HTML attachments: text decoded from the charset its type names (UTF-8
//! when none, mail-parser's decoders otherwise), HTML converted to Markdown the way message
//! bodies are ([`crate::mail::message::body::html_to_markdown`]: hidden parts dropped,
//! links kept).

use super::Budget;
use crate::mail::message::body::html_to_markdown;

/// Reads a text attachment into `out`.
pub fn read_text(bytes: &[u8], content_type: &str, out: &mut Budget<'_>) {
    out.push(&decode(bytes, content_type));
}

/// Reads an HTML attachment into `out`, as Markdown.
pub fn read_html(bytes: &[u8], content_type: &str, out: &mut Budget<'_>) {
    out.push(&html_to_markdown(&decode(bytes, content_type)));
}

/// `bytes` as text in the charset `content_type` names (`charset=`), else UTF-8 (invalid
/// sequences replaced).
pub fn decode(bytes: &[u8], content_type: &str) -> String {
    let charset = content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
    });
    let decoder = charset
        .filter(|c| !c.eq_ignore_ascii_case("utf-8"))
        .and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()));
    match decoder {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_decoded_from_its_charset() {
        assert_eq!(
            decode(b"gr\xfc\xdf", "text/plain; charset=iso-8859-1"),
            "grüß"
        );
        assert_eq!(decode("grüß".as_bytes(), "text/plain"), "grüß");
        assert_eq!(
            decode(b"a\xffb", "text/plain; charset=\"utf-8\""),
            "a\u{fffd}b"
        );
    }
}
