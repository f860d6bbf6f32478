//! Turning async-imap errors into `MailError`s. async-imap reports NO and BAD answers as
//! Debug-formatted text (`code: None, info: Some("...")`); this module digs the server's
//! own sentence out of that and decides which failures mean "wrong password".

use async_imap::error::Error as ImapError;

use super::guard::Refusal;
use crate::mail::error::{MailError, Protocol, describe_io_error, one_line, redact};

/// Response codes on a NO to LOGIN that do not mean the credentials are wrong.
const NOT_CREDENTIAL_CODES: [&str; 5] = [
    "[UNAVAILABLE]",
    "[PRIVACYREQUIRED]",
    "[LIMIT]",
    "[SERVERBUG]",
    "[INUSE]",
];

/// Maps an error of any command after login.
pub(crate) fn command_error(server: &str, err: ImapError) -> MailError {
    match err {
        ImapError::No(text) | ImapError::Bad(text) => {
            MailError::server_said(Protocol::Imap, &server_text(&text))
        }
        ImapError::Io(io) => match Refusal::of(&io) {
            Some(refusal) => MailError::Protocol(format!("{refusal} (IMAP server {server})")),
            None => MailError::Protocol(format!(
                "the connection to the IMAP server {server} failed: {}",
                describe_io_error(&io)
            )),
        },
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
            one_line(&parse.to_string())
        )),
        other => MailError::Protocol(one_line(&other.to_string())),
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
        None => one_line(raw),
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
    one_line(&out)
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

    #[test]
    fn connection_loss_names_the_server() {
        let err = command_error("h:993", ImapError::ConnectionLost);
        assert_eq!(
            err.to_string(),
            "mail protocol error: the IMAP server h:993 closed the connection"
        );
    }
}
