//! The mail account a request acts for: who the person is and how to reach their IMAP
//! and SMTP servers. It travels inside encrypted tokens, so it is (de)serialisable, and
//! its `Debug` never prints a password.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::sasl::OAuthMechanism;

/// How a connection to a mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// A plain connection upgraded with STARTTLS before login (IMAP 143, submission 587).
    Starttls,
    /// No TLS at all; only where the operator asked for it explicitly.
    Plain,
}

impl Security {
    /// The usual protection for a well-known port: 993/465 implicit TLS, else STARTTLS.
    pub fn default_for_port(port: u16) -> Self {
        match port {
            993 | 465 => Security::Tls,
            _ => Security::Starttls,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::Starttls => "starttls",
            Security::Plain => "plain",
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Security {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tls" | "ssl" | "implicit" => Ok(Security::Tls),
            "starttls" => Ok(Security::Starttls),
            "plain" | "none" => Ok(Security::Plain),
            other => Err(format!(
                "unknown security '{other}': use tls, starttls or plain"
            )),
        }
    }
}

/// Where a mail server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// A host a person typed rather than one the operator configured: every connection
    /// checks that the name still resolves only to public addresses (no DNS rebinding
    /// into the server's own network) and connects to the address it checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_only: bool,
    /// How this server takes an OAuth 2.0 bearer token (`xoauth2`, `oauthbearer`): set
    /// for a provider signed in with OAuth, and then the login's `password` is the
    /// upstream access token of the moment (never sealed in a token). `None`: a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<OAuthMechanism>,
}

impl Endpoint {
    /// An endpoint the operator (or a provisioned client) named: any address is allowed.
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> Self {
        Endpoint {
            host: host.into(),
            port,
            security,
            public_only: false,
            sasl: None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} ({})", self.host, self.port, self.security)
    }
}

/// An endpoint plus the credentials to log in there: a password, or (when the endpoint
/// names a SASL mechanism, [`Endpoint::sasl`]) a bearer access token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLogin {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub username: String,
    pub password: String,
}

impl fmt::Debug for ServerLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLogin")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Everything needed to act on one person's mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailAccount {
    /// The address mail is sent from.
    pub email: String,
    /// The display name put on the From header, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub imap: ServerLogin,
    pub smtp: ServerLogin,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_follows_the_well_known_ports() {
        assert_eq!(Security::default_for_port(993), Security::Tls);
        assert_eq!(Security::default_for_port(465), Security::Tls);
        assert_eq!(Security::default_for_port(143), Security::Starttls);
        assert_eq!(Security::default_for_port(587), Security::Starttls);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let login = ServerLogin {
            endpoint: Endpoint::new("h", 993, Security::Tls),
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
    }
}
