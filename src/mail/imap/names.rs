//! Folder names on the wire. IMAP spells names with non-ASCII characters in modified
//! UTF-7 (RFC 3501 §5.1.3: `Ärger` is `&AMQ-rger`, `R&D` is `R&-D`); this module encodes
//! and decodes that form, decides which form a caller's name is in, and quotes a name for
//! a command line. Pure; no I/O. (The `utf7-imap` crate was not used: its decoder panics
//! on malformed input and it pulls in `regex` and an old `base64`.)

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// The name to send to the server for a name a caller gave: a name that already is valid
/// modified UTF-7 (every plain ASCII name without `&`, and names copied from a raw LIST)
/// is sent as it is; anything else (`Ärger`, `R&D`) is encoded.
pub fn to_wire(name: &str) -> String {
    match decode(name) {
        Some(_) => name.to_owned(),
        None => encode(name),
    }
}

/// The name as a person reads it: decoded when `wire` is valid modified UTF-7, else as is.
pub fn from_wire(wire: &str) -> String {
    decode(wire).unwrap_or_else(|| wire.to_owned())
}

/// Encodes `name` in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_printable_ascii(c) {
            flush_utf16(&mut out, &mut pending);
            match c {
                '&' => out.push_str("&-"),
                c => out.push(c),
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush_utf16(&mut out, &mut pending);
    out
}

/// Decodes modified UTF-7; `None` when `wire` is not valid (bytes outside printable ASCII,
/// an unterminated or malformed `&...-` run, or a run that encodes printable ASCII).
pub fn decode(wire: &str) -> Option<String> {
    if !wire.chars().all(is_printable_ascii) {
        return None;
    }
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find('-')?;
        match &after[..end] {
            "" => out.push('&'),
            run => out.push_str(&decode_run(run)?),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The server spelling of a name a person gave, placed in the personal namespace: levels
/// written with `/` take the server's `delimiter` (`Projects/2026` is `Projects.2026` where
/// the delimiter is `.`), and the namespace `prefix` (`INBOX.`) goes in front unless the
/// name already starts with it or is INBOX itself. Then encoded as [`to_wire`] does.
pub fn place(name: &str, delimiter: Option<&str>, prefix: &str) -> String {
    let leveled = match delimiter {
        Some(d) if d != "/" && !d.is_empty() => name.replace('/', d),
        _ => name.to_owned(),
    };
    match leveled.eq_ignore_ascii_case("INBOX") || has_prefix(&leveled, prefix) {
        true => to_wire(&leveled),
        false => format!("{prefix}{}", to_wire(&leveled)),
    }
}

/// Whether `name` starts with the namespace `prefix` (always true for `""`), its `INBOX`
/// part compared without regard to case as IMAP demands.
pub fn has_prefix(name: &str, prefix: &str) -> bool {
    let Some(head) = name.get(..prefix.len()) else {
        return false;
    };
    match prefix.get(..5) {
        Some(inbox) if inbox.eq_ignore_ascii_case("INBOX") => {
            head[..5].eq_ignore_ascii_case("INBOX") && head[5..] == prefix[5..]
        }
        _ => head == prefix,
    }
}

/// `name` as an IMAP quoted string. Only for names already free of CR, LF and NUL (every
/// `to_wire` result is printable ASCII).
pub fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn is_printable_ascii(c: char) -> bool {
    (' '..='~').contains(&c)
}

fn flush_utf16(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|unit| unit.to_be_bytes()).collect();
    out.push('&');
    out.push_str(&STANDARD_NO_PAD.encode(bytes).replace('/', ","));
    out.push('-');
    pending.clear();
}

/// One `&...-` run: modified base64 of UTF-16BE that must not encode printable ASCII.
fn decode_run(run: &str) -> Option<String> {
    let bytes = STANDARD_NO_PAD.decode(run.replace(',', "/")).ok()?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    let text = String::from_utf16(&units).ok()?;
    match text.chars().any(is_printable_ascii) {
        true => None,
        false => Some(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_the_rfc_forms() {
        let cases = [
            ("INBOX", "INBOX"),
            ("Ärger", "&AMQ-rger"),
            ("R&D", "R&-D"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("théâtre", "th&AOkA4g-tre"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("📬 Post", "&2D3c7A- Post"),
            ("a&&b", "a&-&-b"),
            ("", ""),
        ];
        for (name, wire) in cases {
            assert_eq!(encode(name), wire, "encode {name}");
            assert_eq!(decode(wire).as_deref(), Some(name), "decode {wire}");
        }
    }

    #[test]
    fn malformed_wire_names_do_not_decode() {
        let cases = [
            "R&D",       // no closing '-'
            "a&b-c",     // one base64 character is no UTF-16 unit
            "x&AGE-",    // encodes 'a', which must be written as itself
            "Ä",         // not ASCII
            "tab\there", // control character
            "&2D0-",     // a lone surrogate
            "&AMQ=-",    // padding is not allowed
        ];
        for wire in cases {
            assert_eq!(decode(wire), None, "{wire}");
        }
    }

    #[test]
    fn callers_may_give_either_form() {
        let cases = [
            ("Work", "Work"),
            ("Ärger", "&AMQ-rger"),
            ("&AMQ-rger", "&AMQ-rger"),
            ("R&D", "R&-D"),
            ("R&-D", "R&-D"),
            ("Q&A-Team", "Q&-A-Team"),
        ];
        for (given, wire) in cases {
            assert_eq!(to_wire(given), wire, "{given}");
        }
        assert_eq!(from_wire("&AMQ-rger"), "Ärger");
        assert_eq!(from_wire("R&D"), "R&D");
    }

    #[test]
    fn names_go_into_the_personal_namespace_with_the_servers_delimiter() {
        let cases = [
            ("Projects/2026", Some("."), "INBOX.", "INBOX.Projects.2026"),
            ("Projects/2026", Some("/"), "", "Projects/2026"),
            ("Projects/2026", Some("."), "", "Projects.2026"),
            ("Sent", Some("."), "INBOX.", "INBOX.Sent"),
            ("INBOX.Sent", Some("."), "INBOX.", "INBOX.Sent"),
            ("inbox.Sent", Some("."), "INBOX.", "inbox.Sent"),
            ("INBOX", Some("."), "INBOX.", "INBOX"),
            ("INBOXES", Some("."), "INBOX.", "INBOX.INBOXES"),
            ("Ärger/2026", Some("."), "INBOX.", "INBOX.&AMQ-rger.2026"),
            ("Work", None, "", "Work"),
        ];
        for (name, delimiter, prefix, want) in cases {
            assert_eq!(place(name, delimiter, prefix), want, "{name} {prefix}");
        }
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quoted("Work"), r#""Work""#);
        assert_eq!(quoted(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }
}
