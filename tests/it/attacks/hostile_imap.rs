//! Attacks: a mail server that answers to crash or starve the process. A tenant's IMAP
//! server (a scripted one on loopback) sends responses nested 100000 levels deep, a line
//! that never ends or bytes that are not IMAP; the tool call (or the login page's check)
//! must fail with a clear, short error, and the process must keep serving: `/health`
//! answers and another tenant's call on the real stack still works. A stack overflow in
//! the parser would kill this test binary, so a passing test also proves the process did
//! not crash. Both ways to reach a server are attacked: a token for an account on it (as
//! a generated client's fixed servers give), and the login page's custom servers, where a
//! person types the hostile server's host and port (TLS required, certificate checked).

use serde_json::{Value, json};

use crate::common::app::{AuthRequest, TestServer};
use crate::common::hostile_imap::{Answer, HostileImap, JUNK_END, JUNK_START, Trigger};
use crate::common::{error_text, stack};

/// Levels of nesting the hostile server sends: far beyond any stack.
const DEEP: usize = 100_000;

/// After an attack: the process still answers `/health` and serves a tenant on a real
/// mail server.
async fn still_serving(server: &TestServer) {
    let health = server
        .http
        .get(server.direct("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "/health answers after the attack");
    let stack = stack();
    let user = stack.new_user("bystander");
    let token = server.access_token_for(stack.mail_account(&user));
    let folders = server
        .call_tool_ok(&token, "list_mailboxes", json!({}))
        .await;
    assert!(
        folders.to_string().contains("INBOX"),
        "another tenant is still served: {folders}"
    );
}

/// Runs `tool` with `arguments` for an account on a server answering `trigger` with
/// `answer`; returns the error text, after checking the attack was delivered and the
/// process survived it.
async fn attacked_call(trigger: Trigger, answer: Answer, tool: &str, arguments: Value) -> String {
    let hostile = HostileImap::start(trigger, answer).await;
    let server = TestServer::start(stack(), &[]).await;
    let token = server.access_token_for(hostile.account());
    let result = server.call_tool(&token, tool, arguments).await;
    assert!(hostile.answers_sent() > 0, "the hostile answer was sent");
    let text = error_text(&result);
    still_serving(&server).await;
    text
}

/// A BODYSTRUCTURE nested 100000 levels deep, fetched by get_mail_message, is refused
/// before it reaches the parser (which would overflow the stack and abort the process).
#[tokio::test]
async fn a_deep_bodystructure_does_not_crash_get_mail_message() {
    let args = json!({"folder": "INBOX", "uid": 1});
    let text = attacked_call(
        Trigger::Fetch,
        Answer::Nested(DEEP),
        "get_mail_message",
        args,
    )
    .await;
    assert!(
        text.contains("nested deeper than 32 levels"),
        "a clear reason: {text}"
    );
}

/// The same answer to the FETCH of list_mail_messages.
#[tokio::test]
async fn a_deep_bodystructure_does_not_crash_list_mail_messages() {
    let args = json!({"folder": "INBOX"});
    let text = attacked_call(
        Trigger::Fetch,
        Answer::Nested(DEEP),
        "list_mail_messages",
        args,
    )
    .await;
    assert!(
        text.contains("nested deeper than 32 levels"),
        "a clear reason: {text}"
    );
}

/// Deeply nested lists in LIST, STATUS and CAPABILITY answers get the same clear refusal
/// (not a parser error quoting 100000 parentheses back).
#[tokio::test]
async fn deep_lists_in_list_status_and_capability_are_refused() {
    for trigger in [Trigger::List, Trigger::Status, Trigger::Capability] {
        let args = json!({"with_counts": true});
        let text = attacked_call(trigger, Answer::Nested(DEEP), "list_mailboxes", args).await;
        assert!(
            text.contains("nested deeper than 32 levels") && text.len() < 300,
            "{trigger:?}: a short, clear reason: {text}"
        );
    }
}

/// A response line that never ends is refused at the line limit, instead of growing a
/// buffer toward 512 MiB until the command times out (the refusal names the line limit,
/// not a timeout; no wall-clock bound is asserted, as a timed test flakes on a busy machine).
#[tokio::test]
async fn an_endless_line_is_refused_at_the_line_limit() {
    let args = json!({"folder": "INBOX", "uid": 1});
    let text = attacked_call(
        Trigger::Fetch,
        Answer::EndlessLine,
        "get_mail_message",
        args,
    )
    .await;
    assert!(text.contains("line longer than"), "a clear reason: {text}");
    assert!(
        !text.contains("did not answer") && !text.contains("timed out"),
        "not a timeout: {text}"
    );
}

/// A literal announced at 400 MiB is refused when its size arrives: without the guard
/// async-imap reserves 400 MiB for it at once (on every connection the server opens) and
/// waits for its bytes until the command times out (the refusal names the literal limit,
/// not a timeout).
#[tokio::test]
async fn a_huge_literal_is_refused_before_anything_is_reserved() {
    let args = json!({"folder": "INBOX", "uid": 1});
    let answer = Answer::HugeLiteral(400 << 20);
    let text = attacked_call(Trigger::Fetch, answer, "get_mail_message", args).await;
    assert!(
        text.contains("literal larger than 134217728 bytes"),
        "a clear reason: {text}"
    );
    assert!(
        !text.contains("did not answer") && !text.contains("timed out"),
        "not a timeout: {text}"
    );
}

/// The deep BODYSTRUCTURE hidden behind an unknown FETCH item whose `({n}` looks like a
/// literal spanning it: imap-proto reads that item up to its first `)` and parses the
/// BODYSTRUCTURE after it, so the guard reads a literal's bytes both ways and refuses.
#[tokio::test]
async fn a_deep_bodystructure_behind_a_fake_literal_is_refused() {
    let args = json!({"folder": "INBOX", "uid": 1});
    let answer = Answer::NestedBehindLiteral(DEEP);
    let text = attacked_call(Trigger::Fetch, answer, "get_mail_message", args).await;
    assert!(
        text.contains("nested deeper than 32 levels"),
        "a clear reason: {text}"
    );
}

/// A response line of about 1 MiB that is not IMAP (terminal control characters, then
/// filler, then a marker) gets a short error naming the problem: it quotes at most the
/// start of the line, with its control characters escaped, and none of the rest (before,
/// the text was a nom error listing the bytes as numbers, cut at 200 characters).
#[tokio::test]
async fn a_response_that_is_not_imap_is_quoted_short_and_escaped() {
    let args = json!({"folder": "INBOX", "uid": 1});
    let answer = Answer::Junk(1 << 20);
    let text = attacked_call(Trigger::Fetch, answer, "get_mail_message", args).await;
    assert!(
        text.contains("sent a response that is not valid IMAP"),
        "a clear reason: {text}"
    );
    assert!(text.len() < 300, "short: {} bytes: {text}", text.len());
    assert!(
        !text.chars().any(char::is_control),
        "no control character of the server's reaches the result: {text:?}"
    );
    assert!(
        text.contains(r"* 1 FETCH \u{1b}[2J\u{7}"),
        "the start is quoted, escaped: {text}"
    );
    assert!(
        !text.contains(JUNK_END) && !text.contains(&"x".repeat(100)),
        "none of the rest of the junk: {text}"
    );
    assert!(
        JUNK_START.contains('\u{1b}'),
        "the junk has control characters"
    );
}

/// A server that allows custom mail servers, also on loopback and odd ports (where the
/// hostile server listens).
async fn custom_servers_app() -> TestServer {
    let flags = ["--allow-custom-mail-servers", "--allow-private-network"];
    TestServer::start(stack(), &flags).await
}

/// Registers a public client (as an MCP client does) and returns its id and an
/// authorization request for its loopback redirect.
async fn registered_client(server: &TestServer) -> (String, AuthRequest) {
    let registration = json!({
        "redirect_uris": ["http://localhost/callback"],
        "token_endpoint_auth_method": "none",
    });
    let response = server
        .http
        .post(server.direct("/oauth/register"))
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "the client registers");
    let registered: Value = response.json().await.unwrap();
    let mut request = AuthRequest::new();
    request.redirect_uri = "http://localhost:5555/callback".into();
    (
        registered["client_id"].as_str().unwrap().to_owned(),
        request,
    )
}

/// Submits the login page with `hostile` typed as IMAP server (implicit TLS) and the
/// stack's SMTPS as SMTP server, logging in as a real mailbox of the stack (the hostile
/// server accepts any login, the stack checks the SMTP side).
async fn log_in_with_custom_imap(
    server: &TestServer,
    client_id: &str,
    request: &AuthRequest,
    hostile: &HostileImap,
) -> reqwest::Response {
    let stack = stack();
    let user = stack.new_user("typed");
    let (imap_port, smtp_port) = (hostile.port.to_string(), stack.smtps_port.to_string());
    let fields = [
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
        ("provider", "custom"),
        ("imap_host", "127.0.0.1"),
        ("imap_port", &imap_port),
        ("imap_security", "tls"),
        ("smtp_host", "127.0.0.1"),
        ("smtp_port", &smtp_port),
        ("smtp_security", "tls"),
    ];
    server.submit_login_with(client_id, request, &fields).await
}

/// Custom server path, attacked during the login check: a typed IMAP server (over TLS,
/// with a certificate the app trusts) answers LOGIN with an unsolicited FETCH whose
/// BODYSTRUCTURE is nested 100000 levels deep (without the guard the parser overflows the
/// stack and aborts the process). The login page comes back with a clear line for the
/// IMAP side, no code is issued, and the process keeps serving.
#[tokio::test]
async fn a_typed_server_nesting_deep_at_login_gets_a_login_page_error() {
    let stack = stack();
    let hostile = HostileImap::start_tls(Trigger::Login, Answer::Nested(DEEP), stack).await;
    let server = custom_servers_app().await;
    let (client_id, request) = registered_client(&server).await;
    let response = log_in_with_custom_imap(&server, &client_id, &request, &hostile).await;
    assert!(hostile.answers_sent() > 0, "the hostile answer was sent");
    assert_eq!(response.status(), 422, "the login page is shown again");
    assert!(
        response.headers().get("location").is_none(),
        "no redirect, so no code"
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains("IMAP: mail protocol error: the mail server sent a response nested deeper than 32 levels"),
        "a clear line for the IMAP side: {html}"
    );
    assert!(!html.contains("code="), "no code on the page");
    still_serving(&server).await;
}

/// Custom server path, attacked after login: a typed IMAP server behaves during the
/// login check, so a code and a token are issued for it; the tool call that fetches a
/// message gets a BODYSTRUCTURE nested 100000 levels deep, and fails with a clear
/// `isError` while the process keeps serving.
#[tokio::test]
async fn a_typed_server_nesting_deep_after_login_gets_a_tool_error() {
    let stack = stack();
    let hostile = HostileImap::start_tls(Trigger::Fetch, Answer::Nested(DEEP), stack).await;
    let server = custom_servers_app().await;
    let (client_id, request) = registered_client(&server).await;
    let response = log_in_with_custom_imap(&server, &client_id, &request, &hostile).await;
    let code = TestServer::code_of(&response);
    assert_eq!(
        hostile.answers_sent(),
        0,
        "the login check met a behaving server"
    );
    let token = server
        .exchange_code(&client_id, None, &code, &request)
        .await;
    assert_eq!(token.status(), 200, "a token for the typed servers");
    let token: Value = token.json().await.unwrap();
    let access_token = token["access_token"].as_str().unwrap();
    let args = json!({"folder": "INBOX", "uid": 1});
    let result = server
        .call_tool(access_token, "get_mail_message", args)
        .await;
    assert!(hostile.answers_sent() > 0, "the hostile answer was sent");
    let text = error_text(&result);
    assert!(
        text.contains("nested deeper than 32 levels") && text.len() < 300,
        "a short, clear reason: {text}"
    );
    still_serving(&server).await;
}
