//! Attacks: client_documents (see main.rs). A stranger publishes a client ID metadata
//! document (served here over loopback http, which `--allow-private-network` permits) to
//! borrow this server's genuine login page: naming a redirect URI on their own site, a
//! name that impersonates this server or carries markup, or requests whose other errors
//! would be "reported" to an unvalidated redirect URI. And wildcard allowlist entries that
//! a raw string prefix would let `..`, userinfo, look-alike hosts or encodings through.

use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};

use crate::common::app::{AuthRequest, TestServer};
use crate::common::stack;

/// Serves `documents` (path, JSON body with `{origin}` in strings replaced by the server's
/// own origin) on loopback; returns the origin, e.g. `http://localhost:PORT`.
async fn serve_documents(documents: Vec<(&'static str, Value)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let mut app = axum::Router::new();
    for (path, body) in documents {
        let text = body.to_string().replace("{origin}", &origin);
        let body: Value = serde_json::from_str(&text).unwrap();
        app = app.route(path, get(move || async move { Json(body) }));
    }
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

fn document(path: &str, name: &str, redirect_uris: &[&str]) -> Value {
    json!({
        "client_id": format!("{{origin}}{path}"),
        "client_name": name,
        "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": "none",
    })
}

async fn server(extra: &[&str]) -> TestServer {
    let mut args = vec!["--allow-private-network", "--allow-custom-mail-servers"];
    args.extend_from_slice(extra);
    TestServer::start(stack(), &args).await
}

/// `GET /oauth/authorize` with arbitrary query pairs.
async fn authorize(server: &TestServer, query: &[(&str, &str)]) -> reqwest::Response {
    server
        .http
        .get(server.direct("/oauth/authorize"))
        .query(query)
        .send()
        .await
        .unwrap()
}

/// Asserts a readable error page: 400, HTML, no Location header, nothing sent anywhere.
async fn assert_error_page(response: reqwest::Response, expect: &str) -> String {
    assert!(
        response.headers().get("location").is_none(),
        "no redirect: {:?}",
        response.headers().get("location")
    );
    assert_eq!(response.status(), 400);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains(expect), "{expect} in {html}");
    assert!(!html.contains("form_token"), "no login form is shown");
    html
}

/// (a) A document naming a redirect URI on another host gets a readable page that says
/// why, and no redirect to that host (before the fix: the login page, then a code sent
/// to evil.example).
#[tokio::test]
async fn a_document_naming_another_hosts_redirect_uri_is_refused() {
    let evil = "https://evil.example/steal";
    let origin = serve_documents(vec![
        ("/evil.json", document("/evil.json", "Mail Helper", &[evil])),
        (
            "/sub.json",
            document(
                "/sub.json",
                "Mail Helper",
                &["https://localhost.evil.example/cb"],
            ),
        ),
    ])
    .await;
    let server = server(&[]).await;
    for path in ["/evil.json", "/sub.json"] {
        let client_id = format!("{origin}{path}");
        let mut request = AuthRequest::new();
        request.redirect_uri = if path == "/evil.json" {
            evil.into()
        } else {
            "https://localhost.evil.example/cb".into()
        };
        let response = server.authorize_page(&client_id, &request).await;
        assert_error_page(response, "redirect").await;
    }
}

/// A document's https redirect URI on its own host is accepted, and the login page names
/// that host next to the client's name (c); loopback http callbacks stay allowed.
#[tokio::test]
async fn the_login_page_shows_the_documents_host() {
    let origin = serve_documents(vec![(
        "/app.json",
        document(
            "/app.json",
            "Friendly App",
            &["https://localhost/cb", "http://127.0.0.1/callback"],
        ),
    )])
    .await;
    let server = server(&[]).await;
    let client_id = format!("{origin}/app.json");
    for redirect in ["https://localhost/cb", "http://127.0.0.1:33418/callback"] {
        let mut request = AuthRequest::new();
        request.redirect_uri = redirect.into();
        let response = server.authorize_page(&client_id, &request).await;
        assert_eq!(response.status(), 200, "{redirect}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("You are signing in to <strong>Friendly App</strong> at"),
            "{html}"
        );
        assert!(
            html.contains(r#"<strong class="client-host">localhost</strong>"#),
            "{html}"
        );
    }
}

/// (b) Hostile client names: markup is escaped on the page, while overlong names, control
/// or bidi characters, and names impersonating this server are refused with a page (as
/// registration refuses them), and the name is never echoed raw.
#[tokio::test]
async fn hostile_client_names_are_refused_or_escaped() {
    let cb = ["http://127.0.0.1/callback"];
    let long = "A".repeat(101);
    let origin = serve_documents(vec![
        (
            "/html.json",
            document("/html.json", "<b>Bank</b><script>alert(1)</script>", &cb),
        ),
        ("/long.json", document("/long.json", &long, &cb)),
        ("/ctrl.json", document("/ctrl.json", "Nice\nApp\u{7}", &cb)),
        (
            "/bidi.json",
            document("/bidi.json", "App\u{202e}lmth.exe", &cb),
        ),
        ("/self.json", document("/self.json", "mail_mcp", &cb)),
        (
            "/self2.json",
            document("/self2.json", "Official MAIL-MCP login", &cb),
        ),
    ])
    .await;
    let server = server(&[]).await;
    let request = AuthRequest::new();

    let html = server
        .authorize_page(&format!("{origin}/html.json"), &request)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("<script>alert") && !html.contains("<b>Bank"),
        "{html}"
    );
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));

    for path in [
        "/long.json",
        "/ctrl.json",
        "/bidi.json",
        "/self.json",
        "/self2.json",
    ] {
        let response = server
            .authorize_page(&format!("{origin}{path}"), &request)
            .await;
        let html = assert_error_page(response, "client_name").await;
        assert!(
            !html.contains(&long) && !html.contains("lmth.exe"),
            "{path}"
        );
    }

    for name in [long.as_str(), "mail_mcp", "Mail MCP", "App\u{202e}x"] {
        let response = server
            .http
            .post(server.direct("/oauth/register"))
            .json(&json!({"redirect_uris": cb, "client_name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{name}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_client_metadata", "{name}");
    }
}

/// (d) With `--client-metadata-documents false` a URL client_id gets a readable page, its
/// document is not even needed, and the metadata says documents are not supported.
#[tokio::test]
async fn with_documents_off_a_url_client_id_is_refused() {
    let origin = serve_documents(vec![(
        "/ok.json",
        document("/ok.json", "Fine App", &["http://127.0.0.1/callback"]),
    )])
    .await;
    let on = server(&[]).await;
    let off = server(&["--client-metadata-documents", "false"]).await;
    let request = AuthRequest::new();
    let client_id = format!("{origin}/ok.json");
    assert_eq!(on.authorize_page(&client_id, &request).await.status(), 200);
    let response = off.authorize_page(&client_id, &request).await;
    assert_error_page(response, "metadata documents").await;
    for (server, supported) in [(&on, true), (&off, false)] {
        let metadata: Value = server
            .http
            .get(server.direct("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["client_id_metadata_document_supported"],
            json!(supported)
        );
    }
}

/// (e) Requests that are wrong in several ways at once (bad response_type, no PKCE, no
/// state, unknown client, unregistered or foreign redirect URI) always get a page, never
/// a redirect: the redirect URI is validated before anything is reported to it.
#[tokio::test]
async fn a_bad_request_never_redirects_to_an_unvalidated_uri() {
    let evil = "https://evil.example/cb";
    let origin = serve_documents(vec![(
        "/evil.json",
        document("/evil.json", "Evil", &[evil]),
    )])
    .await;
    let server = server(&[]).await;
    let registered: Value = server
        .http
        .post(server.direct("/oauth/register"))
        .json(&json!({"redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dcr_id = registered["client_id"].as_str().unwrap().to_string();
    let doc_id = format!("{origin}/evil.json");
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("client_id", &dcr_id),
            ("redirect_uri", evil),
            ("response_type", "token"),
        ],
        vec![("client_id", &dcr_id), ("redirect_uri", evil)],
        vec![
            ("client_id", &doc_id),
            ("redirect_uri", evil),
            ("response_type", "token"),
        ],
        vec![
            ("client_id", &doc_id),
            ("redirect_uri", evil),
            ("response_type", "code"),
        ],
        vec![("client_id", &doc_id)],
        vec![("client_id", "not-a-client"), ("redirect_uri", evil)],
        vec![("redirect_uri", evil), ("response_type", "code")],
        vec![],
    ];
    for query in cases {
        let response = authorize(&server, &query).await;
        assert!(
            response.headers().get("location").is_none(),
            "{query:?} redirected to {:?}",
            response.headers().get("location")
        );
        assert_eq!(response.status(), 400, "{query:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>"), "a readable page for {query:?}");
    }
}

/// (f) Wildcard allowlist entries are compared as parsed URLs: `..` and `.` segments,
/// look-alike hosts, userinfo, percent-encoded dots/slashes, backslashes, tabs, other
/// ports and fragments are refused at registration; the genuine prefix is accepted.
#[tokio::test]
async fn allowlist_prefix_bypasses_are_refused_at_registration() {
    let server = server(&[
        "--redirect-uri-allowlist",
        "https://good.example/cb/*,https://other.example*",
    ])
    .await;
    let register = |uri: &'static str| {
        let server = &server;
        async move {
            server
                .http
                .post(server.direct("/oauth/register"))
                .json(&json!({"redirect_uris": [uri], "token_endpoint_auth_method": "none"}))
                .send()
                .await
                .unwrap()
        }
    };
    for uri in [
        "https://good.example/cb/../evil",
        "https://good.example/cb/./../evil",
        "https://good.example/cb/%2e%2e/evil",
        "https://good.example/cb/%2E%2E%2Fevil",
        "https://good.example/cb/..%2fevil",
        "https://good.example/cb\\..\\evil",
        "https://good.example/cb/\\evil.com",
        "https://good.example/cb/.\t./evil",
        "https://good.example.evil.com/cb/x",
        "https://other.example.evil.com/x",
        "https://other.example@evil.com/",
        "https://other.example:444/x",
        "https://good.example@evil.com/cb/x",
        "https://good.example/cb@evil.com/cb/x",
        "https://user@good.example/cb/x",
        "https://good.example:8443/cb/x",
        "https://good.example/cbevil",
        "https://good.example/cb/x#frag",
        "http://good.example/cb/x",
    ] {
        let response = register(uri).await;
        assert_eq!(response.status(), 400, "{uri}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_redirect_uri", "{uri}");
        assert!(error.get("client_id").is_none(), "no client for {uri}");
    }
    // The genuine callbacks under the entries still register.
    assert_eq!(register("https://good.example/cb/app").await.status(), 201);
    assert_eq!(register("https://GOOD.example/cb/app").await.status(), 201);
    assert_eq!(register("https://other.example/any").await.status(), 201);
}
