//! `GET /metrics`: the series move with real sign-ins and tool calls against the stack,
//! only the bearer of METRICS_TOKEN reads them, and without the setting they are off.

use serde_json::json;

use crate::common::app::{AuthRequest, TestServer};
use crate::common::stack;

const TOKEN: &str = "metrics-test-token-0123456789";

/// The exposition, read with `bearer` (or none); the response's status and body.
async fn scrape(server: &TestServer, bearer: Option<&str>) -> (u16, String) {
    let mut request = server.http.get(server.direct("/metrics"));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of the sample line that starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// After a good sign-in, a refused one and tool calls that succeed, fail and name no tool (a
/// protocol error),
/// every series of the README is there and counted: requests by route template, tool
/// calls by tool and outcome, logins by outcome, IMAP/SMTP latency histograms, pool sizes
/// and process figures; no address, password or unknown tool name shows up in any label.
#[tokio::test]
async fn series_move_with_sign_ins_and_tool_calls() {
    let stack = stack();
    let server = TestServer::start(stack, &["--metrics-token", TOKEN]).await;
    let user = stack.new_user("metrics");
    let tokens = server.tokens_for(stack, &user).await;
    let client = server.provision_client(stack);
    let refused = server
        .submit_login(
            &client.client_id,
            &AuthRequest::new(),
            &user,
            "wrong-password",
        )
        .await;
    assert_eq!(refused.status(), 422, "a wrong password is refused");
    let token = tokens.access_token.as_str();
    server
        .call_tool_ok(token, "list_mailboxes", json!({}))
        .await;
    let missing = json!({"folder": "INBOX", "uid": 4242});
    let failed = server.call_tool(token, "get_mail_message", missing).await;
    assert_eq!(failed["isError"], json!(true), "{failed}");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "no_such_tool_xyzzy", "arguments": {}}});
    let unknown: serde_json::Value = server
        .mcp_raw(Some(token), call)
        .await
        .json()
        .await
        .unwrap();
    assert!(unknown["error"].is_object(), "{unknown}");

    let (status, text) = scrape(&server, Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    let counted =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert!(
        counted(r#"mail_mcp_http_requests_total{route="/oauth/authorize",status="302"}"#) >= 1.0
    );
    assert!(
        counted(r#"mail_mcp_http_requests_total{route="/oauth/authorize",status="422"}"#) >= 1.0
    );
    assert!(counted(r#"mail_mcp_http_requests_total{route="/mcp",status="200"}"#) >= 3.0);
    assert_eq!(
        counted(r#"mail_mcp_tool_calls_total{tool="list_mailboxes",outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        counted(r#"mail_mcp_tool_calls_total{tool="get_mail_message",outcome="tool_error"}"#),
        1.0
    );
    assert_eq!(
        counted(r#"mail_mcp_tool_calls_total{tool="unknown",outcome="protocol_error"}"#),
        1.0
    );
    assert_eq!(counted(r#"mail_mcp_logins_total{outcome="ok"}"#), 1.0);
    assert_eq!(counted(r#"mail_mcp_logins_total{outcome="refused"}"#), 1.0);
    assert!(
        counted(r#"mail_mcp_mail_seconds_count{protocol="imap",step="login",outcome="ok"}"#) >= 1.0
    );
    assert!(
        counted(r#"mail_mcp_mail_seconds_count{protocol="imap",step="command",outcome="ok"}"#)
            >= 1.0
    );
    assert!(
        counted(r#"mail_mcp_mail_seconds_count{protocol="smtp",step="login",outcome="ok"}"#) >= 1.0
    );
    assert!(counted(r#"mail_mcp_pool_idle_connections{pool="imap"}"#) >= 0.0);
    assert!(counted(r#"mail_mcp_pool_idle_connections{pool="smtp"}"#) >= 0.0);
    assert!(counted("mail_mcp_process_resident_memory_bytes") > 0.0);
    assert!(counted("mail_mcp_process_open_fds") > 0.0);
    for secret in [
        user.email.as_str(),
        user.password.as_str(),
        "no_such_tool_xyzzy",
        "127.0.0.1",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into:\n{text}");
    }
}

/// With METRICS_TOKEN set, a scrape without the bearer or with another one gets 401 with
/// a JSON body saying what is needed, and no figures.
#[tokio::test]
async fn scrapes_without_the_bearer_are_refused() {
    let server = TestServer::start(stack(), &["--metrics-token", TOKEN]).await;
    for bearer in [None, Some("wrong"), Some("metrics-test-token-012345678")] {
        let (status, body) = scrape(&server, bearer).await;
        assert_eq!(status, 401, "{bearer:?}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "invalid_token", "{body}");
        assert!(!body.to_string().contains("mail_mcp_"), "{body}");
    }
}

/// Without METRICS_TOKEN, /metrics is off: 404 with a JSON body naming the setting, even
/// for a caller sending some bearer.
#[tokio::test]
async fn metrics_are_off_without_the_setting() {
    let server = TestServer::start(stack(), &[]).await;
    for bearer in [None, Some(TOKEN)] {
        let (status, body) = scrape(&server, bearer).await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("METRICS_TOKEN"), "{body}");
        assert!(!body.contains("mail_mcp_"), "{body}");
    }
}
