//! Any MCP client can connect safely (issue 5), over real HTTP with the real mail stack:
//! dynamic registration, client metadata documents, provider choice, custom servers,
//! read-only grants, RFC 8707 resources, code and refresh replay, login rate limits (in
//! memory and in Redis), a prefixed BASE_URL, and the MCP endpoint's Origin/Accept rules.

use crate::common;

use std::path::PathBuf;

use common::app::{AuthRequest, TestServer};
use common::{Stack, TestUser, stack};
use serde_json::{Value, json};

/// A providers file whose one provider serves example.test from the stack.
fn providers_file(stack: &Stack) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("mail_mcp-providers-{}.toml", uuid::Uuid::new_v4()));
    let text = format!(
        "[[provider]]\nid = \"stack\"\nname = \"Stack Mail\"\ndomains = [\"example.test\"]\n\
         imap = {{ host = \"127.0.0.1\", port = {}, security = \"tls\" }}\n\
         smtp = {{ host = \"127.0.0.1\", port = {}, security = \"starttls\" }}\n\
         [[provider]]\nid = \"other\"\nname = \"Other Mail\"\ndomains = [\"other.test\"]\n\
         imap = {{ host = \"127.0.0.1\", port = 1, security = \"tls\" }}\n\
         smtp = {{ host = \"127.0.0.1\", port = 1, security = \"tls\" }}\n",
        stack.imaps_port, stack.submission_port
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn register(server: &TestServer, body: Value) -> reqwest::Response {
    server
        .http
        .post(server.direct("/oauth/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn login_code(
    server: &TestServer,
    client_id: &str,
    request: &AuthRequest,
    user: &TestUser,
    extra: &[(&str, &str)],
) -> String {
    let mut fields = vec![
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
    ];
    fields.extend_from_slice(extra);
    let response = server.submit_login_with(client_id, request, &fields).await;
    TestServer::code_of(&response)
}

/// A confidential client registers itself, the login page offers the operator's providers
/// (the email's domain picks one), and its tokens list the mailboxes.
#[tokio::test]
async fn a_registered_confidential_client_logs_in_through_a_provider() {
    let stack = stack();
    let providers = providers_file(stack);
    let server = TestServer::start(stack, &["--providers-file", providers.to_str().unwrap()]).await;
    let response = register(
        &server,
        json!({
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "client_name": "Inspector <b>",
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(
        registered["token_endpoint_auth_method"],
        "client_secret_post"
    );
    assert!(
        registered.get("scope").is_none(),
        "absent fields are omitted, not null"
    );
    let client_id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();

    let request = AuthRequest::new();
    let page = server.authorize_page(client_id, &request).await;
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Stack Mail") && html.contains("Other Mail"),
        "providers offered"
    );
    assert!(
        html.contains("Inspector &#60;b&#62;") || html.contains("Inspector &lt;b&gt;"),
        "client name shown escaped"
    );
    assert!(html.contains("127.0.0.1"), "redirect host shown");

    let user = stack.new_user("dcr");
    let code = login_code(&server, client_id, &request, &user, &[]).await;
    let tokens = server
        .exchange_code(client_id, Some("wrong"), &code, &request)
        .await;
    assert_eq!(tokens.status(), 401, "a wrong derived secret is refused");
    let tokens: Value = server
        .exchange_code(client_id, Some(secret), &code, &request)
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().expect("tokens issued");
    let boxes = server
        .call_tool_ok(access, "list_mailboxes", json!({}))
        .await;
    assert_eq!(boxes["mailboxes"][0]["name"], "INBOX");
}

/// A public client (token_endpoint_auth_method none) exchanges its code with PKCE alone,
/// and may not send a secret; a chosen provider that does not serve the user fails to log in.
#[tokio::test]
async fn a_public_client_needs_no_secret_and_an_explicit_provider_is_used() {
    let stack = stack();
    let providers = providers_file(stack);
    let server = TestServer::start(stack, &["--providers-file", providers.to_str().unwrap()]).await;
    let registered: Value = register(
        &server,
        json!({
            "redirect_uris": ["http://localhost/callback"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(registered.get("client_secret").is_none());
    let client_id = registered["client_id"].as_str().unwrap();
    let mut request = AuthRequest::new();
    request.redirect_uri = "http://localhost:41234/callback".into();
    let user = stack.new_user("public");

    let wrong_provider = server
        .submit_login_with(
            client_id,
            &request,
            &[
                ("email", &user.email),
                ("password", &user.password),
                ("provider", "other"),
            ],
        )
        .await;
    assert_eq!(
        wrong_provider.status(),
        422,
        "the other provider's servers are not reachable"
    );

    let code = login_code(
        &server,
        client_id,
        &request,
        &user,
        &[("provider", "stack")],
    )
    .await;
    let with_secret = server
        .exchange_code(client_id, Some("anything"), &code, &request)
        .await;
    assert_eq!(with_secret.status(), 401);
    let response = server.exchange_code(client_id, None, &code, &request).await;
    assert_eq!(response.status(), 200);
}

/// Registration refuses redirect URIs outside the policy and unknown metadata with the
/// RFC 7591 error codes.
#[tokio::test]
async fn registration_refuses_bad_metadata() {
    let server = TestServer::start(stack(), &[]).await;
    let cases = [
        (
            json!({"redirect_uris": ["https://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["http://localhost/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["http://localhost/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (json!("not an object"), "invalid_client_metadata"),
    ];
    for (body, code) in cases {
        let response = register(&server, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], code, "{body}");
    }
    let claude = register(
        &server,
        json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]}),
    )
    .await;
    assert_eq!(
        claude.status(),
        201,
        "Claude's callback is on the default allowlist"
    );
}

/// A client_id that is a URL is fetched as a client metadata document (served here by
/// the test itself); a document that does not name itself is refused.
#[tokio::test]
async fn a_client_metadata_document_is_fetched_and_checked() {
    let stack = stack();
    let providers = providers_file(stack);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let doc_origin = format!("http://{}", listener.local_addr().unwrap());
    let good_id = format!("{doc_origin}/client.json");
    let liar_id = format!("{doc_origin}/liar.json");
    let good = json!({"client_id": good_id, "client_name": "Doc Client", "redirect_uris": ["http://127.0.0.1/callback"]});
    let liar = json!({"client_id": "http://elsewhere.example/c.json", "redirect_uris": ["http://127.0.0.1/callback"]});
    let app = axum::Router::new()
        .route(
            "/client.json",
            axum::routing::get(move || async move { axum::Json(good) }),
        )
        .route(
            "/liar.json",
            axum::routing::get(move || async move { axum::Json(liar) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let server = TestServer::start(
        stack,
        &[
            "--providers-file",
            providers.to_str().unwrap(),
            "--allow-private-network",
        ],
    )
    .await;
    let request = AuthRequest::new();
    let page = server.authorize_page(&good_id, &request).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Doc Client"));
    let user = stack.new_user("cimd");
    let code = login_code(&server, &good_id, &request, &user, &[]).await;
    let response = server.exchange_code(&good_id, None, &code, &request).await;
    assert_eq!(
        response.status(),
        200,
        "a document client is public and uses PKCE"
    );

    let refused = server.authorize_page(&liar_id, &request).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());

    let strict = TestServer::start(stack, &["--providers-file", providers.to_str().unwrap()]).await;
    let refused = strict.authorize_page(&good_id, &request).await;
    assert_eq!(
        refused.status(),
        400,
        "loopback documents are refused by default"
    );
}

/// Typed mail servers on private, loopback or link-local addresses (or odd ports) get one
/// generic refusal, and no login is attempted.
#[tokio::test]
async fn custom_mail_servers_on_private_addresses_are_refused() {
    let stack = stack();
    let server = TestServer::start(stack, &["--allow-custom-mail-servers"]).await;
    let registered: Value = register(&server, json!({"redirect_uris": ["http://localhost/callback"], "token_endpoint_auth_method": "none"}))
        .await
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let mut request = AuthRequest::new();
    request.redirect_uri = "http://localhost:5555/callback".into();
    let user = stack.new_user("custom");
    let imaps = stack.imaps_port.to_string();
    for (host, port) in [
        ("127.0.0.1", "993"),
        ("localhost", "993"),
        ("10.0.0.8", "993"),
        ("169.254.169.254", "993"),
        ("127.0.0.1", imaps.as_str()),
    ] {
        let response = server
            .submit_login_with(
                client_id,
                &request,
                &[
                    ("email", &user.email),
                    ("password", &user.password),
                    ("provider", "custom"),
                    ("imap_host", host),
                    ("imap_port", port),
                    ("imap_security", "tls"),
                    ("smtp_host", host),
                    ("smtp_port", "465"),
                    ("smtp_security", "tls"),
                ],
            )
            .await;
        assert_eq!(response.status(), 422, "{host}:{port}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("cannot be used from this service"),
            "{host}: one generic message"
        );
    }
}

/// Unticking "allow sending" grants mail.read only: tools/list shows only reading tools
/// and a writing tool called anyway gets 403 insufficient_scope.
#[tokio::test]
async fn a_read_only_grant_lists_and_runs_only_read_tools() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let user = stack.new_user("readonly");
    let code = login_code(
        &server,
        &client.client_id,
        &request,
        &user,
        &[("policy", "read_only")],
    )
    .await;
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
    let access = tokens["access_token"].as_str().unwrap();

    let listed = server.mcp(access, "tools/list", json!({})).await;
    let tools = listed["tools"].as_array().unwrap();
    assert!(!tools.is_empty());
    assert!(
        tools
            .iter()
            .all(|t| t["annotations"]["readOnlyHint"] == true),
        "only read tools: {listed}"
    );
    let full = server.access_token_for(stack.mail_account(&user));
    let all = server.mcp(&full, "tools/list", json!({})).await;
    let writer = all["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["annotations"]["readOnlyHint"] != true)
        .expect("a writing tool exists");

    let response = server
        .mcp_raw(Some(access), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": writer["name"], "arguments": {"name": "x"}}}))
        .await;
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("mail.send"),
        "{challenge}"
    );
    assert!(
        server
            .call_tool_ok(access, "list_mailboxes", json!({}))
            .await["mailboxes"]
            .is_array()
    );
}

/// RFC 8707: a resource other than this server's MCP URL is refused on authorize
/// (redirected error) and on the token endpoint.
#[tokio::test]
async fn a_foreign_resource_is_refused() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let response = server
        .http
        .get(server.direct("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("code_challenge", request.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", "https://other.example/mcp"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=invalid_target")
    );

    let user = stack.new_user("resource");
    let code = login_code(&server, &client.client_id, &request, &user, &[]).await;
    let response = server
        .token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &request.redirect_uri),
            ("code_verifier", &request.verifier),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
            ("resource", "https://other.example/mcp"),
        ])
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target");
    let response = server
        .exchange_code(
            &client.client_id,
            Some(&client.client_secret),
            &code,
            &request,
        )
        .await;
    assert_eq!(response.status(), 200, "a missing resource is accepted");
}

/// A code works once, and its replay revokes the refresh token its first exchange issued;
/// a refresh token reused after rotation revokes its whole family, so the token that
/// replaced it stops working too.
async fn replay_is_refused(extra_args: &[&str]) {
    let stack = stack();
    let server = TestServer::start(stack, extra_args).await;
    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let user = stack.new_user("replay");
    let code = login_code(&server, &client.client_id, &request, &user, &[]).await;
    let first: Value = server
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
    let again = server
        .exchange_code(
            &client.client_id,
            Some(&client.client_secret),
            &code,
            &request,
        )
        .await;
    assert_eq!(again.status(), 400);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    let refresh = |token: String| {
        let server = &server;
        let client = &client;
        async move {
            server
                .token_request(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", &client.client_id),
                    ("client_secret", &client.client_secret),
                ])
                .await
        }
    };
    let replayed = first["refresh_token"].as_str().unwrap().to_string();
    let revoked = refresh(replayed).await;
    assert_eq!(
        revoked.status(),
        400,
        "the replayed code's tokens are revoked"
    );

    let request = AuthRequest::new();
    let code = login_code(&server, &client.client_id, &request, &user, &[]).await;
    let fresh: Value = server
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
    let r1 = fresh["refresh_token"].as_str().unwrap().to_string();
    let second = refresh(r1.clone()).await;
    assert_eq!(second.status(), 200);
    let r2 = second.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let reused = refresh(r1).await;
    assert_eq!(reused.status(), 400, "the old refresh token is refused");
    let after = refresh(r2).await;
    assert_eq!(
        after.status(),
        400,
        "the family is revoked, so its newest token fails too"
    );
}

#[tokio::test]
async fn replay_is_refused_with_the_memory_store() {
    replay_is_refused(&[]).await;
}

#[tokio::test]
async fn replay_is_refused_with_redis() {
    replay_is_refused(&["--redis-url", &stack().own_redis_url()]).await;
}

/// After the allowed number of wrong passwords for one account, the page says to wait
/// (429 with Retry-After), even for the right password.
async fn logins_are_rate_limited(extra_args: &[&str]) {
    let stack = stack();
    let mut args = vec!["--login-max-failures-per-account", "2"];
    args.extend_from_slice(extra_args);
    let server = TestServer::start(stack, &args).await;
    let client = server.provision_client(stack);
    let user = stack.new_user("limited");
    for _ in 0..2 {
        let response = server
            .submit_login(
                &client.client_id,
                &AuthRequest::new(),
                &user,
                "wrong-password",
            )
            .await;
        assert_eq!(response.status(), 422);
    }
    let response = server
        .submit_login(
            &client.client_id,
            &AuthRequest::new(),
            &user,
            &user.password,
        )
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many failed sign-ins"), "{html}");

    let other = stack.new_user("unlimited");
    let response = server
        .submit_login(
            &client.client_id,
            &AuthRequest::new(),
            &other,
            &other.password,
        )
        .await;
    assert_eq!(response.status(), 302, "another account is not affected");
}

#[tokio::test]
async fn logins_are_rate_limited_in_memory() {
    logins_are_rate_limited(&[]).await;
}

#[tokio::test]
async fn logins_are_rate_limited_in_redis() {
    logins_are_rate_limited(&["--redis-url", &stack().own_redis_url()]).await;
}

/// With BASE_URL under a path prefix (a reverse proxy strips it), every URL the server
/// emits carries the prefix, and the whole flow still works.
#[tokio::test]
async fn a_prefixed_base_url_is_in_every_emitted_url() {
    let stack = stack();
    let server = TestServer::start_prefixed(stack, "/mail", &[]).await;
    assert!(server.base_url.ends_with("/mail"));
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/mail",
    ] {
        let metadata: Value = server
            .http
            .get(server.direct(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(metadata["issuer"], json!(server.base_url), "{path}");
        assert_eq!(
            metadata["token_endpoint"],
            json!(server.url("/oauth/token"))
        );
    }
    let resource: Value = server
        .http
        .get(server.direct("/.well-known/oauth-protected-resource/mail/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resource["resource"], json!(server.url("/mcp")));

    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let page = server.authorize_page(&client.client_id, &request).await;
    assert!(
        page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Path=/mail/oauth")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"{}\"", server.url("/oauth/authorize"))),
        "form posts through the prefix"
    );
    let user = stack.new_user("prefix");
    let code = login_code(&server, &client.client_id, &request, &user, &[]).await;
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
    let access = tokens["access_token"].as_str().unwrap();
    assert!(
        server
            .call_tool_ok(access, "list_mailboxes", json!({}))
            .await["mailboxes"]
            .is_array()
    );
    let challenge = server
        .mcp_raw(
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
    let header = challenge.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        header.contains(&server.url("/.well-known/oauth-protected-resource/mcp")),
        "{header}"
    );
}

/// A foreign Origin is refused (DNS rebinding); Accept naming only one type is served;
/// `/mcp/` works like `/mcp`; an unknown MCP-Protocol-Version gets 400.
#[tokio::test]
async fn the_mcp_endpoint_checks_origin_and_is_lenient_about_accept() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let token = server.access_token_for(stack.mail_account(&stack.new_user("origin")));
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let post = |path: &str, origin: Option<&str>, accept: &str, version: &str| {
        let mut request = server
            .http
            .post(server.direct(path))
            .bearer_auth(&token)
            .header("accept", accept)
            .header("mcp-protocol-version", version)
            .json(&list);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let both = "application/json, text/event-stream";
    assert_eq!(
        post("/mcp", Some("https://evil.example"), both, "2025-06-18")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post("/mcp", Some(&server.origin), both, "2025-06-18")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post("/mcp", None, "application/json", "2025-06-18")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post("/mcp", None, "text/event-stream", "2025-11-25")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post("/mcp/", None, both, "2025-03-26")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post("/mcp", None, both, "1999-01-01")
            .await
            .unwrap()
            .status(),
        400
    );
}

/// A typed mail host is checked again on every connection (not only at login): a token
/// whose typed host now resolves to a private address gets a tool error, and nothing
/// connects there; SMTP refuses the same way.
#[tokio::test]
async fn typed_mail_hosts_are_checked_again_when_connecting() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let user = stack.new_user("rebind");
    let mut account = stack.mail_account(&user);
    account.imap.endpoint.public_only = true;
    account.smtp.endpoint.public_only = true;
    let token = server.access_token_for(account);
    let result = server.call_tool(&token, "list_mailboxes", json!({})).await;
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("public addresses"), "{text}");
    let sent = server
        .call_tool(
            &token,
            "send_mail_message",
            json!({"to": user.email, "subject": "x", "text_body": "y"}),
        )
        .await;
    assert_eq!(sent["isError"], true, "{sent}");
}
