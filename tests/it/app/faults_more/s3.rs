//! The attachment store (S3, the stack's s3s-fs behind a fault proxy) down or silent while
//! an attachment is read: a tool error naming the attachment store, within S3_TIMEOUT;
//! once S3 answers again the same call uploads and hands out a URL that serves the bytes.

use base64::Engine;
use serde_json::{Value, json};

use crate::common::app::TestServer;
use crate::common::fault_proxy::FaultProxy;
use crate::common::{append, error_text, stack};

/// A message with one PDF attachment (part 2) of `size` bytes.
fn message_with_pdf(size: usize) -> (Vec<u8>, Vec<u8>) {
    let pdf: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let raw = format!(
        "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: Report\r\n\
         Message-ID: <{}@example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSee the report.\r\n\
         --b\r\nContent-Type: application/pdf; name=report.pdf\r\n\
         Content-Disposition: attachment; filename=report.pdf\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        uuid::Uuid::new_v4().simple(),
        lines.join("\r\n")
    );
    (raw.into_bytes(), pdf)
}

/// S3 down, then silent, while get_mail_attachment uploads: each a tool error naming the
/// attachment store (never a hang); then S3 is back and the call gives a working URL.
#[tokio::test]
async fn s3_down_or_silent_is_an_attachment_store_error_then_works() {
    let stack = stack();
    let s3_port = url::Url::parse(&stack.s3_endpoint).unwrap().port().unwrap();
    let proxy = FaultProxy::start(s3_port).await;
    let endpoint = format!("http://{}:{}", stack.host, proxy.port);
    let server = TestServer::start(
        stack,
        &[
            "--attachment-store",
            "s3",
            "--s3-endpoint",
            &endpoint,
            "--s3-region",
            &stack.s3_region,
            "--s3-bucket",
            &stack.s3_bucket,
            "--s3-force-path-style",
            "--s3-access-key-id",
            &stack.s3_access_key_id,
            "--s3-secret-access-key",
            &stack.s3_secret_access_key,
            "--s3-timeout",
            "2s",
        ],
    )
    .await;
    let user = stack.new_user("s3down");
    let (raw, pdf) = message_with_pdf(40_000);
    append(&user, "INBOX", &raw, &[]).await;
    let token = server.access_token_for(stack.mail_account(&user));
    let part = json!({"folder": "INBOX", "uid": 1, "part": "2"});

    proxy.go_down();
    let down = server
        .call_tool(&token, "get_mail_attachment", part.clone())
        .await;
    let text = error_text(&down);
    assert!(text.contains("attachment store"), "{text}");

    proxy.come_back().await;
    proxy.hold();
    let silent = server
        .call_tool(&token, "get_mail_attachment", part.clone())
        .await;
    let text = error_text(&silent);
    assert!(text.contains("attachment store"), "{text}");
    proxy.release();

    let link: Value = server
        .call_tool_ok(&token, "get_mail_attachment", part)
        .await;
    let url = link["url"].as_str().unwrap();
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        bytes.as_ref(),
        pdf.as_slice(),
        "the URL serves the attachment"
    );
}
