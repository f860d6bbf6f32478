//! "Ask me first" with the official Python MCP SDK (`mcp==2.3.0`,
//! `tests/mcp_clients/python/approval_client.py`): the SDK gets the form through its
//! elicitation callback and retries by itself. Accepting sends exactly once (the
//! recipient gets one message, Sent holds one copy); declining sends nothing.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::app::TestServer;
use common::{fetch_raw, stack, wait_for_messages};
use mail_mcp::token::SendPolicy;
use serde_json::Value;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_clients")
}

/// Runs the SDK script with `decision`; returns its report.
async fn sdk(server: &TestServer, token: &str, to: &str, subject: &str, decision: &str) -> Value {
    let python = clients_dir().join(".venv/bin/python");
    assert!(python.exists(), "run bin/install-deps");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(clients_dir().join("python/approval_client.py"))
        .current_dir(clients_dir())
        .env("MCP_URL", server.url("/mcp"))
        .env("TOKEN", token)
        .env("TO", to)
        .env("SUBJECT", subject)
        .env("DECISION", decision)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("the SDK run finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    println!("the Python SDK saw: {report}");
    report
}

/// Accepting the SDK's form sends exactly once; declining sends nothing.
#[tokio::test]
async fn the_python_sdk_approves_once_and_declines() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let alice = stack.new_user("sdkask");
    let bob = stack.new_user("sdkbob");
    let token = server.access_token_with_policy(stack.mail_account(&alice), SendPolicy::Ask);

    let approved = sdk(&server, &token, &bob.email, "sdk approved", "approve").await;
    assert_eq!(approved["protocol"], "2026-07-28", "{approved}");
    let forms = approved["forms"].as_array().unwrap();
    assert_eq!(forms.len(), 1, "asked once: {approved}");
    let message = forms[0]["message"].as_str().unwrap();
    assert!(message.contains(&bob.email) && message.contains("Bcc: hidden@example.test"));
    assert_eq!(approved["is_error"], false, "{approved}");
    assert!(
        approved["structured"]["message_id"].is_string(),
        "{approved}"
    );
    assert_eq!(fetch_raw(&alice, "Sent").await.len(), 1);

    let declined = sdk(&server, &token, &bob.email, "sdk declined", "decline").await;
    assert_eq!(declined["is_error"], true, "{declined}");
    assert!(
        declined["text"]
            .as_str()
            .unwrap()
            .contains("nothing was sent")
    );
    assert_eq!(
        fetch_raw(&alice, "Sent").await.len(),
        1,
        "declining sent nothing"
    );
    let inbox = wait_for_messages(&bob, "INBOX", 1).await;
    assert_eq!(inbox.len(), 1, "the recipient got exactly one message");
}
