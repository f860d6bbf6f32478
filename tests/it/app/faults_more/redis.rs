//! The shared store (Redis, behind a fault proxy) down or silent while people sign in,
//! redeem codes, refresh, and approve: every answer is a clear refusal (OAuth error JSON
//! 503 `temporarily_unavailable` naming the shared store, or a readable page), within
//! REDIS_TIMEOUT, never a grant or an approval let through unchecked; once Redis answers
//! again the same requests work, and a replay is still refused.

use serde_json::{Value, json};

use crate::common::app::{AuthRequest, TestServer, hidden_field};
use crate::common::fault_proxy::FaultProxy;
use crate::common::{Stack, eventually, fetch_raw, stack, wait_for_messages};
use mail_mcp::token::SendPolicy;

/// A proxy in front of the stack's Redis, and the URL of a database of the test's own
/// through it.
async fn redis_behind_proxy(stack: &Stack) -> (FaultProxy, String) {
    let mut url = url::Url::parse(&stack.own_redis_url()).unwrap();
    let proxy = FaultProxy::start(url.port().unwrap()).await;
    url.set_port(Some(proxy.port)).unwrap();
    (proxy, url.to_string())
}

async fn server_with(stack: &Stack, redis_url: &str) -> TestServer {
    TestServer::start(stack, &["--redis-url", redis_url, "--redis-timeout", "1s"]).await
}

/// A 503 OAuth error JSON that names the shared store.
async fn assert_store_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("shared store"), "{body}");
}

/// Redis down while a code is redeemed: 503 naming the shared store, and the code is not
/// spent; once Redis is back the code is redeemed. Refresh and an MCP call (whose sign-in
/// is looked up) likewise: refused while Redis is silent (accepts, never answers), the
/// refresh works after; then the rotated refresh token and the used code are refused.
#[tokio::test]
async fn redis_down_or_silent_fails_token_requests_closed_and_they_work_after() {
    let stack = stack();
    let (proxy, redis_url) = redis_behind_proxy(stack).await;
    let server = server_with(stack, &redis_url).await;
    let user = stack.new_user("redisdown");
    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let code = server.login_code(&client.client_id, &request, &user).await;
    let secret = Some(client.client_secret.as_str());
    let exchange = || server.exchange_code(&client.client_id, secret, &code, &request);

    proxy.go_down();
    assert_store_unavailable(exchange().await).await;

    proxy.come_back().await;
    let mut tokens = Value::Null;
    eventually("the code is redeemed once Redis is back", async || {
        let response = exchange().await;
        if response.status() == 503 {
            return false;
        }
        let status = response.status();
        tokens = response.json().await.unwrap();
        assert_eq!(status, 200, "{tokens}");
        true
    })
    .await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
    ];
    proxy.hold();
    assert_store_unavailable(server.token_request(&refresh).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    let call = server
        .mcp_raw(
            Some(access),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
    assert_store_unavailable(call).await;

    proxy.release();
    let mut refreshed = reqwest::StatusCode::SERVICE_UNAVAILABLE;
    eventually("refresh works once Redis answers", async || {
        refreshed = server.token_request(&refresh).await.status();
        refreshed != 503
    })
    .await;
    assert_eq!(refreshed, 200);
    let replayed = server.token_request(&refresh).await;
    assert_eq!(replayed.status(), 400, "a rotated refresh token is refused");
    let replay = exchange().await;
    assert_eq!(replay.status(), 400, "a used code stays used");
}

/// Signing in while Redis is down (the login limiter cannot count): a readable page, 503,
/// and no code; once Redis is back the sign-in works.
#[tokio::test]
async fn signing_in_with_redis_down_is_a_readable_page_then_works() {
    let stack = stack();
    let (proxy, redis_url) = redis_behind_proxy(stack).await;
    let server = server_with(stack, &redis_url).await;
    let user = stack.new_user("redislogin");
    let client = server.provision_client(stack);
    let request = AuthRequest::new();
    let started = server.authorize_page(&client.client_id, &request).await;
    assert_eq!(
        started.status(),
        200,
        "the server is up (it needs Redis to start)"
    );

    proxy.go_down();
    let page = server
        .submit_login(&client.client_id, &request, &user, &user.password)
        .await;
    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(html.contains("unavailable"), "{html}");

    proxy.come_back().await;
    eventually("sign-in works once Redis is back", async || {
        let response = server
            .submit_login(&client.client_id, &request, &user, &user.password)
            .await;
        response.status() == 302
    })
    .await;
}

/// Approving an "Ask me first" link while Redis is down: the page says to try again and
/// nothing is sent (the single-use mark could not be taken); once Redis is back the same
/// approval sends the message exactly once, and a second approval is "already done".
#[tokio::test]
async fn approving_with_redis_down_sends_nothing_then_sends_once() {
    let stack = stack();
    let (proxy, redis_url) = redis_behind_proxy(stack).await;
    let server = server_with(stack, &redis_url).await;
    let alice = stack.new_user("redisapprove");
    let bob = stack.new_user("redisapprovebob");
    let token = server.access_token_with_policy(stack.mail_account(&alice), SendPolicy::Ask);
    let asked = server
        .call_tool(
            &token,
            "send_mail_message",
            json!({"to": [bob.email], "subject": "approved after Redis", "text_body": "hi"}),
        )
        .await;
    let text = asked["content"][0]["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|word| word.contains("/approve/"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_string();
    let page = server.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let form_token = hidden_field(&page.text().await.unwrap(), "form_token");
    let approve = || {
        server
            .http
            .post(&link)
            .header("cookie", &cookie)
            .form(&[("form_token", form_token.as_str()), ("decision", "approve")])
            .send()
    };

    proxy.go_down();
    let refused = approve().await.unwrap();
    assert_eq!(refused.status(), 503);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("shared store") && page.contains("try again"),
        "{page}"
    );
    assert_eq!(fetch_raw(&alice, "Sent").await.len(), 0, "nothing sent");

    proxy.come_back().await;
    eventually("the approval runs once Redis is back", async || {
        approve().await.unwrap().status() != 503
    })
    .await;
    wait_for_messages(&bob, "INBOX", 1).await;
    let again = approve().await.unwrap();
    assert_eq!(again.status(), 409, "already done");
    assert_eq!(
        fetch_raw(&alice, "Sent").await.len(),
        1,
        "sent exactly once"
    );
}
