//! Turning async-imap errors into `MailError`s. async-imap reports NO and BAD answers as
//! Debug-formatted text (`code: None, info: Some("...")`); this module digs the server's
//! own sentence out of that and decides which failures mean "wrong password". A response
//! async-imap cannot parse is quoted only by its start, escaped: a hostile server's bytes
//! (up to a whole 2 MiB line) never reach a message.

use std::io;

use async_imap::error::{Error as ImapError, ParseError};

use super::guard::Refusal;
use crate::mail::error::{MailError, Protocol, describe_io_error, first_line_capped, redact};

/// Response codes on a NO to LOGIN that do not mean the credentials are wrong.
const NOT_CREDENTIAL_CODES: [&str; 5] = [
    "[UNAVAILABLE]",
    "[PRIVACYREQUIRED]",
    "[LIMIT]",
    "[SERVERBUG]",
    "[INUSE]",
];

/// How many characters of a response the client cannot parse an error message quotes.
const QUOTED_CHARS: usize = 60;

/// What async-imap writes between nom's error and the Debug-quoted bytes it could not
/// parse, in the io error it returns for them.
const PARSE_FAILURE_MARKER: &str = " during parsing of \"";

/// Maps an error of any command after login.
pub(crate) fn command_error(server: &str, err: ImapError) -> MailError {
    match err {
        ImapError::No(text) | ImapError::Bad(text) => {
            MailError::server_said(Protocol::Imap, &server_text(&text))
        }
        ImapError::Io(io) => io_error(server, &io),
        ImapError::ConnectionLost => {
            MailError::Protocol(format!("the IMAP server {server} closed the connection"))
        }
        ImapError::Validate(invalid) => MailError::Protocol(format!(
            "a name or value contains a character IMAP cannot send ({invalid})"
        )),
        ImapError::Append => {
            MailError::server_said(Protocol::Imap, "the message could not be stored")
        }
        ImapError::Parse(parse) => MailError::Protocol(format!(
            "could not understand the IMAP server {server}: {}",
            describe_parse_error(&parse)
        )),
        other => MailError::Protocol(first_line_capped(&other.to_string())),
    }
}

/// Maps an io error: a refusal of the response guard, a response async-imap could not
/// parse (quoted by its start), or a failed connection.
fn io_error(server: &str, io: &io::Error) -> MailError {
    if let Some(refusal) = Refusal::of(io) {
        return MailError::Protocol(format!("{refusal} (IMAP server {server})"));
    }
    if let Some(quoted) = unparsable_response(io) {
        return MailError::Protocol(format!(
            "the IMAP server {server} sent a response that is not valid IMAP: {quoted}"
        ));
    }
    MailError::Protocol(format!(
        "the connection to the IMAP server {server} failed: {}",
        describe_io_error(io)
    ))
}

/// The start of the response in async-imap's "could not parse" io error, quoted.
fn unparsable_response(io: &io::Error) -> Option<String> {
    if io.kind() != io::ErrorKind::Other {
        return None;
    }
    let message = io.get_ref()?.to_string();
    let (_, escaped) = message.split_once(PARSE_FAILURE_MARKER)?;
    Some(quote_escaped(escaped))
}

/// A parse error in words, quoting at most the start of the server's text.
fn describe_parse_error(parse: &ParseError) -> String {
    let lossy = |bytes: &[u8]| {
        let head = &bytes[..bytes.len().min(4 * QUOTED_CHARS)];
        quoted_start(&String::from_utf8_lossy(head))
    };
    match parse {
        ParseError::Invalid(bytes) => {
            format!("a status response that is not valid IMAP: {}", lossy(bytes))
        }
        ParseError::DataNotUtf8(bytes, _) => format!("text that is not UTF-8: {}", lossy(bytes)),
        ParseError::Unexpected(response) => {
            format!("an unexpected response: {}", quoted_start(response))
        }
        other => first_line_capped(&other.to_string()),
    }
}

/// The start of a server's `text` for a message: at most [`QUOTED_CHARS`] characters in
/// quotes, control characters escaped as Rust escapes them, `…` after the quote when cut.
pub(crate) fn quoted_start(text: &str) -> String {
    let head: String = text.chars().take(QUOTED_CHARS + 1).collect();
    let debug = format!("{head:?}");
    quote_escaped(&debug[1..])
}

/// `escaped` is the inside of a Debug-quoted string, up to its closing quote (and maybe
/// more): its first [`QUOTED_CHARS`] characters in quotes, never cutting an escape such
/// as `\u{1b}` in two, with `…` when there was more.
fn quote_escaped(escaped: &str) -> String {
    let mut quoted = String::from('"');
    let mut shown = 0;
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            break;
        }
        if shown == QUOTED_CHARS {
            quoted.push_str("\"…");
            return quoted;
        }
        shown += 1;
        quoted.push(c);
        if c == '\\' {
            push_rest_of_escape(&mut quoted, &mut chars);
        }
    }
    quoted.push('"');
    quoted
}

/// After a backslash: the escaped character, or all of a `u{...}` escape.
fn push_rest_of_escape(quoted: &mut String, chars: &mut std::str::Chars<'_>) {
    let Some(first) = chars.next() else { return };
    quoted.push(first);
    if first != 'u' {
        return;
    }
    for c in chars.by_ref() {
        quoted.push(c);
        if c == '}' {
            return;
        }
    }
}

/// Maps an error of LOGIN: a NO means the credentials were refused, unless its response
/// code says the server is unavailable or wants TLS first.
pub(crate) fn login_error(server: &str, err: ImapError, password: &str) -> MailError {
    match err {
        ImapError::No(text) => {
            let text = redact(&server_text(&text), password);
            if NOT_CREDENTIAL_CODES.iter().any(|code| text.contains(code)) {
                MailError::server_said(Protocol::Imap, &text)
            } else {
                MailError::AuthFailed {
                    protocol: Protocol::Imap,
                }
            }
        }
        ImapError::Bad(text) => {
            MailError::server_said(Protocol::Imap, &redact(&server_text(&text), password))
        }
        ImapError::Validate(_) => MailError::Protocol(
            "the username or password contains a line break, which IMAP cannot send".into(),
        ),
        other => command_error(server, other),
    }
}

/// The server's sentence inside async-imap's Debug-formatted NO/BAD text, or the text
/// itself cut to one line when it has no such part.
pub(crate) fn server_text(raw: &str) -> String {
    let found = ["info: Some(\"", "information: Some(\""]
        .iter()
        .find_map(|marker| raw.find(marker).map(|at| &raw[at + marker.len()..]));
    match found {
        Some(rest) => unescape_debug(rest),
        None => first_line_capped(raw),
    }
}

/// Reads a Debug-escaped string up to its closing quote.
fn unescape_debug(rest: &str) -> String {
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') | Some('r') | Some('t') => out.push(' '),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    first_line_capped(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_taken_out_of_async_imap_debug_text() {
        let cases = [
            (
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#,
                "[AUTHENTICATIONFAILED] Authentication failed.",
            ),
            (
                r#"outcome: Outcome { code: None, information: Some("Mailbox doesn't exist: \"X\"") }"#,
                "Mailbox doesn't exist: \"X\"",
            ),
            ("plain text\nsecond", "plain text"),
        ];
        for (raw, want) in cases {
            assert_eq!(server_text(raw), want, "{raw}");
        }
    }

    #[test]
    fn a_login_no_is_an_auth_failure() {
        let raw = r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#;
        let err = login_error("h:993", ImapError::No(raw.into()), "hunter2");
        assert!(err.is_auth_failure());
    }

    #[test]
    fn an_unavailable_server_is_not_an_auth_failure() {
        let raw = r#"code: None, info: Some("[UNAVAILABLE] Temporary failure")"#;
        let err = login_error("h:993", ImapError::No(raw.into()), "hunter2");
        assert!(!err.is_auth_failure());
        assert_eq!(
            err.to_string(),
            "the IMAP server said: [UNAVAILABLE] Temporary failure"
        );
    }

    #[test]
    fn login_messages_never_repeat_the_password() {
        let raw = r#"code: None, info: Some("[PRIVACYREQUIRED] no plaintext for hunter2")"#;
        let err = login_error("h:143", ImapError::No(raw.into()), "hunter2");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let bad = login_error(
            "h:143",
            ImapError::Bad(r#"info: Some("bad hunter2")"#.into()),
            "hunter2",
        );
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    /// async-imap's io error for bytes it cannot parse, as `imap_stream.rs` writes it.
    fn async_imap_parse_failure(response: &str) -> ImapError {
        let nom = format!(
            "Error(Error {{ input: {:?}, code: Tag }})",
            response.as_bytes()
        );
        ImapError::Io(io::Error::other(format!(
            "{nom} during parsing of {:?}",
            response
        )))
    }

    #[test]
    fn an_unparsable_response_is_quoted_by_its_start_only() {
        let junk = format!("* 1 FETCH \x1b[2J\x07{}TAIL\r\n", "x".repeat(2 << 20));
        let text = command_error("h:993", async_imap_parse_failure(&junk)).to_string();
        let filler = "x".repeat(QUOTED_CHARS - 15);
        assert_eq!(
            text,
            format!(
                "mail protocol error: the IMAP server h:993 sent a response that is not \
                 valid IMAP: \"* 1 FETCH \\u{{1b}}[2J\\u{{7}}{filler}\"…"
            )
        );
    }

    #[test]
    fn a_short_unparsable_response_is_quoted_whole() {
        let text = command_error("h:993", async_imap_parse_failure("HTTP/1.1 400 \"x\"\r\n"));
        assert!(
            text.to_string()
                .ends_with(r#"not valid IMAP: "HTTP/1.1 400 \"x\"\r\n""#),
            "{text}"
        );
    }

    #[test]
    fn quoting_escapes_control_characters_and_never_cuts_an_escape() {
        assert_eq!(quoted_start("a\u{1b}b"), r#""a\u{1b}b""#);
        let escapes = "\u{7}".repeat(QUOTED_CHARS + 5);
        let quoted = quoted_start(&escapes);
        assert_eq!(quoted, format!("\"{}\"…", r"\u{7}".repeat(QUOTED_CHARS)));
        assert!(!quoted.chars().any(char::is_control), "{quoted}");
    }

    #[test]
    fn parse_errors_quote_at_most_the_start_of_the_bytes() {
        let bytes = [b"\x1b]0;title\x07".as_slice(), &[b'y'; 100_000]].concat();
        for err in [
            ImapError::Parse(ParseError::Invalid(bytes.clone())),
            ImapError::Parse(ParseError::Unexpected(
                String::from_utf8(bytes.clone()).unwrap(),
            )),
        ] {
            let text = command_error("h:993", err).to_string();
            assert!(text.len() < 200, "short: {text}");
            assert!(text.contains(r"\u{1b}]0;title\u{7}yyy"), "{text}");
            assert!(!text.chars().any(char::is_control), "{text}");
        }
    }

    #[test]
    fn connection_loss_names_the_server() {
        let err = command_error("h:993", ImapError::ConnectionLost);
        assert_eq!(
            err.to_string(),
            "mail protocol error: the IMAP server h:993 closed the connection"
        );
    }
}
