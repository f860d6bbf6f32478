//! The attachment tools end to end: MCP calls over HTTP with tokens from a real
//! browser-style login, the real Dovecot and Postfix, and both attachment stores (the
//! embedded local one served by the server itself, and S3 on the stack's s3s-fs, which
//! checks every signature). Every assertion looks at what the services hold or serve: the
//! bytes a URL downloads, the objects in the bucket or on disk, the messages in the
//! mailboxes over IMAP.

use crate::common;

use std::path::Path;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::app::TestServer;
use common::{TestUser, deliver, error_text, fetch_raw, stack, wait_for_messages};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

/// A file attached to a test message.
#[derive(Clone)]
struct File {
    name: &'static str,
    content_type: &'static str,
    bytes: Vec<u8>,
}

/// A binary file holding every byte value, in an order that differs per `seed`.
fn binary(name: &'static str, len: usize, seed: u8) -> File {
    File {
        name,
        content_type: "application/octet-stream",
        bytes: (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect(),
    }
}

/// A PDF-looking binary file.
fn pdf(len: usize) -> File {
    File {
        content_type: "application/pdf",
        ..binary("report.pdf", len, 7)
    }
}

/// An HTML page with a script and non-ASCII text: hostile if it were rendered.
fn html() -> File {
    File {
        name: "evil.html",
        content_type: "text/html",
        bytes: "<html><script>alert(document.cookie)</script><p>Grüße = café</p></html>"
            .as_bytes()
            .to_vec(),
    }
}

/// Quoted-printable, with soft line breaks, as a sender's client would write it.
fn quoted_printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut line = 0;
    for &b in bytes {
        let piece = match b {
            b'=' => "=3D".to_string(),
            33..=126 | b' ' => (b as char).to_string(),
            _ => format!("={b:02X}"),
        };
        if line + piece.len() > 72 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

/// Base64 in lines of 76 characters.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A multipart/mixed message with a text body (part 1) and `files` (parts 2, 3, ...):
/// text files quoted-printable, the others base64.
fn message_with(from: &str, to: &str, subject: &str, files: &[File]) -> Vec<u8> {
    let mut raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Tue, 1 Jul 2025 10:00:00 +0000\r\n\
         Message-ID: <{}@example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n\
         --b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the files.\r\n",
        uuid::Uuid::new_v4().simple()
    );
    for file in files {
        let (encoding, body) = if file.content_type.starts_with("text/") {
            ("quoted-printable", quoted_printable(&file.bytes))
        } else {
            ("base64", base64_lines(&file.bytes))
        };
        raw.push_str(&format!(
            "--b0undary\r\nContent-Type: {}; name=\"{}\"\r\n\
             Content-Disposition: attachment; filename=\"{}\"\r\n\
             Content-Transfer-Encoding: {encoding}\r\n\r\n{body}\r\n",
            file.content_type, file.name, file.name
        ));
    }
    raw.push_str("--b0undary--\r\n");
    raw.into_bytes()
}

/// A server, alice logged in through the browser flow, and a sender.
struct Desk {
    server: TestServer,
    token: String,
    alice: TestUser,
    bob: TestUser,
}

impl Desk {
    async fn open(server_args: &[&str]) -> Desk {
        let stack = stack();
        let server = TestServer::start(stack, server_args).await;
        let alice = stack.new_user("alice");
        let token = server.tokens_for(stack, &alice).await.access_token;
        Desk {
            server,
            token,
            alice,
            bob: stack.new_user("bob"),
        }
    }

    async fn call(&self, tool: &str, arguments: Value) -> Value {
        self.server.call_tool(&self.token, tool, arguments).await
    }

    async fn call_ok(&self, tool: &str, arguments: Value) -> Value {
        self.server.call_tool_ok(&self.token, tool, arguments).await
    }

    /// bob mails `files` to alice; returns the UID it got in her INBOX.
    async fn receive(&self, files: &[File]) -> u32 {
        let raw = message_with(&self.bob.email, &self.alice.email, "Files", files);
        deliver(&self.bob.email, &[&self.alice.email], &raw).await;
        let inbox = wait_for_messages(&self.alice, "INBOX", 1).await;
        inbox.last().unwrap().uid
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn download(url: &str) -> reqwest::Response {
    http().get(url).send().await.unwrap()
}

/// The `.data` files of the local store, in every account directory.
fn stored_files(data_dir: &Path) -> usize {
    let Ok(accounts) = std::fs::read_dir(data_dir.join("attachments")) else {
        return 0;
    };
    accounts
        .flatten()
        .filter_map(|account| std::fs::read_dir(account.path()).ok())
        .flatten()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".data"))
        .count()
}

/// The signed object reference of a local link (the key part of its token), which stays
/// the same when a link for the same object is issued again with another expiry.
fn link_object(url: &str) -> &str {
    let token = url.rsplit('/').next().unwrap();
    token.split('.').next().unwrap()
}

// ---------------------------------------------------------------------------------------
// Reading with the local store

/// get_mail_message with attachment_urls=false only describes the attachments and uploads
/// nothing; by default each attachment gets a link of the server's own store that
/// downloads the exact bytes as a download with the safe headers (the HTML as
/// octet-stream). get_mail_attachment for the same part names the same object without
/// uploading again.
#[tokio::test]
async fn local_links_download_identical_bytes_and_are_reused() {
    let desk = Desk::open(&[]).await;
    let files = [pdf(150_000), html()];
    let uid = desk.receive(&files).await;

    let described = desk
        .call_ok(
            "get_mail_message",
            json!({"uid": uid, "attachment_urls": false}),
        )
        .await;
    for attachment in described["attachments"].as_array().unwrap() {
        assert!(attachment.get("url").is_none(), "{attachment}");
    }
    assert_eq!(stored_files(&desk.server.data_dir), 0, "nothing uploaded");

    let message = desk.call_ok("get_mail_message", json!({"uid": uid})).await;
    let attachments = message["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    for (attachment, (file, part)) in attachments.iter().zip(files.iter().zip(["2", "3"])) {
        assert_eq!(attachment["part_id"], part);
        assert_eq!(attachment["filename"], file.name);
        let url = attachment["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/attachments/", desk.server.base_url)),
            "{url}"
        );
        assert!(
            attachment["url_expires_at"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        let response = download(url).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(
            headers["content-security-policy"],
            "sandbox; default-src 'none'"
        );
        assert_eq!(
            headers["content-disposition"],
            format!(
                "attachment; filename=\"{0}\"; filename*=UTF-8''{0}",
                file.name
            )
            .as_str()
        );
        let served_type = match file.content_type {
            "text/html" => "application/octet-stream",
            other => other,
        };
        assert_eq!(headers["content-type"], served_type, "{}", file.name);
        let body = response.bytes().await.unwrap();
        assert!(body[..] == file.bytes[..], "{} differs", file.name);
    }
    assert_eq!(stored_files(&desk.server.data_dir), 2);

    let link = desk
        .call_ok(
            "get_mail_attachment",
            json!({"folder": "INBOX", "uid": uid, "part": "2"}),
        )
        .await;
    assert_eq!(link["uploaded"], false, "{link}");
    assert_eq!(
        (&link["filename"], &link["content_type"], &link["size"]),
        (
            &json!("report.pdf"),
            &json!("application/pdf"),
            &json!(150_000)
        )
    );
    assert_eq!(link["uid_validity"], message["uid_validity"]);
    let first_url = attachments[0]["url"].as_str().unwrap();
    let again = link["url"].as_str().unwrap();
    assert_eq!(
        link_object(again),
        link_object(first_url),
        "the same object"
    );
    let body = download(again).await.bytes().await.unwrap();
    assert!(body[..] == files[0].bytes[..]);
    assert_eq!(stored_files(&desk.server.data_dir), 2, "no new upload");
}

/// get_mail_attachment fetches a nested part (1.2) and the body of a single-part message
/// (part 1) alone and byte-identical, with the uid_validity check; it refuses a malformed
/// part id, an unknown part and an unknown UID with messages that say what to do.
#[tokio::test]
async fn get_mail_attachment_reads_nested_and_single_parts_and_refuses_unknown_ones() {
    let desk = Desk::open(&[]).await;
    let png = binary("logo.png", 3_000, 3).bytes;
    let nested = format!(
        "From: {bob}\r\nTo: {alice}\r\nSubject: Nested\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=outer\r\n\r\n\
         --outer\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n\
         --rel\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:logo@x\">\r\n\
         --rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{png}\r\n--rel--\r\n\r\n\
         --outer\r\nContent-Type: text/plain\r\n\r\nhello\r\n--outer--\r\n",
        bob = desk.bob.email,
        alice = desk.alice.email,
        png = base64_lines(&png),
    );
    let pdf_bytes = pdf(2_000).bytes;
    let single = format!(
        "From: {bob}\r\nTo: {alice}\r\nSubject: Single\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/pdf; name=\"only.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"only.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n",
        bob = desk.bob.email,
        alice = desk.alice.email,
        pdf = base64_lines(&pdf_bytes),
    );
    for raw in [&nested, &single] {
        deliver(&desk.bob.email, &[&desk.alice.email], raw.as_bytes()).await;
    }
    let inbox = wait_for_messages(&desk.alice, "INBOX", 2).await;
    let uid_of = |subject: &str| {
        let needle = format!("Subject: {subject}\r\n");
        inbox
            .iter()
            .find(|m| String::from_utf8_lossy(&m.raw).contains(&needle))
            .unwrap()
            .uid
    };
    let (nested_uid, single_uid) = (uid_of("Nested"), uid_of("Single"));
    let listed = desk
        .call_ok(
            "get_mail_message",
            json!({"uid": nested_uid, "attachment_urls": false}),
        )
        .await;
    assert_eq!(listed["attachments"][0]["part_id"], "1.2");
    let uid_validity = listed["uid_validity"].clone();

    let cases = [
        (nested_uid, "1.2", "image/png", "attachment", &png),
        (single_uid, "1", "application/pdf", "only.pdf", &pdf_bytes),
    ];
    for (uid, part, content_type, filename, bytes) in cases {
        let link = desk
            .call_ok(
                "get_mail_attachment",
                json!({"uid": uid, "part": part, "uid_validity": uid_validity}),
            )
            .await;
        assert_eq!(link["uploaded"], true, "{link}");
        assert_eq!(link["content_type"], content_type);
        assert_eq!(link["filename"], filename);
        let body = download(link["url"].as_str().unwrap())
            .await
            .bytes()
            .await
            .unwrap();
        assert!(body[..] == bytes[..], "part {part} differs");
    }

    let refusals = [
        (
            json!({"uid": nested_uid, "part": "2.MIME"}),
            "is not an IMAP part id",
        ),
        (json!({"uid": nested_uid, "part": "9"}), "has no part \"9\""),
        (
            json!({"uid": 999_999, "part": "2"}),
            "no message with UID 999999",
        ),
        (
            json!({"uid": nested_uid, "part": "1.2", "uid_validity": 1}),
            "changed",
        ),
    ];
    for (arguments, expected) in refusals {
        let text = error_text(&desk.call("get_mail_attachment", arguments.clone()).await);
        assert!(text.contains(expected), "{arguments}: {text}");
    }
}

// ---------------------------------------------------------------------------------------
// Reading with S3

/// A client of the stack's bucket, to look at what the server stored.
fn bucket_client() -> aws_sdk_s3::Client {
    let stack = stack();
    let credentials = Credentials::new(
        &stack.s3_access_key_id,
        &stack.s3_secret_access_key,
        None,
        None,
        "mail-stack",
    );
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(stack.s3_region.clone()))
        .endpoint_url(&stack.s3_endpoint)
        .force_path_style(true)
        .credentials_provider(credentials)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The object key of a presigned path-style URL (`/<bucket>/<key>?...`).
fn object_key(url: &str) -> String {
    let path = url::Url::parse(url).unwrap().path().to_owned();
    let bucket = format!("/{}/", stack().s3_bucket);
    path.strip_prefix(&bucket).unwrap().to_owned()
}

async fn objects_under(client: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let listed = client
        .list_objects_v2()
        .bucket(&stack().s3_bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// With S3 (static keys from the configuration), a message with two attachments read
/// twice uploads each once: after the first read the bucket holds one object per
/// attachment, each presigned URL returns the exact bytes; an object replaced behind the
/// server's back (keeping its owner tag) is still what the second read's URL serves (so
/// that read did not upload it again), and get_mail_attachment reports uploaded=false. A
/// tampered URL gets 403 from the S3 service.
#[tokio::test]
async fn s3_attachments_upload_once_and_presigned_urls_serve_identical_bytes() {
    let stack = stack();
    let desk = Desk::open(&[
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
    ])
    .await;
    let files = [pdf(120_000), html()];
    let uid = desk.receive(&files).await;
    let bucket = bucket_client();

    let first = desk.call_ok("get_mail_message", json!({"uid": uid})).await;
    let urls: Vec<String> = first["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 2);
    for (url, file) in urls.iter().zip(&files) {
        assert!(url.starts_with(&stack.s3_endpoint), "{url}");
        let response = download(url).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-disposition"],
            format!(
                "attachment; filename=\"{0}\"; filename*=UTF-8''{0}",
                file.name
            )
            .as_str()
        );
        let body = response.bytes().await.unwrap();
        assert!(body[..] == file.bytes[..], "{} differs", file.name);
    }
    let keys: Vec<String> = urls.iter().map(|u| object_key(u)).collect();
    let account = keys[0].split('/').next().unwrap().to_owned();
    let mut stored = objects_under(&bucket, &format!("{account}/")).await;
    stored.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(stored, expected, "one object per attachment");

    let owner_tag = bucket
        .head_object()
        .bucket(&stack.s3_bucket)
        .key(&keys[0])
        .send()
        .await
        .unwrap()
        .metadata()
        .and_then(|m| m.get("owner").cloned())
        .expect("objects carry their owner tag");
    bucket
        .put_object()
        .bucket(&stack.s3_bucket)
        .key(&keys[0])
        .metadata("owner", owner_tag)
        .body(b"replaced behind the server's back".to_vec().into())
        .send()
        .await
        .unwrap();
    let second = desk.call_ok("get_mail_message", json!({"uid": uid})).await;
    let again = second["attachments"][0]["url"].as_str().unwrap();
    assert_eq!(object_key(again), keys[0], "the same key");
    let body = download(again).await.bytes().await.unwrap();
    assert_eq!(
        &body[..],
        b"replaced behind the server's back",
        "the second read did not upload the attachment again"
    );
    let html_again = second["attachments"][1]["url"].as_str().unwrap();
    let body = download(html_again).await.bytes().await.unwrap();
    assert!(body[..] == files[1].bytes[..]);
    let link = desk
        .call_ok(
            "get_mail_attachment",
            json!({"uid": uid, "part": "3", "uid_validity": first["uid_validity"]}),
        )
        .await;
    assert_eq!(link["uploaded"], false);
    assert_eq!(
        objects_under(&bucket, &format!("{account}/")).await.len(),
        2
    );

    let signature = urls[1].find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &urls[1][signature..=signature] == "0" {
        "1"
    } else {
        "0"
    };
    let tampered = format!(
        "{}{flipped}{}",
        &urls[1][..signature],
        &urls[1][signature + 1..]
    );
    assert_eq!(download(&tampered).await.status(), 403);
}

// ---------------------------------------------------------------------------------------
// Sending

/// The attachments of a parsed message: name, type and bytes, in order.
fn attachments_of(raw: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let parsed = MessageParser::default().parse(raw).unwrap();
    parsed
        .attachments()
        .map(|part| {
            let ct = part.content_type().unwrap();
            (
                part.attachment_name().unwrap_or_default().to_owned(),
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()),
                part.contents().to_vec(),
            )
        })
        .collect()
}

/// alice sends bob three attachments: one by the link get_mail_message gave her, one
/// inline and one by reference to a message in her INBOX. bob's copy carries all three
/// in that order, with their names, types and exact bytes; alice's Sent holds the same.
/// A draft takes the same forms.
#[tokio::test]
async fn attachments_by_link_inline_and_reference_arrive_byte_identical() {
    let desk = Desk::open(&[]).await;
    let scan = binary("scan.bin", 40_000, 1);
    let data = binary("data.bin", 30_000, 2);
    let uid = desk.receive(&[scan.clone(), data.clone()]).await;
    let message = desk.call_ok("get_mail_message", json!({"uid": uid})).await;
    let scan_url = message["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let inline = binary("inline.bin", 20_000, 9).bytes;
    let attachments = json!([
        {"url": scan_url},
        {"filename": "../inline.bin", "content_type": "application/x-test", "content_base64": STANDARD.encode(&inline)},
        {"folder": "INBOX", "uid": uid, "part": "3", "uid_validity": message["uid_validity"]},
    ]);

    desk.call_ok(
        "send_mail_message",
        json!({"to": desk.bob.email, "subject": "Three files", "text_body": "Here.", "attachments": attachments}),
    )
    .await;
    let at_bob = wait_for_messages(&desk.bob, "INBOX", 1).await;
    let expected = vec![
        (
            "scan.bin".into(),
            "application/octet-stream".into(),
            scan.bytes,
        ),
        ("inline.bin".into(), "application/x-test".into(), inline),
        (
            "data.bin".into(),
            "application/octet-stream".into(),
            data.bytes,
        ),
    ];
    assert_eq!(attachments_of(&at_bob[0].raw), expected);
    let sent = fetch_raw(&desk.alice, "Sent").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(attachments_of(&sent[0].raw), expected);

    desk.call_ok(
        "create_draft_mail_message",
        json!({"to": desk.bob.email, "subject": "Later", "attachments": attachments}),
    )
    .await;
    let drafts = fetch_raw(&desk.alice, "Drafts").await;
    assert_eq!(attachments_of(&drafts[0].raw), expected);
}

/// With a 1 KB limit, a foreign URL (the cloud metadata address), a link of another
/// account, an altered link, and attachments over the limit (inline, by link or by
/// reference) are each refused with a message that says why and nothing is sent: the
/// first message bob receives is the valid one sent afterwards, and alice's Sent holds
/// only that one.
#[tokio::test]
async fn foreign_links_other_accounts_and_oversized_attachments_are_refused() {
    let stack = stack();
    let desk = Desk::open(&["--max-attachment-bytes", "1K"]).await;
    let carol = stack.new_user("carol");
    let carol_token = desk.server.tokens_for(stack, &carol).await.access_token;
    let small = binary("small.bin", 100, 4);
    let raw = message_with(
        &desk.bob.email,
        &carol.email,
        "For carol",
        std::slice::from_ref(&small),
    );
    deliver(&desk.bob.email, &[&carol.email], &raw).await;
    let carol_uid = wait_for_messages(&carol, "INBOX", 1).await[0].uid;
    let carols = desk
        .server
        .call_tool_ok(&carol_token, "get_mail_message", json!({"uid": carol_uid}))
        .await;
    let carols_url = carols["attachments"][0]["url"].as_str().unwrap().to_owned();

    let uid = desk
        .receive(&[binary("big.bin", 1_500, 5), small.clone()])
        .await;
    let mine = desk.call_ok("get_mail_message", json!({"uid": uid})).await;
    let big_url = mine["attachments"][0]["url"].as_str().unwrap().to_owned();
    let small_url = mine["attachments"][1]["url"].as_str().unwrap().to_owned();
    let altered = format!("{}x", small_url);

    let cases = [
        (
            json!({"url": "http://169.254.169.254/latest/meta-data/"}),
            "is a URL this server did not issue",
        ),
        (json!({"url": carols_url}), "another mail account"),
        (json!({"url": altered}), "altered"),
        (
            json!({"filename": "big.bin", "content_base64": STANDARD.encode(vec![0u8; 2_000])}),
            "is 2 KB, more than the limit of 1 KB",
        ),
        (json!({"url": big_url}), "more than the limit of 1 KB"),
        (
            json!({"folder": "INBOX", "uid": uid, "part": "2"}),
            "is 1 KB and the attachments before it hold 100 bytes, more than the limit of 1 KB",
        ),
    ];
    for (attachment, expected) in cases {
        let attachments = match attachment.get("part") {
            Some(_) => json!([{"url": small_url}, attachment]),
            None => json!([attachment]),
        };
        let result = desk
            .call(
                "send_mail_message",
                json!({"to": desk.bob.email, "subject": "Refused", "attachments": attachments}),
            )
            .await;
        let text = error_text(&result);
        assert!(text.starts_with("nothing was sent"), "{text}");
        assert!(text.contains(expected), "{attachment}: {text}");
    }
    let foreign = desk
        .call(
            "send_mail_message",
            json!({"to": desk.bob.email, "subject": "Refused", "attachments": [{"url": "http://169.254.169.254/latest/meta-data/"}]}),
        )
        .await;
    let text = error_text(&foreign);
    assert!(
        text.contains("content_base64")
            && text.contains("\"part\"")
            && text.contains("No other URL is fetched"),
        "the accepted forms are listed: {text}"
    );

    desk.call_ok(
        "send_mail_message",
        json!({"to": desk.bob.email, "subject": "Valid", "text_body": "ok", "attachments": [{"url": small_url}]}),
    )
    .await;
    let at_bob = wait_for_messages(&desk.bob, "INBOX", 1).await;
    assert_eq!(at_bob.len(), 1);
    let parsed = MessageParser::default().parse(&at_bob[0].raw).unwrap();
    assert_eq!(parsed.subject(), Some("Valid"));
    assert_eq!(fetch_raw(&desk.alice, "Sent").await.len(), 1);
}

/// An attachment larger than one S3 part (9 MiB and a bit: about six IMAP pieces of
/// base64, two multipart parts) is streamed from the mailbox into the store piece by piece
/// and downloads byte for byte (same sha256), under its name, from either store. With S3
/// this hung before the part source was fused: asking for a part after the last polled
/// the finished channel stream, which panicked inside the tool call, left unanswered.
async fn big_attachment_streams_into_the_store(server_args: &[&str]) {
    let desk = Desk::open(server_args).await;
    let file = binary("big.bin", (9 << 20) + 12_345, 5);
    let raw = message_with(
        &desk.bob.email,
        &desk.alice.email,
        "Big",
        std::slice::from_ref(&file),
    );
    common::append(&desk.alice, "INBOX", &raw, &[]).await;
    let uid = wait_for_messages(&desk.alice, "INBOX", 1).await[0].uid;
    let link = desk
        .call_ok("get_mail_attachment", json!({"uid": uid, "part": "2"}))
        .await;
    assert_eq!(link["uploaded"], true);
    assert_eq!(link["size"], file.bytes.len());
    assert_eq!(link["filename"], "big.bin");
    let body = download(link["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        body[..] == file.bytes[..],
        "{} bytes downloaded, not the {} attached",
        body.len(),
        file.bytes.len()
    );
    use sha2::Digest;
    assert_eq!(
        sha2::Sha256::digest(&body),
        sha2::Sha256::digest(&file.bytes),
        "sha256 of the download is the attached file's"
    );
}

#[tokio::test]
async fn big_attachment_streams_into_the_local_store() {
    big_attachment_streams_into_the_store(&[]).await;
}

#[tokio::test]
async fn big_attachment_streams_into_s3() {
    let stack = stack();
    big_attachment_streams_into_the_store(&[
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
    ])
    .await;
}
