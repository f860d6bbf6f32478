//! `mail_mcp token`: an access token for clients that only take a static
//! `Authorization: Bearer` header (LibreChat, `claude mcp add --header`, scripts). It reads
//! the password from the terminal without echo (or from stdin for scripts), or, with
//! `--provider`, signs in at an OAuth mail provider in the browser
//! ([`provider_sign_in`](super::provider_sign_in)); then it checks the IMAP and SMTP
//! logins live, and prints the token with ready-to-paste client setup.
//!
//! The token is an ordinary access token of the server (same keys, same BASE_URL), only
//! longer-lived, since these clients cannot refresh. Secrets go to stdout only; progress
//! and errors go to stderr and never contain them.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::generate::endpoint;
use super::provider_sign_in;
use crate::config::{CommonArgs, MailArgs};
use crate::http::oauth::scope;
use crate::mail::{Imap, MailAccount, Security, ServerLogin, Smtp, verify_login};
use crate::token::{
    AccessClaims, ClientClaims, MailEndpoints, Purpose, SendPolicy, TokenCodec, client_fingerprint,
};

/// Default lifetime of a token made here: as long as the server's default refresh-token
/// lifetime, i.e. as long as a browser sign-in lasts without entering the password again.
pub const DEFAULT_LIFETIME: &str = "30days";

/// The longest lifetime accepted. Such tokens cannot be revoked one by one (only by
/// changing the mail password or retiring the encryption key), so a year at most.
pub const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);

/// The client fingerprint of tokens made without `--client-id`.
const CLI_CLIENT: &str = "mail_mcp token";

#[derive(Args)]
#[command(
    group = clap::ArgGroup::new("servers_or_client").required(true).args(["client_id", "imap_host", "provider"]),
    override_usage = "mail_mcp token --email EMAIL (--client-id ID | --imap-host HOST --smtp-host HOST) [OPTIONS]\n       mail_mcp token --provider NAME --providers-file FILE [--redirect-port PORT] [OPTIONS]"
)]
pub struct TokenArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub mail: MailArgs,

    /// A client_id made by `mail_mcp generate`: the token uses its mail servers.
    #[arg(long, conflicts_with = "imap_host")]
    pub client_id: Option<String>,

    /// Sign in at this provider of the providers file in the browser (its [provider.oauth]
    /// block) instead of with a password; the address comes from the provider.
    #[arg(long, conflicts_with_all = ["client_id", "imap_host", "email", "password_stdin"])]
    pub provider: Option<String>,
    /// The providers file naming --provider (the server's PROVIDERS_FILE).
    #[arg(long, env = "PROVIDERS_FILE")]
    pub providers_file: Option<PathBuf>,
    /// The loopback port of the --provider redirect URI http://127.0.0.1:PORT/callback
    /// (0: any free port, for providers that allow any loopback port).
    #[arg(long, default_value_t = 0)]
    pub redirect_port: u16,

    /// IMAP server host name (instead of --client-id).
    #[arg(long, requires = "smtp_host")]
    pub imap_host: Option<String>,
    /// IMAP port.
    #[arg(long, default_value_t = 993)]
    pub imap_port: u16,
    /// IMAP security: tls, starttls or plain (default: tls on 993, else starttls).
    #[arg(long)]
    pub imap_security: Option<Security>,
    /// SMTP server host name (instead of --client-id).
    #[arg(long, requires = "imap_host")]
    pub smtp_host: Option<String>,
    /// SMTP port.
    #[arg(long, default_value_t = 465)]
    pub smtp_port: u16,
    /// SMTP security: tls, starttls or plain (default: tls on 465, else starttls).
    #[arg(long)]
    pub smtp_security: Option<Security>,

    /// Email address (the sender address, and the login unless --username is given).
    #[arg(long, required_unless_present = "provider")]
    pub email: Option<String>,
    /// IMAP login name (default: the email address).
    #[arg(long)]
    pub username: Option<String>,
    /// Display name put on sent mail.
    #[arg(long)]
    pub name: Option<String>,
    /// SMTP login name (default: the IMAP login name).
    #[arg(long)]
    pub smtp_username: Option<String>,
    /// Grant reading only (scope mail.read): no sending, moving or deleting. The same as
    /// `--policy read-only`.
    #[arg(long)]
    pub read_only: bool,
    /// What the token may do with mail that leaves the mailbox or cannot be undone:
    /// send-freely, ask (each send, permanent delete, folder deletion or bulk change waits
    /// for the person's approval), drafts-only or read-only.
    #[arg(long, default_value = "ask", value_parser = parse_policy)]
    pub policy: SendPolicy,
    /// How long the token is valid, e.g. 8h, 30days, 90days (at most 366 days).
    #[arg(long, default_value = DEFAULT_LIFETIME, value_parser = parse_lifetime)]
    pub lifetime: Duration,
    /// Read the password from the first line of stdin instead of asking at the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read a separate SMTP password from stdin (the line after the IMAP password when
    /// --password-stdin is also given). Default: the same password as IMAP.
    #[arg(long, conflicts_with = "smtp_password_prompt")]
    pub smtp_password_stdin: bool,
    /// Ask for a separate SMTP password at the terminal.
    #[arg(long)]
    pub smtp_password_prompt: bool,
    /// Print only the token (for scripts), no setup text.
    #[arg(long)]
    pub token_only: bool,
}

/// A [`SendPolicy`] by its name, with `-` or `_` between the words.
fn parse_policy(text: &str) -> Result<SendPolicy, String> {
    SendPolicy::from_form(&text.replace('-', "_"))
        .ok_or_else(|| "expected send-freely, ask, drafts-only or read-only".to_string())
}

/// A lifetime between one minute and [`MAX_LIFETIME`].
fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let lifetime = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if lifetime < Duration::from_secs(60) {
        return Err("must be at least 1m".into());
    }
    if lifetime > MAX_LIFETIME {
        return Err("must be at most 366days: such tokens cannot be revoked one by one".into());
    }
    Ok(lifetime)
}

pub async fn run(args: TokenArgs) -> Result<(), String> {
    args.common.check_production().map_err(|e| e.to_string())?;
    let base_url = args.common.resolve_base_url().map_err(|e| e.to_string())?;
    let keyring = args.common.resolve_keyring().map_err(|e| e.to_string())?;
    let codec = TokenCodec::new(keyring, base_url.clone(), format!("{base_url}/mcp"));
    let settings = args.mail.settings().map_err(|e| e.to_string())?;
    let (mut account, client, upstream) = match &args.provider {
        Some(provider) => {
            let file = args.providers_file.as_deref();
            let signed_in = provider_sign_in::sign_in(file, provider, args.redirect_port).await?;
            let mut account = signed_in.account;
            account.display_name = non_empty(args.name.as_deref()).map(str::to_string);
            (account, CLI_CLIENT.to_string(), Some(signed_in.grant))
        }
        None => {
            let (endpoints, client) = endpoints(&args, &codec)?;
            let account = account(&args, endpoints, &mut Passwords::new())?;
            (account, client, None)
        }
    };
    eprintln!(
        "Checking the login of {} at IMAP {} and SMTP {}...",
        account.email, account.imap.endpoint, account.smtp.endpoint
    );
    let check = verify_login(&Imap::new(settings.clone()), &Smtp::new(settings), &account).await;
    if !check.is_ok() {
        let smtp = check.smtp.as_ref().and_then(|s| s.as_ref().err());
        let lines: Vec<String> = [("IMAP", check.imap.as_ref().err()), ("SMTP", smtp)]
            .into_iter()
            .filter_map(|(side, error)| error.map(|e| format!("  {side}: {e}")))
            .collect();
        return Err(format!(
            "the login check failed; no token was made:\n{}",
            lines.join("\n")
        ));
    }
    eprintln!("Login accepted by both servers.");
    if upstream.is_some() {
        // The provider's access token only served the check: the token carries its grant.
        account.imap.password.clear();
        account.smtp.password.clear();
    }

    let policy = match args.read_only {
        true => SendPolicy::ReadOnly,
        false => args.policy,
    };
    let requested = format!("{} {}", scope::READ, scope::SEND);
    let claims = AccessClaims {
        client: client_fingerprint(&client),
        scope: scope::granted(&requested, policy),
        account,
        family: None,
        policy,
        upstream,
    };
    let token = codec
        .seal(Purpose::Access, &claims, Some(args.lifetime))
        .map_err(|e| e.to_string())?;
    let text = match args.token_only {
        true => format!("{token}\n"),
        false => setup_text(codec.resource(), &token, &claims, args.lifetime),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the token: {e}"))
}

/// The mail servers and the client the token is for: a generated client's, or the flags'.
fn endpoints(args: &TokenArgs, codec: &TokenCodec) -> Result<(MailEndpoints, String), String> {
    match (&args.client_id, &args.imap_host, &args.smtp_host) {
        (Some(client_id), _, _) => {
            let client: ClientClaims =
                codec.open(Purpose::Client, client_id.trim()).map_err(|e| {
                    format!(
                        "--client-id is not a client of this server ({e}); use the same \
                     ENCRYPTION_KEYS (or DATA_DIR) and BASE_URL as the server"
                    )
                })?;
            let mail = client.mail.ok_or(
                "this client_id names no mail servers (it registered itself); \
                 pass --imap-host and --smtp-host instead",
            )?;
            Ok((mail, client_id.trim().to_string()))
        }
        (None, Some(imap), Some(smtp)) => {
            let mail = MailEndpoints {
                imap: endpoint(imap.clone(), args.imap_port, args.imap_security),
                smtp: endpoint(smtp.clone(), args.smtp_port, args.smtp_security),
            };
            Ok((mail, CLI_CLIENT.to_string()))
        }
        _ => Err("pass --client-id, or --imap-host and --smtp-host".into()),
    }
}

/// Builds the account, asking for the passwords.
fn account(
    args: &TokenArgs,
    endpoints: MailEndpoints,
    passwords: &mut Passwords,
) -> Result<MailAccount, String> {
    let email = args.email.as_deref().unwrap_or_default().trim().to_string();
    let username = non_empty(args.username.as_deref())
        .unwrap_or(&email)
        .to_string();
    let smtp_username = non_empty(args.smtp_username.as_deref())
        .unwrap_or(&username)
        .to_string();
    let password = match args.password_stdin {
        true => passwords.read_line("password")?,
        false => passwords.prompt(&format!("Password for {username}: "))?,
    };
    let smtp_password = if args.smtp_password_stdin {
        passwords.read_line("SMTP password")?
    } else if args.smtp_password_prompt {
        passwords.prompt(&format!("SMTP password for {smtp_username}: "))?
    } else {
        password.clone()
    };
    Ok(MailAccount {
        email,
        display_name: non_empty(args.name.as_deref()).map(str::to_string),
        identities: Vec::new(),
        imap: ServerLogin {
            endpoint: endpoints.imap,
            username,
            password,
        },
        smtp: ServerLogin {
            endpoint: endpoints.smtp,
            username: smtp_username,
            password: smtp_password,
        },
    })
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Where passwords come from: the terminal (no echo) or stdin, one per line.
struct Passwords {
    stdin: std::io::Stdin,
}

impl Passwords {
    fn new() -> Self {
        Passwords {
            stdin: std::io::stdin(),
        }
    }

    /// The next line of stdin, without its line ending; an empty one is refused.
    fn read_line(&mut self, what: &str) -> Result<String, String> {
        let mut line = String::new();
        self.stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the {what} from stdin: {e}"))?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        match password.is_empty() {
            true => Err(format!("no {what} on stdin (one per line)")),
            false => Ok(password),
        }
    }

    /// Asks at the terminal without echo.
    fn prompt(&mut self, prompt: &str) -> Result<String, String> {
        let no_terminal = || {
            "no terminal to ask for the password: pipe it in and pass --password-stdin".to_string()
        };
        if !std::io::stderr().is_terminal() && !std::io::stdin().is_terminal() {
            return Err(no_terminal());
        }
        let password = rpassword::prompt_password(prompt).map_err(|_| no_terminal())?;
        match password.is_empty() {
            true => Err("the password is empty".into()),
            false => Ok(password),
        }
    }
}

/// The token and how to use it with the clients that take a static header.
fn setup_text(mcp_url: &str, token: &str, claims: &AccessClaims, lifetime: Duration) -> String {
    let expires =
        chrono::Utc::now() + chrono::Duration::from_std(lifetime).expect("at most 366 days fits");
    let account = &claims.account;
    format!(
        "access_token: {token}\n\
         scope:        {scope}\n\
         expires:      {expires} (in {lifetime})\n\
         account:      {email} (IMAP {imap}, SMTP {smtp})\n\
         MCP URL:      {mcp_url}\n\
         \n\
         Keep this token secret: it opens your mailbox. It stops working when it expires,\n\
         when the mail password changes, or when the provider sign-in is revoked.\n\
         \n\
         == Claude Code ==\n  \
           claude mcp add --transport http mail {mcp_url} --header \"Authorization: Bearer {token}\"\n\
         \n\
         == LibreChat (librechat.yaml) ==\n\
         mcpServers:\n  \
           mail:\n    \
             type: streamable-http\n    \
             url: {mcp_url}\n    \
             headers:\n      \
               Authorization: \"Bearer {token}\"\n\
         \n\
         == curl ==\n  \
           curl -sS {mcp_url} -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}}'\n",
        scope = claims.scope,
        expires = expires.format("%Y-%m-%d %H:%M UTC"),
        lifetime = humantime::format_duration(lifetime),
        email = account.email,
        imap = account.imap.endpoint,
        smtp = account.smtp.endpoint,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: TokenArgs,
    }

    fn parse(extra: &[&str]) -> Result<TokenArgs, clap::Error> {
        let mut argv = vec!["token"];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv).map(|w| w.args)
    }

    #[test]
    fn either_a_client_id_or_both_hosts_are_required() {
        let email = ["--email", "a@example.com"];
        assert!(parse(&email).is_err(), "neither");
        let client = parse(&[&email[..], &["--client-id", "x"]].concat()).unwrap();
        assert_eq!(client.client_id.as_deref(), Some("x"));
        let hosts = [&email[..], &["--imap-host", "i", "--smtp-host", "s"]].concat();
        let args = parse(&hosts).unwrap();
        assert_eq!((args.imap_port, args.smtp_port), (993, 465));
        assert!(
            parse(&[&email[..], &["--imap-host", "i"]].concat()).is_err(),
            "an IMAP host needs an SMTP host"
        );
        assert!(
            parse(&[&hosts[..], &["--client-id", "x"]].concat()).is_err(),
            "not both"
        );
    }

    #[test]
    fn a_provider_sign_in_needs_no_email_and_takes_no_servers() {
        let args = parse(&["--provider", "gmail-oauth"]).unwrap();
        assert_eq!(args.provider.as_deref(), Some("gmail-oauth"));
        assert_eq!((args.email, args.redirect_port), (None, 0));
        let port = parse(&["--provider", "p", "--redirect-port", "8765"]).unwrap();
        assert_eq!(port.redirect_port, 8765);
        for refused in [
            &["--provider", "p", "--email", "a@example.com"][..],
            &["--provider", "p", "--client-id", "x"],
            &["--provider", "p", "--imap-host", "i", "--smtp-host", "s"],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn the_lifetime_defaults_to_30_days_and_is_bounded() {
        let args = parse(&["--email", "a@example.com", "--client-id", "x"]).unwrap();
        assert_eq!(args.lifetime, Duration::from_secs(30 * 86400));
        assert_eq!(parse_lifetime("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert!(parse_lifetime("30s").is_err());
        assert!(parse_lifetime("367days").is_err());
        assert!(parse_lifetime("soon").is_err());
    }

    #[test]
    fn the_setup_text_shows_every_client_with_the_token_and_no_password() {
        let login = |host: &str, port| ServerLogin {
            endpoint: crate::mail::Endpoint::new(
                host,
                port,
                crate::mail::Security::default_for_port(port),
            ),
            username: "a@example.com".into(),
            password: "hunter2-secret".into(),
        };
        let account = MailAccount {
            email: "a@example.com".into(),
            display_name: None,
            identities: Vec::new(),
            imap: login("imap.example.com", 993),
            smtp: login("smtp.example.com", 587),
        };
        let claims = AccessClaims {
            client: "c".into(),
            scope: "mail.read".into(),
            account,
            family: None,
            policy: SendPolicy::ReadOnly,
            upstream: None,
        };
        let text = setup_text(
            "https://mail.example.com/mcp",
            "TOKEN",
            &claims,
            Duration::from_secs(86400),
        );
        for expected in [
            "access_token: TOKEN",
            "scope:        mail.read",
            "(in 1day)",
            "claude mcp add --transport http mail https://mail.example.com/mcp --header \"Authorization: Bearer TOKEN\"",
            "    type: streamable-http\n    url: https://mail.example.com/mcp\n    headers:\n      Authorization: \"Bearer TOKEN\"\n",
            "curl -sS https://mail.example.com/mcp -H 'Authorization: Bearer TOKEN'",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
        }
        assert!(!text.contains(&claims.account.imap.password));
    }
}
