//! `mail_mcp generate`: provisions a client bound to one IMAP and one SMTP server and
//! prints its client_id and secret with ready-to-paste setup for the common MCP clients.

use clap::Args;

use crate::config::CommonArgs;
use crate::mail::{Endpoint, Security};
use crate::oauth_clients::{self, DEFAULT_REDIRECT_URIS};
use crate::token::{MailEndpoints, TokenCodec};

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// IMAP server host name.
    #[arg(long)]
    pub imap_host: String,
    /// IMAP port.
    #[arg(long, default_value_t = 993)]
    pub imap_port: u16,
    /// IMAP security: tls, starttls or plain (default: tls on 993, else starttls).
    #[arg(long)]
    pub imap_security: Option<Security>,
    /// SMTP server host name.
    #[arg(long)]
    pub smtp_host: String,
    /// SMTP port.
    #[arg(long, default_value_t = 465)]
    pub smtp_port: u16,
    /// SMTP security: tls, starttls or plain (default: tls on 465, else starttls).
    #[arg(long)]
    pub smtp_security: Option<Security>,
    /// Allowed redirect URI (repeatable). Default: Claude's callbacks and loopback callbacks.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Name shown on the login page.
    #[arg(long)]
    pub name: Option<String>,
}

/// An endpoint; security follows the port (993/465 TLS, else STARTTLS) unless named.
pub(super) fn endpoint(host: String, port: u16, security: Option<Security>) -> Endpoint {
    Endpoint::new(
        host,
        port,
        security.unwrap_or_else(|| Security::default_for_port(port)),
    )
}

pub fn run(args: GenerateArgs) -> Result<(), String> {
    args.common.check_production().map_err(|e| e.to_string())?;
    let base_url = args.common.resolve_base_url().map_err(|e| e.to_string())?;
    let keyring = args.common.resolve_keyring().map_err(|e| e.to_string())?;
    let codec = TokenCodec::new(keyring, base_url.clone(), format!("{base_url}/mcp"));
    let mail = MailEndpoints {
        imap: endpoint(args.imap_host, args.imap_port, args.imap_security),
        smtp: endpoint(args.smtp_host, args.smtp_port, args.smtp_security),
    };
    let redirect_uris = if args.redirect_uris.is_empty() {
        DEFAULT_REDIRECT_URIS
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        args.redirect_uris
    };
    let client = oauth_clients::provision(&codec, args.name, mail, redirect_uris)
        .map_err(|e| e.to_string())?;
    print!("{}", setup_text(&base_url, &client));
    Ok(())
}

fn setup_text(base_url: &str, client: &oauth_clients::ProvisionedClient) -> String {
    let mail = client
        .claims
        .mail
        .as_ref()
        .expect("provisioned with endpoints");
    let (id, secret) = (&client.client_id, &client.client_secret);
    let mcp = format!("{base_url}/mcp");
    let redirects = client.claims.redirect_uris.join("\n    ");
    format!(
        "client_id:     {id}\n\
         client_secret: {secret}\n\
         \n\
         IMAP: {imap}\n\
         SMTP: {smtp}\n\
         Redirect URIs (loopback ones match on any port):\n    {redirects}\n\
         \n\
         == claude.ai / Claude Desktop ==\n\
         Settings > Connectors > Add custom connector\n  \
           URL: {mcp}\n  \
           Advanced settings > OAuth Client ID: {id}\n  \
           Advanced settings > OAuth Client Secret: {secret}\n\
         \n\
         == Claude Code ==\n  \
           claude mcp add --transport http mail {mcp} --client-id '{id}' --client-secret\n  \
           (it asks for the secret; then run /mcp in Claude Code to log in)\n\
         \n\
         == MCP Inspector ==\n  \
           npx @modelcontextprotocol/inspector\n  \
           Transport: Streamable HTTP, URL: {mcp}\n  \
           Authentication > OAuth: Client ID and Client Secret as above\n",
        imap = mail.imap,
        smtp = mail.smtp,
    )
}
