//! Which mail servers a login uses: the client's own (a provisioned client), a provider
//! the operator offers (chosen, or found from the email's domain), or servers the person
//! typed, if the operator allows that. Typed servers must resolve to public addresses on
//! the standard mail ports; every refusal is the same message, so the form cannot be used
//! to probe networks.

use crate::config::Config;
use crate::http::pages::CustomServerValues;
use crate::mail::{Endpoint, Security};
use crate::net_guard;
use crate::token::{ClientClaims, MailEndpoints};

const CUSTOM_REFUSED: &str = "Those mail servers cannot be used from this service. Check the host names and ports (IMAP 993 or 143, SMTP 465 or 587).";
const IMAP_PORTS: [u16; 2] = [993, 143];
const SMTP_PORTS: [u16; 2] = [465, 587];

/// The servers for this login, or a message for the form.
pub async fn choose(
    config: &Config,
    client: &ClientClaims,
    provider: &str,
    email: &str,
    custom: &CustomServerValues,
) -> Result<MailEndpoints, String> {
    if let Some(mail) = &client.mail {
        return Ok(mail.clone());
    }
    match provider {
        "custom" if config.allow_custom_mail_servers => custom_endpoints(config, custom).await,
        "" => from_email(config, email),
        id => match config.providers.by_id(id) {
            Some(p) if p.oauth.is_some() => Err(oauth_only(p)),
            Some(p) => Ok(p.endpoints()),
            None => Err("Choose your mail provider from the list.".to_string()),
        },
    }
}

/// A provider signed in with OAuth takes no password: its button is the way in.
fn oauth_only(provider: &crate::providers::Provider) -> String {
    format!(
        "{} signs in on its own page: use the \"Sign in with {}\" button.",
        provider.name, provider.name
    )
}

fn from_email(config: &Config, email: &str) -> Result<MailEndpoints, String> {
    let providers = config.providers.all();
    if let Some(provider) = config.providers.for_email(email) {
        return match provider.oauth {
            Some(_) => Err(oauth_only(provider)),
            None => Ok(provider.endpoints()),
        };
    }
    match providers {
        [only] if only.oauth.is_some() => Err(oauth_only(only)),
        [only] if !config.allow_custom_mail_servers => Ok(only.endpoints()),
        _ => Err(
            "Your email address's provider is not in the list: choose your mail provider."
                .to_string(),
        ),
    }
}

async fn custom_endpoints(
    config: &Config,
    custom: &CustomServerValues,
) -> Result<MailEndpoints, String> {
    let imap = custom_endpoint(
        config,
        &custom.imap_host,
        &custom.imap_port,
        &custom.imap_security,
        &IMAP_PORTS,
    )
    .await;
    let smtp = custom_endpoint(
        config,
        &custom.smtp_host,
        &custom.smtp_port,
        &custom.smtp_security,
        &SMTP_PORTS,
    )
    .await;
    match (imap, smtp) {
        (Some(imap), Some(smtp)) => Ok(MailEndpoints { imap, smtp }),
        _ => Err(CUSTOM_REFUSED.to_string()),
    }
}

async fn custom_endpoint(
    config: &Config,
    host: &str,
    port: &str,
    security: &str,
    ports: &[u16],
) -> Option<Endpoint> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let port: u16 = port.trim().parse().ok()?;
    let security: Security = security.parse().ok()?;
    let plausible_host = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    let port_allowed = ports.contains(&port) || config.allow_private_network;
    if !plausible_host || !port_allowed || security == Security::Plain {
        return None;
    }
    net_guard::resolve_allowed(&host, port, config.allow_private_network).await?;
    Some(Endpoint {
        host,
        port,
        security,
        public_only: !config.allow_private_network,
        sasl: None,
    })
}
