//! The mail providers the operator offers on the login page to clients that carry no
//! mail servers of their own (dynamically registered ones): read once from a TOML file at
//! start-up. A person's email domain preselects a provider.

use std::path::Path;

use serde::Deserialize;

use crate::mail::Endpoint;
use crate::token::MailEndpoints;

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
    pub fn endpoints(&self) -> MailEndpoints {
        MailEndpoints {
            imap: self.imap.clone(),
            smtp: self.smtp.clone(),
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
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Providers, String> {
        let file: ProvidersFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut seen = std::collections::HashSet::new();
        for provider in &file.providers {
            if provider.id.is_empty() || !seen.insert(provider.id.clone()) {
                return Err(format!(
                    "provider id '{}' is empty or repeated",
                    provider.id
                ));
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
