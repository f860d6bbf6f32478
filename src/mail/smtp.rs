//! SMTP: the one function that builds a lettre transport for a `ServerLogin` (implicit
//! TLS, STARTTLS or plain, trusting what `TlsSettings` trusts, with credentials) and a
//! login check over it, and [`Smtp::send`], which hands exact message bytes to the server.
//! Turning lettre's errors into `MailError`s lives here too. Composing lives in
//! [`crate::mail::compose`], the whole send flow in [`crate::mail::outbox`].

use std::error::Error as _;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::mail::account::{Endpoint, Security, ServerLogin};
use crate::mail::error::{MailError, Protocol, find_io_error, find_tls_error, one_line, redact};
use crate::mail::settings::MailSettings;

/// The lettre transport type used for sending.
pub type SmtpTransport = AsyncSmtpTransport<Tokio1Executor>;

/// Builds SMTP transports and checks SMTP logins; cheap to clone.
#[derive(Clone, Debug)]
pub struct Smtp {
    settings: MailSettings,
}

impl Smtp {
    pub fn new(settings: MailSettings) -> Self {
        Smtp { settings }
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// A transport that logs in as `login`. lettre bounds only the TCP connect by the
    /// connect timeout; callers bound each use (see [`Smtp::check_login`]). Must be called
    /// inside a tokio runtime: lettre's pool starts a background task when it is built.
    pub fn transport(&self, login: &ServerLogin) -> Result<SmtpTransport, MailError> {
        let endpoint = &login.endpoint;
        let credentials = Credentials::new(login.username.clone(), login.password.clone());
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host.as_str())
                .port(endpoint.port)
                .tls(self.tls_mode(endpoint)?)
                .credentials(credentials)
                .timeout(Some(self.settings.connect_timeout))
                .build(),
        )
    }

    /// Connects, logs in and leaves: proves the endpoint and credentials work.
    pub async fn check_login(&self, login: &ServerLogin) -> Result<(), MailError> {
        let server = server_name(&login.endpoint);
        let transport = self.transport(login)?;
        let limit = self.settings.connect_timeout + self.settings.command_timeout;
        let outcome = tokio::time::timeout(limit, transport.test_connection()).await;
        match outcome {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(MailError::Protocol(format!(
                "the SMTP server {server} stopped answering after login"
            ))),
            Ok(Err(err)) => Err(smtp_error(&server, &err, &login.password)),
            Err(_) => Err(MailError::timeout(
                Protocol::Smtp,
                &server,
                limit,
                "connecting and logging in",
            )),
        }
    }

    /// Sends `message`, exactly these bytes (`Message::formatted()`), to the envelope's
    /// recipients as `login`. Every recipient is accepted or nothing is sent. A message
    /// that ends with a line break is stored by the recipients with exactly these bytes
    /// (lettre ends DATA with its own CRLF, so one trailing CRLF is not sent twice).
    /// Bounded by the connect plus the command time limit as a whole.
    pub async fn send(
        &self,
        login: &ServerLogin,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<(), MailError> {
        let server = server_name(&login.endpoint);
        let transport = self.transport(login)?;
        let limit = self.settings.connect_timeout + self.settings.command_timeout;
        let data = message.strip_suffix(b"\r\n").unwrap_or(message);
        let outcome = tokio::time::timeout(limit, transport.send_raw(envelope, data)).await;
        match outcome {
            Ok(Ok(_accepted)) => Ok(()),
            Ok(Err(err)) => Err(smtp_error(&server, &err, &login.password)),
            Err(_) => Err(MailError::timeout(
                Protocol::Smtp,
                &server,
                limit,
                "sending the message (it may have been sent anyway: look in the recipient's \
                 mailbox or ask before sending it again)",
            )),
        }
    }

    fn tls_mode(&self, endpoint: &Endpoint) -> Result<Tls, MailError> {
        let parameters = || self.settings.tls.smtp_parameters(&endpoint.host);
        Ok(match endpoint.security {
            Security::Tls => Tls::Wrapper(parameters()?),
            Security::Starttls => Tls::Required(parameters()?),
            Security::Plain => Tls::None,
        })
    }
}

fn server_name(endpoint: &Endpoint) -> String {
    format!("{}:{}", endpoint.host, endpoint.port)
}

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
        one_line(&redact(&err.to_string(), password))
    ))
}

/// A 4xx/5xx reply: 535 means the credentials were refused.
fn negative_reply(code: u16, text: &str) -> MailError {
    match code {
        535 => MailError::AuthFailed {
            protocol: Protocol::Smtp,
        },
        _ => MailError::server_said(Protocol::Smtp, &format!("{code} {}", one_line(text))),
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

    fn login(security: Security) -> ServerLogin {
        ServerLogin {
            endpoint: Endpoint {
                host: "smtp.example.com".into(),
                port: 587,
                security,
            },
            username: "u".into(),
            password: "p".into(),
        }
    }

    fn smtp() -> Smtp {
        Smtp::new(MailSettings::new(crate::mail::TlsSettings::public_roots()))
    }

    #[test]
    fn security_picks_the_lettre_tls_mode() {
        let smtp = smtp();
        let mode = |security| smtp.tls_mode(&login(security).endpoint).unwrap();
        assert!(matches!(mode(Security::Tls), Tls::Wrapper(_)));
        assert!(matches!(mode(Security::Starttls), Tls::Required(_)));
        assert!(matches!(mode(Security::Plain), Tls::None));
    }

    #[tokio::test]
    async fn every_security_builds_a_transport() {
        let smtp = smtp();
        for security in [Security::Tls, Security::Starttls, Security::Plain] {
            assert!(smtp.transport(&login(security)).is_ok(), "{security}");
        }
    }
}
