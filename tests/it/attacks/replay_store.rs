//! Attacks on the replay store and the token endpoint: refreshing in a loop to grow the
//! store, replaying a rotated refresh token or a used code, flooding the token endpoint,
//! flooding code exchanges to make the memory store forget or refuse other people's
//! codes, getting a refresh token without asking for `offline_access`, and using the
//! access tokens of a sign-in revoked by a replay. Each runs
//! against the real server (memory store, and Redis where the store's shape matters).

use std::time::Duration;

use mail_mcp::mail::MailAccount;
use mail_mcp::token::{
    CodeClaims, Keyring, Purpose, RefreshClaims, TokenCodec, client_fingerprint,
};
use serde_json::Value;

use crate::common::app::{AuthRequest, TestServer, hidden_field};
use crate::common::{Stack, TestUser, stack};

/// Limits high enough that the loops below are never throttled.
const UNTHROTTLED: [&str; 4] = [
    "--token-max-requests-per-ip",
    "1000000",
    "--token-max-requests-per-client",
    "1000000",
];

/// A generated client: its id and secret.
struct Client {
    id: String,
    secret: String,
}

fn client_of(server: &TestServer, stack: &Stack) -> Client {
    let provisioned = server.provision_client(stack);
    Client {
        id: provisioned.client_id,
        secret: provisioned.client_secret,
    }
}

/// `POST /oauth/token` from `ip` (sent as X-Forwarded-For; the servers that vary it trust it).
async fn post_token(server: &TestServer, fields: &[(&str, &str)], ip: &str) -> reqwest::Response {
    server
        .http
        .post(server.direct("/oauth/token"))
        .header("x-forwarded-for", ip)
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn exchange(
    server: &TestServer,
    client: &Client,
    code: &str,
    request: &AuthRequest,
    ip: &str,
) -> reqwest::Response {
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("code_verifier", request.verifier.as_str()),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    post_token(server, &fields, ip).await
}

async fn refresh(server: &TestServer, client: &Client, token: &str) -> reqwest::Response {
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    post_token(server, &fields, "192.0.2.1").await
}

/// The body of a 200 token response.
async fn granted(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200, "the grant succeeds");
    response.json().await.unwrap()
}

/// The `error` of a refused token request, checking its status.
async fn refused(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status, "the request is refused");
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "a refusal carries no token: {body}"
    );
    body["error"].as_str().unwrap().to_string()
}

fn refresh_token_of(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string()
}

/// A browser sign-in asking for `scope` (none: the parameter is left out); the code.
async fn login_with_scope(
    server: &TestServer,
    client: &Client,
    request: &AuthRequest,
    user: &TestUser,
    scope: Option<&str>,
) -> String {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("code_challenge", request.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", request.state.as_str()),
    ];
    if let Some(scope) = scope {
        query.push(("scope", scope));
    }
    let page = server
        .http
        .get(server.direct("/oauth/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the login page loads");
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let form_token = hidden_field(&page.text().await.unwrap(), "form_token");
    let response = server
        .http
        .post(server.direct("/oauth/authorize"))
        .header("cookie", cookie)
        .form(&[
            ("form_token", form_token.as_str()),
            ("name", "Test Person"),
            ("same_smtp", "on"),
            ("policy", "send_freely"),
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    TestServer::code_of(&response)
}

/// Signs `user` in with `client` (default scope) and exchanges the code: the token body.
async fn sign_in(server: &TestServer, client: &Client, user: &TestUser) -> (Value, String) {
    let request = AuthRequest::new();
    let code = login_with_scope(server, client, &request, user, None).await;
    let body = granted(exchange(server, client, &code, &request, "192.0.2.1").await).await;
    (body, code)
}

fn codec(server: &TestServer) -> TokenCodec {
    TokenCodec::new(
        Keyring::parse(&server.key).unwrap(),
        server.base_url.clone(),
        server.url("/mcp"),
    )
}

fn family_of(server: &TestServer, refresh_token: &str) -> String {
    codec(server)
        .open::<RefreshClaims>(Purpose::Refresh, refresh_token)
        .unwrap()
        .family
}

/// An authorization code as a sign-in `ago_secs` seconds ago would have issued it (what an
/// attacker with a valid account gets from each of many sign-ins, without the mail logins).
fn mint_code(
    server: &TestServer,
    client: &Client,
    request: &AuthRequest,
    account: MailAccount,
    ago_secs: i64,
) -> String {
    let claims = CodeClaims {
        client: client_fingerprint(&client.id),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.challenge.clone(),
        scope: "mail.read mail.send offline_access".into(),
        resource: None,
        account,
        policy: mail_mcp::token::SendPolicy::SendFreely,
        upstream: None,
    };
    let now = mail_mcp::token::unix_now() - ago_secs;
    codec(server)
        .seal_at(Purpose::Code, &claims, Some(Duration::from_secs(300)), now)
        .unwrap()
}

/// The keys under the server's `mail_mcp:` prefix that belong to `family`, each checked to
/// have a TTL.
async fn redis_keys_of(family: &str) -> Vec<String> {
    let client = redis::Client::open(stack().redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("mail_mcp:*{family}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has a TTL ({ttl})");
    }
    keys
}

/// Refreshes `first` `times` times in a row, each with the token the last one returned.
async fn refresh_in_a_loop(server: &TestServer, client: &Client, first: String, times: usize) {
    let mut current = first;
    for n in 0..times {
        let response = refresh(server, client, &current).await;
        assert_eq!(response.status(), 200, "refresh {n} succeeds");
        current = refresh_token_of(&response.json().await.unwrap());
    }
}

/// (a) Thousands of refreshes leave Redis with the same keys for the sign-in as before
/// (one family key and the code's marker, each with a TTL): a refresh no longer leaves a
/// 30-day marker behind (before the fix, one `used` key per refresh).
#[tokio::test]
async fn thousands_of_refreshes_do_not_grow_redis() {
    let stack = stack();
    let mut args = vec!["--redis-url", stack.redis_url.as_str()];
    args.extend(UNTHROTTLED);
    let server = TestServer::start(stack, &args).await;
    let client = client_of(&server, stack);
    let (body, _) = sign_in(&server, &client, &stack.new_user("refresh-loop")).await;
    let first = refresh_token_of(&body);
    let family = family_of(&server, &first);
    let before = redis_keys_of(&family).await;
    assert_eq!(
        before.len(),
        2,
        "the family and the code's marker: {before:?}"
    );
    refresh_in_a_loop(&server, &client, first, 2000).await;
    let after = redis_keys_of(&family).await;
    assert_eq!(after, before, "2000 refreshes later, the same keys");
}

/// (a) Thousands of refreshes fit a memory store that holds 8 records of each kind: the
/// store does not grow with refreshes (before the fix every refresh took a record, so a
/// bounded store refused refreshes once full).
#[tokio::test]
async fn thousands_of_refreshes_fit_a_tiny_memory_store() {
    let stack = stack();
    let mut args = vec!["--memory-store-max-entries", "8"];
    args.extend(UNTHROTTLED);
    let server = TestServer::start(stack, &args).await;
    let client = client_of(&server, stack);
    let (body, _) = sign_in(&server, &client, &stack.new_user("refresh-tiny")).await;
    refresh_in_a_loop(&server, &client, refresh_token_of(&body), 2000).await;
    let (other, _) = sign_in(&server, &client, &stack.new_user("refresh-tiny2")).await;
    granted(refresh(&server, &client, &refresh_token_of(&other)).await).await;
}

/// (b) A rotated refresh token presented again is refused and revokes its family: the
/// family's current token fails too. Another sign-in of the same person is untouched.
async fn a_stale_refresh_token_revokes_its_family(extra_args: &[&str]) {
    let stack = stack();
    let server = TestServer::start(stack, extra_args).await;
    let client = client_of(&server, stack);
    let user = stack.new_user("stale");
    let (first, _) = sign_in(&server, &client, &user).await;
    let (other, _) = sign_in(&server, &client, &user).await;
    let r1 = refresh_token_of(&first);
    let r2 = refresh_token_of(&granted(refresh(&server, &client, &r1).await).await);
    let r3 = refresh_token_of(&granted(refresh(&server, &client, &r2).await).await);
    assert_eq!(
        refused(refresh(&server, &client, &r2).await, 400).await,
        "invalid_grant"
    );
    assert_eq!(
        refused(refresh(&server, &client, &r3).await, 400).await,
        "invalid_grant",
        "the family's current token is revoked with it"
    );
    granted(refresh(&server, &client, &refresh_token_of(&other)).await).await;
}

#[tokio::test]
async fn a_stale_refresh_token_revokes_its_family_in_memory() {
    a_stale_refresh_token_revokes_its_family(&[]).await;
}

#[tokio::test]
async fn a_stale_refresh_token_revokes_its_family_in_redis() {
    a_stale_refresh_token_revokes_its_family(&["--redis-url", &stack().redis_url]).await;
}

/// (c) A replayed authorization code is refused, and the refresh token its first exchange
/// issued stops working (before the fix it kept working). Another sign-in is untouched.
async fn a_replayed_code_revokes_what_it_issued(extra_args: &[&str]) {
    let stack = stack();
    let server = TestServer::start(stack, extra_args).await;
    let client = client_of(&server, stack);
    let user = stack.new_user("code-replay");
    let (other, _) = sign_in(&server, &client, &user).await;
    let request = AuthRequest::new();
    let code = login_with_scope(&server, &client, &request, &user, None).await;
    let first = granted(exchange(&server, &client, &code, &request, "192.0.2.1").await).await;
    let replay = exchange(&server, &client, &code, &request, "192.0.2.1").await;
    assert_eq!(refused(replay, 400).await, "invalid_grant");
    let after = refresh(&server, &client, &refresh_token_of(&first)).await;
    assert_eq!(refused(after, 400).await, "invalid_grant");
    granted(refresh(&server, &client, &refresh_token_of(&other)).await).await;
}

#[tokio::test]
async fn a_replayed_code_revokes_what_it_issued_in_memory() {
    a_replayed_code_revokes_what_it_issued(&[]).await;
}

#[tokio::test]
async fn a_replayed_code_revokes_what_it_issued_in_redis() {
    a_replayed_code_revokes_what_it_issued(&["--redis-url", &stack().redis_url]).await;
}

/// Asserts a 429 `slow_down` with a Retry-After within the window.
async fn assert_slowed_down(response: reqwest::Response) {
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(refused(response, 429).await, "slow_down");
}

/// (d) Past its limit, one IP gets 429 `slow_down` with Retry-After, even for a valid code,
/// which stays unused (it works from another address); past a client's limit, that client
/// gets 429 from every address while other clients are served. Before the fix: no limit.
#[tokio::test]
async fn the_token_endpoint_slows_down_one_ip_and_one_client() {
    let stack = stack();
    let args = [
        "--trust-forwarded-for",
        "--token-max-requests-per-ip",
        "5",
        "--token-max-requests-per-client",
        "8",
    ];
    let server = TestServer::start(stack, &args).await;
    let (flooder, bystander) = (client_of(&server, stack), client_of(&server, stack));
    let bogus = AuthRequest::new();
    for _ in 0..5 {
        let response = exchange(&server, &flooder, "not-a-code", &bogus, "198.51.100.1").await;
        assert_eq!(refused(response, 400).await, "invalid_grant");
    }
    assert_slowed_down(exchange(&server, &flooder, "not-a-code", &bogus, "198.51.100.1").await)
        .await;

    let request = AuthRequest::new();
    let code = login_with_scope(&server, &flooder, &request, &stack.new_user("slow"), None).await;
    assert_slowed_down(exchange(&server, &flooder, &code, &request, "198.51.100.1").await).await;
    let body = granted(exchange(&server, &flooder, &code, &request, "198.51.100.2").await).await;
    assert!(
        body["refresh_token"].is_string(),
        "the code was not spent by the 429"
    );

    // The flooder client has used 6 of its 8; two more addresses, then it is slowed down.
    for ip in ["198.51.100.3", "198.51.100.4"] {
        let response = exchange(&server, &flooder, "not-a-code", &bogus, ip).await;
        assert_eq!(refused(response, 400).await, "invalid_grant");
    }
    assert_slowed_down(exchange(&server, &flooder, "not-a-code", &bogus, "198.51.100.5").await)
        .await;
    let other = exchange(&server, &bystander, "not-a-code", &bogus, "198.51.100.5").await;
    assert_eq!(
        refused(other, 400).await,
        "invalid_grant",
        "another client from that address is served"
    );
}

/// (e) A sign-in that names scopes without `offline_access` gets no refresh token; one that
/// names none (as some clients do) or names `offline_access` gets one; a refresh narrowed
/// to drop `offline_access` returns none and ends the family. Before the fix: always one.
#[tokio::test]
async fn no_offline_access_no_refresh_token() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let client = client_of(&server, stack);
    let user = stack.new_user("offline");
    let cases = [
        (Some("mail.read mail.send"), false),
        (Some("mail.read"), false),
        (Some("mail.read offline_access"), true),
        (None, true),
    ];
    for (scope, gets_refresh) in cases {
        let request = AuthRequest::new();
        let code = login_with_scope(&server, &client, &request, &user, scope).await;
        let body = granted(exchange(&server, &client, &code, &request, "192.0.2.1").await).await;
        assert!(body["access_token"].is_string());
        assert_eq!(
            body["refresh_token"].is_string(),
            gets_refresh,
            "{scope:?}: {body}"
        );
    }
    let (body, _) = sign_in(&server, &client, &user).await;
    let r1 = refresh_token_of(&body);
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r1.as_str()),
        ("scope", "mail.read"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    let narrowed = granted(post_token(&server, &fields, "192.0.2.1").await).await;
    assert_eq!(narrowed["scope"], "mail.read");
    assert!(narrowed.get("refresh_token").is_none(), "{narrowed}");
    assert_eq!(
        refused(refresh(&server, &client, &r1).await, 400).await,
        "invalid_grant"
    );
}

/// (f) One account floods a memory store that holds 20 codes with 1000 code exchanges
/// (each code as a sign-in of its own would issue it, held for 30 s). The store never
/// refuses (no 5xx: a flood code is served, or refused as used once older codes had to be
/// forgotten); the victim's code, used before the flood and certainly forgotten by the
/// store, is still refused; a served flood code is refused the second time; and a person
/// signing in after the flood is served and refreshes normally. Before the fix the flag
/// did not exist and the one bounded map answered 503 to every new code once full.
#[tokio::test]
async fn flooding_codes_neither_refuses_nor_revives_other_codes() {
    let stack = stack();
    let mut args = vec!["--memory-store-max-entries", "20"];
    args.extend(UNTHROTTLED);
    let server = TestServer::start(stack, &args).await;
    let client = client_of(&server, stack);
    let victim = stack.mail_account(&stack.new_user("victim"));
    let request = AuthRequest::new();
    let victim_code = mint_code(&server, &client, &request, victim, 60);
    granted(exchange(&server, &client, &victim_code, &request, "192.0.2.1").await).await;

    let attacker = stack.mail_account(&stack.new_user("flooder"));
    let flood = AuthRequest::new();
    let mut served = Vec::new();
    for n in 0..1000 {
        let code = mint_code(&server, &client, &flood, attacker.clone(), 30);
        let response = exchange(&server, &client, &code, &flood, "203.0.113.7").await;
        match response.status().as_u16() {
            200 => served.push(code),
            400 => assert_eq!(refused(response, 400).await, "invalid_grant"),
            other => panic!("flood exchange {n} answered {other}"),
        }
    }
    assert!(!served.is_empty(), "the flood was served at first");

    let replay = exchange(&server, &client, &victim_code, &request, "192.0.2.1").await;
    assert_eq!(refused(replay, 400).await, "invalid_grant");
    let again = exchange(&server, &client, &served[0], &flood, "203.0.113.7").await;
    assert_eq!(refused(again, 400).await, "invalid_grant");
    let (body, _) = sign_in(&server, &client, &stack.new_user("bystander")).await;
    granted(refresh(&server, &client, &refresh_token_of(&body)).await).await;
}

/// A `list_mailboxes` call on `/mcp` with `token`: the status, the JSON body and the
/// `WWW-Authenticate` challenge, if any.
async fn list_mailboxes(server: &TestServer, token: &str) -> (u16, Value, Option<String>) {
    let call = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_mailboxes", "arguments": {}},
    });
    let response = server.mcp_raw(Some(token), call).await;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, challenge)
}

/// Asserts that `token` is served on `/mcp` (the mailbox list arrives).
async fn assert_served(server: &TestServer, token: &str, what: &str) {
    let (status, body, _) = list_mailboxes(server, token).await;
    assert_eq!(status, 200, "{what} is served: {body}");
    assert!(
        body["result"].to_string().contains("INBOX"),
        "{what} lists the mailboxes: {body}"
    );
}

/// Asserts that `token` gets 401 `invalid_token` on `/mcp`, saying to sign in again, with
/// the challenge MCP clients follow, and no tool result (nothing was read).
async fn assert_revoked(server: &TestServer, token: &str, what: &str) {
    let (status, body, challenge) = list_mailboxes(server, token).await;
    assert_eq!(status, 401, "{what} is refused: {body}");
    assert_eq!(body["error"], "invalid_token", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("sign in again"), "{description}");
    let challenge = challenge.expect("a WWW-Authenticate challenge");
    assert!(
        challenge.contains("invalid_token") && challenge.contains("resource_metadata"),
        "{challenge}"
    );
    assert!(body.get("result").is_none(), "nothing was read: {body}");
}

fn access_token_of(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_string()
}

/// (g) A replayed authorization code also ends the access token its first exchange
/// issued: it was served before the replay and gets 401 `invalid_token` ("sign in again")
/// after it, also for a sign-in without `offline_access` (no refresh token, so no family
/// record before the fix). Another sign-in of the same account keeps working. Before the
/// fix the access tokens stayed valid for their 8 hours.
async fn a_replayed_code_ends_its_access_tokens(extra_args: &[&str]) {
    let stack = stack();
    let server = TestServer::start(stack, extra_args).await;
    let client = client_of(&server, stack);
    let user = stack.new_user("code-replay-access");
    let (other, _) = sign_in(&server, &client, &user).await;
    for scope in [None, Some("mail.read")] {
        let request = AuthRequest::new();
        let code = login_with_scope(&server, &client, &request, &user, scope).await;
        let first = granted(exchange(&server, &client, &code, &request, "192.0.2.1").await).await;
        let access = access_token_of(&first);
        assert_served(&server, &access, "the first exchange's access token").await;
        let replay = exchange(&server, &client, &code, &request, "192.0.2.1").await;
        assert_eq!(refused(replay, 400).await, "invalid_grant");
        assert_revoked(
            &server,
            &access,
            &format!("after a replay (scope {scope:?})"),
        )
        .await;
    }
    assert_served(&server, &access_token_of(&other), "another sign-in").await;
    granted(refresh(&server, &client, &refresh_token_of(&other)).await).await;
}

#[tokio::test]
async fn a_replayed_code_ends_its_access_tokens_in_memory() {
    a_replayed_code_ends_its_access_tokens(&[]).await;
}

#[tokio::test]
async fn a_replayed_code_ends_its_access_tokens_in_redis() {
    a_replayed_code_ends_its_access_tokens(&["--redis-url", &stack().redis_url]).await;
}

/// (h) A stale (already rotated) refresh token presented again ends the family's live
/// access tokens, the one issued with it and the one from the latest rotation (401
/// `invalid_token`, "sign in again"), and the family's current refresh token is refused;
/// another sign-in of the same account (its access and refresh tokens) keeps working.
/// Before the fix the access tokens stayed valid until they expired.
async fn a_stale_refresh_token_ends_the_familys_access_tokens(extra_args: &[&str]) {
    let stack = stack();
    let server = TestServer::start(stack, extra_args).await;
    let client = client_of(&server, stack);
    let user = stack.new_user("stale-access");
    let (first, _) = sign_in(&server, &client, &user).await;
    let (other, _) = sign_in(&server, &client, &user).await;
    let r1 = refresh_token_of(&first);
    let rotated = granted(refresh(&server, &client, &r1).await).await;
    let (live_access, r2) = (access_token_of(&rotated), refresh_token_of(&rotated));
    assert_served(&server, &live_access, "the family's live access token").await;

    assert_eq!(
        refused(refresh(&server, &client, &r1).await, 400).await,
        "invalid_grant"
    );
    assert_revoked(&server, &live_access, "the live access token").await;
    assert_revoked(&server, &access_token_of(&first), "the first access token").await;
    assert_eq!(
        refused(refresh(&server, &client, &r2).await, 400).await,
        "invalid_grant",
        "the family's current refresh token is refused"
    );
    assert_served(&server, &access_token_of(&other), "another sign-in").await;
    granted(refresh(&server, &client, &refresh_token_of(&other)).await).await;
}

#[tokio::test]
async fn a_stale_refresh_token_ends_the_familys_access_tokens_in_memory() {
    a_stale_refresh_token_ends_the_familys_access_tokens(&[]).await;
}

#[tokio::test]
async fn a_stale_refresh_token_ends_the_familys_access_tokens_in_redis() {
    a_stale_refresh_token_ends_the_familys_access_tokens(&["--redis-url", &stack().redis_url])
        .await;
}
