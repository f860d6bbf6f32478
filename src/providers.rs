//! The mail providers the operator offers on the login page to clients that carry no
//! mail servers of their own (dynamically registered ones): read once from a TOML file at
//! start-up. A person's email domain preselects a provider. A provider with an `oauth`
//! table signs people in with OAuth 2.0 ([`oauth`]) instead of a password.

pub mod oauth;

use std::path::Path;

use serde::Deserialize;

use crate::mail::Endpoint;
use crate::token::MailEndpoints;

pub use oauth::{AddressSource, OAuthSettings};

/// One provider: a name, the email domains it serves, and its servers.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Provider {
    /// Short stable id, used in the login form (`gmail`).
    pub id: String,
    /// Name shown to people (`Gmail`).
    pub name: String,
    /// Email domains that belong to this provider (`gmail.com`).
    #[serde(default)]
    pub domains: Vec<String>,
    pub imap: Endpoint,
    pub smtp: Endpoint,
    /// A hint shown on the login page (e.g. that an app password is needed).
    #[serde(default)]
    pub hint: Option<String>,
    /// What this provider's servers do differently from plain IMAP and SMTP.
    #[serde(default)]
    pub quirks: Quirks,
    /// Sign-in with OAuth 2.0 (`[provider.oauth]`): the login page shows "Sign in with
    /// <name>" and no password fields.
    #[serde(default)]
    pub oauth: Option<OAuthSettings>,
}

/// A provider's differences, as data rather than code (`quirks = { ... }` in the file).
/// Folder names need no entry here: special folders are found by their marks or usual
/// names on every server.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// The SMTP server files a copy of every sent message in Sent itself (Gmail,
    /// Outlook/Exchange): storing another over IMAP would make two.
    #[serde(default)]
    pub smtp_saves_sent: bool,
}

impl Provider {
    /// The provider's servers; with OAuth, each names the SASL mechanism to sign in with.
    pub fn endpoints(&self) -> MailEndpoints {
        let sasl = self.oauth.as_ref().map(|oauth| oauth.mechanism);
        MailEndpoints {
            imap: Endpoint {
                sasl,
                ..self.imap.clone()
            },
            smtp: Endpoint {
                sasl,
                ..self.smtp.clone()
            },
        }
    }
}

#[derive(Deserialize)]
struct ProvidersFile {
    #[serde(default, rename = "provider")]
    providers: Vec<Provider>,
}

/// The operator's providers, in file order.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    list: Vec<Provider>,
}

impl Providers {
    /// Reads and checks the providers file; errors are one line naming the problem.
    pub fn load(path: &Path) -> Result<Providers, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse_with_env(&text, &|name| std::env::var(name).ok())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a providers file whose OAuth client secrets are not needed (none is read).
    pub fn parse(text: &str) -> Result<Providers, String> {
        Self::parse_with_env(text, &|_| None)
    }

    /// Parses a providers file, reading OAuth client secrets with `env`.
    pub fn parse_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Providers, String> {
        let mut file: ProvidersFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut seen = std::collections::HashSet::new();
        for provider in &mut file.providers {
            if provider.id.is_empty() || !seen.insert(provider.id.clone()) {
                return Err(format!(
                    "provider id '{}' is empty or repeated",
                    provider.id
                ));
            }
            if provider.oauth.is_none()
                && (provider.imap.sasl.is_some() || provider.smtp.sasl.is_some())
            {
                return Err(format!(
                    "provider '{}': `sasl` on imap/smtp comes from a [provider.oauth] table's `mechanism`; remove it or add the table",
                    provider.id
                ));
            }
            if let Some(oauth) = &mut provider.oauth {
                oauth
                    .prepare(env)
                    .map_err(|e| format!("provider '{}': {e}", provider.id))?;
            }
        }
        Ok(Providers {
            list: file.providers,
        })
    }

    pub fn new(list: Vec<Provider>) -> Providers {
        Providers { list }
    }

    pub fn all(&self) -> &[Provider] {
        &self.list
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn by_id(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.id == id)
    }

    /// The IMAP hosts of the providers whose SMTP servers file the Sent copy themselves.
    pub fn smtp_saves_sent_hosts(&self) -> Vec<String> {
        self.list
            .iter()
            .filter(|p| p.quirks.smtp_saves_sent)
            .map(|p| p.imap.host.clone())
            .collect()
    }

    /// The provider serving `email`'s domain, if any.
    pub fn for_email(&self, email: &str) -> Option<&Provider> {
        let domain = email.rsplit_once('@')?.1.trim().to_ascii_lowercase();
        self.list
            .iter()
            .find(|p| p.domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Security;

    const SAMPLE: &str = include_str!("../providers.sample.toml");

    #[test]
    fn the_sample_file_parses_and_preselects_by_domain() {
        let providers = Providers::parse(SAMPLE).unwrap();
        let ids: Vec<&str> = providers.all().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["gmail", "outlook", "icloud", "fastmail", "yahoo"]);
        let gmail = providers.for_email("Someone@GMAIL.com").unwrap();
        assert_eq!(gmail.imap.host, "imap.gmail.com");
        assert_eq!(gmail.imap.security, Security::Tls);
        assert_eq!(providers.for_email("a@me.com").unwrap().id, "icloud");
        assert!(providers.for_email("a@example.org").is_none());
        assert!(providers.for_email("not-an-email").is_none());
        assert_eq!(
            providers.smtp_saves_sent_hosts(),
            ["imap.gmail.com", "outlook.office365.com"]
        );
        assert!(!providers.by_id("icloud").unwrap().quirks.smtp_saves_sent);
    }

    /// The sample's commented Google and Microsoft presets parse once uncommented, read
    /// their client secrets from the named variables, and put the mechanism on both servers.
    #[test]
    fn the_oauth_presets_parse_with_their_secrets_from_the_environment() {
        let presets: String = SAMPLE
            .split_once("# [[provider]]")
            .map(|(_, rest)| format!("# [[provider]]{rest}"))
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("# ").or(l.strip_prefix("#")))
            .collect::<Vec<_>>()
            .join("\n");
        let env = |name: &str| Some(format!("secret-of-{name}"));
        let providers = Providers::parse_with_env(&presets, &env).unwrap();
        let google = providers.by_id("gmail-oauth").unwrap();
        let oauth = google.oauth.as_ref().unwrap();
        assert_eq!(oauth.client_secret, "secret-of-GOOGLE_CLIENT_SECRET");
        assert_eq!(oauth.scope(), "openid email https://mail.google.com/");
        assert!(
            !format!("{oauth:?}").contains("secret-of"),
            "Debug hides the secret"
        );
        let endpoints = google.endpoints();
        assert_eq!(
            endpoints.imap.sasl,
            Some(crate::mail::sasl::OAuthMechanism::XOAuth2)
        );
        assert_eq!(endpoints.smtp.sasl, endpoints.imap.sasl);
        let microsoft = providers.by_id("microsoft-oauth").unwrap();
        assert!(matches!(
            &microsoft.oauth.as_ref().unwrap().address,
            AddressSource::IdToken { claim, require_verified: false, .. } if claim == "preferred_username"
        ));
        assert_eq!(providers.by_id("gmail").map(|p| p.oauth.is_some()), None);
    }

    /// Start-up refuses an OAuth block without its secret, with an http URL to a remote
    /// host, or with an unknown field, naming the provider and the field.
    #[test]
    fn bad_oauth_blocks_are_refused_with_the_field_named() {
        let block = |extra: &str, token: &str| {
            format!(
                "[[provider]]\nid='p'\nname='P'\nimap={{host='h',port=993,security='tls'}}\nsmtp={{host='h',port=465,security='tls'}}\n[provider.oauth]\nauthorization_endpoint='https://p.example/auth'\ntoken_endpoint='{token}'\nclient_id='c'\nclient_secret_env='P_SECRET'\nscopes=['mail']\nmechanism='oauthbearer'\naddress={{userinfo={{url='https://p.example/me'}}}}\n{extra}"
            )
        };
        let set = |_: &str| Some("s".to_string());
        let unset = |_: &str| None;
        assert!(Providers::parse_with_env(&block("", "https://p.example/token"), &set).is_ok());
        let missing =
            Providers::parse_with_env(&block("", "https://p.example/token"), &unset).unwrap_err();
        assert!(
            missing.contains("provider 'p'") && missing.contains("P_SECRET"),
            "{missing}"
        );
        let http =
            Providers::parse_with_env(&block("", "http://p.example/token"), &set).unwrap_err();
        assert!(
            http.contains("token_endpoint") && http.contains("https"),
            "{http}"
        );
        assert!(Providers::parse_with_env(&block("", "http://127.0.0.1:9/token"), &set).is_ok());
        let unknown =
            Providers::parse_with_env(&block("client_secret='x'", "https://p.example/t"), &set)
                .unwrap_err();
        assert!(unknown.contains("client_secret"), "{unknown}");
        let sasl_alone = "[[provider]]\nid='p'\nname='P'\nimap={host='h',port=993,security='tls',sasl='xoauth2'}\nsmtp={host='h',port=465,security='tls'}\n";
        let refused = Providers::parse_with_env(sasl_alone, &set).unwrap_err();
        assert!(refused.contains("sasl"), "{refused}");
    }

    #[test]
    fn repeated_ids_and_bad_files_are_refused() {
        let one = "[[provider]]\nid='x'\nname='X'\nimap={host='h',port=993,security='tls'}\nsmtp={host='h',port=465,security='tls'}\n";
        assert!(
            Providers::parse(&format!("{one}{one}"))
                .unwrap_err()
                .contains("repeated")
        );
        assert!(Providers::parse("[[provider]]\nid='x'").is_err());
        assert!(Providers::parse("").unwrap().is_empty());
    }
}
