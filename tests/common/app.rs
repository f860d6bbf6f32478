//! The real application on port 0 for integration tests, with helpers that act as a
//! browser (the login page and its form) and as an MCP client (JSON-RPC over HTTP).

use std::path::PathBuf;

use clap::Parser;
use mail_mcp::cli::{Cli, Command};
use mail_mcp::config::Config;
use mail_mcp::mail::{Endpoint, Security};
use mail_mcp::oauth_clients::{self, ProvisionedClient};
use mail_mcp::token::{Keyring, MailEndpoints, TokenCodec};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::stack::{Stack, TestUser};

/// A PKCE pair and the values of one authorization request.
pub struct AuthRequest {
    pub verifier: String,
    pub challenge: String,
    pub redirect_uri: String,
    pub state: String,
}

impl AuthRequest {
    pub fn new() -> Self {
        use base64::Engine;
        use sha2::Digest;
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        AuthRequest {
            verifier,
            challenge,
            redirect_uri: "http://127.0.0.1:33418/callback".to_string(),
            state: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Tokens from the token endpoint.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// A running server and an HTTP client that does not follow redirects.
pub struct TestServer {
    pub base_url: String,
    /// `http://127.0.0.1:PORT`, where the server really listens.
    pub origin: String,
    pub http: reqwest::Client,
    pub key: String,
    /// The server's DATA_DIR (its local attachment store lives below it).
    pub data_dir: PathBuf,
    shutdown: CancellationToken,
}

impl Drop for TestServer {
    /// Stops the server and removes its DATA_DIR (its key and local attachments), so a
    /// run leaves no directories behind.
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn temp_data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mail_mcp-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl TestServer {
    /// Starts the server trusting the stack's CA, with extra `server` flags.
    pub async fn start(stack: &Stack, extra_args: &[&str]) -> TestServer {
        Self::start_prefixed(stack, "", extra_args).await
    }

    /// Like [`start`](Self::start), with BASE_URL carrying a path prefix (as behind a
    /// reverse proxy that strips it): `base_url` includes the prefix, requests go to
    /// [`direct`](Self::direct) URLs without it.
    pub async fn start_prefixed(stack: &Stack, prefix: &str, extra_args: &[&str]) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let base_url = format!("{origin}{prefix}");
        let key = Keyring::encode_key(&Keyring::generate_key());
        let data_dir = temp_data_dir();
        let mut argv: Vec<String> = [
            "mail_mcp",
            "server",
            "--base-url",
            &base_url,
            "--encryption-keys",
            &key,
            "--mail-ca-file",
            stack.ca_file.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(extra_args.iter().map(|s| s.to_string()));
        let Command::Server(args) = Cli::parse_from(argv).command else {
            unreachable!("parsed a server command")
        };
        let config = Config::from_args(*args).expect("test configuration is valid");
        let shutdown = CancellationToken::new();
        tokio::spawn(mail_mcp::app::run(listener, config, shutdown.clone()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            base_url,
            origin,
            http,
            key,
            data_dir,
            shutdown,
        }
    }

    /// A URL as the server emits it (BASE_URL, prefix included).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A URL that reaches the server directly (no prefix), as a reverse proxy forwards it.
    pub fn direct(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    /// The server's own token codec (same keys, issuer and resource).
    pub fn codec(&self) -> TokenCodec {
        TokenCodec::new(
            Keyring::parse(&self.key).unwrap(),
            self.base_url.clone(),
            self.url("/mcp"),
        )
    }

    /// An access token sealed directly for `account` (as the token endpoint would), with
    /// the send-freely policy.
    pub fn access_token_for(&self, account: mail_mcp::mail::MailAccount) -> String {
        self.access_token_with_policy(account, mail_mcp::token::SendPolicy::SendFreely)
    }

    /// An access token for `account` under `policy` (read-only drops `mail.send`).
    pub fn access_token_with_policy(
        &self,
        account: mail_mcp::mail::MailAccount,
        policy: mail_mcp::token::SendPolicy,
    ) -> String {
        let scope = match policy {
            mail_mcp::token::SendPolicy::ReadOnly => "mail.read offline_access",
            _ => "mail.read mail.send offline_access",
        };
        let claims = mail_mcp::token::AccessClaims {
            client: "test".into(),
            scope: scope.into(),
            account,
            family: None,
            policy,
            upstream: None,
        };
        let lifetime = Some(std::time::Duration::from_secs(600));
        self.codec()
            .seal(mail_mcp::token::Purpose::Access, &claims, lifetime)
            .unwrap()
    }

    /// A client provisioned as `mail_mcp generate` would, for the stack's IMAPS and submission.
    pub fn provision_client(&self, stack: &Stack) -> ProvisionedClient {
        let mail = MailEndpoints {
            imap: Endpoint::new("127.0.0.1", stack.imaps_port, Security::Tls),
            smtp: Endpoint::new("127.0.0.1", stack.submission_port, Security::Starttls),
        };
        let uris = oauth_clients::DEFAULT_REDIRECT_URIS
            .iter()
            .map(|s| s.to_string())
            .collect();
        oauth_clients::provision(&self.codec(), Some("Test client".into()), mail, uris).unwrap()
    }

    /// `GET /oauth/authorize` for `client` with `request`'s PKCE values.
    pub async fn authorize_page(
        &self,
        client_id: &str,
        request: &AuthRequest,
    ) -> reqwest::Response {
        self.http
            .get(self.direct("/oauth/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", &request.redirect_uri),
                ("code_challenge", &request.challenge),
                ("code_challenge_method", "S256"),
                ("state", &request.state),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Loads the login page and posts the form as a browser would; returns the response.
    pub async fn submit_login(
        &self,
        client_id: &str,
        request: &AuthRequest,
        user: &TestUser,
        password: &str,
    ) -> reqwest::Response {
        self.submit_login_with(
            client_id,
            request,
            &[("email", &user.email), ("password", password)],
        )
        .await
    }

    /// Loads the login page and posts its form with `fields` over the defaults (name,
    /// same SMTP login, allow sending); a field given as "" is left out.
    pub async fn submit_login_with(
        &self,
        client_id: &str,
        request: &AuthRequest,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let page = self.authorize_page(client_id, request).await;
        assert_eq!(page.status(), 200, "the login page loads");
        let cookie = page
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("the login page sets its form cookie")
            .to_string();
        let html = page.text().await.unwrap();
        let form_token = hidden_field(&html, "form_token");
        let mut form: Vec<(String, String)> = [
            ("form_token", form_token.as_str()),
            ("name", "Test Person"),
            ("same_smtp", "on"),
            ("policy", "send_freely"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (key, value) in fields {
            form.retain(|(k, _)| k != key);
            if !value.is_empty() {
                form.push((key.to_string(), value.to_string()));
            }
        }
        self.http
            .post(self.direct("/oauth/authorize"))
            .header("cookie", cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The `code` of a login redirect.
    pub fn code_of(response: &reqwest::Response) -> String {
        assert_eq!(response.status(), 302, "a successful login redirects");
        let location = response.headers()["location"].to_str().unwrap();
        let url = url::Url::parse(location).unwrap();
        let code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned());
        code.expect("the redirect carries a code")
    }

    /// The whole browser login; returns the authorization code.
    pub async fn login_code(
        &self,
        client_id: &str,
        request: &AuthRequest,
        user: &TestUser,
    ) -> String {
        let response = self
            .submit_login(client_id, request, user, &user.password)
            .await;
        Self::code_of(&response)
    }

    /// `POST /oauth/token` with form fields.
    pub async fn token_request(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.direct("/oauth/token"))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Provision, log in and exchange the code: an access and refresh token for `user`.
    pub async fn tokens_for(&self, stack: &Stack, user: &TestUser) -> Tokens {
        let client = self.provision_client(stack);
        let request = AuthRequest::new();
        let code = self.login_code(&client.client_id, &request, user).await;
        let response = self
            .exchange_code(
                &client.client_id,
                Some(&client.client_secret),
                &code,
                &request,
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        Tokens {
            access_token: body["access_token"].as_str().unwrap().to_string(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    /// A JSON-RPC request to `/mcp`; returns the HTTP response.
    pub async fn mcp_raw(&self, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.direct("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// A JSON-RPC request that must succeed; returns its `result`.
    pub async fn mcp(&self, token: &str, method: &str, params: Value) -> Value {
        let response = self
            .mcp_raw(
                Some(token),
                json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
            )
            .await;
        assert_eq!(response.status(), 200, "MCP {method} answers 200");
        let body: Value = response.json().await.unwrap();
        assert!(body.get("error").is_none(), "MCP {method} failed: {body}");
        body["result"].clone()
    }

    /// `tools/call`; returns the CallToolResult (check `isError` yourself).
    pub async fn call_tool(&self, token: &str, name: &str, arguments: Value) -> Value {
        self.mcp(
            token,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        )
        .await
    }

    /// `tools/call` that must succeed; returns its `structuredContent`, with the markers
    /// around mail text taken off ([`crate::common::unwrap_mail`]).
    pub async fn call_tool_ok(&self, token: &str, name: &str, arguments: Value) -> Value {
        crate::common::unwrap_mail(&self.call_tool_wrapped(token, name, arguments).await)
    }

    /// `tools/call` that must succeed; returns its `structuredContent` as sent, mail text
    /// still inside its markers.
    pub async fn call_tool_wrapped(&self, token: &str, name: &str, arguments: Value) -> Value {
        let result = self.call_tool(token, name, arguments).await;
        assert_ne!(result["isError"], json!(true), "{name} failed: {result}");
        result["structuredContent"].clone()
    }
}

/// The value of a hidden input in a page.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in the page"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

impl TestServer {
    /// A client provisioned as `mail_mcp generate` would, for the given mail servers.
    pub fn provision_client_for(&self, mail: MailEndpoints) -> ProvisionedClient {
        let uris = oauth_clients::DEFAULT_REDIRECT_URIS
            .iter()
            .map(|s| s.to_string())
            .collect();
        oauth_clients::provision(&self.codec(), Some("Test client".into()), mail, uris).unwrap()
    }
}

impl TestServer {
    /// `POST /oauth/token` exchanging `code` (from `request`'s login) with its PKCE
    /// verifier, as `client_id` (with `secret` in the form when given).
    pub async fn exchange_code(
        &self,
        client_id: &str,
        secret: Option<&str>,
        code: &str,
        request: &AuthRequest,
    ) -> reqwest::Response {
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("code_verifier", request.verifier.as_str()),
            ("client_id", client_id),
        ];
        if let Some(secret) = secret {
            fields.push(("client_secret", secret));
        }
        self.token_request(&fields).await
    }
}

impl TestServer {
    /// Like [`start`](Self::start), on a listener the test bound itself, so that it knows
    /// the server's URL before the server's configuration (a provider's redirect URI).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        stack: &Stack,
        extra_args: &[&str],
    ) -> TestServer {
        Self::start_instance(listener, stack, None, extra_args).await
    }

    /// Another instance of `first`'s deployment on `listener`: the same BASE_URL and
    /// ENCRYPTION_KEYS (so tokens of one open on the other), reached directly at its own
    /// address (allowed as a Host).
    pub async fn start_another_instance(
        first: &TestServer,
        listener: tokio::net::TcpListener,
        stack: &Stack,
        extra_args: &[&str],
    ) -> TestServer {
        let own = listener.local_addr().unwrap().to_string();
        let mut args = vec!["--allowed-hosts", own.as_str()];
        args.extend_from_slice(extra_args);
        Self::start_instance(listener, stack, Some((&first.base_url, &first.key)), &args).await
    }

    async fn start_instance(
        listener: tokio::net::TcpListener,
        stack: &Stack,
        deployment: Option<(&str, &str)>,
        extra_args: &[&str],
    ) -> TestServer {
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let (base_url, key) = match deployment {
            Some((base_url, key)) => (base_url.to_string(), key.to_string()),
            None => (
                origin.clone(),
                Keyring::encode_key(&Keyring::generate_key()),
            ),
        };
        let data_dir = temp_data_dir();
        let mut argv: Vec<String> = [
            "mail_mcp",
            "server",
            "--base-url",
            &base_url,
            "--encryption-keys",
            &key,
            "--mail-ca-file",
            stack.ca_file.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(extra_args.iter().map(|s| s.to_string()));
        let Command::Server(args) = Cli::parse_from(argv).command else {
            unreachable!("parsed a server command")
        };
        let config = Config::from_args(*args).expect("test configuration is valid");
        let shutdown = CancellationToken::new();
        tokio::spawn(mail_mcp::app::run(listener, config, shutdown.clone()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            base_url,
            origin,
            http,
            key,
            data_dir,
            shutdown,
        }
    }
}

impl TestServer {
    /// A view of a server that runs as a process of its own (or behind a proxy): the
    /// helpers send requests to `origin`; tokens are sealed with `key` for `base_url`.
    pub fn attach(base_url: &str, origin: &str, key: &str) -> TestServer {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            base_url: base_url.to_string(),
            origin: origin.to_string(),
            http,
            key: key.to_string(),
            data_dir: temp_data_dir(),
            shutdown: CancellationToken::new(),
        }
    }
}
