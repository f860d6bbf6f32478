//! Graceful shutdown of the real binary: on SIGTERM it refuses new MCP calls with 503
//! (a JSON-RPC body and Retry-After), lets the calls in flight finish, then exits 0; a
//! call still running after SHUTDOWN_GRACE is cancelled and the process still exits 0.
//! A [`FaultProxy`] holding the IMAP bytes keeps a call in flight for as long as the test
//! wants, without any sleep.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use mail_mcp::token::{AccessClaims, Keyring, Purpose, SendPolicy, TokenCodec};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::common::fault_proxy::FaultProxy;
use crate::common::stack;

/// BASE_URL of the binary: no port (it listens on port 0); requests send this Host.
const BASE_URL: &str = "http://127.0.0.1";

/// A guard against a hung test, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// `mail_mcp server` on port 0, its address, its log lines and its key.
struct Binary {
    child: Child,
    address: String,
    lines: mpsc::UnboundedReceiver<String>,
    key: String,
    http: reqwest::Client,
}

impl Binary {
    async fn start(extra: &[&str]) -> Binary {
        let stack = stack();
        let key = Keyring::encode_key(&Keyring::generate_key());
        let data_dir =
            std::env::temp_dir().join(format!("mail_mcp-shutdown-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mail_mcp"))
            .args(["server", "--listen", "127.0.0.1:0", "--base-url", BASE_URL])
            .args(["--encryption-keys", &key])
            .args(["--mail-ca-file", stack.ca_file.to_str().unwrap()])
            .args(["--data-dir", data_dir.to_str().unwrap()])
            .args(extra)
            .env("LOG_FORMAT", "json")
            .env("LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (send, mut lines) = mpsc::unbounded_channel();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let _ = send.send(line);
            }
        });
        let listening =
            tokio::time::timeout(PATIENCE, wait_for_line(&mut lines, "mail_mcp listening"))
                .await
                .expect("the binary starts");
        let address = listening["fields"]["address"].as_str().unwrap().to_owned();
        let http = reqwest::Client::new();
        Binary {
            child,
            address,
            lines,
            key,
            http,
        }
    }

    /// An access token for `account`, sealed with the binary's key.
    fn token_for(&self, account: mail_mcp::mail::MailAccount) -> String {
        let codec = TokenCodec::new(
            Keyring::parse(&self.key).unwrap(),
            BASE_URL.to_string(),
            format!("{BASE_URL}/mcp"),
        );
        let claims = AccessClaims {
            client: "test".into(),
            scope: "mail.read mail.send offline_access".into(),
            account,
            family: None,
            policy: SendPolicy::SendFreely,
            upstream: None,
        };
        codec
            .seal(Purpose::Access, &claims, Some(Duration::from_secs(600)))
            .unwrap()
    }

    /// `tools/call` of `list_mailboxes` with `token`: the HTTP status, Retry-After, body.
    fn list_mailboxes(
        &self,
        token: &str,
    ) -> impl Future<Output = (u16, Option<String>, Value)> + use<> {
        let request = self
            .http
            .post(format!("http://{}/mcp", self.address))
            .header("host", "127.0.0.1")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .bearer_auth(token)
            .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "list_mailboxes", "arguments": {}}}));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (
                status,
                retry_after,
                response.json().await.unwrap_or(Value::Null),
            )
        }
    }

    /// Sends SIGTERM and waits until the server says it is draining.
    async fn terminate(&mut self) {
        let pid = self.child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        tokio::time::timeout(PATIENCE, wait_for_line(&mut self.lines, "draining"))
            .await
            .expect("the server starts draining");
    }

    /// `GET /health` on the binary: the HTTP status, Retry-After and the body.
    async fn health(&self) -> (u16, Option<String>, Value) {
        let response = self
            .http
            .get(format!("http://{}/health", self.address))
            .header("host", "127.0.0.1")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (
            status,
            retry_after,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn exit_status(&mut self) -> ExitStatus {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server exits")
            .unwrap()
    }
}

/// The first JSON log line whose message contains `text`.
async fn wait_for_line(lines: &mut mpsc::UnboundedReceiver<String>, text: &str) -> Value {
    while let Some(line) = lines.recv().await {
        let Ok(value) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if value["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(text))
        {
            return value;
        }
    }
    panic!("the server ended without logging {text:?}");
}

/// SIGTERM while a call is in flight: a new call gets 503 with Retry-After and a
/// JSON-RPC error body and `/health` turns from 200 "ok" to 503 "draining" (so a load
/// balancer's or Kubernetes' readiness check stops routing here); the call in flight
/// completes successfully once its IMAP server answers; then the process exits 0.
#[tokio::test]
async fn sigterm_refuses_new_calls_finishes_those_in_flight_and_exits_0() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let mut binary = Binary::start(&[]).await;
    let user = stack.new_user("shutdown");
    let mut account = stack.mail_account(&user);
    account.imap.endpoint.port = proxy.port;
    let token = binary.token_for(account);

    let (status, _, health) = binary.health().await;
    assert_eq!((status, &health["status"]), (200, &json!("ok")), "{health}");

    proxy.hold();
    let in_flight = tokio::spawn(binary.list_mailboxes(&token));
    proxy.wait_for_accepted(1).await;
    binary.terminate().await;

    let (status, retry_after, health) = binary.health().await;
    assert_eq!(status, 503, "a draining instance is not ready: {health}");
    assert_eq!(health["status"], "draining", "{health}");
    assert!(
        retry_after.is_some(),
        "the draining health answer carries Retry-After"
    );

    let (status, retry_after, body) = binary.list_mailboxes(&token).await;
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some(), "503 carries Retry-After");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{body}"
    );

    proxy.release();
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["isError"] != json!(true), "{body}");
    assert!(body["result"]["structuredContent"].is_object(), "{body}");
    let exit = binary.exit_status().await;
    assert!(exit.success(), "{exit}");
}

/// A call still in flight when SHUTDOWN_GRACE runs out is cancelled: the process does not
/// wait for it and still exits 0.
#[tokio::test]
async fn a_call_outliving_the_grace_is_cancelled_and_the_process_exits_0() {
    let stack = stack();
    let proxy = FaultProxy::start(stack.imaps_port).await;
    let mut binary = Binary::start(&["--shutdown-grace", "1s"]).await;
    let user = stack.new_user("shutdowngrace");
    let mut account = stack.mail_account(&user);
    account.imap.endpoint.port = proxy.port;
    let token = binary.token_for(account);

    proxy.hold();
    let _in_flight = tokio::spawn(binary.list_mailboxes(&token));
    proxy.wait_for_accepted(1).await;
    binary.terminate().await;
    let exit = binary.exit_status().await;
    assert!(exit.success(), "{exit}");
}
