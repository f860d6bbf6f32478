//! lettre's SMTP errors as `MailError`s: negative replies by their code (535: the login
//! was refused; so is a bearer token answered with an error challenge), then TLS and
//! network failures; the password is redacted from any text a
//! server echoed, and only the first line of it is kept.

use std::error::Error as _;

use crate::mail::error::{
    MailError, Protocol, find_io_error, find_tls_error, first_line_capped, redact,
};

/// Maps a lettre error: negative replies by their code, then TLS and network failures.
pub(crate) fn smtp_error(
    server: &str,
    err: &lettre::transport::smtp::Error,
    password: &str,
) -> MailError {
    if let Some(code) = err.status() {
        let text = err.source().map(|s| s.to_string()).unwrap_or_default();
        return negative_reply(u16::from(code), &redact(&text, password));
    }
    // XOAUTH2: a server refusing the token sends an error challenge, which lettre does
    // not answer (it stops with this client error instead of reaching the server's 535).
    if err.is_client() && err.to_string().contains("does not expect a challenge") {
        return MailError::AuthFailed {
            protocol: Protocol::Smtp,
        };
    }
    if err.is_client() && err.to_string().contains("authentication mechanism") {
        return MailError::Protocol(format!(
            "the SMTP server {server} offers no login method this client supports on this \
             connection (it may require TLS)"
        ));
    }
    if err.is_tls() || find_tls_error(err).is_some() || find_io_error(err).is_some() {
        return MailError::from_transport(Protocol::Smtp, server, err);
    }
    MailError::Protocol(format!(
        "the SMTP server {server}: {}",
        first_line_capped(&redact(&err.to_string(), password))
    ))
}

/// A 4xx/5xx reply: 535 means the credentials were refused.
fn negative_reply(code: u16, text: &str) -> MailError {
    match code {
        535 => MailError::AuthFailed {
            protocol: Protocol::Smtp,
        },
        _ => MailError::server_said(
            Protocol::Smtp,
            &format!("{code} {}", first_line_capped(text)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_535_is_an_auth_failure_others_are_quoted() {
        assert!(negative_reply(535, "5.7.8 Error: authentication failed").is_auth_failure());
        let other = negative_reply(454, "4.7.0 TLS not available\nmore");
        assert!(!other.is_auth_failure());
        assert_eq!(
            other.to_string(),
            "the SMTP server said: 454 4.7.0 TLS not available"
        );
    }
}
