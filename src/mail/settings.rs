//! `MailSettings`: what every IMAP and SMTP connection shares (TLS trust, time limits).
//! Built once at start-up and cloned cheaply into each request.

use std::time::Duration;

use super::timings::Timings;
use super::tls::TlsSettings;

/// Shared connection settings; cloning is cheap (the TLS configuration is behind an `Arc`).
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// Whom to trust.
    pub tls: TlsSettings,
    /// Limit for opening a connection: DNS, TCP and the TLS handshake.
    pub connect_timeout: Duration,
    /// Limit for each step after that: greeting, STARTTLS, login, every command.
    pub command_timeout: Duration,
    /// Where connect+login and command round trips are timed (nowhere by default).
    pub timings: Timings,
}

impl MailSettings {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

    /// Settings with the default time limits (10 s to connect, 30 s per command).
    pub fn new(tls: TlsSettings) -> Self {
        MailSettings {
            tls,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
            timings: Timings::default(),
        }
    }
}
