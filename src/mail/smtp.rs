//! SMTP: the one function that builds a lettre transport for a `ServerLogin` (implicit
//! TLS, STARTTLS or plain, trusting what `TlsSettings` trusts, with credentials) and a
//! login check over it, and [`Smtp::send`], which hands exact message bytes to the server.
//! Turning lettre's errors into `MailError`s lives here too. Composing lives in
//! [`crate::mail::compose`], the whole send flow in [`crate::mail::outbox`].
//!
//! Sending reuses connections: one lettre transport (with lettre's own connection pool)
//! per account, found by the same keyed hash of endpoint and credentials as the IMAP pool
//! and kept under the same bounds ([`PoolSettings`]): connections idle at most `idle`, at
//! most `per_account` sends of one account at once, at most `max / per_account` accounts
//! kept (so at most about `max` idle connections), none older than
//! [`MAX_SESSION_AGE`]. A refused login, a timeout or a broken connection drops the
//! account's transport. Login checks always connect anew.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Semaphore;

use crate::mail::account::{Endpoint, Security, ServerLogin};
use crate::mail::error::{MailError, Protocol, find_io_error, find_tls_error, one_line, redact};
use crate::mail::imap::pool::{KeyMaker, MAX_SESSION_AGE, PoolKey, PoolSettings};
use crate::mail::settings::MailSettings;

/// The lettre transport type used for sending.
pub type SmtpTransport = AsyncSmtpTransport<Tokio1Executor>;

/// Builds SMTP transports, sends and checks SMTP logins; cheap to clone (clones share the
/// warm connections).
#[derive(Clone, Debug)]
pub struct Smtp {
    settings: MailSettings,
    pool: Arc<SmtpPool>,
}

/// The per-account transports kept for reuse.
struct SmtpPool {
    settings: PoolSettings,
    keys: KeyMaker,
    entries: Mutex<HashMap<PoolKey, Entry>>,
}

struct Entry {
    transport: SmtpTransport,
    sends: Arc<Semaphore>,
    born: Instant,
    last_used: Instant,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Most accounts kept: about `max` idle connections in all.
    fn max_accounts(&self) -> usize {
        (self.settings.max / self.settings.per_account.max(1)).max(1)
    }

    /// The account's transport and send permits, made with `build` when there is none
    /// (or it is too old); expired transports of other accounts go, and the least recently
    /// used one when the pool is full.
    fn entry(
        &self,
        key: PoolKey,
        build: impl FnOnce() -> Result<SmtpTransport, MailError>,
    ) -> Result<(SmtpTransport, Arc<Semaphore>), MailError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let idle = self.settings.idle;
        let before = entries.len();
        entries.retain(|_, e| {
            now.saturating_duration_since(e.last_used) < idle
                && now.saturating_duration_since(e.born) < MAX_SESSION_AGE
        });
        if entries.len() < before {
            tracing::debug!(
                dropped = before - entries.len(),
                "idle SMTP transports dropped"
            );
        }
        if let Some(entry) = entries.get_mut(&key) {
            entry.last_used = now;
            return Ok((entry.transport.clone(), Arc::clone(&entry.sends)));
        }
        while entries.len() >= self.max_accounts() {
            let oldest = entries
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.sends) == 1)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k);
            match oldest {
                Some(oldest) => {
                    entries.remove(&oldest);
                }
                // Every kept account is sending: this one sends without a kept transport.
                None => break,
            }
        }
        let entry = Entry {
            transport: build()?,
            sends: Arc::new(Semaphore::new(self.settings.per_account)),
            born: now,
            last_used: now,
        };
        let found = (entry.transport.clone(), Arc::clone(&entry.sends));
        entries.insert(key, entry);
        Ok(found)
    }

    fn drop_account(&self, key: &PoolKey) {
        self.lock().remove(key);
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
                settings: pool,
                keys: KeyMaker::new(),
                entries: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many accounts have a warm SMTP transport now.
    pub fn pooled_accounts(&self) -> usize {
        self.pool.lock().len()
    }

    /// Drops every kept transport (lettre closes their idle connections with QUIT).
    pub async fn shutdown(&self) {
        let entries: Vec<Entry> = self.pool.lock().drain().map(|(_, e)| e).collect();
        for entry in entries {
            entry.transport.shutdown().await;
        }
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

    /// A transport whose lettre pool keeps up to `per_account` connections for `idle`.
    fn pooled_transport(&self, login: &ServerLogin) -> Result<SmtpTransport, MailError> {
        let endpoint = &login.endpoint;
        let credentials = Credentials::new(login.username.clone(), login.password.clone());
        let bounds = self.pool.settings;
        let pool = PoolConfig::new()
            .min_idle(0)
            .max_size(u32::try_from(bounds.per_account).unwrap_or(u32::MAX))
            .idle_timeout(bounds.idle);
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host.as_str())
                .port(endpoint.port)
                .tls(self.tls_mode(endpoint)?)
                .credentials(credentials)
                .timeout(Some(self.settings.connect_timeout))
                .pool_config(pool)
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
        let limit = self.settings.connect_timeout + self.settings.command_timeout;
        let data = message.strip_suffix(b"\r\n").unwrap_or(message);
        if !self.pool.settings.reuse() {
            let transport = self.transport(login)?;
            let outcome = tokio::time::timeout(limit, transport.send_raw(envelope, data)).await;
            return self.sent(&server, login, None, outcome, limit);
        }
        let key = self.pool.keys.key(login);
        let (transport, sends) = self.pool.entry(key, || self.pooled_transport(login))?;
        let wait = self.settings.command_timeout;
        let _permit = match tokio::time::timeout(wait, sends.acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(MailError::timeout(
                    Protocol::Smtp,
                    &server,
                    wait,
                    &format!(
                        "waiting for one of this account's {} sends to finish (nothing was sent)",
                        self.pool.settings.per_account
                    ),
                ));
            }
        };
        let outcome = tokio::time::timeout(limit, transport.send_raw(envelope, data)).await;
        // lettre parks the connection from a task it spawns when the send returns: let it
        // run before this send's permit goes, so that the next send finds it.
        tokio::task::yield_now().await;
        self.sent(&server, login, Some(&key), outcome, limit)
    }

    /// The result of a send; anything but success or a plain negative reply drops the
    /// account's kept transport (`key`), so the next send starts from a fresh connection.
    fn sent(
        &self,
        server: &str,
        login: &ServerLogin,
        key: Option<&PoolKey>,
        outcome: Result<
            Result<lettre::transport::smtp::response::Response, lettre::transport::smtp::Error>,
            tokio::time::error::Elapsed,
        >,
        limit: Duration,
    ) -> Result<(), MailError> {
        let error = match outcome {
            Ok(Ok(_accepted)) => return Ok(()),
            Ok(Err(err)) => smtp_error(server, &err, &login.password),
            Err(_) => MailError::timeout(
                Protocol::Smtp,
                server,
                limit,
                "sending the message (it may have been sent anyway: look in the recipient's \
                 mailbox or ask before sending it again)",
            ),
        };
        let plain_refusal = matches!(error, MailError::ServerSaid { .. });
        if let Some(key) = key
            && !plain_refusal
        {
            self.pool.drop_account(key);
        }
        Err(error)
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
