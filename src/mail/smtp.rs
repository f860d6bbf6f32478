//! SMTP: logged-in connections for a `ServerLogin` (implicit TLS, STARTTLS or plain,
//! trusting what `TlsSettings` trusts), a login check, and [`Smtp::send`], which hands
//! exact message bytes to the server. Turning lettre's errors into `MailError`s lives here
//! too. Composing lives in [`crate::mail::compose`], the whole send flow in
//! [`crate::mail::outbox`].
//!
//! Connections are opened here, not by lettre's transport, for one reason: lettre's
//! transport leaves Nagle's algorithm on, and its last write of a message (the final
//! `.` line) then waits for the server's delayed ACK, about 40 ms on every send. Our
//! sockets set TCP_NODELAY; lettre still speaks the protocol (`AsyncSmtpConnection`).
//!
//! Sending reuses connections: idle ones are kept per account, found by the same keyed
//! hash of endpoint and credentials as the IMAP pool and under the same bounds
//! ([`PoolSettings`]): idle at most `idle` (a reaper closes them with QUIT), at most
//! `per_account` sends (and so connections) of one account at once, none older than
//! [`MAX_SESSION_AGE`]; each is checked with NOOP before reuse. A connection that broke
//! or timed out is dropped; a refused login closes the account's idle connections.
//! Login checks always connect anew. Connects in progress (TCP, TLS, greeting, AUTH) are
//! capped over all accounts ([`Smtp::with_max_connecting`]), so a flood of connects to a
//! server that never greets cannot open sockets without bound.

use std::collections::HashMap;
use std::error::Error as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::mail::account::{Endpoint, Security, ServerLogin};
use crate::mail::error::{
    MailError, Protocol, find_io_error, find_tls_error, first_line_capped, redact,
};
use crate::mail::imap::pool::{KeyMaker, MAX_SESSION_AGE, PoolKey, PoolSettings};
use crate::mail::settings::MailSettings;

/// How long a NOOP check of an idle connection or a QUIT may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The login methods offered to servers, as lettre's transport does.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// Sends mail and checks SMTP logins; cheap to clone (clones share the kept connections).
#[derive(Clone, Debug)]
pub struct Smtp {
    settings: MailSettings,
    pool: Arc<SmtpPool>,
    /// Connects (TCP, TLS, greeting, AUTH) in progress at once, over all accounts.
    connecting: Arc<Semaphore>,
}

/// SMTP connects in progress at once unless [`Smtp::with_max_connecting`] says otherwise.
pub const DEFAULT_MAX_CONNECTING: usize = 100;

/// Idle connections kept per account.
struct SmtpPool {
    settings: PoolSettings,
    keys: KeyMaker,
    accounts: Mutex<HashMap<PoolKey, Account>>,
    shutdown: CancellationToken,
    reaper_started: AtomicBool,
}

#[derive(Default)]
struct Account {
    sends: Option<Arc<Semaphore>>,
    /// Idle connections, the most recently used last.
    idle: Vec<Parked>,
}

struct Parked {
    connection: AsyncSmtpConnection,
    born: Instant,
    since: Instant,
}

impl std::fmt::Debug for SmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpPool")
            .field("settings", &self.settings)
            .field("accounts", &self.lock().len())
            .finish()
    }
}

impl SmtpPool {
    fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, Account>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sends(&self, key: PoolKey) -> Arc<Semaphore> {
        let per_account = self.settings.per_account;
        Arc::clone(
            self.lock()
                .entry(key)
                .or_default()
                .sends
                .get_or_insert_with(|| Arc::new(Semaphore::new(per_account))),
        )
    }

    /// The most recently used idle connection of `key` that is not too old.
    fn take(&self, key: &PoolKey) -> Option<Parked> {
        let mut accounts = self.lock();
        let idle = &mut accounts.get_mut(key)?.idle;
        while let Some(parked) = idle.pop() {
            if parked.born.elapsed() < MAX_SESSION_AGE {
                return Some(parked);
            }
        }
        None
    }

    /// Keeps a healthy connection for the account's next send; gives it back when unwanted.
    fn park(&self, key: PoolKey, parked: Parked) -> Option<Parked> {
        if self.shutdown.is_cancelled() {
            return Some(parked);
        }
        let mut accounts = self.lock();
        let account = accounts.entry(key).or_default();
        if account.idle.len() >= self.settings.per_account {
            return Some(parked);
        }
        account.idle.push(parked);
        None
    }

    /// Forgets an account with no idle connection and no send running.
    fn forget_if_unused(&self, key: &PoolKey) {
        let mut accounts = self.lock();
        let unused = accounts.get(key).is_some_and(|a| {
            a.idle.is_empty() && a.sends.as_ref().is_none_or(|s| Arc::strong_count(s) == 1)
        });
        if unused {
            accounts.remove(key);
        }
    }

    /// Closes the idle connections of `key` (its login was refused).
    fn evict(&self, key: &PoolKey) -> Vec<Parked> {
        self.lock()
            .get_mut(key)
            .map(|a| std::mem::take(&mut a.idle))
            .unwrap_or_default()
    }

    /// Idle connections past their time, and accounts with nothing left.
    fn take_expired(&self) -> Vec<Parked> {
        let idle = self.settings.idle;
        let mut expired = Vec::new();
        self.lock().retain(|_, account| {
            let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut account.idle)
                .into_iter()
                .partition(|p| p.since.elapsed() < idle && p.born.elapsed() < MAX_SESSION_AGE);
            account.idle = keep;
            expired.extend(gone);
            let busy = account
                .sends
                .as_ref()
                .is_some_and(|s| Arc::strong_count(s) > 1);
            !account.idle.is_empty() || busy
        });
        expired
    }

    fn start_reaper(self: &Arc<Self>) {
        if self.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let period =
            (self.settings.idle / 6).clamp(Duration::from_millis(100), Duration::from_secs(10));
        let weak: Weak<SmtpPool> = Arc::downgrade(self);
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
                let Some(pool) = weak.upgrade() else { return };
                let expired = pool.take_expired();
                drop(pool);
                quit_all(expired).await;
            }
        });
    }
}

/// Says QUIT on each connection (best effort, concurrently, each within a few seconds).
async fn quit_all(parked: Vec<Parked>) {
    futures::future::join_all(parked.into_iter().map(|mut p| async move {
        let _ = tokio::time::timeout(CHECK_TIMEOUT, p.connection.quit()).await;
    }))
    .await;
}

fn spawn_quit(parked: Vec<Parked>) {
    if !parked.is_empty()
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        handle.spawn(quit_all(parked));
    }
}

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
    /// SMTP with the default reuse bounds ([`PoolSettings::default`]).
    pub fn new(settings: MailSettings) -> Self {
        Self::with_pool(settings, PoolSettings::default())
    }

    /// SMTP with the given reuse bounds (`idle` zero: every send connects anew).
    pub fn with_pool(settings: MailSettings, pool: PoolSettings) -> Self {
        Smtp {
            settings,
            pool: Arc::new(SmtpPool {
                settings: PoolSettings {
                    per_account: pool.per_account.max(1),
                    ..pool
                },
                keys: KeyMaker::new(),
                accounts: Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
                reaper_started: AtomicBool::new(false),
            }),
            connecting: Arc::new(Semaphore::new(DEFAULT_MAX_CONNECTING)),
        }
    }

    /// At most `max` SMTP connects in progress at once over all accounts; more wait (at
    /// most the connect time limit) for one to finish.
    pub fn with_max_connecting(mut self, max: usize) -> Self {
        self.connecting = Arc::new(Semaphore::new(max.max(1)));
        self
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// How many idle SMTP connections are kept now.
    pub fn idle_connections(&self) -> usize {
        self.pool.lock().values().map(|a| a.idle.len()).sum()
    }

    /// Stops the reaper and says QUIT on every idle connection.
    pub async fn shutdown(&self) {
        self.pool.shutdown.cancel();
        let idle: Vec<Parked> = self
            .pool
            .lock()
            .values_mut()
            .flat_map(|a| std::mem::take(&mut a.idle))
            .collect();
        quit_all(idle).await;
    }

    /// Connects, logs in and leaves: proves the endpoint and credentials work.
    pub async fn check_login(&self, login: &ServerLogin) -> Result<(), MailError> {
        let mut connection = self.connect(login).await?;
        let _ = tokio::time::timeout(CHECK_TIMEOUT, connection.quit()).await;
        Ok(())
    }

    /// A new logged-in connection: TCP (with TCP_NODELAY), TLS as the endpoint says, the
    /// greeting and EHLO, then AUTH; within the connect plus the command time limit.
    async fn connect(&self, login: &ServerLogin) -> Result<AsyncSmtpConnection, MailError> {
        let endpoint = &login.endpoint;
        let server = server_name(endpoint);
        let wait = self.settings.connect_timeout;
        let _connecting = match tokio::time::timeout(wait, self.connecting.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(MailError::Protocol("the server is shutting down".into())),
            Err(_) => {
                return Err(MailError::timeout(
                    Protocol::Smtp,
                    &server,
                    wait,
                    "waiting for a free connection (this server's limit of SMTP connects \
                     at once is reached)",
                ));
            }
        };
        let limit = self.settings.connect_timeout + self.settings.command_timeout;
        match tokio::time::timeout(limit, self.connect_unbounded(login, &server)).await {
            Ok(result) => result,
            Err(_) => Err(MailError::timeout(
                Protocol::Smtp,
                &server,
                limit,
                "connecting and logging in",
            )),
        }
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
        connection
            .auth(&MECHANISMS, &credentials)
            .await
            .map_err(lettre_error)?;
        Ok(connection)
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
        let data = message.strip_suffix(b"\r\n").unwrap_or(message);
        let key = self.pool.keys.key(login);
        let permit = self.send_permit(key, &server).await?;
        let result = self.send_with(login, key, envelope, data, &server).await;
        drop(permit);
        if !self.pool.settings.reuse() {
            self.pool.forget_if_unused(&key);
        }
        result
    }

    async fn send_with(
        &self,
        login: &ServerLogin,
        key: PoolKey,
        envelope: &Envelope,
        data: &[u8],
        server: &str,
    ) -> Result<(), MailError> {
        let limit = self.settings.connect_timeout + self.settings.command_timeout;
        let (mut connection, born) = match self.warm_connection(&key).await {
            Some(warm) => warm,
            None => match self.connect(login).await {
                Ok(connection) => (connection, Instant::now()),
                Err(err) => {
                    if err.is_auth_failure() {
                        spawn_quit(self.pool.evict(&key));
                    }
                    return Err(err);
                }
            },
        };
        let outcome = tokio::time::timeout(limit, connection.send(envelope, data)).await;
        let result = match outcome {
            Ok(Ok(_accepted)) => Ok(()),
            Ok(Err(err)) => Err(smtp_error(server, &err, &login.password)),
            Err(_) => {
                return Err(MailError::timeout(
                    Protocol::Smtp,
                    server,
                    limit,
                    "sending the message (it may have been sent anyway: look in the recipient's \
                     mailbox or ask before sending it again)",
                ));
            }
        };
        if self.pool.settings.reuse() && !connection.has_broken() {
            let parked = Parked {
                connection,
                born,
                since: Instant::now(),
            };
            match self.pool.park(key, parked) {
                None => self.pool.start_reaper(),
                Some(mut unwanted) => {
                    let _ = tokio::time::timeout(CHECK_TIMEOUT, unwanted.connection.quit()).await;
                }
            }
        } else if !connection.has_broken() {
            let _ = tokio::time::timeout(CHECK_TIMEOUT, connection.quit()).await;
        }
        result
    }

    /// Waits (at most the command time limit) until the account may send once more.
    async fn send_permit(
        &self,
        key: PoolKey,
        server: &str,
    ) -> Result<OwnedSemaphorePermit, MailError> {
        let wait = self.settings.command_timeout;
        match tokio::time::timeout(wait, self.pool.sends(key).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(MailError::timeout(
                Protocol::Smtp,
                server,
                wait,
                &format!(
                    "waiting for one of this account's {} sends to finish (nothing was sent)",
                    self.pool.settings.per_account
                ),
            )),
        }
    }

    /// A kept connection of the account that still answers NOOP.
    async fn warm_connection(&self, key: &PoolKey) -> Option<(AsyncSmtpConnection, Instant)> {
        while let Some(mut parked) = self.pool.take(key) {
            let alive =
                tokio::time::timeout(CHECK_TIMEOUT, parked.connection.test_connected()).await;
            if alive == Ok(true) {
                return Some((parked.connection, parked.born));
            }
        }
        None
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
