//! Opening a logged-in SMTP connection ourselves, not through lettre's transport, so that
//! the socket has TCP_NODELAY: TCP to a resolved address, TLS as the endpoint says
//! (implicit, STARTTLS or none), the greeting and EHLO, then AUTH, all within the connect
//! plus the command time limit and within the cap of connects in progress at once.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Smtp, server_name, smtp_error};
use crate::mail::account::{Security, ServerLogin};
use crate::mail::error::{MailError, Protocol};
use crate::mail::timings::Step;

/// The login methods offered to servers, as lettre's transport does.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// A TLS stream over TCP as lettre wants its streams (for implicit TLS, which we set up
/// ourselves so that the socket has TCP_NODELAY).
#[derive(Debug)]
struct TlsOverTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsOverTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsOverTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsOverTcp {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl Smtp {
    /// A new logged-in connection: TCP (with TCP_NODELAY), TLS as the endpoint says, the
    /// greeting and EHLO, then AUTH; within the connect plus the command time limit.
    pub(super) async fn connect(
        &self,
        login: &ServerLogin,
    ) -> Result<AsyncSmtpConnection, MailError> {
        let endpoint = &login.endpoint;
        let server = server_name(endpoint);
        // A wait in this service's own queue, not the server's answer: the command budget.
        let wait = self.settings.command_timeout;
        let _connecting = match tokio::time::timeout(wait, self.connecting.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(MailError::Protocol("the server is shutting down".into())),
            Err(_) => {
                return Err(MailError::busy(
                    Protocol::Smtp,
                    &server,
                    wait,
                    "a turn to connect (this service's limit of SMTP connects at once is \
                     reached)",
                ));
            }
        };
        let limit = self.settings.connect_timeout + self.settings.command_timeout;
        let started = std::time::Instant::now();
        let connected =
            match tokio::time::timeout(limit, self.connect_unbounded(login, &server)).await {
                Ok(result) => result,
                Err(_) => Err(MailError::timeout(
                    Protocol::Smtp,
                    &server,
                    limit,
                    "connecting and logging in",
                )),
            }
            .map_err(never_reached_the_message);
        let timings = &self.settings.timings;
        timings.record(Protocol::Smtp, Step::Login, started, connected.is_ok());
        connected
    }

    async fn connect_unbounded(
        &self,
        login: &ServerLogin,
        server: &str,
    ) -> Result<AsyncSmtpConnection, MailError> {
        let endpoint = &login.endpoint;
        let password = login.password.as_str();
        let lettre_error = |err: lettre::transport::smtp::Error| smtp_error(server, &err, password);
        let transport_error =
            |err: io::Error| MailError::from_transport(Protocol::Smtp, server, &err);
        let addrs = crate::mail::resolve::addresses(endpoint)
            .await
            .map_err(|unresolved| MailError::Connect {
                protocol: Protocol::Smtp,
                server: server.to_owned(),
                reason: unresolved.describe(endpoint),
            })?;
        let tcp = tokio::time::timeout(
            self.settings.connect_timeout,
            TcpStream::connect(&addrs[..]),
        )
        .await
        .map_err(|_| {
            MailError::timeout(
                Protocol::Smtp,
                server,
                self.settings.connect_timeout,
                "connecting",
            )
        })?
        .map_err(transport_error)?;
        let _ = tcp.set_nodelay(true);
        let hello = ClientId::default();
        let mut connection = match endpoint.security {
            Security::Tls => {
                let name =
                    ServerName::try_from(endpoint.host.clone()).map_err(|_| MailError::Tls {
                        protocol: Protocol::Smtp,
                        server: server.to_owned(),
                        reason: format!("{} is not a valid host name", endpoint.host),
                    })?;
                let tls = self
                    .settings
                    .tls
                    .connector()
                    .connect(name, tcp)
                    .await
                    .map_err(transport_error)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsOverTcp(tls)), &hello)
                    .await
                    .map_err(lettre_error)?
            }
            Security::Starttls => {
                let mut connection =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello)
                        .await
                        .map_err(lettre_error)?;
                if !connection.can_starttls() {
                    return Err(MailError::Tls {
                        protocol: Protocol::Smtp,
                        server: server.to_owned(),
                        reason: "the server does not offer STARTTLS on this port".into(),
                    });
                }
                let parameters = self.settings.tls.smtp_parameters(&endpoint.host)?;
                connection
                    .starttls(parameters, &hello)
                    .await
                    .map_err(lettre_error)?;
                connection
            }
            Security::Plain => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello)
                .await
                .map_err(lettre_error)?,
        };
        let credentials = Credentials::new(login.username.clone(), login.password.clone());
        // lettre knows XOAUTH2 only: an OAUTHBEARER provider's SMTP server gets XOAUTH2,
        // which the servers that take one take too (Gmail, Microsoft 365, Dovecot).
        let mechanisms: &[Mechanism] = match endpoint.sasl {
            Some(_) => &crate::mail::sasl::SMTP_MECHANISMS,
            None => &MECHANISMS,
        };
        connection
            .auth(mechanisms, &credentials)
            .await
            .map_err(lettre_error)?;
        Ok(connection)
    }
}

/// A time limit that ran out while connecting or logging in, told as what it is for a
/// send: the connection never got as far as the message, so nothing was sent (a timeout
/// would read as "may have been sent").
fn never_reached_the_message(err: MailError) -> MailError {
    match err {
        MailError::Timeout {
            protocol,
            server,
            limit,
            what,
        } => MailError::Connect {
            protocol,
            server,
            reason: format!(
                "no answer within {} s while {what}",
                limit.as_secs_f64().ceil() as u64
            ),
        },
        other => other,
    }
}
