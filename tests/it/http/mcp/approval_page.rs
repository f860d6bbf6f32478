//! The confirmation page of "Ask me first", for clients without 2026-07-28 forms: a person
//! in Chromium (Playwright, `tests/mcp_clients/node/browser_approve.mjs`) approves one
//! link (delivered exactly once; a second POST says already done) and cancels another
//! (nothing sent); and a forged POST without the page's cookie runs nothing.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::app::TestServer;
use common::{TestUser, fetch_raw, stack, wait_for_messages};
use mail_mcp::token::SendPolicy;
use serde_json::{Value, json};

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_clients")
}

/// The confirmation link in a tool result's text.
fn link_in(result: &Value) -> String {
    let text = result["content"][0]["text"].as_str().unwrap();
    text.split_whitespace()
        .find(|word| word.contains("/approve/"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_string()
}

async fn ask_by_link(server: &TestServer, token: &str, to: &TestUser, subject: &str) -> String {
    let result = server
        .call_tool(
            token,
            "send_mail_message",
            json!({"to": [to.email], "bcc": "hidden@example.test", "subject": subject,
                   "text_body": "<b>not bold</b>\nsecond line"}),
        )
        .await;
    assert_eq!(result["isError"], json!(true), "{result}");
    link_in(&result)
}

/// A person approves one link in Chromium: delivered exactly once, a second POST shows
/// "already done"; Cancel on another link sends nothing.
#[tokio::test]
async fn a_person_approves_and_cancels_in_chromium() {
    assert!(
        clients_dir().join("node_modules/playwright-core").exists(),
        "run bin/install-deps"
    );
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let alice = stack.new_user("page");
    let bob = stack.new_user("pagebob");
    let token = server.access_token_with_policy(stack.mail_account(&alice), SendPolicy::Ask);
    let send = ask_by_link(&server, &token, &bob, "approved in the browser").await;
    let cancel = ask_by_link(&server, &token, &bob, "cancelled in the browser").await;
    assert_eq!(fetch_raw(&alice, "Sent").await.len(), 0, "nothing sent yet");

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("artifacts/approval_page");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(clients_dir().join("node/browser_approve.mjs"))
        .current_dir(clients_dir())
        .env("SEND_URL", &send)
        .env("CANCEL_URL", &cancel)
        .env("ARTIFACT_DIR", &artifacts)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("the browser run finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    println!("the browser saw: {report}");

    assert_eq!(report["title"], "Send this email?");
    let preview = report["preview"].as_str().unwrap();
    for shown in [bob.email.as_str(), "hidden@example.test", "<b>not bold</b>"] {
        assert!(preview.contains(shown), "{shown} missing: {preview}");
    }
    assert_eq!(report["scripts"], 0, "no script on the page");
    assert_eq!(report["afterSend"], "Done", "{report}");
    assert_eq!(report["afterSecond"], "Already done", "{report}");
    assert_eq!(report["afterCancel"], "Cancelled", "{report}");

    let sent = fetch_raw(&alice, "Sent").await;
    assert_eq!(sent.len(), 1, "sent exactly once");
    let raw = String::from_utf8_lossy(&sent[0].raw);
    assert!(raw.contains("approved in the browser"), "{raw}");
    wait_for_messages(&bob, "INBOX", 1).await;
}

/// A POST that did not come from the page in this browser (no cookie) runs nothing.
#[tokio::test]
async fn a_post_without_the_page_cookie_runs_nothing() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let alice = stack.new_user("forge");
    let token = server.access_token_with_policy(stack.mail_account(&alice), SendPolicy::Ask);
    let link = ask_by_link(&server, &token, &alice, "forged").await;
    let page = server.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let form_token = common::app::hidden_field(&html, "form_token");
    let response = server
        .http
        .post(&link)
        .form(&[("form_token", form_token.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(fetch_raw(&alice, "Sent").await.len(), 0);
    let mut expired = link.clone();
    expired.push('x');
    let page = server.http.get(&expired).send().await.unwrap();
    assert_eq!(page.status(), 400, "an altered link is a readable refusal");
    assert!(page.text().await.unwrap().contains("not valid"));
}
