//! The consent page's policy choice through the password sign-in: each choice posted on
//! the login form is what the access and refresh tokens carry, and what a refresh keeps;
//! a failed login shows the page again with the choice kept; a client that asked only to
//! read is offered no choice and gets a read-only token whatever is posted.

use crate::common;

use common::app::{AuthRequest, TestServer, hidden_field};
use common::{TestUser, stack};
use mail_mcp::token::{AccessClaims, Keyring, Purpose, RefreshClaims, SendPolicy, TokenCodec};
use serde_json::Value;

/// The server's own token codec, to open what it issued.
fn codec(server: &TestServer) -> TokenCodec {
    TokenCodec::new(
        Keyring::parse(&server.key).unwrap(),
        server.base_url.clone(),
        server.url("/mcp"),
    )
}

/// Signs `user` in posting `policy` ("" leaves the field out); returns the token answer.
async fn sign_in_with(
    server: &TestServer,
    client: &str,
    secret: &str,
    user: &TestUser,
    policy: &str,
) -> Value {
    let request = AuthRequest::new();
    let fields = [
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
        ("policy", policy),
    ];
    let response = server.submit_login_with(client, &request, &fields).await;
    let code = TestServer::code_of(&response);
    let tokens = server
        .exchange_code(client, Some(secret), &code, &request)
        .await;
    assert_eq!(tokens.status(), 200);
    tokens.json().await.unwrap()
}

/// Each of the four choices, and a missing or unknown value (which is "ask", never send
/// freely), is sealed in the access and refresh tokens, with mail.send granted unless
/// read-only, and a refresh keeps it in both new tokens.
#[tokio::test]
async fn each_policy_posted_on_the_login_form_is_in_the_tokens_and_survives_a_refresh() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let codec = codec(&server);
    let mut cases: Vec<(&str, SendPolicy)> = SendPolicy::ALL
        .into_iter()
        .map(|p| (p.as_str(), p))
        .collect();
    cases.extend([("", SendPolicy::Ask), ("SEND_FREELY", SendPolicy::Ask)]);
    for (posted, expected) in cases {
        let user = stack.new_user("policy");
        let tokens = sign_in_with(
            &server,
            &client.client_id,
            &client.client_secret,
            &user,
            posted,
        )
        .await;
        let access: AccessClaims = codec
            .open(Purpose::Access, tokens["access_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(access.policy, expected, "{posted:?}");
        let sends = expected != SendPolicy::ReadOnly;
        assert_eq!(
            tokens["scope"].as_str().unwrap().contains("mail.send"),
            sends,
            "{posted:?}: {}",
            tokens["scope"]
        );
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let claims: RefreshClaims = codec.open(Purpose::Refresh, refresh_token).unwrap();
        assert_eq!(claims.policy, expected, "{posted:?}: refresh token");

        let refreshed = server
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", &client.client_id),
                ("client_secret", &client.client_secret),
            ])
            .await;
        assert_eq!(refreshed.status(), 200);
        let refreshed: Value = refreshed.json().await.unwrap();
        let access: AccessClaims = codec
            .open(Purpose::Access, refreshed["access_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            access.policy, expected,
            "{posted:?}: refreshed access token"
        );
        assert_eq!(access.scope.contains("mail.send"), sends);
        let claims: RefreshClaims = codec
            .open(
                Purpose::Refresh,
                refreshed["refresh_token"].as_str().unwrap(),
            )
            .unwrap();
        assert_eq!(claims.policy, expected, "{posted:?}: rotated refresh token");
    }
}

/// The first view checks "Ask me first"; a refused password shows the page again with
/// the person's choice (here "Drafts only") still checked.
#[tokio::test]
async fn the_page_starts_on_ask_and_a_failed_login_keeps_the_choice() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let page = server.authorize_page(&client.client_id, &request).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("value=\"ask\" checked"), "{html}");
    assert_eq!(
        html.matches(" checked>").count() - same_smtp_checked(&html),
        1
    );

    let user = stack.new_user("policy");
    let fields = [
        ("email", user.email.as_str()),
        ("password", "wrong password"),
        ("policy", "drafts_only"),
    ];
    let again = server
        .submit_login_with(&client.client_id, &request, &fields)
        .await;
    assert_eq!(again.status(), 422, "a refused login shows the page again");
    let html = again.text().await.unwrap();
    assert!(html.contains("value=\"drafts_only\" checked"), "{html}");
    assert!(!html.contains("value=\"ask\" checked"));
}

/// 1 when the page's "same SMTP login" box is checked (it is by default), else 0.
fn same_smtp_checked(html: &str) -> usize {
    usize::from(html.contains("name=\"same_smtp\" value=\"on\" checked"))
}

/// A client asking only for mail.read sees no policy choice, and even a forged
/// `policy=send_freely` gives a read-only token without mail.send.
#[tokio::test]
async fn a_client_asking_only_to_read_gets_read_only() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let page = server
        .http
        .get(server.direct("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("code_challenge", request.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", request.state.as_str()),
            ("scope", "mail.read offline_access"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    assert!(!html.contains("name=\"policy\""), "no choice is offered");
    let user = stack.new_user("reader");
    let form = [
        ("form_token", hidden_field(&html, "form_token")),
        ("email", user.email.clone()),
        ("password", user.password.clone()),
        ("same_smtp", "on".into()),
        ("policy", "send_freely".into()),
    ];
    let response = server
        .http
        .post(server.direct("/oauth/authorize"))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    let code = TestServer::code_of(&response);
    let tokens: Value = server
        .exchange_code(
            &client.client_id,
            Some(&client.client_secret),
            &code,
            &request,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["scope"], "mail.read offline_access");
    let access: AccessClaims = codec(&server)
        .open(Purpose::Access, tokens["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(access.policy, SendPolicy::ReadOnly);
}
