//! Opening a logged-in IMAP connection for a `ServerLogin`: TCP, then implicit TLS,
//! STARTTLS or nothing as the endpoint's `Security` says, the greeting, then LOGIN. Every
//! step has a time limit and every failure becomes a precise `MailError` (unknown host,
//! refused, timeout, TLS, credentials). Only [`super::Imap`] calls this. Every stream
//! handed to async-imap is a [`GuardedStream`]: the server's bytes pass its limits before
//! the parser sees them.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use async_imap::types::Capabilities;
use async_imap::{Client, Session};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::errors::{command_error, login_error, server_text};
use super::guard::{GuardedStream, ResponseLimits};
use crate::mail::account::{Endpoint, Security, ServerLogin};
use crate::mail::error::{
    MailError, Protocol, describe_io_error, describe_tls_error, find_tls_error,
};
use crate::mail::sasl::{self, OAuthMechanism};
use crate::mail::settings::MailSettings;
use crate::mail::timings::Step;

/// Any byte stream an IMAP session can run over (plain TCP or TLS).
pub trait ImapStream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> ImapStream for T {}

/// The stream type of every session, whatever the security.
pub type BoxedStream = Box<dyn ImapStream>;

/// The async-imap session type used throughout the mail layer.
pub type RawSession = Session<BoxedStream>;

/// A freshly logged-in session and the capabilities the server announced at login.
pub(crate) struct LoggedIn {
    pub session: RawSession,
    pub capabilities: Option<Capabilities>,
}

/// `stream` behind the response limits, as every session's stream.
fn guarded(stream: impl ImapStream + 'static) -> BoxedStream {
    Box::new(GuardedStream::new(stream, ResponseLimits::DEFAULT))
}

/// Connects and logs in as `login` says.
pub(crate) async fn open(
    settings: &MailSettings,
    login: &ServerLogin,
) -> Result<LoggedIn, MailError> {
    let started = std::time::Instant::now();
    let opened = open_untimed(settings, login).await;
    let timings = &settings.timings;
    timings.record(Protocol::Imap, Step::Login, started, opened.is_ok());
    opened
}

async fn open_untimed(settings: &MailSettings, login: &ServerLogin) -> Result<LoggedIn, MailError> {
    let steps = Steps::new(settings, &login.endpoint);
    let client = match login.endpoint.security {
        Security::Tls => steps.implicit_tls().await?,
        Security::Starttls => steps.starttls().await?,
        Security::Plain => steps.plain().await?,
    };
    steps.log_in(client, login).await
}

/// The steps of opening one connection, with the server's name and the time limits.
struct Steps {
    endpoint: Endpoint,
    host: String,
    server: String,
    security: Security,
    connect_timeout: Duration,
    command_timeout: Duration,
    connector: TlsConnector,
}

impl Steps {
    fn new(settings: &MailSettings, endpoint: &Endpoint) -> Self {
        Steps {
            endpoint: endpoint.clone(),
            host: endpoint.host.clone(),
            server: format!("{}:{}", endpoint.host, endpoint.port),
            security: endpoint.security,
            connect_timeout: settings.connect_timeout,
            command_timeout: settings.command_timeout,
            connector: settings.tls.connector(),
        }
    }

    async fn implicit_tls(&self) -> Result<Client<BoxedStream>, MailError> {
        let tcp = self.tcp().await?;
        let tls = self.tls(tcp).await?;
        let mut client = Client::new(guarded(tls));
        self.greeting(&mut client).await?;
        Ok(client)
    }

    async fn starttls(&self) -> Result<Client<BoxedStream>, MailError> {
        let mut client = Client::new(GuardedStream::new(
            self.tcp().await?,
            ResponseLimits::DEFAULT,
        ));
        self.greeting(&mut client).await?;
        self.within(self.command_timeout, "starting TLS (STARTTLS)", async {
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| self.starttls_refused(e))
        })
        .await?;
        let tls = self.tls(client.into_inner().into_inner()).await?;
        // The server sends no second greeting after STARTTLS.
        Ok(Client::new(guarded(tls)))
    }

    async fn plain(&self) -> Result<Client<BoxedStream>, MailError> {
        let tcp = self.tcp().await?;
        let mut client = Client::new(guarded(tcp));
        self.greeting(&mut client).await?;
        Ok(client)
    }

    async fn log_in(
        &self,
        client: Client<BoxedStream>,
        login: &ServerLogin,
    ) -> Result<LoggedIn, MailError> {
        if let Some(mechanism) = login.endpoint.sasl {
            return self.authenticate(client, login, mechanism).await;
        }
        let result = self
            .within(self.command_timeout, "logging in", async {
                client
                    .login_with_capabilities(&login.username, &login.password)
                    .await
                    .map_err(|(err, _client)| login_error(&self.server, err, &login.password))
            })
            .await;
        let (session, capabilities) = result?;
        Ok(LoggedIn {
            session,
            capabilities,
        })
    }

    /// `AUTHENTICATE` with the bearer token in `login.password`. Without SASL-IR (the
    /// greeting's capabilities are not kept), which every server takes: one more round trip.
    async fn authenticate(
        &self,
        client: Client<BoxedStream>,
        login: &ServerLogin,
        mechanism: OAuthMechanism,
    ) -> Result<LoggedIn, MailError> {
        let session = self
            .within(self.command_timeout, "signing in with OAuth", async {
                sasl::authenticate(client, mechanism, &login.username, &login.password, false)
                    .await
                    .map_err(|(failure, _client)| {
                        if let Some(reason) = &failure.server_error {
                            tracing::info!(%reason, "IMAP server refused the bearer token");
                        }
                        login_error(&self.server, failure.error, &login.password)
                    })
            })
            .await?;
        Ok(LoggedIn {
            session,
            capabilities: None,
        })
    }

    /// Resolves the host and opens a TCP connection to the first address that answers.
    async fn tcp(&self) -> Result<TcpStream, MailError> {
        self.within(self.connect_timeout, "connecting", self.tcp_unbounded())
            .await
    }

    async fn tcp_unbounded(&self) -> Result<TcpStream, MailError> {
        let addrs = crate::mail::resolve::addresses(&self.endpoint)
            .await
            .map_err(|unresolved| self.connect_error(unresolved.describe(&self.endpoint)))?;
        let mut last_error = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    return Ok(tcp);
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(match last_error {
            Some(err) => self.connect_error(describe_io_error(&err)),
            None => self.connect_error(format!("the host name {} has no address", self.host)),
        })
    }

    /// Runs the TLS handshake, verifying the certificate against the host name.
    async fn tls<S>(&self, stream: S) -> Result<tokio_rustls::client::TlsStream<S>, MailError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| self.tls_error(format!("{} is not a valid host name", self.host)))?;
        self.within(self.connect_timeout, "negotiating TLS", async {
            self.connector
                .connect(name, stream)
                .await
                .map_err(|err| self.tls_handshake_error(&err))
        })
        .await
    }

    /// Reads the server's first line; it must be OK (or PREAUTH).
    async fn greeting<T: ImapStream>(&self, client: &mut Client<T>) -> Result<(), MailError> {
        let what = match self.security {
            Security::Tls => "waiting for its greeting",
            _ => "waiting for its greeting (if this port expects implicit TLS, choose tls)",
        };
        let response = self
            .within(self.connect_timeout, what, async {
                client
                    .read_response()
                    .await
                    .map_err(|err| command_error(&self.server, err.into()))
            })
            .await?;
        let Some(response) = response else {
            return Err(MailError::Protocol(format!(
                "the IMAP server {} closed the connection before greeting",
                self.server
            )));
        };
        match response.parsed() {
            Response::Data {
                status: Status::Ok | Status::PreAuth,
                ..
            } => Ok(()),
            Response::Data {
                status: Status::Bye,
                outcome,
            } => Err(MailError::server_said(
                Protocol::Imap,
                outcome.information.as_deref().unwrap_or("BYE"),
            )),
            _ => Err(MailError::Protocol(format!(
                "the server {} did not greet like an IMAP server",
                self.server
            ))),
        }
    }

    async fn within<T>(
        &self,
        limit: Duration,
        what: &str,
        step: impl Future<Output = Result<T, MailError>>,
    ) -> Result<T, MailError> {
        match tokio::time::timeout(limit, step).await {
            Ok(result) => result,
            Err(_) => Err(MailError::timeout(
                Protocol::Imap,
                &self.server,
                limit,
                what,
            )),
        }
    }

    fn connect_error(&self, reason: String) -> MailError {
        MailError::Connect {
            protocol: Protocol::Imap,
            server: self.server.clone(),
            reason,
        }
    }

    fn tls_error(&self, reason: String) -> MailError {
        MailError::Tls {
            protocol: Protocol::Imap,
            server: self.server.clone(),
            reason,
        }
    }

    fn tls_handshake_error(&self, err: &std::io::Error) -> MailError {
        let reason = match find_tls_error(err) {
            Some(tls) => describe_tls_error(tls),
            None => format!("during the handshake: {}", describe_io_error(err)),
        };
        self.tls_error(reason)
    }

    fn starttls_refused(&self, err: async_imap::error::Error) -> MailError {
        match err {
            async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => self
                .tls_error(format!(
                    "the server refused STARTTLS ({})",
                    server_text(&text)
                )),
            other => command_error(&self.server, other),
        }
    }
}
