//! The foundation end to end over real HTTP against the real Dovecot/Postfix stack:
//! discovery, the login page, a browser-style login, the code exchange, refresh, and an
//! MCP client listing the account's mailboxes with the access token.

use crate::common;

use common::app::{AuthRequest, TestServer, hidden_field};
use common::stack;
use serde_json::{Value, json};

/// Discovery documents name this server's endpoints and PKCE S256.
#[tokio::test]
async fn metadata_describes_the_resource_and_the_authorization_server() {
    let server = TestServer::start(stack(), &[]).await;
    let resource: Value = server
        .http
        .get(server.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resource["resource"], json!(server.url("/mcp")));
    assert_eq!(resource["authorization_servers"], json!([server.base_url]));
    let plain: Value = server
        .http
        .get(server.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain, resource);

    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], json!(server.base_url));
    assert_eq!(
        metadata["authorization_endpoint"],
        json!(server.url("/oauth/authorize"))
    );
    assert_eq!(
        metadata["token_endpoint"],
        json!(server.url("/oauth/token"))
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    let methods = metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("client_secret_post")));
    assert!(methods.contains(&json!("client_secret_basic")));

    let health = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// The login page shows the client's servers, carries a form token, sets its cookie and
/// forbids framing and scripts.
#[tokio::test]
async fn the_authorize_page_is_a_safe_login_form() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let page = server
        .authorize_page(&client.client_id, &AuthRequest::new())
        .await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["cache-control"], "no-store");
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("127.0.0.1:{}", stack.imaps_port)),
        "IMAP host shown"
    );
    assert!(
        html.contains(&format!("127.0.0.1:{}", stack.submission_port)),
        "SMTP host shown"
    );
    assert!(!hidden_field(&html, "form_token").is_empty());
    assert!(html.contains("Use the same username and password for SMTP"));
}

/// A `state` holding markup comes back escaped, both in the page and in the redirect.
#[tokio::test]
async fn a_hostile_state_is_escaped() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let mut request = AuthRequest::new();
    request.state = "\"><script>alert(1)</script>".to_string();
    let page = server.authorize_page(&client.client_id, &request).await;
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "no raw script in the page"
    );

    let user = stack.new_user("state");
    let response = server
        .submit_login(&client.client_id, &request, &user, &user.password)
        .await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        !location.contains("<script>"),
        "state is URL-encoded in the redirect: {location}"
    );
    let url = url::Url::parse(location).unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        state, request.state,
        "state comes back unchanged after decoding"
    );
}

/// An unknown redirect_uri or client gets an error page, never a redirect.
#[tokio::test]
async fn a_bad_redirect_uri_or_client_gets_a_page_not_a_redirect() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let mut request = AuthRequest::new();
    request.redirect_uri = "https://evil.example/callback".to_string();
    let response = server.authorize_page(&client.client_id, &request).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("Redirect URI not allowed"), "{html}");

    let response = server
        .authorize_page("not-a-client", &AuthRequest::new())
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.unwrap().contains("Unknown client"));
}

/// Without PKCE S256 the error goes back to the (registered) redirect URI.
#[tokio::test]
async fn a_request_without_pkce_is_redirected_with_an_error() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let response = server
        .http
        .get(server.url("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(&request.redirect_uri), "{location}");
    assert!(
        location.contains("error=invalid_request") && location.contains("state=s1"),
        "{location}"
    );
}

/// A wrong password shows the form again with a readable IMAP line (SMTP is not tried
/// after IMAP refused, so there is no SMTP line), no redirect, and the typed email kept but
/// not the password.
#[tokio::test]
async fn a_wrong_password_shows_the_form_again() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let user = stack.new_user("wrongpw");
    let response = server
        .submit_login(
            &client.client_id,
            &AuthRequest::new(),
            &user,
            "not-the-password",
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("IMAP:"), "an IMAP line: {html}");
    assert!(!html.contains("SMTP:"), "no SMTP line: {html}");
    assert!(html.contains(&user.email), "the email is kept");
    assert!(
        !html.contains("not-the-password"),
        "the password is not echoed"
    );
}

/// A login form posted without the browser's cookie (cross-site) is refused.
#[tokio::test]
async fn a_login_post_without_its_cookie_is_refused() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let user = stack.new_user("csrf");
    let page = server
        .authorize_page(&client.client_id, &AuthRequest::new())
        .await;
    let form_token = hidden_field(&page.text().await.unwrap(), "form_token");
    let response = server
        .http
        .post(server.url("/oauth/authorize"))
        .form(&[
            ("form_token", form_token.as_str()),
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("same_smtp", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

/// The whole flow: login, code exchange (a wrong verifier fails first), MCP initialize,
/// tools/list and list_mailboxes with the access token, then refresh.
#[tokio::test]
async fn a_browser_login_yields_a_token_that_lists_the_mailboxes() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let user = stack.new_user("flow");
    let request = AuthRequest::new();
    let code = server.login_code(&client.client_id, &request, &user).await;

    let wrong = server
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &request.redirect_uri),
            ("code_verifier", &format!("{}x", request.verifier)),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
        ])
        .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(wrong.headers()["cache-control"], "no-store");
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let bad_secret = server
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &request.redirect_uri),
            ("code_verifier", &request.verifier),
            ("client_id", &client.client_id),
            ("client_secret", "wrong-secret"),
        ])
        .await;
    assert_eq!(bad_secret.status(), 401);
    let body: Value = bad_secret.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let response = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("code_verifier", request.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "client_secret_basic works");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 8 * 3600);
    let access = tokens["access_token"].as_str().unwrap();

    let init = server
        .mcp(
            access,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
        )
        .await;
    assert_eq!(init["serverInfo"]["name"], "mail_mcp");
    assert_eq!(init["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));

    let tools = server.mcp(access, "tools/list", json!({})).await;
    let list = tools["tools"].as_array().unwrap();
    let list_mailboxes = list
        .iter()
        .find(|t| t["name"] == "list_mailboxes")
        .expect("list_mailboxes is offered");
    assert_eq!(list_mailboxes["annotations"]["readOnlyHint"], true);
    assert!(list_mailboxes["annotations"]["title"].is_string());
    assert!(list_mailboxes["outputSchema"].is_object());

    let result = server
        .call_tool_ok(access, "list_mailboxes", json!({}))
        .await;
    let boxes = result["mailboxes"].as_array().unwrap();
    let names: Vec<&str> = boxes.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names[0], "INBOX");
    for special in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        let found = boxes
            .iter()
            .find(|m| m["name"] == special)
            .unwrap_or_else(|| panic!("{special} listed: {names:?}"));
        assert_eq!(found["special_use"], json!(format!("\\{special}")));
    }

    let refreshed = server
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
        ])
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let new_access = refreshed["access_token"].as_str().unwrap();
    assert_ne!(new_access, access);
    assert!(refreshed["refresh_token"].is_string());
    let again = server
        .call_tool_ok(new_access, "list_mailboxes", json!({"with_counts": true}))
        .await;
    assert_eq!(again["mailboxes"][0]["messages"], 0);
}

/// Missing, malformed and wrong-purpose bearers all get the same 401 with the challenge;
/// GET and DELETE get 405; a foreign Host gets 403.
#[tokio::test]
async fn the_mcp_endpoint_guards_itself() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let client = server.provision_client(stack);
    for token in [None, Some("garbage"), Some(client.client_id.as_str())] {
        let response = server.mcp_raw(token, list.clone()).await;
        assert_eq!(response.status(), 401, "token {token:?}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        let metadata = server.url("/.well-known/oauth-protected-resource/mcp");
        assert!(
            challenge.contains(&format!("resource_metadata=\"{metadata}\"")),
            "{challenge}"
        );
    }
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = server
            .http
            .request(method.clone(), server.url("/mcp"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
    }
    let response = server
        .http
        .post(server.url("/mcp"))
        .header("host", "evil.example")
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

/// A token whose password no longer works makes the tool say to reconnect.
#[tokio::test]
async fn a_changed_password_is_a_tool_error_that_says_reconnect() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("pwchange");
    let mut account = stack.mail_account(&user);
    account.imap.password = "the-password-before-it-changed".into();
    let token = server.access_token_for(account);
    let result = server.call_tool(&token, "list_mailboxes", json!({})).await;
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.to_lowercase().contains("reconnect"), "{text}");
}
