//! Attacks: tenancy. One tenant reading or sending another tenant's attachments. The login
//! page checks only the IMAP username and password; the address typed beside them is never
//! verified. The impostor's token is therefore sealed here exactly as the token endpoint
//! seals it after such a login: tenant B's own IMAP/SMTP login, tenant A's address.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_mcp::attachments::{AttachmentKey, KEY_SUBKEY_LABEL, Owner, OwnerTag};
use mail_mcp::token::Keyring;
use serde_json::{Value, json};

use crate::common::app::TestServer;
use crate::common::{TestUser, deliver, error_text, fetch_raw, stack, wait_for_messages};

/// The attachment's bytes, recognisable anywhere they might leak.
const SECRET: &[u8] = b"tenant A's confidential figures: 4242-SECRET";

/// A message with a text part (1) and one attachment (2) holding [`SECRET`].
fn message_with_attachment(from: &str, to: &str) -> Vec<u8> {
    message_with_bytes(from, to, SECRET)
}

/// A message with a text part (1) and one attachment (2) holding `bytes`.
fn message_with_bytes(from: &str, to: &str, bytes: &[u8]) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Figures\r\nMessage-ID: <{}@example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
         --b\r\nContent-Type: application/octet-stream; name=\"figures.bin\"\r\n\
         Content-Disposition: attachment; filename=\"figures.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        uuid::Uuid::new_v4().simple(),
        base64_lines(bytes)
    )
    .into_bytes()
}

/// Base64 in lines of 76 characters, as mail clients write it.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    lines.join("\r\n")
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

/// Tenant A with an attachment already read once (so it is in the store), and tenant B
/// holding a token for B's own mailbox under A's typed address.
struct Tenants {
    server: TestServer,
    victim: TestUser,
    victim_token: String,
    impostor: TestUser,
    impostor_token: String,
    /// A's attachment as A's get_mail_message described it.
    attachment: Value,
    uid: u32,
    uid_validity: u32,
}

impl Tenants {
    async fn open(server_args: &[String]) -> Tenants {
        let stack = stack();
        let args: Vec<&str> = server_args.iter().map(String::as_str).collect();
        let server = TestServer::start(stack, &args).await;
        let victim = stack.new_user("tenant-a");
        let impostor = stack.new_user("tenant-b");
        let sender = stack.new_user("sender");
        let raw = message_with_attachment(&sender.email, &victim.email);
        deliver(&sender.email, &[&victim.email], &raw).await;
        let uid = wait_for_messages(&victim, "INBOX", 1).await[0].uid;
        let victim_token = server.access_token_for(stack.mail_account(&victim));
        let message = server
            .call_tool_ok(&victim_token, "get_mail_message", json!({"uid": uid}))
            .await;
        let attachment = message["attachments"][0].clone();
        assert!(attachment["url"].is_string(), "A's own read: {message}");
        let uid_validity = message["uid_validity"].as_u64().unwrap() as u32;
        let mut forged = stack.mail_account(&impostor);
        forged.email = victim.email.clone();
        let impostor_token = server.access_token_for(forged);
        Tenants {
            server,
            victim,
            victim_token,
            impostor,
            impostor_token,
            attachment,
            uid,
            uid_validity,
        }
    }

    async fn impostor_call(&self, tool: &str, arguments: Value) -> Value {
        self.server
            .call_tool(&self.impostor_token, tool, arguments)
            .await
    }
}

/// No URL, and none of A's bytes, anywhere in a result.
fn assert_no_leak(result: &Value, victim_url: &str) {
    let text = result.to_string();
    assert!(!text.contains(victim_url), "A's URL leaked: {text}");
    assert!(!text.contains("/attachments/"), "a link was issued: {text}");
    assert!(
        !text.contains("X-Amz-Signature"),
        "a link was issued: {text}"
    );
    assert!(!text.contains("4242-SECRET"), "A's bytes leaked: {text}");
}

/// B, signed in with B's own password but A's typed address, asks for A's attachment by
/// A's (folder, uid, part, uid_validity): refused (B's mailbox has no such message), with
/// no URL and no bytes of A's.
async fn impostor_cannot_read_the_victims_attachment(server_args: &[String]) {
    let tenants = Tenants::open(server_args).await;
    let victim_url = tenants.attachment["url"].as_str().unwrap().to_owned();
    let result = tenants
        .impostor_call(
            "get_mail_attachment",
            json!({
                "folder": "INBOX",
                "uid": tenants.uid,
                "part": tenants.attachment["part_id"],
                "uid_validity": tenants.uid_validity,
            }),
        )
        .await;
    error_text(&result);
    assert_no_leak(&result, &victim_url);
}

#[tokio::test]
async fn typed_address_does_not_open_another_tenants_attachment_local() {
    impostor_cannot_read_the_victims_attachment(&[]).await;
}

#[tokio::test]
async fn typed_address_does_not_open_another_tenants_attachment_s3() {
    impostor_cannot_read_the_victims_attachment(&s3_args()).await;
}

/// B gives A's attachment URL to send_mail_message: refused as another account's link,
/// and nothing is sent (the recipient's INBOX and B's Sent stay empty).
async fn impostor_cannot_send_the_victims_link(server_args: &[String]) {
    let tenants = Tenants::open(server_args).await;
    let recipient = stack().new_user("recipient");
    let victim_url = tenants.attachment["url"].as_str().unwrap().to_owned();
    let result = tenants
        .impostor_call(
            "send_mail_message",
            json!({
                "to": recipient.email,
                "subject": "Exfiltrated",
                "text_body": "here",
                "attachments": [{"url": victim_url}],
            }),
        )
        .await;
    let text = error_text(&result);
    assert!(text.starts_with("nothing was sent"), "{text}");
    assert!(text.contains("another mail account"), "{text}");
    assert!(fetch_raw(&recipient, "INBOX").await.is_empty());
    assert!(fetch_raw(&tenants.impostor, "Sent").await.is_empty());
    assert!(fetch_raw(&tenants.victim, "Sent").await.is_empty());
}

#[tokio::test]
async fn another_tenants_link_is_not_sent_local() {
    impostor_cannot_send_the_victims_link(&[]).await;
}

#[tokio::test]
async fn another_tenants_link_is_not_sent_s3() {
    impostor_cannot_send_the_victims_link(&s3_args()).await;
}

/// The owner's own reads are checked with the mail server too: a stale uid_validity or a
/// part the message does not have gets a clear tool error and no URL, even though the
/// attachment is in the store.
#[tokio::test]
async fn stale_uid_validity_or_missing_part_gets_an_error_and_no_url() {
    let tenants = Tenants::open(&[]).await;
    let victim_url = tenants.attachment["url"].as_str().unwrap().to_owned();
    let cases = [
        (
            json!({"uid": tenants.uid, "part": "2", "uid_validity": tenants.uid_validity.wrapping_add(1)}),
            "uid_validity",
        ),
        (
            json!({"uid": tenants.uid, "part": "9", "uid_validity": tenants.uid_validity}),
            "no part \"9\"",
        ),
        (
            json!({"uid": tenants.uid + 100, "part": "2", "uid_validity": tenants.uid_validity}),
            "",
        ),
    ];
    for (arguments, expected) in cases {
        let result = tenants
            .server
            .call_tool(
                &tenants.victim_token,
                "get_mail_attachment",
                arguments.clone(),
            )
            .await;
        let text = error_text(&result);
        assert!(
            text.to_lowercase().contains(expected),
            "{arguments}: {text}"
        );
        assert_no_leak(&result, &victim_url);
    }
}

/// The files of the local store under the server's data directory.
fn stored_files(data_dir: &std::path::Path) -> usize {
    walk(&data_dir.join("attachments"))
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walk(&e.path()),
            _ => 1,
        })
        .sum()
}

/// An attachment over MAX_ATTACHMENT_READ_BYTES is refused before it is fetched, with a
/// message naming its size and the limit; get_mail_message describes it with its size and
/// the reason it has no URL; nothing is stored.
#[tokio::test]
async fn an_attachment_over_the_read_limit_is_refused_before_fetching() {
    let stack = stack();
    let server = TestServer::start(stack, &["--max-attachment-read-bytes", "2K"]).await;
    let owner = stack.new_user("reader");
    let raw = message_with_bytes(&owner.email, &owner.email, &[b'x'; 10_000]);
    deliver(&owner.email, &[&owner.email], &raw).await;
    let uid = wait_for_messages(&owner, "INBOX", 1).await[0].uid;
    let token = server.access_token_for(stack.mail_account(&owner));

    let result = server
        .call_tool(
            &token,
            "get_mail_attachment",
            json!({"uid": uid, "part": "2"}),
        )
        .await;
    let text = error_text(&result);
    assert!(text.contains("over the read limit of 2 KB"), "{text}");
    assert!(text.contains("MAX_ATTACHMENT_READ_BYTES"), "{text}");
    assert!(
        text.contains("about 9.") || text.contains("about 10"),
        "{text}"
    );
    assert!(!result.to_string().contains("/attachments/"), "{result}");

    let message = server
        .call_tool_ok(&token, "get_mail_message", json!({"uid": uid}))
        .await;
    let attachment = &message["attachments"][0];
    assert!(attachment.get("url").is_none(), "{attachment}");
    let reason = attachment["url_error"].as_str().unwrap();
    assert!(reason.contains("read limit"), "{reason}");
    assert_eq!(stored_files(&server.data_dir), 0, "nothing was stored");
}

/// `url` with the value of query parameter `name` replaced by `value`.
fn with_query(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

/// The owner's own S3 link (issued for 1 hour) with an edited X-Amz-Expires (7 days, or
/// 1 second) or X-Amz-Date
/// (signed later) is refused by send as altered, and nothing is sent; the link unedited
/// is sent, so the refusal is the edit's.
#[tokio::test]
async fn edited_s3_expiry_or_date_is_refused_when_sending() {
    let mut args = s3_args();
    args.extend(["--attachment-url-ttl".to_string(), "1h".to_string()]);
    let tenants = Tenants::open(&args).await;
    let recipient = stack().new_user("recipient");
    let url = tenants.attachment["url"].as_str().unwrap().to_owned();
    let date = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Date")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    // The last digit of the seconds, changed: `20261202T131507Z` -> `...131508Z`.
    let (head, last) = date.split_at(date.len() - 2);
    let digit = if last.starts_with('9') { '8' } else { '9' };
    let other_date = format!("{head}{digit}Z");
    let edited = [
        with_query(&url, "X-Amz-Expires", "604800"),
        with_query(&url, "X-Amz-Expires", "1"),
        with_query(&url, "X-Amz-Date", &other_date),
    ];
    // Past the edited 1 s lifetime: that edit must still read as altered, not expired.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for url in edited {
        let result = tenants
            .server
            .call_tool(
                &tenants.victim_token,
                "send_mail_message",
                json!({"to": recipient.email, "subject": "Edited", "text_body": "x",
                       "attachments": [{"url": url}]}),
            )
            .await;
        let text = error_text(&result);
        assert!(text.starts_with("nothing was sent"), "{url}: {text}");
        assert!(text.contains("altered"), "{url}: {text}");
    }
    assert!(fetch_raw(&recipient, "INBOX").await.is_empty());
    assert!(fetch_raw(&tenants.victim, "Sent").await.is_empty());

    tenants
        .server
        .call_tool_ok(
            &tenants.victim_token,
            "send_mail_message",
            json!({"to": recipient.email, "subject": "Intact", "text_body": "x",
                   "attachments": [{"url": url}]}),
        )
        .await;
    wait_for_messages(&recipient, "INBOX", 1).await;
}

/// Direct access to the server's attachment store, bypassing the server: what someone
/// with write access to the bucket or the data directory could do.
enum RawStore {
    /// The local store's root (`DATA_DIR/attachments`).
    Local(std::path::PathBuf),
    S3(aws_sdk_s3::Client),
}

impl RawStore {
    fn of(server: &TestServer, s3: bool) -> RawStore {
        if !s3 {
            return RawStore::Local(server.data_dir.join("attachments"));
        }
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
        RawStore::S3(aws_sdk_s3::Client::from_conf(config))
    }

    /// Writes `bytes` under `key` with `owner` as its owner tag (or none), as the store
    /// itself lays objects out.
    async fn plant(&self, key: &AttachmentKey, bytes: &[u8], owner: Option<&str>) {
        match self {
            RawStore::Local(root) => {
                let dir = root.join(key.account_tag());
                std::fs::create_dir_all(&dir).unwrap();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let mut meta = json!({"filename": "figures.bin",
                    "content_type": "application/octet-stream", "size": bytes.len(),
                    "created": now, "expires": now + 3600});
                if let Some(owner) = owner {
                    meta["owner"] = json!(owner);
                }
                let name = key.object_name();
                std::fs::write(dir.join(format!("{name}.data")), bytes).unwrap();
                std::fs::write(dir.join(format!("{name}.meta.json")), meta.to_string()).unwrap();
            }
            RawStore::S3(client) => {
                let mut put = client
                    .put_object()
                    .bucket(&stack().s3_bucket)
                    .key(key.as_str())
                    .content_type("application/octet-stream")
                    .metadata("filename", "figures.bin")
                    .body(bytes.to_vec().into());
                if let Some(owner) = owner {
                    put = put.metadata("owner", owner);
                }
                put.send().await.unwrap();
            }
        }
    }

    /// The bytes and owner tag stored under `key`.
    async fn read(&self, key: &AttachmentKey) -> (Vec<u8>, Option<String>) {
        match self {
            RawStore::Local(root) => {
                let dir = root.join(key.account_tag());
                let name = key.object_name();
                let bytes = std::fs::read(dir.join(format!("{name}.data"))).unwrap();
                let meta: Value = serde_json::from_slice(
                    &std::fs::read(dir.join(format!("{name}.meta.json"))).unwrap(),
                )
                .unwrap();
                (bytes, meta["owner"].as_str().map(str::to_owned))
            }
            RawStore::S3(client) => {
                let object = client
                    .get_object()
                    .bucket(&stack().s3_bucket)
                    .key(key.as_str())
                    .send()
                    .await
                    .unwrap();
                let owner = object.metadata().and_then(|m| m.get("owner")).cloned();
                let bytes = object.body.collect().await.unwrap().into_bytes().to_vec();
                (bytes, owner)
            }
        }
    }
}

/// The identity the store keys a login's objects by.
fn owner_of(login: &mail_mcp::mail::ServerLogin) -> Owner<'_> {
    Owner {
        imap_host: &login.endpoint.host,
        imap_port: login.endpoint.port,
        username: &login.username,
    }
}

/// B's own attachment's bytes.
const OWN_BYTES: &[u8] = b"tenant B's own harmless attachment";

/// (c) Someone with write access to the store puts [`SECRET`] under tenant B's own key
/// for B's own attachment, tagged as tenant A's (or with no tag). B's reads must not hand
/// the planted object out: with A's tag, get_mail_attachment and get_mail_message refuse
/// it (and leave it as it is), and sending B's earlier link is refused as another
/// account's, with nothing sent; with no tag, sending is refused the same way, and a read
/// fetches B's attachment from B's mailbox again and replaces the object, so B's link
/// serves B's bytes, not the planted ones.
async fn planted_objects_are_not_handed_out(server_args: &[String], s3: bool) {
    let stack = stack();
    let args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let server = TestServer::start(stack, &args).await;
    let victim = stack.new_user("tenant-a");
    let owner = stack.new_user("tenant-b");
    let recipient = stack.new_user("recipient");
    deliver(
        &victim.email,
        &[&owner.email],
        &message_with_bytes(&victim.email, &owner.email, OWN_BYTES),
    )
    .await;
    let uid = wait_for_messages(&owner, "INBOX", 1).await[0].uid;
    let token = server.access_token_for(stack.mail_account(&owner));
    let first = server
        .call_tool_ok(
            &token,
            "get_mail_attachment",
            json!({"uid": uid, "part": "2"}),
        )
        .await;
    let own_url = first["url"].as_str().unwrap().to_owned();
    let uid_validity = first["uid_validity"].as_u64().unwrap() as u32;

    let subkey = Keyring::parse(&server.key)
        .unwrap()
        .derive_subkey(KEY_SUBKEY_LABEL);
    let identity = |user: &crate::common::TestUser| stack.mail_account(user).imap;
    let (b, a) = (identity(&owner), identity(&victim));
    let key = AttachmentKey::derive(&subkey, &owner_of(&b), "INBOX", uid_validity, uid, "2");
    let victim_tag = OwnerTag::derive(&subkey, &owner_of(&a));
    let raw = RawStore::of(&server, s3);

    raw.plant(&key, SECRET, Some(victim_tag.as_str())).await;
    let read = server
        .call_tool(
            &token,
            "get_mail_attachment",
            json!({"uid": uid, "part": "2"}),
        )
        .await;
    let text = error_text(&read);
    assert!(text.contains("another account's"), "{text}");
    assert_no_leak(&read, &own_url);
    let message = server
        .call_tool_ok(&token, "get_mail_message", json!({"uid": uid}))
        .await;
    let attachment = &message["attachments"][0];
    assert!(attachment.get("url").is_none(), "{message}");
    assert!(
        attachment["url_error"]
            .as_str()
            .unwrap()
            .contains("another account's"),
        "{attachment}"
    );
    assert_no_leak(&message, &own_url);
    assert_eq!(
        raw.read(&key).await,
        (SECRET.to_vec(), Some(victim_tag.as_str().to_owned())),
        "the planted object is left as it was"
    );

    for planted_owner in [Some(victim_tag.as_str()), None] {
        raw.plant(&key, SECRET, planted_owner).await;
        let sent = server
            .call_tool(
                &token,
                "send_mail_message",
                json!({"to": recipient.email, "subject": "Planted", "text_body": "x",
                       "attachments": [{"url": own_url}]}),
            )
            .await;
        let text = error_text(&sent);
        assert!(text.starts_with("nothing was sent"), "{text}");
        assert!(text.contains("another mail account"), "{text}");
    }
    assert!(fetch_raw(&recipient, "INBOX").await.is_empty());
    assert!(fetch_raw(&owner, "Sent").await.is_empty());

    let again = server
        .call_tool_ok(
            &token,
            "get_mail_attachment",
            json!({"uid": uid, "part": "2"}),
        )
        .await;
    assert_eq!(
        again["uploaded"], true,
        "an untagged object is fetched again"
    );
    let url = again["url"].as_str().unwrap();
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], OWN_BYTES, "B's link serves B's own bytes");
}

#[tokio::test]
async fn planted_objects_are_not_handed_out_local() {
    planted_objects_are_not_handed_out(&[], false).await;
}

#[tokio::test]
async fn planted_objects_are_not_handed_out_s3() {
    planted_objects_are_not_handed_out(&s3_args(), true).await;
}
