//! Attacks and limits: oversized attachments and request bodies. The MCP body limit
//! follows MAX_ATTACHMENT_BYTES (base64 included), so inline attachments up to the setting
//! arrive intact, and a body over the limit gets a 413 that says the limit, whether it
//! announces its length or not; nothing is sent or stored for a refused request. An
//! attachment that decodes past the read limit while it streams into the store is cut
//! off with an error and leaves nothing stored, locally or in S3.

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

/// The S3 store on the stack's s3s-fs.
fn s3_args() -> Vec<String> {
    let stack = stack();
    [
        "--attachment-store",
        "s3",
        "--s3-endpoint",
        &stack.s3_endpoint,
        "--s3-region",
        &stack.s3_region,
        "--s3-bucket",
        &stack.s3_bucket,
        "--s3-force-path-style",
        "--s3-access-key-id",
        &stack.s3_access_key_id,
        "--s3-secret-access-key",
        &stack.s3_secret_access_key,
    ]
    .map(String::from)
    .to_vec()
}

/// A message whose part 2 is `file` in base64 of 996-character lines (legal, and denser
/// than the 76 the announced-size estimate assumes, so the part decodes to about 2 % more
/// than its BODYSTRUCTURE suggests).
fn message_with_dense_base64(from: &str, to: &str, file: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(file);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(996)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Dense\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n\
         --b0undary\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n\
         --b0undary\r\nContent-Type: application/octet-stream; name=\"dense.bin\"\r\n\
         Content-Disposition: attachment; filename=\"dense.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b0undary--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// Files under the local store's directory (`DATA_DIR/attachments`), temporary ones too.
fn files_under(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&e.path()),
            _ => 1,
        })
        .sum()
}

/// Whether the S3 bucket holds an object under `key` (s3s-fs does not list open
/// multipart uploads, so only the object is checked).
async fn s3_has(key: &mail_mcp::attachments::AttachmentKey) -> bool {
    let stack = stack();
    let credentials = aws_sdk_s3::config::Credentials::new(
        &stack.s3_access_key_id,
        &stack.s3_secret_access_key,
        None,
        None,
        "attack",
    );
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(aws_sdk_s3::config::Region::new(stack.s3_region.clone()))
        .endpoint_url(&stack.s3_endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
        .head_object()
        .bucket(&stack.s3_bucket)
        .key(key.as_str())
        .send()
        .await
        .is_ok()
}

/// A part whose structure passes the read limit but which decodes past it is cut off
/// midway through streaming into the store (17 MiB: with S3, after two 8 MiB parts of a
/// multipart upload went up): the call ends, well within a minute, with a tool error that
/// names the limit, nothing is stored under the part's key (no object; locally no file or
/// temporary file), and the same session serves the next call. Guards
/// the streaming path against a stalled producer or consumer (before the fuse of the S3
/// part source, a streamed upload of more than one part never answered at all).
async fn a_part_over_the_read_limit_midway_stores_nothing(server_args: &[String], s3: bool) {
    const SIZE: usize = 17 << 20;
    let stack = stack();
    let limit = (SIZE as f64 * 0.99) as usize;
    let mut args: Vec<String> = vec!["--max-attachment-read-bytes".into(), limit.to_string()];
    args.extend_from_slice(server_args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start(stack, &args).await;
    let (alice, bob) = (stack.new_user("alice"), stack.new_user("bob"));
    let raw = message_with_dense_base64(&bob.email, &alice.email, &random_bytes(SIZE));
    crate::common::append(&alice, "INBOX", &raw, &[]).await;
    let uid = wait_for_messages(&alice, "INBOX", 1).await[0].uid;
    let token = server.access_token_for(stack.mail_account(&alice));

    let call = server.call_tool(
        &token,
        "get_mail_attachment",
        json!({"uid": uid, "part": "2"}),
    );
    let result = tokio::time::timeout(std::time::Duration::from_secs(60), call)
        .await
        .expect("the call ends instead of hanging");
    assert_eq!(result["isError"], true, "refused: {result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(&limit.to_string()) && text.contains("not kept"),
        "the refusal names the limit: {text}"
    );
    assert!(!result.to_string().contains("url"), "no link: {result}");

    if s3 {
        let folder = server
            .call_tool_ok(&token, "list_mail_messages", json!({"folder": "INBOX"}))
            .await;
        let uid_validity = folder["uid_validity"].as_u64().unwrap() as u32;
        let subkey = mail_mcp::token::Keyring::parse(&server.key)
            .unwrap()
            .derive_subkey(mail_mcp::attachments::KEY_SUBKEY_LABEL);
        let login = stack.mail_account(&alice).imap;
        let owner = mail_mcp::attachments::Owner {
            imap_host: &login.endpoint.host,
            imap_port: login.endpoint.port,
            username: &login.username,
        };
        let key = mail_mcp::attachments::AttachmentKey::derive(
            &subkey,
            &owner,
            "INBOX",
            uid_validity,
            uid,
            "2",
        );
        assert!(!s3_has(&key).await, "no object under the part's key");
    } else {
        assert_eq!(
            files_under(&server.data_dir.join("attachments")),
            0,
            "no file, no temporary file"
        );
    }
    let listed = server
        .call_tool_ok(&token, "list_mail_messages", json!({"folder": "INBOX"}))
        .await;
    assert!(
        listed.to_string().contains("Dense"),
        "still served: {listed}"
    );
}

#[tokio::test]
async fn a_part_over_the_read_limit_midway_stores_nothing_locally() {
    a_part_over_the_read_limit_midway_stores_nothing(&[], false).await;
}

#[tokio::test]
async fn a_part_over_the_read_limit_midway_stores_nothing_in_s3() {
    a_part_over_the_read_limit_midway_stores_nothing(&s3_args(), true).await;
}
