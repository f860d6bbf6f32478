//! The OAuth sign-in stack of `bin/oauth-stack` beside the mail stack: a real OpenID
//! Connect provider (oidc-provider), a Dovecot that takes its bearer tokens (XOAUTH2,
//! OAUTHBEARER) and a Postfix submission through that Dovecot. Started once per test
//! binary ([`oauth_stack`]); stopped with the mail stack.
//!
//! [`OAuthStack::sign_in`] gets tokens the way a web app does: the authorization request
//! with PKCE S256, the provider's login form, its consent, the redirect with the code and
//! the code exchange, with the provider's cookies carried along.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::distr::Alphanumeric;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sha2::{Digest, Sha256};
use url::Url;

use super::{TestUser, stack};

/// The scopes our server will ask for: sign-in with the email, a refresh token, the mailbox.
pub const SCOPES: &str = "openid email offline_access mail";

/// The running OAuth stack, as described by its `oauth.env`.
pub struct OAuthStack {
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub authorization_endpoint: String,
    pub jwks_uri: String,
    /// A confidential client (secret [`OAuthStack::client_secret`]) allowed the code and
    /// refresh grants, redirect URI [`OAuthStack::redirect_uri`].
    pub client_id: String,
    /// The same, but its access tokens expire after 1 s.
    pub short_client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    /// `<email>` files holding the provider password of each account.
    pub users_dir: PathBuf,
    /// The OAuth Dovecot's mail store (`<domain>/<local>/Maildir`).
    pub mail_dir: PathBuf,
    /// Dovecot taking bearer tokens: plain IMAP (STARTTLS offered) and IMAPS.
    pub imap_port: u16,
    pub imaps_port: u16,
    /// Postfix with AUTH XOAUTH2 / OAUTHBEARER: submission (STARTTLS required) and SMTPS.
    pub submission_port: u16,
    pub smtps_port: u16,
}

/// What the token endpoint answered.
#[derive(Clone, serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: u64,
    pub scope: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// An OAuth error answer: the HTTP status and the `error` JSON.
#[derive(Debug)]
pub struct TokenError {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

static OAUTH: OnceLock<Result<OAuthStack, String>> = OnceLock::new();

/// The OAuth stack of this test binary, started on the mail stack of [`stack()`] at the
/// first call. Panics with the script's error when it cannot start.
pub fn oauth_stack() -> &'static OAuthStack {
    match OAUTH.get_or_init(OAuthStack::start) {
        Ok(stack) => stack,
        Err(e) => panic!("no OAuth stack: {e}"),
    }
}

impl OAuthStack {
    fn start() -> Result<OAuthStack, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/oauth-stack");
        let out = Command::new(&script)
            .arg("start")
            .arg(&stack().dir)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} start failed ({}):\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let env = String::from_utf8_lossy(&out.stdout).trim().to_string();
        OAuthStack::from_env_file(Path::new(&env))
    }

    /// Reads an `oauth.env` written by `bin/oauth-stack start`.
    pub fn from_env_file(path: &Path) -> Result<OAuthStack, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let vars: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |key: &str| {
            vars.get(key)
                .map(|v| v.to_string())
                .ok_or_else(|| format!("{} has no {key}", path.display()))
        };
        let port = |key: &str| get(key)?.parse::<u16>().map_err(|e| format!("{key}: {e}"));
        Ok(OAuthStack {
            issuer: get("OAUTH_ISSUER")?,
            token_endpoint: get("OAUTH_TOKEN_ENDPOINT")?,
            revocation_endpoint: get("OAUTH_REVOCATION_ENDPOINT")?,
            authorization_endpoint: get("OAUTH_AUTHORIZATION_ENDPOINT")?,
            jwks_uri: get("OAUTH_JWKS_URI")?,
            client_id: get("OAUTH_CLIENT_ID")?,
            short_client_id: get("OAUTH_SHORT_CLIENT_ID")?,
            client_secret: get("OAUTH_CLIENT_SECRET")?,
            redirect_uri: get("OAUTH_REDIRECT_URI")?,
            users_dir: PathBuf::from(get("OAUTH_USERS_DIR")?),
            mail_dir: PathBuf::from(get("OAUTH_MAIL_DIR")?),
            imap_port: port("OAUTH_IMAP_PORT")?,
            imaps_port: port("OAUTH_IMAPS_PORT")?,
            submission_port: port("OAUTH_SUBMISSION_PORT")?,
            smtps_port: port("OAUTH_SMTPS_PORT")?,
        })
    }

    /// A new provider account `<prefix>-<random>@example.test` with a random password, and
    /// its mailbox on the OAuth Dovecot (every address of the domain is a mailbox there).
    pub fn new_account(&self, prefix: &str) -> TestUser {
        let tag = random_string(10).to_ascii_lowercase();
        let user = TestUser {
            email: format!("{prefix}-{tag}@{}", stack().domain),
            password: random_string(24),
        };
        self.create_mailboxes(&user.email);
        let path = self.users_dir.join(&user.email);
        let tmp = self.users_dir.join(format!(".new.{}", user.email));
        std::fs::write(&tmp, &user.password)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .unwrap_or_else(|e| panic!("cannot add {}: {e}", path.display()));
        user
    }

    /// Creates the Maildir with INBOX and the special folders, owned like the store, before
    /// the first delivery or login (which would otherwise race to create them).
    fn create_mailboxes(&self, email: &str) {
        use std::os::unix::fs::MetadataExt;
        let (local, domain) = email.split_once('@').expect("an address");
        let owner = std::fs::metadata(&self.mail_dir).expect("the OAuth mail store");
        let chown = |path: &Path| {
            std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))
                .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()))
        };
        let user_dir = self.mail_dir.join(domain).join(local);
        let maildir = user_dir.join("Maildir");
        for folder in ["", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(maildir.join(folder).join(sub))
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", maildir.display()));
                chown(&maildir.join(folder).join(sub));
            }
            chown(&maildir.join(folder));
        }
        chown(&user_dir);
        chown(&self.mail_dir.join(domain));
    }

    /// Signs `user` in at the provider as a browser would, for `client_id`, and exchanges
    /// the code (with its PKCE verifier) for tokens. Panics on any unexpected answer.
    pub async fn sign_in(&self, client_id: &str, user: &TestUser) -> Tokens {
        let code = self.authorization_code(client_id, user).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", &code.code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", &code.verifier),
        ];
        self.token_request(client_id, &form)
            .await
            .unwrap_or_else(|e| panic!("code exchange refused: {e:?}"))
    }

    /// The refresh grant.
    pub async fn refresh(
        &self,
        client_id: &str,
        refresh_token: &str,
    ) -> Result<Tokens, TokenError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.token_request(client_id, &form).await
    }

    /// Revokes `token` (RFC 7009) as `client_id`.
    pub async fn revoke(&self, client_id: &str, token: &str) {
        let response = http()
            .post(&self.revocation_endpoint)
            .basic_auth(client_id, Some(&self.client_secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("revocation request");
        assert_eq!(response.status(), StatusCode::OK, "revocation answered");
    }

    async fn token_request(
        &self,
        client_id: &str,
        form: &[(&str, &str)],
    ) -> Result<Tokens, TokenError> {
        let response = http()
            .post(&self.token_endpoint)
            .basic_auth(client_id, Some(&self.client_secret))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("token endpoint answers JSON");
        if status != StatusCode::OK {
            return Err(TokenError { status, body });
        }
        Ok(serde_json::from_value(body).expect("a token response"))
    }

    /// Authorization request → login form → consent → redirect with `code` (and our
    /// `state`, checked).
    async fn authorization_code(&self, client_id: &str, user: &TestUser) -> AuthorizationCode {
        let verifier = random_string(64);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_string(16);
        let mut url = Url::parse(&self.authorization_endpoint).expect("authorization URL");
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", SCOPES)
            // Asks for consent, as Google's access_type=offline needs for a refresh token.
            .append_pair("prompt", "consent")
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let mut browser = Browser::default();
        let login_url = browser.get(url.as_str()).await;
        let login_page = browser.get(login_url.as_str()).await;
        let form_action = format!("{}/login", login_page.path());
        let form = [
            ("login", user.email.as_str()),
            ("password", user.password.as_str()),
        ];
        let mut next = browser.post_form(&self.absolute(&form_action), &form).await;
        // Resume, consent (granted at once), resume: at most a few hops to the redirect URI.
        for _ in 0..6 {
            if next.as_str().starts_with(&self.redirect_uri) {
                let pairs: BTreeMap<String, String> = next.query_pairs().into_owned().collect();
                assert_eq!(pairs.get("state"), Some(&state), "state comes back");
                assert_eq!(
                    pairs.get("iss"),
                    Some(&self.issuer),
                    "RFC 9207 iss comes back"
                );
                let code = pairs
                    .get("code")
                    .cloned()
                    .expect("the redirect carries a code");
                return AuthorizationCode { code, verifier };
            }
            next = browser.get(next.as_str()).await;
        }
        panic!("the provider never redirected to {}", self.redirect_uri);
    }

    fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

struct AuthorizationCode {
    code: String,
    verifier: String,
}

/// A client without redirects (each hop is checked) or proxies.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// Just enough of a browser for the provider's pages: every cookie it set goes back to
/// it (the provider scopes them by path; sending all is harmless), redirects are
/// followed one hop at a time.
#[derive(Default)]
struct Browser {
    cookies: BTreeMap<String, String>,
}

impl Browser {
    /// GETs `url`: a redirect's target, or (for a page) `url` itself.
    async fn get(&mut self, url: &str) -> Url {
        let response = http()
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        self.follow(url, response).await
    }

    async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Url {
        let response = http()
            .post(url)
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        self.follow(url, response).await
    }

    async fn follow(&mut self, url: &str, response: reqwest::Response) -> Url {
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_string(), value.to_string());
                }
            }
        }
        let base = Url::parse(url).expect("a URL");
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()[LOCATION].to_str().expect("Location");
            return base.join(location).expect("a redirect URL");
        }
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "{url} answered {status}: {body}");
        base
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A client registered at the provider by dynamic registration (RFC 7591).
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: String,
}

impl OAuthStack {
    /// Registers a confidential client (`client_secret_post`, code and refresh grants) for
    /// `redirect_uri`. A `client_name` listed in the provider's short-lived clients
    /// (`mail-mcp-short`) gets access tokens that live 1 s.
    pub async fn register_client(&self, redirect_uri: &str, client_name: &str) -> RegisteredClient {
        let discovery: serde_json::Value = http()
            .get(format!("{}/.well-known/openid-configuration", self.issuer))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("discovery JSON");
        let endpoint = discovery["registration_endpoint"]
            .as_str()
            .expect("the provider offers registration");
        let response = http()
            .post(endpoint)
            .json(&serde_json::json!({
                "redirect_uris": [redirect_uri],
                "client_name": client_name,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post",
            }))
            .send()
            .await
            .expect("registration request");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("registration JSON");
        assert_eq!(status, StatusCode::CREATED, "registration answered {body}");
        RegisteredClient {
            client_id: body["client_id"].as_str().expect("client_id").to_string(),
            client_secret: body["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_string(),
        }
    }

    /// Signs `user` in at the provider in a browser that starts at `authorization_url`
    /// (built by the app under test), and returns the redirect to `redirect_prefix` (the
    /// app's callback) without following it.
    pub async fn browser_sign_in(
        &self,
        authorization_url: &str,
        user: &TestUser,
        redirect_prefix: &str,
    ) -> Url {
        let mut browser = Browser::default();
        let login_url = browser.get(authorization_url).await;
        let login_page = browser.get(login_url.as_str()).await;
        let form_action = format!("{}/login", login_page.path());
        let form = [
            ("login", user.email.as_str()),
            ("password", user.password.as_str()),
        ];
        let mut next = browser.post_form(&self.absolute(&form_action), &form).await;
        for _ in 0..6 {
            if next.as_str().starts_with(redirect_prefix) {
                return next;
            }
            next = browser.get(next.as_str()).await;
        }
        panic!("the provider never redirected to {redirect_prefix}");
    }
}

impl OAuthStack {
    /// Like [`OAuthStack::register_client`], for several redirect URIs (the app's
    /// callback and a `mail_mcp token` loopback URI, say).
    pub async fn register_client_for(
        &self,
        redirect_uris: &[&str],
        client_name: &str,
    ) -> RegisteredClient {
        let discovery: serde_json::Value = http()
            .get(format!("{}/.well-known/openid-configuration", self.issuer))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("discovery JSON");
        let endpoint = discovery["registration_endpoint"]
            .as_str()
            .expect("the provider offers registration");
        let body: serde_json::Value = http()
            .post(endpoint)
            .json(&serde_json::json!({
                "redirect_uris": redirect_uris,
                "client_name": client_name,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post",
            }))
            .send()
            .await
            .expect("registration request")
            .json()
            .await
            .expect("registration JSON");
        RegisteredClient {
            client_id: body["client_id"]
                .as_str()
                .unwrap_or_else(|| panic!("registration refused: {body}"))
                .to_string(),
            client_secret: body["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_string(),
        }
    }

    /// A providers file offering this stack's mail for the test domain as provider `id`,
    /// signed in with OAuth as `client` (its secret in a file beside it) and `mechanism`.
    pub fn providers_file(&self, id: &str, client: &RegisteredClient, mechanism: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mail_mcp-providers-{}", random_string(12)));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("client-secret");
        std::fs::write(&secret, &client.client_secret).unwrap();
        let text = format!(
            r#"
[[provider]]
id = "{id}"
name = "Test Mail"
domains = ["{domain}"]
imap = {{ host = "{host}", port = {imaps}, security = "tls" }}
smtp = {{ host = "{host}", port = {submission}, security = "starttls" }}
[provider.oauth]
authorization_endpoint = "{authorization}"
token_endpoint = "{token}"
client_id = "{client_id}"
client_secret_file = "{secret}"
scopes = ["openid", "email", "offline_access", "mail"]
mechanism = "{mechanism}"
authorization_params = {{ prompt = "consent" }}
address = {{ id_token = {{ issuer = "{issuer}", jwks_uri = "{jwks}" }} }}
"#,
            domain = stack().domain,
            host = stack().host,
            imaps = self.imaps_port,
            submission = self.submission_port,
            authorization = self.authorization_endpoint,
            token = self.token_endpoint,
            client_id = client.client_id,
            secret = secret.display(),
            issuer = self.issuer,
            jwks = self.jwks_uri,
        );
        let path = dir.join("providers.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}
