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
    /// Other addresses of this mailbox the person confirmed at sign-in ("Also send as"):
    /// a send may use one of them as its From. Absent in older tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
    pub imap: ServerLogin,
    pub smtp: ServerLogin,
}

/// Another address of the mailbox that mail may be sent from, with its display name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// At most this many "Also send as" addresses are kept (they ride in every token).
pub const MAX_IDENTITIES: usize = 10;

/// The longest "Also send as" entry, name included, so that tokens stay well under their
/// size limit with [`MAX_IDENTITIES`] of them.
pub const MAX_IDENTITY_LEN: usize = 320;

/// Reads an "Also send as" value: addresses separated by commas or new lines, each
/// `Name <addr>` or `addr`. Duplicates and the main address are dropped; at most
/// [`MAX_IDENTITIES`]. The error names the entry that is not an address.
pub fn parse_identities(text: &str, main: &str) -> Result<Vec<Identity>, String> {
    let mut found: Vec<Identity> = Vec::new();
    for entry in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let mailbox: lettre::message::Mailbox = entry
            .parse()
            .map_err(|_| format!("\"{entry}\" is not an email address (use addr@example.com or Name <addr@example.com>)."))?;
        let email = mailbox.email.to_string();
        let seen = email.eq_ignore_ascii_case(main)
            || found.iter().any(|i| i.email.eq_ignore_ascii_case(&email));
        if !seen {
            found.push(Identity {
                email,
                display_name: mailbox.name.filter(|n| !n.trim().is_empty()),
            });
        }
    }
    if found.len() > MAX_IDENTITIES {
        return Err(format!(
            "At most {MAX_IDENTITIES} other addresses can be added; {} were given.",
            found.len()
        ));
    }
    Ok(found)
}

impl MailAccount {
    /// Every address this account may send from: the main one first, then the identities.
    pub fn sending_addresses(&self) -> Vec<String> {
        std::iter::once(self.email.clone())
            .chain(self.identities.iter().map(|i| i.email.clone()))
            .collect()
    }

    /// The identity with this address (compared case-insensitively), if confirmed.
    pub fn identity(&self, email: &str) -> Option<&Identity> {
        self.identities
            .iter()
            .find(|i| i.email.eq_ignore_ascii_case(email))
    }

    /// The account as it sends from `from` (an address, optionally `Name <addr>`): the
    /// main address, or a confirmed identity whose address and display name then stand
    /// in for the main ones (logins unchanged). Anything else is refused with the list of
    /// allowed addresses.
    pub fn sending_as(&self, from: Option<&str>) -> Result<MailAccount, String> {
        let Some(from) = from.map(str::trim).filter(|f| !f.is_empty()) else {
            return Ok(self.clone());
        };
        let address = from
            .parse::<lettre::message::Mailbox>()
            .map(|m| m.email.to_string())
            .unwrap_or_else(|_| from.to_string());
        if address.eq_ignore_ascii_case(&self.email) {
            return Ok(self.clone());
        }
        match self.identity(&address) {
            Some(identity) => Ok(MailAccount {
                email: identity.email.clone(),
                display_name: identity.display_name.clone().or(self.display_name.clone()),
                ..self.clone()
            }),
            None => Err(format!(
                "from \"{from}\" is not an address this account may send from; nothing was sent. Allowed: {}. Other addresses must be added under \"Also send as\" at sign-in.",
                self.sending_addresses().join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account_json() -> serde_json::Value {
        let login = serde_json::json!({"host": "h", "port": 993, "security": "tls", "username": "u", "password": "p"});
        serde_json::json!({"email": "ada@example.test", "imap": login, "smtp": login})
    }

    /// A token sealed before identities existed still opens (no identities), and an
    /// account without identities serialises exactly as before.
    #[test]
    fn an_account_without_identities_reads_and_writes_as_before() {
        let account: MailAccount = serde_json::from_value(account_json()).unwrap();
        assert!(account.identities.is_empty());
        assert!(
            serde_json::to_value(&account)
                .unwrap()
                .get("identities")
                .is_none()
        );
    }

    /// `from` may be the main address or a confirmed identity (any case); anything else
    /// is refused naming every allowed address.
    #[test]
    fn sending_as_allows_only_confirmed_addresses() {
        let mut account: MailAccount = serde_json::from_value(account_json()).unwrap();
        account.identities =
            parse_identities("Ada Work <ada.work@example.test>", &account.email).unwrap();
        let alias = account.sending_as(Some("ADA.WORK@example.test")).unwrap();
        assert_eq!(
            (alias.email.as_str(), alias.display_name.as_deref()),
            ("ada.work@example.test", Some("Ada Work"))
        );
        assert_eq!(
            account
                .sending_as(Some("Me <ada@example.test>"))
                .unwrap()
                .email,
            "ada@example.test"
        );
        let refused = account.sending_as(Some("boss@example.test")).unwrap_err();
        assert!(
            refused.contains("nothing was sent")
                && refused.contains("ada@example.test, ada.work@example.test"),
            "{refused}"
        );
    }

    #[test]
    fn also_send_as_is_read_deduplicated_and_bounded() {
        let found = parse_identities(
            "Ada Work <ada.work@example.test>, ada@example.test\nADA.WORK@example.test\n\nb@example.test",
            "Ada@example.test",
        )
        .unwrap();
        assert_eq!(
            found,
            vec![
                Identity {
                    email: "ada.work@example.test".into(),
                    display_name: Some("Ada Work".into())
                },
                Identity {
                    email: "b@example.test".into(),
                    display_name: None
                },
            ]
        );
        let bad =
            parse_identities("ok@example.test, not an address", "a@example.test").unwrap_err();
        assert!(bad.contains("\"not an address\""), "{bad}");
        let many: Vec<String> = (0..11).map(|n| format!("a{n}@example.test")).collect();
        assert!(
            parse_identities(&many.join(","), "x@example.test")
                .unwrap_err()
                .contains("At most 10")
        );
    }

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
