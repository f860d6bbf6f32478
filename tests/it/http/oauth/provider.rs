//! Sign-in with an OAuth 2.0 mail provider (a `[provider.oauth]` block) end to end, against
//! the real OpenID Connect provider, Dovecot and Postfix of `bin/oauth-stack`: the login
//! page's "Sign in with <provider>" button, the provider's own login, our code and tokens,
//! and MCP tools reading and sending over XOAUTH2 / OAUTHBEARER with the provider's access
//! tokens, refreshed when they expire; our refresh grant rotating the provider's refresh
//! token; a grant the provider revoked ending in a 401 that says to reconnect.

use std::path::PathBuf;
use std::time::Duration;

use mail_mcp::token::{AccessClaims, Keyring, Purpose, RefreshClaims, SendPolicy, TokenCodec};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::common::app::{AuthRequest, TestServer, hidden_field};
use crate::common::eventually;
use crate::common::oauth::{RegisteredClient, oauth_stack};
use crate::common::{TestUser, stack};

const PROVIDER: &str = "testmail";

/// The app under test, with our own (dynamically registered) MCP client and the client
/// the app itself registered at the provider.
struct App {
    server: TestServer,
    client_id: String,
    client_secret: String,
    upstream: RegisteredClient,
    /// The providers file the app was started with.
    providers: PathBuf,
}

/// The app with a providers file offering the test provider signed in with `mechanism`;
/// at the provider its client is named `client_name` (`mail-mcp-short`: 1-second tokens).
async fn start_app(mechanism: &str, client_name: &str, extra_args: &[&str]) -> App {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!(
        "http://{}/oauth/provider/callback",
        listener.local_addr().unwrap()
    );
    let upstream = oauth_stack().register_client(&callback, client_name).await;
    let providers = providers_file(&upstream, mechanism);
    let mut args = vec!["--providers-file", providers.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    let server = TestServer::start_on(listener, stack(), &args).await;
    let registered: Value = server
        .http
        .post(server.direct("/oauth/register"))
        .json(&json!({
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "client_name": "Provider test client",
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    App {
        client_id: registered["client_id"].as_str().unwrap().to_string(),
        client_secret: registered["client_secret"].as_str().unwrap().to_string(),
        server,
        upstream,
        providers,
    }
}

/// A providers file with the test provider (its secret in a file beside it).
fn providers_file(client: &RegisteredClient, mechanism: &str) -> PathBuf {
    oauth_stack().providers_file(PROVIDER, client, mechanism)
}

/// The value of the cookie `name` set by `response`, as `name=value`.
fn cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set"))
        .to_string()
}

/// A sign-in started with the provider button, up to the provider's redirect back.
struct Started {
    request: AuthRequest,
    /// `mail_mcp_upstream=...`: the browser binding of this sign-in.
    upstream_cookie: String,
    /// The provider's redirect to our callback, with its code and state.
    callback: String,
}

/// Clicks the provider button (with `extra` fields in its form) and signs `user` in at the
/// provider, stopping at the provider's redirect back to the app.
async fn start_sign_in(app: &App, user: &TestUser, extra: &[(&str, &str)]) -> Started {
    let server = &app.server;
    let request = AuthRequest::new();
    let page = server.authorize_page(&app.client_id, &request).await;
    assert_eq!(page.status(), 200);
    let login_cookie = cookie(&page, "mail_mcp_login");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains(&oauth_stack().issuer),
        "the button's redirect to the provider is an allowed form target: {csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Sign in with Test Mail"),
        "the button is shown"
    );
    // The page's one form: the button posts it, policy choice included, to the start URL.
    let button = format!(
        "name=\"oauth_provider\" value=\"{PROVIDER}\" formaction=\"{}\"",
        server.url("/oauth/provider/start")
    );
    assert!(html.contains(&button), "{html}");
    let mut form = vec![
        ("form_token".to_string(), hidden_field(&html, "form_token")),
        ("oauth_provider".to_string(), PROVIDER.to_string()),
    ];
    if !extra.iter().any(|(k, _)| *k == "policy") {
        form.push(("policy".to_string(), "send_freely".to_string()));
    }
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let start = server
        .http
        .post(server.direct("/oauth/provider/start"))
        .header("cookie", login_cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302, "the button leads to the provider");
    let upstream_cookie = cookie(&start, "mail_mcp_upstream");
    let authorization = start.headers()["location"].to_str().unwrap().to_string();
    assert!(authorization.starts_with(&oauth_stack().authorization_endpoint));
    assert!(authorization.contains("code_challenge_method=S256"));
    let callback = oauth_stack()
        .browser_sign_in(
            &authorization,
            user,
            &server.url("/oauth/provider/callback"),
        )
        .await;
    Started {
        request,
        upstream_cookie,
        callback: callback.to_string(),
    }
}

/// The browser follows the provider's redirect `callback` with `cookie` (if any).
async fn open_callback(app: &App, callback: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = app.server.http.get(callback);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// Our tokens of a browser sign-in through the provider button, as `user` at the
/// provider; `extra` fields go with the button's form.
async fn sign_in(app: &App, user: &TestUser, extra: &[(&str, &str)]) -> Value {
    let started = start_sign_in(app, user, extra).await;
    let done = open_callback(app, &started.callback, Some(&started.upstream_cookie)).await;
    let code = TestServer::code_of(&done);
    let tokens = app
        .server
        .exchange_code(
            &app.client_id,
            Some(&app.client_secret),
            &code,
            &started.request,
        )
        .await;
    assert_eq!(tokens.status(), 200);
    tokens.json().await.unwrap()
}

fn access_token(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_string()
}

/// Our refresh grant.
async fn refresh(app: &App, refresh_token: &str) -> reqwest::Response {
    app.server
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
        ])
        .await
}

/// The provider's refresh token sealed in our refresh token.
fn upstream_refresh_token(app: &App, refresh_token: &str) -> String {
    let codec = TokenCodec::new(
        Keyring::parse(&app.server.key).unwrap(),
        app.server.base_url.clone(),
        app.server.url("/mcp"),
    );
    let claims: RefreshClaims = codec.open(Purpose::Refresh, refresh_token).unwrap();
    assert_eq!(
        claims.account.imap.password, "",
        "no access token is sealed"
    );
    let grant = claims.upstream.expect("an upstream grant");
    assert_eq!(grant.provider, PROVIDER);
    grant.refresh_token
}

/// Sends a message to `user` itself and waits until its INBOX lists it.
async fn send_to_self_and_find(app: &App, token: &str, user: &TestUser, subject: &str) -> Value {
    let sent = app
        .server
        .call_tool_ok(
            token,
            "send_mail_message",
            json!({"to": [user.email], "subject": subject, "text_body": "over OAuth\n"}),
        )
        .await;
    assert!(sent.is_object(), "{sent}");
    let mut found = Value::Null;
    eventually("the message arrives", async || {
        let listed = app
            .server
            .call_tool_ok(token, "list_mail_messages", json!({"folder": "INBOX"}))
            .await;
        let hit = listed["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["subject"] == subject)
            .cloned();
        match hit {
            Some(message) => {
                found = message;
                true
            }
            None => false,
        }
    })
    .await;
    found
}

/// The browser-style sign-in through the provider button gives our tokens (no password
/// typed here, the address comes from the provider's id_token), and the tools list,
/// send and read mail over XOAUTH2 with the provider's access token.
#[tokio::test]
async fn the_provider_button_signs_in_and_the_tools_work_over_xoauth2() {
    let app = start_app("xoauth2", "mail-mcp", &[]).await;
    let user = oauth_stack().new_account("button");
    let tokens = sign_in(&app, &user, &[]).await;
    let token = access_token(&tokens);
    let boxes = app
        .server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
    assert_eq!(boxes["mailboxes"][0]["name"], "INBOX");
    let message = send_to_self_and_find(&app, &token, &user, "Hello over XOAUTH2").await;
    assert_eq!(message["from"][0]["email"], user.email.as_str());
    let got = app
        .server
        .call_tool_ok(&token, "get_mail_message", json!({"uid": message["uid"]}))
        .await;
    assert!(got.to_string().contains("over OAuth"), "{got}");
}

/// The same over OAUTHBEARER (RFC 7628) for IMAP; SMTP sends with XOAUTH2.
#[tokio::test]
async fn the_tools_work_over_oauthbearer() {
    let app = start_app("oauthbearer", "mail-mcp", &[]).await;
    let user = oauth_stack().new_account("bearer");
    let token = access_token(&sign_in(&app, &user, &[]).await);
    let message = send_to_self_and_find(&app, &token, &user, "Hello over OAUTHBEARER").await;
    assert!(message["uid"].as_u64().is_some());
}

/// With access tokens that live 1 s at the provider (and no warm sessions, so every call
/// signs in again), calls after expiry still work: the server refreshes the provider's
/// token itself and the MCP client never notices.
#[tokio::test]
async fn an_expired_provider_token_is_refreshed_unnoticed() {
    let app = start_app("xoauth2", "mail-mcp-short", &["--imap-pool-idle", "0s"]).await;
    let user = oauth_stack().new_account("short");
    let token = access_token(&sign_in(&app, &user, &[]).await);
    for round in 0..3 {
        // The provider's tokens expire in real time.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let boxes = app
            .server
            .call_tool_ok(&token, "list_mailboxes", json!({}))
            .await;
        assert_eq!(boxes["mailboxes"][0]["name"], "INBOX", "round {round}");
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    send_to_self_and_find(&app, &token, &user, "After expiry").await;
}

/// Our refresh grant refreshes at the provider too and seals the provider's rotated
/// refresh token into our new refresh token; the new tokens keep working.
#[tokio::test]
async fn our_refresh_grant_rotates_the_provider_refresh_token() {
    let app = start_app("xoauth2", "mail-mcp-short", &[]).await;
    let user = oauth_stack().new_account("rotate");
    let tokens = sign_in(&app, &user, &[]).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_string();
    let first_upstream = upstream_refresh_token(&app, &first);
    let refreshed = refresh(&app, &first).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let second = refreshed["refresh_token"].as_str().unwrap().to_string();
    let second_upstream = upstream_refresh_token(&app, &second);
    assert_ne!(first_upstream, second_upstream, "the provider rotated it");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let boxes = app
        .server
        .call_tool_ok(&access_token(&refreshed), "list_mailboxes", json!({}))
        .await;
    assert_eq!(boxes["mailboxes"][0]["name"], "INBOX");
    let again = refresh(&app, &second).await;
    assert_eq!(again.status(), 200, "the rotated token refreshes again");
}

/// A grant revoked at the provider ends the sign-in here: once the provider's access
/// token expires, /mcp answers 401 invalid_token saying to reconnect, and our refresh
/// grant is invalid_grant; no tool ran.
#[tokio::test]
async fn a_revoked_provider_grant_gives_401_with_a_reconnect_message() {
    let app = start_app("xoauth2", "mail-mcp-short", &[]).await;
    let user = oauth_stack().new_account("revoked");
    let tokens = sign_in(&app, &user, &[]).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let upstream = upstream_refresh_token(&app, &refresh_token);
    let revoked = reqwest::Client::new()
        .post(&oauth_stack().revocation_endpoint)
        .form(&[
            ("token", upstream.as_str()),
            ("client_id", &app.upstream.client_id),
            ("client_secret", &app.upstream.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let response = app
        .server
        .mcp_raw(
            Some(&access_token(&tokens)),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "list_mailboxes", "arguments": {}}}),
        )
        .await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(challenge.contains("reconnect"), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("reconnect")
    );
    let refused = refresh(&app, &refresh_token).await;
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_grant");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("reconnect")
    );
}

/// Attack: a typed address cannot choose the account. The button's form with another
/// person's `email` (and `username`) still gives the account the provider vouched for,
/// whose own INBOX is what the tools see; and the password form refuses the OAuth
/// provider, so it cannot be used to name a mailbox with a typed address either.
#[tokio::test]
async fn a_typed_email_cannot_change_the_account() {
    let app = start_app("xoauth2", "mail-mcp", &[]).await;
    let user = oauth_stack().new_account("typed");
    let victim = oauth_stack().new_account("victim");
    let extra = [
        ("email", victim.email.as_str()),
        ("username", victim.email.as_str()),
    ];
    let token = access_token(&sign_in(&app, &user, &extra).await);
    let message = send_to_self_and_find(&app, &token, &user, "Whose mailbox").await;
    assert_eq!(message["from"][0]["email"], user.email.as_str());
    let refresh = sign_in(&app, &user, &[]).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let codec = TokenCodec::new(
        Keyring::parse(&app.server.key).unwrap(),
        app.server.base_url.clone(),
        app.server.url("/mcp"),
    );
    let claims: RefreshClaims = codec.open(Purpose::Refresh, &refresh).unwrap();
    assert_eq!(claims.account.email, user.email);
    assert_eq!(claims.account.imap.username, user.email);

    let request = AuthRequest::new();
    let typed = app
        .server
        .submit_login_with(
            &app.client_id,
            &request,
            &[
                ("email", victim.email.as_str()),
                ("password", "anything"),
                ("provider", PROVIDER),
            ],
        )
        .await;
    assert_eq!(
        typed.status(),
        422,
        "the password form refuses the OAuth provider"
    );
    let html = typed.text().await.unwrap();
    assert!(html.contains("signs in on its own page"), "{html}");
}

/// Attack (login CSRF): the provider's redirect back, with a code for the attacker's own
/// account, opened in a browser that did not start that sign-in (no cookie, or the cookie
/// of the victim's own sign-in, whose state differs) gets the expired page and no code;
/// the attacker's code was not even exchanged, so their own browser can still finish.
#[tokio::test]
async fn a_callback_from_another_browser_is_refused() {
    let app = start_app("xoauth2", "mail-mcp", &[]).await;
    let attacker = oauth_stack().new_account("csrf-attacker");
    let victim = oauth_stack().new_account("csrf-victim");
    let planted = start_sign_in(&app, &attacker, &[]).await;
    let victims_own = start_sign_in(&app, &victim, &[]).await;
    for cookie in [None, Some(victims_own.upstream_cookie.as_str())] {
        let refused = open_callback(&app, &planted.callback, cookie).await;
        assert_eq!(refused.status(), 400, "cookie {cookie:?}");
        assert!(
            refused.headers().get("location").is_none(),
            "no redirect, no code"
        );
        let html = refused.text().await.unwrap();
        assert!(html.contains("This sign-in has expired"), "{html}");
    }
    let own = open_callback(&app, &planted.callback, Some(&planted.upstream_cookie)).await;
    TestServer::code_of(&own);
}

/// Attack (mix-up, RFC 9207): a redirect back whose `iss` names another issuer than the
/// provider this browser went to is refused before its code is used.
#[tokio::test]
async fn a_callback_naming_another_issuer_is_refused() {
    let app = start_app("xoauth2", "mail-mcp", &[]).await;
    let user = oauth_stack().new_account("mixup");
    let started = start_sign_in(&app, &user, &[]).await;
    let mut url = url::Url::parse(&started.callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://evil.example".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    assert!(
        pairs.iter().any(|(k, _)| k == "iss"),
        "the provider sends iss"
    );
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let refused = open_callback(&app, url.as_str(), Some(&started.upstream_cookie)).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());
    assert!(refused.text().await.unwrap().contains("another provider"));
}

/// Two instances of one deployment behind one Redis share the provider's tokens: after a
/// sign-in on the first, the second refreshes the expired provider token (the provider
/// rotates the refresh token and spends the old one); after the next expiry the first
/// uses the rotated refresh token the second filed in Redis, not the spent one (which the
/// provider would refuse, ending the sign-in).
#[tokio::test]
async fn instances_share_provider_tokens_through_redis() {
    let redis = stack().own_redis_url();
    let shared = ["--redis-url", redis.as_str(), "--imap-pool-idle", "0s"];
    let first = start_app("xoauth2", "mail-mcp-short", &shared).await;
    let user = oauth_stack().new_account("shared");
    let token = access_token(&sign_in(&first, &user, &[]).await);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut args = vec!["--providers-file", first.providers.to_str().unwrap()];
    args.extend_from_slice(&shared);
    let second = TestServer::start_another_instance(&first.server, listener, stack(), &args).await;
    for (round, server) in [&second, &first.server, &second].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let response = server
            .mcp_raw(
                Some(&token),
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "list_mailboxes", "arguments": {}}}),
            )
            .await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "round {round}: {body}");
        assert!(body.contains("INBOX"), "round {round}: {body}");
    }
}

/// The policy chosen beside the provider button (the same one radio group the password
/// sign-in uses) is sealed in the access and refresh tokens and kept by a refresh, for
/// each of the four; a missing or unknown value is "ask".
#[tokio::test]
async fn the_policy_chosen_with_the_provider_button_is_sealed_and_survives_a_refresh() {
    let app = start_app("xoauth2", "mail-mcp", &[]).await;
    let codec = TokenCodec::new(
        Keyring::parse(&app.server.key).unwrap(),
        app.server.base_url.clone(),
        app.server.url("/mcp"),
    );
    let mut cases: Vec<(&str, SendPolicy)> = SendPolicy::ALL
        .into_iter()
        .map(|p| (p.as_str(), p))
        .collect();
    cases.push(("send-freely", SendPolicy::Ask));
    for (posted, expected) in cases {
        let user = oauth_stack().new_account("policy");
        let tokens = sign_in(&app, &user, &[("policy", posted)]).await;
        let access: AccessClaims = codec
            .open(Purpose::Access, tokens["access_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(access.policy, expected, "{posted}");
        assert_eq!(
            access.scope.contains("mail.send"),
            expected != SendPolicy::ReadOnly,
            "{posted}: {}",
            access.scope
        );
        let refreshed = refresh(&app, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refreshed.status(), 200, "{posted}");
        let refreshed: Value = refreshed.json().await.unwrap();
        let access: AccessClaims = codec
            .open(Purpose::Access, refreshed["access_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(access.policy, expected, "{posted} after a refresh");
        let refresh_claims: RefreshClaims = codec
            .open(
                Purpose::Refresh,
                refreshed["refresh_token"].as_str().unwrap(),
            )
            .unwrap();
        assert_eq!(
            refresh_claims.policy, expected,
            "{posted}: the new refresh token"
        );
    }
}
