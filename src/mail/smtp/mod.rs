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
//! Sending reuses connections ([`pool`]): idle ones are kept per account, found by the
//! same keyed hash of endpoint and credentials as the IMAP pool and under the same bounds
//! ([`PoolSettings`], [`crate::mail::reuse`]); each is checked with NOOP before reuse. A
//! connection that broke or timed out is dropped; a refused login closes the account's
//! idle connections. Login checks always connect anew. Connects in progress (TCP, TLS,
//! greeting, AUTH) are capped over all accounts ([`Smtp::with_max_connecting`]), so a
//! flood of connects to a server that never greets cannot open sockets without bound.
//!
//! # Layout
//! - [`connect`]: opening a logged-in connection (TCP_NODELAY, TLS, EHLO, AUTH).
//! - [`pool`]: the kept connections per account and the per-account send limit.
//! - [`errors`]: lettre's errors as `MailError`s.

mod connect;
mod errors;
mod pool;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::mail::account::{Endpoint, ServerLogin};
use crate::mail::error::{MailError, Protocol};
use crate::mail::reuse::{KeyMaker, PoolKey, PoolSettings};
use crate::mail::settings::MailSettings;
use crate::mail::timings::Step;
pub(crate) use errors::smtp_error;
use pool::{Parked, SmtpPool, quit_all, spawn_quit};

/// How long a NOOP check of an idle connection or a QUIT may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

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
        let started = Instant::now();
        let outcome = tokio::time::timeout(limit, connection.send(envelope, data)).await;
        let sent = matches!(outcome, Ok(Ok(_)));
        (self.settings.timings).record(Protocol::Smtp, Step::Send, started, sent);
        let result = match outcome {
            Ok(Ok(_accepted)) => Ok(()),
            // No reply code: the connection broke (cut, reset, TLS failure) mid-transaction.
            Ok(Err(err)) if err.status().is_none() && !err.is_client() => {
                tracing::debug!(%server, error = %err, "SMTP connection lost while sending");
                return Err(MailError::ConnectionLost {
                    protocol: Protocol::Smtp,
                    server: server.to_owned(),
                    what: "it was taking the message".into(),
                });
            }
            Ok(Err(err)) => Err(smtp_error(server, &err, &login.password)),
            Err(_) => {
                return Err(MailError::timeout(
                    Protocol::Smtp,
                    server,
                    limit,
                    "taking the message",
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
}

fn server_name(endpoint: &Endpoint) -> String {
    format!("{}:{}", endpoint.host, endpoint.port)
}
