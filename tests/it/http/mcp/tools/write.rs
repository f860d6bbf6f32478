//! The writing tools end to end: MCP calls over HTTP with tokens from a real browser-style
//! login, against the real Postfix and Dovecot. Every assertion looks at the mailboxes
//! themselves over IMAP: what arrived, with which headers, and what was filed in Sent and
//! Drafts.

use crate::common;

use common::app::TestServer;
use common::{RawMessage, TestUser, deliver, error_text, fetch_raw, stack, wait_for_messages};
use mail_parser::{Message, MessageParser, MimeHeaders};
use serde_json::{Value, json};

/// Headers the delivering servers put on top of a message (Postfix, Dovecot LMTP).
const DELIVERY_HEADERS: [&str; 4] = ["return-path", "received", "delivered-to", "x-original-to"];

/// A server, an access token for alice (display name "Test Person") and three others.
struct Mailroom {
    server: TestServer,
    token: String,
    alice: TestUser,
    bob: TestUser,
    carol: TestUser,
    dave: TestUser,
}

impl Mailroom {
    async fn open() -> Mailroom {
        let stack = stack();
        let server = TestServer::start(stack, &[]).await;
        let alice = stack.new_user("alice");
        let token = server.tokens_for(stack, &alice).await.access_token;
        Mailroom {
            server,
            token,
            alice,
            bob: stack.new_user("bob"),
            carol: stack.new_user("carol"),
            dave: stack.new_user("dave"),
        }
    }

    async fn call(&self, tool: &str, arguments: Value) -> Value {
        self.server.call_tool(&self.token, tool, arguments).await
    }

    async fn call_ok(&self, tool: &str, arguments: Value) -> Value {
        self.server.call_tool_ok(&self.token, tool, arguments).await
    }
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .expect("a parsable message")
}

/// The addresses of a parsed address header, in order.
fn addresses(header: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    header
        .map(|a| {
            a.iter()
                .filter_map(|a| a.address())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The message as its author's client produced it: without the trace headers that the
/// delivering servers prepend.
fn without_delivery_headers(raw: &[u8]) -> &[u8] {
    let mut rest = raw;
    loop {
        let name_end = rest.iter().position(|&b| b == b':' || b == b'\r');
        let name = name_end.map(|end| String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase());
        if !name.is_some_and(|n| DELIVERY_HEADERS.contains(&n.as_str())) {
            return rest;
        }
        rest = skip_line(rest);
        while rest.starts_with(b" ") || rest.starts_with(b"\t") {
            rest = skip_line(rest);
        }
    }
}

fn skip_line(text: &[u8]) -> &[u8] {
    match text.windows(2).position(|w| w == b"\r\n") {
        Some(at) => &text[at + 2..],
        None => &[],
    }
}

/// The header block of a message (up to the first empty line), lower-cased.
fn header_block(raw: &[u8]) -> String {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let haystack = String::from_utf8_lossy(haystack).to_ascii_lowercase();
    haystack.contains(&needle.to_ascii_lowercase())
}

fn only(messages: Vec<RawMessage>) -> RawMessage {
    assert_eq!(messages.len(), 1, "exactly one message expected");
    messages.into_iter().next().unwrap()
}

/// alice sends to bob with cc carol and bcc dave, text and HTML: each gets it once with
/// the right headers and multipart/alternative; no header anywhere names dave; alice's
/// Sent holds, flagged \Seen, exactly the bytes that were delivered.
#[tokio::test]
async fn send_delivers_to_every_recipient_hides_bcc_and_files_the_same_bytes() {
    let room = Mailroom::open().await;
    let report = room
        .call_ok(
            "send_mail_message",
            json!({
                "to": [room.bob.email],
                "cc": format!("Carol C <{}>", room.carol.email),
                "bcc": room.dave.email,
                "subject": "Quarterly plans ✓",
                "text_body": "Hello Bob,\nthe plans.\n",
                "html_body": "<p>Hello Bob,<br>the <b>plans</b>.</p>",
            }),
        )
        .await;
    let message_id = report["message_id"].as_str().unwrap().to_owned();
    assert!(message_id.ends_with("@example.test>"), "{message_id}");
    assert_eq!(report["already_sent"], false);
    assert_eq!(report["copy_error"], Value::Null);
    assert_eq!(
        report["accepted_recipients"],
        json!([room.bob.email, room.carol.email, room.dave.email])
    );

    let at_bob = only(wait_for_messages(&room.bob, "INBOX", 1).await);
    let parsed = parse(&at_bob.raw);
    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some(room.alice.email.as_str()));
    assert_eq!(from.name(), Some("Test Person"));
    assert_eq!(addresses(parsed.to()), [room.bob.email.as_str()]);
    assert_eq!(addresses(parsed.cc()), [room.carol.email.as_str()]);
    assert_eq!(parsed.subject(), Some("Quarterly plans ✓"));
    assert_eq!(
        parsed.message_id().map(|id| format!("<{id}>")),
        Some(message_id.clone())
    );
    assert!(parsed.date().is_some());
    let content_type = parsed.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!(
        parsed.body_text(0).unwrap().trim_end(),
        "Hello Bob,\r\nthe plans."
    );
    assert!(parsed.body_html(0).unwrap().contains("<b>plans</b>"));

    let at_carol = only(wait_for_messages(&room.carol, "INBOX", 1).await);
    let at_dave = only(wait_for_messages(&room.dave, "INBOX", 1).await);
    let sent = only(fetch_raw(&room.alice, "Sent").await);
    assert_eq!(report["saved_to"]["folder"], "Sent");
    assert_eq!(report["saved_to"]["uid"], sent.uid);
    assert!(
        sent.flags.contains(&"\\Seen".to_owned()),
        "{:?}",
        sent.flags
    );
    for (who, copy) in [("bob", &at_bob), ("carol", &at_carol), ("dave", &at_dave)] {
        let authored = without_delivery_headers(&copy.raw);
        assert_eq!(
            authored,
            &sent.raw[..],
            "{who}'s copy differs from the one in Sent:\n{}\n---\n{}",
            String::from_utf8_lossy(authored),
            String::from_utf8_lossy(&sent.raw)
        );
        assert!(
            !contains(authored, &room.dave.email),
            "{who}'s copy names dave"
        );
        assert!(
            !header_block(authored).contains("\r\nbcc:"),
            "{who}'s copy has Bcc"
        );
    }
    assert!(!contains(&at_bob.raw, &room.dave.email));
    assert!(!contains(&at_carol.raw, &room.dave.email));
}

/// A retried send with the same idempotency_key returns the earlier result marked
/// already_sent and does not deliver again: bob's INBOX holds it once (a later message
/// arrives after it, so a duplicate would have been seen), Sent holds one copy.
#[tokio::test]
async fn a_retried_send_with_the_same_idempotency_key_delivers_once() {
    let room = Mailroom::open().await;
    let send = json!({
        "to": room.bob.email,
        "subject": "Invoice 42",
        "text_body": "Please pay.",
        "idempotency_key": "invoice-42-reminder",
    });
    let first = room.call_ok("send_mail_message", send.clone()).await;
    assert_eq!(first["already_sent"], false);
    wait_for_messages(&room.bob, "INBOX", 1).await;

    let retry = room.call_ok("send_mail_message", send).await;
    assert_eq!(retry["already_sent"], true);
    assert_eq!(retry["message_id"], first["message_id"]);
    assert_eq!(retry["saved_to"], first["saved_to"]);

    room.call_ok(
        "send_mail_message",
        json!({"to": room.bob.email, "subject": "Marker", "text_body": "after the retry"}),
    )
    .await;
    let inbox = wait_for_messages(&room.bob, "INBOX", 2).await;
    let subjects: Vec<String> = inbox
        .iter()
        .map(|m| parse(&m.raw).subject().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(subjects, ["Invoice 42", "Marker"]);
    let sent = fetch_raw(&room.alice, "Sent").await;
    assert_eq!(sent.len(), 2, "one copy of each message in Sent");
}

/// The parent of the reply tests: from bob to alice and carol, cc dave, in a thread.
fn parent_message(room: &Mailroom) -> String {
    format!(
        "From: Bob B <{bob}>\r\nTo: {alice}, Carol <{carol}>\r\nCc: {dave}\r\n\
         Subject: RE: Plans\r\nDate: Tue, 1 Jul 2025 10:00:00 +0000\r\n\
         Message-ID: <parent-1@example.test>\r\nReferences: <root-0@example.test>\r\n\
         \r\nShall we meet on Friday?\r\nBob\r\n",
        bob = room.bob.email,
        alice = room.alice.email,
        carol = room.carol.email,
        dave = room.dave.email,
    )
}

/// reply goes to the sender only, reply_all also to To and Cc without alice herself; both
/// are threaded (In-Reply-To and References with brackets), titled "Re: " once, quote
/// the parent, and leave the parent flagged \Answered.
#[tokio::test]
async fn reply_and_reply_all_thread_quote_and_flag_the_parent() {
    let room = Mailroom::open().await;
    deliver(
        &room.bob.email,
        &[&room.alice.email],
        parent_message(&room).as_bytes(),
    )
    .await;
    let parent = only(wait_for_messages(&room.alice, "INBOX", 1).await);
    assert!(!parent.flags.contains(&"\\Answered".to_owned()));

    let reply = room
        .call_ok(
            "reply_to_mail_message",
            json!({"folder": "INBOX", "uid": parent.uid, "text_body": "Friday works."}),
        )
        .await;
    assert_eq!(reply["parent_flagged_answered"], true);
    assert_eq!(reply["accepted_recipients"], json!([room.bob.email]));
    let at_bob = only(wait_for_messages(&room.bob, "INBOX", 1).await);
    let parsed = parse(&at_bob.raw);
    assert_eq!(parsed.subject(), Some("Re: Plans"));
    assert_eq!(addresses(parsed.to()), [room.bob.email.as_str()]);
    assert!(parsed.cc().is_none());
    let headers = String::from_utf8_lossy(&at_bob.raw).into_owned();
    assert!(
        headers.contains("\r\nIn-Reply-To: <parent-1@example.test>\r\n"),
        "{headers}"
    );
    assert!(
        headers.contains("\r\nReferences: <root-0@example.test> <parent-1@example.test>\r\n"),
        "{headers}"
    );
    let text = parsed.body_text(0).unwrap().into_owned();
    assert!(text.starts_with("Friday works.\r\n\r\nOn "), "{text}");
    assert!(text.contains("Bob B <"), "{text}");
    assert!(
        text.contains("wrote:\r\n> Shall we meet on Friday?\r\n> Bob"),
        "{text}"
    );
    let flagged = only(fetch_raw(&room.alice, "INBOX").await);
    assert!(
        flagged.flags.contains(&"\\Answered".to_owned()),
        "{:?}",
        flagged.flags
    );
    assert!(
        !flagged.flags.contains(&"\\Seen".to_owned()),
        "reading it did not mark it seen"
    );

    room.call_ok(
        "reply_to_mail_message",
        json!({"folder": "INBOX", "uid": parent.uid, "reply_all": true, "html_body": "<p>See you <b>all</b>.</p>"}),
    )
    .await;
    let at_carol = only(wait_for_messages(&room.carol, "INBOX", 1).await);
    let parsed = parse(&at_carol.raw);
    assert_eq!(addresses(parsed.to()), [room.bob.email.as_str()]);
    assert_eq!(
        addresses(parsed.cc()),
        [room.carol.email.as_str(), room.dave.email.as_str()]
    );
    let html = parsed.body_html(0).unwrap().into_owned();
    assert!(html.contains("<blockquote"), "{html}");
    assert!(html.contains("Shall we meet on Friday?"), "{html}");
    wait_for_messages(&room.dave, "INBOX", 1).await;
    let bob_inbox = wait_for_messages(&room.bob, "INBOX", 2).await;
    assert_eq!(bob_inbox.len(), 2);
    assert_eq!(fetch_raw(&room.alice, "Sent").await.len(), 2);
}

/// A reply naming a stale uid_validity is refused and sends nothing.
#[tokio::test]
async fn a_reply_with_a_stale_uid_validity_is_refused() {
    let room = Mailroom::open().await;
    deliver(
        &room.bob.email,
        &[&room.alice.email],
        parent_message(&room).as_bytes(),
    )
    .await;
    let parent = only(wait_for_messages(&room.alice, "INBOX", 1).await);
    let result = room
        .call(
            "reply_to_mail_message",
            json!({"folder": "INBOX", "uid": parent.uid, "uid_validity": 1, "text_body": "x"}),
        )
        .await;
    let text = error_text(&result);
    assert!(text.contains("nothing was sent"), "{text}");
    assert!(text.contains("changed"), "{text}");
    assert!(fetch_raw(&room.alice, "Sent").await.is_empty());
    let parent = only(fetch_raw(&room.alice, "INBOX").await);
    assert!(!parent.flags.contains(&"\\Answered".to_owned()));
}

/// A forward carries the original's attachments byte-identical, with their names and
/// types, below the original's headers and text; without include_attachments it
/// carries none.
#[tokio::test]
async fn forward_carries_the_original_attachments_byte_identical() {
    use base64::Engine;
    let room = Mailroom::open().await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let text_file = b"line one\nline two with trailing spaces   \n.\nend".to_vec();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let original = format!(
        "From: Bob B <{bob}>\r\nTo: {alice}\r\nSubject: Report\r\n\
         Date: Tue, 1 Jul 2025 10:00:00 +0000\r\nMessage-ID: <report-1@example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n\
         --XYZ\r\nContent-Type: text/plain\r\n\r\nThe report is attached.\r\n\
         --XYZ\r\nContent-Type: application/pdf\r\n\
         Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n\
         --XYZ\r\nContent-Type: text/plain\r\n\
         Content-Disposition: attachment; filename=\"notes.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{txt}\r\n--XYZ--\r\n",
        bob = room.bob.email,
        alice = room.alice.email,
        pdf = b64(&binary),
        txt = b64(&text_file),
    );
    deliver(&room.bob.email, &[&room.alice.email], original.as_bytes()).await;
    let stored = only(wait_for_messages(&room.alice, "INBOX", 1).await);

    let report = room
        .call_ok(
            "forward_mail_message",
            json!({"folder": "INBOX", "uid": stored.uid, "to": room.carol.email, "text_body": "FYI"}),
        )
        .await;
    assert_eq!(report["accepted_recipients"], json!([room.carol.email]));
    let original_now = only(fetch_raw(&room.alice, "INBOX").await);
    assert!(
        original_now.flags.iter().any(|f| f == "$Forwarded"),
        "the original is flagged $Forwarded: {:?}",
        original_now.flags
    );
    let at_carol = only(wait_for_messages(&room.carol, "INBOX", 1).await);
    let parsed = parse(&at_carol.raw);
    assert_eq!(parsed.subject(), Some("Fwd: Report"));
    let text = parsed.body_text(0).unwrap().into_owned();
    assert!(
        text.starts_with("FYI\r\n\r\n---------- Forwarded message"),
        "{text}"
    );
    assert!(text.contains("Subject: Report"), "{text}");
    assert!(text.contains("The report is attached."), "{text}");
    let attachments: Vec<(String, String, Vec<u8>)> = parsed
        .attachments()
        .map(|part| {
            let ct = part.content_type().unwrap();
            (
                part.attachment_name().unwrap().to_owned(),
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()),
                part.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        attachments,
        [
            ("report.pdf".into(), "application/pdf".into(), binary),
            ("notes.txt".into(), "text/plain".into(), text_file),
        ]
    );

    room.call_ok(
        "forward_mail_message",
        json!({"folder": "INBOX", "uid": stored.uid, "to": [room.dave.email], "include_attachments": false}),
    )
    .await;
    let at_dave = only(wait_for_messages(&room.dave, "INBOX", 1).await);
    assert_eq!(parse(&at_dave.raw).attachment_count(), 0);
}

/// A draft lands in Drafts flagged \Draft, under the UID and UIDVALIDITY the tool
/// reports, keeping its Bcc; a reply draft is threaded to its parent. Nothing is sent.
#[tokio::test]
async fn drafts_land_in_drafts_under_the_reported_uid() {
    use base64::Engine;
    let room = Mailroom::open().await;
    let draft = room
        .call_ok(
            "create_draft_mail_message",
            json!({
                "to": room.bob.email,
                "bcc": [room.dave.email],
                "subject": "Not finished",
                "text_body": "Dear Bob,",
                "attachments": [{
                    "filename": "../secret/plan.txt",
                    "content_type": "text/plain",
                    "content_base64": base64::engine::general_purpose::STANDARD.encode("the plan"),
                }],
            }),
        )
        .await;
    assert_eq!(draft["folder"], "Drafts");
    let mut session = common::imap_session(&room.alice).await;
    let drafts = session.examine("Drafts").await.unwrap();
    session.logout().await.ok();
    assert_eq!(draft["uid_validity"], drafts.uid_validity.unwrap());
    let stored = only(fetch_raw(&room.alice, "Drafts").await);
    assert_eq!(draft["uid"], stored.uid);
    assert!(
        stored.flags.contains(&"\\Draft".to_owned()),
        "{:?}",
        stored.flags
    );
    let parsed = parse(&stored.raw);
    assert_eq!(parsed.subject(), Some("Not finished"));
    assert_eq!(addresses(parsed.bcc()), [room.dave.email.as_str()]);
    let file = parsed.attachments().next().unwrap();
    assert_eq!(file.attachment_name(), Some("plan.txt"));
    assert_eq!(file.contents(), b"the plan");

    deliver(
        &room.bob.email,
        &[&room.alice.email],
        parent_message(&room).as_bytes(),
    )
    .await;
    let parent = only(wait_for_messages(&room.alice, "INBOX", 1).await);
    let reply_draft = room
        .call_ok(
            "create_draft_mail_message",
            json!({"text_body": "Let me think.", "reply_to": {"folder": "INBOX", "uid": parent.uid}}),
        )
        .await;
    let drafts = fetch_raw(&room.alice, "Drafts").await;
    let stored = drafts
        .iter()
        .find(|m| json!(m.uid) == reply_draft["uid"])
        .expect("the reply draft is where the tool said");
    let parsed = parse(&stored.raw);
    assert_eq!(parsed.subject(), Some("Re: Plans"));
    assert_eq!(addresses(parsed.to()), [room.bob.email.as_str()]);
    assert!(contains(
        &stored.raw,
        "In-Reply-To: <parent-1@example.test>"
    ));
    assert!(
        fetch_raw(&room.alice, "Sent").await.is_empty(),
        "drafts are not sent"
    );
}

/// CR/LF in the subject and an invalid address are refused with a clear message and
/// nothing is sent: bob's first message is the valid one sent afterwards, Sent holds
/// only that.
#[tokio::test]
async fn header_injection_and_invalid_addresses_are_refused_and_nothing_is_sent() {
    let room = Mailroom::open().await;
    let injected = room
        .call(
            "send_mail_message",
            json!({
                "to": room.bob.email,
                "subject": format!("Hello\r\nBcc: {}", room.dave.email),
                "text_body": "x",
            }),
        )
        .await;
    let text = error_text(&injected);
    assert!(text.contains("subject contains a line break"), "{text}");

    let invalid = room
        .call(
            "send_mail_message",
            json!({"to": format!("{}, not-an-address", room.bob.email), "subject": "Hi", "text_body": "x"}),
        )
        .await;
    let text = error_text(&invalid);
    assert!(
        text.contains("\"not-an-address\" in to is not a valid email address"),
        "{text}"
    );

    let bad_base64 = room
        .call(
            "send_mail_message",
            json!({"to": room.bob.email, "subject": "Hi", "attachments": [{"filename": "a.bin", "content_base64": "%%%"}]}),
        )
        .await;
    assert!(error_text(&bad_base64).contains("not valid base64"));

    room.call_ok(
        "send_mail_message",
        json!({"to": room.bob.email, "subject": "Valid", "text_body": "ok"}),
    )
    .await;
    let at_bob = only(wait_for_messages(&room.bob, "INBOX", 1).await);
    assert_eq!(parse(&at_bob.raw).subject(), Some("Valid"));
    assert_eq!(fetch_raw(&room.alice, "Sent").await.len(), 1);
    assert!(fetch_raw(&room.dave, "INBOX").await.is_empty());
}

/// A token whose SMTP password no longer works gets a tool error that says nothing was
/// sent and to reconnect; nothing is filed in Sent.
#[tokio::test]
async fn a_wrong_smtp_password_asks_to_reconnect_and_files_nothing() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let alice = stack.new_user("alice");
    let bob = stack.new_user("bob");
    let mut account = stack.mail_account(&alice);
    account.smtp.password = "the-password-before-it-changed".into();
    let token = server.access_token_for(account);
    let result = server
        .call_tool(
            &token,
            "send_mail_message",
            json!({"to": bob.email, "subject": "Hi", "text_body": "x"}),
        )
        .await;
    let text = error_text(&result);
    assert!(text.starts_with("nothing was sent: "), "{text}");
    assert!(text.contains("reconnect"), "{text}");
    assert!(!text.contains("the-password-before-it-changed"), "{text}");
    assert!(fetch_raw(&alice, "Sent").await.is_empty());
}

/// The four tools are listed with annotations, input schemas that accept recipients as a
/// list or a string, and output schemas.
#[tokio::test]
async fn the_write_tools_are_described() {
    let stack = stack();
    let server = TestServer::start(stack, &[]).await;
    let token = server.access_token_for(stack.mail_account(&stack.new_user("alice")));
    let tools = server.mcp(&token, "tools/list", json!({})).await;
    for name in [
        "send_mail_message",
        "reply_to_mail_message",
        "forward_mail_message",
        "create_draft_mail_message",
    ] {
        let tool = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"));
        assert_eq!(tool["annotations"]["readOnlyHint"], false, "{name}");
        assert!(tool["annotations"]["title"].is_string(), "{name}");
        assert!(tool["outputSchema"].is_object(), "{name}");
        assert!(tool["description"].as_str().unwrap().len() > 40, "{name}");
    }
    let send = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "send_mail_message")
        .unwrap();
    let schema = send["inputSchema"].to_string();
    assert!(
        schema.contains("anyOf") || schema.contains("oneOf"),
        "{schema}"
    );
    assert!(schema.contains("idempotency_key"), "{schema}");
}

/// When the Sent folder refuses the copy (here: its maildir made read-only), the send
/// still succeeds and says the message WAS sent and only the copy failed; bob has it.
#[tokio::test]
async fn a_failed_sent_copy_is_reported_as_sent_not_as_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let room = Mailroom::open().await;
    assert!(fetch_raw(&room.alice, "Sent").await.is_empty());
    let (local, domain) = room.alice.email.split_once('@').unwrap();
    let sent_dir = stack()
        .dir
        .join("mail")
        .join(domain)
        .join(local)
        .join("Maildir/Sent");
    let read_only = |mode| {
        for sub in ["tmp", "new", "cur", ""] {
            let dir = sent_dir.join(sub);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    read_only(0o555);
    let result = room
        .call(
            "send_mail_message",
            json!({"to": room.bob.email, "subject": "Copy fails", "text_body": "x"}),
        )
        .await;
    read_only(0o700);
    assert_ne!(result["isError"], true, "{result}");
    let report = &result["structuredContent"];
    assert_eq!(report["saved_to"], Value::Null);
    let copy_error = report["copy_error"].as_str().unwrap();
    assert!(copy_error.contains("WAS sent"), "{copy_error}");
    assert!(copy_error.contains("Do not send it again"), "{copy_error}");
    let at_bob = only(wait_for_messages(&room.bob, "INBOX", 1).await);
    assert_eq!(parse(&at_bob.raw).subject(), Some("Copy fails"));
    assert!(fetch_raw(&room.alice, "Sent").await.is_empty());
}
