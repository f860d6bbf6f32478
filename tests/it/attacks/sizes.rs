//! Attacks and limits: oversized attachments and request bodies. The MCP body limit
//! follows MAX_ATTACHMENT_BYTES (base64 included), so inline attachments up to the setting
//! arrive intact, and a body over the limit gets a 413 that says the limit, whether it
//! announces its length or not; nothing is sent or stored for a refused request.

use base64::Engine;
use mail_parser::MimeHeaders;
use rand::RngCore;
use serde_json::{Value, json};

use crate::common::app::TestServer;
use crate::common::{TestUser, fetch_raw, stack, wait_for_messages};

/// `len` random bytes (incompressible, all byte values).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn send_arguments(to: &TestUser, file: &[u8]) -> Value {
    json!({
        "to": to.email,
        "subject": format!("{} bytes", file.len()),
        "text_body": "The file is attached.",
        "attachments": [{
            "filename": "data.bin",
            "content_type": "application/octet-stream",
            "content_base64": base64::engine::general_purpose::STANDARD.encode(file),
        }],
    })
}

/// Sends `file` inline from a new sender to a new recipient and checks, over IMAP, that
/// the recipient got it byte for byte.
async fn inline_attachment_arrives_intact(len: usize) {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let (alice, bob) = (stack.new_user("alice"), stack.new_user("bob"));
    let token = server.access_token_for(stack.mail_account(&alice));
    let file = random_bytes(len);
    server
        .call_tool_ok(&token, "send_mail_message", send_arguments(&bob, &file))
        .await;
    let received = wait_for_messages(&bob, "INBOX", 1).await;
    let parsed = mail_parser::MessageParser::default()
        .parse(&received[0].raw)
        .unwrap();
    let attachment = parsed.attachments().next().expect("the attachment arrived");
    assert_eq!(attachment.attachment_name(), Some("data.bin"));
    assert!(
        attachment.contents() == file,
        "the {len} bytes arrived intact"
    );
}

/// A 5 MB inline attachment (6.7 MB of base64) was refused by rmcp's default 4 MiB body
/// limit; it now arrives intact.
#[tokio::test]
async fn a_5_mb_inline_attachment_arrives_intact() {
    inline_attachment_arrives_intact(5_000_000).await;
}

/// A 20 MB inline attachment (26.7 MB of base64), under the default 25M setting, arrives
/// intact.
#[tokio::test]
async fn a_20_mb_inline_attachment_arrives_intact() {
    inline_attachment_arrives_intact(20_000_000).await;
}

/// The limit for MAX_ATTACHMENT_BYTES=1M: 4/3 of it (1398104) plus 4 MiB for the rest.
const LIMIT_FOR_1M: usize = 1_398_104 + 4 * 1024 * 1024;

/// With MAX_ATTACHMENT_BYTES=1M, a 6 MB body (announced by Content-Length) is refused
/// with 413 and a JSON-RPC error naming the limit and the setting, before it is read;
/// the sender's Sent folder and the recipient's INBOX stay empty.
#[tokio::test]
async fn a_body_over_the_limit_gets_a_413_that_says_the_limit() {
    let stack = stack();
    let server = TestServer::start(stack, &["--max-attachment-bytes", "1M"]).await;
    let (alice, bob) = (stack.new_user("alice"), stack.new_user("bob"));
    let token = server.access_token_for(stack.mail_account(&alice));
    let call = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "send_mail_message", "arguments": send_arguments(&bob, &random_bytes(4_500_000))},
    });
    let response = server.mcp_raw(Some(&token), call).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("a JSON body");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&LIMIT_FOR_1M.to_string()) && message.contains("MAX_ATTACHMENT_BYTES"),
        "the refusal says the limit: {body}"
    );
    assert_eq!(body["error"]["data"]["max_request_bytes"], LIMIT_FOR_1M);
    assert!(
        fetch_raw(&alice, "Sent").await.is_empty(),
        "nothing was sent"
    );
    assert!(fetch_raw(&bob, "INBOX").await.is_empty(), "nothing arrived");
}

/// A body over the limit streamed without Content-Length is cut off at the limit with a
/// 413 whose text says the limit (rmcp's own check); nothing is sent.
#[tokio::test]
async fn a_streamed_body_over_the_limit_is_cut_off_at_the_limit() {
    let stack = stack();
    let server = TestServer::start(stack, &["--max-attachment-bytes", "1M"]).await;
    let (alice, bob) = (stack.new_user("alice"), stack.new_user("bob"));
    let token = server.access_token_for(stack.mail_account(&alice));
    let call = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "send_mail_message", "arguments": send_arguments(&bob, &random_bytes(4_500_000))},
    });
    let bytes = serde_json::to_vec(&call).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = server
        .http
        .post(server.direct("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(&LIMIT_FOR_1M.to_string()),
        "the refusal says the limit: {text}"
    );
    assert!(
        fetch_raw(&alice, "Sent").await.is_empty(),
        "nothing was sent"
    );
}
