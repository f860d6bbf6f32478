//! What the two pools of warm connections share, IMAP sessions ([`crate::mail::imap::pool`])
//! and SMTP connections ([`crate::mail::smtp`]): their bounds ([`PoolSettings`]), the
//! longest a connection is reused ([`MAX_SESSION_AGE`]), and the key that names one
//! account's connections ([`PoolKey`], made by a [`KeyMaker`]): an HMAC-SHA-256 under a
//! random per-pool secret of host, port, security, whether the host must be public,
//! username and password, so that no password is kept in clear as a key and a key cannot
//! be tested offline. Nothing here connects or holds a connection.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::mail::account::ServerLogin;

/// The longest a session (IMAP) or connection (SMTP) is reused, however busy: after this it is logged out when given
/// back, so that a password changed at the provider stops working within this time even
/// for an account that never pauses long enough for its sessions to expire.
pub const MAX_SESSION_AGE: Duration = Duration::from_secs(15 * 60);

/// Bounds of a pool (IMAP sessions or SMTP connections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// How long an unused session is kept open; zero turns reuse off (every call logs in).
    pub idle: Duration,
    /// The most calls (and so connections) of one account at once.
    pub per_account: usize,
    /// The most IMAP connections open at once, over all accounts.
    pub max: usize,
}

impl PoolSettings {
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);
    pub const DEFAULT_PER_ACCOUNT: usize = 4;
    pub const DEFAULT_MAX: usize = 500;

    /// Whether sessions are kept after a call at all.
    pub fn reuse(&self) -> bool {
        !self.idle.is_zero()
    }
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            idle: Self::DEFAULT_IDLE,
            per_account: Self::DEFAULT_PER_ACCOUNT,
            max: Self::DEFAULT_MAX,
        }
    }
}

/// Names one account's sessions: a keyed hash of its endpoint and credentials.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolKey([u8; 32]);

impl fmt::Debug for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PoolKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The keys of a pool: HMAC-SHA-256 under a secret drawn once per pool.
#[derive(Clone)]
pub struct KeyMaker {
    secret: [u8; 32],
}

impl KeyMaker {
    pub fn new() -> Self {
        KeyMaker {
            secret: rand::random(),
        }
    }

    /// The key of `login`: every field length-prefixed, so that no two different logins
    /// can spell the same input.
    pub fn key(&self, login: &ServerLogin) -> PoolKey {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes a key of any size");
        let endpoint = &login.endpoint;
        // A bearer token changes every hour (or second): the account is the key, and the
        // mechanism stands where the password would be.
        let secret = match endpoint.sasl {
            Some(mechanism) => mechanism.name().as_bytes(),
            None => login.password.as_bytes(),
        };
        for field in [
            endpoint.host.as_bytes(),
            &endpoint.port.to_be_bytes(),
            endpoint.security.as_str().as_bytes(),
            &[u8::from(endpoint.public_only)],
            &[u8::from(endpoint.sasl.is_some())],
            login.username.as_bytes(),
            secret,
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        PoolKey(mac.finalize().into_bytes().into())
    }
}

impl Default for KeyMaker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for KeyMaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaker(<secret>)")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mail::account::{Endpoint, Security};

    /// A login for key and pool tests.
    pub(crate) fn login(
        host: &str,
        port: u16,
        security: Security,
        user: &str,
        pw: &str,
    ) -> ServerLogin {
        ServerLogin {
            endpoint: Endpoint::new(host, port, security),
            username: user.into(),
            password: pw.into(),
        }
    }

    /// Every field of the login takes part in the key, fields cannot run into each other,
    /// and the same login always gives the same key within one pool.
    #[test]
    fn keys_depend_on_every_field_and_nothing_else() {
        let keys = KeyMaker::new();
        let base = login("imap.example.com", 993, Security::Tls, "ann", "pw");
        let variants = [
            login("imap.example.org", 993, Security::Tls, "ann", "pw"),
            login("imap.example.com", 143, Security::Tls, "ann", "pw"),
            login("imap.example.com", 993, Security::Starttls, "ann", "pw"),
            login("imap.example.com", 993, Security::Tls, "bob", "pw"),
            login("imap.example.com", 993, Security::Tls, "ann", "pw2"),
            ServerLogin {
                endpoint: Endpoint {
                    public_only: true,
                    ..base.endpoint.clone()
                },
                ..base.clone()
            },
            // Shifting a character between username and password is another login.
            login("imap.example.com", 993, Security::Tls, "annp", "w"),
        ];
        assert_eq!(keys.key(&base), keys.key(&base.clone()));
        for other in &variants {
            assert_ne!(keys.key(&base), keys.key(other), "{other:?}");
        }
    }

    /// A login with a bearer token is keyed by its account, never by the token: a
    /// refreshed token finds the warm sessions of the old one; the mechanism still counts.
    #[test]
    fn bearer_logins_are_keyed_by_account_not_token() {
        use crate::mail::sasl::OAuthMechanism;
        let keys = KeyMaker::new();
        let bearer = |token: &str, mechanism| {
            let mut login = login("imap.gmail.com", 993, Security::Tls, "ann@gmail.com", token);
            login.endpoint.sasl = Some(mechanism);
            login
        };
        let first = bearer("ya29.first", OAuthMechanism::XOAuth2);
        assert_eq!(
            keys.key(&first),
            keys.key(&bearer("ya29.second", OAuthMechanism::XOAuth2))
        );
        assert_ne!(
            keys.key(&first),
            keys.key(&bearer("ya29.first", OAuthMechanism::OAuthBearer))
        );
        let password = login(
            "imap.gmail.com",
            993,
            Security::Tls,
            "ann@gmail.com",
            "XOAUTH2",
        );
        assert_ne!(keys.key(&first), keys.key(&password));
    }

    /// The key is keyed by a per-pool secret: another pool derives another key, so a key
    /// seen in memory cannot be checked against guessed passwords.
    #[test]
    fn keys_are_secret_per_pool() {
        let l = login("h", 993, Security::Tls, "u", "p");
        assert_ne!(KeyMaker::new().key(&l), KeyMaker::new().key(&l));
        let debug = format!("{:?}", KeyMaker::new().key(&l));
        assert!(debug.starts_with("PoolKey(") && debug.len() < 24, "{debug}");
    }
}
