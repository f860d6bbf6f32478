//! `MailError`, the one error type of the mail layer, and the helpers that turn what the
//! network, TLS and mail servers report into it. Every message is written for a person or
//! a model to act on: it names the server and the step, never contains a password, and
//! keeps server text to one short line.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use rustls::CertificateError;

/// The longest piece of server text a message repeats.
const MAX_SERVER_TEXT: usize = 200;

/// How many existing folders an "unknown folder" message lists before it says "and N more".
const MAX_LISTED_FOLDERS: usize = 60;

/// Which mail protocol a failure concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Imap,
    Smtp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Imap => "IMAP",
            Protocol::Smtp => "SMTP",
        })
    }
}

/// What can go wrong talking to a mail server.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The TCP connection could not be opened (refused, unknown host, unreachable).
    #[error("could not connect to the {protocol} server {server}: {reason}")]
    Connect {
        protocol: Protocol,
        server: String,
        reason: String,
    },

    /// The server did not answer in time.
    #[error(
        "the {protocol} server {server} did not answer within {} while {what}",
        human_duration(*.limit)
    )]
    Timeout {
        protocol: Protocol,
        server: String,
        limit: Duration,
        what: String,
    },

    /// One of this service's own limits was reached and the call waited its turn longer
    /// than it may: nothing reached the mail server, so a retry is safe.
    #[error(
        "too busy to reach the {protocol} server {server}: waited {} for {what}; nothing was \
         done, try again in a few seconds",
        human_duration(*.limit)
    )]
    Busy {
        protocol: Protocol,
        server: String,
        limit: Duration,
        what: String,
    },

    /// The connection broke while the server was taking something (an SMTP message): it
    /// may or may not have arrived.
    #[error("the connection to the {protocol} server {server} was lost while {what}")]
    ConnectionLost {
        protocol: Protocol,
        server: String,
        what: String,
    },

    /// An operation was cut off midway; the text says what was found done and what not,
    /// and whether retrying is safe.
    #[error("{0}")]
    Interrupted(String),

    /// The TLS handshake failed: untrusted certificate, name mismatch, no TLS on the port.
    #[error("could not open a secure (TLS) connection to the {protocol} server {server}: {reason}")]
    Tls {
        protocol: Protocol,
        server: String,
        reason: String,
    },

    /// The server refused the username or password.
    #[error(
        "the {protocol} server refused the username or password; reconnect with the current \
         password (Gmail/iCloud/Outlook need an app password)"
    )]
    AuthFailed { protocol: Protocol },

    /// A folder that does not exist was named.
    #[error("there is no folder named \"{name}\"; {}", list_folders(.existing))]
    UnknownFolder { name: String, existing: Vec<String> },

    /// The folder was rebuilt since the caller learnt its UIDs: they may name other messages.
    #[error(
        "the folder \"{folder}\" changed (uid_validity is now {actual}, not {expected}): its UIDs \
         may name other messages now; list it again and use the new UIDs"
    )]
    FolderChanged {
        folder: String,
        expected: u32,
        actual: u32,
    },

    /// No message has this UID in the folder (deleted, moved, or never there).
    #[error(
        "there is no message with UID {uid} in \"{folder}\"; it may have been moved or deleted: list the folder again"
    )]
    UnknownMessage { folder: String, uid: u32 },

    /// The caller's request cannot be carried out as given (bad address, bad flag, ...).
    #[error("{0}")]
    InvalidInput(String),

    /// The server answered a command with NO or BAD.
    #[error("the {protocol} server said: {text}")]
    ServerSaid { protocol: Protocol, text: String },

    /// Any other protocol failure (connection lost, unparsable answer, ...).
    #[error("mail protocol error: {0}")]
    Protocol(String),
}

impl MailError {
    /// True when the server refused the credentials: the person must log in again.
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, MailError::AuthFailed { .. })
    }

    /// A `ServerSaid` error with the server's text cut down to one short line.
    pub fn server_said(protocol: Protocol, text: &str) -> Self {
        MailError::ServerSaid {
            protocol,
            text: first_line_capped(text),
        }
    }

    pub(crate) fn timeout(protocol: Protocol, server: &str, limit: Duration, what: &str) -> Self {
        MailError::Timeout {
            protocol,
            server: server.to_owned(),
            limit,
            what: what.to_owned(),
        }
    }

    /// The call waited `limit` for `what` (a permit of this service's own limits) in vain.
    pub(crate) fn busy(protocol: Protocol, server: &str, limit: Duration, what: &str) -> Self {
        MailError::Busy {
            protocol,
            server: server.to_owned(),
            limit,
            what: what.to_owned(),
        }
    }

    /// Classifies an error raised while connecting or during the TLS handshake.
    pub(crate) fn from_transport(
        protocol: Protocol,
        server: &str,
        err: &(dyn StdError + 'static),
    ) -> Self {
        let server = server.to_owned();
        if let Some(tls) = find_tls_error(err) {
            return MailError::Tls {
                protocol,
                server,
                reason: describe_tls_error(tls),
            };
        }
        match find_io_error(err) {
            Some(io) if io.kind() == io::ErrorKind::TimedOut => MailError::Connect {
                protocol,
                server,
                reason: "the connection timed out".into(),
            },
            Some(io) => MailError::Connect {
                protocol,
                server,
                reason: describe_io_error(io),
            },
            None => MailError::Connect {
                protocol,
                server,
                reason: first_line_capped(&err.to_string()),
            },
        }
    }
}

/// The first line of `text`, without protocol noise, at most `MAX_SERVER_TEXT` characters.
pub fn first_line_capped(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no text)");
    if line.chars().count() <= MAX_SERVER_TEXT {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(MAX_SERVER_TEXT).collect();
    cut.push('…');
    cut
}

/// Replaces every occurrence of `secret` in `text`; servers have been seen echoing input.
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.len() < 3 {
        return text.to_owned();
    }
    text.replace(secret, "<redacted>")
}

/// "10 s", or "300 ms" under a second.
fn human_duration(limit: Duration) -> String {
    match limit.as_secs() {
        0 => format!("{} ms", limit.as_millis()),
        secs => format!("{secs} s"),
    }
}

fn list_folders(existing: &[String]) -> String {
    if existing.is_empty() {
        return "the account has no folders".into();
    }
    let shown: Vec<&str> = existing
        .iter()
        .take(MAX_LISTED_FOLDERS)
        .map(String::as_str)
        .collect();
    let more = existing.len().saturating_sub(MAX_LISTED_FOLDERS);
    match more {
        0 => format!("existing folders: {}", shown.join(", ")),
        n => format!("existing folders: {} and {n} more", shown.join(", ")),
    }
}

/// Why a TCP connection failed, in words.
pub(crate) fn describe_io_error(err: &io::Error) -> String {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused => "connection refused (nothing listens on that port)".into(),
        K::TimedOut => "the connection timed out".into(),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => {
            "the server closed the connection".into()
        }
        K::HostUnreachable | K::NetworkUnreachable => "the host is unreachable".into(),
        K::AddrNotAvailable => "the address is not available".into(),
        _ => first_line_capped(&err.to_string()),
    }
}

/// Why a TLS handshake failed, in words.
pub(crate) fn describe_tls_error(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => describe_certificate_error(cert),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not answer with TLS; check whether this port expects STARTTLS or \
             implicit TLS"
                .into()
        }
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the TLS handshake ({alert:?})")
        }
        rustls::Error::PeerIncompatible(_) => {
            "the server offers no TLS version or cipher this client accepts".into()
        }
        other => first_line_capped(&other.to_string()),
    }
}

/// What to do about a certificate that is not trusted (verification is never turned off).
const PRIVATE_CA_HINT: &str = "if this mail server really uses a private or self-signed \
    certificate, the operator of this service can trust its CA with MAIL_CA_FILE";

fn describe_certificate_error(err: &CertificateError) -> String {
    match err {
        CertificateError::UnknownIssuer => format!(
            "the server's certificate was not trusted (it is not signed by a known \
             certificate authority); {PRIVATE_CA_HINT}"
        ),
        // webpki's error for a certificate that is its own CA, as self-signed ones are.
        CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => {
            format!(
                "the server's certificate was not trusted (it is self-signed: a certificate \
                 authority's certificate used as the server's own); {PRIVATE_CA_HINT}"
            )
        }
        CertificateError::Other(other) => format!(
            "the server's certificate was not trusted ({}); {PRIVATE_CA_HINT}",
            first_line_capped(&other.to_string())
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "the server's certificate is for another name (name mismatch)".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet".into()
        }
        CertificateError::Revoked => "the server's certificate was revoked".into(),
        other => format!("the server's certificate was not accepted ({other:?})"),
    }
}

/// The first `rustls::Error` in an error's chain, including inside `io::Error`s.
pub(crate) fn find_tls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    chain(err).find_map(|e| {
        e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        })
    })
}

/// The first `io::Error` in an error's chain.
pub(crate) fn find_io_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    chain(err).find_map(|e| e.downcast_ref::<io::Error>())
}

/// An error and its sources. `io::Error::source` skips the wrapped error itself, so the
/// wrapped error is visited explicitly.
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| next_in_chain(e))
}

fn next_in_chain<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match err.downcast_ref::<io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => err.source(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        let cases: Vec<(MailError, &str)> = vec![
            (
                MailError::Connect {
                    protocol: Protocol::Imap,
                    server: "imap.x.com:993".into(),
                    reason: "connection refused".into(),
                },
                "could not connect to the IMAP server imap.x.com:993: connection refused",
            ),
            (
                MailError::timeout(
                    Protocol::Imap,
                    "imap.x.com:993",
                    Duration::from_secs(10),
                    "logging in",
                ),
                "the IMAP server imap.x.com:993 did not answer within 10 s while logging in",
            ),
            (
                MailError::AuthFailed {
                    protocol: Protocol::Smtp,
                },
                "the SMTP server refused the username or password; reconnect with the current \
                 password (Gmail/iCloud/Outlook need an app password)",
            ),
            (
                MailError::UnknownFolder {
                    name: "Archiv".into(),
                    existing: vec!["INBOX".into(), "Archive".into()],
                },
                "there is no folder named \"Archiv\"; existing folders: INBOX, Archive",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn short_limits_are_given_in_milliseconds() {
        let err = MailError::timeout(Protocol::Smtp, "h:25", Duration::from_millis(300), "x");
        assert_eq!(
            err.to_string(),
            "the SMTP server h:25 did not answer within 300 ms while x"
        );
    }

    #[test]
    fn server_text_is_cut_to_one_short_line() {
        let err = MailError::server_said(Protocol::Imap, "\n  first line  \r\nsecond line\n");
        assert_eq!(err.to_string(), "the IMAP server said: first line");

        let long = "x".repeat(1000);
        let MailError::ServerSaid { text, .. } = MailError::server_said(Protocol::Smtp, &long)
        else {
            unreachable!()
        };
        assert_eq!(text.chars().count(), MAX_SERVER_TEXT + 1);
    }

    #[test]
    fn long_folder_lists_are_shortened() {
        let existing: Vec<String> = (0..100).map(|i| format!("F{i}")).collect();
        let msg = MailError::UnknownFolder {
            name: "X".into(),
            existing,
        }
        .to_string();
        assert!(msg.ends_with("F59 and 40 more"), "{msg}");
    }

    #[test]
    fn redact_hides_the_secret() {
        assert_eq!(
            redact("NO bad login hunter2", "hunter2"),
            "NO bad login <redacted>"
        );
        assert_eq!(redact("NO x", ""), "NO x");
    }

    #[test]
    fn only_auth_failed_is_an_auth_failure() {
        assert!(
            MailError::AuthFailed {
                protocol: Protocol::Imap
            }
            .is_auth_failure()
        );
        assert!(!MailError::Protocol("x".into()).is_auth_failure());
    }

    #[test]
    fn tls_errors_inside_io_errors_are_found() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, tls);
        let err = MailError::from_transport(Protocol::Imap, "h:993", &io);
        assert!(
            err.to_string().starts_with(
                "could not open a secure (TLS) connection to the IMAP server h:993: the server's \
                 certificate was not trusted (it is not signed by a known certificate authority)"
            ),
            "{err}"
        );
    }

    #[test]
    fn name_mismatch_is_named() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(describe_tls_error(&tls).contains("name mismatch"));
    }

    #[test]
    fn refused_connections_are_named() {
        let io = io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = MailError::from_transport(Protocol::Smtp, "h:25", &io);
        assert_eq!(
            err.to_string(),
            "could not connect to the SMTP server h:25: connection refused (nothing listens on \
             that port)"
        );
    }
}
