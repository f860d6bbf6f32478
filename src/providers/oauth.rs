//! A provider's OAuth 2.0 sign-in (`[provider.oauth]` in the providers file): where its
//! authorization and token endpoints are, this server's client there (the secret is read
//! from a named environment variable or a secret file, never from this one), the scopes to ask for, the
//! SASL mechanism its IMAP and SMTP servers take the access token with, and how the
//! mailbox address is learnt (the OIDC id_token's `email`, verified against the
//! provider's JWKS, or a userinfo URL). Checked once at start-up; nothing here connects.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use url::Url;

use crate::mail::sasl::OAuthMechanism;

/// The `[provider.oauth]` table.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// This server's client id at the provider.
    pub client_id: String,
    /// The name of the environment variable that holds the client secret (or use
    /// `client_secret_file`: exactly one of the two).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A file holding the client secret (a mounted secret, e.g. `/run/secrets/google`).
    #[serde(default)]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// The secret itself, read when the file is loaded.
    #[serde(skip)]
    pub client_secret: String,
    /// The scopes asked for: the mailbox scope, `openid email` for the address and what
    /// the provider needs for a refresh token (`offline_access` at Microsoft).
    pub scopes: Vec<String>,
    /// How IMAP and SMTP take the access token (SMTP always uses XOAUTH2: lettre has no
    /// OAUTHBEARER).
    pub mechanism: OAuthMechanism,
    /// Where the mailbox address comes from.
    pub address: AddressSource,
    /// Extra query parameters of the authorization request (Google's
    /// `access_type = "offline"` and `prompt = "consent"` for a refresh token).
    #[serde(default)]
    pub authorization_params: BTreeMap<String, String>,
    /// The redirect URI registered at the provider; `BASE_URL/oauth/provider/callback`
    /// when left out.
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

/// How the mailbox address of a sign-in is learnt from the provider.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AddressSource {
    /// A claim of the id_token of the code exchange, its signature checked with the
    /// provider's keys (`jwks_uri`), its `iss` (`{tenantid}` stands for the token's `tid`
    /// claim, for Microsoft's multi-tenant endpoint), `aud` and `exp` checked.
    IdToken {
        issuer: String,
        jwks_uri: String,
        /// The claim holding the address (`email`; Microsoft: `preferred_username`).
        #[serde(default = "default_claim")]
        claim: String,
        /// Whether `email_verified` must be true (Google sends it; Microsoft does not).
        #[serde(default = "default_true")]
        require_verified: bool,
    },
    /// A userinfo endpoint asked with the access token; `claim` of its JSON.
    Userinfo {
        url: String,
        #[serde(default = "default_claim")]
        claim: String,
    },
}

fn default_claim() -> String {
    "email".to_string()
}

fn default_true() -> bool {
    true
}

impl fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("authorization_endpoint", &self.authorization_endpoint)
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret_env", &self.client_secret_env)
            .field("client_secret_file", &self.client_secret_file)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("mechanism", &self.mechanism)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl OAuthSettings {
    /// Reads the client secret with `env` and checks every URL and field; an error is
    /// one sentence naming the field.
    pub fn prepare(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        check_url("authorization_endpoint", &self.authorization_endpoint)?;
        check_url("token_endpoint", &self.token_endpoint)?;
        match &self.address {
            AddressSource::IdToken {
                issuer, jwks_uri, ..
            } => {
                check_url(
                    "address.id_token.issuer",
                    &issuer.replace("{tenantid}", "t"),
                )?;
                check_url("address.id_token.jwks_uri", jwks_uri)?;
            }
            AddressSource::Userinfo { url, .. } => check_url("address.userinfo.url", url)?,
        }
        if let Some(uri) = &self.redirect_uri {
            check_url("redirect_uri", uri)?;
        }
        if self.client_id.trim().is_empty() {
            return Err("oauth.client_id is empty".into());
        }
        if self.scopes.iter().all(|s| s.trim().is_empty()) {
            return Err("oauth.scopes is empty: name the mailbox scope at least".into());
        }
        self.client_secret = self.read_secret(env)?;
        Ok(())
    }

    fn read_secret(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        match (&self.client_secret_env, &self.client_secret_file) {
            (Some(name), None) => {
                let name = name.trim();
                env(name).filter(|v| !v.trim().is_empty()).map(|v| v.trim().to_string()).ok_or_else(|| {
                    format!("oauth.client_secret_env names {name}, which is not set: set it to the OAuth client secret")
                })
            }
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|v| v.trim().to_string())
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    format!("oauth.client_secret_file {} cannot be read or is empty", path.display())
                }),
            _ => Err("oauth needs exactly one of client_secret_env (an environment variable's name) and client_secret_file".into()),
        }
    }

    /// The scopes as one space-separated string.
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }
}

/// An https URL, or http on a loopback host (a provider on this machine, for tests).
fn check_url(field: &str, value: &str) -> Result<(), String> {
    let url = Url::parse(value).map_err(|e| format!("oauth.{field} is not a URL ({e})"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "oauth.{field} must be an https URL (http only on loopback): {value}"
        )),
    }
}
