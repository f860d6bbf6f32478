//! Scale-out on real parts: two `mail_mcp` processes (the same ENCRYPTION_KEYS, BASE_URL,
//! Redis database and S3 bucket) behind the nginx of `bin/mail-stack balance`. What one
//! instance issued or counted holds on the other, and a killed instance costs no more than
//! the call it was running.

use std::process::Stdio;
use std::sync::OnceLock;

use mail_mcp::token::Keyring;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::common::app::{AuthRequest, TestServer};
use crate::common::fault_proxy::FaultProxy;
use crate::common::{eventually, stack};

/// The one Redis database all these tests share (their counters are per account).
fn redis_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| stack().own_redis_url())
}

/// A free port of 127.0.0.1 now (for a process started next).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One `mail_mcp server` process and a view of it.
struct Instance {
    child: Child,
    view: TestServer,
}

/// Two instances and nginx in front of them.
struct Cluster {
    a: Instance,
    b: Instance,
    nginx: TestServer,
}

impl Cluster {
    async fn start() -> Cluster {
        let stack = stack();
        let key = Keyring::encode_key(&Keyring::generate_key());
        let nginx_port = free_port();
        let base_url = format!("http://127.0.0.1:{nginx_port}");
        let a = Instance::start(&base_url, &key, free_port()).await;
        let b = Instance::start(&base_url, &key, free_port()).await;
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/mail-stack");
        let name = format!("scaleout-{}", uuid::Uuid::new_v4().simple());
        let out = std::process::Command::new(script)
            .arg("balance")
            .arg(&stack.dir)
            .args(["--name", &name, "--port", &nginx_port.to_string()])
            .arg(a.view.origin.trim_start_matches("http://"))
            .arg(b.view.origin.trim_start_matches("http://"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let nginx = TestServer::attach(&base_url, &base_url, &key);
        Cluster { a, b, nginx }
    }
}

impl Instance {
    async fn start(base_url: &str, key: &str, port: u16) -> Instance {
        let stack = stack();
        let listen = format!("127.0.0.1:{port}");
        let view = TestServer::attach(base_url, &format!("http://{listen}"), key);
        let child = Command::new(env!("CARGO_BIN_EXE_mail_mcp"))
            .args(["server", "--listen", &listen, "--base-url", base_url])
            .args(["--encryption-keys", key, "--allowed-hosts", &listen])
            .args(["--mail-ca-file", stack.ca_file.to_str().unwrap()])
            .args(["--data-dir", view.data_dir.to_str().unwrap()])
            .args(["--redis-url", redis_url(), "--trust-forwarded-for"])
            .args(["--attachment-store", "s3", "--s3-force-path-style"])
            .args([
                "--s3-endpoint",
                &stack.s3_endpoint,
                "--s3-region",
                &stack.s3_region,
            ])
            .args(["--s3-bucket", &stack.s3_bucket])
            .args(["--s3-access-key-id", &stack.s3_access_key_id])
            .args(["--s3-secret-access-key", &stack.s3_secret_access_key])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let health = view.direct("/health");
        eventually("the instance answers /health", async || {
            reqwest::get(&health).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        Instance { child, view }
    }
}

/// `tools/call` of `list_mailboxes` through `server`: the HTTP status and the body.
async fn list_mailboxes(server: &TestServer, token: &str) -> (u16, Value) {
    let response = server
        .mcp_raw(
            Some(token),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "list_mailboxes", "arguments": {}}}),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A sign-in at A (login page, form, code exchange) gives tokens that B and nginx take:
/// the tools answer there; and the code, replayed at B, is refused (the used code is
/// in the shared Redis, not in A's memory).
#[tokio::test]
async fn a_sign_in_at_one_instance_serves_at_the_other_and_its_code_is_not_replayable_there() {
    let stack = stack();
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.a.view, &cluster.b.view);
    let user = stack.new_user("scaleout");
    let client = a.provision_client(stack);
    let request = AuthRequest::new();
    let code = a.login_code(&client.client_id, &request, &user).await;
    let exchange = a
        .exchange_code(
            &client.client_id,
            Some(&client.client_secret),
            &code,
            &request,
        )
        .await;
    assert_eq!(exchange.status(), 200);
    let tokens: Value = exchange.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    for server in [b, &cluster.nginx, &cluster.nginx] {
        let (status, body) = list_mailboxes(server, access).await;
        assert_eq!(status, 200, "{body}");
        assert_ne!(body["result"]["isError"], json!(true), "{body}");
    }

    let replay = b
        .exchange_code(
            &client.client_id,
            Some(&client.client_secret),
            &code,
            &request,
        )
        .await;
    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

/// Killed with SIGKILL while a call is running on it (held at the IMAP server), instance
/// A costs that call only: every later call through nginx succeeds, since nginx finds A's
/// port closed and sends the request to B.
#[tokio::test]
async fn an_instance_killed_mid_run_leaves_every_later_call_through_nginx_served() {
    let stack = stack();
    let mut cluster = Cluster::start().await;
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let user = stack.new_user("scaleoutkill");
    let mut account = stack.mail_account(&user);
    account.imap.endpoint.port = proxy.port;
    let token = cluster.nginx.access_token_for(account);
    let (status, body) = list_mailboxes(&cluster.b.view, &token).await;
    assert_eq!(status, 200, "{body}");
    let warm = proxy.accepted();

    proxy.hold();
    let a = &cluster.a.view;
    let in_flight = a
        .http
        .post(a.direct("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .bearer_auth(&token)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "list_mailboxes", "arguments": {}}}))
        .send();
    let kill = async {
        proxy.wait_for_accepted(warm + 1).await;
        cluster.a.child.start_kill().unwrap();
        cluster.a.child.wait().await.unwrap();
        proxy.release();
    };
    let (lost, ()) = tokio::join!(in_flight, kill);
    assert!(
        lost.is_err(),
        "the call A was running when it died is lost: {lost:?}"
    );

    for _ in 0..6 {
        let (status, body) = list_mailboxes(&cluster.nginx, &token).await;
        assert_eq!(status, 200, "a call after the kill fails: {body}");
        assert_ne!(body["result"]["isError"], json!(true), "{body}");
    }
    let (status, _) = list_mailboxes(&cluster.b.view, &token).await;
    assert_eq!(status, 200);
}

/// A refresh token rotated at A and replayed at B is refused there (invalid_grant) and
/// ends its sign-in: the access token from the rotation is then refused by both.
#[tokio::test]
async fn a_refresh_token_rotated_at_one_instance_and_replayed_at_the_other_revokes_the_sign_in() {
    let stack = stack();
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.a.view, &cluster.b.view);
    let user = stack.new_user("scaleoutrefresh");
    let client = a.provision_client(stack);
    let request = AuthRequest::new();
    let code = a.login_code(&client.client_id, &request, &user).await;
    let exchange = a
        .exchange_code(
            &client.client_id,
            Some(&client.client_secret),
            &code,
            &request,
        )
        .await;
    assert_eq!(exchange.status(), 200);
    let first: Value = exchange.json().await.unwrap();
    let old_refresh = first["refresh_token"].as_str().unwrap();
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", old_refresh),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
    ];
    let rotated = a.token_request(&fields).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let access = rotated["access_token"].as_str().unwrap();
    let (status, body) = list_mailboxes(b, access).await;
    assert_eq!(status, 200, "the rotated sign-in works at B: {body}");

    let replay = b.token_request(&fields).await;
    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    for server in [a, b] {
        let (status, body) = list_mailboxes(server, access).await;
        assert_eq!(status, 401, "the revoked sign-in is refused: {body}");
    }
}

/// Wrong passwords alternating between A and B hit LOGIN_MAX_FAILURES_PER_ACCOUNT (5) at
/// 5 in all, not 5 per instance: the sixth attempt, with the right password, is refused.
#[tokio::test]
async fn login_failures_count_across_instances() {
    let stack = stack();
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.a.view, &cluster.b.view);
    let user = stack.new_user("scaleoutlimit");
    let client = a.provision_client(stack);
    for server in [a, b, a, b, a] {
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
    let response = b
        .submit_login(
            &client.client_id,
            &AuthRequest::new(),
            &user,
            &user.password,
        )
        .await;
    assert_eq!(response.status(), 429, "B counted A's failures");
}

/// An attachment uploaded by one instance is the other's too: A uploads it to the shared
/// S3 bucket, B finds the same object (no second upload) and hands out a URL serving the
/// same bytes; the link one instance made is accepted by the other as an attachment to send.
#[tokio::test]
async fn an_attachment_uploaded_by_one_instance_is_served_by_the_other() {
    use base64::Engine;
    let stack = stack();
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.a.view, &cluster.b.view);
    let user = stack.new_user("scaleoutfile");
    let pdf: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let raw = format!(
        "From: Bob <bob@example.test>\r\nTo: {}\r\nSubject: Report\r\n\
         Message-ID: <{}@example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSee the report.\r\n\
         --b\r\nContent-Type: application/pdf; name=report.pdf\r\n\
         Content-Disposition: attachment; filename=report.pdf\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n",
        user.email,
        uuid::Uuid::new_v4().simple(),
    );
    crate::common::append(&user, "INBOX", raw.as_bytes(), &[]).await;
    let token = a.access_token_for(stack.mail_account(&user));
    let part = json!({"folder": "INBOX", "uid": 1, "part": "2"});

    let at_a = a
        .call_tool_ok(&token, "get_mail_attachment", part.clone())
        .await;
    assert_eq!(at_a["uploaded"], true, "{at_a}");
    let at_b = b.call_tool_ok(&token, "get_mail_attachment", part).await;
    assert_eq!(at_b["uploaded"], false, "B found A's object: {at_b}");
    for link in [&at_a["url"], &at_b["url"]] {
        let body = reqwest::get(link.as_str().unwrap()).await.unwrap();
        assert_eq!(body.status(), 200);
        assert_eq!(body.bytes().await.unwrap().as_ref(), pdf.as_slice());
    }

    let sent = b
        .call_tool_ok(
            &token,
            "send_mail_message",
            json!({"to": [user.email], "subject": "Forwarding the report", "text_body": "Here.",
                   "attachments": [{"url": at_a["url"]}]}),
        )
        .await;
    assert!(sent["message_id"].is_string(), "{sent}");
}
